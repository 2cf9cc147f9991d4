"""Reading a saved JSON inventory: checked against the schema, one agent and one finding at a time.

``report``, ``diff``, ``merge``, ``--baseline`` and ``registry init`` read what an earlier run
wrote, perhaps by another version, perhaps edited by hand, perhaps of a million agents. The
file is read in pieces: each element of ``agents`` and ``findings`` is decoded (the C decoder,
one element at a time), checked against its part of the published schema and turned into
its model object before the next is read, so neither the whole text nor a tree of dicts of
the whole file is ever held beside the objects. A command that needs no findings (``diff``)
checks them and keeps none, nor does ``merge`` keep the agents it builds anew.

Errors are what they were for a whole-file read: ``FILE:LINE: not JSON: …`` with the line
of the fault, ``FILE: not a shadow-agents inventory: field agents[3].name: …`` for the first
field that does not fit the schema.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from scanner import inventory_chunks, redact
from scanner.chunk_pool import OrderedChunks, Work
from scanner.errors import InputError
from scanner.model import Agent, Finding, Inventory
from scanner.schema import check_element, check_inventory

CHUNK = 1 << 20
_SPACE = re.compile(r"[ \t\n\r]*")
_STREAMED = {"agents": Agent.from_dict, "findings": Finding.from_dict}


class _NotJson(Exception):
    def __init__(self, msg: str, line: int) -> None:
        super().__init__(msg)
        self.msg, self.line = msg, line


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


class _Reader:
    """JSON text read in chunks; values decoded one at a time from the buffer."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.buf = ""
        self.pos = 0
        self.line = 1  # the line at the start of ``buf``
        self.eof = False

    def _more(self, grow: bool = False) -> bool:
        """Read the next piece; ``grow``: at least as much again as is held (a value larger than a
        piece is decoded anew after each read, so the reads double: linear, not quadratic)."""
        if self.eof:
            return False
        chunk = self.fh.read(max(CHUNK, len(self.buf) - self.pos) if grow else CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.line += self.buf.count("\n", 0, self.pos)
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def line_at(self, pos: int) -> int:
        return self.line + self.buf.count("\n", 0, pos)

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self._more():
                return self.buf[self.pos:self.pos + 1]

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            raise _NotJson(f"Expecting {what}", self.line_at(self.pos))
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self._more(grow=True):
                    continue  # cut at the end of the buffer: read on and decode it again
                raise _NotJson(exc.msg, self.line_at(exc.pos)) from None
            if end == len(self.buf) and self._more(grow=True):
                continue  # a number may go on in the next chunk
            self.pos = end
            return value

    def key(self) -> str:
        if self.peek() != '"':
            raise _NotJson("Expecting property name enclosed in double quotes", self.line_at(self.pos))
        key = self.value()
        self.expect(":", "':' delimiter")
        return key


def load_inventory(path: str | Path, agents: bool = True, findings: bool = True, scrub: bool = True) -> Inventory:
    """Read a saved JSON inventory (exit 2 with a clear message when it is not one).

    ``agents=False``, ``findings=False``: they are checked but not kept (the inventory has none).
    ``scrub=False`` only for a caller that scrubs everything it uses before anything is derived
    from it or shown (``merge``: :func:`scanner.pipeline.build_inventory` does)."""
    kept = {"agents": _Objects(), "findings": _Objects()}
    sinks = {name: kept[name].append if keep else None for name, keep in (("agents", agents), ("findings", findings))}
    def restart() -> None:
        kept["agents"].clear()
        kept["findings"].clear()

    top = read_inventory(path, sinks, lambda name, _top: kept[name].clear(), restart)  # a repeated key: the last counts
    inventory = inventory_from_parts(path, top, kept["agents"], kept["findings"])
    return redact.scrub_inventory(inventory) if scrub else inventory  # a report of an older version may hold keys


def inventory_from_parts(path: str | Path, top: dict[str, Any], agents: list[Agent] | None = None,
                         findings: list[Finding] | None = None) -> Inventory:
    """The inventory of a document :func:`read_inventory` read, with the agents and findings it
    handed on (none: only its coverage and metadata, built and so checked as a whole read does)."""
    try:
        return Inventory.from_parts(top, agents or [], findings or [])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a shadow-agents inventory: {exc}") from None


def read_inventory(path: str | Path, sinks: dict[str, Callable[[Any], None] | None],
                   begin: Callable[[str, dict[str, Any]], None] | None = None,
                   restart: Callable[[], None] | None = None) -> dict[str, Any]:
    """Read and check a saved inventory, handing each element of ``agents`` and ``findings`` as its
    model object to ``sinks[name]`` (None: checked, not built) in file order; ``begin(name, top)``
    is called as each of the two arrays starts, with the top-level values read so far. Returns the
    document less those arrays, checked against the schema. Errors are :func:`load_inventory`'s.

    With ``restart``, an inventory in this tool's own layout is read a chunk of elements at a time
    (:mod:`scanner.inventory_chunks`, several times faster); should it turn out to be laid out
    otherwise, ``restart()`` is called — the caller forgets what its sinks were handed — and the
    file is read again the general way."""
    if restart is not None:
        try:
            return _read_in_chunks(path, sinks, begin)
        except (inventory_chunks.NotThisLayout, OSError):
            restart()
    try:
        with open(path, encoding="utf-8") as fh, collector_paused():
            top = _read(fh, str(path), sinks, begin)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read inventory: {getattr(exc, 'strerror', None) or exc}") from None
    except _NotJson as exc:
        raise InputError(f"{path}:{exc.line}: not JSON: {exc.msg}") from None
    except ValueError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: not a shadow-agents inventory: nested too deeply") from None
    if not isinstance(top, dict) or "agents" not in top:
        raise InputError(f"{path}: not a shadow-agents inventory: no 'agents' list; is this a shadow-agents JSON "
                         "report?")
    streamed = [name for name in _STREAMED if top.get(name) is _STREAMED_MARK]
    check_rest(path, top, streamed)
    if len(streamed) < len(_STREAMED):  # a list that was not an array: the schema said so
        raise InputError(f"{path}: not a shadow-agents inventory: agents and findings must be lists")
    return top


def _read_in_chunks(path: str | Path, sinks: dict[str, Callable[[Any], None] | None],
                    begin: Callable[[str, dict[str, Any]], None] | None) -> dict[str, Any]:
    """:func:`read_inventory` of an inventory in this tool's own layout: each chunk checked by
    decoding it into structs, its elements built from their dicts (a chunk the structs refuse is
    read element by element, as the general way reads it, with its messages)."""
    source = str(path)
    read = {"agents": 0, "findings": 0}

    def chunk(name: str, raw: bytes) -> None:
        sink = sinks.get(name)
        records = inventory_chunks.decode(name + "-checked", raw)
        if records is not None:
            if sink is not None:
                for element in inventory_chunks.as_dicts(records):
                    sink(built(name, element, source))
            read[name] += len(records)
            return
        elements = plain_elements(name, raw, read[name], source, build=sink is not None)
        if sink is not None:
            for obj in elements:
                sink(obj)
        read[name] += len(elements)

    return read_in_chunks(path, chunk, begin or (lambda _name, _top: None))


def read_in_chunks(path: str | Path, on_chunk: Callable[..., None],
                   begin: Callable[[str, dict[str, Any]], None], work: Work | None = None) -> dict[str, Any]:
    """:func:`scanner.inventory_chunks.read_chunks` of the file ``path`` (the cyclic collector
    paused), and the rest of the document checked against the schema. With ``work``, each chunk
    is first given to ``work(name, raw, offset)``, on every core for a large file (:mod:`scanner.chunk_pool`),
    and ``on_chunk(name, raw, result)`` gets the results in file order."""
    with open(path, "rb") as fh, collector_paused():
        if work is None:
            top = inventory_chunks.read_chunks(fh, on_chunk, begin)
        else:
            chunks = OrderedChunks(work, on_chunk, fh.fileno())
            try:
                def begin_in_order(name: str, top: dict[str, Any]) -> None:
                    chunks.drain()
                    begin(name, top)

                top = inventory_chunks.read_chunks(fh, chunks.chunk, begin_in_order, offsets=True)
                chunks.drain()
            finally:
                chunks.close()
    check_rest(path, top)
    return top


def plain_elements(name: str, raw: bytes, first: int, source: str, build: bool = True) -> list[Any]:
    """The elements of a chunk the structs refused, read as the general way reads them: each
    checked against the schema (its index counted from ``first``) and, with ``build``, built."""
    elements = inventory_chunks.decode_plain(raw)
    if build:  # each checked and built before the next is looked at: the first fault is the one named
        return [element_object(name, index, element, source) for index, element in enumerate(elements, first)]
    for index, element in enumerate(elements, first):
        check_element(name, index, element, source)
    return elements


def check_rest(path: str | Path, top: dict[str, Any], streamed: Iterable[str] = _STREAMED) -> None:
    """Check the document less its streamed arrays (``streamed``) against the schema."""
    check_inventory({**top, **{name: [] for name in streamed}}, str(path))


def element_object(name: str, index: int, element: Any, source: str) -> Agent | Finding:
    """``element``, the ``index``-th of array ``name``, checked against the schema and built."""
    check_element(name, index, element, source)
    return built(name, element, source)


def built(name: str, element: dict[str, Any], source: str) -> Agent | Finding:
    """The model object of an element of array ``name`` already checked against the schema."""
    try:
        return _STREAMED[name](element)  # type: ignore[no-any-return]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{source}: not a shadow-agents inventory: {exc}") from None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while an inventory is read: its objects hold no cycles, and
    where they are kept (``merge``, the table) each collection would walk them all again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Objects(list):  # type: ignore[type-arg]
    """A streamed array's elements as model objects."""


_STREAMED_MARK = _Objects()  # in the document read, the place of an array whose elements went to a sink


def _read(fh: IO[str], source: str, sinks: dict[str, Callable[[Any], None] | None],
          begin: Callable[[str, dict[str, Any]], None] | None) -> Any:
    reader = _Reader(fh)
    if reader.peek() != "{":
        value = reader.value()
        if reader.peek():
            raise _NotJson("Extra data", reader.line_at(reader.pos))
        return value
    reader.pos += 1
    top: dict[str, Any] = {}
    if reader.peek() == "}":
        reader.pos += 1
    else:
        while True:
            name = reader.key()
            if name in _STREAMED and reader.peek() == "[":
                if begin is not None:
                    begin(name, top)
                sink = sinks.get(name)
                _elements(reader, name, sink, source)
                top[name] = _STREAMED_MARK
            else:
                top[name] = reader.value()
            if reader.peek() == ",":
                reader.pos += 1
                continue
            reader.expect("}", "',' delimiter")
            break
    if reader.peek():
        raise _NotJson("Extra data", reader.line_at(reader.pos))
    return top


def _elements(reader: _Reader, name: str, sink: Callable[[Any], None] | None, source: str) -> None:
    """The elements of one array, each checked against the schema, built and handed on as it is read."""
    reader.pos += 1
    if reader.peek() == "]":
        reader.pos += 1
        return
    index = 0
    while True:
        element = reader.value()
        if sink is None:
            check_element(name, index, element, source)
        else:
            sink(element_object(name, index, element, source))
        index += 1
        if reader.peek() == ",":
            reader.pos += 1
            continue
        reader.expect("]", "',' delimiter")
        return
