"""Keys and their contexts, in every text file: self-identifying formats, then formatless keys by assignment."""

from __future__ import annotations

import re
from typing import Iterator

from detectors.repo.filetypes.base import FileView, Hit, Lines
from detectors.repo.rules import Anchors, Rules
from scanner.secrets import is_placeholder


def applies(f: FileView) -> bool:
    return True


def scan(f: FileView) -> list[Hit]:
    return list(find_credentials(f.rules, f.data, f.lines, f.anchors))


def find_credentials(rules: Rules, data: bytes, lines: Lines, anchors: Anchors | None = None) -> Iterator[Hit]:
    """Self-identifying keys (prefix prefilter + full regex), then context-only keys by assignment."""
    key_positions, context_positions, _ = anchors or rules.anchor_positions(data)
    covered = -1  # end of the last key found: a prefix inside a key is not another key
    for pos, lit in key_positions:
        if pos < covered:
            continue
        for rx, fmt in rules.formats_by_literal[lit]:
            m = rx.match(data, pos)
            if not m:
                continue
            value = m.group(0).decode("ascii", "replace")
            if _glued(data, m.end()) or _glued_before(data, pos) or \
                    is_placeholder(value, fmt.prefixes[0] if fmt.prefixes else ""):
                break
            covered = m.end()
            yield Hit("credential", lines.of(pos), provider=fmt.provider, secret=value, key_type=fmt.id,
                      admin=fmt.admin, label=fmt.label, confidence="high")
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
    """Formatless keys are keys only where the code says so: ``MISTRAL_API_KEY=…``, ``api_key="…"``."""
    done: set[int] = set()
    quick = rules.context_quick
    for pos, anchor in positions:
        if not quick.match(data, pos + len(anchor)):
            continue
        line_start = data.rfind(b"\n", 0, pos) + 1
        if line_start in done:
            continue
        done.add(line_start)
        prev_start = data.rfind(b"\n", 0, line_start - 1) + 1 if line_start else 0
        line_end = data.find(b"\n", pos)
        next_end = data.find(b"\n", line_end + 1) if line_end >= 0 else -1
        window_end = len(data) if next_end < 0 else next_end
        for m in rules.context_rx.finditer(data, prev_start, window_end):  # type: ignore[union-attr]
            if m.end() <= line_start:
                continue
            hit = _context_hit(rules, data, m, lines)
            if hit:
                yield hit


def _context_hit(rules: Rules, data: bytes, m: re.Match[bytes], lines: Lines) -> Hit | None:
    name = m.group("name") or m.group("kname")
    value_b = m.group("value") or m.group("kvalue") or m.group("argvalue")
    if value_b is None:
        return None
    value = value_b.decode("ascii", "replace").rstrip(".:")
    if name:
        var = name.decode("ascii").upper()
        providers = [rules.key_env_names.get(var)]
        how = var
    else:
        providers = _providers_near(rules, data, m.start())
        how = m.group("arg").decode("ascii")
    for provider in providers:
        if provider is None:
            continue
        fmt = rules.catalog.classify_secret(value, provider)
        if fmt is None or fmt.provider != provider:
            continue
        if is_placeholder(value, fmt.prefixes[0] if fmt.prefixes else ""):
            return None
        return Hit("credential", lines.of(m.start()), provider=provider, secret=value, key_type=fmt.id,
                   admin=fmt.admin, label=fmt.label, confidence="high" if not fmt.context_only else "medium",
                   details={"assigned_to": how})
    return None


def _providers_near(rules: Rules, data: bytes, pos: int) -> list[str]:
    """Providers named just before an ``api_key=`` argument: ``Mistral(api_key=…)``, ``AzureOpenAI(``."""
    window = data[max(0, pos - 200):pos].decode("ascii", "replace").lower()
    found = []
    for pid, tokens in rules.provider_tokens.items():
        best = max((window.rfind(t) for t in tokens), default=-1)
        if best >= 0:
            found.append((best, pid))
    return [pid for _, pid in sorted(found, reverse=True)]


def mask_keys(rules: Rules, text: str) -> str:
    """``text`` with every key in it replaced by ``<redacted>``: an argument keeps its shape, not its value."""
    data = text.encode("utf-8", "replace")
    for hit in find_credentials(rules, data, Lines(data)):
        if hit.secret:
            text = text.replace(hit.secret, "<redacted>")
    return text
