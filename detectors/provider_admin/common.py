"""What the provider-admin detectors share: options, the admin key, the endpoint, listed-key findings.

Cheap to import (the entry-point module imports it): no HTTP or cloud SDK here.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import urlsplit

from detectors.endpoints import is_loopback_url
from scanner import identity, keyhints, redact
from scanner.detector import DetectorError
from scanner.model import Confidence, Finding, Location
from scanner.options import Option

if TYPE_CHECKING:  # pragma: no cover
    from scanner.catalog import AdminApi, Catalog

DAY = 86400
SINCE = Option("since", "duration", 30 * DAY, "Usage and cost window, counted back from now (e.g. 7d, 90d).",
               flag="--since", minimum=3600)
ENDPOINT_HELP = ("Admin API base URL (a gateway, a proxy, a test server). Default: the base URL variable the "
                 "provider's SDK reads, else the provider's public API. Plain http only to a loopback address.")
# Anthropic's usage report has no last-use date per key: its last use is the newest day with
# usage, read this far back (a day more than keyhints.UNUSED_DAYS, so "unused 90 days" is known).
LAST_USE_LOOKBACK_DAYS = keyhints.UNUSED_DAYS + 1


def missing_packages(modules: Iterable[str], extra: str) -> tuple[bool, str]:
    missing = [m for m in modules if importlib.util.find_spec(m.split(".")[0]) is None
               or importlib.util.find_spec(m) is None]
    if missing:
        return False, f"needs {', '.join(missing)}: pip install 'shadow-agent-scanner[{extra}]'"
    return True, ""


def provider_api(provider: str, catalog: "Catalog | None" = None) -> tuple["AdminApi", str]:
    """The catalogue's admin API entry of ``provider`` and the provider's display name."""
    if catalog is None:
        from scanner.catalog import Catalog
        catalog = Catalog.load()
    p = catalog.providers.get(provider)
    if p is None or p.admin_api is None:
        raise DetectorError(f"the provider catalogue has no admin_api for '{provider}'")
    return p.admin_api, p.name


def admin_key(api: "AdminApi") -> tuple[str | None, str | None]:
    """(variable, value) of the first admin key variable that is set; the value is registered for scrubbing."""
    for name in api.key_env:
        value = os.environ.get(name, "").strip()
        if value:
            redact.remember(value)
            return name, value
    return None, None


def resolve_base(option: str | None, api: "AdminApi") -> tuple[str, str]:
    """(base URL, where it came from): the ``endpoint`` option, else the SDK's variable, else the catalogue.

    The admin key travels in a header: plain http is refused except to this machine.
    """
    if option:
        base, source = option, "endpoint option"
    elif api.base_url_env and os.environ.get(api.base_url_env, "").strip():
        base, source = os.environ[api.base_url_env].strip(), f"${api.base_url_env}"
    elif api.base_url:
        base, source = api.base_url, "public API"
    else:
        raise DetectorError("no admin API base URL: give --set DETECTOR.endpoint=URL")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DetectorError(f"admin API base URL from the {source} is not an http(s) URL: {redact.scrub(base)}")
    if parts.scheme == "http" and not is_loopback_url(base):
        raise DetectorError(f"admin API base URL from the {source} is plain http to {parts.hostname}: the admin key "
                            "would travel in clear; use https (plain http is accepted only to a loopback address)")
    return base.rstrip("/"), source


# ---- time -------------------------------------------------------------------------------------


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def from_unix(value: Any) -> str | None:
    try:
        return iso(utc(float(value))) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def from_rfc3339(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return iso(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


@dataclass(frozen=True)
class Window:
    """The usage and cost window: [start, end) in UTC."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def back_from(cls, now: dt.datetime, seconds: float) -> "Window":
        return cls(now - dt.timedelta(seconds=seconds), now)

    @property
    def period(self) -> str:
        return f"{self.start.date().isoformat()}/{self.end.date().isoformat()}"


# ---- usage and listed keys --------------------------------------------------------------------


@dataclass
class Usage:
    """One key's use of one model over the window, summed over buckets and endpoints."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    units: dict[str, float] = field(default_factory=dict)  # images, characters, seconds, …
    last_day: str | None = None  # newest bucket start with any use
    scopes: set[str] = field(default_factory=set)  # projects / workspaces it was used in

    def add(self, requests: int, input_tokens: int, output_tokens: int, day: str | None,
            units: dict[str, float] | None = None, scope: str | None = None) -> None:
        self.requests += requests
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        for k, v in (units or {}).items():
            self.units[k] = self.units.get(k, 0) + v
        if day and (requests or input_tokens or output_tokens or any((units or {}).values())):
            self.last_day = max(filter(None, (self.last_day, day)))
        if scope:
            self.scopes.add(scope)

    @property
    def used(self) -> bool:
        return bool(self.requests or self.input_tokens or self.output_tokens or any(self.units.values()))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"requests": self.requests, "input_tokens": self.input_tokens,
                             "output_tokens": self.output_tokens}
        d.update({k: round(v, 3) for k, v in sorted(self.units.items()) if v})
        return d


def as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@dataclass
class ListedKey:
    """One key as the provider lists it; becomes one ``listed-api-key`` finding."""

    provider: str
    provider_name: str
    key_id: str
    name: str
    hint: str
    key_type: str | None
    key_prefix: str
    scope_kind: str  # "project" | "workspace" | "organization"
    scope_id: str
    scope_name: str | None = None
    owner: str | None = None  # an email, when a person owns it
    owner_kind: str | None = None  # "user" | "service_account"
    owner_name: str | None = None
    created_at: str | None = None
    last_used_at: str | None = None
    last_used_known_since: str | None = None
    status: str = "active"
    admin: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def finding(self, detector: str, window: Window, usage: dict[str, Usage], cost: float | None,
                currency: str | None, listing_complete: bool, lists_key_formats: Iterable[str]) -> Finding:
        requests = sum(u.requests for u in usage.values())
        tokens = sum(u.input_tokens + u.output_tokens for u in usage.values())
        facts = [f"{self.scope_kind} {self.scope_name or self.scope_id}"]
        if self.owner or self.owner_name:
            facts.append(f"owner {self.owner or self.owner_name}" + (" (service account)" if
                                                                      self.owner_kind == "service_account" else ""))
        facts.append(f"status {self.status}" if self.status != "active" else "")
        facts.append(f"last used {self.last_used_at[:10]}" if self.last_used_at else "no use seen")
        if requests or tokens:
            facts.append(f"{requests:,} requests, {tokens:,} tokens over {window.period}")
        if cost:
            facts.append(f"{cost:,.2f} {currency or 'USD'}")
        kind = "admin key" if self.admin else "API key"
        evidence = (f"{self.provider_name} {kind} '{self.name}' ({self.hint}): "
                    + ", ".join(x for x in facts if x))
        details = {
            "provider_name": self.provider_name, "key_id": self.key_id, "name": self.name, "hint": self.hint,
            "key_type": self.key_type, "key_prefix": self.key_prefix, "status": self.status,
            self.scope_kind: {"id": self.scope_id, "name": self.scope_name},
            "owner": self.owner, "owner_kind": self.owner_kind, "owner_name": self.owner_name,
            "created_at": self.created_at, "last_used_at": self.last_used_at,
            "last_used_known_since": self.last_used_known_since, "admin": self.admin or None,
            "models": sorted(usage) or None, "listing_complete": listing_complete,
            "lists_key_formats": sorted(lists_key_formats),
            **self.extra,
        }
        keys = [identity.keyid(self.provider, self.key_id)]
        if self.owner:
            keys.append(identity.owner(self.owner))
        return Finding(
            detector=detector, kind=keyhints.LISTED_KIND,
            location=Location(cloud=self.provider, account=self.scope_id, resource=self.key_id),
            identity=keys, evidence=evidence, provider=self.provider, confidence=Confidence.HIGH,
            details={k: v for k, v in details.items() if v is not None},
            observed_at=self.last_used_at, cost=round(cost, 6) if cost else None,
            currency=(currency or "USD") if cost else None, period=window.period,
        )


def usage_findings(detector: str, provider: str, provider_name: str, key_id: str, usage: dict[str, Usage],
                   window: Window, scope_kind: str, owner: str | None = None,
                   cost: float | None = None, currency: str | None = None) -> list[Finding]:
    """One ``provider-usage`` finding per model the key used in the window (the cost, if any, on the first)."""
    out = []
    for i, (model, u) in enumerate(sorted(usage.items())):
        if not u.used:
            continue
        keys = [identity.keyid(provider, key_id)] + ([identity.owner(owner)] if owner else [])
        spent = cost if i == 0 and cost else None
        out.append(Finding(
            detector=detector, kind=keyhints.USAGE_KIND,
            location=Location(cloud=provider, account=",".join(sorted(u.scopes)) or None, resource=key_id),
            identity=keys, provider=provider, model=model or None, confidence=Confidence.HIGH,
            evidence=(f"{provider_name} key {key_id} used {model or 'an unnamed model'}: {u.requests:,} requests, "
                      f"{u.input_tokens:,} input and {u.output_tokens:,} output tokens over {window.period}"),
            details={"usage": u.to_dict(), "last_used_at": u.last_day, scope_kind + "s": sorted(u.scopes) or None},
            observed_at=u.last_day, cost=round(spent, 6) if spent else None,
            currency=(currency or "USD") if spent else None, period=window.period,
        ))
    for f in out:
        f.details = {k: v for k, v in f.details.items() if v is not None}
    return out


def key_format(catalog: "Catalog", provider: str, hint_head: str) -> tuple[str | None, str]:
    """(key format id, its fixed prefix) of the provider's format whose longest prefix starts ``hint_head``."""
    best: tuple[str | None, str] = (None, "")
    for fmt in catalog.providers[provider].keys if provider in catalog.providers else []:
        for prefix in fmt.prefixes:
            if hint_head.startswith(prefix) and len(prefix) > len(best[1]):
                best = (fmt.id, prefix)
    return best
