"""``table``: the terminal view — summary line, one row per agent, and what the scan could not see.

Every cell is a :class:`rich.text.Text` made from :func:`printable` text: rich markup in a
name stays text, and no escape sequence from a file name reaches the terminal (on a real
terminal the output stream leaves ESC to rich, so this is the step that keeps it safe).
"""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner.format import Format, ordered_agents, printable, summary_line
from scanner.model import Inventory

STATUS_STYLE = {
    "approved": "green", "shadow": "bold red", "drift": "yellow", "dormant": "dim",
    "review-overdue": "magenta", "expired": "red",
}
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


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
        if inventory.agents:
            table = Table(show_lines=False, header_style="bold", expand=False)
            for col in ("Status", "Sev", "Agent", "Providers / models", "Owner", "Where", "Seen by"):
                table.add_column(col, overflow="fold")
            for a in ordered_agents(inventory):
                status = _text(a.status.value, STATUS_STYLE.get(a.status.value, ""))
                if a.change and a.change.value != "unchanged":
                    status.append(f" ({a.change.value})", style="bold")
                where = a.locations[0] if a.locations else "-"
                if len(a.locations) > 1:
                    where += f" (+{len(a.locations) - 1})"
                table.add_row(
                    status, _text(a.severity.value, SEVERITY_STYLE.get(a.severity.value, "")), _text(a.name),
                    _text(_first(a.providers + a.models, 5)), _text(_first(a.owners, 2)), _text(where),
                    _text(", ".join(a.detectors) or "registry"),
                )
            console.print(table)
        for c in inventory.coverage:
            if not c.complete:
                detail = c.reason or f"{c.gaps_total} items not readable"
                host = f" on {c.host}" if c.host else ""
                console.print(_text(f"coverage: {c.detector}{host} {c.status.value}: {detail}", "yellow"))


def _text(value: str, style: str = "") -> Text:
    """A cell: printable, never parsed as markup."""
    return Text(printable(value), style=style)


def _first(items: list[str], n: int) -> str:
    """A cell stays readable: the first ``n`` items and how many more (the JSON has them all)."""
    shown = ", ".join(items[:n]) or "-"
    return shown + (f" (+{len(items) - n})" if len(items) > n else "")
