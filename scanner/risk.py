"""Severity and remediation per agent, from its status, the strength of its evidence and the risk
factors in its findings.

The status gives the base (shadow: high). The evidence then grades it: an agent seen only
through its code (an SDK call, an endpoint, a CI job), with no key and nothing seen running,
is one step lower, and one more when that code is only example code; an MCP server starts
low (it widens what agents can do, it calls no model itself). Admin keys, keys in history and
exposed servers raise it. Each factor is added to the reasons with its own code, so a ticket
says *why* an agent is critical, not just that it is.
"""

from __future__ import annotations

from scanner import keyhints
from scanner.catalog import Catalog
from scanner.model import RUNTIME, Agent, Finding, ItemKind, Reason, Severity, Status, finding_kind

BASE_SEVERITY = {
    Status.SHADOW: Severity.HIGH,
    Status.EXPIRED: Severity.HIGH,
    Status.DRIFT: Severity.MEDIUM,
    Status.REVIEW_OVERDUE: Severity.LOW,
    Status.DORMANT: Severity.LOW,
    Status.APPROVED: Severity.INFO,
}
# An MCP server widens what agents can do; it calls no model itself.
MCP_SEVERITY = {s: min(sev, Severity.LOW, key=lambda v: v.rank) for s, sev in BASE_SEVERITY.items()}
_ORDER = list(Severity)


def _bump(sev: Severity, steps: int = 1) -> Severity:
    return _ORDER[max(0, min(len(_ORDER) - 1, _ORDER.index(sev) + steps))]


def evidence_grade(agent: Agent, group: list[Finding]) -> tuple[int, Reason | None]:
    """(severity steps, reason): an agent seen only through its code, with no key and nothing seen
    running, is one step lower (two when that code is only example code). Keys, billed use and
    runtime evidence keep the base; so do other items (an MCP server has its own base)."""
    forming = [f for f in group if f.forms is not None]
    if not forming or agent.kind != ItemKind.AGENT:
        return 0, None
    if max(finding_kind(f.kind).strength for f in forming) >= RUNTIME:  # a key, billed use, or seen running
        return 0, None
    best = max(forming, key=lambda f: (f.strength, f.id))
    what = f"{finding_kind(best.kind).summary} ({best.confidence.value} confidence, {best.location.describe()})"
    if all(f.place == "example" for f in forming):
        return -2, Reason("evidence-example-only", f"seen only in example code, with no key and nothing running: "
                                                   f"two steps lower; strongest evidence: {what}")
    return -1, Reason("evidence-code-only", f"seen only in its code, with no key and nothing running: one step "
                                            f"lower; strongest evidence: {what}")


def assess(agents: list[Agent], findings: dict[str, Finding], catalog: Catalog) -> None:
    """Set ``severity``, risk reasons and ``remediation`` on every agent."""
    for agent in agents:
        group = [findings[f] for f in agent.findings if f in findings]
        severity = (MCP_SEVERITY if agent.kind == ItemKind.MCP_SERVER else BASE_SEVERITY)[agent.status]
        factors: list[Reason] = []
        steps, grade = evidence_grade(agent, group)
        if grade is not None:
            factors.append(grade)
            if agent.status != Status.APPROVED:
                severity = _bump(severity, steps)
        admin = sorted({f.credential.preview for f in group if f.credential and f.credential.admin})
        if admin:
            factors.append(Reason("admin-key", f"holds an admin or organisation-wide key ({', '.join(admin)})"))
        exposed = sorted({f.location.describe() for f in group if f.credential and "world-readable" in f.risks})
        if exposed:
            factors.append(Reason("world-readable", f"a key sits in a world-readable file ({', '.join(exposed[:3])})"))
        history = sorted({f.location.describe() for f in group if "in-history" in f.risks})
        if history:
            factors.append(Reason("key-in-history", f"a key is in git history ({', '.join(history[:3])}); "
                                                    "it stays valid until revoked"))
        listening = sorted({f.location.describe() for f in group if "exposed" in f.risks})
        if listening:
            factors.append(Reason("exposed-server", f"a model server listens on all interfaces ({', '.join(listening[:3])})"))
        if not agent.owners and agent.status != Status.APPROVED:
            factors.append(Reason("no-owner", "no owner could be guessed from the evidence"))
        if agent.status != Status.APPROVED and any(agent.spend.values()):
            spent = ", ".join(f"{v:,.2f} {k}" for k, v in sorted(agent.spend.items()))
            factors.append(Reason("unexplained-spend", f"spent {spent} with no approval"))
        if agent.status != Status.APPROVED:
            # world-readable files are noted but do not raise severity: it is every default umask
            for code in ("admin-key", "key-in-history", "exposed-server"):
                if any(r.code == code for r in factors):
                    severity = _bump(severity)
        agent.severity = severity
        agent.reasons = agent.reasons + factors
        agent.remediation = remediation(agent, group, catalog)


def remediation(agent: Agent, group: list[Finding], catalog: Catalog) -> str:
    steps: list[str] = []
    if agent.status == Status.SHADOW:
        steps.append(f"find its owner and register it (shadow-agents registry add {agent.id} --from scan.json "
                     "--registry agents.yaml --owner OWNER), or shut it down and revoke its keys")
    elif agent.status == Status.DORMANT:
        steps.append(f"confirm record {agent.approved_id} is retired and remove it, or scan where it runs")
    elif agent.status == Status.EXPIRED:
        steps.append(f"renew record {agent.approved_id} or decommission the agent and revoke its keys")
    elif agent.status == Status.DRIFT:
        steps.append(f"update record {agent.approved_id} to declare what it uses, or bring the agent back in line")
    elif agent.status == Status.REVIEW_OVERDUE:
        steps.append(f"review record {agent.approved_id} with its owner and set last_reviewed")
    if agent.status != Status.APPROVED:
        urls = catalog.console_urls
        consoles = sorted({url for f in group if f.credential and f.credential.key_type
                           for url in urls.get(f.credential.key_type, ())})
        if any(r.code in ("key-in-history", "world-readable", "admin-key") for r in agent.reasons):
            steps.append("rotate the exposed key" + (f" at {', '.join(consoles)}" if consoles else ""))
        if any(r.code == "exposed-server" for r in agent.reasons):
            steps.append("bind the model server to 127.0.0.1")
    unused_reasons = [r.message for r in agent.reasons if r.code == "unused-key"]
    unused = sorted({keyhints.label(f) for f in group if f.kind == keyhints.LISTED_KIND
                     and any(m.startswith(keyhints.label(f) + " ") for m in unused_reasons)})
    if unused:
        steps.append(f"revoke the unused key{'s' if len(unused) > 1 else ''} {', '.join(unused)}")
    if any(r.code == "key-not-in-organisation" for r in agent.reasons):
        steps.append("remove the key the provider does not list from where it was found (revoked, or another "
                     "organisation's)")
    return "; ".join(steps) if steps else "none: matches its registry record"
