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


class Lines:
    """Offset → line number, built only when the first hit needs it."""

    def __init__(self, data: bytes):
        self.data = data
        self._starts: list[int] | None = None

    def of(self, pos: int) -> int:
        if self._starts is None:
            self._starts = [m.end() for m in re.finditer(rb"\n", self.data)]
        return bisect_right(self._starts, pos) + 1


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


def keyword_lines(data: bytes, keyword: bytes) -> Iterator[int]:
    """Start offsets of the distinct lines that contain ``keyword`` (literal search: fast)."""
    last = -1
    pos = data.find(keyword)
    while pos >= 0:
        line_start = data.rfind(b"\n", 0, pos) + 1
        if line_start != last:
            last = line_start
            yield line_start
        pos = data.find(keyword, pos + len(keyword))


def usage_hit(t, line: int, language: str, imported: str) -> Hit:  # type: ignore[no-untyped-def]
    """An import of a catalogue SDK or framework (``t`` is a :class:`~detectors.repo.rules.Target`)."""
    kind = "framework" if t.framework else "sdk-usage"
    return Hit(kind, line, provider=t.provider, confidence="high", label=f"imports {imported}",
               details={"import": imported, "language": language, **({"framework": t.framework} if t.framework else {})})
