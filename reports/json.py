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

    def render(self, inventory: Inventory, stream: IO[str]) -> None:
        stream.write(inventory.to_json())
