"""Saved inventories in this tool's own layout, read a megabyte of whole elements at a time.

The general reader (:mod:`scanner.inventory_file`) decodes, checks and builds one element at a
time: some 60 µs of Python for an agent and its findings, a minute for a million. An inventory
this tool wrote has its top-level keys in a fixed order (agents, coverage, findings, metadata,
schema_version, summary) and every element of its two arrays starting on a line of its own.
:func:`read_chunks` cuts such an array where the line layout says an element ends and hands on
the raw text of about a megabyte of whole elements at a time; :func:`decode` turns a chunk
into the typed structs below in one call to msgspec's C decoder, which checks every field on
the way. A cut is right only if the chunk then decodes: an element cut in two leaves a bracket
open, so a wrong guess (a hand-edited file) is refused, never misread.

The structs mirror the schema's definitions strictly — what they accept the schema accepts —
and accept only what is already in the form the model writes back: identity sorted without
repeats, the dedupe key derived from the id, spend in cents, nothing empty that the model
would leave out, no float the standard library writes with an exponent (msgspec spells those
differently). Writing them (:func:`items`) then gives byte for byte the text
:class:`scanner.model.JsonText` writes for the model objects the general path builds. A chunk the structs refuse, or one the
scrubber finds anything in (:func:`clean`), is read by the caller element by element, the
general way, with its messages. A file in any other layout raises :class:`NotThisLayout` and is
read the general way from the start.
"""

from __future__ import annotations

import json
import operator
import re
from typing import IO, Annotated, Any, Callable, Literal

import msgspec

from scanner import redact
from scanner.model import PLACES, Change, Confidence, ItemKind, Severity, Status

CHUNK = 1 << 20  # bytes of elements decoded at once
BLOCK = 1 << 22  # bytes read at once
SMALL = 1 << 26  # the most the parts between and after the arrays may hold
_END_OF = {  # what follows each array in this tool's layout
    "agents": re.compile(rb'\][ \t\r\n]*,[ \t\r\n]*"coverage"[ \t\r\n]*:'),
    "findings": re.compile(rb'\][ \t\r\n]*,[ \t\r\n]*"metadata"[ \t\r\n]*:'),
}
_END_WORD = {"agents": b'"coverage"', "findings": b'"metadata"'}  # the literal each of those holds
_START = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"agents"[ \t\r\n]*:[ \t\r\n]*\[([ \t\r\n]*)')
_FINDINGS = re.compile(rb'[ \t\r\n]*,[ \t\r\n]*"findings"[ \t\r\n]*:[ \t\r\n]*\[([ \t\r\n]*)')
_SPACE = b" \t\r\n"


class NotThisLayout(Exception):
    """The file is not laid out as this tool writes inventories (or is not JSON): read it whole."""


class _Refused(ValueError):
    """Valid perhaps, but not in the form the model writes back."""


# ---- the structs ------------------------------------------------------------------------------

# Ids and fingerprints are lower-case hex: their lengths are checked by msgspec, their digits a
# chunk at a time by :func:`_hex_digits` (a pattern checked by msgspec runs a regex per string,
# half the cost of decoding a chunk of findings).
Hex12 = Annotated[str, msgspec.Meta(min_length=12, max_length=12)]
Hex16 = Annotated[str, msgspec.Meta(min_length=16, max_length=16)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Number = int | float
Unset = msgspec.UnsetType
UNSET = msgspec.UNSET  # an optional field: absent, not null (the schema allows no null)
_PLAIN_FLOAT = (1e-4, 1e16)  # where repr() and msgspec write a float alike (no exponent)
# What ``details`` may hold here: no float (its text could be spelled apart, and a walk through
# every finding's details to look costs more than the rare float saves) and two levels at most.
Scalar = str | int | bool | None
Detail = Scalar | list[Scalar] | dict[str, Scalar]


def _plain(value: Any) -> bool:
    """No float that the standard library writes with an exponent (msgspec spells those
    differently: ``1e16`` for ``1e+16``, ``0.00001`` for ``1e-05``)."""
    return type(value) is not float or value == 0.0 or _PLAIN_FLOAT[0] <= abs(value) < _PLAIN_FLOAT[1]


def _ascending(items: list[str]) -> bool:
    """Sorted without repeats: what ``sorted(set(items))`` leaves as it is."""
    if len(items) < 3:
        return len(items) < 2 or items[0] < items[1]
    return all(map(operator.lt, items, items[1:]))


class _Struct(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """A record decoded from JSON holds strings, numbers, lists and dicts, never itself: it can be in
    no reference cycle, so the cyclic collector need not track the millions made (a fifth of the
    decoding)."""


class ReasonRecord(_Struct):
    code: str
    message: str


class LocationRecord(_Struct):
    account: str | Unset = UNSET
    capture: str | Unset = UNSET
    cloud: str | Unset = UNSET
    commit: str | Unset = UNSET
    exe: str | Unset = UNSET
    flow: str | Unset = UNSET
    host: str | Unset = UNSET
    line: Count | Unset = UNSET
    path: str | Unset = UNSET
    pid: Count | Unset = UNSET
    resource: str | Unset = UNSET
    user: str | Unset = UNSET


class CredentialRecord(_Struct):
    fingerprint: Annotated[str, msgspec.Meta(min_length=8, max_length=64)]  # hex: :func:`_hex_digits`
    preview: Annotated[str, msgspec.Meta(max_length=16)]
    admin: bool = False
    key_type: str | Unset = UNSET


_NO_LOCATION = LocationRecord()


class AgentShape(_Struct):
    """An element of ``agents`` (the schema's ``agent``): what only needs checking is decoded into
    this (its subclass also asks for the form the model writes)."""

    dedupe_key: str
    findings: list[Hex16]
    id: Hex12
    identity: list[str]
    kind: ItemKind  # optional in the schema; the model always writes it
    name: str
    reasons: list[ReasonRecord]
    severity: Severity
    status: Status
    approved_id: str | Unset = UNSET
    change: Change | Unset = UNSET
    detectors: list[str] = []
    first_seen: str | Unset = UNSET
    kinds: list[str] = []
    last_seen: str | Unset = UNSET
    locations: list[str] = []
    models: list[str] = []
    owners: list[str] = []
    providers: list[str] = []
    remediation: str | Unset = UNSET
    spend: dict[str, Number] = {}

    @property
    def is_agent(self) -> bool:
        return self.kind == ItemKind.AGENT


class AgentRecord(AgentShape):
    """An element of ``agents`` as the model writes it."""

    def __post_init__(self) -> None:
        if self.dedupe_key != "shadow-agents:" + self.id:
            raise _Refused("the model derives the dedupe key from the id")
        if self.spend and not all(_plain(v) and round(v, 2) == v for v in self.spend.values()):
            raise _Refused("the model writes spend in cents")


class FindingShape(_Struct):
    """An element of ``findings`` (the schema's ``finding``): what only needs checking is decoded
    into this (its subclass also asks for the form the model writes)."""

    confidence: Confidence
    detector: str
    evidence: str
    id: Hex16
    identity: Annotated[list[str], msgspec.Meta(min_length=1)]  # the model leaves an empty one out
    kind: str
    location: LocationRecord
    cost: Number | Unset = UNSET
    credential: CredentialRecord | Unset = UNSET
    currency: str | Unset = UNSET
    details: dict[str, Detail] = {}
    endpoint: str | Unset = UNSET
    model: str | Unset = UNSET
    observed_at: str | Unset = UNSET
    period: str | Unset = UNSET
    place: Literal[PLACES] | Unset = UNSET  # type: ignore[valid-type]
    provider: str | Unset = UNSET
    quantity: Number | Unset = UNSET
    risks: list[Literal["world-readable", "in-history", "exposed"]] = []
    tags: dict[str, str] = {}
    unit: str | Unset = UNSET


class FindingRecord(FindingShape):
    """An element of ``findings`` as the model writes it."""

    def __post_init__(self) -> None:  # run for each of millions of findings: kept short
        if not _ascending(self.identity):
            raise _Refused("the model sorts a finding's identity")
        if self.risks and not _ascending(self.risks):
            raise _Refused("the model sorts a finding's risks")
        if self.location == _NO_LOCATION:
            raise _Refused("the model leaves an empty location out")
        if (self.cost is not UNSET or self.quantity is not UNSET) and not (_plain(self.cost) and _plain(self.quantity)):
            raise _Refused("a float written with an exponent")


_DECODERS = {"agents": msgspec.json.Decoder(list[AgentRecord]), "findings": msgspec.json.Decoder(list[FindingRecord]),
             "agents-checked": msgspec.json.Decoder(list[AgentShape]),
             "findings-checked": msgspec.json.Decoder(list[FindingShape])}
_ENCODER = msgspec.json.Encoder(order="sorted")
_ITEMS_HEAD = b'{\n  "a": [\n    '
_ITEMS_TAIL = b"\n  ]\n}"


def decode(name: str, chunk: bytes) -> list[Any] | None:
    """The elements of ``chunk`` as structs, or None when they do not all fit them; ``name``:
    ``agents`` or ``findings``, or either with ``-checked`` (checked against the schema, whatever
    their form)."""
    try:
        records = _DECODERS[name].decode(b"[" + chunk + b"]")
    except msgspec.DecodeError:  # ValidationError included: refused, perhaps only as not written back alike
        return None
    return records if _hex_digits(name, records) else None


_HEX_DIGITS = b"0123456789abcdef"


def _hex_digits(name: str, records: list[Any]) -> bool:
    """Every id and fingerprint of ``records`` (their lengths already checked) of lower-case hex
    digits only, as the schema's patterns ask: all of a chunk's joined and looked at at once."""
    if name.startswith("agents"):
        strings = [a.id for a in records] + [i for a in records for i in a.findings]
    else:
        strings = [f.id for f in records] + [f.credential.fingerprint for f in records if f.credential]
    try:
        return not "".join(strings).encode("ascii").translate(None, _HEX_DIGITS)
    except UnicodeEncodeError:
        return False


def as_dicts(records: list[Any]) -> list[dict[str, Any]]:
    """Checked structs as the dicts the standard library would have decoded (absent fields absent)."""
    return msgspec.to_builtins(records)  # type: ignore[no-any-return]


def decode_plain(chunk: bytes) -> list[Any]:
    """The elements of ``chunk`` as the standard library decodes them (what the general path reads)."""
    try:
        elements = json.loads(b"[" + chunk + b"]", parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise NotThisLayout("a chunk that is not whole elements") from None
    return elements  # type: ignore[no-any-return]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def clean(text: bytes, records: list[Any]) -> bool:
    """Nothing the scrubber would change in the strings of ``records``; ``text``: their JSON, as
    read or as :func:`items` writes it (a value the decoder dropped for a repeated key can only
    add hits).

    Where ``text`` holds no escape, each string is there as it reads, between quotes: with the
    quotes made line breaks, that is the text the scrubber sees, each string on a line of its own
    as :func:`redact.scrub_agents` joins them (with the punctuation between them on lines of their
    own, which can only add hits). Otherwise the strings are gathered from the records."""
    if b"\\" not in text:
        data = text.replace(b'"', b"\n")
        return not redact.would_change(data.decode("utf-8"), data)
    strings: list[str] = []
    for record in records:
        _strings(record, strings)
    return not redact.would_change("\n".join(strings))


def _strings(value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(value)
    elif kind is list:
        for v in value:
            _strings(v, out)
    elif kind is dict:
        for k, v in value.items():
            out.append(k)
            _strings(v, out)
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            _strings(getattr(value, name), out)


def items(records: list[Any]) -> bytes:
    """``records`` as :class:`scanner.model.JsonText` items after the first (``",\n    "`` between
    them, each indented for its place two levels deep), without the separator before the first."""
    return msgspec.json.format(b'{"a":' + _ENCODER.encode(records) + b"}", indent=2)[len(_ITEMS_HEAD):-len(_ITEMS_TAIL)]


# ---- the layout -------------------------------------------------------------------------------


class _Buffer:
    """A binary file read in blocks; ``buf[pos:]`` is what is not yet consumed."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.buf = b""
        self.pos = 0
        self.base = 0  # where in the file ``buf`` starts

    def more(self) -> int:
        """Read the next block, dropping what was consumed; returns how far the text moved
        (-1 at the end of the file)."""
        block = self.fh.read(BLOCK)
        if not block:
            return -1
        moved = self.pos
        self.buf = self.buf[self.pos:] + block
        self.pos = 0
        self.base += moved
        return moved

    def match(self, rx: re.Pattern[bytes]) -> re.Match[bytes]:
        """``rx`` at ``pos``, reading on while the buffer may cut it short."""
        while True:
            m = rx.match(self.buf, self.pos)
            if m and m.end() < len(self.buf):
                return m
            if self.more() < 0:
                if m:
                    return m
                raise NotThisLayout("not the layout this tool writes")

    def until(self, rx: re.Pattern[bytes]) -> tuple[bytes, re.Match[bytes]]:
        """The text from ``pos`` to the next match of ``rx`` (at most :data:`SMALL` bytes), and the match."""
        searched = self.pos
        while True:
            m = rx.search(self.buf, searched)
            if m and m.end() < len(self.buf):
                return self.buf[self.pos:m.start()], m
            searched = max(self.pos, len(self.buf) - 4096)
            if len(self.buf) - self.pos > SMALL:
                raise NotThisLayout("too much between the arrays")
            moved = self.more()
            if moved < 0:
                raise NotThisLayout("not the layout this tool writes")
            searched -= moved

    def rest(self) -> bytes:
        while len(self.buf) - self.pos <= SMALL:
            if self.more() < 0:
                return self.buf[self.pos:]
        raise NotThisLayout("too much after the arrays")


def read_chunks(fh: IO[bytes], on_chunk: Callable[..., None],
                begin: Callable[[str, dict[str, Any]], None], offsets: bool = False) -> dict[str, Any]:
    """Read an inventory in this tool's layout from ``fh``: ``begin(name, top)`` as each array
    starts (``top``: the top-level values read so far), ``on_chunk(name, chunk)`` for each chunk of
    its elements, in file order (with ``offsets``, ``on_chunk(name, chunk, offset)``: where in the
    file the chunk starts). Returns the top-level values other than the two arrays, not yet
    checked against the schema. :class:`NotThisLayout` when the file is laid out otherwise."""
    reader = _Buffer(fh)
    start = reader.match(_START)
    reader.pos = start.end()
    top: dict[str, Any] = {}
    begin("agents", top)
    _array(reader, "agents", start.group(1), on_chunk, offsets)
    coverage, findings = reader.until(_FINDINGS)
    value = _small(b"[" + coverage + b"]")
    if len(value) != 1:
        raise NotThisLayout("more than the coverage between the arrays")
    top["coverage"] = value[0]
    reader.pos = findings.end()
    begin("findings", top)
    _array(reader, "findings", findings.group(1), on_chunk, offsets)
    rest = _small(b'{"metadata":' + reader.rest())
    if not isinstance(rest, dict) or rest.keys() & {"agents", "coverage", "findings"}:
        raise NotThisLayout("a top-level key repeated")
    top.update(rest)
    return top


def _small(text: bytes) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise NotThisLayout("not JSON where this layout has it") from None


def _search_end(name: str, buf: bytes, pos: int) -> re.Match[bytes] | None:
    """``_END_OF[name].search(buf, pos)``, tried only before each occurrence of the key it names
    (a literal search runs at memory speed; the regex's search, at each ``]``, does not)."""
    word, rx = _END_WORD[name], _END_OF[name]
    at = buf.find(word, pos)
    while at >= 0:
        start = at
        for wanted in b",]":  # back over the space, the comma, the space and the bracket before the key
            while start > pos and buf[start - 1] in _SPACE:
                start -= 1
            if start <= pos or buf[start - 1] != wanted:
                break
            start -= 1
        else:
            m = rx.match(buf, start)
            if m is not None:
                return m
        at = buf.find(word, at + 1)
    return None


def _array(reader: _Buffer, name: str, space: bytes, on_chunk: Callable[..., None], offsets: bool) -> None:
    """The elements of the array whose first element starts at ``reader.pos`` (after ``space``),
    in chunks cut before each separator found past :data:`CHUNK` bytes, to the array's end."""
    if reader.buf[reader.pos:reader.pos + 1] == b"]":  # an empty array
        m = reader.match(_END_OF[name])
        reader.pos = m.end()
        return
    if b"\n" not in space or reader.buf[reader.pos:reader.pos + 1] != b"{":
        raise NotThisLayout("elements not on lines of their own")
    separator = b"," + space + b"{"
    start = reader.pos
    end: re.Match[bytes] | None = None
    searched = start
    while True:
        if end is None:
            end = _search_end(name, reader.buf, searched)
            if end is not None and end.end() == len(reader.buf):
                end = None  # perhaps cut short: look again once more is read
            if end is None:
                searched = max(start, len(reader.buf) - 4096)
        limit = end.start() if end is not None else len(reader.buf)
        cut = reader.buf.find(separator, start + CHUNK, limit)
        if cut >= 0:
            on_chunk(name, reader.buf[start:cut], *((reader.base + start,) if offsets else ()))
            start = cut + len(separator) - 1
            continue
        if end is not None:
            on_chunk(name, reader.buf[start:end.start()].rstrip(_SPACE), *((reader.base + start,) if offsets else ()))
            reader.pos = end.end()
            return
        reader.pos = start
        moved = reader.more()
        if moved < 0:
            raise NotThisLayout(f"{name} never ends")
        start -= moved
        searched -= moved
