"""Fingerprints and previews: the one place raw secret bytes are turned into safe strings.

Detectors hand a secret to :func:`credential` and keep only what it returns. The
module also remembers every secret it was shown during this process so that
:func:`scrub` can remove them from error messages and logs as a last line of defence.
"""

from __future__ import annotations

import hashlib
import re
import threading

from scanner.model import Credential

FINGERPRINT_LENGTH = 16
ELLIPSIS = "…"

_seen: set[str] = set()
_seen_lock = threading.Lock()
_pending: list[str] = []  # remembered but not yet in _scrub_re
_scrub_re: re.Pattern[str] | None = None
_compiled_count = 0
_extra_patterns: list[re.Pattern[str]] = []
# the password of a URL's userinfo: scheme://user:PASSWORD@host
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)([^/\s@]+)(?=@)")


def fingerprint(secret: str) -> str:
    """sha256 prefix of the secret: joins the same key across detectors, reveals nothing."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:FINGERPRINT_LENGTH]


def preview(secret: str) -> str:
    """First 8 and last 4 characters at most; fewer for short secrets (never more than 3/8 of it)."""
    n = len(secret)
    head = min(8, n // 4)
    tail = min(4, n // 8)
    return secret[:head] + ELLIPSIS + (secret[n - tail:] if tail else "")


def credential(secret: str, key_type: str | None = None, admin: bool = False) -> Credential:
    """Register ``secret`` for scrubbing and return its safe representation."""
    remember(secret)
    return Credential(fingerprint(secret), preview(secret), key_type, admin)


def remember(secret: str) -> None:
    if len(secret) < 8:
        return
    with _seen_lock:
        if secret not in _seen:
            _seen.add(secret)
            _pending.append(secret)


def add_patterns(patterns: list[re.Pattern[str]]) -> None:
    """Key-format regexes from the catalogue: anything shaped like a key is scrubbed too."""
    _extra_patterns.extend(p for p in patterns if p not in _extra_patterns)


def _compiled() -> tuple[re.Pattern[str] | None, list[str]]:
    """The scrub regex and the secrets added since it was built.

    Rebuilding on every new secret would make a scan with many keys quadratic, so the
    regex is rebuilt only when the pending list has grown past the compiled set; until
    then pending secrets are checked with plain substring tests.
    """
    global _scrub_re, _compiled_count
    with _seen_lock:
        if _pending and len(_pending) > max(64, _compiled_count):
            alternation = "|".join(re.escape(s) for s in sorted(_seen, key=len, reverse=True))
            _scrub_re, _compiled_count = re.compile(alternation), len(_seen)
            _pending.clear()
        return _scrub_re, list(_pending)


def scrub(text: str) -> str:
    """Replace every remembered secret and every key-shaped string in ``text`` by its preview,
    and a URL's password by ``***``."""
    if not text:
        return text
    rx, pending = _compiled()
    for secret in sorted(pending, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, preview(secret))
    if rx is not None:
        text = rx.sub(lambda m: preview(m.group(0)), text)
    for pattern in _extra_patterns:
        text = pattern.sub(lambda m: preview(m.group(0)), text)
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1***", text)
    return text
