"""Go source: catalogue module paths in imports (single imports and ``import ( … )`` blocks alike).

Go refuses to compile an unused import, so an imported SDK is an SDK in use, except a
blank import (``_ "…"``), which only runs the package's init.
"""

from __future__ import annotations

import re

from detectors.repo.filetypes.base import FileView, Hit, import_hit

_GO_IMPORT = re.compile(rb"\"([a-z0-9-]+(?:\.[a-z0-9-]+)+/[^\"\s]{1,200})\"")  # "host.tld/path" module paths
_BLANK = re.compile(rb"_[ \t]+\Z")


def applies(f: FileView) -> bool:
    return f.ext == ".go"


def scan(f: FileView) -> list[Hit]:
    out: dict[str, Hit] = {}
    data = f.data
    if b"import" not in data:
        return []
    for m in _GO_IMPORT.finditer(data):
        spec = m.group(1).decode("utf-8", "replace")
        t = f.rules.package_target("go", spec)
        if t and t.name not in out:
            used = not _BLANK.search(data, max(0, m.start() - 8), m.start())
            out[t.name] = import_hit(f, t, m.start(), "go", spec, spec, used)
    return list(out.values())
