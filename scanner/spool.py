"""Private working files of the commands that hold no whole inventory (``report``, ``merge``):
byte strings in a temporary file read back by offset, elements packed into them, and sort keys
held as compact bytes."""

from __future__ import annotations

import itertools
import os
import pickle
import tempfile
from typing import IO, Any, Sequence

import msgspec

from scanner.errors import UserError
from scanner.model import Agent, Finding

_HEX = "0123456789abcdef"
JSON, _OBJECT = b"j", b"o"  # a clean element as its JSON; a built (and scrubbed) one pickled


class NotStreamable(Exception):
    """The input is not one the streamed path writes (the whole read writes it, or names its fault)."""


def finding_number(finding_id: str) -> int:
    """A finding id of this tool's form (16 hex digits) as the number it spells; ids sort as their numbers."""
    if len(finding_id) != 16 or finding_id.strip(_HEX):
        raise NotStreamable("a finding id not in this tool's form")
    return int(finding_id, 16)


def packed(obj: Agent | Finding) -> bytes:
    """A built element as it is: its dict would not do, for what the model keeps of an element not
    in its own form (spend of three decimals, say) is what the whole read shows, not what it writes."""
    return _OBJECT + pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)


def unpacked(section: str, data: bytes) -> Agent | Finding:
    """The element ``packed`` (or ``JSON`` + its msgspec text) kept, built."""
    if data[:1] == JSON:  # the text of a record the structs checked (inventory_chunks.decode)
        element = msgspec.json.decode(data[1:])
        return Finding.from_record(element) if section == "findings" else Agent.from_record(element)
    return pickle.loads(data[1:])  # type: ignore[no-any-return]  # our own private spool, never the input


def no_room(exc: OSError) -> UserError:
    """A working file that cannot be written (a full or too small temporary directory): said as
    such, not as a fault of the input."""
    return UserError(f"cannot write the working files in {tempfile.gettempdir()}: "
                     f"{exc.strerror or exc}; set TMPDIR to a directory with room (about twice the inventory's size)")


class Spool:
    """Byte strings in a private temporary file, read back by offset and size."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile("w+b")
        self.size = 0

    def put(self, data: bytes) -> int:
        try:
            self.file.write(data)
        except OSError as exc:
            raise no_room(exc) from None
        self.size += len(data)
        return len(data)

    def clear(self, size: int = 0) -> None:
        """Forget all but the first ``size`` bytes."""
        self.file.seek(size)
        self.file.truncate()
        self.size = size

    def reading(self) -> int:
        try:
            self.file.flush()
        except OSError as exc:
            raise no_room(exc) from None
        return self.file.fileno()

    def close(self) -> None:
        try:
            self.file.close()
        except OSError:  # what was still buffered could not be written: it is thrown away with the file
            pass


class PlacedSpool:
    """Byte strings in a private sparse temporary file in which each chunk of an input file has a
    room of its own: the chunk of ``size`` bytes read at ``offset`` has ``ROOM`` times as many at
    ``ROOM * offset`` from where the input's rooms start. A chunk worker forked from the reader
    writes what it made of a chunk into that room itself (:meth:`place`, on the file it
    inherited), so the text never comes back through the pipe to be written again by the reader;
    what does not fit (never a chunk of this tool's own form: its elements come back no longer
    than twice what they were read as) and what the reader makes itself goes after the rooms
    (:meth:`put`). The rooms of a next input (:meth:`rooms_for`) come after all that. Written only
    with ``os.pwrite``: the reader and its workers share the file, never a position in it."""

    ROOM = 2

    def __init__(self, input_size: int) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile("w+b", buffering=0)
        self.fd = self.file.fileno()
        self.base = self.start = self.end = 0
        self.rooms_for(input_size)

    def rooms_for(self, input_size: int) -> None:
        """Rooms for the chunks of the input (of ``input_size`` bytes) read next, after everything
        written so far."""
        self.base = self.end
        self.start = self.end = self.base + self.ROOM * input_size  # where what the reader puts goes

    def place(self, texts: list[bytes], offset: int, size: int) -> int | None:
        """``texts`` one after the other in the room of the chunk of ``size`` bytes at ``offset``:
        where they start, or None when they do not fit it (the caller puts them)."""
        data = b"".join(texts)
        at = self.base + self.ROOM * offset
        if len(data) > self.ROOM * size or at + self.ROOM * size > self.start:  # (the input grew)
            return None
        self._write(data, at)
        return at

    def put(self, data: bytes) -> int:
        """``data`` after everything the reader put: where it starts."""
        at = self.end
        self._write(data, at)
        self.end += len(data)
        return at

    def _write(self, data: bytes, at: int) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.pwrite(self.fd, view, at)
                view, at = view[written:], at + written
        except OSError as exc:
            raise no_room(exc) from None

    def clear(self) -> None:
        """Forget what was put since the rooms of this input were made (the rooms a worker still
        fills are never read)."""
        if self.end > self.start:
            try:
                self.file.truncate(self.start)
            except OSError as exc:
                raise no_room(exc) from None
        self.end = self.start

    def close(self) -> None:
        self.file.close()


READ_AT_ONCE = 1 << 20  # bytes of a spool read in one call where what is wanted follows each other


def starts(at: int, sizes: Sequence[int]) -> list[int]:
    """Where each of byte strings of ``sizes`` put one after the other from ``at`` starts."""
    return list(itertools.accumulate(sizes[:-1], initial=at)) if len(sizes) else []


def read_each(fd: int, ats: Sequence[int], sizes: Sequence[int], skip: int = 0) -> list[bytes]:
    """The byte strings of ``sizes`` at ``ats`` of the file ``fd`` (less their first ``skip``
    bytes): each stretch of them that follow one another read in one call (a call apiece would
    cost more than the copies)."""
    out: list[bytes] = []
    count = len(ats)
    k = 0
    while k < count:
        base = end = ats[k]
        stop = k
        while stop < count and ats[stop] == end and end - base <= READ_AT_ONCE:
            end += sizes[stop]
            stop += 1
        block = os.pread(fd, end - base, base)
        for j in range(k, stop):
            out.append(block[ats[j] - base + skip:ats[j] - base + sizes[j]])
        k = stop
    return out


_OFFSET = 1 << 63


def sortable(key: Any) -> bytes:
    """An agent's sort key — a tuple of strings and 64-bit integers — as one bytes object that sorts
    as the tuple does, held in less room than the tuple and its strings: an integer as a tag and 8
    bytes big-endian, a string as a tag and its UTF-8 (code point order; lone surrogates too) with
    each NUL written as NUL 0xFF and NUL NUL after it, so a string sorts before its own extensions
    as in a tuple. Another kind of key: the whole read."""
    if not isinstance(key, tuple):
        raise NotStreamable("a sort key that is not a tuple")
    out = bytearray()
    for part in key:
        if type(part) is int and -_OFFSET <= part < _OFFSET:
            out += b"\x01" + (part + _OFFSET).to_bytes(8, "big")
        elif type(part) is str:
            out += b"\x02" + part.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff") + b"\x00\x00"
        else:
            raise NotStreamable("a sort key of another kind")
    return bytes(out)
