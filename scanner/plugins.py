"""Discovery of detector and report plugins through entry points.

Built-ins register through the same groups as third-party plugins, so a plugin
is a ``pip install`` away and needs no change here.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import re
import sys
from typing import Any

from scanner import __version__, cache
from scanner.errors import UserError

DETECTOR_GROUP = "shadow_agents.detectors"
REPORT_GROUP = "shadow_agents.reports"
_GROUPS = (DETECTOR_GROUP, REPORT_GROUP)
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")  # importlib.metadata's


class Plugin:
    """One entry point: its ``name``, its ``value`` (``module:attr``) and ``load()``, which imports it."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def load(self) -> Any:
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"not an entry point: {self.value!r}")
        obj = importlib.import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            obj = getattr(obj, attr)
        return obj

    def __repr__(self) -> str:
        return f"Plugin({self.name!r}, {self.value!r})"


@functools.lru_cache(maxsize=1)
def _installed() -> dict[str, list[tuple[str, str]]]:
    """(name, value) of every entry point of our groups, looked up once per process.

    Looking them up means importing ``importlib.metadata`` and reading every installed
    distribution's metadata, a tenth of a short scan's start-up; so the answer is kept in the
    user cache, keyed by what it is read from: the import path, and in each of its folders the
    distributions' metadata folders and the size and time of their ``entry_points.txt`` (an
    install, an uninstall or an edit makes a new key).
    """
    name = cache.key("entry-points", __version__, _metadata_signature())
    hit = cache.read(name)
    if _well_formed(hit):
        return {group: [(n, v) for n, v in pairs] for group, pairs in hit.items()}
    from importlib.metadata import entry_points
    installed = entry_points()  # every group in one pass over the installed distributions
    found = {group: [(ep.name, ep.value) for ep in installed.select(group=group)] for group in _GROUPS}
    cache.write(name, {group: [list(pair) for pair in pairs] for group, pairs in found.items()})
    return found


def _well_formed(hit: Any) -> bool:
    """A cache entry is used only with exactly the shape written: our groups, each [name, value] pairs."""
    if not isinstance(hit, dict) or set(hit) != set(_GROUPS):
        return False
    return all(isinstance(pairs, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair) and _VALUE.match(pair[1])
        for pair in pairs) for pairs in hit.values())


def _metadata_signature() -> list[str]:
    """What the entry points are read from: each folder of the import path, its metadata folders, their files."""
    parts = []
    for entry in sys.path:
        folder = entry or "."
        try:
            with os.scandir(folder) as it:
                infos = sorted(e.name for e in it if e.name.lower().endswith((".dist-info", ".egg-info")))
        except NotADirectoryError:  # a zip on the path: its size and time stand for what it holds
            parts.append(f"{entry}\0{_stat_line(folder)}")
            continue
        except (OSError, ValueError):  # missing or unreadable: it holds nothing we can load
            continue
        parts.append(entry)  # not the folder's time: the current directory changes all the time
        parts.extend(f"{info}\0{_stat_line(os.path.join(folder, info, 'entry_points.txt'))}" for info in infos)
    return parts


def _stat_line(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "absent"
    return f"{st.st_mtime_ns}\0{st.st_size}"


@functools.lru_cache(maxsize=None)
def _entry_points(group: str) -> dict[str, Plugin]:
    """The plugins of ``group`` by name (a command asks several times)."""
    found: dict[str, Plugin] = {}
    for ep_name, value in sorted(_installed()[group], key=lambda e: (not e[1].startswith(("detectors.", "reports.")), e[0])):
        found.setdefault(ep_name, Plugin(ep_name, value))  # a built-in keeps its name; a plugin cannot shadow it
    return dict(sorted(found.items()))


def detector_entry_points() -> dict[str, Plugin]:
    return dict(_entry_points(DETECTOR_GROUP))


def report_entry_points() -> dict[str, Plugin]:
    return dict(_entry_points(REPORT_GROUP))


def unknown_name(kind: str, name: str, valid: list[str]) -> UserError:
    hint = difflib.get_close_matches(name, valid, n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    return UserError(f"unknown {kind} '{name}'{suggestion}; valid {kind}s: {', '.join(valid)}")


def load_format(name: str) -> Any:
    """Instantiate the report format called ``name`` (UserError listing valid names otherwise)."""
    eps = report_entry_points()
    if name not in eps:
        raise unknown_name("format", name, list(eps))
    try:
        return eps[name].load()()
    except Exception as exc:  # a broken plugin is the installation's problem, said plainly
        raise UserError(f"format '{name}' cannot be loaded: {type(exc).__name__}: {exc}") from None


def format_for_extension(path: str) -> str | None:
    """The format whose declared extension ends ``path``, the longest one winning (``x.cdx.json`` → cyclonedx)."""
    from scanner.declarations import format_extensions  # here: it builds on this module
    lower = path.lower()
    best: tuple[int, str] | None = None
    for name, exts in format_extensions().items():
        for ext in exts:
            if lower.endswith(ext) and (best is None or len(ext) > best[0]):
                best = (len(ext), name)
    return best[1] if best else None
