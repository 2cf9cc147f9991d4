"""Merge inventories from many hosts into one, correlating across them by identity keys."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from scanner import __version__
from scanner.catalog import Catalog
from scanner.inventory_file import inventory_from_parts, load_inventory, read_inventory
from scanner.model import Coverage, Finding, Inventory
from scanner.pipeline import build_inventory
from scanner.registry import Registry


def merge_inventories(inventories: list[Inventory], registry: Registry | None, catalog_files: list[str],
                      sources: list[str], today: dt.date | None = None) -> Inventory:
    """Union of findings (deduplicated by id) and coverage; agents, statuses and severities are rebuilt."""
    findings: dict[str, Finding] = {}
    for inv in inventories:
        for f in inv.findings:
            findings.setdefault(f.id, f)
    return _rebuilt(findings, inventories, registry, catalog_files, sources, today)


def merge_saved(paths: list[str] | list[Path], registry: Registry | None, catalog_files: list[str],
                today: dt.date | None = None) -> Inventory:
    """:func:`merge_inventories` of saved inventories (unscrubbed: the rebuild scrubs), read one
    after the other into the union: a finding an earlier inventory holds is let go as it is read,
    so inventories that share most of their findings (two scans of one fleet) hold them once."""
    findings: dict[str, Finding] = {}
    inventories = []
    for path in paths:
        own: list[Finding] = []  # its findings the union did not hold yet

        def keep(f: Finding, own: list[Finding] = own) -> None:
            if f.id not in findings:
                findings[f.id] = f
                own.append(f)

        seen: list[str] = []

        def begin(name: str, _top: dict[str, Any], seen: list[str] = seen) -> None:
            if name in seen:  # a repeated key, whose last array counts: read whole
                raise _Repeated
            seen.append(name)

        def restart(own: list[Finding] = own, seen: list[str] = seen) -> None:  # read again the general way
            for f in own:
                del findings[f.id]
            own.clear()
            seen.clear()

        try:
            top = read_inventory(path, {"agents": None, "findings": keep}, begin, restart)
        except _Repeated:
            inputs = [load_inventory(p, agents=False, scrub=False) for p in paths]
            return merge_inventories(inputs, registry, catalog_files, [str(p) for p in paths], today)
        inv = inventory_from_parts(path, top, None, own)  # a 1.0 inventory's findings get their typed fields
        inv.findings = []
        inventories.append(inv)
    return _rebuilt(findings, inventories, registry, catalog_files, [str(p) for p in paths], today)


class _Repeated(Exception):
    pass


def _rebuilt(findings: dict[str, Finding], inventories: list[Inventory], registry: Registry | None,
             catalog_files: list[str], sources: list[str], today: dt.date | None) -> Inventory:
    coverage, metadata = merged_frame(inventories, registry, sources)
    return build_inventory(list(findings.values()), coverage, Catalog.load(catalog_files),
                           registry, today or dt.date.today(), metadata)


def merged_frame(inventories: list[Inventory], registry: Registry | None,
                 sources: list[str]) -> tuple[list[Coverage], dict[str, Any]]:
    """The merged inventory's coverage (the first of each detector and host) and metadata."""
    coverage: dict[tuple[str, str], Coverage] = {}
    for inv in inventories:
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
    return list(coverage.values()), metadata
