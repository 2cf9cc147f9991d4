"""Agents × registry → status and reasons.

approved · shadow (no record) · drift (record, but an undeclared provider, model or
location) · dormant (record nothing matched) · review-overdue · expired. An agent
may carry several reasons; its status is the most severe of them.
"""

from __future__ import annotations

import datetime as dt
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Iterable

from scanner import identity, keyhints
from scanner.model import Agent, Coverage, CoverageStatus, Finding, Reason, Status, stable_hash

if TYPE_CHECKING:  # the registry loader (YAML) is imported only when a registry is given
    from scanner.registry import Record, Registry


def compare(agents: list[Agent], findings: dict[str, Finding], registry: Registry | None,
            today: dt.date, ran: Iterable[str] = ()) -> list[Agent]:
    """Set status and reasons on ``agents``; return them plus one dormant agent per unmatched record."""
    matched: set[str] = set()
    for agent in agents:
        record_id = compare_agent(agent, findings, registry, today)
        if record_id is not None:
            matched.add(record_id)
    agents += dormant_agents(registry, matched, today, ran)
    return agents


def compare_agent(agent: Agent, findings: dict[str, Finding], registry: Registry | None,
                  today: dt.date) -> str | None:
    """Set status and reasons on one agent (``findings``: at least its own); the id of the record
    it matched, if any. Agents are compared each on its own: ``merge`` compares them one at a time."""
    record_id = None
    if registry is None:
        _set(agent, Status.SHADOW, [Reason("unregistered", "no registry was given, so every agent is unapproved; "
                                            "pass --registry FILE")])
    else:
        records = [r for r in registry.candidates(agent.identity) if _matches(r, agent, findings)]
        if not records:
            _set(agent, Status.SHADOW, [Reason("unregistered", "no registry record matches this agent's identity "
                                                f"({_short_keys(agent)})")])
        else:
            record = records[0]
            record_id = agent.approved_id = record.id
            reasons = check_record(record, agent, today)
            if len(records) > 1:
                others = ", ".join(r.id for r in records[1:])
                reasons.append(Reason("ambiguous-match", f"also matches records {others}; using {record.id} "
                                                         f"({record.where()}), the first in the file"))
            _set(agent, _worst(reasons), reasons or [Reason("approved", f"matches registry record {record.id} "
                                                                        f"({record.where()}), owner {record.owner}")])
    agent.reasons += listed_key_reasons(agent, [findings[f] for f in agent.findings if f in findings], today)
    return record_id


def detectors_run(coverage: Iterable[Coverage]) -> set[str]:
    """The detectors that ran, in full or in part: a dormant record names them."""
    return {c.detector for c in coverage if c.status in (CoverageStatus.RAN, CoverageStatus.PARTIAL)}


def dormant_agents(registry: Registry | None, matched: set[str], today: dt.date,
                   ran: Iterable[str] = ()) -> list[Agent]:
    """One dormant agent per registry record no agent matched (ids in ``matched``), in the file's
    order; ``ran``: the detectors that ran (:func:`detectors_run`)."""
    if registry is None:
        return []
    named = ", ".join(sorted(ran)) or "none"
    return [dormant_agent(record, today, named) for record in registry.records if record.id not in matched]


def dormant_agent(record: Record, today: dt.date, ran: str) -> Agent:
    agent = Agent(
        id=stable_hash(f"registry:{record.id}", length=12),
        name=record.name,
        identity=[],
        findings=[],
        providers=sorted(record.providers),
        models=sorted(record.models),
        owners=[record.owner],
        approved_id=record.id,
    )
    reasons = [Reason("dormant", f"registry record {record.id} ({record.where()}) matched nothing in this scan "
                                 f"(detectors run: {ran}); retire the record or check where it runs")]
    reasons += [r for r in check_record(record, agent, today) if r.code in ("expired", "review-overdue")]
    _set(agent, Status.DORMANT, reasons)
    return agent


def check_record(record: Record, agent: Agent, today: dt.date) -> list[Reason]:
    """Every way ``agent`` departs from what ``record`` declares (empty: approved)."""
    reasons: list[Reason] = []
    if record.expires and record.expires < today:
        reasons.append(Reason("expired", f"record {record.id} expired on {record.expires.isoformat()}"))
    reviewed = record.last_reviewed or record.created
    if reviewed is None:
        reasons.append(Reason("review-overdue", f"record {record.id} has no last_reviewed date"))
    else:
        due = reviewed + dt.timedelta(days=record.review_every_days)
        if due < today:
            reasons.append(Reason("review-overdue", f"record {record.id} was last reviewed {reviewed.isoformat()}; "
                                                    f"review was due {due.isoformat()} "
                                                    f"(every {record.review_every_days} days)"))
    if record.providers:
        for p in agent.providers:
            if p not in record.providers:
                reasons.append(Reason("drift-provider", f"uses provider {p}, record {record.id} declares "
                                                        f"{', '.join(record.providers)}"))
    if record.models:
        for m in agent.models:
            if not any(_model_matches(m, declared) for declared in record.models):
                reasons.append(Reason("drift-model", f"uses model {m}, record {record.id} declares "
                                                     f"{', '.join(record.models)}"))
    for kind, patterns in record.location_patterns.items():
        for key in agent.identity:
            if identity.key_type(key) == kind and not any(fnmatchcase(key, p) for p in patterns):
                reasons.append(Reason("drift-location", f"seen at {key}, which record {record.id} does not declare"))
    return reasons


_CODE_STATUS = {
    "expired": Status.EXPIRED,
    "review-overdue": Status.REVIEW_OVERDUE,
    "drift-provider": Status.DRIFT,
    "drift-model": Status.DRIFT,
    "drift-location": Status.DRIFT,
}


def _worst(reasons: list[Reason]) -> Status:
    statuses = [_CODE_STATUS[r.code] for r in reasons if r.code in _CODE_STATUS]
    return max(statuses, key=lambda s: s.rank) if statuses else Status.APPROVED


def _set(agent: Agent, status: Status, reasons: list[Reason]) -> None:
    agent.status = status
    agent.reasons = reasons


def _model_matches(model: str, declared: str) -> bool:
    """``gpt-4o`` declares ``gpt-4o`` and its dated versions (``gpt-4o-2024-08-06``); globs allowed."""
    m, d = model.lower(), declared.lower()
    return m == d or fnmatchcase(m, d) or m.startswith(d + "-")


def _matches(record: Record, agent: Agent, findings: dict[str, Finding]) -> bool:
    if any(record.matches_key(k) for k in agent.identity):
        return True
    if record.tags:
        for fid in agent.findings:
            tags = findings[fid].tags if fid in findings else None
            if tags and all(tags.get(k) == v for k, v in record.tags.items()):
                return True
    return False


def _short_keys(agent: Agent) -> str:
    strong = [k for k in agent.identity if not identity.is_weak(k)]
    shown = ", ".join(strong[:3])
    return shown + (f" and {len(strong) - 3} more" if len(strong) > 3 else "")


def listed_key_reasons(agent: Agent, group: list[Finding], today: dt.date) -> list[Reason]:
    """What the providers' admin APIs say of this agent's keys (see scanner/keyhints.py)."""
    reasons: list[Reason] = []
    use = keyhints.listed_use(group)
    held = [f for f in group if not keyhints.is_admin_evidence(f)]
    if use is not None and not held and agent.approved_id is None and use.in_use:
        facts = [f"last used {use.last_used[:10]}" if use.last_used else "",
                 f"{use.requests:,} requests" if use.requests else "",
                 f"{use.tokens:,} tokens" if use.tokens else "",
                 f"models {', '.join(use.models)}" if use.models else "",
                 ", ".join(f"{v:,.2f} {k}" for k, v in sorted(use.cost.items()) if v)]
        window = f" (usage window {use.period})" if use.period else ""
        reasons.append(Reason("key-in-use-no-holder", "key in use, no known holder: " + ", ".join(use.keys)
                              + "; " + "; ".join(x for x in facts if x) + window))
    for f in held:
        info = f.details.get("listed_key") or {}
        shown = f.credential.preview if f.credential else ""
        if info.get("status") == "matched":
            reasons.append(Reason("listed-key", f"key {shown} ({f.location.describe()}) is {f.provider} key "
                                  f"'{info.get('name')}' ({info.get('hint')}): a partial match, "
                                  f"{info.get('agreeing_chars')} characters agree"))
        elif info.get("status") in ("ambiguous", "weak"):
            reasons.append(Reason("listed-key-unsure", f"key {shown} ({f.location.describe()}) fits "
                                  f"{', '.join(info.get('candidates') or [])} on too little to join"))
        elif info.get("status") == "not-listed":
            reasons.append(Reason("key-not-in-organisation", f"not in the organisation — revoked or foreign: key "
                                  f"{shown} ({f.location.describe()}) is not among "
                                  f"the {info.get('keys_listed', 0)} keys {info.get('provider')} lists"))
    for f in group:
        since = keyhints.unused_since(f)
        days = keyhints.days_between(since, today) if since else None
        if days is not None and days >= keyhints.UNUSED_DAYS:
            reasons.append(Reason("unused-key", f"{keyhints.label(f)} unused since {since[:10]} ({days} days): "
                                  "revoke it"))
    return reasons
