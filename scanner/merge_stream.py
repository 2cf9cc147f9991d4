"""``merge`` of saved inventories holding none of them whole: what :func:`scanner.merge.merge_saved`
builds, with its findings and the agents built from them kept in private working files (spools
and an SQLite table in a temporary directory of its own), and what joins them in compact arrays.

1. **Read.** Each input is read as ``report`` reads it (a chunk its structs take and in which the
   key gate finds nothing kept as decoded, others built and scrubbed a batch at a time). A finding
   whose id was read before is let go (the union keeps the first; :class:`~scanner.merge_places.FirstOfIds`,
   in the chunk workers already for the ids of the inputs before); each other one goes to the
   spool at its place (its number in reading order), each of its strong identity keys is paired
   with the first place that holds it (:class:`~scanner.merge_places.SharedKeys`), and the places
   of keys found, by provider, and of keys a provider lists are noted. Agents of the inputs are
   only checked: the merge builds its own.
2. **Join.** The pairs join their places (a union-find over an array); each found key joined to
   the listed key it fits (:func:`scanner.keyhints.link` of the listed keys and a batch of found ones).
3. **Build.** Each group, read back from the spool, is built, compared and assessed as
   :func:`scanner.pipeline.build_inventory` does it, a batch of groups at a time; each agent's text
   goes to a second spool, its sort key (the canonical order, then the group's first finding id) to
   table ``agents``; each finding's text to a third spool at its place.
4. **Write.** Agents in order, coverage, findings by id, then metadata and the summary counted on
   the way: byte for byte the text of the whole merge.

Memory is arrays of about 45 bytes per finding kept (its place's offsets, number and group, the
pairs of its keys; 8 more for each finding of the inputs before, while reading), about 150 bytes
per distinct strong key while reading, SQLite's cache (64 MiB), the keys listed by providers' admin APIs and one batch
of groups; disk about three times the inputs. An input this does not merge — a repeated array, a
schema 1.0 inventory (its findings depend on its ``schema_version``, read after them), a finding id
not in this tool's form — gives None, having written nothing: the caller merges whole, which gives
the same text or the message it always gave.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import os
import sqlite3
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from scanner import identity, inventory_chunks, jsontext, keyhints, redact
from scanner.catalog import Catalog
from scanner.chunk_pool import OrderedTasks, forked_pool
from scanner.compare import compare_agent, detectors_run, dormant_agents
from scanner.correlate import UnionFind, build_agent, item_kind
from scanner.inventory_file import (collector_paused, inventory_from_parts, plain_elements, read_in_chunks,
                                    read_inventory)
from scanner.merge import merged_frame
from scanner.merge_places import FirstOfIds, SharedKeys
from scanner.model import (SCHEMA_VERSION, Agent, Coverage, Finding, Inventory, JsonText, Status,
                           Tally, agent_order)
from scanner.risk import assess
from scanner.spool import (JSON, NotStreamable, PlacedSpool, Spool, finding_number, no_room, packed, read_each,
                           sortable, starts, unpacked)
from scanner.stopping import scratch_directory

if TYPE_CHECKING:
    from scanner.registry import Registry

BATCH = redact.SCRUB_BATCH
_SIGN = 1 << 63  # finding numbers as signed 64-bit integers (what sortable takes), their order kept
_ROWS = 65_536  # rows handed to SQLite at a time
_LISTED = keyhints.LISTED_KIND
_NEXT = b",\n    {"  # between two elements of an array in the inventory's text
_OPEN = JSON + b"{"
_AGENT_ROW = "INSERT INTO agents VALUES (?, ?, ?, ?, ?)"
PARALLEL_FINDINGS = 50_000  # from this many findings read, groups are built on every core
_AGENT_ROOM = 1024  # bytes of agents_out for each group beyond its findings' texts (its reasons, remediation)
_TABLES = """
CREATE TABLE agents (key BLOB NOT NULL, at INTEGER NOT NULL, size INTEGER NOT NULL, spend BLOB, approved INTEGER);
"""


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # paths that were not UTF-8 are carried escaped


class _Database:
    """SQLite in a private directory, tuned for one writer that can lose everything on a crash."""

    def __init__(self, directory: str) -> None:
        try:
            self.db = sqlite3.connect(os.path.join(directory, "merge.db"), isolation_level=None)
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "temp_store = FILE", "cache_size = -65536"):
                self.db.execute("PRAGMA " + pragma)
            self.db.executescript(_TABLES)
            self.db.execute("BEGIN")
        except sqlite3.Error as exc:
            raise no_room(OSError(str(exc))) from None

    def rows(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.run(self.db.executemany, sql, rows)
            rows.clear()

    def query(self, sql: str, *args: Any) -> sqlite3.Cursor:
        return self.run(self.db.execute, sql, args)

    @staticmethod
    def run(how: Callable[..., sqlite3.Cursor], sql: str, args: Any) -> sqlite3.Cursor:
        try:
            return how(sql, args)
        except sqlite3.Error as exc:  # "database or disk is full", most likely
            raise no_room(OSError(str(exc))) from None

    def close(self) -> None:
        self.db.close()


class StreamedMerge:
    """The merge of saved inventories, built on disk (see the module's docstring); ``write`` it, or
    ``save`` it to a file for another format, then ``close``."""

    def __init__(self, registry: Registry | None, catalog: Catalog, today: dt.date) -> None:
        self.registry, self.catalog, self.today = registry, catalog, today
        self.scratch = contextlib.ExitStack()  # removed however the command leaves (scanner.stopping)
        try:
            self.dir = self.scratch.enter_context(scratch_directory("shadow-agents-merge-"))
        except OSError as exc:
            raise no_room(exc) from None
        self.db = _Database(str(self.dir))
        self.spool, self.agents_out, self.findings_out = PlacedSpool(0), PlacedSpool(0), Spool()
        self.at, self.sizes = array("Q"), array("I")  # finding place k is spool[at[k]:at[k] + sizes[k]]
        self.as_text = bytearray()  # 1: kept as its text in the merged inventory (JSON + the text)
        self.ids, self.shared = FirstOfIds(), SharedKeys()
        self.found: dict[bytes, array[int]] = {}  # the places of found keys, by provider
        self.listed_places: list[int] = []
        self.inventories: list[Inventory] = []
        self.sources: list[str] = []
        self.agent_rows: list[tuple[Any, ...]] = []
        self.tally = Tally()
        self.unattached = 0
        self.coverage: list[Coverage] = []
        self.metadata: dict[str, Any] = {}

    # ---- 1. read ---------------------------------------------------------------------------

    def read(self, path: str | Path) -> None:
        self.source, self.start = str(path), len(self.at)
        self.ids.start()
        self._restart()
        self.spool.rooms_for(os.stat(path).st_size)
        global _HELD, _PLACING
        _HELD = self.ids.before  # what the chunk workers forked for this input let go at once
        _PLACING = self.spool  # where they write the texts they keep
        try:
            top = read_in_chunks(path, self._chunk, self._begin, chunk_work)
        except (inventory_chunks.NotThisLayout, OSError):  # laid out otherwise: the general read (its messages)
            self._forget()
            top = read_inventory(path, {"agents": None, "findings": self._add}, self._begin)
        finally:
            _HELD, _PLACING = _NONE_HELD, None
        self._flush()
        if top.get("schema_version") == "1.0":
            raise NotStreamable("a 1.0 inventory")
        inventory = inventory_from_parts(path, top)  # its coverage and metadata built and so checked
        self.inventories.append(inventory)
        self.sources.append(str(path))

    def _restart(self) -> None:
        self.batch: list[Finding] = []
        self.done: set[str] = set()
        self.read_count = {"agents": 0, "findings": 0}

    def _forget(self) -> None:
        """Forget what this input gave (the chunked read gave way to the general one)."""
        self.ids.forget()
        self.shared.forget(self.start)
        self.found = {provider: array("i", (p for p in places if p < self.start))
                      for provider, places in self.found.items()}
        self.spool.clear()
        del self.at[self.start:]
        del self.sizes[self.start:]
        del self.as_text[self.start:]
        self.listed_places = [p for p in self.listed_places if p < self.start]
        self._restart()

    def _begin(self, name: str, _top: dict[str, Any]) -> None:
        self._flush()
        if name in self.done:
            raise NotStreamable(f"{name} repeated")  # the last array counts: the whole merge reads it so
        self.done.add(name)

    def _chunk(self, name: str, raw: bytes, worked: int | _ReadChunk | None) -> None:
        """A chunk and its :func:`chunk_work` (worked out by the chunk workers for a large input)."""
        first = self.read_count[name]
        if name != "findings":  # the inputs' agents are checked, never used: the merge builds its own
            if worked is None:
                worked = len(plain_elements(name, raw, first, self.source, build=False))
            self.read_count[name] += worked  # type: ignore[operator]
            return
        if isinstance(worked, _ReadChunk):
            self.read_count[name] += worked.count
            kept = self.ids.unheld(worked.numbers)
            at = worked.at if worked.pieces is None else self.spool.put(b"".join(worked.pieces))  # else placed
            ats, sizes, what = starts(at, worked.sizes), worked.sizes, worked.what
            if len(kept) < len(ats):  # those an earlier input holds are never pointed at
                ats, sizes, what = [ats[k] for k in kept], array("I", (sizes[k] for k in kept)), [what[k] for k in kept]
            self._keep_texts(ats, sizes, what)
            return
        objects = plain_elements(name, raw, first, self.source)
        self.read_count[name] += len(objects)
        for obj in objects:
            self._add(obj)
        self._flush()

    def _add(self, finding: Finding) -> None:
        self.batch.append(finding)
        if len(self.batch) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        # the findings no finding read before holds (the union keeps that one): the others are
        # let go before any work is done on them
        batch = [batch[k] for k in self.ids.unheld([finding_number(f.id) for f in batch])]
        redact.scrub_findings(batch)  # as build_inventory scrubs them before anything is derived
        texts = [packed(f) for f in batch]
        ats = starts(self.spool.put(b"".join(texts)), [len(text) for text in texts])  # one write for the batch
        for f, text, at in zip(batch, texts, ats):
            self._keep(_strong(f.identity), f.kind, f.provider, f.credential is not None, at, len(text))

    def _keep(self, strong: list[bytes], kind: str | None, provider: str | None, holds_key: bool,
              at: int, size: int) -> None:
        """A finding read, built and kept (given its place by ``ids.unheld``): its pickle in the
        spool at ``at``, of ``size``; ``strong``: its strong identity keys (:func:`_strong`)."""
        place = len(self.at)
        self.at.append(at)
        self.sizes.append(size)
        self.as_text.append(0)
        self._note(place, strong, kind, provider, holds_key)

    def _keep_texts(self, ats: list[int], sizes: array[int], what: list[tuple[Any, ...]]) -> None:
        """Findings read and kept as their texts (each tagged ``JSON``), in the spool at ``ats`` of
        ``sizes``, and what :meth:`_note` notes of each."""
        start = len(self.at)
        self.at.extend(ats)
        self.sizes.extend(sizes)
        self.as_text.extend(b"\x01" * len(ats))
        for place, noted in enumerate(what, start):
            self._note(place, *noted)

    def _note(self, place: int, strong: list[bytes], kind: str | None, provider: str | None, holds_key: bool) -> None:
        """What the join needs of the finding kept at ``place``: its strong keys, and where listed and found keys are."""
        self.shared.add(place, strong)
        if kind == _LISTED:
            if provider:
                self.listed_places.append(place)
        elif holds_key:
            self.found.setdefault(_utf8(provider or ""), array("i")).append(place)

    def _finding(self, fd: int, place: int) -> Finding:
        return unpacked("findings", os.pread(fd, self.sizes[place], self.at[place]))  # type: ignore[return-value]

    # ---- 2. join ---------------------------------------------------------------------------

    def join(self) -> None:
        self.ids.done()
        size = len(self.at)
        if size >= 1 << 31:
            raise NotStreamable("more findings than an array of 32-bit places holds")
        self.sets = sets = UnionFind(array("i", range(size)))
        for a, b in self.shared.joined():
            sets.union(a, b)
        fd = self.spool.fd
        listed = sorted(((self._finding(fd, p), p) for p in self.listed_places), key=lambda x: x[0].id)
        self.listed = [f for f, _ in listed]
        found, self.found = self.found, {}
        if not listed:
            return
        places = sorted(p for provider in {_utf8(f.provider or "") for f in self.listed}
                        for p in found.get(provider, ()))
        for start in range(0, len(places), BATCH):  # a found key joins the listed key it fits
            batch = places[start:start + BATCH]
            for i, j in keyhints.link(self.listed + [self._finding(fd, p) for p in batch]):
                sets.union(batch[i - len(listed)], listed[j][1])

    # ---- 3. build --------------------------------------------------------------------------

    def build(self, ran: set[str]) -> None:
        size = len(self.at)
        self.out_at, self.out_size = array("Q", [0]) * size, array("I", [0]) * size  # each finding's text
        head, following = array("i", [-1]) * size, array("i", [-1]) * size  # each group's places, a chain
        find = self.sets.find
        for place in range(size - 1, -1, -1):
            root = find(place)
            following[place] = head[root]
            head[root] = place
        del self.sets
        self.matched: set[str] = set()
        self.spool_fd = self.spool.fd
        sizes = self.sizes
        # each batch's agents get a room in agents_out, as big as its findings' texts and _AGENT_ROOM a group
        self.agents_out.rooms_for(sum(sizes) + _AGENT_ROOM * size)
        global _BUILDING
        _BUILDING = self  # what the workers forked from here build from
        tasks = OrderedTasks(_build_batch, self._take, forked_pool(size >= PARALLEL_FINDINGS))
        with collector_paused():  # what is built holds no cycles (the workers are forked paused too)
            try:
                groups: list[list[int]] = []
                count = room = at = 0
                for root in range(size):
                    place = head[root]
                    if place < 0:
                        continue
                    group = []
                    while place >= 0:
                        group.append(place)
                        room += sizes[place]
                        place = following[place]
                    groups.append(group)
                    count += len(group)
                    room += _AGENT_ROOM
                    if count >= BATCH:
                        tasks.submit(None, groups, at, room)
                        groups, count, at, room = [], 0, at + room, 0
                tasks.submit(None, groups, at, room)
                tasks.drain()
            finally:
                tasks.close()
                _BUILDING = None
        dormant = dormant_agents(self.registry, self.matched, self.today, ran)
        assess(dormant, {}, self.catalog)
        redact.scrub_agents(dormant)
        for index, agent in enumerate(dormant):
            self._put_agent(_agent_text(agent, (1, index), self.tally.count(agent)))
        self.db.rows(_AGENT_ROW, self.agent_rows)

    def built(self, groups: list[list[int]], at: int, room: int) -> _Built:
        """A batch of groups built, compared, assessed and scrubbed as ``build_inventory`` does it:
        their agents' texts, written into the batch's room of ``agents_out`` (at ``at``, of ``room``)
        where they fit, and the changed findings' texts (what a worker sends back; nothing else here
        changes)."""
        fd = self.spool_fd
        built = [[self._finding(fd, p) for p in group] for group in groups]
        found = [f for group in built for f in group if f.kind != _LISTED]
        said = [f.details.get("listed_key") for f in found]
        keyhints.link(self.listed + found)  # each found key told what the listing says of it
        told = [f for f, before in zip(found, said) if f.details.get("listed_key") != before]
        redact.scrub_findings(told)  # what the listing said, as the whole merge scrubs it after
        changed = {id(f) for f in told}
        out = _Built()
        agents: list[tuple[Agent, int]] = []
        for group in built:
            kind = item_kind(group)
            if kind is None:
                out.unattached += len(group)
                continue
            agent = build_agent(group, kind)
            own = {f.id: f for f in group}
            record_id = compare_agent(agent, own, self.registry, self.today)
            if record_id is not None:
                out.matched.append(record_id)
            assess([agent], own, self.catalog)
            agents.append((agent, min(finding_number(f.id) for f in group)))
        redact.scrub_agents([a for a, _ in agents])
        for agent, first_id in agents:  # ties keep the whole merge's order: its groups by id
            out.agents.append(_agent_text(agent, (0, first_id - _SIGN), out.tally.count(agent)))
        as_text = self.as_text
        for places, group in zip(groups, built):
            for place, f in zip(places, group):
                if not as_text[place] or id(f) in changed:  # else its text was kept as it will be written
                    out.findings.append((place, _utf8(jsontext.dumps(f.to_dict(), 2))))
        placed = self.agents_out.place([agent[0] for agent in out.agents], at, room)
        if placed is not None:  # the texts are in the spool: their sizes go back in their place
            out.agents_at = placed
            out.agents = [(len(text), key, spend, approved) for text, key, spend, approved in out.agents]  # type: ignore[misc]
        return out

    def _take(self, _context: None, built: _Built) -> None:
        self.unattached += built.unattached
        self.matched.update(built.matched)
        self.tally.add(built.tally)
        if built.agents_at is None:
            for agent in built.agents:
                self._put_agent(agent)
        else:
            for at, (size, key, spend, approved) in zip(starts(built.agents_at, [a[0] for a in built.agents]),
                                                       built.agents):
                self._agent_row((key, at, size, spend, approved))
        for place, text in built.findings:
            self.out_at[place] = self.findings_out.size
            self.out_size[place] = self.findings_out.put(text)

    def _put_agent(self, agent: tuple[bytes, bytes, bytes | None, bool]) -> None:
        text, key, spend, approved = agent
        self._agent_row((key, self.agents_out.put(text), len(text), spend, approved))

    def _agent_row(self, row: tuple[bytes, int, int, bytes | None, bool]) -> None:
        """An agent's sort key, where its text is in ``agents_out`` and of what size, its spend and
        whether it is approved, to the table ``agents``."""
        self.agent_rows.append(row)
        if len(self.agent_rows) >= _ROWS:
            self.db.rows(_AGENT_ROW, self.agent_rows)

    # ---- 4. write --------------------------------------------------------------------------

    def write(self, write: Callable[[bytes], Any]) -> None:
        """The merged inventory's JSON text in UTF-8 (lone surrogates as ``surrogatepass`` writes them),
        a batch of elements at a time, to ``write``. Every string in it was scrubbed, or passed the
        key gate, on the way in: a guarded stream's :meth:`~scanner.output.GuardedStream.write_scrubbed`
        takes it as it is."""
        text = JsonText()
        write(_utf8(text.open("agents")))
        self._items(write, text, self._agent_texts())
        write(_utf8(text.close() + text.open("coverage")))
        for c in sorted(self.coverage, key=lambda c: (c.detector, c.host or "")):
            write(_utf8(text.item(c.to_dict())))
        write(_utf8(text.close() + text.open("findings")))
        count = self._items(write, text, self._finding_texts())
        complete = all(c.complete for c in self.coverage)
        write(_utf8(text.close() + text.tail(self.metadata, SCHEMA_VERSION,
                                             self.tally.summary(count, self.unattached, complete)) + "\n"))

    @staticmethod
    def _items(write: Callable[[bytes], Any], text: JsonText, texts: Iterator[bytes]) -> int:
        """Elements already written as text, a batch at a time; how many there were."""
        count, batch = 0, []
        for item in texts:
            batch.append(item)
            if len(batch) >= BATCH:
                write(_utf8(text.items("", len(batch))) + b",\n    ".join(batch))
                count, batch = count + len(batch), []
        write(_utf8(text.items("", len(batch))) + b",\n    ".join(batch))
        return count + len(batch)

    def _agent_texts(self) -> Iterator[bytes]:
        """The agents in order; their spend added to the summary in that order, as the whole merge adds it."""
        fd = self.agents_out.fd
        for at, size, spend, approved in self.db.query("SELECT at, size, spend, approved FROM agents ORDER BY key"):
            if spend is not None:
                self.tally.add_amounts(msgspec.json.decode(spend), bool(approved))
            yield os.pread(fd, size, at)

    def _finding_texts(self) -> Iterator[bytes]:
        """The findings by id: the text written anew, else the text each was read as (after its tag),
        a stretch of the spool read at once where places follow each other."""
        fd, kept = self.findings_out.reading(), self.spool.fd
        at, sizes, out_at, out_size = self.at, self.sizes, self.out_at, self.out_size
        for start, end in self.ids.in_order():
            place = start
            while place < end:
                if out_size[place]:
                    yield os.pread(fd, out_size[place], out_at[place])
                    place += 1
                    continue
                stop = place + 1
                while stop < end and not out_size[stop] and stop - place < BATCH:
                    stop += 1
                yield from read_each(kept, at[place:stop], sizes[place:stop], skip=len(JSON))  # after the tag
                place = stop

    def save(self) -> Path:
        """The merged inventory in a file of the working directory (gone on ``close``)."""
        path = self.dir / "merged.json"
        with open(path, "wb") as fh:
            try:
                self.write(fh.write)
            except OSError as exc:
                raise no_room(exc) from None
        return path

    def close(self) -> None:
        for spool in (self.spool, self.agents_out, self.findings_out):
            spool.close()
        self.db.close()
        self.scratch.close()

    def __enter__(self) -> StreamedMerge:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _strong(keys: list[str]) -> list[bytes]:
    """A finding's strong identity keys, as the table ``keys`` holds them."""
    return [_utf8(k) for k in keys if not identity.is_weak(k)]


class _ReadChunk:
    """A chunk of ``count`` findings in the model's own form: of each an earlier input does not
    hold, in which the key gate found nothing, its number, its text in the merged inventory (tagged
    ``JSON``, as the spool keeps it) and what :meth:`StreamedMerge._note` notes of it (worked out by
    the chunk workers for a large input)."""

    def __init__(self, count: int, numbers: list[int], sizes: array[int], at: int, pieces: list[bytes] | None,
                 what: list[tuple[Any, ...]]) -> None:
        self.count = count
        self.numbers = numbers
        self.sizes = sizes  # each text's
        self.at = at  # where the first starts in the spool, the others after it (placed by the worker) ...
        self.pieces = pieces  # ... or, not placed (None when placed), the texts
        self.what = what  # (strong keys, kind, provider, holds a key)


def chunk_work(name: str, raw: bytes, offset: int) -> int | _ReadChunk | None:
    """A chunk of an input: of agents, how many (checked against the schema, never used); of
    findings, a :class:`_ReadChunk`, its texts placed in the chunk's room of the spool (the chunk
    is at ``offset`` of the input); None when the structs refuse it or the key gate finds anything
    in it (it is then read element by element, built and scrubbed)."""
    if name != "findings":
        checked = inventory_chunks.decode(name + "-checked", raw)
        return None if checked is None else len(checked)
    records = inventory_chunks.decode(name, raw)
    if records is None:
        return None
    count = len(records)
    numbers = [int(r.id, 16) for r in records]  # the structs checked the ids
    if _HELD:  # what an earlier input holds, let go before any more work is done on it
        unheld = [k for k, n in enumerate(numbers) if not _held(n)]
        records, numbers = [records[k] for k in unheld], [numbers[k] for k in unheld]
        if not records:
            return _ReadChunk(count, [], array("I"), -1, [], [])
    text = inventory_chunks.items(records)
    if not inventory_chunks.clean(text, records):
        return None
    pieces = text.split(_NEXT)  # a line break is structure: no string holds one unescaped
    if len(pieces) != len(records):
        return None
    unset = inventory_chunks.UNSET
    texts = [JSON + p if k == 0 else _OPEN + p for k, p in enumerate(pieces)]
    at = _PLACING.place(texts, offset, len(raw)) if _PLACING is not None else None
    return _ReadChunk(count, numbers, array("I", map(len, texts)), -1 if at is None else at,
                      texts if at is None else None,
                      [(_strong(r.identity), r.kind, r.provider if r.provider is not unset else None,
                        r.credential is not unset) for r in records])


_NONE_HELD = array("Q")
_HELD = _NONE_HELD  # sorted: the finding numbers the inputs before the one read hold (FirstOfIds.before)
_PLACING: PlacedSpool | None = None  # the spool the chunk workers place the texts they keep in


def _held(number: int) -> bool:
    i = bisect.bisect_left(_HELD, number)
    return i < len(_HELD) and _HELD[i] == number


class _Built:
    """What building a batch of groups gives (:meth:`StreamedMerge.built`): taken in order by the merge."""

    def __init__(self) -> None:
        self.agents: list[tuple[bytes, bytes, bytes | None, bool]] = []  # (text, sort key, spend, approved) ...
        self.agents_at: int | None = None  # ... or, the texts placed in agents_out from here, (size, ...)
        self.findings: list[tuple[int, bytes]] = []  # (place, text) of each finding written anew
        self.matched: list[str] = []  # registry records matched
        self.tally = Tally()  # the agents' counts (their spend is added in the agents' order, later)
        self.unattached = 0


_BUILDING: StreamedMerge | None = None  # the merge being built: what a forked worker builds from


def _build_batch(groups: list[list[int]], at: int, room: int) -> _Built:
    """A worker's task (or the merge's own, in-process): :meth:`StreamedMerge.built` of the merge it
    was forked from."""
    assert _BUILDING is not None
    return _BUILDING.built(groups, at, room)


def _agent_text(agent: Agent, tie: tuple[int, int], counted: bool) -> tuple[bytes, bytes, bytes | None, bool]:
    """An agent as the merge keeps it: its text, its sort key (the canonical order, then ``tie``),
    its spend if the summary counts it (``counted``: what ``Tally.count`` said), and whether it is approved."""
    spend = msgspec.json.encode(agent.spend) if counted and agent.spend else None
    return (_utf8(jsontext.dumps(agent.to_dict(), 2)), sortable(agent_order(agent) + tie), spend,
            agent.status == Status.APPROVED)


def streamed_merge(paths: list[str] | list[Path], registry: Registry | None, catalog_files: list[str],
                   today: dt.date | None = None) -> StreamedMerge | None:
    """The merge of the saved inventories ``paths`` built on disk, ready to write; None when an
    input is not one this merges (the caller merges whole; nothing was written)."""
    catalog = Catalog.load(catalog_files)
    redact.use_catalog(catalog)
    redact.load_key_formats()
    merge = StreamedMerge(registry, catalog, today or dt.date.today())
    try:
        for path in paths:
            merge.read(path)
        coverage, metadata = merged_frame(merge.inventories, registry, merge.sources)
        frame = redact.scrub_inventory(Inventory(agents=[], findings=[], coverage=coverage, metadata=metadata))
        merge.coverage, merge.metadata = frame.coverage, frame.metadata
        merge.join()
        merge.build(detectors_run(merge.coverage))
    except NotStreamable:
        merge.close()
        return None
    except BaseException:
        merge.close()
        raise
    return merge
