"""``markdown``: a summary for a pull-request comment or a Monday email.

Counts by status, agents new since the baseline first, one table row per agent and
collapsible evidence. Every string that came from the scanned world (names, paths,
evidence, owners) is escaped, so a file called ``a|b`` cannot break the table and a
``<script>`` in a path stays text.
"""

from __future__ import annotations

import html
import io
import re
from typing import Any, Iterator

from scanner.format import (AgentFormat, AgentWriter, Counts, FirstInOrder, evidence_lines, printable, reading_order,
                            spend_text)
from scanner.model import Agent, Change, Coverage, Finding, Inventory, Status

MAX_ROWS = 200  # a GitHub comment holds 65,536 characters
MAX_DETAILS = 50
MAX_EVIDENCE = 10

# `&`, `<` and `>` become entities, then each character that starts Markdown syntax inline gets a
# backslash (the backslash itself first, so none added is doubled): a replace per character that
# is there beats a regex's or translate()'s pass over text that holds others than ASCII.
_MD_ESCAPES = [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")] + [(c, "\\" + c) for c in "\\`*_[]|#~!"]
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
    escaped = " ".join(printable(text).split())
    for special, escape in _MD_ESCAPES:
        if special in escaped:
            escaped = escaped.replace(special, escape)
    return _MENTION.sub("@" + WORD_JOINER, escaped) if "@" in escaped else escaped


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


def counts_table(by_status: dict[str, int], new: dict[str, int]) -> list[str]:
    rows = ["| Status | Agents | New |", "|---|--:|--:|"]
    for status in sorted(Status, key=lambda s: -s.rank):
        if by_status[status.value] or new.get(status.value):
            rows.append(f"| {status.value} | {by_status[status.value]} | {new.get(status.value, 0)} |")
    return rows


def new_section(new: list[Agent], new_count: int, gone_names: list[str]) -> list[str]:
    """The first new agents (of ``new_count``), then every gone one by name."""
    lines: list[str] = []
    if new_count:
        lines += ["", f"### New since the baseline ({new_count})", ""]
        lines += [f"- **{md(a.name)}**{'' if a.is_agent else ' (MCP server)'} · {a.status.value}, {a.severity.value} · "
                  f"{md(', '.join(a.providers) or 'unknown provider')}" for a in new]
    if gone_names:
        lines += ["", f"Gone since the baseline: {md(', '.join(gone_names))}"]
    return lines


def agents_table(agents: list[Agent], total: int) -> list[str]:
    """The first agents (of ``total``) as table rows."""
    rows = ["| Status | Severity | Agent | Owner | Providers / models | Spend | Where seen |",
            "|---|---|---|---|---|--:|---|"]
    for a in agents:
        cells = [status_label(a), a.severity.value, a.name, ", ".join(a.owners) or "-",
                 ", ".join(a.providers + a.models) or "-", spend_text(a.spend) or "-", where_seen(a)]
        rows.append("| " + " | ".join(md(c) for c in cells) + " |")
    if total > len(agents):
        rows.append(f"\n… and {total - len(agents)} more agents: see the full report.")
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


def coverage_lines(coverage: list[Coverage]) -> list[str]:
    lines = []
    for c in coverage:
        if not c.complete:
            detail = c.reason or f"{c.gaps_total} items not readable"
            lines.append(f"- {md(c.detector)}{f' on {md(c.host)}' if c.host else ''}: "
                         f"**{c.status.value}**: {md(detail)}")
    return ["", "### What this scan could not see", ""] + lines if lines else []


def render_markdown(inventory: Inventory) -> str:
    text = io.StringIO()
    MarkdownFormat().render(inventory, text)
    return text.getvalue()


class MarkdownFormat(AgentFormat):
    name = "markdown"
    description = "Markdown summary for a pull-request comment or an email (counts, new first, table, evidence)"
    extensions = (".md", ".markdown")

    def writer(self, frame: Inventory) -> AgentWriter:
        return _SummaryWriter(frame.coverage)


class _SummaryWriter(AgentWriter):
    """Everything is in the head, which shows the first agents in reading order: so of the agents
    given it keeps the counts, the first MAX_ROWS (and new ones), the first MAX_DETAILS details and
    the names of the gone."""

    def __init__(self, coverage: list[Coverage]) -> None:
        self.coverage = coverage
        self.counts = Counts()
        self.rows, self.new, self.details = FirstInOrder(MAX_ROWS), FirstInOrder(MAX_ROWS), FirstInOrder(MAX_DETAILS)
        self.gone: list[tuple[Any, str]] = []
        self.seen = self.new_count = 0

    def agent(self, agent: Agent, findings: dict[str, Finding]) -> str:
        self.counts.agent(agent)
        self.seen += 1
        key = (reading_order(agent), self.seen)  # equal reading orders are equal canonical orders: ties by arrival
        self.rows.add(key, lambda: agent)
        if agent.change == Change.NEW:
            self.new_count += 1
            self.new.add(key, lambda: agent)
        if agent.change == Change.GONE:
            self.gone.append((key, agent.name))
        else:
            self.details.add(key, lambda: agent_details(agent, findings) + [""])
        return ""

    def add(self, other: AgentWriter) -> None:
        assert isinstance(other, _SummaryWriter)
        self.counts.add(other.counts)
        seen = self.seen  # the other's agents came after these: their arrival numbers follow

        def later(pairs: list[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
            return (((order, arrival + seen), value) for (order, arrival), value in pairs)

        for mine, theirs in ((self.rows, other.rows), (self.new, other.new), (self.details, other.details)):
            mine.extend(later(theirs.pairs()))
        self.gone += later(other.gone)
        self.seen += other.seen
        self.new_count += other.new_count

    def head(self) -> str:
        summary = self.counts.summary()
        lines = ["## LLM agent inventory", "", f"**{md(self.counts.line(self.coverage))}**"]
        if not self.seen:
            lines += ["", "No LLM agents were found."]
        else:
            gone = [name for _key, name in sorted(self.gone, key=lambda g: g[0])]
            lines += [""] + counts_table(summary["by_status"], self.counts.new_by_status)
            lines += new_section(self.new.taken(), self.new_count, gone)
            lines += ["", "### Agents", ""] + agents_table(self.rows.taken(), self.seen)
            lines += ["", "### Details", ""]
            for detail in self.details.taken():
                lines += detail
        lines += coverage_lines(self.coverage)
        return "\n".join(lines).rstrip("\n") + "\n"
