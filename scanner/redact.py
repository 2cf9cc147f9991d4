"""Fingerprints and previews: the one place raw secret bytes are turned into safe strings.

Detectors hand a secret to :func:`credential` and keep only what it returns. The
module also remembers every secret it was shown during this process, and knows every
key format of the catalogue, so that :func:`scrub` can remove both from any text.

:func:`scrub` is the one redaction step of every output: the pipeline applies it to
every string of an inventory (:func:`scrub_inventory`) before a format sees it, and the
output streams (``scanner.output``) apply it again to every byte written to stdout, stderr
or a report file — so a key in a URL, a file name, a registry field or an error message
is shown as its preview whatever path it takes. The catalogue's key formats are loaded on
first use, so a command that never loads the catalogue itself is still covered.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import threading
from dataclasses import replace
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:
    from scanner.catalog import Catalog
    from scanner.model import Agent, Credential, Finding, Inventory

try:
    import ahocorasick_rs
except ImportError:  # pragma: no cover - a declared dependency; regexes are the slow fallback
    ahocorasick_rs = None

FINGERPRINT_LENGTH = 16
ELLIPSIS = "…"

_lock = threading.Lock()
_seen: set[str] = set()
_pending: list[str] = []  # remembered but not yet in the compiled matcher
_compiled_secrets: list[str] = []
_shapes: list["_Shapes"] = []
_shape_sources: set[str] = set()
_state: "_Compiled | None" = None
_builtin_loaded = False
_generation = 0  # grows with every secret or key format added: what "already scrubbed" means
_builtin_lock = threading.Lock()
_extra_patterns: list[re.Pattern[str]] = []
# the password of a URL's userinfo: scheme://user:PASSWORD@host (found from the literal "://")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)([^/\s@]+)(?=@)")
_SURROGATE = re.compile("[\ud800-\udfff]")
Spans = list[tuple[int, int]]


def fingerprint(secret: str) -> str:
    """sha256 prefix of the secret: joins the same key across detectors, reveals nothing."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:FINGERPRINT_LENGTH]


def preview(secret: str) -> str:
    """First 8 and last 4 characters at most; fewer for short secrets (never more than 3/8 of it)."""
    n = len(secret)
    head = min(8, n // 4)
    tail = min(4, n // 8)
    return secret[:head] + ELLIPSIS + (secret[n - tail:] if tail else "")


def credential(secret: str, key_type: str | None = None, admin: bool = False) -> "Credential":
    """Register ``secret`` for scrubbing and return its safe representation."""
    from scanner.model import Credential  # here: the model is heavier than this module, which every output needs
    remember(secret)
    return Credential(fingerprint(secret), preview(secret), key_type, admin)


def remember(secret: str) -> None:
    if len(secret) < 8:
        return
    global _generation
    with _lock:
        if secret not in _seen:
            _seen.add(secret)
            _pending.append(secret)
            _generation += 1


def _encodable(find: Callable[[str], Any]) -> Callable[[str], Any]:
    """``find`` for a str automaton, which cannot take a lone surrogate (an undecodable byte of a
    file name): such characters are swapped for U+FFFD, one for one, so offsets stay true."""
    def run(text: str) -> Any:
        try:
            return find(text)
        except UnicodeEncodeError:
            return find(_SURROGATE.sub("\ufffd", text))
    return run


# ---- key formats of the catalogue ------------------------------------------------------------


class _Shapes:
    """One catalogue's self-identifying key formats, matched only where one of their literal
    prefixes occurs: the alternation tried at every position of a large report is ~100x slower."""

    def __init__(self, regex: Callable[[], re.Pattern[str]], prefixes: Iterable[str],
                 unprefixed: list[re.Pattern[str]]):
        self._regex_of = regex  # compiled on the first prefix found: most texts hold none
        self._regex: re.Pattern[str] | None = None
        self.literals = sorted({p for p in prefixes if p})
        self.unprefixed = unprefixed
        if ahocorasick_rs is not None and self.literals:
            ac = ahocorasick_rs.AhoCorasick(self.literals)
            self._starts = _encodable(
                lambda text: sorted({s for _, s, _ in ac.find_matches_as_indexes(text, overlapping=True)}))
        else:
            alternation = re.compile("(?=(?:" + "|".join(map(re.escape, self.literals)) + "))") if self.literals else None
            self._starts = lambda text: [m.start() for m in alternation.finditer(text)] if alternation else []

    def spans(self, text: str, starts: list[int] | None = None) -> Spans:
        """The key-shaped spans of ``text``; ``starts``: where its literal prefixes are, if known."""
        out: Spans = []
        end = 0
        for start in self._starts(text) if starts is None else starts:
            if start < end:
                continue
            if self._regex is None:
                self._regex = self._regex_of()
            m = self._regex.match(text, start)
            if m and m.end() > start:
                out.append((start, m.end()))
                end = m.end()
        for rx in self.unprefixed:
            out += [m.span() for m in rx.finditer(text) if m.end() > m.start()]
        return out


def use_catalog(catalog: "Catalog") -> None:
    """Scrub every self-identifying key format of ``catalog`` (the built-in one is always used)."""
    global _state, _generation
    formats = [k for k in catalog.key_formats if not k.context_only]
    source = catalog.key_regex_source
    with _lock:
        if source in _shape_sources:
            return
        _shape_sources.add(source)
        _shapes.append(_Shapes(lambda: catalog.key_regex, (p for k in formats for p in k.prefixes),
                               [k.regex for k in formats if not k.prefixes]))
        _state = None
        _generation += 1


def _ensure_builtin() -> None:
    global _builtin_loaded
    if _builtin_loaded:
        return
    with _builtin_lock:
        if not _builtin_loaded:
            from scanner.catalog import Catalog  # here: the catalogue module is heavier than this one
            use_catalog(Catalog.load())
            _builtin_loaded = True


def add_patterns(patterns: list[re.Pattern[str]]) -> None:
    """More key-format regexes: anything they match is scrubbed too (a catalogue's own
    ``key_regex`` is better given through :func:`use_catalog`, which matches it fast)."""
    global _generation
    _ensure_builtin()
    with _lock:
        new = [p for p in patterns if p not in _extra_patterns and p.pattern not in _shape_sources]
        _extra_patterns.extend(new)
        _generation += bool(new)


# ---- the compiled matchers -------------------------------------------------------------------


def _secret_matcher(secrets: list[str]) -> Callable[[str], Spans]:
    """Leftmost-longest, non-overlapping occurrences of any of ``secrets``."""
    if ahocorasick_rs is not None and not any(_SURROGATE.search(s) for s in secrets):
        ac = ahocorasick_rs.AhoCorasick(secrets, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
        return _encodable(lambda text: [(s, e) for _, s, e in ac.find_matches_as_indexes(text)])
    rx = re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))
    return lambda text: [m.span() for m in rx.finditer(text)]


class _Compiled:
    """Every key-format prefix and every compiled secret in one bytes automaton, which tells in
    one fast pass whether a text holds either; the exact matchers run only when it does."""

    def __init__(self, shapes: list[_Shapes], secrets: list[str]) -> None:
        self.shapes = shapes
        self.secrets = _secret_matcher(secrets) if secrets else None
        literals = sorted({lit for sh in shapes for lit in sh.literals})
        self.n_literals = len(literals)
        # for each literal, the shapes it is a prefix of
        self.shapes_of = [[k for k, sh in enumerate(shapes) if lit in sh.literals] for lit in literals]
        needles = [x.encode("utf-8", "surrogatepass") for x in literals + secrets]
        self.ac = ahocorasick_rs.BytesAhoCorasick(needles) if ahocorasick_rs is not None and needles else None
        self.always_shapes = self.ac is None or any(sh.unprefixed for sh in shapes)

    def which(self, text: str, data: bytes | None = None) -> tuple[bool, bool, list[list[int]] | None]:
        """(may hold a key shape, may hold a remembered secret, where in ``text`` each shape's
        literal prefixes start — None without the automaton); ``data``: ``text`` in UTF-8, if at hand."""
        if self.ac is None:
            return bool(self.shapes), self.secrets is not None, None
        if data is None:
            data = text.encode("utf-8", "surrogatepass")
        found = self.ac.find_matches_as_indexes(data, overlapping=True)
        n = self.n_literals
        shaped = [(i, s) for i, s, _ in found if i < n]
        has_shapes = (self.always_shapes and bool(self.shapes)) or bool(shaped)
        if shaped:  # each shape's starts, as offsets in ``text``: no second pass over it to find them
            offset = _char_offsets(data, sorted({s for _, s in shaped}), text.isascii())
            per_shape: list[set[int]] = [set() for _ in self.shapes]
            for i, s in shaped:
                for k in self.shapes_of[i]:
                    per_shape[k].add(offset[s])
            starts = [sorted(p) for p in per_shape]
        else:  # no prefix anywhere (the regexes without one still run)
            starts = [[] for _ in self.shapes]
        return has_shapes, len(shaped) < len(found), starts


def _char_offsets(data: bytes, starts: list[int], ascii_only: bool) -> dict[int, int]:
    """The character offset of each byte offset ``starts`` (ascending, each at a character's
    first byte) in the UTF-8 text ``data``: the bytes between two are decoded, so once in all."""
    if ascii_only:
        return {s: s for s in starts}
    out: dict[int, int] = {}
    chars = last = 0
    for s in starts:
        chars += len(data[last:s].decode("utf-8", "surrogatepass"))
        out[s] = chars
        last = s
    return out


def _compiled() -> tuple[_Compiled, list[str]]:
    """The compiled matchers and the secrets remembered since they were built.

    Rebuilding on every new secret would make a scan with many keys quadratic, so the
    secrets are recompiled only when the pending list has grown past the compiled set;
    until then pending secrets are checked with plain substring tests.
    """
    global _state, _compiled_secrets
    _ensure_builtin()
    with _lock:
        if _pending and len(_pending) > max(64, len(_compiled_secrets)):
            _compiled_secrets = sorted(_seen)
            _pending.clear()
            _state = None
        if _state is None:
            _state = _Compiled(list(_shapes), _compiled_secrets)
        return _state, list(_pending)


# ---- scrubbing -------------------------------------------------------------------------------


def _replace(text: str, spans: Spans) -> str:
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        out += (text[last:start], preview(text[start:end]))
        last = end
    return "".join(out) + text[last:] if out else text


def scrub(text: str) -> str:
    """Replace every remembered secret and every key-shaped string in ``text`` by its preview,
    and a URL's password by ``***``."""
    if not text:
        return text
    state, pending = _compiled()
    for secret in sorted(pending, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, preview(secret))
    shapes, secrets, starts = state.which(text)
    if secrets and state.secrets is not None:
        text = _replace(text, state.secrets(text))
        starts = None  # the text changed
    if shapes:
        for k, sh in enumerate(state.shapes):
            before = text
            text = _replace(text, sh.spans(text, starts[k] if starts is not None else None))
            if text is not before:  # offsets moved: the next shape looks for its own prefixes
                starts = None
    for pattern in _extra_patterns:
        text = _replace(text, [m.span() for m in pattern.finditer(text) if m.end() > m.start()])
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1***", text)
    return text


def _hits(text: str, data: bytes | None = None) -> Spans:
    """Where :func:`scrub` would change ``text`` (spans found independently: enough to know which
    part of a long text needs scrubbing); ``data``: ``text`` in UTF-8, if at hand."""
    state, pending = _compiled()
    spans: Spans = []
    for secret in pending:
        start = text.find(secret)
        while start >= 0:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    shapes, secrets, starts = state.which(text, data)
    if secrets and state.secrets is not None:
        spans += state.secrets(text)
    if shapes:
        for k, sh in enumerate(state.shapes):
            spans += sh.spans(text, starts[k] if starts is not None else None)
    for pattern in _extra_patterns:
        spans += [m.span() for m in pattern.finditer(text) if m.end() > m.start()]
    if "://" in text:
        spans += [m.span() for m in _URL_PASSWORD.finditer(text)]
    return spans


def would_change(text: str, data: bytes | None = None) -> bool:
    """Whether :func:`scrub` would change anything in ``text`` (cheaper than scrubbing it);
    ``data``: ``text`` in UTF-8, if at hand."""
    return bool(_hits(text, data))


# ---- whole inventories -----------------------------------------------------------------------
#
# An inventory holds millions of short strings. Scrubbing each would cost a call apiece, so
# each list of objects is scanned as one text (its strings joined by newlines, which no key
# format and no URL password can cross); only the objects under a hit are then scrubbed one
# string at a time. Ids are kept: they are hashes of the raw values and reveal nothing.


def _tree_strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                out.append(k)
            _tree_strings(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _tree_strings(v, out)


def _scrub_tree(value: Any, fix: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, dict):
        return {fix(k) if isinstance(k, str) else k: _scrub_tree(v, fix) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_tree(v, fix) for v in value]
    return value


_FINDING_TEXT = ("detector", "kind", "evidence", "provider", "model", "observed_at", "currency", "period", "unit",
                 "endpoint")
_AGENT_TEXT = ("name", "approved_id", "first_seen", "last_seen", "remediation")
_AGENT_LISTS = ("identity", "providers", "models", "owners", "detectors", "kinds", "locations")


def _finding_strings(f: "Finding", out: list[str]) -> None:
    out += [v for v in vars(f).values() if type(v) is str]
    out += f.identity
    out += [v for v in vars(f.location).values() if type(v) is str]
    if f.details:
        _tree_strings(f.details, out)
    if f.tags:
        _tree_strings(f.tags, out)


def _fix_finding(f: "Finding", fix: Callable[[str], str]) -> None:
    for name in _FINDING_TEXT:
        value = getattr(f, name)
        if isinstance(value, str):
            setattr(f, name, fix(value))
    f.identity = sorted({fix(k) for k in f.identity})
    f.details = _scrub_tree(f.details, fix)
    f.tags = _scrub_tree(f.tags, fix)
    loc = f.location
    changed = {n: fix(v) for n, v in vars(loc).items() if isinstance(v, str)}
    if any(v != getattr(loc, n) for n, v in changed.items()):
        f.location = replace(loc, **changed)


def _agent_strings(a: Any, out: list[str]) -> None:
    for name in _AGENT_TEXT:
        value = getattr(a, name)
        if isinstance(value, str):
            out.append(value)
    for name in _AGENT_LISTS:
        out += getattr(a, name)
    for r in a.reasons:
        out += (r.code, r.message)


def _fix_agent(a: Any, fix: Callable[[str], str]) -> None:
    for name in _AGENT_TEXT:
        if isinstance(getattr(a, name), str):
            setattr(a, name, fix(getattr(a, name)))
    for name in _AGENT_LISTS:
        setattr(a, name, [fix(v) if isinstance(v, str) else v for v in getattr(a, name)])
    for r in a.reasons:
        r.code, r.message = fix(r.code), fix(r.message)


def _coverage_strings(c: Any, out: list[str]) -> None:
    out += [v for v in (c.detector, c.reason, c.host) if isinstance(v, str)]
    for g in c.gaps:
        out += (g.what, g.reason)


def _fix_coverage(c: Any, fix: Callable[[str], str]) -> None:
    c.detector = fix(c.detector)
    c.reason = fix(c.reason) if c.reason else c.reason
    c.host = fix(c.host) if c.host else c.host
    for g in c.gaps:
        g.what, g.reason = fix(g.what), fix(g.reason)


SCRUB_BATCH = 4096  # objects scanned as one text: a million findings are not joined into one string


def _scrub_objects(objects: list[Any], strings: Callable[[Any, list[str]], None],
                   fix: Callable[[Any, Callable[[str], str]], None]) -> None:
    for start in range(0, len(objects), SCRUB_BATCH):
        _scrub_batch(objects[start:start + SCRUB_BATCH], strings, fix)


def _scrub_batch(objects: list[Any], strings: Callable[[Any, list[str]], None],
                 fix: Callable[[Any, Callable[[str], str]], None]) -> None:
    if not objects:
        return
    texts: list[str] = []
    last: list[int] = []  # index in ``texts`` of each object's last string (-1: none yet)
    for obj in objects:
        strings(obj, texts)
        last.append(len(texts) - 1)
    try:
        joined = "\n".join(texts)
    except TypeError:  # a number where a string belongs (a hand-edited inventory)
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        joined = "\n".join(texts)
    hits = _hits(joined)
    if not hits:
        return
    text_ends = list(accumulate(len(t) + 1 for t in texts))  # offset just past each string
    ends = [text_ends[i] if i >= 0 else 0 for i in last]
    for index in sorted({bisect.bisect_right(ends, start) for start, _ in hits}):
        if index < len(objects):
            fix(objects[index], scrub)


def scrub_findings(findings: list["Finding"]) -> None:
    """Scrub every string of ``findings`` in place; their ids are kept."""
    _scrub_objects(findings, _finding_strings, _fix_finding)


def load_key_formats() -> None:
    """Make sure the built-in catalogue's key formats are known (what :func:`scrub_inventory` does first)."""
    _ensure_builtin()


def scrub_agents(agents: list["Agent"]) -> None:
    """Scrub every string of ``agents`` in place (a saved inventory's, read a batch at a time)."""
    _ensure_builtin()
    _scrub_objects(agents, _agent_strings, _fix_agent)


def scrub_inventory(inventory: "Inventory") -> "Inventory":
    """Scrub every string of ``inventory`` in place — agents, findings, coverage, metadata — and
    return it. An inventory scrubbed since the last secret or key format was added is left as is."""
    _ensure_builtin()
    if getattr(inventory, "_redacted_at", None) == _generation:
        return inventory
    scrub_findings(inventory.findings)
    _scrub_objects(inventory.agents, _agent_strings, _fix_agent)
    _scrub_objects(inventory.coverage, _coverage_strings, _fix_coverage)
    meta: list[str] = []
    _tree_strings(inventory.metadata, meta)
    if meta and _hits("\n".join(meta)):
        inventory.metadata = _scrub_tree(inventory.metadata, scrub)
    inventory._redacted_at = _generation  # type: ignore[attr-defined]
    return inventory
