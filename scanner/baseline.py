"""Compare two inventories: which agents are new, gone, changed or unchanged.

Agents are paired by id first, then by any shared strong identity key, so an
agent whose anchor changed (a repository gained a remote) is "changed", not
"gone" plus "new". A changed agent that gained a credential or a provider carries
a reason saying so, and ``--fail-on new`` fails on it as on a new agent: a key
committed into a service that is already in the baseline is what CI must catch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from scanner import identity
from scanner.model import Agent, Change, Inventory, Reason, Status

# Reasons a changed agent fails ``--fail-on new`` on, like a new one.
ESCALATIONS = ("new-credential", "new-provider")


@dataclass
class Diff:
    new: list[Agent] = field(default_factory=list)
    gone: list[Agent] = field(default_factory=list)
    changed: list[tuple[Agent, Agent, list[str]]] = field(default_factory=list)
    unchanged: list[Agent] = field(default_factory=list)


def compared_fields(agent: Agent) -> dict[str, object]:
    """What tells a changed agent from an unchanged one (``scanner/diff_stream.py`` digests it)."""
    return {
        "status": agent.status.value,
        "providers": agent.providers,
        "models": agent.models,
        "owners": agent.owners,
        "findings": agent.findings,
    }


def changes_between(old: Agent, new: Agent) -> list[str]:
    return field_changes(compared_fields(old), compared_fields(new))


def field_changes(a: dict[str, object], b: dict[str, object]) -> list[str]:
    """What changed between two agents' :func:`compared_fields`, as ``diff`` says it."""
    out = []
    for key in a:
        if a[key] != b[key]:
            if isinstance(a[key], list):
                added = sorted(set(b[key]) - set(a[key]))  # type: ignore[arg-type]
                removed = sorted(set(a[key]) - set(b[key]))  # type: ignore[arg-type]
                bits = ([f"+{len(added)}" if key == "findings" else "+" + ",".join(added)] if added else []) + \
                       ([f"-{len(removed)}" if key == "findings" else "-" + ",".join(removed)] if removed else [])
                out.append(f"{key} {' '.join(bits)}")
            else:
                out.append(f"{key} {a[key]} → {b[key]}")
    return out


def pairing_keys(agent: Agent) -> list[str]:
    """The keys a new agent is looked up by when its id finds no old one: its identity, and its
    record (a dormant record that is matched now is the same agent, found)."""
    return agent.identity + ([f"record:{agent.approved_id}"] if agent.approved_id else [])


def strong_keys(agent: Agent) -> list[str]:
    """The keys an old agent can be found by: :func:`pairing_keys` less the weak identity keys."""
    return [k for k in pairing_keys(agent) if not identity.is_weak(k)]


def diff(old: Inventory, new: Inventory) -> Diff:
    result = Diff()
    old_by_id = {a.id: a for a in old.agents if a.change != Change.GONE}
    old_by_key: dict[str, Agent] = {}
    for a in old_by_id.values():
        for k in strong_keys(a):
            old_by_key.setdefault(k, a)
    paired: set[str] = set()
    for agent in new.agents:
        if agent.change == Change.GONE:
            continue
        before = old_by_id.get(agent.id)
        if before is None or before.id in paired:
            before = next((old_by_key[k] for k in pairing_keys(agent)
                           if k in old_by_key and old_by_key[k].id not in paired), None)
        if before is None:
            result.new.append(agent)
            continue
        paired.add(before.id)
        what = changes_between(before, agent)
        if what:
            result.changed.append((before, agent, what))
        else:
            result.unchanged.append(agent)
    result.gone = [a for i, a in old_by_id.items() if i not in paired]
    return result


def escalations(old: Agent, new: Agent) -> list[Reason]:
    """What ``new`` holds that ``old`` did not and that widens what it can spend: keys, providers."""
    creds = sorted({k for k in new.identity if identity.key_type(k) == "cred"} -
                   {k for k in old.identity if identity.key_type(k) == "cred"})
    providers = sorted(set(new.providers) - set(old.providers))
    out = []
    if creds:
        shown = ", ".join(c.split(":", 1)[1] for c in creds[:3])
        out.append(Reason("new-credential", f"holds {len(creds)} credential(s) the baseline did not ({shown})"))
    if providers:
        out.append(Reason("new-provider", f"uses provider(s) the baseline did not: {', '.join(providers)}"))
    return out


def fails_new(agent: Agent) -> bool:
    """Does ``--fail-on new`` fail on this agent? New, or changed by a new key or provider; not approved."""
    if agent.status in (Status.APPROVED, Status.DORMANT) or agent.change == Change.GONE:
        return False
    return agent.change == Change.NEW or (
        agent.change == Change.CHANGED and any(r.code in ESCALATIONS for r in agent.reasons))


def apply_baseline(current: Inventory, baseline: Inventory) -> Diff:
    """Mark every current agent new/changed/unchanged and append the baseline's gone agents."""
    d = diff(baseline, current)
    for a in d.new:
        a.change = Change.NEW
    for old, a, _what in d.changed:
        a.change = Change.CHANGED
        a.reasons = a.reasons + escalations(old, a)
    for a in d.unchanged:
        a.change = Change.UNCHANGED
    for a in d.gone:
        ghost = copy.deepcopy(a)
        ghost.change = Change.GONE
        current.agents.append(ghost)
    return d
