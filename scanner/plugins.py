"""Discovery of detector and report plugins through entry points.

Built-ins register through the same groups as third-party plugins, so a plugin
is a ``pip install`` away and needs no change here.
"""

from __future__ import annotations

import difflib
import functools
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from scanner.errors import UserError

DETECTOR_GROUP = "shadow_agents.detectors"
REPORT_GROUP = "shadow_agents.reports"


@functools.lru_cache(maxsize=1)
def _installed() -> Any:
    return entry_points()  # every group in one pass over the installed distributions


@functools.lru_cache(maxsize=None)
def _entry_points(group: str) -> dict[str, EntryPoint]:
    """The plugins of ``group`` by name, looked up once per process: each lookup reads the
    metadata of every installed distribution, and a command asks several times."""
    found: dict[str, EntryPoint] = {}
    for ep in sorted(_installed().select(group=group), key=lambda e: (not e.value.startswith(("detectors.", "reports.")), e.name)):
        found.setdefault(ep.name, ep)  # a built-in keeps its name; a plugin cannot shadow it
    return dict(sorted(found.items()))


def detector_entry_points() -> dict[str, EntryPoint]:
    return dict(_entry_points(DETECTOR_GROUP))


def report_entry_points() -> dict[str, EntryPoint]:
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
    lower = path.lower()
    best: tuple[int, str] | None = None
    for name, ep in report_entry_points().items():
        try:
            exts = getattr(ep.load(), "extensions", ())
        except Exception:  # a broken plugin must not stop us guessing from the others
            continue
        for ext in exts:
            if lower.endswith(ext) and (best is None or len(ext) > best[0]):
                best = (len(ext), name)
    return best[1] if best else None
