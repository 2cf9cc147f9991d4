"""Python source: catalogue SDK and framework imports, and cloud clients made for a provider service."""

from __future__ import annotations

import re

from detectors.repo.filetypes.base import FileView, Hit, Lines, keyword_lines, usage_hit
from detectors.repo.rules import Rules

EXTENSIONS = (".py", ".pyi")
_PY_IMPORT = re.compile(
    rb"[ \t]*\"?[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b|import[ \t]+([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*))",
    re.M)
# a cloud SDK's generic client factory: boto3.client("bedrock-runtime"), session.client(service_name='…')
_SDK_CLIENT = re.compile(rb"\bclient\(\s*(?:service_name\s*=\s*)?[\"']([a-z0-9-]{2,60})[\"']")


def applies(f: FileView) -> bool:
    return f.ext in EXTENSIONS


def scan(f: FileView) -> list[Hit]:
    hits = python_imports(f.rules, f.data, f.lines)
    if f.rules.client_names and b"client(" in f.data:
        hits += sdk_clients(f.rules, f.data, f.lines)
    return hits


def python_imports(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    out: dict[str, Hit] = {}
    for line_start in keyword_lines(lines, b"import"):
        m = _PY_IMPORT.match(data, line_start)
        if not m:
            continue
        mods = [m.group(1)] if m.group(1) else [x.strip() for x in m.group(2).split(b",")]
        for mod in mods:
            name = mod.decode("ascii", "replace")
            t = rules.python_target(name)
            if t and t.name not in out:
                out[t.name] = usage_hit(t, lines.of(m.start()), "python", name)
    return list(out.values())


def sdk_clients(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    """Provider services reached through a generic cloud client: ``boto3.client("bedrock-runtime")``."""
    out: dict[str, Hit] = {}
    for m in _SDK_CLIENT.finditer(data):
        name = m.group(1).decode("ascii")
        provider = rules.client_names.get(name)
        if provider and name not in out:
            out[name] = Hit("sdk-usage", lines.of(m.start()), provider=provider, confidence="high",
                            label=f'creates a "{name}" client', details={"client": name, "language": "python"})
    return list(out.values())
