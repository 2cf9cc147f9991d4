"""Keys and their contexts, in every text file: self-identifying formats, then formatless keys by assignment."""

from __future__ import annotations

import re
from typing import Iterator

from detectors.repo.filetypes.base import FileView, Hit, Lines
from detectors.repo.filetypes.endpoints import url_hosts
from detectors.repo.rules import Anchors, Rules
from scanner.secrets import not_a_key

# No key format is longer (AWS Bedrock short-term keys, the longest, are about 2 KB); a match is
# never run further, so one candidate costs at most this much whatever follows it.
MAX_KEY_LENGTH = 4096
# How far after a context anchor the assignment that makes it a key can start (``_KEY_PROD =  "…``),
# and how much of a name after the anchor is read (rules.context_quick).
CONTEXT_REACH = 256
NAME_REACH = 64


def applies(f: FileView) -> bool:
    return True


def scan(f: FileView) -> list[Hit]:
    return list(find_credentials(f.rules, f.data, f.lines, f.anchors))


def find_credentials(rules: Rules, data: bytes, lines: Lines, anchors: Anchors | None = None) -> Iterator[Hit]:
    """Self-identifying keys (prefix prefilter + full regex), then context-only keys by assignment."""
    key_positions, context_positions = (anchors or rules.anchor_positions(data))[:2]
    # End of the last key-shaped match, kept or not: a prefix inside it is not another key. Skipping
    # those prefixes also keeps the loop linear: with ``sk-proj-`` repeated, every prefix would
    # otherwise run its regex to the end of the same run (quadratic in the file's length).
    covered = -1
    for pos, lit in key_positions:
        if pos < covered or _glued_before(data, pos):
            continue
        end = pos + MAX_KEY_LENGTH
        for rx, fmt in rules.formats_by_literal[lit]:
            m = rx.match(data, pos, end)
            if not m:
                continue
            covered = m.end()
            value = m.group(0).decode("ascii", "replace")
            if _glued(data, m.end()) or not_a_key(value, fmt):
                break
            yield Hit("credential", lines.of(pos), provider=fmt.provider, secret=value, key_type=fmt.id,
                      admin=fmt.admin, label=fmt.label, confidence="high", span=(pos, m.end()), pos=pos)
            break
    if context_positions:
        yield from context_credentials(rules, data, lines, context_positions)


def _glued(data: bytes, end: int) -> bool:
    """A key regex that stopped inside a longer token matched a truncation, not a key."""
    return end < len(data) and (chr(data[end]).isalnum() if data[end] < 128 else False)


def _glued_before(data: bytes, pos: int) -> bool:
    """A prefix in the middle of a word or base64 blob (``xAIza…``) is not the start of a key.

    JSON string escapes (``\\nsk-…`` in notebook outputs) still count as a boundary.
    """
    if pos == 0 or data[pos - 1] >= 128 or not chr(data[pos - 1]).isalnum():
        return False
    return not (pos >= 2 and data[pos - 2] == 0x5C)  # backslash escape: \n, \t, \r


def context_credentials(rules: Rules, data: bytes, lines: Lines,
                        positions: list[tuple[int, bytes]]) -> Iterator[Hit]:
    """Formatless keys are keys only where the code says so: ``MISTRAL_API_KEY=…``, ``api_key="…"``.

    Each anchor (a key word or variable tail) followed by an assignment is a candidate; the full
    pattern (``rules.context_rx``) is then tried only where a name holding that anchor can start —
    at the word starts just before it on its line, and at a Kubernetes ``name:`` before it — not at
    every position of the lines around it (the pattern has no literal prefix: searching costs
    hundreds of nanoseconds a byte).
    """
    quick = rules.context_quick
    name_end, name_ok = -1, False  # where the name holding the last anchor ended, and what followed it
    last_end = -1  # end of the last match: the next one starts after it, as in one left-to-right search
    served: list[str] | None = None  # providers whose API hosts the file names, looked up once when needed
    for pos, anchor in positions:
        after = pos + len(anchor)
        if after > name_end:  # an anchor further inside the same name (``_KEY_KEY_…``) would see the same
            m = quick.match(data, after, after + CONTEXT_REACH)
            name_ok = m is not None and m.group("assign") is not None
            rest = m.end("rest") if m else after
            name_end = rest if rest - after < NAME_REACH else -1
            if not name_ok:
                continue
        elif not name_ok:
            continue
        if pos < last_end:
            continue
        m = _context_match(rules, data, lines, pos, last_end)
        if m is None:
            continue
        last_end = m.end()
        hit = _context_hit(rules, data, m, lines, served)
        if hit is None and served is None and _needs_hosts(m):
            served = _served_providers(rules, data)
            hit = _context_hit(rules, data, m, lines, served)
        if hit:
            yield hit


# Where a name of context_rx can start: a letter after no letter or digit (a stem may follow ``_``).
_NAME_START = re.compile(rb"(?<![A-Za-z0-9])[A-Za-z]")
KNAME_REACH = 64  # blanks between a Kubernetes ``name:`` and the variable it names


def _context_match(rules: Rules, data: bytes, lines: Lines, pos: int, floor: int) -> re.Match[bytes] | None:
    """The first match of ``rules.context_rx`` that starts at or after ``floor`` where a name holding the
    anchor at ``pos`` can start: a word start on its line, at most ``context_name_reach`` before it,
    or a ``name:`` (whose variable may be on the next line) shortly before."""
    rx = rules.context_rx
    assert rx is not None
    reach = rules.context_name_reach
    lo = max(floor, lines.start(pos), pos - reach)
    starts = [m.start() for m in _NAME_START.finditer(data, lo, pos + 1)]
    kname = data.rfind(b"name:", max(floor, pos - reach - KNAME_REACH), pos)
    if kname >= 0 and kname not in starts:
        starts.append(kname)
        starts.sort()
    for start in starts:
        m = rx.match(data, start)
        if m is not None:
            return m
    return None


_VALUE_GROUPS = ("value", "svalue", "kvalue", "argvalue")


def _context_hit(rules: Rules, data: bytes, m: re.Match[bytes], lines: Lines,
                 served: list[str] | None) -> Hit | None:
    """The key a context match assigns, of the first provider the name (else the file's endpoints) points at.

    An OpenAI-style name holds another provider's key when the file talks to that provider:
    ``OPENAI_API_KEY`` and ``openai.api_key`` next to an ``*.openai.azure.com`` endpoint hold an
    Azure OpenAI key.
    """
    group = next((g for g in _VALUE_GROUPS if m.group(g) is not None), None)
    if group is None:
        return None
    value = m.group(group).decode("ascii", "replace").rstrip(".:")
    name = m.group("name") or m.group("kname")
    if name:
        how = name.decode("ascii").upper()
        providers = [rules.key_env_names.get(how)]
    elif m.group("stem"):
        how = m.group(0)[: m.start(group) - m.start()].decode("ascii", "replace").strip(" \t\r\n\"'`=:>,.?[]")
        providers = [rules.key_stems.get(re.sub(r"[ _.-]", "", m.group("stem").decode("ascii").lower()))]
    else:
        providers = _providers_near(rules, data, m.start(), lines.end(m.end()))
        how = m.group("arg").decode("ascii")
    for provider in [*providers, *(served or ())]:
        if provider is None:
            continue
        fmt = rules.catalog.classify_secret(value, provider)
        if fmt is None or fmt.provider != provider:
            continue
        if not_a_key(value, fmt):
            return None
        start = m.start(group)
        return Hit("credential", lines.of(start), provider=provider, secret=value, key_type=fmt.id,
                   admin=fmt.admin, label=fmt.label, confidence="high" if not fmt.context_only else "medium",
                   details={"assigned_to": how}, span=(start, start + len(value)), pos=start)
    return None


def _needs_hosts(m: re.Match[bytes]) -> bool:
    """Only a catalogue variable or an ``api_key`` argument may hold the key of the endpoint's provider."""
    return m.group("name") is not None or m.group("arg") is not None


def _served_providers(rules: Rules, data: bytes) -> list[str]:
    """Catalogue providers whose API hosts appear in URLs in the file (sorted)."""
    return sorted({p for p in map(rules.provider_for_host, url_hosts(data)) if p})


def _providers_near(rules: Rules, data: bytes, pos: int, line_end: int) -> list[str]:
    """Providers named just before an ``api_key=`` argument (``Mistral(api_key=…)``, ``AzureOpenAI(``) or
    after it on its line (``API_KEY = "…"  # MISTRAL_API_KEY``), the nearest first."""
    window = data[max(0, pos - 200):pos].decode("ascii", "replace").lower()
    after = data[pos:min(line_end, pos + 400)].decode("ascii", "replace").lower()
    found = []
    for pid, tokens in rules.provider_tokens.items():
        best = max((window.rfind(t) for t in tokens), default=-1)
        if best >= 0:
            found.append((best, pid))
        elif any(t in after for t in tokens):
            found.append((-1, pid))
    return [pid for _, pid in sorted(found, reverse=True)]


def mask_keys(rules: Rules, text: str) -> str:
    """``text`` with every key in it replaced by ``<redacted>``: an argument keeps its shape, not its value."""
    data = text.encode("utf-8", "replace")
    spans = sorted(h.span for h in find_credentials(rules, data, Lines(data)) if h.span)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        if start >= last:
            out += [data[last:start], b"<redacted>"]
            last = end
    out.append(data[last:])
    return b"".join(out).decode("utf-8", "replace")
