"""``sarif``: SARIF 2.1.0 for code-scanning platforms.

One rule per status and finding kind (``shadow/credential``), one result per
finding of every agent still present. Findings with a file path get a physical
location (relative to the scanned path when under one, so platforms can map it
into the repository); the others get logical locations (host, process, capture,
cloud resource). GitHub code scanning rejects a whole file if one result lacks a
physical location, so those results are also anchored to the registry file (or
the config file) the scan used: that is where a shadow agent gets registered.
``partialFingerprints`` carry the stable finding and agent ids, so platforms
dedupe alerts across runs. Approved agents are not results (GitHub shows even a
``pass`` result as an alert); their count is in the run's ``properties.summary``.
"""

from __future__ import annotations

import pickle
import uuid
from pathlib import PurePosixPath
from typing import Any, Iterator
from urllib.parse import quote

from scanner import jsontext
from scanner.format import (AgentFormat, AgentWriter, Counts, FirstInOrder, agent_findings, give_agents, reading_order,
                            spend_text)
from scanner.model import Agent, Change, Coverage, Finding, Inventory, Location, Severity, Status

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "shadow-agents"

LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "none",
}
# GitHub code scanning reads this rule property to rank security alerts (0.0-10.0).
SECURITY_SEVERITY = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 3.0,
    Severity.INFO: 0.0,
}
BASELINE_STATE = {Change.NEW: "new", Change.CHANGED: "updated", Change.UNCHANGED: "unchanged"}
STATUS_TEXT = {
    Status.SHADOW: "an LLM agent that no registry record approves",
    Status.DRIFT: "an approved LLM agent using something its registry record does not declare",
    Status.EXPIRED: "an LLM agent whose registry record has expired",
    Status.REVIEW_OVERDUE: "an approved LLM agent whose registry review is overdue",
    Status.DORMANT: "a registry record that nothing in this scan matched",
    Status.APPROVED: "an LLM agent that matches its registry record",
}
REGISTRY_RECORD = "registry-record"  # the pseudo kind of a dormant agent, which has no findings
# GitHub code scanning rejects a run with more results than this; the most severe are kept.
MAX_RESULTS = 25_000


def rule_id(status: Status, kind: str) -> str:
    return f"{status.value}/{kind}"


def _rule_name(status: Status, kind: str) -> str:
    return "".join(part.capitalize() for part in f"{status.value}-{kind}".replace("/", "-").split("-"))


def make_rule(status: Status, kind: str, severity: Severity) -> dict[str, Any]:
    what = STATUS_TEXT[status]
    evidence = "its registry record" if kind == REGISTRY_RECORD else f"{kind} evidence"
    return {
        "id": rule_id(status, kind),
        "name": _rule_name(status, kind),
        "shortDescription": {"text": f"{status.value} agent ({evidence})"},
        "fullDescription": {"text": f"{what.capitalize()}, seen through {evidence}."},
        "help": {"text": f"Status '{status.value}': {what}. Each result names the agent, the evidence, "
                         "the reasons and what to do."},
        "defaultConfiguration": {"level": LEVEL[severity]},
        "properties": {
            "tags": ["security", "llm", "ai-agent", status.value, kind],
            "security-severity": f"{SECURITY_SEVERITY[severity]:.1f}",
        },
    }


class _Roots:
    """Scanned paths as SARIF uri base ids: ``SRCROOT`` for the first, ``SRCROOT1``... for the rest."""

    def __init__(self, paths: list[str]):
        self.roots = [(("SRCROOT" if i == 0 else f"SRCROOT{i}"), p.rstrip("/") or "/") for i, p in enumerate(paths)]

    def original_uri_base_ids(self) -> dict[str, Any]:
        return {name: {"uri": _file_uri(root.rstrip("/") + "/")} for name, root in self.roots}

    def artifact(self, path: str) -> dict[str, str]:
        for name, root in sorted(self.roots, key=lambda r: -len(r[1])):
            prefix = root if root.endswith("/") else root + "/"
            if path.startswith(prefix) and len(path) > len(prefix):
                return {"uri": _quote(path[len(prefix):]), "uriBaseId": name}
        if PurePosixPath(path).is_absolute():
            return {"uri": _file_uri(path)}
        return {"uri": _quote(path)}


def _quote(path: str) -> str:
    """Percent-encoded path; a byte of a file name that was not UTF-8 is encoded as itself (%FF)."""
    return quote(path, safe="/", errors="surrogateescape")


def _file_uri(path: str) -> str:
    return "file://" + _quote(path)


def logical_locations(loc: Location) -> list[dict[str, str]]:
    """Process, capture flow, cloud resource or host, as SARIF logical locations."""
    out = []
    if loc.pid is not None or loc.exe:
        who = f"{loc.user}@{loc.host}" if loc.user and loc.host else loc.host or loc.user or ""
        bits = [who, f"pid {loc.pid}" if loc.pid is not None else "", loc.exe or ""]
        out.append({"name": loc.exe or f"pid {loc.pid}", "kind": "process",
                    "fullyQualifiedName": " ".join(b for b in bits if b)})
    elif loc.capture:
        out.append({"name": loc.flow or loc.capture, "kind": "flow",
                    "fullyQualifiedName": f"{loc.capture}#{loc.flow}" if loc.flow else loc.capture})
    elif loc.cloud:
        bits = [loc.cloud, loc.account or "", loc.resource or ""]
        out.append({"name": loc.resource or loc.account or loc.cloud, "kind": "resource",
                    "fullyQualifiedName": "/".join(b for b in bits if b)})
    if loc.host and not (loc.pid is not None or loc.exe):
        name = f"{loc.user}@{loc.host}" if loc.user else loc.host
        out.append({"name": name, "kind": "host", "fullyQualifiedName": name})
    if loc.resource and not loc.cloud:
        out.append({"name": loc.resource, "kind": "resource", "fullyQualifiedName": loc.resource})
    return out


def location(loc: Location, roots: _Roots, anchor: dict[str, Any] | None) -> dict[str, Any]:
    """A file's physical location, or logical locations (plus the anchor file, when there is one)."""
    if loc.path:
        physical: dict[str, Any] = {"artifactLocation": roots.artifact(loc.path)}
        if loc.line and loc.line > 0:
            physical["region"] = {"startLine": loc.line}
        if loc.commit:
            physical["properties"] = {"commit": loc.commit}
        return {"physicalLocation": physical}
    out: dict[str, Any] = {"logicalLocations": logical_locations(loc) or [{"name": loc.describe(), "kind": "object"}]}
    if anchor:
        out["physicalLocation"] = anchor
    return out


def anchor_location(meta: dict[str, Any], roots: _Roots) -> dict[str, Any] | None:
    """The registry (else config) file of the scan, where results without a file of their own are shown."""
    for key in ("registry", "config_file"):
        path = meta.get(key)
        if isinstance(path, str) and path:
            return {"artifactLocation": roots.artifact(path), "properties": {"anchor": key}}
    return None


def _message(agent: Agent, evidence: str) -> str:
    why = "; ".join(r.message for r in agent.reasons)
    parts = [f"{agent.status.value} agent '{agent.name}' ({agent.severity.value}): {evidence}."]
    if why:
        parts.append(f"Why: {why}.")
    if agent.remediation:
        parts.append(f"What to do: {agent.remediation}.")
    return " ".join(parts)


def _agent_properties(agent: Agent) -> dict[str, Any]:
    props: dict[str, Any] = {
        "agentId": agent.id, "agentName": agent.name, "status": agent.status.value,
        "severity": agent.severity.value, "dedupeKey": agent.dedupe_key,
        "reasons": [r.code for r in agent.reasons], "remediation": agent.remediation,
        "owners": agent.owners, "providers": agent.providers, "models": agent.models,
        "approvedId": agent.approved_id, "change": agent.change.value if agent.change else None,
        "spend": spend_text(agent.spend) or None,
    }
    return {k: v for k, v in props.items() if v not in (None, [], "")}


def make_result(agent: Agent, finding: Finding | None, roots: _Roots,
                anchor: dict[str, Any] | None) -> dict[str, Any]:
    kind = finding.kind if finding else REGISTRY_RECORD
    result: dict[str, Any] = {
        "ruleId": rule_id(agent.status, kind),
        "kind": "fail",
        "level": LEVEL[agent.severity],
        "message": {"text": _message(agent, finding.evidence if finding else f"registry record {agent.approved_id}")},
        "partialFingerprints": {"agentId/v1": agent.id},
        "properties": _agent_properties(agent),
    }
    if finding:
        result["locations"] = [location(finding.location, roots, anchor)]
        result["partialFingerprints"]["findingId/v1"] = finding.id
        props = result["properties"]
        props.update({"findingId": finding.id, "detector": finding.detector, "confidence": finding.confidence.value})
        extra = {"provider": finding.provider, "model": finding.model, "observedAt": finding.observed_at,
                 "period": finding.period}
        props.update({k: v for k, v in extra.items() if v})
        if finding.cost is not None:
            props["cost"] = f"{finding.cost:,.2f} {finding.currency or 'USD'}"
        if finding.credential:
            props["credential"] = finding.credential.to_dict()
    elif agent.approved_id:
        record = {"logicalLocations": [{"name": agent.approved_id, "kind": "registry-record",
                                        "fullyQualifiedName": f"registry/{agent.approved_id}"}]}
        result["locations"] = [{**record, "physicalLocation": anchor} if anchor else record]
    if agent.change in BASELINE_STATE:
        result["baselineState"] = BASELINE_STATE[agent.change]  # type: ignore[index]
    return result


def _notifications(coverage: list[Coverage]) -> list[dict[str, Any]]:
    level = {"failed": "error", "partial": "warning", "skipped": "note"}
    out = []
    for c in coverage:
        if c.complete:
            continue
        detail = c.reason or f"{c.gaps_total} items not readable"
        gaps = "; ".join(f"{g.what}: {g.reason}" for g in c.gaps[:5])
        text = f"{c.detector}{f' on {c.host}' if c.host else ''} {c.status.value}: {detail}"
        out.append({"level": level[c.status.value], "message": {"text": text + (f" ({gaps})" if gaps else "")},
                    "descriptor": {"id": c.detector}})
    return out


def build_sarif(inventory: Inventory, max_results: int = MAX_RESULTS) -> dict[str, Any]:
    writer = _SarifWriter(inventory, max_results)
    for _piece in give_agents(inventory, writer, reading_order):
        pass
    return writer.document()


class SarifFormat(AgentFormat):
    name = "sarif"
    description = "SARIF 2.1.0 for code scanning (GitHub, GitLab, Azure DevOps): one result per finding"
    extensions = (".sarif",)
    output_kind = "json"

    def writer(self, frame: Inventory) -> AgentWriter:
        return _SarifWriter(frame, MAX_RESULTS)


class _SarifWriter(AgentWriter):
    """One document, written once every agent was given: of the results (one per finding of each
    agent still present and not approved) it keeps the first ``max_results`` in the order code
    scanning gets them when there are more (most severe first, then reading order)."""

    def __init__(self, frame: Inventory, max_results: int) -> None:
        self.meta, self.coverage, self.max_results = frame.metadata, frame.coverage, max_results
        self.roots = _Roots([p for p in self.meta.get("paths") or [] if isinstance(p, str) and p])
        self.anchor = anchor_location(self.meta, self.roots)
        self.counts = Counts()
        self.first = FirstInOrder(max_results)
        self.seen = self.pairs = self.findings = self.unattached = 0

    def agent(self, agent: Agent, findings: dict[str, Finding]) -> str:
        self.counts.agent(agent)
        self.seen += 1
        if agent.change == Change.GONE or agent.status == Status.APPROVED:
            return ""  # gone: platforms close their alerts; approved: nothing to fix
        order = (reading_order(agent), self.seen)  # equal reading orders are equal canonical orders: ties by arrival
        for i, finding in enumerate(agent_findings(agent, findings) or [None]):
            self.pairs += 1
            self.first.add((-agent.severity.rank, order, i), lambda finding=finding: self._kept(agent, finding))  # type: ignore[misc]
        return ""

    def _kept(self, agent: Agent, finding: Finding | None) -> tuple[tuple[Status, str], Severity, bytes]:
        """A result that may be shown: its rule, its severity and the result itself, pickled (tens of
        thousands are held: their agents and findings would take several times the room)."""
        result = make_result(agent, finding, self.roots, self.anchor)
        return (agent.status, finding.kind if finding else REGISTRY_RECORD), agent.severity, pickle.dumps(result)

    def count_findings(self, total: int, unattached: int) -> None:
        self.findings, self.unattached = total, unattached

    def tail(self) -> Iterator[str]:
        """The document, its results encoded one at a time (their dicts would take ten times their text)."""
        rules, kept = self._rules()
        if not kept:
            yield jsontext.dumps(self._document(rules, [])) + "\n"
            return
        mark = f"results-{uuid.uuid4().hex}"  # a string no scanned input can hold
        before, after = (jsontext.dumps(self._document(rules, [mark])) + "\n").split(f'"{mark}"', 1)
        index = {r["id"]: i for i, r in enumerate(rules)}
        yield before
        batch: list[str] = []
        for _rule, _severity, result in kept:
            batch.append(jsontext.dumps(self._result(result, index), 4))  # each result four levels deep
            if len(batch) >= 1024:
                yield ",\n        ".join(batch) + ",\n        "
                batch = []
        yield ",\n        ".join(batch) + after

    def document(self) -> dict[str, Any]:
        """The whole document as a dict (:func:`build_sarif`)."""
        rules, kept = self._rules()
        index = {r["id"]: i for i, r in enumerate(rules)}
        return self._document(rules, [self._result(result, index) for _rule, _severity, result in kept])

    def _rules(self) -> tuple[list[dict[str, Any]], list[tuple[tuple[Status, str], Severity, bytes]]]:
        """The rules of the results kept, and those results in the order they are written."""
        first = self.first.pairs()  # the first results by severity, then reading order
        if self.pairs <= self.max_results:  # all of them, in reading order
            first.sort(key=lambda item: item[0][1:])
        kept = [value for _key, value in first]
        rule_severity: dict[tuple[Status, str], Severity] = {}
        for key, severity, _result in kept:
            if key not in rule_severity or severity.rank > rule_severity[key].rank:
                rule_severity[key] = severity
        rules = [make_rule(s, k, sev) for (s, k), sev in sorted(rule_severity.items(), key=lambda i: rule_id(*i[0]))]
        return rules, kept

    @staticmethod
    def _result(kept: bytes, index: dict[str, int]) -> dict[str, Any]:
        result: dict[str, Any] = pickle.loads(kept)  # our own, made above
        result["ruleIndex"] = index[result["ruleId"]]
        return result

    def _document(self, rules: list[dict[str, Any]], results: list[Any]) -> dict[str, Any]:
        meta, max_results, roots = self.meta, self.max_results, self.roots
        left_out = max(0, self.pairs - max_results)
        complete = all(c.complete for c in self.coverage)
        invocation: dict[str, Any] = {"executionSuccessful": all(c.status.value != "failed" for c in self.coverage)}
        for field, key_name in (("startTimeUtc", "started_at"), ("endTimeUtc", "finished_at")):
            if isinstance(meta.get(key_name), str):
                invocation[field] = meta[key_name]
        notes = _notifications(self.coverage)
        if left_out:
            notes.append({"level": "warning", "descriptor": {"id": "result-limit"}, "message": {
                "text": f"{left_out} of {self.pairs} results left out: code scanning accepts at most "
                        f"{max_results} per run. The most severe are kept; the JSON report has every finding."}})
        if notes:
            invocation["toolExecutionNotifications"] = notes
        driver: dict[str, Any] = {"name": TOOL_NAME, "rules": rules}
        if isinstance(meta.get("version"), str):
            driver["version"] = driver["semanticVersion"] = meta["version"]
        summary = self.counts.summary(self.findings, self.unattached, complete)
        run: dict[str, Any] = {
            "tool": {"driver": driver},
            "invocations": [invocation],
            "results": results,
            "columnKind": "unicodeCodePoints",
            "properties": {"summary": summary, **({"results_left_out": left_out} if left_out else {})},
        }
        if roots.roots:
            run["originalUriBaseIds"] = roots.original_uri_base_ids()
        return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
