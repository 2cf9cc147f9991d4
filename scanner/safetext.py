"""Text that is safe to show: no control characters, no bidi overrides, no lone surrogates.

Names and paths come from the scanned world. A file called ``ESC[2J`` clears the screen of
whoever reads the report, ``ESC[8m`` hides what follows, a right-to-left override reorders
it ("trojan source"), and a name that is not valid UTF-8 (carried as a surrogate escape
since :func:`os.fsdecode`) cannot even be encoded. Every output goes through one of these:

* :func:`printable` for text meant for people: each such character becomes a visible escape
  (``\\x1b``, ``\\u202e``; the undecodable byte 0xFF of a file name becomes ``\\xff``);
* :func:`json_safe` for JSON text: the same characters become JSON ``\\uXXXX`` escapes, so
  the document stays valid UTF-8 and reads back to exactly the same string;
* :func:`one_line` for a message: printable, and every line break becomes a space.
"""

from __future__ import annotations

import re

# C0 controls (but tab and line ends), DEL, C1 controls, bidi marks, embeddings, overrides and
# isolates, the Arabic letter mark, line/paragraph separators, and every surrogate code point.
_OTHERS = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
UNSAFE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f{_OTHERS}]")
# On a terminal the escape character itself is left to the library that drives the terminal
# (colours, live progress), which must neutralise the data it shows; the rest still goes.
TERMINAL_UNSAFE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f{_OTHERS}]")
# Fast path for the common all-ASCII text: a C-speed check instead of a regex scan.
_ASCII_UNSAFE = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_ASCII_SAFE = bytes(sorted(set(range(0x80)) - set(_ASCII_UNSAFE)))
_ASCII_SAFE_TERMINAL = _ASCII_SAFE + b"\x1b"
_LINE_BREAKS = re.compile(r"[ \t]*(?:\r\n|[\r\n])[ \t]*")


def _visible(m: re.Match[str]) -> str:
    c = ord(m.group())
    if 0xDC80 <= c <= 0xDCFF:  # a byte that was not valid UTF-8 (surrogateescape): show the byte
        return f"\\x{c - 0xDC00:02x}"
    return f"\\x{c:02x}" if c <= 0xFF else f"\\u{c:04x}"


def _clean_ascii(text: str, safe: bytes = _ASCII_SAFE) -> bool:
    return text.isascii() and not text.encode("ascii").translate(None, safe)


def utf8_safe(data: bytes) -> bool:
    """Whether the UTF-8 text ``data`` (whole characters; lone surrogates as ``surrogatepass``
    writes them) holds no character any of these would change: its ASCII deleted, what is left is
    its other characters, whole, so only they need a look."""
    rest = data.translate(None, _ASCII_SAFE)
    return not rest or not UNSAFE.search(rest.decode("utf-8", "surrogatepass"))


def printable(text: str) -> str:
    """``text`` with every unsafe character shown as an escape; tab and line ends are kept."""
    if _clean_ascii(text) or not UNSAFE.search(text):
        return text
    return UNSAFE.sub(_visible, text)


def printable_terminal(text: str) -> str:
    """Like :func:`printable` but leaves ESC alone: for what a terminal-driving library wrote."""
    if _clean_ascii(text, _ASCII_SAFE_TERMINAL) or not TERMINAL_UNSAFE.search(text):
        return text
    return TERMINAL_UNSAFE.sub(_visible, text)


def json_safe(text: str) -> str:
    """JSON text with every unsafe character as a ``\\uXXXX`` escape (valid only inside strings,
    which is the only place JSON can hold such a character)."""
    if _clean_ascii(text) or not UNSAFE.search(text):
        return text
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def one_line(text: str) -> str:
    """A message as exactly one printable line."""
    return printable(_LINE_BREAKS.sub(" ", text.strip()))
