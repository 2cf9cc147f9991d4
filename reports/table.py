"""``table``: the terminal view — summary line, one row per agent, and what the scan could not see.

Every cell is a :class:`rich.text.Text` made from :func:`printable` text: rich markup in a
name stays text, and no escape sequence from a file name reaches the terminal (on a real
terminal the output stream leaves ESC to rich, so this is the step that keeps it safe).

Rich lays out a table of a few hundred rows in a blink and one of 20,000 in half a minute,
so an inventory of more than :data:`RICH_ROWS` items is written in a plain layout instead:
one line per item, columns cut to a width with "…", no colour, and a line that says so.
"""

from __future__ import annotations

import io
from typing import IO, Any, Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner.format import NO_FINDINGS, AgentFormat, AgentWriter, Counts, printable, reading_order, write_agents
from scanner.model import Agent, Finding, Inventory

STATUS_STYLE = {
    "approved": "green", "shadow": "bold red", "drift": "yellow", "dormant": "dim",
    "review-overdue": "magenta", "expired": "red",
}
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
COLUMNS = ("Status", "Sev", "Agent", "Providers / models", "Owner", "Where", "Seen by")
RICH_ROWS = 1000  # beyond this many rows the plain layout
PLAIN_WIDTHS = (24, 8, 40, 40, 30, 60, 30)  # the widest each plain column gets
_CELL = "\0"  # between the cells of a piece: printable() text holds none


class TableFormat(AgentFormat):
    name = "table"
    description = "Human-readable table (default on a terminal)"
    extensions = (".txt",)
    output_kind = "terminal"
    uses_findings = NO_FINDINGS  # a row is made of its agent's own fields

    def agent_key(self, agent: Agent) -> Any:
        return reading_order(agent)

    def writer(self, frame: Inventory) -> AgentWriter:
        return _TableWriter(frame, _plain_console)

    def render(self, inventory: Inventory, stream: IO[str]) -> None:
        if hasattr(stream, "isatty") and stream.isatty():
            terminal = Console(file=stream, force_terminal=True, highlight=False, soft_wrap=False)
            write_agents(inventory, stream, _TableWriter(inventory, _like(terminal)), self.agent_key)
        else:
            super().render(inventory, stream)


def _plain_console(file: IO[str]) -> Console:
    return Console(file=file, width=160, force_terminal=False, no_color=True, highlight=False, soft_wrap=False)


def _like(terminal: Console) -> Callable[[IO[str]], Console]:
    """Consoles that lay out and colour text as ``terminal`` does, into another file."""
    width, colours = terminal.width, terminal.color_system
    return lambda file: Console(file=file, width=width, force_terminal=True, color_system=colours,  # type: ignore[arg-type]
                                highlight=False, soft_wrap=False)


class _TableWriter(AgentWriter):
    """Each agent's cells as its piece; then the summary line and, for up to RICH_ROWS rows, the rich
    table (kept until then), else the plain layout, whose widths are those of the widest cells seen."""

    def __init__(self, frame: Inventory, console: Callable[[IO[str]], Console]) -> None:
        self.coverage = frame.coverage
        self.console = console
        self.counts = Counts()
        self.widths = [len(c) for c in COLUMNS]
        self.rows: list[tuple[Any, int, Agent, tuple[str, ...]]] | None = []  # None: more than RICH_ROWS
        self.seen = 0

    def agent(self, agent: Agent, findings: dict[str, Finding]) -> str:
        self.counts.agent(agent)
        cells = tuple(printable(c) for c in _cells(agent))
        self.widths = [max(w, len(c)) for w, c in zip(self.widths, cells)]
        self.seen += 1
        if self.rows is not None:
            self.rows.append((reading_order(agent), self.seen, agent, cells))
            if len(self.rows) > RICH_ROWS:
                self.rows = None
        return _CELL.join(cells)

    def add(self, other: AgentWriter) -> None:
        assert isinstance(other, _TableWriter)
        self.counts.add(other.counts)
        self.widths = [max(w, v) for w, v in zip(self.widths, other.widths)]
        if self.rows is not None and other.rows is not None and len(self.rows) + len(other.rows) <= RICH_ROWS:
            self.rows += [(key, self.seen + seen, a, cells) for key, seen, a, cells in other.rows]
        else:
            self.rows = None
        self.seen += other.seen

    def head(self) -> str:
        self.widths = [min(w, cap) for w, cap in zip(self.widths, PLAIN_WIDTHS)]
        text = io.StringIO()
        console = self.console(text)
        console.print(_text(self.counts.line(self.coverage), "bold"))
        if self.rows is None:
            text.write(f"{self.seen:,} rows: plain layout (more than {RICH_ROWS:,}); "
                       "-f json or -f csv has every field in full\n")
            text.write(_plain_line(COLUMNS, self.widths))
            text.write(_plain_line(tuple("-" * w for w in self.widths), self.widths))
        elif self.rows:
            table = Table(show_lines=False, header_style="bold", expand=False)
            for col in COLUMNS:
                table.add_column(col, overflow="fold")
            for _key, _seen, a, (status, severity, *rest) in sorted(self.rows, key=lambda r: r[:2]):
                table.add_row(Text(status, style=STATUS_STYLE.get(a.status.value, "")),
                              Text(severity, style=SEVERITY_STYLE.get(a.severity.value, "")), *map(Text, rest))
            console.print(table)
        return text.getvalue()

    def piece(self, text: str, section: int = 0) -> str:
        return "" if self.rows is not None else _plain_line(tuple(text.split(_CELL)), self.widths)

    def tail(self) -> list[str]:
        text = io.StringIO()
        console = self.console(text)
        for c in self.coverage:
            if not c.complete:
                detail = c.reason or f"{c.gaps_total} items not readable"
                host = f" on {c.host}" if c.host else ""
                console.print(_text(f"coverage: {c.detector}{host} {c.status.value}: {detail}", "yellow"))
        return [text.getvalue()]


def _cells(a: Agent) -> tuple[str, ...]:
    """One row: status (and change), severity, name, providers and models, owners, where, seen by."""
    status = a.status.value
    if a.change and a.change.value != "unchanged":
        status += f" ({a.change.value})"
    where = a.locations[0] if a.locations else "-"
    if len(a.locations) > 1:
        where += f" (+{len(a.locations) - 1})"
    return (status, a.severity.value, a.name, _first(a.providers + a.models, 5), _first(a.owners, 2), where,
            ", ".join(a.detectors) or "registry")


def _plain_line(cells: tuple[str, ...], widths: list[int]) -> str:
    cut = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(cells, widths)]
    return "  ".join(c.ljust(w) for c, w in zip(cut, widths)).rstrip() + "\n"


def _text(value: str, style: str = "") -> Text:
    """A cell: printable, never parsed as markup."""
    return Text(printable(value), style=style)


def _first(items: list[str], n: int) -> str:
    """A cell stays readable: the first ``n`` items and how many more (the JSON has them all)."""
    shown = ", ".join(items[:n]) or "-"
    return shown + (f" (+{len(items) - n})" if len(items) > n else "")
