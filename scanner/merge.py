"""Merge inventories from many hosts into one, correlating across them by identity keys."""

from __future__ import annotations

import datetime as dt

from scanner import __version__
from scanner.catalog import Catalog
from scanner.model import Coverage, Finding, Inventory
from scanner.pipeline import build_inventory
from scanner.registry import Registry


def merge_inventories(inventories: list[Inventory], registry: Registry | None, catalog_files: list[str],
                      sources: list[str], today: dt.date | None = None) -> Inventory:
    """Union of findings (deduplicated by id) and coverage; agents, statuses and severities are rebuilt."""
    findings: dict[str, Finding] = {}
    coverage: dict[tuple[str, str], Coverage] = {}
    for inv in inventories:
        for f in inv.findings:
            findings.setdefault(f.id, f)
        for c in inv.coverage:
            coverage.setdefault((c.detector, c.host or inv.metadata.get("host", "")), c)
    metadata = {
        "tool": "shadow-agents",
        "version": __version__,
        "merged_from": [
            {"file": src, "host": inv.metadata.get("host"), "started_at": inv.metadata.get("started_at"),
             "version": inv.metadata.get("version")}
            for src, inv in zip(sources, inventories)
        ],
        "registry": registry.source if registry else None,
    }
    return build_inventory(list(findings.values()), list(coverage.values()), Catalog.load(catalog_files),
                           registry, today or dt.date.today(), metadata)
