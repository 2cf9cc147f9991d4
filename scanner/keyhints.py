"""Keys the provider lists × keys the scan found: matched by their redacted forms.

A provider's admin API never returns a key, only a redacted value or hint
(``sk-proj-...9f2c``, ``sk-ant-api03-R2D...igAA``); the scan keeps only a preview
(``sk-proj-…9f2c``, :func:`scanner.redact.preview`). Two such forms can belong to one
key when the shorter head is a prefix of the longer and the shorter tail a suffix of the
longer. A match is always partial, so its strength is recorded: the number of characters
both show beyond the key format's fixed prefix. Only a unique match with at least
:data:`MIN_AGREEING` such characters joins a found key to the listed one.

The admin detectors put :data:`LISTED_KIND` findings (one per listed key) and
:data:`USAGE_KIND` findings (one per key and model) in the scan; :func:`link` is called by
:mod:`scanner.correlate` and records on each found key what the listing says of it
(``details["listed_key"]``); :func:`listed_use` and :func:`unused_since` give
:mod:`scanner.compare` the facts its reasons state.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from scanner.model import Finding

LISTED_KIND = "listed-api-key"  # a key the provider's admin API lists (details: hint, name, …)
USAGE_KIND = "provider-usage"   # that key's use of one model over the usage window
MIN_AGREEING = 4                # informative characters a join needs (the 4-character tail)
UNUSED_DAYS = 90                # a key unused this long should be revoked

_SPLIT = re.compile(r"(.*?)(?:\.{3}|…|\*{3,})(.*)", re.DOTALL)


@dataclass(frozen=True)
class Redacted:
    """What a redacted key shows: its first and last characters."""

    head: str
    tail: str


def split(text: str | None) -> Redacted | None:
    """``sk-proj-...9f2c`` / ``sk-proj-…9f2c`` / ``sk-****9f2c`` → head and tail; None if not redacted."""
    m = _SPLIT.fullmatch(text or "")
    return Redacted(m.group(1), m.group(2)) if m and (m.group(1) or m.group(2)) else None


def agreeing(a: Redacted, b: Redacted, fixed_prefix: str = "") -> int | None:
    """Characters ``a`` and ``b`` both show and agree on beyond ``fixed_prefix``; None if they disagree."""
    n = min(len(a.head), len(b.head))
    if a.head[:n] != b.head[:n]:
        return None
    m = min(len(a.tail), len(b.tail))
    if m and a.tail[-m:] != b.tail[-m:]:
        return None
    head = a.head[:n]
    informative_head = len(head) - len(fixed_prefix) if head.startswith(fixed_prefix) else 0
    return max(0, informative_head) + m


@dataclass
class _Listed:
    index: int
    finding: Finding
    redacted: Redacted

    @property
    def key(self) -> str:
        return next((k for k in self.finding.identity if k.startswith("keyid:")), "")


def link(items: list[Finding]) -> list[tuple[int, int]]:
    """Index pairs (found key, listed key) to join; annotates every found key of a listing provider.

    ``details["listed_key"]`` on a finding that holds a credential becomes one of
    ``{"status": "matched", "key", "name", "hint", "strength": "partial", "agreeing_chars"}``,
    ``{"status": "ambiguous", "candidates"}`` (several listed keys fit: none is joined),
    ``{"status": "weak", …}`` (fits, but on too few characters to join) or
    ``{"status": "not-listed", "provider", "keys_listed"}`` — the latter only when the
    provider's listing was read in full and covers the key's format.
    """
    listed: dict[str, list[_Listed]] = defaultdict(list)
    complete: dict[str, set[str]] = defaultdict(set)  # provider → key formats fully listed
    for i, f in enumerate(items):
        if f.kind != LISTED_KIND or not f.provider:
            continue
        redacted = split(f.details.get("hint"))
        if redacted is not None:
            listed[f.provider].append(_Listed(i, f, redacted))
        if f.details.get("listing_complete"):
            complete[f.provider].update(f.details.get("lists_key_formats") or ())
    edges: list[tuple[int, int]] = []
    for i, f in enumerate(items):
        if f.credential is None or f.kind == LISTED_KIND:
            continue
        f.details.pop("listed_key", None)
        provider = f.provider or ""
        if provider not in listed and provider not in complete:
            continue
        mine = split(f.credential.preview)
        fits = []
        for entry in listed.get(provider, []) if mine else []:
            n = agreeing(mine, entry.redacted, str(entry.finding.details.get("key_prefix") or ""))
            if n is not None:
                fits.append((n, entry))
        strong = [(n, e) for n, e in fits if n >= MIN_AGREEING]
        if len(strong) == 1:
            n, entry = strong[0]
            edges.append((i, entry.index))
            f.details["listed_key"] = {"status": "matched", "key": entry.key, "name": entry.finding.details.get("name"),
                                       "hint": entry.finding.details.get("hint"), "strength": "partial",
                                       "agreeing_chars": n}
        elif strong:
            f.details["listed_key"] = {"status": "ambiguous", "candidates": sorted(e.key for _, e in strong)}
        elif fits:
            f.details["listed_key"] = {"status": "weak", "candidates": sorted(e.key for _, e in fits),
                                       "agreeing_chars": max(n for n, _ in fits)}
        elif f.credential.key_type in complete.get(provider, ()):
            f.details["listed_key"] = {"status": "not-listed", "provider": provider,
                                       "keys_listed": len(listed.get(provider, []))}
    return edges


# ---- facts for the reasons --------------------------------------------------------------------


@dataclass
class ListedUse:
    """What the provider says of the keys in one agent: names, last use, volume, models, cost."""

    keys: list[str] = field(default_factory=list)  # "OpenAI key 'ci-bot' (sk-proj-...9f2c)"
    last_used: str | None = None
    requests: int = 0
    tokens: int = 0
    models: list[str] = field(default_factory=list)
    cost: dict[str, float] = field(default_factory=dict)
    period: str | None = None

    @property
    def in_use(self) -> bool:
        """Used within the usage window (usage rows, or a last use inside it)."""
        if self.requests or self.tokens:
            return True
        start = (self.period or "").split("/", 1)[0]
        return bool(self.last_used and start and self.last_used[:10] >= start[:10])


def label(f: Finding) -> str:
    """``OpenAI key 'ci-bot' (sk-proj-...9f2c)``: how reasons and remediation name a listed key."""
    d = f.details
    return (f"{d.get('provider_name') or f.provider} key '{d.get('name') or d.get('key_id')}'"
            + (f" ({d['hint']})" if d.get("hint") else ""))


def is_admin_evidence(f: Finding) -> bool:
    return f.kind in (LISTED_KIND, USAGE_KIND)


def listed_use(group: Iterable[Finding]) -> ListedUse | None:
    """The provider's view of an agent's listed keys, or None when it has none."""
    out = ListedUse()
    models: set[str] = set()
    found = False
    for f in sorted(group, key=lambda f: f.id):
        if f.kind == LISTED_KIND:
            found = True
            d = f.details
            out.keys.append(label(f))
            out.last_used = max(filter(None, (out.last_used, d.get("last_used_at"))), default=None)
            out.period = out.period or f.period
        elif f.kind == USAGE_KIND:
            found = True
            u = f.details.get("usage") or {}
            out.requests += int(u.get("requests") or 0)
            out.tokens += int(u.get("input_tokens") or 0) + int(u.get("output_tokens") or 0)
            if f.model:
                models.add(f.model)
            out.period = out.period or f.period
            out.last_used = max(filter(None, (out.last_used, f.details.get("last_used_at"))), default=None)
        else:
            continue
        if f.cost:
            cur = f.currency or "USD"
            out.cost[cur] = out.cost.get(cur, 0.0) + f.cost
    out.keys.sort()
    out.models = sorted(models)
    return out if found else None


def unused_since(f: Finding) -> str | None:
    """The date since which an active listed key is known to be unused, or None if it was used.

    The provider's ``last_used_at`` when it has one; else, for a key never seen used, the
    later of its creation and the start of what the provider was asked about
    (``last_used_known_since``: its creation for OpenAI, the usage look-back for Anthropic).
    """
    d: dict[str, Any] = f.details
    if f.kind != LISTED_KIND or d.get("status", "active") != "active":
        return None
    if d.get("last_used_at"):
        return str(d["last_used_at"])
    known = [str(v) for v in (d.get("created_at"), d.get("last_used_known_since")) if v]
    return max(known) if known else None


def days_between(since: str, today: dt.date) -> int | None:
    try:
        return (today - dt.date.fromisoformat(since[:10])).days
    except ValueError:
        return None
