"""``table``: the terminal view — summary line, one row per agent, and what the scan could not see.

Every cell is a :class:`rich.text.Text` made from :func:`printable` text: rich markup in a
name stays text, and no escape sequence from a file name reaches the terminal (on a real
terminal the output stream leaves ESC to rich, so this is the step that keeps it safe).

Rich lays out a table of a few hundred rows in a blink and one of 20,000 in half a minute,
so an inventory of more than :data:`RICH_ROWS` items is written in a plain layout instead:
one line per item, columns cut to a width with "…", no colour, and a line that says so.
"""

from __future__ import annotations

from typing import IO, Iterator

from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner.format import Format, ordered_agents, printable, summary_line
from scanner.model import Agent, Inventory

STATUS_STYLE = {
    "approved": "green", "shadow": "bold red", "drift": "yellow", "dormant": "dim",
    "review-overdue": "magenta", "expired": "red",
}
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
COLUMNS = ("Status", "Sev", "Agent", "Providers / models", "Owner", "Where", "Seen by")
RICH_ROWS = 1000  # beyond this many rows the plain layout
PLAIN_WIDTHS = (24, 8, 40, 40, 30, 60, 30)  # the widest each plain column gets


class TableFormat(Format):
    name = "table"
    description = "Human-readable table (default on a terminal)"
    extensions = (".txt",)
    output_kind = "terminal"

    def render(self, inventory: Inventory, stream: IO[str]) -> None:
        is_tty = hasattr(stream, "isatty") and stream.isatty()
        console = Console(file=stream, width=None if is_tty else 160, force_terminal=is_tty,
                          no_color=not is_tty, highlight=False, soft_wrap=False)
        console.print(_text(summary_line(inventory), "bold"))
        agents = ordered_agents(inventory)
        if len(agents) > RICH_ROWS:
            _plain_table(agents, stream)
        elif agents:
            table = Table(show_lines=False, header_style="bold", expand=False)
            for col in COLUMNS:
                table.add_column(col, overflow="fold")
            for a in agents:
                status, severity, *rest = _cells(a)
                table.add_row(_text(status, STATUS_STYLE.get(a.status.value, "")),
                              _text(severity, SEVERITY_STYLE.get(a.severity.value, "")), *map(_text, rest))
            console.print(table)
        for c in inventory.coverage:
            if not c.complete:
                detail = c.reason or f"{c.gaps_total} items not readable"
                host = f" on {c.host}" if c.host else ""
                console.print(_text(f"coverage: {c.detector}{host} {c.status.value}: {detail}", "yellow"))


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


def _plain_table(agents: list[Agent], stream: IO[str]) -> None:
    """The rows as aligned plain text, each column as wide as its widest cell up to PLAIN_WIDTHS."""
    widths = [len(c) for c in COLUMNS]
    for a in agents:
        widths = [max(w, len(printable(c))) for w, c in zip(widths, _cells(a))]
    widths = [min(w, cap) for w, cap in zip(widths, PLAIN_WIDTHS)]
    stream.write(f"{len(agents):,} rows: plain layout (more than {RICH_ROWS:,}); "
                 "-f json or -f csv has every field in full\n")
    stream.write(_plain_line(COLUMNS, widths))
    stream.write(_plain_line(tuple("-" * w for w in widths), widths))
    batch: list[str] = []
    for line in _plain_lines(agents, widths):
        batch.append(line)
        if len(batch) >= 2000:
            stream.write("".join(batch))
            batch = []
    stream.write("".join(batch))


def _plain_lines(agents: list[Agent], widths: list[int]) -> Iterator[str]:
    for a in agents:
        yield _plain_line(tuple(printable(c) for c in _cells(a)), widths)


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
