"""Findings → inventory items: union of findings that share a strong identity key.

Weak keys (owner, host) are kept on the agent but never join two groups, so one
person's ten bots, or ten services on one host, stay ten agents.

A group becomes an item only when it holds call-capable evidence (see
``model.FINDING_KINDS``): an agent if any finding forms one, else an MCP server. A group of
descriptive findings alone (model names, dependencies, imports, anything only in tests,
docs or comments) is no item: its findings stay in the inventory, attached to nothing.
An item lists its findings strongest first.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, MutableSequence

from scanner import identity, keyhints
from scanner.model import Agent, Finding, ItemKind, stable_hash, unique_sorted


class UnionFind:
    """Disjoint sets over ``0 .. n-1``; ``parent`` is the container to keep them in (``merge`` on
    disk gives a compact ``array``), each element its own set at first."""

    def __init__(self, parent: MutableSequence[int]) -> None:
        self.parent = parent

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def correlate(findings: Iterable[Finding]) -> list[Agent]:
    """Group findings into agents; the result does not depend on input order."""
    items = sorted(findings, key=lambda f: f.id)
    uf = UnionFind(list(range(len(items))))
    first_with_key: dict[str, int] = {}
    for i, f in enumerate(items):
        for key in f.identity:
            if identity.is_weak(key):
                continue
            if key in first_with_key:
                uf.union(first_with_key[key], i)
            else:
                first_with_key[key] = i
    for a, b in keyhints.link(items):  # a found key whose preview fits a key the provider lists
        uf.union(a, b)
    groups: dict[int, list[Finding]] = defaultdict(list)
    for i, f in enumerate(items):
        groups[uf.find(i)].append(f)
    agents = []
    for group in groups.values():
        kind = item_kind(group)
        if kind is not None:
            agents.append(build_agent(group, kind))
    return agents


def item_kind(group: list[Finding]) -> ItemKind | None:
    """An agent if any finding forms one, else an MCP server if one forms that, else nothing."""
    formed = {f.forms for f in group}
    if ItemKind.AGENT in formed:
        return ItemKind.AGENT
    return ItemKind.MCP_SERVER if ItemKind.MCP_SERVER in formed else None


def strongest_first(group: list[Finding]) -> list[Finding]:
    """Forming evidence first, then by the kind's strength and the finding's confidence; id breaks ties."""
    def order(f: Finding) -> tuple[int, int, int, str]:
        forms, kind, confidence = f.strength
        return -forms, -kind, -confidence, f.id

    return sorted(group, key=order)


def anchor_key(keys: Iterable[str]) -> str | None:
    """The key an agent is named and identified after (see identity.ANCHOR_ORDER)."""
    strong = [k for k in keys if not identity.is_weak(k)]
    return min(strong, key=lambda k: (identity.anchor_rank(k), k)) if strong else None


def build_agent(group: list[Finding], kind: ItemKind = ItemKind.AGENT) -> Agent:
    group = strongest_first(group)
    keys_seen, observed, providers, models, detectors, kinds, locations = set(), set(), set(), set(), set(), set(), set()
    spend: dict[str, float] = {}
    for f in group:  # one pass gathers every field (a generator per field cost a tenth of a merge's build)
        keys_seen.update(f.identity)
        observed.add(f.observed_at)
        providers.add(f.provider)
        models.add(f.model)
        detectors.add(f.detector)
        kinds.add(f.kind)
        locations.add(f.location.describe())
        if f.cost is not None:
            cur = f.currency or "USD"
            spend[cur] = spend.get(cur, 0.0) + f.cost
    keys = _set_sorted(keys_seen)
    anchor = anchor_key(keys) or f"finding:{group[0].id}"
    seen = _set_sorted(observed)
    return Agent(
        id=stable_hash(anchor, length=12),
        name=identity.describe(anchor),
        identity=keys,
        findings=[f.id for f in group],
        providers=_set_sorted(providers),
        models=_set_sorted(models),
        owners=unique_sorted(k.split(":", 1)[1] for k in keys if identity.key_type(k) == "owner"),
        detectors=_set_sorted(detectors),
        kinds=_set_sorted(kinds),
        locations=_set_sorted(locations),
        first_seen=seen[0] if seen else None,
        last_seen=seen[-1] if seen else None,
        spend=spend,
        kind=kind,
    )


def _set_sorted(values: set[str | None]) -> list[str]:
    """:func:`unique_sorted` of a set already gathered: the values that are set, in order."""
    values.discard(None)
    values.discard("")
    return sorted(values)  # type: ignore[type-var]
