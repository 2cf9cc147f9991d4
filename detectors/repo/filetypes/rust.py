"""Rust source: catalogue crates in ``use`` and ``extern crate`` lines, else in qualified paths."""

from __future__ import annotations

import re

from detectors.repo.filetypes.base import FileView, Hit, Lines, keyword_lines, usage_hit
from detectors.repo.rules import Rules

# use x::…; pub(crate) use ::x; use {x::a, y::b}; extern crate x;  (group 1: crate or {…} list, group 2: extern)
_RUST_USE = re.compile(rb"[ \t]*(?:#\[[^\]\n]*\][ \t]*)?(?:pub(?:\([^)\n]*\))?[ \t]+)?"
                       rb"(?:use[ \t]+(?:::)?(\{[^;]{0,2000}|[A-Za-z_]\w*)|extern[ \t]+crate[ \t]+([A-Za-z_]\w*))")
_RUST_LIST_ITEM = re.compile(rb"[{,]\s*(?:::)?([A-Za-z_]\w*)")
_LINE_COMMENT = re.compile(rb"[ \t]*//")


def applies(f: FileView) -> bool:
    return f.ext == ".rs"


def scan(f: FileView) -> list[Hit]:
    return rust_imports(f.rules, f.data, f.lines)


def rust_imports(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    """Catalogue crates in ``use`` and ``extern crate`` lines, else in qualified paths (``async_openai::Client``)."""
    if not rules.rust_crates:
        return []
    out: dict[str, Hit] = {}
    for keyword in (b"use", b"extern"):
        for line_start in keyword_lines(lines, keyword):
            m = _RUST_USE.match(data, line_start)
            if not m:
                continue
            listed = m.group(1) or m.group(2)
            for name in _RUST_LIST_ITEM.findall(listed) if listed.startswith(b"{") else [listed]:
                crate = name.decode("ascii")
                t = rules.rust_crates.get(crate)
                if t and t.name not in out:
                    out[t.name] = usage_hit(t, lines.of(m.start()), "rust", crate)
    for crate, t in rules.rust_crates.items():
        if t.name not in out:
            pos = _rust_path(lines, crate.encode("ascii"))
            if pos >= 0:
                out[t.name] = usage_hit(t, lines.of(pos), "rust", crate)
    return list(out.values())


def _rust_path(lines: Lines, crate: bytes) -> int:
    """Offset of the first ``crate::…`` path outside a ``//`` comment; -1 if none or the file has a ``mod crate``."""
    data = lines.data
    pos = data.find(crate + b"::")
    while pos >= 0:
        before = data[pos - 1:pos]
        if not (before.isalnum() or before in (b"_", b":")):
            if not _LINE_COMMENT.match(data, lines.start(pos)):
                return -1 if re.search(rb"\bmod\s+" + re.escape(crate) + rb"\b", data) else pos
            pos = data.find(crate + b"::", lines.end(pos) + 1)  # the rest of a comment line is comment
            continue
        pos = data.find(crate + b"::", pos + 1)
    return -1
