"""Core types: Finding, Agent, Coverage, Inventory, and their JSON round-trip.

Everything a report needs is in these types; reports never compute anything that
changes what they show. Output is deterministic: lists are sorted, and every
run-specific value (times, durations, host of the scan) lives in ``metadata``.
"""

from __future__ import annotations

import hashlib
import json
import operator
import sys
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Iterable, Iterator

from scanner import jsontext

SCHEMA_VERSION = "1.1"  # 1.1: typed risks, endpoint, tags on findings (1.0 read, from details)


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
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


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


class ItemKind(str, Enum):
    """What an inventory item is: a program that calls LLMs, or an MCP server (tools for agents)."""

    AGENT = "agent"
    MCP_SERVER = "mcp-server"


class Evidence(str, Enum):
    """Whether a finding can call an LLM (and so forms an item) or only describes one."""

    CALL = "call-capable"
    DESCRIPTIVE = "descriptive"


# Where evidence sits in a source tree (``Finding.place``; runtime findings have none).
PLACES = ("code", "example", "config", "ci", "test", "docs", "comment")

# Risk flags a finding may carry; severity (scanner/risk.py) reads these and nothing in ``details``.
RISKS = {
    "world-readable": "the file holding the key is readable by every user of the host",
    "in-history": "the key is in git history, where it stays until the history is rewritten",
    "exposed": "a model server listens on all interfaces",
}


@dataclass(frozen=True)
class FindingKind:
    """What one kind of finding is worth. The one table of them is :data:`FINDING_KINDS`."""

    name: str
    evidence: Evidence
    strength: int  # orders an item's evidence, strongest first; severity reads it too (see risk.py)
    summary: str
    forms: ItemKind = ItemKind.AGENT  # the item call-capable evidence of this kind forms
    places: frozenset[str] = frozenset({"code", "example"})  # where it is call-capable; () = anywhere
    runtime: bool = False  # also call-capable with no place: seen at run time (a process, a packet)

    def forms_item(self, place: str | None) -> ItemKind | None:
        """The item a finding of this kind at ``place`` forms, or None when it only describes.

        A place-bound kind seen with no place (an SDK installed in a running program's
        environment) describes; only the kinds seen at run time form an item there.
        """
        if self.evidence is Evidence.DESCRIPTIVE:
            return None
        if not self.places:
            return self.forms
        if place is None:
            return self.forms if self.runtime else None
        return self.forms if place in self.places else None


KEY, RUNTIME, CODE, CONFIG, HINT = 100, 90, 70, 50, 30  # strength tiers


def _kinds(*kinds: FindingKind) -> dict[str, FindingKind]:
    return {k.name: k for k in kinds}


_CALL, _DESC = Evidence.CALL, Evidence.DESCRIPTIVE
_ANYWHERE: frozenset[str] = frozenset()
FINDING_KINDS: dict[str, FindingKind] = _kinds(
    # A key is a key wherever it sits.
    FindingKind("credential", _CALL, KEY, "an API key or token", places=_ANYWHERE),
    FindingKind("provider-key", _CALL, KEY, "a key listed by a provider's admin API", places=_ANYWHERE),
    FindingKind("billing-line", _CALL, RUNTIME + 5, "billed LLM usage", places=_ANYWHERE),
    # Listed by a provider's or cloud's admin API: keys, their use, deployed model resources.
    FindingKind("listed-api-key", _CALL, KEY - 5, "a key the provider's admin API lists", places=_ANYWHERE),
    FindingKind("provider-usage", _CALL, RUNTIME + 5, "a listed key's use of a model, reported by the provider",
                places=_ANYWHERE),
    FindingKind("azure-openai-account", _CALL, RUNTIME, "an Azure OpenAI / AI services account", places=_ANYWHERE),
    FindingKind("azure-openai-deployment", _CALL, RUNTIME, "a model deployed in an Azure OpenAI account",
                places=_ANYWHERE),
    # Seen at run time: a process, a connection, a request.
    *(FindingKind(k, _CALL, RUNTIME, text, places=_ANYWHERE) for k, text in (
        ("process", "an agent tool or program running"),
        ("connection", "a connection to a provider from a running process"),
        ("local-model-server", "a local model server running or called"),
        ("http-request", "an HTTP request to a model API"),
        ("tls-sni", "a TLS connection naming a provider"), ("quic-sni", "a QUIC connection naming a provider"),
        ("ech", "an encrypted-ClientHello connection attributed to a provider"),
        ("dns", "a DNS lookup of a provider"), ("dns-attributed", "a connection to an address DNS gave a provider"),
        ("ip-range", "a connection into a provider's published range"), ("connect", "a proxy CONNECT to a provider"),
        ("proxy-log", "a proxy log entry for a provider"),
        ("tls-certificate", "a TLS connection to a server whose certificate names a provider"))),
    # In a source tree: calls made by the program's own code (not its tests, docs or comments).
    FindingKind("sdk-usage", _CALL, CODE + 10, "an LLM client constructed or an SDK call made in code"),
    FindingKind("framework", _CALL, CODE + 5, "a framework that calls models, used in code"),
    FindingKind("endpoint", _CALL, CODE, "a provider API endpoint used by code, or an LLM client given a base URL"),
    FindingKind("local-llm-use", _CALL, CODE - 5, "code that imports this repository's own code that calls LLMs"),
    FindingKind("ci-workflow", _CALL, CODE, "a CI job running an agent tool", places=frozenset({"ci"})),
    FindingKind("runner-config", _CALL, CODE, "a config that a tool runs against models (eval providers)",
                places=frozenset({"config", "code", "example", "ci"})),
    FindingKind("mcp-server", _CALL, CONFIG, "an MCP server configured, implemented or running",
                forms=ItemKind.MCP_SERVER, places=frozenset({"config", "code", "example"}), runtime=True),
    # Describe an item that the kinds above formed; never form one.
    FindingKind("sdk-import", _DESC, HINT + 10, "an LLM SDK imported, no call seen in that file"),
    FindingKind("framework-import", _DESC, HINT + 5, "a framework or MCP SDK imported, no model call seen"),
    FindingKind("dependency", _DESC, HINT, "a manifest or lock file names an LLM package"),
    FindingKind("endpoint-config", _DESC, HINT, "a variable points at a model API"),
    FindingKind("ci-secret", _DESC, HINT, "a CI job is handed an LLM key (what it runs says whether it calls one)"),
    FindingKind("endpoint-mention", _DESC, HINT - 5, "a provider URL in text: a message, a placeholder, prose"),
    FindingKind("model-reference", _DESC, HINT - 5, "a model name"),
    FindingKind("agent-config", _DESC, HINT - 5, "coding-agent settings or instructions"),
    FindingKind("provider-config", _DESC, HINT - 10, "a provider setting (not a key) is set"),
)
_UNKNOWN_KIND = FindingKind("", _CALL, CODE, "a finding of a kind this version does not know", places=_ANYWHERE)


def finding_kind(kind: str) -> FindingKind:
    """The declaration of ``kind``; a kind nobody declared (a plugin's) forms an agent, as before."""
    return FINDING_KINDS.get(kind) or FindingKind(kind, _UNKNOWN_KIND.evidence, _UNKNOWN_KIND.strength,
                                                  _UNKNOWN_KIND.summary, places=_ANYWHERE)


def stable_hash(*parts: str, length: int = 16) -> str:
    """Short hex digest of ``parts``: same inputs give the same id on every machine."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:length]


def _shared(value: Any) -> Any:
    """One copy of a text that many objects of a saved inventory repeat (a provider, a kind, a
    remediation): a million agents read from JSON would otherwise hold a million copies each."""
    return sys.intern(value) if type(value) is str else value


def _shared_list(values: Iterable[Any]) -> list[Any]:
    return [sys.intern(v) if type(v) is str else v for v in values]


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` without None, [] and {} (no list or dict is made to compare with: inventories are large)."""
    return {k: v for k, v in d.items() if v is not None and (v or not isinstance(v, (list, dict)))}


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
        return {k: v for k, v in zip(_LOCATION_NAMES, _location_values(self))
                if v is not None and (v or not isinstance(v, (list, dict)))}  # _drop_empty(), inlined

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Location":
        if d.keys() <= _LOCATION_FIELDS:
            return cls(**d)
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
_location_values = operator.attrgetter(*_LOCATION_NAMES)  # a location's values in field order, in one call
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
    place: str | None = None  # where in a source tree (PLACES): tests, docs and comments only describe
    # What the core reads; ``details`` is for display only.
    risks: list[str] = field(default_factory=list)  # RISKS flags
    endpoint: str | None = None  # the network endpoint the evidence names (URL or host name)
    tags: dict[str, str] = field(default_factory=dict)  # resource tags a registry record may match on
    id: str = ""

    def __post_init__(self) -> None:
        self.identity = sorted(set(self.identity))
        self.confidence = Confidence(self.confidence)
        if self.place is not None and self.place not in PLACES:
            raise ValueError(f"unknown place {self.place!r} (known: {', '.join(PLACES)})")
        self.risks = _known_risks(self.risks)
        if not self.id:
            self.id = stable_hash(
                self.detector,
                self.kind,
                _SORTED_JSON(self.location.to_dict()),
                *self.identity,
                self.provider or "",
                self.model or "",
            )

    def add_risk(self, flag: str) -> None:
        """Mark a risk flag (a RISKS name) after the finding was made."""
        self.risks = _known_risks([*self.risks, flag])

    @property
    def forms(self) -> ItemKind | None:
        """The inventory item this finding forms, or None when it only describes one.

        A finding in a file with no place recorded (an inventory from before places) counts as code.
        """
        return _formed(self.kind, self._where)[0]

    @property
    def strength(self) -> tuple[int, int, int]:
        """Sort key, larger first: forming evidence, then the kind's strength, then confidence."""
        forms, strength = _formed(self.kind, self._where)
        return (forms is not None, strength, _CONFIDENCE_RANK[self.confidence])

    @property
    def _where(self) -> str | None:
        """Its place, a file finding with none counting as code (an inventory from before places)."""
        return self.place if self.place is not None or not self.location.path else "code"

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
            "place": self.place,
            "risks": list(self.risks),
            "endpoint": self.endpoint,
            "tags": dict(sorted(self.tags.items())),
        }
        return _drop_empty(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any], legacy: bool = False) -> "Finding":
        """``legacy``: ``d`` is from a schema 1.0 inventory (risk flags, endpoint and tags in ``details``)."""
        return cls(
            id=d["id"],
            detector=_shared(d["detector"]),
            kind=_shared(d["kind"]),
            location=Location.from_dict(d.get("location", {})),
            identity=list(d.get("identity", [])),
            evidence=d.get("evidence", ""),
            provider=_shared(d.get("provider")),
            model=_shared(d.get("model")),
            confidence=Confidence(d.get("confidence", "medium")),
            credential=Credential.from_dict(d["credential"]) if d.get("credential") else None,
            details=dict(d.get("details", {})),
            observed_at=d.get("observed_at"),
            cost=d.get("cost"),
            currency=_shared(d.get("currency")),
            period=_shared(d.get("period")),
            quantity=d.get("quantity"),
            unit=_shared(d.get("unit")),
            place=_shared(d.get("place")),
            **_typed_fields(d, legacy),
        )

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> "Finding":
        """:meth:`from_dict` of a finding in the form the model writes it, as
        :class:`scanner.inventory_chunks.FindingRecord` checked it (identity and risks sorted
        without repeats, place, confidence and location fields known, an id): the same finding,
        built without repeating the checks that form passed (merge on disk builds millions)."""
        f = cls.__new__(cls)
        attrs = f.__dict__
        attrs.update(_RECORD_UNSET)
        attrs.update(d)
        location = attrs["location"] = Location.__new__(Location)
        location.__dict__.update(_LOCATION_UNSET)
        location.__dict__.update(d["location"])
        attrs["confidence"] = _CONFIDENCES[d["confidence"]]
        if "credential" in d:
            attrs["credential"] = Credential.from_dict(d["credential"])
        for name in ("details", "tags"):
            if name not in d:
                attrs[name] = {}
        if "risks" not in d:
            attrs["risks"] = []
        return f


_RECORD_UNSET = {f.name: None for f in fields(Finding) if f.default is None}
_LOCATION_UNSET = dict.fromkeys(_LOCATION_NAMES)
_CONFIDENCES = {c.value: c for c in Confidence}


def _known_risks(risks: Iterable[str]) -> list[str]:
    """``risks`` sorted and without repeats; a flag not in RISKS is refused."""
    if not risks:
        return []
    risks = list(risks)
    unknown = [r for r in risks if r not in RISKS]
    if unknown:
        raise ValueError(f"unknown risk {unknown[0]!r} (known: {', '.join(RISKS)})")
    return sorted(set(risks))


# Inventories written before the typed fields held them in ``details`` under these names.
_LEGACY_RISKS = {"world_readable": "world-readable", "in_history": "in-history", "exposed": "exposed"}
_LEGACY_ENDPOINTS = ("endpoint", "url", "sni", "hostname")


def _typed_fields(d: dict[str, Any], legacy: bool) -> dict[str, Any]:
    """``risks``, ``endpoint`` and ``tags`` of a saved finding; a 1.0 inventory held them in ``details``."""
    if not legacy:
        return {"risks": list(d.get("risks", [])), "endpoint": d.get("endpoint"), "tags": dict(d.get("tags", {}))}
    details = d.get("details") or {}
    tags = details.get("tags")
    return {
        "risks": [flag for key, flag in _LEGACY_RISKS.items() if details.get(key) is True],
        "endpoint": next((v for k in _LEGACY_ENDPOINTS if isinstance(v := details.get(k), str) and v.strip()), None),
        "tags": {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
    }


_CONFIDENCE_RANK = {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}
_FORMED: dict[tuple[str, str | None], tuple[ItemKind | None, int]] = {}


def _formed(kind: str, place: str | None) -> tuple[ItemKind | None, int]:
    """What a finding of ``kind`` at ``place`` forms, and the kind's strength: asked several times
    for each of millions of findings, worked out once for each kind and place (the declarations
    never change; kinds nobody declared are many only in a hostile input: past a bound, not kept)."""
    known = _FORMED.get((kind, place))
    if known is None:
        declared = finding_kind(kind)
        known = (declared.forms_item(place), declared.strength)
        if len(_FORMED) < 4096:
            _FORMED[(kind, place)] = known
    return known


@dataclass
class Reason:
    """Why an agent has its status or severity: a stable code and a sentence for people."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Reason":
        return cls(_shared(d["code"]), d["message"])


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
    kind: ItemKind = ItemKind.AGENT

    @property
    def is_agent(self) -> bool:
        """An agent (a program that calls LLMs), not another kind of item such as an MCP server."""
        return self.kind == ItemKind.AGENT

    @property
    def dedupe_key(self) -> str:
        """Stable across runs and hosts: what ticketing uses to update, not duplicate."""
        return f"shadow-agents:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
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
        return {k: v for k, v in d.items()
                if k in _AGENT_KEPT or (v is not None and (v or not isinstance(v, (list, dict))))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Agent":
        return cls(
            id=d["id"],
            name=d["name"],
            identity=list(d.get("identity", [])),
            findings=list(d.get("findings", [])),
            providers=_shared_list(d.get("providers", [])),
            models=_shared_list(d.get("models", [])),
            owners=_shared_list(d.get("owners", [])),
            detectors=_shared_list(d.get("detectors", [])),
            kinds=_shared_list(d.get("kinds", [])),
            locations=list(d.get("locations", [])),
            first_seen=d.get("first_seen"),
            last_seen=d.get("last_seen"),
            spend=dict(d.get("spend", {})),
            status=Status(d.get("status", "shadow")),
            reasons=[Reason.from_dict(r) for r in d.get("reasons", [])],
            approved_id=d.get("approved_id"),
            severity=Severity(d.get("severity", "info")),
            remediation=_shared(d.get("remediation")),
            change=Change(d["change"]) if d.get("change") else None,
            kind=ItemKind(d.get("kind", "agent")),
        )

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> "Agent":
        """:meth:`from_dict` of an agent in the form the model writes it, as
        :class:`scanner.inventory_chunks.AgentRecord` checked it (every field known, its enums'
        values among theirs, the dedupe key its id's): the same agent, built without the checks."""
        agent = cls.__new__(cls)
        attrs = agent.__dict__
        attrs.update(_AGENT_UNSET)
        attrs.update(d)
        del attrs["dedupe_key"]  # derived from the id
        for name in _AGENT_LISTS:
            if name not in d:
                attrs[name] = []
        if "spend" not in d:
            attrs["spend"] = {}
        attrs["status"], attrs["severity"], attrs["kind"] = (
            _STATUSES[d["status"]], _SEVERITIES[d["severity"]], _ITEM_KINDS[d["kind"]])
        if "change" in d:
            attrs["change"] = _CHANGES[d["change"]]
        attrs["reasons"] = [Reason(r["code"], r["message"]) for r in d["reasons"]]
        return agent


_AGENT_UNSET = {f.name: None for f in fields(Agent) if f.default is None}
_AGENT_LISTS = ("providers", "models", "owners", "detectors", "kinds", "locations")
_STATUSES = {s.value: s for s in Status}
_SEVERITIES = {s.value: s for s in Severity}
_ITEM_KINDS = {k.value: k for k in ItemKind}
_CHANGES = {c.value: c for c in Change}

_AGENT_KEPT = frozenset({"id", "name", "kind", "status", "severity", "identity", "findings", "reasons", "dedupe_key"})


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


def agent_order(a: "Agent") -> tuple[int, int, str, str]:
    """The canonical order of agents in every output: worst status, then severity, then name."""
    return (-a.status.rank, -a.severity.rank, a.name, a.id)


class JsonText:
    """The pieces of an inventory's JSON text in the order they are written: each array opened,
    its elements, closed; then the rest (:meth:`Inventory.json_pieces` and ``report -f json`` of a
    saved inventory, written as it is read, share them)."""

    def __init__(self) -> None:
        self.sections = 0
        self.count = 0

    def open(self, name: str) -> str:
        self.sections += 1
        self.count = 0
        return ("{\n" if self.sections == 1 else ",\n") + f'  "{name}": '

    def item(self, value: dict[str, Any]) -> str:
        self.count += 1
        return ("[\n    " if self.count == 1 else ",\n    ") + jsontext.dumps(value, 2)

    def items(self, text: str, count: int) -> str:
        """``count`` items already written as text (``",\n    "`` between them, the first without)."""
        if not count:
            return ""
        self.count += count
        return ("[\n    " if self.count == count else ",\n    ") + text

    def close(self) -> str:
        return "\n  ]" if self.count else "[]"

    def tail(self, metadata: dict[str, Any], schema_version: str, summary: dict[str, Any]) -> str:
        return (',\n  "metadata": ' + jsontext.dumps(metadata, 1)
                + ',\n  "schema_version": ' + jsontext.dumps(schema_version, 1)
                + ',\n  "summary": ' + jsontext.dumps(summary, 1) + "\n}")


class Tally:
    """The counts of :meth:`Inventory.summary`, taken one agent at a time in the inventory's order
    (spend is rounded as it is added up, so the order is the one the summary is written in)."""

    def __init__(self) -> None:
        self.by_status = {s.value: 0 for s in Status}
        self.spend: dict[str, float] = {}
        self.unexplained: dict[str, float] = {}
        self.changes = {c.value: 0 for c in Change}
        self.agents = self.mcp_servers = 0

    def agent(self, a: Agent) -> None:
        if self.count(a):
            self.add_spend(a)

    def count(self, a: Agent) -> bool:
        """Count ``a``; True when it is an agent whose spend counts (:meth:`add_spend`)."""
        if a.change:
            self.changes[a.change.value] += 1
        if a.change == Change.GONE:
            return False
        if a.kind == ItemKind.MCP_SERVER:
            self.mcp_servers += 1
        if not a.is_agent:
            return False
        self.agents += 1
        self.by_status[a.status.value] += 1
        return True

    def add_spend(self, a: Agent) -> None:
        self.add_amounts(a.spend, a.status == Status.APPROVED)

    def add(self, other: "Tally") -> None:
        """The counts of ``other`` (taken elsewhere), not its spend: that is added in the agents'
        order with :meth:`add_amounts`, as it is rounded on the way."""
        for status, n in other.by_status.items():
            self.by_status[status] += n
        for change, n in other.changes.items():
            self.changes[change] += n
        self.agents += other.agents
        self.mcp_servers += other.mcp_servers

    def add_amounts(self, spend: dict[str, float], approved: bool) -> None:
        """:meth:`add_spend` of an agent no longer held: its spend, and whether it is approved."""
        for cur, amount in spend.items():
            self.spend[cur] = round(self.spend.get(cur, 0.0) + amount, 2)
            if not approved:
                self.unexplained[cur] = round(self.unexplained.get(cur, 0.0) + amount, 2)

    def summary(self, findings: int, unattached: int, complete: bool) -> dict[str, Any]:
        return {
            "agents": self.agents,
            "by_status": dict(self.by_status),
            "mcp_servers": self.mcp_servers,
            "findings": findings,
            "unattached_findings": unattached,
            "spend": dict(sorted(self.spend.items())),
            "unexplained_spend": dict(sorted(self.unexplained.items())),
            "changes": dict(self.changes) if any(self.changes.values()) else {},
            "complete": complete,
        }


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
        """Counts people read first. ``agents`` and ``by_status`` count agents only; other items
        (MCP servers) are counted apart, and so are findings that formed no item (descriptive only)."""
        tally = Tally()
        for a in self.agents:
            tally.agent(a)
        attached = {f for a in self.agents for f in a.findings}
        unattached = sum(1 for f in self.findings if f.id not in attached)
        return tally.summary(len(self.findings), unattached, self.complete)

    def sorted(self) -> "Inventory":
        """Return self with every list in its canonical order (for deterministic output)."""
        self.agents.sort(key=agent_order)
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
        return "".join(self.json_pieces())

    def json_pieces(self, size: int = 1 << 20) -> Iterator[str]:
        """:meth:`to_json` in pieces of about ``size`` characters: a large inventory is written
        one agent and one finding at a time, never whole (nor each copy an output stream makes
        of it). The text is that of ``json.dumps(self.to_dict(), indent=2, sort_keys=True,
        ensure_ascii=False)`` plus a line end; the top-level keys are written in sorted order here."""
        self.sorted()
        summary = self.summary()
        parts: list[str] = []
        length = 0
        for piece in self._json_parts(summary):
            parts.append(piece)
            length += len(piece)
            if length >= size:
                yield "".join(parts)
                parts, length = [], 0
        parts.append("\n")
        yield "".join(parts)

    def _json_parts(self, summary: dict[str, Any]) -> Iterator[str]:
        text = JsonText()
        for name, items in (("agents", self.agents), ("coverage", self.coverage), ("findings", self.findings)):
            yield text.open(name)
            for item in items:
                yield text.item(item.to_dict())
            yield text.close()
        yield text.tail(self.metadata, self.schema_version, summary)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Inventory":
        legacy = d.get("schema_version") == "1.0"
        return cls(
            agents=[Agent.from_dict(a) for a in d.get("agents", [])],
            findings=[Finding.from_dict(f, legacy) for f in d.get("findings", [])],
            coverage=[Coverage.from_dict(c) for c in d.get("coverage", [])],
            metadata=dict(d.get("metadata", {})),
            schema_version=SCHEMA_VERSION,  # read as, and written as, this version
        )

    @classmethod
    def from_parts(cls, d: dict[str, Any], agents: list[Agent], findings: list[Finding]) -> "Inventory":
        """:meth:`from_dict` of ``d`` whose agents and findings were already built, one at a time
        and before ``schema_version`` was read (it comes after them in a saved file): the findings
        of a 1.0 inventory get their typed fields from ``details`` here, as ``from_dict`` gives them."""
        if d.get("schema_version") == "1.0":
            for f in findings:
                typed = _typed_fields({"details": f.details}, legacy=True)
                f.risks, f.endpoint, f.tags = _known_risks(typed["risks"]), typed["endpoint"], typed["tags"]
        return cls(agents=agents, findings=findings, coverage=[Coverage.from_dict(c) for c in d.get("coverage", [])],
                   metadata=dict(d.get("metadata", {})), schema_version=SCHEMA_VERSION)


def unique_sorted(values: Iterable[str | None]) -> list[str]:
    return sorted({v for v in values if v})
