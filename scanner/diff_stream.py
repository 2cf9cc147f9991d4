"""``diff`` of two saved inventories, reading them agent by agent: what it holds is small per agent.

:func:`scanner.baseline.diff` pairs agents by id, then by a shared strong identity key (the
first old agent holding it, in the old inventory's order), and compares their status,
providers, models, owners and findings. Here the same pairing is done keeping of each old
agent only its id (a number: ids are 12 hex digits), a 16-byte digest of the compared fields,
and a 16-byte digest of each of its strong keys; the new inventory is then read, each agent
paired as it comes. The old inventory's agents are read a second time for what the answer
shows of them: the name and status of the gone ones, the fields of the changed ones.

Each agent is checked and scrubbed as :func:`scanner.inventory_file.load_inventory` does, and
the inventories are read in the same order, so every fault gets the message it always got.
An old inventory that repeats an agent id (whose last copy wins, at the first one's place) is
left to the whole read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from scanner import inventory_chunks, redact
from scanner.baseline import compared_fields, field_changes, pairing_keys, strong_keys
from scanner.errors import InputError
from scanner.inventory_file import inventory_from_parts, plain_elements, read_in_chunks, read_inventory
from scanner.model import Agent, Change

BATCH = redact.SCRUB_BATCH


@dataclass
class SavedDiff:
    """What ``diff`` shows: (id, name, status) of new and gone agents, (id, previous id, name,
    status, changes) of changed ones, the ids of unchanged ones (or only their count)."""

    new: list[tuple[str, str, str]] = field(default_factory=list)
    gone: list[tuple[str, str, str]] = field(default_factory=list)
    changed: list[tuple[str, str, str, str, list[str]]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unchanged_count: int = 0


class _RepeatedId(Exception):
    pass


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class Seen(NamedTuple):
    """What the diff keeps of an agent that is not gone, worked out where it was decoded (on
    every core for a large inventory: :mod:`scanner.chunk_pool`)."""

    id: str
    name: str
    status: str
    fields: bytes  # its compared fields as JSON (what a change is said from) ...
    signature: bytes  # ... and their digest
    strong: list[bytes]  # digests of the keys an old agent is found by (``strong_keys``)
    pairing: list[bytes]  # digests of the keys a new agent is looked up by (``pairing_keys``)


def _seen(agent: Any) -> Seen:
    """The :class:`Seen` of an agent: a model object or a checked struct (same field names)."""
    fields = compared_fields(agent)
    try:
        text = msgspec.json.encode(fields)
    except UnicodeEncodeError:  # a lone surrogate (a name that was not UTF-8): the same fields always land here
        text = json.dumps(fields).encode()
    return Seen(agent.id, agent.name, agent.status.value, text, hashlib.blake2b(text, digest_size=16).digest(),
                [_digest(k) for k in strong_keys(agent)], [_digest(k) for k in pairing_keys(agent)])


def _fields(seen: Seen) -> dict[str, Any]:
    return json.loads(seen.fields)  # type: ignore[no-any-return]


def _agents(path: str | Path, use: Any, stop_after_agents: bool = False) -> None:
    """Hand every agent of ``path`` that is not gone, scrubbed, to ``use`` in batches as :class:`Seen`
    (findings checked)."""
    batch: list[Agent] = []
    done: list[str] = []

    def flush() -> None:
        if batch:
            redact.scrub_agents(batch)
            use([_seen(a) for a in batch])
            batch.clear()

    def add(agent: Agent) -> None:
        if agent.change != Change.GONE:
            batch.append(agent)
            if len(batch) >= BATCH:
                flush()

    def begin(name: str, _top: dict[str, Any]) -> None:
        flush()
        if name == "agents" and name in done:
            raise _RepeatedId("agents")  # a repeated key, whose last array counts: left to the whole read
        if name == "findings" and stop_after_agents and "agents" in done:
            raise _AgentsRead
        done.append(name)

    try:
        top = read_inventory(path, {"agents": add, "findings": None}, begin)
    except _AgentsRead:
        return
    flush()
    inventory_from_parts(path, top)


def chunk_work(name: str, raw: bytes) -> tuple[int, list[Seen]] | None:
    """A chunk of ``agents`` or ``findings``: how many elements it holds, and the :class:`Seen` of its
    agents that are not gone (findings are only checked); None when the structs refuse it or the
    key gate finds anything in its agents (it is then read element by element)."""
    records = inventory_chunks.decode(name if name == "agents" else "findings-checked", raw)
    if records is None or (name == "agents" and not inventory_chunks.clean(raw, records)):
        return None
    return len(records), [_seen(a) for a in records if name == "agents" and a.change != Change.GONE]


def _agents_in_chunks(path: str | Path, use: Any, stop_after_agents: bool = False) -> None:
    """:func:`_agents` of an inventory in this tool's own layout, a chunk of elements at a time
    (:mod:`scanner.inventory_chunks`); its findings are checked by decoding them into structs."""
    read = {"agents": 0, "findings": 0}

    def begin(name: str, _top: dict[str, Any]) -> None:
        if name == "findings" and stop_after_agents:
            raise _AgentsRead

    def chunk(name: str, raw: bytes, worked: tuple[int, list[Seen]] | None) -> None:
        if worked is not None:
            read[name] += worked[0]
            if worked[1]:
                use(worked[1])
            return
        elements = plain_elements(name, raw, read[name], str(path), build=name == "agents")
        read[name] += len(elements)
        agents = [a for a in elements if name == "agents" and a.change != Change.GONE]
        if agents:
            redact.scrub_agents(agents)
            use([_seen(a) for a in agents])

    try:
        top = read_in_chunks(path, chunk, begin, chunk_work)
    except _AgentsRead:
        return
    inventory_from_parts(path, top)


class _AgentsRead(Exception):
    pass


def diff_saved(old: str | Path, new: str | Path, keep_unchanged: bool = True) -> SavedDiff:
    """:func:`scanner.baseline.diff` of two saved inventories, as ``diff`` shows it."""
    redact.load_key_formats()
    try:
        try:
            return _diff(old, new, keep_unchanged, _agents_in_chunks)
        except (inventory_chunks.NotThisLayout, OSError):  # read the general way, which names any fault
            return _diff(old, new, keep_unchanged, _agents)
    except _RepeatedId:
        return _whole(old, new)


def _whole(old: str | Path, new: str | Path) -> SavedDiff:
    from scanner.baseline import diff
    from scanner.inventory_file import load_inventory
    d = diff(load_inventory(old, findings=False), load_inventory(new, findings=False))
    return SavedDiff(new=[(a.id, a.name, a.status.value) for a in d.new],
                     gone=[(a.id, a.name, a.status.value) for a in d.gone],
                     changed=[(b.id, a.id, b.name, b.status.value, what) for a, b, what in d.changed],
                     unchanged=[a.id for a in d.unchanged], unchanged_count=len(d.unchanged))


def _diff(old: str | Path, new: str | Path, keep_unchanged: bool, agents_of: Any) -> SavedDiff:
    slots: dict[int, int] = {}  # old agent id (as a number) → its place among the old agents
    signatures: list[bytes] = []
    by_key: dict[bytes, int] = {}  # digest of a strong key → the first old agent holding it

    def index(agents: list[Seen]) -> None:
        for a in agents:
            slot = len(signatures)
            if slots.setdefault(int(a.id, 16), slot) != slot:
                raise _RepeatedId(a.id)
            signatures.append(a.signature)
            for k in a.strong:
                by_key.setdefault(k, slot)

    agents_of(old, index)
    paired = bytearray(len(signatures))
    result = SavedDiff()
    changed: list[tuple[int, Seen]] = []  # (old place, new agent): the changes are said once the old is read again

    def pair(agents: list[Seen]) -> None:
        for a in agents:
            slot = slots.get(int(a.id, 16))
            if slot is None or paired[slot]:
                slot = next((s for k in a.pairing if (s := by_key.get(k)) is not None and not paired[s]), None)
            if slot is None:
                result.new.append((a.id, a.name, a.status))
                continue
            paired[slot] = 1
            if a.signature != signatures[slot]:
                changed.append((slot, a))
            else:
                result.unchanged_count += 1
                if keep_unchanged:
                    result.unchanged.append(a.id)

    agents_of(new, pair)
    del by_key, signatures
    wanted = {slot: a for slot, a in changed}
    before: dict[int, Seen] = {}
    count = 0

    def collect(agents: list[Seen]) -> None:
        nonlocal count
        for a in agents:
            if slots.get(int(a.id, 16)) != count:
                raise InputError(f"{old}: changed while it was being read")
            if not paired[count]:
                result.gone.append((a.id, a.name, a.status))
            elif count in wanted:
                before[count] = a
            count += 1

    agents_of(old, collect, stop_after_agents=True)
    if count != len(paired):
        raise InputError(f"{old}: changed while it was being read")
    result.changed = [(a.id, before[slot].id, a.name, a.status, field_changes(_fields(before[slot]), _fields(a)))
                      for slot, a in changed]
    return result

