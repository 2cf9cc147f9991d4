"""Indented, key-sorted JSON text, written fast and byte for byte as the standard library writes it.

``json.dumps(x, indent=2, sort_keys=True, ensure_ascii=False)`` runs the pure-Python encoder
(CPython uses its C encoder only without ``indent``): a saved inventory of 20,000 agents took
seconds to write. :func:`dumps` asks orjson for the same document instead, and falls back to
the standard library for what orjson writes differently or refuses, so the text never depends
on which of the two wrote it:

* numbers below 1e-4 (orjson: ``0.00001``, ``1e-7``; Python: ``1e-05``, ``1e-07``) — found in
  orjson's text by :data:`_MAY_DIFFER`, which also matches such text inside a string (harmless:
  the fallback is merely slower);
* integers beyond 64 bits, lone surrogates (file names that were not UTF-8), keys that are not
  strings — orjson raises, and the standard library writes them.

One difference is kept: a number that is not finite is written ``null`` (valid JSON), where the
standard library wrote ``NaN``, which no JSON reader accepts (nor ``report``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
_MAY_DIFFER = re.compile(rb"0\.0000|e-\d(?!\d)")
_STDLIB = json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=False, allow_nan=True)


def dumps(value: Any, level: int = 0) -> str:
    """``value`` as indented, key-sorted JSON, nested ``level`` levels deep (each line after the
    first indented by ``2 * level`` spaces, as it would be inside a document)."""
    try:
        raw = orjson.dumps(value, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        raw = None
    if raw is None or _MAY_DIFFER.search(raw):
        text = _STDLIB.encode(value)
    else:
        text = raw.decode("utf-8")
    if level and "\n" in text:  # a line break in JSON text is structure: strings hold "\n" escaped
        text = text.replace("\n", "\n" + "  " * level)
    return text
