"""What every file-type family shares: the hit record, line numbers, and the view of one file."""

from __future__ import annotations

import posixpath
import re
from bisect import bisect_right
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, Iterator

from detectors.repo.places import Comments, is_ci, path_place
from detectors.repo.rules import Anchors, Rules, Target

PY_EXT = {".py", ".pyi", ".ipynb"}
JS_EXT = {".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx", ".vue", ".svelte"}
# Not a finding: a file's note of the top-level modules it imports (name → line), for the parent to
# tell this repository's own packages from SDKs (detectors/repo/layout.py).
IMPORTS_NOTE = "module-imports"
CODE_EXT = PY_EXT | JS_EXT | {".go", ".rs", ".java", ".kt", ".rb", ".php", ".cs", ".swift", ".scala", ".sh",
                              ".bash", ".zsh", ".ps1"}
CONFIG_EXT = {".yaml", ".yml", ".json", ".toml", ".ini", ".cfg", ".conf", ".tfvars", ".tf", ".hcl", ".env",
              ".properties", ".xml"}


@dataclass
class Hit:
    """One thing found in a file; ``secret`` is the raw value of a credential (parent redacts it)."""

    kind: str
    line: int
    provider: str | None = None
    model: str | None = None
    secret: str | None = None
    key_type: str | None = None
    admin: bool = False
    label: str = ""
    confidence: str = "medium"
    details: dict[str, Any] = field(default_factory=dict)
    span: tuple[int, int] | None = None  # a credential's offsets in the bytes scanned (for masking)
    pos: int = -1  # offset in the file, when the hit has one (for telling comments from code)
    keys: tuple[str, ...] = ()  # identity keys the evidence carries itself (an Azure OpenAI account's endpoint)
    endpoint: str | None = None  # the URL the evidence names (Finding.endpoint)
    place: str | None = None  # set by content.scan_bytes: code, example, config, ci, test, docs or comment

    def __reduce__(self) -> tuple[type, tuple]:
        """Pickled as its fields in order: a worker sends thousands, and the default (a class, then a
        dict of attributes set one by one) took twice as long to load in the parent."""
        return Hit, tuple(getattr(self, name) for name in _HIT_FIELDS)


_HIT_FIELDS = tuple(f.name for f in fields(Hit))


class Lines:
    """Offset → line number and line bounds.

    Line bounds are found by a short local search, and past that from one index of line
    starts (a binary search): scanning back to a newline from each hit would cost the
    length of the line per hit, so one long line with many hits would be quadratic.
    """

    LOCAL = 512  # bytes searched around an offset before the index is built and used

    def __init__(self, data: bytes):
        self.data = data
        self._starts: list[int] | None = None
        self._counted = 0

    @property
    def starts(self) -> list[int]:
        """Offsets just after each newline (the start of every line but the first)."""
        if self._starts is None:
            self._starts = [m.end() for m in re.finditer(rb"\n", self.data)]
        return self._starts

    def of(self, pos: int) -> int:
        if self._starts is None:  # a few lookups, or ones near the top (imports), cost less than the index
            self._counted += 1
            if pos < 4096 or self._counted <= 8:
                return self.data.count(b"\n", 0, pos) + 1
        return bisect_right(self.starts, pos) + 1

    def start(self, pos: int) -> int:
        """Offset of the first byte of the line holding ``pos``."""
        lo = pos - self.LOCAL
        nl = self.data.rfind(b"\n", max(0, lo), pos)
        if nl >= 0 or lo <= 0:
            return nl + 1
        i = bisect_right(self.starts, pos)
        return self.starts[i - 1] if i else 0

    def end(self, pos: int) -> int:
        """Offset of the newline that ends the line holding ``pos`` (``len(data)`` on the last line)."""
        hi = pos + self.LOCAL
        nl = self.data.find(b"\n", pos, hi)
        if nl >= 0:
            return nl
        if hi >= len(self.data):
            return len(self.data)
        i = bisect_right(self.starts, pos)
        return self.starts[i] - 1 if i < len(self.starts) else len(self.data)


@dataclass
class FileView:
    """One file as the families see it; ``hits`` holds what the families before this one found.

    The language families also leave here what the families after them need: which names
    are bound to LLM clients (``llm_names``) and where those are called (``client_calls``).
    """

    rules: Rules
    rel: str  # path inside its repository, posix separators
    data: bytes
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = posixpath.basename(self.rel)
        self.ext = posixpath.splitext(self.name)[1].lower()
        self.lines = Lines(self.data)
        self.anchors: Anchors = self.rules.anchor_positions(self.data)
        self.ci = is_ci(self.rel)
        self.llm_names: dict[str, Target] = {}  # names bound to LLM clients imported here
        self.client_calls = Spans()  # argument lists of calls of those names
        self.client_args: set[bytes] = set()  # identifiers passed in those calls
        self.llm_used = False  # an LLM client is used here (Go and Rust say so without call spans)
        self._comments: Comments | None = None

    @cached_property
    def place(self) -> str:
        """Where the file sits (code, example, config, ci, test, docs): asked only of files with hits."""
        return path_place(self.rel, code=self.ext in CODE_EXT, ci=self.ci)

    @property
    def code_or_config(self) -> bool:
        return self.ext in CODE_EXT or self.ext in CONFIG_EXT or self.name.startswith(".env")

    def is_comment_at(self, pos: int) -> bool:
        """Is ``pos`` in a comment, a docstring or multi-line string, or a notebook's Markdown?"""
        if self._comments is None:
            self._comments = Comments(self.data, self.ext if self.ext or self.name.startswith(".env") else "",
                                      self.lines.start)
        return self._comments.at(pos)

    @property
    def calls_llm(self) -> bool:
        """Does code in this file call a name bound to an LLM client?"""
        return self.llm_used or bool(self.client_calls)


class Spans:
    """Disjoint, sorted (start, end) byte ranges; membership by binary search."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def __bool__(self) -> bool:
        return bool(self.starts)

    @property
    def last_end(self) -> int:
        return self.ends[-1] if self.ends else -1

    def add(self, start: int, end: int) -> None:
        """Append a range that starts after every range so far (callers add in order)."""
        self.starts.append(start)
        self.ends.append(end)

    def holds(self, pos: int) -> bool:
        i = bisect_right(self.starts, pos) - 1
        return i >= 0 and pos < self.ends[i]


CALL_REACH = 4000  # bytes of an argument list read for its closing parenthesis
_PAREN = re.compile(rb"[()]")
_IDENT = re.compile(rb"[A-Za-z_$][\w$]*")


_ERROR_CLASS = re.compile(rb"[A-Z]\w*(?:Error|Exception|Warning)")


def may_be_client(name: bytes) -> bool:
    """Can calling this imported name make a client? Not an exception class (``ApiError``,
    ``OpenAIError``): raising one is error handling, not a call to a model."""
    return _ERROR_CLASS.fullmatch(name) is None


def record_calls(f: FileView, call_rx: re.Pattern[bytes], names: dict[bytes, Target]) -> set[bytes]:
    """Find calls of ``names`` (group 1 of ``call_rx`` is the first name of a call chain) outside
    comments; note each call's argument list in ``f.client_calls`` when its name is an LLM client.
    Returns the names called. Linear: a call inside an argument list already read is not read again.
    """
    called: set[bytes] = set()
    if not names:
        return called
    data = f.data
    for m in call_rx.finditer(data):
        name = m.group(1)
        if name not in names or f.is_comment_at(m.start()):
            continue
        called.add(name)
        open_at = m.end() - 1
        if name.decode("ascii", "replace") not in f.llm_names or open_at < f.client_calls.last_end:
            continue
        close = _closing(data, open_at)
        f.client_calls.add(open_at, close)
        f.client_args.update(_IDENT.findall(data, open_at, close))
    return called


def _closing(data: bytes, open_at: int) -> int:
    """Offset just past the ``)`` that closes the ``(`` at ``open_at`` (at most CALL_REACH bytes on)."""
    depth = 0
    for m in _PAREN.finditer(data, open_at, open_at + CALL_REACH):
        depth += 1 if m.group() == b"(" else -1
        if depth == 0:
            return m.end()
    return min(len(data), open_at + CALL_REACH)


def import_hit(f: FileView, t: Target, pos: int, language: str, imported: str, module: str,
               called: bool) -> Hit:
    """An import of a catalogue SDK or framework, of the kind its use in this file makes it.

    sdk-usage / framework: imported and called here, and calling it calls a model (the catalogue
    says which frameworks do); mcp-server: an MCP server built here; else sdk-import /
    framework-import, which only describe.
    """
    catalog = f.rules.catalog
    details: dict[str, Any] = {"import": imported, "language": language}
    if called and _types_module(module, language):
        called = False  # openai.types.ChatCompletionMessage(...) builds a value, not a client
    if t.framework:
        details["framework"] = t.framework
        fw = catalog.frameworks.get(t.framework)
        if called and fw is not None and fw.calls_model(language, module):
            f.llm_used = True
        if fw is not None and called and fw.serves_mcp(language, module):
            kind, label = "mcp-server", f"builds an MCP server with {imported}"
            details["implementation"] = True
        elif fw is not None and called and fw.calls_model(language, module):
            kind, label = "framework", f"calls {imported}"
        else:
            kind, label = "framework-import", f"imports {imported}"
    else:
        provider = catalog.providers.get(t.provider or "")
        if called and provider is not None and provider.kind != "observability":
            kind, label = "sdk-usage", f"calls {imported}"
            f.llm_used = True
        else:
            kind, label = "sdk-import", f"imports {imported}"
    return Hit(kind, f.lines.of(pos), provider=t.provider, confidence="high" if called else "medium", label=label,
               details=details, pos=pos)


_KIND_RANK = {"mcp-server": 3, "sdk-usage": 2, "framework": 2, "sdk-import": 1, "framework-import": 1}


def strongest_import_hit(f: FileView, t: Target, imports: list[tuple[str, int, bool]], language: str) -> Hit:
    """One hit for catalogue target ``t`` imported as ``imports`` — (module, offset, a name it bound is
    called) — of the strongest kind any of them makes (building an MCP server, then a call, then an import)."""
    hits = [import_hit(f, t, pos, language, module, module, called) for module, pos, called in imports]
    return max(enumerate(hits), key=lambda ih: (_KIND_RANK.get(ih[1].kind, 0), -ih[0]))[1]


# Submodules of an SDK or framework whose exports are values, tools or plumbing, not model clients.
_NOT_CLIENT_SEGMENTS = frozenset({"types", "type", "typing", "_types", "typings", "memory", "tools", "tool",
                                  "schema", "schemas", "exceptions", "errors", "utils", "prompts", "callbacks"})


def _types_module(module: str, language: str) -> bool:
    """A module of data types, tools or plumbing (``openai.types.responses``, ``strands.memory``,
    ``crewai.tools``): calling what it exports builds values, not clients."""
    return bool(_NOT_CLIENT_SEGMENTS & set(re.split(r"[./]", module)[1:]))


def is_llm_client(f: FileView, t: Target, language: str, module: str) -> bool:
    """Is a name imported from ``module`` (catalogue target ``t``) an LLM client when called?"""
    if _types_module(module, language):
        return False
    catalog = f.rules.catalog
    if t.framework:
        fw = catalog.frameworks.get(t.framework)
        return fw is not None and fw.calls_model(language, module)
    provider = catalog.providers.get(t.provider or "")
    return provider is not None and provider.kind != "observability"


def keyword_lines(lines: Lines, keyword: bytes) -> Iterator[int]:
    """Start offsets of the distinct lines that contain ``keyword`` (literal search, one visit per line)."""
    data = lines.data
    pos = data.find(keyword)
    while pos >= 0:
        yield lines.start(pos)
        pos = data.find(keyword, lines.end(pos) + 1)  # the rest of this line is done


