"""Rust source: catalogue crates in ``use`` and ``extern crate`` lines, else in qualified paths,
and whether this file calls what it takes from them (``Client::new()``, ``async_openai::Client::new()``)."""

from __future__ import annotations

import re

from detectors.repo.filetypes.base import FileView, Hit, Lines, import_hit, keyword_lines, record_calls
from detectors.repo.rules import Target

# use x::…; pub(crate) use ::x; use {x::a, y::b}; extern crate x;  (group 1: crate or {…} list, group 2: extern)
_RUST_USE = re.compile(rb"[ \t]*(?:#\[[^\]\n]*\][ \t]*)?(?:pub(?:\([^)\n]*\))?[ \t]+)?"
                       rb"(?:use[ \t]+(?:::)?(\{[^;]{0,2000}|[A-Za-z_]\w*)|extern[ \t]+crate[ \t]+([A-Za-z_]\w*))")
_RUST_LIST_ITEM = re.compile(rb"[{,]\s*(?:::)?([A-Za-z_]\w*)")
_USE_REST = re.compile(rb"[^;]{0,2000}")
_USED_NAME = re.compile(rb"(?:\bas\s+)?([A-Za-z_]\w*)\s*(?=[,;}]|$)")
_LINE_COMMENT = re.compile(rb"[ \t]*//")
_CALL = re.compile(rb"(?<![\w:.])([A-Za-z_]\w*)(?:\s*(?:::|\.)\s*[A-Za-z_]\w*)*\s*(?:::\s*<[^<>()]{0,200}>\s*)?\(")


def applies(f: FileView) -> bool:
    return f.ext == ".rs"


def scan(f: FileView) -> list[Hit]:
    """Catalogue crates in ``use`` and ``extern crate`` lines, else in qualified paths (``async_openai::Client``)."""
    rules, data = f.rules, f.data
    if not rules.rust_crates:
        return []
    found: dict[str, tuple[Target, int, str]] = {}
    names: dict[bytes, Target] = {}
    for keyword in (b"use", b"extern"):
        for line_start in keyword_lines(f.lines, keyword):
            m = _RUST_USE.match(data, line_start)
            if not m:
                continue
            listed = m.group(1) or m.group(2)
            for name in _RUST_LIST_ITEM.findall(listed) if listed.startswith(b"{") else [listed]:
                crate = name.decode("ascii")
                t = rules.rust_crates.get(crate)
                if t is None:
                    continue
                found.setdefault(t.name, (t, m.start(), crate))
                names[name] = t
                if listed.startswith(b"{"):  # use {x::a, ollama_rs::{Ollama, …}}: its names, roughly
                    rest = listed[listed.find(name):]
                else:
                    match = _USE_REST.match(data, m.end(1) if m.group(1) else m.end(2))
                    rest = match.group(0) if match else b""
                for used in _USED_NAME.findall(rest):
                    names.setdefault(used, t)  # use async_openai::{Client, config::OpenAIConfig}
    for crate, t in rules.rust_crates.items():
        if t.name not in found:
            pos = _rust_path(f.lines, crate.encode("ascii"))
            if pos >= 0:
                found[t.name] = (t, pos, crate)
                names[crate.encode("ascii")] = t
    if not found:
        return []
    for name, t in names.items():
        if t.framework is None and t.provider:
            f.llm_names[name.decode("ascii", "replace")] = t
    called = record_calls(f, _CALL, names)
    return [import_hit(f, t, pos, "rust", crate, crate, any(n in called for n, nt in names.items() if nt == t))
            for t, pos, crate in found.values()]


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
