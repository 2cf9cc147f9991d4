"""``json``: the full inventory, deterministic (sorted keys and lists), versioned by ``schema_version``."""

from __future__ import annotations

from typing import IO

from scanner.format import Format
from scanner.model import Inventory


class JsonFormat(Format):
    name = "json"
    description = "Full inventory as JSON (default when stdout is not a terminal); input for report, diff, merge"
    extensions = (".json",)
    output_kind = "json"
    inventory_json = True  # report writes a saved inventory's text as it reads it (scanner/report_stream.py)

    def render(self, inventory: Inventory, stream: IO[str]) -> None:
        for piece in inventory.json_pieces():
            stream.write(piece)
