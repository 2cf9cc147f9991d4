"""``markdown``: a summary for a pull-request comment or a Monday email.

Counts by status, agents new since the baseline first, one table row per agent and
collapsible evidence. Every string that came from the scanned world (names, paths,
evidence, owners) is escaped, so a file called ``a|b`` cannot break the table and a
``<script>`` in a path stays text.
"""

from __future__ import annotations

import html
import re
from typing import IO

from scanner.format import Format, evidence_lines, ordered_agents, printable, spend_text, summary_line
from scanner.model import Agent, Change, Finding, Inventory, Status

MAX_ROWS = 200  # a GitHub comment holds 65,536 characters
MAX_DETAILS = 50
MAX_EVIDENCE = 10

# Characters that start Markdown syntax inline; `&`, `<` and `>` become entities first.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~!])")
# ``@name`` in a comment notifies that user or team (``@anthropic-ai/sdk`` in evidence would);
# a word joiner after the ``@`` keeps the text and drops the mention. E-mail addresses are left alone.
_MENTION = re.compile(r"(?<!\w)@(?=\w)")
WORD_JOINER = "\u2060"


# Text with none of these needs no escaping (the fast path of md(): tickets for every agent call it often).
_MD_ANY = re.compile(r"[\\`*_\[\]|#~!&<>@]|  ")


def md(text: object) -> str:
    """Escape ``text`` for Markdown body text and table cells (one line, no markup, no HTML, no mentions)."""
    text = str(text)
    if text.isascii() and text.isprintable() and text == text.strip() and not _MD_ANY.search(text):
        return text
    one_line = " ".join(printable(text).split())
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=False))
    return _MENTION.sub("@" + WORD_JOINER, escaped)


def html_text(text: object) -> str:
    """Escape for text inside an HTML element such as ``<summary>``: Markdown is not parsed there,
    but GitHub still turns ``@name`` into a mention, so mentions are defused here too."""
    return _MENTION.sub("@" + WORD_JOINER, html.escape(" ".join(printable(str(text)).split())))


def status_label(agent: Agent) -> str:
    if agent.change == Change.GONE:
        return f"gone (was {agent.status.value})"
    if agent.change in (Change.NEW, Change.CHANGED):
        return f"{agent.status.value} ({agent.change.value})"
    return agent.status.value


def where_seen(agent: Agent) -> str:
    if not agent.locations:
        return "registry only" if agent.approved_id else "-"
    more = f" (+{len(agent.locations) - 1} more)" if len(agent.locations) > 1 else ""
    return agent.locations[0] + more


def counts_table(inventory: Inventory) -> list[str]:
    by_status = inventory.summary()["by_status"]
    new: dict[str, int] = {}
    for a in inventory.agents:
        if a.change == Change.NEW and a.is_agent:  # other items (MCP servers) are counted in the summary line
            new[a.status.value] = new.get(a.status.value, 0) + 1
    rows = ["| Status | Agents | New |", "|---|--:|--:|"]
    for status in sorted(Status, key=lambda s: -s.rank):
        if by_status[status.value] or new.get(status.value):
            rows.append(f"| {status.value} | {by_status[status.value]} | {new.get(status.value, 0)} |")
    return rows


def new_section(agents: list[Agent]) -> list[str]:
    new = [a for a in agents if a.change == Change.NEW]
    gone = [a for a in agents if a.change == Change.GONE]
    lines: list[str] = []
    if new:
        lines += ["", f"### New since the baseline ({len(new)})", ""]
        lines += [f"- **{md(a.name)}**{'' if a.is_agent else ' (MCP server)'} · {a.status.value}, {a.severity.value} · "
                  f"{md(', '.join(a.providers) or 'unknown provider')}" for a in new[:MAX_ROWS]]
    if gone:
        lines += ["", f"Gone since the baseline: {md(', '.join(a.name for a in gone))}"]
    return lines


def agents_table(agents: list[Agent]) -> list[str]:
    rows = ["| Status | Severity | Agent | Owner | Providers / models | Spend | Where seen |",
            "|---|---|---|---|---|--:|---|"]
    for a in agents[:MAX_ROWS]:
        cells = [status_label(a), a.severity.value, a.name, ", ".join(a.owners) or "-",
                 ", ".join(a.providers + a.models) or "-", spend_text(a.spend) or "-", where_seen(a)]
        rows.append("| " + " | ".join(md(c) for c in cells) + " |")
    if len(agents) > MAX_ROWS:
        rows.append(f"\n… and {len(agents) - MAX_ROWS} more agents: see the full report.")
    return rows


def agent_details(agent: Agent, findings: dict[str, Finding]) -> list[str]:
    summary = f"[{status_label(agent)}] {agent.name} · {agent.severity.value}"
    lines = ["<details>", f"<summary>{html_text(summary)}</summary>", ""]
    lines.append(f"**Owner (guess):** {md(', '.join(agent.owners) or 'unknown')}  ")
    if agent.approved_id:
        lines.append(f"**Registry record:** {md(agent.approved_id)}  ")
    lines.append(f"**What to do:** {md(agent.remediation or '-')}")
    if agent.reasons:
        lines += ["", "**Why**", ""] + [f"- {md(r.message)} ({md(r.code)})" for r in agent.reasons]
    evidence = evidence_lines(agent, findings, MAX_EVIDENCE)
    if evidence:
        lines += ["", "**Evidence**", ""] + [f"- {md(e)}" for e in evidence]
        if len(agent.findings) > MAX_EVIDENCE:
            lines.append(f"- … and {len(agent.findings) - MAX_EVIDENCE} more")
    return lines + ["", "</details>"]


def coverage_lines(inventory: Inventory) -> list[str]:
    lines = []
    for c in inventory.coverage:
        if not c.complete:
            detail = c.reason or f"{c.gaps_total} items not readable"
            lines.append(f"- {md(c.detector)}{f' on {md(c.host)}' if c.host else ''}: "
                         f"**{c.status.value}**: {md(detail)}")
    return ["", "### What this scan could not see", ""] + lines if lines else []


def render_markdown(inventory: Inventory) -> str:
    inventory.sorted()
    agents = ordered_agents(inventory)
    lines = ["## LLM agent inventory", "", f"**{md(summary_line(inventory))}**"]
    if not agents:
        lines += ["", "No LLM agents were found."]
    else:
        lines += [""] + counts_table(inventory) + new_section(agents)
        lines += ["", "### Agents", ""] + agents_table(agents)
        fmap = inventory.finding_map()
        shown = [a for a in agents if a.change != Change.GONE][:MAX_DETAILS]
        lines += ["", "### Details", ""]
        for a in shown:
            lines += agent_details(a, fmap) + [""]
    lines += coverage_lines(inventory)
    return "\n".join(lines).rstrip("\n") + "\n"


class MarkdownFormat(Format):
    name = "markdown"
    description = "Markdown summary for a pull-request comment or an email (counts, new first, table, evidence)"
    extensions = (".md", ".markdown")

    def render(self, inventory: Inventory, stream: IO[str]) -> None:
        stream.write(render_markdown(inventory))
