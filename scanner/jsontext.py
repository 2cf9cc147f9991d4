"""Indented, key-sorted JSON text, written fast and byte for byte as the standard library writes it.

``json.dumps(x, indent=2, sort_keys=True, ensure_ascii=False)`` runs the pure-Python encoder
(CPython uses its C encoder only without ``indent``): a saved inventory of 20,000 agents took
seconds to write. :func:`dumps` asks orjson for the same document instead, and falls back to
the standard library for what orjson writes differently or refuses, so the text never depends
on which of the two wrote it:

* numbers below 1e-4 (orjson: ``0.00001``, ``1e-7``; Python: ``1e-05``, ``1e-07``) — found in
  orjson's text by :func:`_may_differ`, which also matches such text inside a string (harmless:
  the fallback is merely slower);
* integers beyond 64 bits, lone surrogates (file names that were not UTF-8), keys that are not
  strings — orjson raises, and the standard library writes them.

One difference is kept: a number that is not finite is written ``null`` (valid JSON), where the
standard library wrote ``NaN``, which no JSON reader accepts (nor ``report``).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Callable

# One exponent digit (orjson "1e-7", Python "1e-07"). Two searches that each start from a literal
# are several times faster than one alternation, which the engine tries at every position.
_SHORT_EXPONENT = re.compile(rb"e-\d(?!\d)")


def _may_differ(raw: bytes) -> bool:
    return b"0.0000" in raw or _SHORT_EXPONENT.search(raw) is not None

_STDLIB = json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=False, allow_nan=True)


@functools.lru_cache(maxsize=1)
def _orjson() -> Callable[[Any], bytes | None] | None:
    """orjson's writer, imported on first use (commands that write no JSON never load it); None
    where it is missing from the installation, and then the standard library writes the same text."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - a dependency; the output is the same without it
        return None
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS

    def write(value: Any) -> bytes | None:
        try:
            return orjson.dumps(value, option=options)
        except (TypeError, orjson.JSONEncodeError):
            return None
    return write


def dumps(value: Any, level: int = 0) -> str:
    """``value`` as indented, key-sorted JSON, nested ``level`` levels deep (each line after the
    first indented by ``2 * level`` spaces, as it would be inside a document)."""
    write = _orjson()
    raw = write(value) if write is not None else None
    if raw is None or _may_differ(raw):
        text = _STDLIB.encode(value)
    else:
        text = raw.decode("utf-8")
    if level and "\n" in text:  # a line break in JSON text is structure: strings hold "\n" escaped
        text = text.replace("\n", "\n" + "  " * level)
    return text
