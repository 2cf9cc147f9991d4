"""Dependency manifests and lock files: catalogue packages a program depends on."""

from __future__ import annotations

import re
from typing import Any

from detectors.repo.filetypes.base import FileView, Hit, Lines
from detectors.repo.rules import Rules

MANIFEST_NAMES = {"pyproject.toml", "setup.py", "setup.cfg", "package.json", "go.mod", "Cargo.toml", "Pipfile"}

_REQ_LINE = re.compile(rb"(?m)^[ \t]*([A-Za-z0-9][A-Za-z0-9._-]*)")
_TOML_NAME = re.compile(rb"(?m)^name\s*=\s*\"([^\"]+)\"")
_QUOTED_NAME = re.compile(rb"[\"']([A-Za-z0-9@][A-Za-z0-9._/@-]*)")
_NPM_LOCK = re.compile(rb"\"node_modules/((?:@[^/\"]+/)?[^/\"]+)\"")
_PNPM = re.compile(rb"(?m)^[ \t]+['\"]?/?((?:@[\w.-]+/)?[\w.-]+)@\d")
_YARN = re.compile(rb"(?m)^\"?((?:@[\w.-]+/)?[\w.-]+)@")
_GO_REQ = re.compile(rb"(?m)^[ \t]*(?:require[ \t]+)?([a-z0-9.-]+\.[a-z]+/[\w.\-/]+)[ \t]+v\d")
_CARGO_DEP = re.compile(rb"(?m)^([A-Za-z0-9_-]+)\s*=")
_JSON_KEY = re.compile(rb"\"((?:@[\w.-]+/)?[\w.-]+)\"\s*:")


def applies(f: FileView) -> bool:
    return manifest_kind(f.name) is not None


def scan(f: FileView) -> list[Hit]:
    return manifest_hits(f.rules, f.name, f.data, f.lines)


def manifest_kind(name: str) -> tuple[str, str, re.Pattern[bytes], bool] | None:
    """(ecosystem, label, name regex, is lock file) for a dependency manifest file name."""
    if name.startswith("requirements") and name.endswith((".txt", ".in")) or name == "constraints.txt":
        return "python", name, _REQ_LINE, False
    table = {
        "pyproject.toml": ("python", _QUOTED_NAME, False), "Pipfile": ("python", _CARGO_DEP, False),
        "setup.py": ("python", _QUOTED_NAME, False), "setup.cfg": ("python", _REQ_LINE, False),
        "poetry.lock": ("python", _TOML_NAME, True), "uv.lock": ("python", _TOML_NAME, True),
        "Pipfile.lock": ("python", _JSON_KEY, True), "package.json": ("javascript", _JSON_KEY, False),
        "package-lock.json": ("javascript", _NPM_LOCK, True), "pnpm-lock.yaml": ("javascript", _PNPM, True),
        "yarn.lock": ("javascript", _YARN, True), "go.mod": ("go", _GO_REQ, False),
        "go.sum": ("go", _GO_REQ, True), "Cargo.toml": ("rust", _CARGO_DEP, False),
        "Cargo.lock": ("rust", _TOML_NAME, True),
    }
    if name in table:
        eco, rx, lock = table[name]
        return eco, name, rx, lock
    return None


def manifest_hits(rules: Rules, name: str, data: bytes, lines: Lines) -> list[Hit]:
    kind = manifest_kind(name)
    if kind is None:
        return []
    eco, label, rx, lock = kind
    out: dict[str, Hit] = {}
    for m in rx.finditer(data):
        raw = m.group(1).decode("utf-8", "replace")
        pkg = re.split(r"[\[<>=!~;\s]", raw, maxsplit=1)[0] if eco == "python" else raw
        t = rules.package_target(eco, pkg)
        if t is None or t.name in out:
            continue
        details: dict[str, Any] = {"package": t.name, "ecosystem": eco, "manifest": label}
        if t.framework:
            details["framework"] = t.framework
        if lock:
            details["lockfile"] = True
        out[t.name] = Hit("dependency", lines.of(m.start()), provider=t.provider,
                          confidence="low" if lock else "high", label=f"depends on {t.name}", details=details)
    return list(out.values())
