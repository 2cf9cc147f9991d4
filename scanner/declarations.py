"""What each installed detector declares — name, description, default, offline, options — and
each report format's file extensions, without importing them.

``scan`` needs every detector's declarations before it parses its command line (one flag per
option that declares one) and to check a config file's ``[detectors.<name>]`` tables, but it runs
only the detectors selected. Importing all of them costs more start-up time than the rest of a
short scan, so the declarations are kept in the user cache (``scanner/cache.py``), keyed by
everything they could depend on: the tool's version, the Python version, each detector entry point
(name and target) and the size and modification time of every source file of
the packages that hold them and of this one (an edited checkout is a new key). A miss, or an entry
of the wrong shape, imports the detectors as before and stores what they declare — unless one of
them could not be loaded or an option would not read back equal, so a broken plugin is always
reported fresh.
"""

from __future__ import annotations

import functools
import importlib.machinery
import os
import sys
from dataclasses import dataclass, fields
from typing import Any

from scanner import __version__, cache
from scanner.options import Option
from scanner.plugins import detector_entry_points, report_entry_points

_OPTION_FIELDS = tuple(f.name for f in fields(Option))


@dataclass(frozen=True)
class Declaration:
    """A detector as its class declares it (``options`` include the common ones)."""

    name: str
    description: str
    default: bool
    offline: bool
    options: dict[str, Option]


@functools.lru_cache(maxsize=1)
def detector_declarations() -> tuple[Declaration, ...]:
    """Every installed detector that can be loaded, in entry-point order, from the cache when it is current."""
    eps = detector_entry_points()
    name = cache.key("declarations", __version__, _source_signature(eps))
    cached = _from_json(cache.read(name), list(eps))
    if cached is not None:
        return tuple(cached)
    from scanner.pipeline import list_detectors
    infos = list_detectors(probe=False)
    found = [Declaration(i.name, i.description, i.default, i.offline, i.options) for i in infos if i.cls is not None]
    value = [_to_json(d) for d in found]
    if len(found) == len(infos) and _from_json(value, list(eps)) == found:
        cache.write(name, value)
    return tuple(found)


@functools.lru_cache(maxsize=1)
def format_extensions() -> dict[str, tuple[str, ...]]:
    """Each report format's declared file extensions (``-o report.sarif`` picks SARIF), cached the
    same way: otherwise naming an output file would import every format. A format that cannot be
    loaded is left out, and then nothing is cached."""
    eps = report_entry_points()
    name = cache.key("format-extensions", __version__, _source_signature(eps))
    hit = cache.read(name)
    if isinstance(hit, dict) and list(hit) == list(eps) and all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in hit.values()):
        return {k: tuple(v) for k, v in hit.items()}
    found: dict[str, tuple[str, ...]] = {}
    for fmt, ep in eps.items():
        try:
            found[fmt] = tuple(getattr(ep.load(), "extensions", ()))
        except Exception:  # a broken plugin must not stop us guessing from the others
            continue
    if list(found) == list(eps) and all(isinstance(x, str) for v in found.values() for x in v):
        cache.write(name, {k: list(v) for k, v in found.items()})
    return found


def _source_signature(eps: dict[str, Any]) -> list[str]:
    """The inputs of the key: entry points, then (path, size, mtime) of each source file they can reach."""
    parts = [sys.version]
    tops = {"scanner"}
    for ep_name, ep in eps.items():
        parts.append(f"{ep_name}\0{ep.value}")  # not the distribution's name and version: reading them costs more than the import saved
        tops.add(ep.value.split(":", 1)[0].split(".", 1)[0])
    for top in sorted(tops):
        spec = importlib.machinery.PathFinder.find_spec(top)  # finds, does not import
        if spec is None:
            parts.append(f"{top}\0missing")
            continue
        roots = list(spec.submodule_search_locations or ()) or [spec.origin or ""]
        parts.extend(_file_stats(root) for root in roots)
    return parts


def _file_stats(root: str) -> str:
    """One line per module file under ``root`` (or ``root`` itself): path, size, modification time."""
    lines = []
    stack = [root]
    while stack:
        path = stack.pop()
        try:
            if os.path.isfile(path):
                st = os.stat(path)
                lines.append(f"{path}\0{st.st_size}\0{st.st_mtime_ns}")
                continue
            with os.scandir(path) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                        stack.append(entry.path)
                    elif entry.name.endswith((".py", ".pyc", ".so", ".pyd")):  # sourceless and compiled modules too
                        st = entry.stat()
                        lines.append(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}")
        except OSError:
            lines.append(f"{path}\0unreadable")
    return "\n".join(sorted(lines))


def _to_json(d: Declaration) -> dict[str, Any]:
    return {"name": d.name, "description": d.description, "default": d.default, "offline": d.offline,
            "options": [{k: getattr(o, k) for k in _OPTION_FIELDS} for o in d.options.values()]}


def _from_json(value: Any, names: list[str]) -> list[Declaration] | None:
    """The cached declarations, or None unless the entry has exactly the expected shape and names."""
    try:
        out = []
        for item in value:
            options = {}
            for raw in item["options"]:
                if set(raw) != set(_OPTION_FIELDS):
                    return None
                opt = Option(**{**raw, "choices": tuple(raw["choices"])})
                options[opt.name] = opt
            if not (isinstance(item["name"], str) and isinstance(item["description"], str)
                    and isinstance(item["default"], bool) and isinstance(item["offline"], bool)):
                return None
            out.append(Declaration(item["name"], item["description"], item["default"], item["offline"], options))
    except (TypeError, KeyError, ValueError):
        return None
    return out if [d.name for d in out] == names else None
