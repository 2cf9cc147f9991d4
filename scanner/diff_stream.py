"""``diff`` of two saved inventories, reading them agent by agent: what it holds is small per agent.

:func:`scanner.baseline.diff` pairs agents by id, then by a shared strong identity key (the
first old agent holding it, in the old inventory's order), and compares their status,
providers, models, owners and findings. Here the same pairing is done keeping of each old
agent only its id (a number: ids are 12 hex digits), a 16-byte digest of the compared fields,
and a 16-byte digest of each of its strong keys; the new inventory is then read, each agent
paired as it comes. What the answer shows of the old agents — the name and status of the gone
ones, the fields of the changed ones — is read back from a private spool written as the old
inventory was first read, not from the inventory again. What each agent is reduced to is worked
out where its chunk is decoded: on every core for a large inventory (:mod:`scanner.chunk_pool`).

Each agent is checked and scrubbed as :func:`scanner.inventory_file.load_inventory` does, and
the inventories are read in the same order, so every fault gets the message it always got.
An old inventory that repeats an agent id (whose last copy wins, at the first one's place) is
left to the whole read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import msgspec

from scanner import inventory_chunks, redact
from scanner.baseline import compared_fields, field_changes, pairing_keys, strong_keys
from scanner.inventory_file import inventory_from_parts, plain_elements, read_in_chunks, read_inventory
from scanner.model import Agent, Change
from scanner.spool import Spool

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
    every core for a large inventory: :mod:`scanner.chunk_pool`), for one of its two reads:
    ``index`` (the old inventory), ``pair`` (the new one)."""

    id: str
    name: str
    status: str
    fields: bytes  # its compared fields as JSON, what a change is said from
    signature: bytes  # their digest
    strong: list[bytes] = []  # digests of the keys an old agent is found by, ``strong_keys`` (index)
    pairing: list[str] = []  # the keys a new agent is looked up by when its id finds none, ``pairing_keys`` (pair)


def _seen(agent: Any, read: str) -> tuple[Any, ...]:
    """The :class:`Seen` of an agent (a model object or a checked struct: same field names) for
    ``read``, as the plain tuple :func:`pack` writes (a named tuple costs more to build)."""
    fields = compared_fields(agent)
    try:
        text = msgspec.json.encode(fields)
    except UnicodeEncodeError:  # a lone surrogate (a name that was not UTF-8): the same fields always land here
        text = json.dumps(fields).encode()
    signature = hashlib.blake2b(text, digest_size=16).digest()
    if read == "index":
        return agent.id, agent.name, fields["status"], text, signature, [_digest(k) for k in strong_keys(agent)], []
    return agent.id, agent.name, fields["status"], text, signature, [], pairing_keys(agent)


def _fields(seen: Seen) -> dict[str, Any]:
    return json.loads(seen.fields)  # type: ignore[no-any-return]


def _agents(path: str | Path, use: Any, read: str) -> None:
    """Hand every agent of ``path`` that is not gone, scrubbed, to ``use`` in batches as :class:`Seen`
    for ``read`` (findings checked)."""
    batch: list[Agent] = []
    done: list[str] = []

    def flush() -> None:
        if batch:
            redact.scrub_agents(batch)
            use(pack([_seen(a, read) for a in batch]))
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
        done.append(name)

    top = read_inventory(path, {"agents": add, "findings": None}, begin)
    flush()
    inventory_from_parts(path, top)


def chunk_work(read: str, name: str, raw: bytes, _offset: int) -> tuple[int, bytes] | None:
    """A chunk of ``agents`` or ``findings``: how many elements it holds, and the :class:`Seen` of its
    agents that are not gone, for ``read``, :func:`pack`-ed (findings are only checked); None when the
    structs refuse it or the key gate finds anything in its agents (it is then read element by element)."""
    records = inventory_chunks.decode(name if name == "agents" else "findings-checked", raw)
    if records is None or (name == "agents" and not inventory_chunks.clean(raw, records)):
        return None
    if name != "agents":
        return len(records), b""
    return len(records), pack([_seen(a, read) for a in records if a.change != Change.GONE])


_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder(list[Seen])


def pack(agents: list[tuple[Any, ...]]) -> bytes:
    """:class:`Seen` records (or their fields as plain tuples) as one byte string: what a worker
    sends (a named tuple is costly to pickle and to build again, some 2 µs each) and what the spool
    of old agents keeps; :func:`unpack` gives them back as :class:`Seen`."""
    try:
        return b"m" + _PACK.encode(agents)
    except UnicodeEncodeError:  # a lone surrogate (a name that was not UTF-8)
        return b"p" + pickle.dumps([Seen(*a) for a in agents], pickle.HIGHEST_PROTOCOL)


def unpack(data: bytes) -> list[Seen]:
    if not data:
        return []
    return _UNPACK.decode(data[1:]) if data[:1] == b"m" else pickle.loads(data[1:])  # type: ignore[no-any-return]


def _agents_in_chunks(path: str | Path, use: Any, read: str) -> None:
    """:func:`_agents` of an inventory in this tool's own layout, a chunk of elements at a time
    (:mod:`scanner.inventory_chunks`); its findings are checked by decoding them into structs."""
    counted = {"agents": 0, "findings": 0}

    def chunk(name: str, raw: bytes, worked: tuple[int, bytes] | None) -> None:
        if worked is not None:
            counted[name] += worked[0]
            if worked[1]:
                use(worked[1])
            return
        elements = plain_elements(name, raw, counted[name], str(path), build=name == "agents")
        counted[name] += len(elements)
        agents = [a for a in elements if name == "agents" and a.change != Change.GONE]
        if agents:
            redact.scrub_agents(agents)
            use(pack([_seen(a, read) for a in agents]))

    top = read_in_chunks(path, chunk, _no_check, functools.partial(chunk_work, read))
    inventory_from_parts(path, top)


def _no_check(_name: str, _top: dict[str, Any]) -> None:
    """Arrays in any order and repeated arrays are the chunked read's to refuse (``NotThisLayout``)."""


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


class _Kept:
    """The old agents as the diff first saw them (:func:`pack`-ed), in a private spool, read back once
    for the names of the gone ones and the fields of the changed ones (not read from the inventory
    a second time)."""

    def __init__(self) -> None:
        self.spool = Spool()
        self.ends = [0]

    def put(self, packed: bytes) -> None:
        self.ends.append(self.ends[-1] + self.spool.put(packed))

    def agents(self) -> Iterator[Seen]:
        fd = self.spool.reading()
        for start, end in zip(self.ends, self.ends[1:]):
            yield from unpack(os.pread(fd, end - start, start))

    def close(self) -> None:
        self.spool.close()


def _diff(old: str | Path, new: str | Path, keep_unchanged: bool, agents_of: Any) -> SavedDiff:
    slots: dict[int, int] = {}  # old agent id (as a number) → its place among the old agents
    signatures: list[bytes] = []
    by_key: dict[bytes, int] = {}  # digest of a strong key → the first old agent holding it

    kept = _Kept()

    def index(packed: bytes) -> None:
        kept.put(packed)
        for a in unpack(packed):
            slot = len(signatures)
            if slots.setdefault(int(a.id, 16), slot) != slot:
                raise _RepeatedId(a.id)
            signatures.append(a.signature)
            for k in a.strong:
                by_key.setdefault(k, slot)

    agents_of(old, index, "index")
    paired = bytearray(len(signatures))
    result = SavedDiff()
    changed: list[tuple[int, Seen]] = []  # (old place, new agent): the changes are said once the old is read back

    def pair(packed: bytes) -> None:
        for a in unpack(packed):
            slot = slots.get(int(a.id, 16))
            if slot is None or paired[slot]:
                slot = next((s for k in a.pairing if (s := by_key.get(_digest(k))) is not None and not paired[s]), None)
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

    agents_of(new, pair, "pair")
    del by_key, signatures
    wanted = {slot: a for slot, a in changed}
    before: dict[int, Seen] = {}
    for slot, a in enumerate(kept.agents()):
        if not paired[slot]:
            result.gone.append((a.id, a.name, a.status))
        elif slot in wanted:
            before[slot] = a
    kept.close()
    result.changed = [(a.id, before[slot].id, a.name, a.status, field_changes(_fields(before[slot]), _fields(a)))
                      for slot, a in changed]
    return result

