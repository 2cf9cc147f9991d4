"""The approved-agent registry: a YAML (or JSON) list of Agent Identity Records.

Every error names the file, the line and the field, because the people who edit
this file are not the people who wrote the scanner.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import gc
import json
from dataclasses import dataclass, field
import fnmatch
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import yaml

from scanner import identity
from scanner.errors import InputError

DEFAULT_REVIEW_DAYS = 90
MAX_DAYS = 36_500  # a review cadence or session length beyond a century is a typo, and overflows dates
MAX_BYTES = 64 * 1024 * 1024  # a registry this large is not one a person edits
# Aliases may share a node many times over; a document whose aliases add more than this many
# nodes to it (a "billion laughs") is refused before anything walks it.
MAX_EXPANDED_NODES = 2_000_000
REGISTRY_VERSION = 1
_WILDCARD = re.compile(r"[*?\[]")  # what makes a match pattern more than the key itself (fnmatch)

RECORD_FIELDS = (
    "id", "name", "owner", "purpose", "provider", "models", "environment", "created", "last_reviewed",
    "review_every_days", "expires", "max_session_minutes", "max_concurrency", "scopes", "match", "notes",
)
MATCH_FIELDS = ("keys", "credentials", "key_ids", "hosts", "processes", "repos", "cloud", "tags")
# Which identity-key type each location matcher constrains (for location drift).
LOCATION_MATCHERS = {"repos": "repo", "processes": "proc", "hosts": "host", "cloud": "cloud"}


@dataclass
class Record:
    """One approved agent, as the registry declares it."""

    id: str
    name: str
    owner: str
    source: str
    line: int
    purpose: str | None = None
    providers: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    environment: str | None = None
    created: dt.date | None = None
    last_reviewed: dt.date | None = None
    review_every_days: int = DEFAULT_REVIEW_DAYS
    expires: dt.date | None = None
    max_session_minutes: int | None = None
    max_concurrency: int | None = None
    scopes: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    location_patterns: dict[str, list[str]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def matches_key(self, key: str) -> bool:
        literal, regex = self._matchers
        return key in literal or (regex is not None and bool(regex.match(key)))

    @cached_property
    def _matchers(self) -> tuple[frozenset[str], re.Pattern[str] | None]:
        """The patterns without a wildcard as a set, the others as one compiled regex: registries are
        checked against every agent, and compiling a regex per record cost more than the matching."""
        literal = frozenset(p for p in self.patterns if not _WILDCARD.search(p))
        globs = [p for p in self.patterns if p not in literal]
        return literal, re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in globs)) if globs else None

    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass
class Registry:
    records: list[Record]
    source: str

    def __len__(self) -> int:
        return len(self.records)

    def candidates(self, keys: list[str]) -> list[Record]:
        """The records that may match an agent with these identity keys, in file order: those with
        a pattern that is one of the keys or whose literal start (up to its first ``*``, ``?`` or
        ``[``) starts one, and those that match by tags. Each still has to be checked; the index
        keeps matching linear in the agents and the records instead of their product."""
        by_prefix, lengths, tagged = self._index
        found = set(tagged)
        for key in keys:
            for n in lengths:
                if n > len(key):
                    break
                found.update(by_prefix.get(key[:n], ()))
        return [self.records[i] for i in sorted(found)]

    @cached_property
    def _index(self) -> tuple[dict[str, list[int]], tuple[int, ...], tuple[int, ...]]:
        by_prefix: dict[str, list[int]] = {}
        for i, record in enumerate(self.records):
            for pattern in record.patterns:
                literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
                by_prefix.setdefault(literal, []).append(i)
        lengths = tuple(sorted({len(p) for p in by_prefix}))
        return by_prefix, lengths, tuple(i for i, r in enumerate(self.records) if r.tags)


try:  # libyaml's parser is ~10x faster than the pure-Python one; both build the same nodes
    _SafeLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _SafeLoader = yaml.SafeLoader  # type: ignore[misc]


class _LineLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that remembers the line of every mapping key (``__lines__``), refuses duplicate
    keys and alias bombs, and leaves dates as text so that a bad one is reported with its line."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = getattr(key_node, "value", None)
            if isinstance(key, str):
                if key in seen:
                    raise _Duplicate(key, key_node.start_mark.line + 1, seen[key])
                seen[key] = key_node.start_mark.line + 1
        mapping = super().construct_mapping(node, deep=True)
        mapping["__lines__"] = {k.value: k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")}
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


# Dates stay strings: the record parser checks them and names the line of a bad one.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Duplicate(Exception):
    def __init__(self, key: str, line: int, first: int):
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases would add more than :data:`MAX_EXPANDED_NODES` nodes to it.

    What aliases add is the expanded size less the distinct nodes, so a registry with no
    aliases passes at any size (its bytes are bounded by :data:`MAX_BYTES`) while a "billion
    laughs" does not. Sizes are counted once per distinct node (aliases share nodes),
    iteratively, so the check itself is linear in the document and cannot recurse too deeply.
    """
    cap = 1 << 62  # sizes past this are a bomb whatever the document: no need for larger integers
    size: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            size[id(node)] = min(cap, 1 + sum(size[id(c)] for c in _children(node)))
            continue
        if id(node) in size:
            continue
        if id(node) in entered:  # reached again before it was sized: it contains itself
            raise yaml.YAMLError("an alias refers to a node that contains it")
        entered.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)
    if size[id(root)] - len(size) > MAX_EXPANDED_NODES:
        raise yaml.YAMLError(f"its aliases expand it past {MAX_EXPANDED_NODES:,} nodes")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Unusual(Exception):
    """Something :func:`_load_events` leaves to the whole loader: a merge key, a tag with no safe
    constructor, a key that is not a scalar, an alias, a second document."""


_SEQ, _MAP, _MERGE = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map", "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_NO_KEY = object()


class _Mapping:
    __slots__ = ("mapping", "lines", "line", "key")

    def __init__(self, line: int) -> None:
        self.mapping: dict[Any, Any] = {}
        self.lines: dict[str, int] = {}
        self.line = line
        self.key: Any = _NO_KEY


def _load_events(loader: _LineLoader) -> Any:
    """The document as :class:`_LineLoader` builds it (``__lines__``, ``__line__``, duplicate keys
    refused, dates as text), built straight from the parser's events.

    Composing a node graph first holds every node with two position marks until the end: 1.5 GB
    for a registry of 200,000 records, against the few hundred MB of what is built. Without
    anchors (the caller's check) nothing can refer back to a node, so none needs keeping.
    Iterative: nesting is bounded by the parser, never by Python's stack."""
    try:
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # document start
        root = _build(loader)
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            raise _Unusual("a second document")
        return root
    finally:
        loader.dispose()


def _build(loader: _LineLoader) -> Any:
    stack: list[Any] = []  # open containers: a list, or a _Mapping
    while True:
        event = loader.get_event()
        in_key = bool(stack) and isinstance(stack[-1], _Mapping) and stack[-1].key is _NO_KEY
        if isinstance(event, yaml.ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            if event.anchor is not None or tag == _MERGE:
                raise _Unusual(tag)
            if tag == _STR:  # most of a registry: the text as it is (what the constructor returns)
                value = event.value
            else:
                constructor = loader.yaml_constructors.get(tag)
                if constructor is None:
                    raise _Unusual(tag)
                value = constructor(loader, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                                                            event.style))
            if in_key:
                frame = stack[-1]
                line = event.start_mark.line + 1
                if event.value in frame.lines:
                    raise _Duplicate(event.value, line, frame.lines[event.value])
                frame.lines[event.value] = line
                frame.key = value
                continue
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            sequence = isinstance(event, yaml.SequenceStartEvent)
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(yaml.SequenceNode if sequence else yaml.MappingNode, None, event.implicit)
            if in_key or event.anchor is not None or tag != (_SEQ if sequence else _MAP):
                raise _Unusual(tag)
            stack.append([] if sequence else _Mapping(event.start_mark.line + 1))
            continue
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            done = stack.pop()
            if isinstance(done, _Mapping):
                value = done.mapping
                value["__lines__"] = done.lines
                value["__line__"] = done.line
            else:
                value = done
        else:  # an alias
            raise _Unusual(type(event).__name__)
        if not stack:
            return value
        parent = stack[-1]
        if isinstance(parent, list):
            parent.append(value)
        else:
            parent.mapping[parent.key] = value
            parent.key = _NO_KEY


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k not in ("__lines__", "__line__")}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def load_registry(path: str | Path) -> Registry:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read registry: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise InputError(f"{path}: registry is larger than {MAX_BYTES // (1024 * 1024)} MiB; refusing to read it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: registry is not UTF-8 text") from None
    return parse_registry(text, str(path))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a document is built: a large registry is millions of
    new objects, none of them garbage, and each collection would walk them all again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_registry(text: str, source: str) -> Registry:
    try:
        with _collector_paused():
            data = _parse(text, source)
    except RecursionError:
        raise InputError(f"{source}: registry is nested too deeply") from None
    if data is None:
        return Registry([], source)
    if isinstance(data, dict):
        _check_unknown(data, ("agents", "version"), source, "registry")
        version = data.get("version", REGISTRY_VERSION)
        if version != REGISTRY_VERSION or isinstance(version, bool):
            line = data.get("__lines__", {}).get("version", 1)
            raise InputError(f"{source}:{line}: field 'version': this shadow-agents reads registry version "
                             f"{REGISTRY_VERSION}, not {version!r}")
        entries = data.get("agents") or []
    else:
        entries = data
    if not isinstance(entries, list):
        raise InputError(f"{source}:1: 'agents' must be a list of records")
    records = []
    for i, entry in enumerate(entries):
        records.append(_record(entry, source, i))
        entries[i] = None  # each parsed mapping goes once its record is made: not both, whole, at once
    seen: dict[str, Record] = {}
    for r in records:
        if r.id in seen:
            raise InputError(f"{r.where()}: field 'id': duplicate id '{r.id}' (first at line {seen[r.id].line})")
        seen[r.id] = r
    return Registry(records, source)


def _parse(text: str, source: str) -> Any:
    if source.endswith(".json"):
        try:
            data: Any = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        except ValueError as exc:
            raise InputError(f"{source}: invalid JSON: {exc}") from None
        return _json_with_lines(data)
    try:
        if "&" not in text:  # no anchor, so no alias: built from the parser's events, no node graph
            try:
                return _load_events(_LineLoader(text))
            except _Unusual:
                pass
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except _Duplicate as dup:
        raise InputError(f"{source}:{dup.line}: duplicate key '{dup.key}' (first at line {dup.first})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = getattr(exc, "position", None)  # a character YAML does not allow anywhere
        line = mark.line + 1 if mark else text.count("\n", 0, position) + 1 if isinstance(position, int) else 1
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]  # not the reader's "in <string>" line
        if "nesting depth" in problem:  # libyaml's own bound, where the pure-Python parser recursed
            raise InputError(f"{source}:{line}: registry is nested too deeply") from None
        raise InputError(f"{source}:{line}: invalid YAML: {problem}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _json_with_lines(data: Any) -> Any:
    """JSON has no line marks here; give every record line 1 so messages keep their shape."""
    if isinstance(data, dict):
        out = {k: _json_with_lines(v) for k, v in data.items()}
        out["__lines__"] = {k: 1 for k in data}
        out["__line__"] = 1
        return out
    if isinstance(data, list):
        return [_json_with_lines(v) for v in data]
    return data


def _check_unknown(mapping: dict[str, Any], known: tuple[str, ...], source: str, what: str) -> None:
    lines = mapping.get("__lines__", {})
    for key in mapping:
        if key in ("__lines__", "__line__") or key in known:
            continue
        hint = difflib.get_close_matches(str(key), known, n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(known)})"
        raise InputError(f"{source}:{lines.get(key, mapping.get('__line__', 1))}: {what}: unknown field '{key}'{suggestion}")


def _record(entry: Any, source: str, index: int) -> Record:
    if not isinstance(entry, dict):
        raise InputError(f"{source}: record #{index + 1}: expected a mapping with id, name and owner")
    lines = entry["__lines__"]
    line = entry["__line__"]
    _check_unknown(entry, RECORD_FIELDS, source, f"record #{index + 1}")

    def where(name: str) -> str:
        return f"{source}:{lines.get(name, line)}"

    def text(name: str, required: bool = False) -> str | None:
        value = entry.get(name)
        if value is None or value == "":
            if required:
                rid = entry.get("id") or f"#{index + 1}"
                raise InputError(f"{source}:{line}: record {rid}: missing required field '{name}'")
            return None
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InputError(f"{where(name)}: field '{name}' must be a string")
        return str(value)

    def strings(name: str, value: Any = None) -> list[str]:
        value = entry.get(name) if value is None else value
        if value is None:
            return []
        if isinstance(value, (str, int)):
            return [str(value)]
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return [str(v) for v in value]
        raise InputError(f"{where(name)}: field '{name}' must be a string or a list of strings")

    def date(name: str) -> dt.date | None:
        value = entry.get(name)
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            pass
        try:
            return dt.datetime.fromisoformat(str(value)).date()
        except ValueError:
            raise InputError(f"{where(name)}: field '{name}' must be a date (YYYY-MM-DD), got {value!r}") from None

    def integer(name: str, maximum: int | None = None) -> int | None:
        value = entry.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"{where(name)}: field '{name}' must be a non-negative integer, got {value!r}")
        if maximum is not None and value > maximum:
            raise InputError(f"{where(name)}: field '{name}' must be at most {maximum}, got {value}")
        return value

    record = Record(
        id=text("id", required=True) or "",
        name=text("name") or text("id") or "",
        owner=text("owner", required=True) or "",
        source=source,
        line=line,
        purpose=text("purpose"),
        providers=[p.lower() for p in strings("provider")],
        models=strings("models"),
        environment=text("environment"),
        created=date("created"),
        last_reviewed=date("last_reviewed"),
        review_every_days=integer("review_every_days", MAX_DAYS) or DEFAULT_REVIEW_DAYS,
        expires=date("expires"),
        max_session_minutes=integer("max_session_minutes", MAX_DAYS * 1440),
        max_concurrency=integer("max_concurrency"),
        scopes=strings("scopes"),
    )
    _parse_match(entry.get("match"), record, where("match"))
    return record


def _parse_match(match: Any, record: Record, where: str) -> None:
    if match is None:
        return
    if isinstance(match, list):  # shorthand: a bare list of identity-key patterns
        match = {"keys": match, "__lines__": {}}
    if not isinstance(match, dict):
        raise InputError(f"{where}: field 'match' must be a mapping or a list of identity-key patterns")
    _check_unknown(match, MATCH_FIELDS, record.source, f"record {record.id}: match")
    lines = match.get("__lines__", {})

    def values(name: str) -> list[str]:
        value = match.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
            return [str(v) for v in value]
        raise InputError(f"{record.source}:{lines.get(name, record.line)}: field 'match.{name}' must be a list of strings")

    pats = record.patterns
    pats += values("keys")
    for fp in values("credentials"):
        fp = fp.lower().removeprefix("cred:")
        pats.append(identity.cred(fp[: len(fp) if "*" in fp else 16]))
    pats += [k if k.startswith("keyid:") else f"keyid:{k}" for k in values("key_ids")]
    for name, kind in LOCATION_MATCHERS.items():
        converted = [_location_pattern(kind, v) for v in values(name)]
        if converted:
            record.location_patterns[kind] = converted
            pats += converted
    tags = match.get("tags")
    if tags is not None:
        if not isinstance(tags, dict):
            raise InputError(f"{record.source}:{lines.get('tags', record.line)}: field 'match.tags' must be a mapping")
        record.tags = {str(k): str(v) for k, v in _strip_lines(tags).items()}


def _location_pattern(kind: str, value: str) -> str:
    if value.startswith(f"{kind}:"):
        return value
    if kind == "repo":
        return f"repo:{value}" if ":" in value.split("/", 1)[-1] else f"repo:{value}:*"
    if kind == "proc":
        return f"proc:*:*:{value}" if value.count(":") < 2 else f"proc:{value}"
    return f"{kind}:{value}"
