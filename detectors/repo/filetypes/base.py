"""What every file-type family shares: the hit record, line numbers, and the view of one file."""

from __future__ import annotations

import posixpath
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Iterator

from detectors.repo.rules import Anchors, Rules

PY_EXT = {".py", ".pyi", ".ipynb"}
JS_EXT = {".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx", ".vue", ".svelte"}
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

    @property
    def starts(self) -> list[int]:
        """Offsets just after each newline (the start of every line but the first)."""
        if self._starts is None:
            self._starts = [m.end() for m in re.finditer(rb"\n", self.data)]
        return self._starts

    def of(self, pos: int) -> int:
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
    """One file as the families see it; ``hits`` holds what the families before this one found."""

    rules: Rules
    rel: str  # path inside its repository, posix separators
    data: bytes
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = posixpath.basename(self.rel)
        self.ext = posixpath.splitext(self.name)[1].lower()
        self.lines = Lines(self.data)
        self.anchors: Anchors = self.rules.anchor_positions(self.data)

    @property
    def code_or_config(self) -> bool:
        return self.ext in CODE_EXT or self.ext in CONFIG_EXT or self.name.startswith(".env")


def keyword_lines(lines: Lines, keyword: bytes) -> Iterator[int]:
    """Start offsets of the distinct lines that contain ``keyword`` (literal search, one visit per line)."""
    data = lines.data
    pos = data.find(keyword)
    while pos >= 0:
        yield lines.start(pos)
        pos = data.find(keyword, lines.end(pos) + 1)  # the rest of this line is done


def usage_hit(t, line: int, language: str, imported: str) -> Hit:  # type: ignore[no-untyped-def]
    """An import of a catalogue SDK or framework (``t`` is a :class:`~detectors.repo.rules.Target`)."""
    kind = "framework" if t.framework else "sdk-usage"
    return Hit(kind, line, provider=t.provider, confidence="high", label=f"imports {imported}",
               details={"import": imported, "language": language, **({"framework": t.framework} if t.framework else {})})
