"""Is a key-shaped string a real secret or a placeholder? Shared by every detector."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scanner.catalog import KeyFormat

_PLACEHOLDER_WORDS = re.compile(
    r"your|example|placeholder|changeme|change_me|dummy|redacted|replace|insert|sample|"
    r"fake|xxxx|\*\*\*|\.\.\.|…|<|>|\{\{|\$\{|\$\(|%\(|secret_?key_?here|api_?key",
    re.IGNORECASE,
)
_REPEAT = re.compile(r"(.)\1{5,}")
MIN_LENGTH = 12
MIN_ENTROPY = 3.0  # bits per character; random base62 keys are ~5.5, "aaaabbbb…" ~1-2


def shannon_entropy(s: str) -> float:
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _mostly_sequential(s: str) -> bool:
    steps = sum(1 for a, b in zip(s, s[1:]) if abs(ord(b) - ord(a)) == 1)
    return len(s) > 8 and steps > len(s) // 2


def is_placeholder(value: str, prefix: str = "") -> bool:
    """True for values that only look like keys: ``sk-xxxx…``, ``your-api-key``, ``${VAR}``, ``aaaa…``.

    ``prefix`` is the key format's literal prefix; only the random part after it is scored.
    """
    v = value.strip()
    if len(v) < MIN_LENGTH or v.startswith("$") or " " in v:
        return True
    body = v[len(prefix):] if prefix and v.startswith(prefix) else v
    if _PLACEHOLDER_WORDS.search(body) or _REPEAT.search(body):
        return True
    if _mostly_sequential(body):
        return True
    return len(body) >= 16 and shannon_entropy(body) < MIN_ENTROPY


def not_a_key(value: str, fmt: "KeyFormat | None") -> bool:
    """A placeholder, or a key of ``fmt`` that the catalogue lists as published (a documentation or SDK sample)."""
    if is_placeholder(value, fmt.prefixes[0] if fmt and fmt.prefixes else ""):
        return True
    return fmt is not None and fmt.is_published(value)
