"""Go source: catalogue module paths in imports (single imports and ``import ( … )`` blocks alike)."""

from __future__ import annotations

import re

from detectors.repo.filetypes.base import FileView, Hit, Lines, usage_hit
from detectors.repo.rules import Rules

_GO_IMPORT = re.compile(rb"\"([a-z0-9-]+(?:\.[a-z0-9-]+)+/[^\"\s]{1,200})\"")  # "host.tld/path" module paths


def applies(f: FileView) -> bool:
    return f.ext == ".go"


def scan(f: FileView) -> list[Hit]:
    return go_imports(f.rules, f.data, f.lines)


def go_imports(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    out: dict[str, Hit] = {}
    if b"import" not in data:
        return []
    for m in _GO_IMPORT.finditer(data):
        spec = m.group(1).decode("utf-8", "replace")
        t = rules.package_target("go", spec)
        if t and t.name not in out:
            out[t.name] = usage_hit(t, lines.of(m.start()), "go", spec)
    return list(out.values())
