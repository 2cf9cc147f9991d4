"""Core types: Finding, Agent, Coverage, Inventory, and their JSON round-trip.

Everything a report needs is in these types; reports never compute anything that
changes what they show. Output is deterministic: lists are sorted, and every
run-specific value (times, durations, host of the scan) lives in ``metadata``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Iterable

SCHEMA_VERSION = "1.0"


class Confidence(str, Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Status(str, Enum):
    """Agent status against the registry; RANK orders them by severity."""

    APPROVED = "approved"
    DORMANT = "dormant"
    REVIEW_OVERDUE = "review-overdue"
    DRIFT = "drift"
    EXPIRED = "expired"
    SHADOW = "shadow"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]


_STATUS_RANK = {s: i for i, s in enumerate(Status)}


class Severity(str, Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Change(str, Enum):
    """An agent's state relative to a baseline inventory."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    GONE = "gone"


class CoverageStatus(str, Enum):
    RAN = "ran"
    PARTIAL = "partial"
    SKIPPED = "skipped"
    FAILED = "failed"


def stable_hash(*parts: str, length: int = 16) -> str:
    """Short hex digest of ``parts``: same inputs give the same id on every machine."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:length]


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


@dataclass(frozen=True)
class Location:
    """Where evidence was seen; only the fields that apply are set."""

    path: str | None = None
    line: int | None = None
    commit: str | None = None
    host: str | None = None
    pid: int | None = None
    user: str | None = None
    exe: str | None = None
    capture: str | None = None
    flow: str | None = None
    cloud: str | None = None
    account: str | None = None
    resource: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_empty({name: getattr(self, name) for name in _LOCATION_NAMES})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Location":
        return cls(**{k: v for k, v in d.items() if k in _LOCATION_FIELDS})

    def describe(self) -> str:
        """One short human-readable line: ``path:line``, ``host pid 12``, ``aws 1234 res``."""
        if self.path:
            where = self.path + (f":{self.line}" if self.line else "")
            return where + (f" @{self.commit[:10]}" if self.commit else "")
        if self.pid is not None or self.exe:
            bits = [self.host or "", f"pid {self.pid}" if self.pid is not None else "", self.exe or ""]
            return " ".join(b for b in bits if b)
        if self.capture:
            return f"{self.capture} {self.flow or ''}".strip()
        if self.cloud:
            return " ".join(b for b in (self.cloud, self.account, self.resource) if b)
        return self.host or "-"


_LOCATION_FIELDS = {f.name for f in fields(Location)}
_LOCATION_NAMES = tuple(f.name for f in fields(Location))  # field order; fields() is slow per call
_SORTED_JSON = json.JSONEncoder(sort_keys=True).encode  # json.dumps(x, sort_keys=True), one encoder


@dataclass(frozen=True)
class Credential:
    """A secret as findings may carry it: never the value, only what identifies it."""

    fingerprint: str
    preview: str
    key_type: str | None = None
    admin: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {"fingerprint": self.fingerprint, "preview": self.preview, "key_type": self.key_type}
        if self.admin:
            d["admin"] = True
        return _drop_empty(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Credential":
        return cls(d["fingerprint"], d["preview"], d.get("key_type"), bool(d.get("admin", False)))


@dataclass
class Finding:
    """One piece of evidence produced by a detector."""

    detector: str
    kind: str
    location: Location
    identity: list[str]
    evidence: str
    provider: str | None = None
    model: str | None = None
    confidence: Confidence = Confidence.MEDIUM
    credential: Credential | None = None
    details: dict[str, Any] = field(default_factory=dict)
    observed_at: str | None = None
    cost: float | None = None
    currency: str | None = None
    period: str | None = None
    # Billed usage behind ``cost`` (billing findings): amount and the bill's unit for it.
    quantity: float | None = None
    unit: str | None = None
    id: str = ""

    def __post_init__(self) -> None:
        self.identity = sorted(set(self.identity))
        self.confidence = Confidence(self.confidence)
        if not self.id:
            self.id = stable_hash(
                self.detector,
                self.kind,
                _SORTED_JSON(self.location.to_dict()),
                *self.identity,
                self.provider or "",
                self.model or "",
            )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "detector": self.detector,
            "kind": self.kind,
            "provider": self.provider,
            "model": self.model,
            "confidence": self.confidence.value,
            "location": self.location.to_dict(),
            "identity": list(self.identity),
            "evidence": self.evidence,
            "credential": self.credential.to_dict() if self.credential else None,
            "details": self.details,
            "observed_at": self.observed_at,
            "cost": self.cost,
            "currency": self.currency,
            "period": self.period,
            "quantity": self.quantity,
            "unit": self.unit,
        }
        return _drop_empty(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        return cls(
            id=d["id"],
            detector=d["detector"],
            kind=d["kind"],
            location=Location.from_dict(d.get("location", {})),
            identity=list(d.get("identity", [])),
            evidence=d.get("evidence", ""),
            provider=d.get("provider"),
            model=d.get("model"),
            confidence=Confidence(d.get("confidence", "medium")),
            credential=Credential.from_dict(d["credential"]) if d.get("credential") else None,
            details=dict(d.get("details", {})),
            observed_at=d.get("observed_at"),
            cost=d.get("cost"),
            currency=d.get("currency"),
            period=d.get("period"),
            quantity=d.get("quantity"),
            unit=d.get("unit"),
        )


@dataclass
class Reason:
    """Why an agent has its status or severity: a stable code and a sentence for people."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Reason":
        return cls(d["code"], d["message"])


@dataclass
class Agent:
    """A connected group of findings: one program, however many places it was seen."""

    id: str
    name: str
    identity: list[str]
    findings: list[str]
    providers: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    detectors: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    first_seen: str | None = None
    last_seen: str | None = None
    spend: dict[str, float] = field(default_factory=dict)
    status: Status = Status.SHADOW
    reasons: list[Reason] = field(default_factory=list)
    approved_id: str | None = None
    severity: Severity = Severity.INFO
    remediation: str | None = None
    change: Change | None = None

    @property
    def dedupe_key(self) -> str:
        """Stable across runs and hosts: what ticketing uses to update, not duplicate."""
        return f"shadow-agents:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "status": self.status.value,
            "severity": self.severity.value,
            "change": self.change.value if self.change else None,
            "approved_id": self.approved_id,
            "providers": self.providers,
            "models": self.models,
            "owners": self.owners,
            "detectors": self.detectors,
            "kinds": self.kinds,
            "locations": self.locations,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "spend": {k: round(v, 2) for k, v in sorted(self.spend.items())},
            "identity": self.identity,
            "findings": self.findings,
            "reasons": [r.to_dict() for r in self.reasons],
            "remediation": self.remediation,
            "dedupe_key": self.dedupe_key,
        }
        keep = {"id", "name", "status", "severity", "identity", "findings", "reasons", "dedupe_key"}
        return {k: v for k, v in d.items() if k in keep or (v is not None and v != [] and v != {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Agent":
        return cls(
            id=d["id"],
            name=d["name"],
            identity=list(d.get("identity", [])),
            findings=list(d.get("findings", [])),
            providers=list(d.get("providers", [])),
            models=list(d.get("models", [])),
            owners=list(d.get("owners", [])),
            detectors=list(d.get("detectors", [])),
            kinds=list(d.get("kinds", [])),
            locations=list(d.get("locations", [])),
            first_seen=d.get("first_seen"),
            last_seen=d.get("last_seen"),
            spend=dict(d.get("spend", {})),
            status=Status(d.get("status", "shadow")),
            reasons=[Reason.from_dict(r) for r in d.get("reasons", [])],
            approved_id=d.get("approved_id"),
            severity=Severity(d.get("severity", "info")),
            remediation=d.get("remediation"),
            change=Change(d["change"]) if d.get("change") else None,
        )


@dataclass
class Gap:
    """Something a detector could not look at, and why."""

    what: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "reason": self.reason}


@dataclass
class Coverage:
    """What one detector did: ran, partial (with gaps), skipped (why) or failed (error)."""

    detector: str
    status: CoverageStatus = CoverageStatus.RAN
    reason: str | None = None
    host: str | None = None
    scanned: dict[str, int] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)
    gaps_total: int = 0
    findings: int = 0
    input_error: bool = False  # failed because of the user's input (exit 2), not a bug

    MAX_GAPS = 200  # keep reports readable; gaps_total keeps the true count

    def add_gap(self, what: str, reason: str) -> None:
        self.gaps_total += 1
        if len(self.gaps) < self.MAX_GAPS:
            self.gaps.append(Gap(what, reason))
        if self.status == CoverageStatus.RAN:
            self.status = CoverageStatus.PARTIAL

    def count(self, what: str, n: int = 1) -> None:
        self.scanned[what] = self.scanned.get(what, 0) + n

    @property
    def complete(self) -> bool:
        return self.status == CoverageStatus.RAN

    def to_dict(self) -> dict[str, Any]:
        gaps = sorted((g.to_dict() for g in self.gaps), key=lambda g: (g["what"], g["reason"]))
        d = {
            "detector": self.detector,
            "status": self.status.value,
            "reason": self.reason,
            "host": self.host,
            "scanned": dict(sorted(self.scanned.items())),
            "gaps": gaps,
            "gaps_total": self.gaps_total or None,
            "findings": self.findings,
            "input_error": self.input_error or None,
        }
        return {k: v for k, v in d.items() if k in ("detector", "status", "findings") or v not in (None, [], {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Coverage":
        gaps = [Gap(g["what"], g["reason"]) for g in d.get("gaps", [])]
        return cls(
            detector=d["detector"],
            status=CoverageStatus(d.get("status", "ran")),
            reason=d.get("reason"),
            host=d.get("host"),
            scanned=dict(d.get("scanned", {})),
            gaps=gaps,
            gaps_total=d.get("gaps_total", len(gaps)),
            findings=d.get("findings", 0),
            input_error=bool(d.get("input_error", False)),
        )


@dataclass
class Inventory:
    """The result of a scan: agents, the findings behind them, and what was covered."""

    agents: list[Agent]
    findings: list[Finding]
    coverage: list[Coverage]
    metadata: dict[str, Any] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION

    def finding_map(self) -> dict[str, Finding]:
        return {f.id: f for f in self.findings}

    @property
    def complete(self) -> bool:
        return all(c.complete for c in self.coverage)

    def summary(self) -> dict[str, Any]:
        active = [a for a in self.agents if a.change != Change.GONE]
        by_status = {s.value: 0 for s in Status}
        for a in active:
            by_status[a.status.value] += 1
        spend: dict[str, float] = {}
        unexplained: dict[str, float] = {}
        for a in active:
            for cur, amount in a.spend.items():
                spend[cur] = round(spend.get(cur, 0.0) + amount, 2)
                if a.status != Status.APPROVED:
                    unexplained[cur] = round(unexplained.get(cur, 0.0) + amount, 2)
        changes = {c.value: 0 for c in Change}
        for a in self.agents:
            if a.change:
                changes[a.change.value] += 1
        return {
            "agents": len(active),
            "by_status": by_status,
            "findings": len(self.findings),
            "spend": dict(sorted(spend.items())),
            "unexplained_spend": dict(sorted(unexplained.items())),
            "changes": changes if any(changes.values()) else {},
            "complete": self.complete,
        }

    def sorted(self) -> "Inventory":
        """Return self with every list in its canonical order (for deterministic output)."""
        self.agents.sort(key=lambda a: (-a.status.rank, -a.severity.rank, a.name, a.id))
        self.findings.sort(key=lambda f: f.id)
        self.coverage.sort(key=lambda c: (c.detector, c.host or ""))
        return self

    def to_dict(self) -> dict[str, Any]:
        self.sorted()
        return {
            "schema_version": self.schema_version,
            "metadata": self.metadata,
            "summary": self.summary(),
            "agents": [a.to_dict() for a in self.agents],
            "findings": [f.to_dict() for f in self.findings],
            "coverage": [c.to_dict() for c in self.coverage],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Inventory":
        return cls(
            agents=[Agent.from_dict(a) for a in d.get("agents", [])],
            findings=[Finding.from_dict(f) for f in d.get("findings", [])],
            coverage=[Coverage.from_dict(c) for c in d.get("coverage", [])],
            metadata=dict(d.get("metadata", {})),
            schema_version=d.get("schema_version", SCHEMA_VERSION),
        )


def unique_sorted(values: Iterable[str | None]) -> list[str]:
    return sorted({v for v in values if v})
