"""``report`` of a saved inventory in a format written an agent at a time (every format but json:
each an :class:`~scanner.format.AgentFormat`), holding neither its agents nor its findings.

The inventory is read once, as :func:`scanner.inventory_file.load_inventory` reads it (checked
against the schema, and scrubbed as :func:`scanner.redact.scrub_inventory` scrubs): each agent is
kept in a private spool file, with the places of the findings it lists; each finding an agent
lists is kept in a second spool when it comes (findings follow agents in a saved inventory) and
its places pointed at it. A chunk of elements in this tool's own form that the scrubber would
not change is kept as it was decoded, without building its objects (a large input's chunks are
worked on by every core, :mod:`scanner.chunk_pool`). Only then are the agents built, one at a
time with their findings, and given to the format's writer (a writer whose pieces depend on
nothing but their agent: on every core, each worker with a copy of it), whose piece goes to a
third spool with the agent's sort key; when the whole input was read and checked, the writer's
head, the pieces in the format's order and its tail go to the output through the guarded stream
like every report, so a bad input writes nothing.

Memory is one chunk of elements, the agents' sort keys, about 30 bytes per finding an agent
lists, and what the writer keeps (counts, the first rows it shows). An input this does not
write — findings before agents, an array repeated, a schema 1.0 inventory (whose findings are
changed by its ``schema_version``, read after them), a finding id not in this tool's form, a
table for a terminal — returns False having written nothing: the caller then reads the
inventory whole, which writes the same text or gives the message it always gave.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import os
import pickle
from array import array
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from scanner import inventory_chunks, redact
from scanner.chunk_pool import OrderedTasks, forked_pool
from scanner.format import KEY_FINDINGS, NO_FINDINGS, AgentFormat, AgentWriter
from scanner.inventory_file import collector_paused, inventory_from_parts, plain_elements, read_in_chunks, read_inventory
from scanner.model import Agent, Finding
from scanner.output import copy_spool, format_kind, is_terminal, open_output
from scanner.spool import (JSON, NotStreamable, PlacedSpool, Spool, finding_number, packed, read_each, sortable,
                           starts, unpacked)

BATCH = redact.SCRUB_BATCH
_COLLECT_EVERY = 1024  # agents
_SLOT_BITS = 40  # a finding's place among all the places agents list: up to 2**40
PARALLEL_AGENTS = 20_000  # from this many agents, a writer that allows it is given them on every core
_RENDER_BATCH = 2_000  # agents rendered by one task



class _Reader:
    """What one read of the inventory keeps: the spools, and where each agent's findings are."""

    def __init__(self, fmt: AgentFormat, source: str) -> None:
        self.fmt = fmt
        self.source = source
        self.only_checked = {"findings"} if fmt.uses_findings == NO_FINDINGS else set()  # read only to check them
        self.keys_only = fmt.uses_findings == KEY_FINDINGS  # of the findings, only those holding a key are kept
        size = os.stat(source).st_size
        self.spools = {"agents": PlacedSpool(size), "findings": PlacedSpool(size)}
        self.agents, self.findings = self.spools["agents"], self.spools["findings"]
        self.restart()

    def restart(self) -> None:
        """Forget everything read (the chunked read gave way to the general one)."""
        self.agents.clear()
        self.findings.clear()
        self.batch: list[Any] = []
        self.section: str | None = None
        self.done: set[str] = set()
        self.read = 0
        self.agent_at = array("Q")  # agent k is agents[agent_at[k]:agent_at[k] + agent_size[k]]
        self.agent_size = array("Q")
        self.places = array("Q", [0])  # its findings' places are places[k]:places[k + 1]
        self.wanted: list[int] = []  # while agents are read: finding number << _SLOT_BITS | place
        self.wanted_ids = array("Q")  # then, sorted: the finding numbers ...
        self.wanted_places = array("Q")  # ... and the place each fills
        self.finding_at = array("q")  # per place: the offset of its finding in the spool, or -1
        self.finding_size = array("I")
        self.findings_read = self.unattached = 0

    def begin(self, name: str, _top: dict[str, Any]) -> None:
        self._flush()
        if name in self.done or (name == "agents" and "findings" in self.done):
            raise NotStreamable(f"{name} repeated or after findings")
        if name == "findings":
            if "agents" not in self.done:
                raise NotStreamable("findings before agents")
            self._places_known()
        self.section = name
        self.done.add(name)
        self.read = 0

    def chunk(self, name: str, raw: bytes, kept: _Kept | int | None) -> None:
        """A chunk of whole elements (:func:`scanner.inventory_chunks.read_chunks`) and its
        :func:`chunk_texts` (worked out by the chunk workers for a large input): kept as decoded
        where the structs take it and nothing in it needs scrubbing, else built and scrubbed; in a
        section only checked, counted."""
        if name in self.only_checked:
            count = kept if isinstance(kept, int) else len(plain_elements(name, raw, self.read, self.source, False))
            self.read += count
            self.findings_read += count
            return
        if isinstance(kept, _Kept):
            self.read += len(kept.sizes)
            at = kept.at if kept.texts is None else self.spools[name].put(b"".join(kept.texts))
            self._keep(kept.counts, kept.numbers, kept.sizes, at)
            return
        objects = plain_elements(name, raw, self.read, self.source)
        self.read += len(objects)
        for obj in objects:
            self.add(obj)
        self._flush()

    def add(self, obj: Agent | Finding) -> None:
        self.batch.append(obj)
        if len(self.batch) >= BATCH:
            self._flush()

    def finish(self) -> None:
        self._flush()
        if "agents" not in self.done:
            raise NotStreamable("no agents array read")
        if "findings" not in self.done:
            self._places_known()

    def _flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        if self.section == "agents":
            redact.scrub_agents(batch)
            counts = array("Q", (len(agent.findings) for agent in batch))
            numbers = array("Q", (finding_number(i) for agent in batch for i in agent.findings))
        else:
            redact.scrub_findings(batch)
            counts, numbers = None, array("Q", (finding_number(finding.id) for finding in batch))
        texts = [packed(obj) for obj in batch]
        sizes = array("Q", map(len, texts))
        self._keep(counts, numbers, sizes, self.spools[self.section or "agents"].put(b"".join(texts)))

    def _keep(self, counts: array[int] | None, numbers: array[int], sizes: array[int], at: int) -> None:
        """Elements kept one after the other from ``at`` of their spool, of ``sizes``; ``numbers``:
        each finding's number, or the numbers of the findings the agents list (``counts`` of each)."""
        if self.section == "agents":
            assert counts is not None
            self._keep_agents(counts, numbers, sizes, at)
        else:
            self._keep_findings(numbers, sizes, at)

    def _keep_agents(self, counts: array[int], numbers: array[int], sizes: array[int], at: int) -> None:
        self.agent_at.extend(starts(at, sizes))
        self.agent_size.extend(sizes)
        place = self.places[-1]
        if "findings" in self.only_checked:  # none is kept: each agent has no place for one
            self.places.extend(itertools.repeat(place, len(sizes)))
            return
        self.wanted.extend(number << _SLOT_BITS | p for p, number in enumerate(numbers, place))
        ends = itertools.accumulate(counts, initial=place)
        next(ends)  # the place the first starts at: the last one held
        self.places.extend(ends)

    def _places_known(self) -> None:
        """All agents read: the places each listed finding fills, by finding number."""
        self.wanted.sort()
        mask = (1 << _SLOT_BITS) - 1
        self.wanted_ids = array("Q", (w >> _SLOT_BITS for w in self.wanted))  # no list of them on the way
        self.wanted_places = array("Q", (w & mask for w in self.wanted))
        self.wanted = []
        self.finding_at = array("q", [-1]) * self.places[-1]
        self.finding_size = array("I", [0]) * self.places[-1]

    def _keep_findings(self, numbers: array[int], sizes: array[int], at: int) -> None:
        """Findings kept one after the other from ``at``; one of size 0 was not kept (it holds no
        key, and the format shows only those): counted all the same."""
        ids, places, finding_at, finding_size = self.wanted_ids, self.wanted_places, self.finding_at, self.finding_size
        self.findings_read += len(numbers)
        count = len(ids)
        for number, size in zip(numbers, sizes):
            k = bisect.bisect_left(ids, number)
            if k == count or ids[k] != number:
                self.unattached += 1  # no agent lists it: counted, never shown
            while size and k < count and ids[k] == number:  # a repeated finding: the last one counts
                finding_at[places[k]] = at
                finding_size[places[k]] = size
                k += 1
            at += size

    def render(self, writer: AgentWriter, out: Spool) -> tuple[list[bytes], array[int], bool]:
        """Each agent built with its findings and given to ``writer``, its piece put in ``out``: each
        agent's sort key, where each section of its piece ends (agent k's section s ends at
        ``ends[k * sections + s + 1]``), and whether every piece was scrubbed as the guard would
        (:func:`_gated`). A writer whose pieces depend on nothing but their agent (``waits``
        False) is given them on every core from :data:`PARALLEL_AGENTS`, by workers forked from
        here with a copy of it, and the pieces are taken in order; so is one that waits but can
        add up copies of itself (:meth:`~scanner.format.AgentWriter.add`: each batch is given to a
        fresh copy, which comes back to be added to it in order)."""
        count = len(self.agent_at)
        keys: list[bytes] = []
        ends = array("Q", [0])
        self.gating = writer.sections == 1 and not writer.finishes_pieces  # a piece written as it was made
        gated = [self.gating]
        pristine = _pickled(writer) if writer.waits and writer.adds else None  # each batch to a copy, added in order
        pool = forked_pool((not writer.waits or pristine is not None) and count >= PARALLEL_AGENTS)
        if pool is None:
            pristine = None

        def take(_context: None, done: tuple[list[bytes], array[int], bytes, bool, AgentWriter | None]) -> None:
            keys.extend(done[0])
            out.put(done[2])
            sizes = itertools.accumulate(done[1], initial=ends[-1])
            next(sizes)
            ends.extend(sizes)
            gated[0] = gated[0] and done[3]
            if done[4] is not None:
                writer.add(done[4])

        global _RENDERING
        _RENDERING = (self, writer, pristine)
        tasks = OrderedTasks(_render_agents, take, pool)
        try:
            for start in range(0, count, _RENDER_BATCH):
                tasks.submit(None, start, min(start + _RENDER_BATCH, count))
            tasks.drain()
        finally:
            tasks.close()
            _RENDERING = None
        return keys, ends, gated[0]

    def rendered(self, writer: AgentWriter, start: int, end: int) -> tuple[list[bytes], array[int], bytes, bool]:
        """Agents ``start`` to ``end`` given to ``writer``: their sort keys, the size of each of
        their pieces' sections, those in UTF-8 (the guard escapes lone surrogates) one after the
        other, and whether they were scrubbed here (:func:`_gated`). What follows each other in a
        spool is read at once."""
        places, finding_at = self.places, self.finding_at
        agents = read_each(self.agents.fd, self.agent_at[start:end], self.agent_size[start:end])
        held = [p for p in range(places[start], places[end]) if finding_at[p] >= 0]
        found = dict(zip(held, read_each(self.findings.fd, [finding_at[p] for p in held],
                                         [self.finding_size[p] for p in held])))
        key = self.fmt.agent_key
        keys: list[bytes] = []
        pieces: list[str] = []
        for k, data in enumerate(agents, start):
            agent = unpacked("agents", data)
            findings: dict[str, Finding] = {}
            for place in range(places[k], places[k + 1]):
                if place in found:
                    finding = unpacked("findings", found[place])
                    findings[finding.id] = finding  # type: ignore[union-attr]
            piece = writer.agent(agent, findings)  # type: ignore[arg-type]
            if not k % _COLLECT_EVERY:
                gc.collect(0)  # the collector is paused; what a format left in cycles is freed (json's indent)
            keys.append(sortable(key(agent)))  # type: ignore[arg-type]
            if writer.sections == 1:
                pieces.append(piece)  # type: ignore[arg-type]
            else:
                pieces.extend(piece)
        gated = self.gating and _gated(pieces)
        texts = [text.encode("utf-8", "surrogatepass") for text in pieces]
        return keys, array("Q", map(len, texts)), b"".join(texts), gated

    def close(self) -> None:
        self.agents.close()
        self.findings.close()


_RENDERING: tuple[_Reader, AgentWriter, bytes | None] | None = None  # what a forked worker renders from (and
# the writer as it was made, pickled, when each batch goes to a fresh copy of it)


def _gated(pieces: list[str]) -> bool:
    """Scrub ``pieces`` here, as the guarded stream would scrub them, when each is whole lines (a
    key or a URL's password never spans a line break, so the pieces scrubbed one by one are the
    output scrubbed whole): the work of the guard's last look is then done on every core, and the
    guard only neutralises (:meth:`scanner.output.GuardedStream.write_scrubbed`). False: not
    whole lines, the guard scrubs them."""
    if not all(piece.endswith("\n") for piece in pieces):
        return False
    if redact.would_change("".join(pieces)):  # one look at the batch: its pieces one by one only where it needs them
        pieces[:] = [redact.scrub(piece) for piece in pieces]
    return True


def _render_agents(start: int, end: int) -> tuple[list[bytes], array[int], bytes, bool, AgentWriter | None]:
    """A worker's task (or the reader's own, in-process): :meth:`_Reader.rendered` of the reader and
    writer it was forked with, or of a fresh copy of that writer, sent back with the rest."""
    assert _RENDERING is not None
    reader, writer, pristine = _RENDERING
    if pristine is None:
        return (*reader.rendered(writer, start, end), None)
    fresh = pickle.loads(pristine)  # our own writer, pickled in this process
    return (*reader.rendered(fresh, start, end), fresh)


def _pickled(writer: AgentWriter) -> bytes | None:
    """The writer as it was made, for its copies; None when it cannot be copied so (a plugin's)."""
    try:
        return pickle.dumps(writer)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None


class _Kept(NamedTuple):
    """A chunk's elements as the reader keeps them (:func:`chunk_texts`)."""

    counts: array[int] | None  # agents: how many findings each lists
    numbers: array[int]  # the numbers of those findings, one agent's after the other's; or each finding's
    sizes: array[int]  # each element's packed text's (0: a finding not kept, :data:`_KEYS_ONLY`)
    at: int  # where the first starts in its spool, the others after it ...
    texts: list[bytes] | None  # ... or, not placed there, the texts (the reader puts them)


_PLACING: dict[str, PlacedSpool] = {}  # the reader's spools, by section: where a chunk's texts are placed
_KEYS_ONLY = False  # of the findings, only those holding a key are kept (the format shows no other)


def chunk_texts(name: str, raw: bytes, offset: int) -> _Kept | int | None:
    """A chunk's elements as the reader keeps them, when the structs take it and the key gate finds
    nothing in it (else None: it is read element by element, built and scrubbed); their texts
    placed in the room of the chunk at ``offset`` of the input, in the reader's spool. Of a section
    only checked (no spool for it), how many elements the schema's structs take."""
    if name not in _PLACING:
        checked = inventory_chunks.decode(name + "-checked", raw)
        return None if checked is None else len(checked)
    records = inventory_chunks.decode(name, raw)
    if records is None:
        return None
    shown = records
    if name == "findings" and _KEYS_ONLY:
        shown = [r for r in records if r.credential is not inventory_chunks.UNSET]
    encoded = [msgspec.json.encode(r) for r in shown]  # absent fields absent, as the structs omit them
    if not inventory_chunks.clean(b",".join(encoded), shown):
        return None
    texts = [JSON + e for e in encoded]
    if name == "agents":
        counts = array("Q", (len(r.findings) for r in records))
        numbers = array("Q", (int(i, 16) for r in records for i in r.findings))  # the structs checked them
        sizes = array("Q", map(len, texts))
    else:
        counts, numbers = None, array("Q", (int(r.id, 16) for r in records))
        sizes = array("Q", map(len, texts))
        if shown is not records:  # each finding's size in its place among all, 0 for one not kept
            size_of = {id(r): size for r, size in zip(shown, sizes)}
            sizes = array("Q", (size_of.get(id(r), 0) for r in records))
    at = _PLACING[name].place(texts, offset, len(raw))
    return _Kept(counts, numbers, sizes, -1 if at is None else at, texts if at is None else None)



def _in_order(keys: list[bytes]) -> range | list[int]:
    """The agents' indices in the format's order (a stable sort: ties keep the file's order)."""
    if all(keys[i] <= keys[i + 1] for i in range(len(keys) - 1)):
        return range(len(keys))
    return sorted(range(len(keys)), key=keys.__getitem__)


def _read(path: str | Path, reader: _Reader) -> dict[str, Any]:
    global _KEYS_ONLY
    _PLACING.update((name, spool) for name, spool in reader.spools.items() if name not in reader.only_checked)
    _KEYS_ONLY = reader.keys_only
    try:  # (set before the chunk workers fork: they write there)
        top = read_in_chunks(path, reader.chunk, reader.begin, chunk_texts)
    except (inventory_chunks.NotThisLayout, OSError):  # laid out otherwise: the general read (its messages)
        reader.restart()
        top = read_inventory(path, {name: None if name in reader.only_checked else reader.add
                                    for name in ("agents", "findings")}, reader.begin)
    finally:
        _PLACING.clear()
        _KEYS_ONLY = False
    reader.finish()
    return top


def write_agent_report(path: str | Path, fmt: AgentFormat, output: str | None) -> bool:
    """Write the report of the saved inventory ``path`` in ``fmt`` to ``output`` (None: stdout),
    an agent at a time; False, having written nothing, when the input is not one this writes."""
    if fmt.output_kind == "terminal" and is_terminal(output):
        return False  # a terminal's layout is the console's, given the terminal: the whole read writes it
    redact.load_key_formats()
    reader = _Reader(fmt, str(path))
    out = Spool()
    try:
        try:
            top = _read(path, reader)
        except NotStreamable:
            return False
        if top.get("schema_version") == "1.0":
            return False
        frame = inventory_from_parts(path, top)  # its coverage and metadata built, as the whole read builds them
        with collector_paused():
            writer = fmt.writer(frame)
            try:
                keys, ends, gated = reader.render(writer, out)
            except NotStreamable:  # a format's own sort key this cannot hold compactly
                return False
            writer.count_findings(reader.findings_read, reader.unattached)
        reader.close()  # its spools are done with: their room is given back before the output is written
        _write(output, format_kind(fmt), writer, _in_order(keys), ends, out, gated)
    finally:
        reader.close()
        out.close()
    return True


def _write(output: str | None, kind: str, writer: AgentWriter, order: range | list[int], ends: array[int],
           out: Spool, gated: bool) -> None:
    """The head, each agent's piece in ``order`` as the writer finishes it, then the tail, through the
    guarded output stream (``gated``: the pieces were scrubbed as they were made, :func:`_gated`)."""
    fd = out.reading()
    head = writer.head()
    sections = writer.sections
    finish = writer.piece if writer.finishes_pieces else None
    with open_output(output, kind) as stream:
        stream.write(head)
        if isinstance(order, range) and finish is None and sections == 1:  # the spool as it is
            copy_spool(out.file, stream, scrubbed=gated)
        elif gated:
            batch_bytes: list[bytes] = []
            for k in order:
                batch_bytes.append(os.pread(fd, ends[k + 1] - ends[k], ends[k]))
                if len(batch_bytes) >= BATCH:
                    stream.write_scrubbed(b"".join(batch_bytes))
                    batch_bytes = []
            stream.write_scrubbed(b"".join(batch_bytes))
        else:
            for section in range(sections):
                if section:
                    stream.write(writer.between(section - 1))
                batch: list[str] = []
                for k in order:
                    at = k * sections + section
                    piece = os.pread(fd, ends[at + 1] - ends[at], ends[at]).decode("utf-8", "surrogatepass")
                    batch.append(finish(piece, section) if finish else piece)
                    if len(batch) >= BATCH:
                        stream.write("".join(batch))
                        batch = []
                stream.write("".join(batch))
        for text in writer.tail():
            stream.write(text)
