"""``report -f json`` of a saved inventory, written while it is read: no agent or finding is kept.

An inventory this tool wrote is already in the order its JSON report is written in: agents
by status, severity, name and id, then coverage, then findings by id (keys sorted). So each
agent and finding is read as :func:`scanner.inventory_file.load_inventory` reads it (checked
against the schema, built), scrubbed in batches as :func:`scanner.redact.scrub_inventory`
scrubs, and its text written on; the summary is counted on the way. Into a regular file (a
report file's temp file, or stdout redirected to a file) the text goes as it is made, and the
file is cut back to where it stood should the input turn out bad or the command be stopped;
into a pipe or a terminal it goes to a private spool first, which goes to the output only once
the whole input was read and checked. Either way through the guarded stream like every report,
so a bad input writes nothing. Memory is one batch of objects and 8 bytes per listed finding id.

An input this cannot write in one pass — elements out of order, arrays in another order or
repeated, a schema 1.0 inventory (whose findings are changed by its ``schema_version``, read
after them) — and any input error return False having written nothing: the caller then
reads the inventory whole, which writes the same text or gives the message it always gave.
"""

from __future__ import annotations

import bisect
import sys
import tempfile
from array import array
from pathlib import Path
from typing import IO, Any, Callable, NamedTuple

from scanner import inventory_chunks, redact
from scanner.errors import InputError
from scanner.inventory_file import inventory_from_parts, plain_elements, read_in_chunks, read_inventory
from scanner.model import SCHEMA_VERSION, Agent, Coverage, Finding, Inventory, JsonText, Status, Tally, agent_order
from scanner.output import GuardedStream, copy_spool, open_output, rewinder

BATCH = redact.SCRUB_BATCH
_HEX = "0123456789abcdef"


class _NotStreamable(Exception):
    """The input is not in the report's order (or not the shape this path writes)."""


class FindingIds:
    """A set of finding ids, held as 64-bit numbers where they are 16 lower-case hex digits (the
    ids this tool writes): 8 bytes each instead of a string and a set slot. :meth:`freeze` before
    asking; other ids are kept as strings."""

    def __init__(self) -> None:
        self._numbers = array("Q")
        self._other: set[str] = set()

    def add(self, ids: list[str]) -> None:
        for i in ids:
            if len(i) == 16 and not i.strip(_HEX):
                self._numbers.append(int(i, 16))
            else:
                self._other.add(i)

    def add_numbers(self, numbers: array[int]) -> None:
        """Ids of 16 lower-case hex digits, as :func:`hex_numbers` gives them."""
        self._numbers.extend(numbers)

    def freeze(self) -> None:
        self._numbers = array("Q", sorted(self._numbers))

    def __contains__(self, i: str) -> bool:
        if len(i) == 16 and not i.strip(_HEX):
            return self.has_hex(i)
        return i in self._other

    def has_hex(self, i: str) -> bool:
        """``i in self`` for an id known to be 16 lower-case hex digits."""
        n = int(i, 16)
        k = bisect.bisect_left(self._numbers, n)
        return k < len(self._numbers) and self._numbers[k] == n

    def count_in(self, numbers: array[int]) -> int:
        """How many of ``numbers`` (ids as :func:`hex_numbers` gives them, ascending) are in the set:
        only the stretch of the set between the first and the last is looked at."""
        if not numbers:
            return 0
        held = self._numbers
        stretch = set(held[bisect.bisect_left(held, numbers[0]):bisect.bisect_right(held, numbers[-1])])
        return sum(map(stretch.__contains__, numbers))


class _Writer:
    """The report's text, one section and one batch at a time, into ``out``."""

    def __init__(self, out: _Spool | _Direct, path: str | Path) -> None:
        self.out = out
        self.path = path
        self.text = JsonText()
        self.tally = Tally()
        self.attached = FindingIds()
        self.batch: list[Any] = []
        self.section: str | None = None
        self.done: set[str] = set()
        self.last_agent: tuple[int, int, str, str] | None = None
        self.last_finding: str | None = None
        self.findings = self.unattached = 0
        self.coverage: list[Coverage] = []
        self.coverage_read: Any = None

    def begin(self, name: str, top: dict[str, Any]) -> None:
        self._end_section()
        if name in self.done or (name == "agents" and "findings" in self.done):
            raise _NotStreamable(f"{name} repeated or after findings")
        if name == "findings":
            if "agents" not in self.done or "coverage" not in top:
                raise _NotStreamable("findings before agents or coverage")
            self._write_coverage(top["coverage"])
            self.attached.freeze()
        self.section = name
        self.read = 0
        self._put(self.text.open(name))

    def add(self, obj: Agent | Finding) -> None:
        self.batch.append(obj)
        if len(self.batch) >= BATCH:
            self._flush()

    def finish(self, top: dict[str, Any]) -> None:
        self._end_section()
        if self.done != {"agents", "findings"} or top.get("schema_version") == "1.0" \
                or top.get("coverage") is not self.coverage_read:
            raise _NotStreamable("not both arrays, a 1.0 inventory, or coverage repeated after findings")
        rest = inventory_from_parts(self.path, top)  # an InputError: the whole read names the fault
        redact.scrub_inventory(rest)  # its metadata, as the whole inventory's
        summary = self.tally.summary(self.findings, self.unattached, all(c.complete for c in self.coverage))
        self._put(self.text.tail(rest.metadata, SCHEMA_VERSION, summary) + "\n")

    def _end_section(self) -> None:
        if self.section is None:
            return
        self._flush()
        self._put(self.text.close())
        self.done.add(self.section)
        self.section = None

    def _write_coverage(self, raw: Any) -> None:
        self.coverage_read = raw
        try:  # not yet checked against the schema (that is done at the end): anything may be here
            coverage = [Coverage.from_dict(c) for c in raw]
        except Exception:
            raise _NotStreamable("coverage the whole read will name") from None
        inventory = Inventory(agents=[], findings=[], coverage=coverage)
        redact.scrub_inventory(inventory)
        self.coverage = inventory.sorted().coverage
        self._put(self.text.open("coverage"))
        self._put("".join(self.text.item(c.to_dict()) for c in self.coverage))
        self._put(self.text.close())

    def chunk(self, name: str, raw: bytes, digest: Digest | None) -> None:
        """A chunk of whole elements (:func:`scanner.inventory_chunks.read_chunks`) and its
        :func:`digest`: written from its structs where they took it and nothing in it needs
        scrubbing, else element by element."""
        if digest is None:
            elements = plain_elements(name, raw, self.read, str(self.path))
            for obj in elements:
                self.add(obj)
            self.read += len(elements)
            return
        self._flush()
        self.read += digest.count
        if not digest.in_order:
            raise _NotStreamable(f"{name} out of order")
        if name == "agents":
            if self.last_agent is not None and digest.first < self.last_agent:
                raise _NotStreamable("agents out of order")
            self.last_agent = digest.last
            self.tally.add(digest.tally)
            for spend, approved in digest.spends:
                self.tally.add_amounts(spend, approved)
            self.attached.add_numbers(digest.ids)
        else:
            if self.last_finding is not None and digest.first < self.last_finding:
                raise _NotStreamable("findings out of order")
            self.last_finding = digest.last
            self.findings += digest.count
            self.unattached += digest.count - self.attached.count_in(digest.ids)
        self._put(self.text.items("", digest.count))
        self.out.write(digest.items)

    def _flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        if self.section == "agents":
            redact.scrub_agents(batch)
        else:
            redact.scrub_findings(batch)
        self._count(batch)
        self._put("".join(self.text.item(o.to_dict()) for o in batch))

    def _put(self, text: str) -> None:
        # lone surrogates (names that were not UTF-8) go through as they are; the output guard escapes them
        self.out.write(text.encode("utf-8", "surrogatepass"))

    def _count(self, objects: list[Any]) -> None:
        """Check the order of agents or findings and count them."""
        if self.section == "agents":
            last = self.last_agent
            for a in objects:
                key = agent_order(a)
                if last is not None and key < last:
                    raise _NotStreamable("agents out of order")
                last = key
                self.tally.agent(a)
                self.attached.add(a.findings)
            self.last_agent = last
        else:
            last_id = self.last_finding
            unattached = 0
            for f in objects:
                if last_id is not None and f.id < last_id:
                    raise _NotStreamable("findings out of order")
                last_id = f.id
                unattached += f.id not in self.attached
            self.last_finding = last_id
            self.findings += len(objects)
            self.unattached += unattached


class Digest(NamedTuple):
    """What the report takes of a chunk that its structs took and the key gate passed, worked out
    where the chunk was decoded (:mod:`scanner.chunk_pool`): its text and what is counted of it."""

    count: int
    items: bytes  # the chunk's elements as the report writes them (:func:`inventory_chunks.items`)
    in_order: bool  # its elements in the report's order among themselves
    first: Any  # the order key of its first element (``agent_order``, or the finding id) ...
    last: Any  # ... and of its last
    ids: array[int]  # agents: the finding ids they list; findings: their ids (both as numbers)
    tally: Tally | None = None  # agents: their counts, without spend ...
    spends: list[tuple[dict[str, float], bool]] = []  # ... which is added in order: (spend, approved)


def digest(name: str, raw: bytes, _offset: int) -> Digest | None:
    """The :class:`Digest` of a chunk of ``agents`` or ``findings``; None when its structs refuse
    it or the key gate finds anything in it (it is then read element by element)."""
    records = inventory_chunks.decode(name, raw)
    if records is None:
        return None
    items = inventory_chunks.items(records)
    if not inventory_chunks.clean(raw if b"\\" not in raw else items, records):  # the text read, unless it holds escapes
        return None
    if name == "findings":
        ids = [f.id for f in records]
        return Digest(len(records), items, ids == sorted(ids), ids[0], ids[-1], hex_numbers(ids))
    keys = [agent_order(a) for a in records]
    tally = Tally()
    spends = [(a.spend, a.status == Status.APPROVED) for a in records if tally.count(a) and a.spend]
    return Digest(len(records), items, keys == sorted(keys), keys[0], keys[-1],
                  hex_numbers([i for a in records for i in a.findings]), tally, spends)


def hex_numbers(ids: list[str]) -> array[int]:
    """Ids of 16 lower-case hex digits (checked by :func:`inventory_chunks.decode`) as 64-bit numbers."""
    numbers = array("Q", bytes.fromhex("".join(ids)))
    if sys.byteorder == "little":
        numbers.byteswap()
    return numbers


class _Abandoned(Exception):
    """The report is left to the whole read (what was written of it was cut back)."""


class _Spool:
    """The report's text held back in a private spool until the whole input was read and checked."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def restart(self) -> None:
        self.file.seek(0)
        self.file.truncate()


class _Direct:
    """The report's text straight into a regular file (a report file's temp file, or stdout
    redirected to a file), cut back should the input turn out bad: no spool, no second copy."""

    def __init__(self, stream: GuardedStream, rewind: Callable[[], None]) -> None:
        self.stream = stream
        self.restart = rewind

    def write(self, data: bytes) -> None:
        self.stream.write_scrubbed(data)  # each chunk gated, each batch scrubbed


def write_json_report(path: str | Path, output: str | None) -> bool:
    """Write the JSON report of the saved inventory ``path`` to ``output`` (None: stdout) in one
    pass; False, having written nothing, when the input is not one this can write so."""
    redact.load_key_formats()
    try:
        with open_output(output, "json") as stream:
            rewind = rewinder(stream)
            if rewind is None:  # a pipe or a terminal: nothing goes there before all was read and checked
                with tempfile.TemporaryFile("w+b") as file:
                    _write(path, _Spool(file))
                    copy_spool(file, stream, scrubbed=True)  # each chunk gated, each batch scrubbed
                return True
            try:
                _write(path, _Direct(stream, rewind))
            except BaseException:  # a bad input, Ctrl-C, SIGTERM: the file as it was
                rewind()
                raise
    except _Abandoned:
        return False
    return True


def _write(path: str | Path, out: _Spool | _Direct) -> None:
    if not (_in_chunks(path, out) or _by_elements(path, out)):
        raise _Abandoned


def _in_chunks(path: str | Path, out: _Spool | _Direct) -> bool:
    """The report of an inventory in this tool's own layout, a chunk of elements at a time."""
    writer = _Writer(out, path)
    try:
        writer.finish(read_in_chunks(path, writer.chunk, writer.begin, digest))
    except (inventory_chunks.NotThisLayout, _NotStreamable, InputError, OSError):
        out.restart()
        return False
    return True


def _by_elements(path: str | Path, out: _Spool | _Direct) -> bool:
    """The report of any inventory the general reader reads, an element at a time."""
    writer = _Writer(out, path)
    try:
        top = read_inventory(path, {"agents": writer.add, "findings": writer.add}, writer.begin)
        writer.finish(top)
    except (_NotStreamable, InputError):
        return False
    return True
