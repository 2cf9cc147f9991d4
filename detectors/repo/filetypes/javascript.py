"""JavaScript and TypeScript: catalogue SDK and framework imports (``import``, ``require``, dynamic ``import()``)."""

from __future__ import annotations

import re

from detectors.repo.filetypes.base import JS_EXT, FileView, Hit, Lines, usage_hit
from detectors.repo.rules import Rules

_JS_IMPORT = re.compile(rb"(?:from[ \t]*|require\([ \t]*|import\([ \t]*|import[ \t]+)[\"']([^\"'\n]{1,200})[\"']")


def applies(f: FileView) -> bool:
    return f.ext in JS_EXT


def scan(f: FileView) -> list[Hit]:
    return js_imports(f.rules, f.data, f.lines)


def js_imports(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    out: dict[str, Hit] = {}
    for keyword in (b"from", b"require", b"import"):
        pos = data.find(keyword)
        while pos >= 0:
            m = _JS_IMPORT.match(data, pos)
            pos = data.find(keyword, pos + len(keyword))
            if not m:
                continue
            spec = m.group(1).decode("utf-8", "replace")
            t = rules.js_target(spec)
            if t and t.name not in out:
                out[t.name] = usage_hit(t, lines.of(m.start()), "javascript", spec)
    return list(out.values())
