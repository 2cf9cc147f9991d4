"""``jsonl``: one object per agent, shaped for ticketing systems.

``dedupe_key`` is stable across runs and hosts, so a ticket is updated, not duplicated;
``markdown_body`` is ready to paste into an issue.
"""

from __future__ import annotations

import json
from typing import Any

from scanner.format import AgentFormat, AgentWriter, evidence_lines, title
from reports.markdown import md
from scanner.model import SCHEMA_VERSION, Agent, Finding, Inventory

MAX_EVIDENCE = 50


def markdown_body(agent: Agent, findings: dict[str, Finding]) -> str:
    """A ticket body: everything that came from the scanned world is escaped (see reports.markdown.md)."""
    lines = [
        f"**Status:** {agent.status.value} · **Severity:** {agent.severity.value}"
        + (f" · **Change:** {agent.change.value}" if agent.change else ""),
        f"**Owner (guess):** {md(', '.join(agent.owners) or 'unknown')}",
        f"**Providers:** {md(', '.join(agent.providers) or 'unknown')}"
        + (f" · **Models:** {md(', '.join(agent.models))}" if agent.models else ""),
    ]
    if agent.approved_id:
        lines.append(f"**Registry record:** {md(agent.approved_id)}")
    lines += ["", "### Why"] + [f"- {md(r.message)} ({md(r.code)})" for r in agent.reasons]
    lines += ["", "### What to do", md(agent.remediation or "-")]
    ev = evidence_lines(agent, findings, MAX_EVIDENCE)
    if ev:
        lines += ["", "### Evidence"] + [f"- {md(e)}" for e in ev]
        if len(agent.findings) > MAX_EVIDENCE:
            lines.append(f"- … and {len(agent.findings) - MAX_EVIDENCE} more")
    lines += ["", f"<sub>dedupe key: {md(agent.dedupe_key)}</sub>"]
    return "\n".join(lines)


def ticket(agent: Agent, findings: dict[str, Finding]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "dedupe_key": agent.dedupe_key,
        "agent_id": agent.id,
        "title": title(agent),
        "name": agent.name,
        "status": agent.status.value,
        "severity": agent.severity.value,
        "change": agent.change.value if agent.change else None,
        "reasons": [r.to_dict() for r in agent.reasons],
        "owner_guess": agent.owners[0] if agent.owners else None,
        "owners": agent.owners,
        "providers": agent.providers,
        "models": agent.models,
        "approved_id": agent.approved_id,
        "spend": agent.spend,
        "locations": agent.locations,
        "remediation": agent.remediation,
        "evidence": [
            {"finding_id": f.id, "detector": f.detector, "kind": f.kind, "evidence": f.evidence,
             "location": f.location.to_dict(),
             **({"credential": f.credential.to_dict()} if f.credential else {})}
            for f in (findings[i] for i in agent.findings[:MAX_EVIDENCE] if i in findings)
        ],
        "markdown_body": markdown_body(agent, findings),
    }


class JsonlFormat(AgentFormat):
    name = "jsonl"
    description = "One JSON object per agent for ticketing systems (stable dedupe_key, title, markdown_body)"
    extensions = (".jsonl", ".ndjson")
    output_kind = "json"

    def writer(self, frame: Inventory) -> AgentWriter:
        return _TicketWriter()


class _TicketWriter(AgentWriter):
    waits = False

    def agent(self, agent: Agent, findings: dict[str, Finding]) -> str:
        return json.dumps(ticket(agent, findings), sort_keys=True, ensure_ascii=False) + "\n"
