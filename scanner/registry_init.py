"""``registry init``: a starter registry with one commented record per agent of a scan."""

from __future__ import annotations

import datetime as dt
import re

import yaml

from scanner import identity
from scanner.model import Inventory, Status

_MATCH_FIELD = {"cred": "credentials", "keyid": "key_ids", "repo": "repos", "proc": "processes", "cloud": "cloud"}


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48] or "agent"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _match(keys: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key in keys:
        t = identity.key_type(key)
        if t not in _MATCH_FIELD:
            continue
        # credentials are written as bare fingerprints; the others keep their full, explicit form
        out.setdefault(_MATCH_FIELD[t], []).append(key.split(":", 1)[1] if t == "cred" else key)
    if not out:
        out["keys"] = [k for k in keys if not identity.is_weak(k)]
    return out


def starter_registry(inventory: Inventory, today: dt.date) -> str:
    lines = [
        "# Approved-agent registry written by `shadow-agents registry init`.",
        f"# One record per agent found in the scan of {inventory.metadata.get('started_at', 'an earlier run')}.",
        "# Review each record: fill in owner and purpose, delete what should not run, then",
        "# pass this file to `shadow-agents scan --registry`. Validate with `shadow-agents registry check`.",
        "version: 1",
        "agents:",
    ]
    taken: set[str] = set()
    for agent in inventory.sorted().agents:
        if agent.status == Status.DORMANT or not agent.identity:
            continue
        record = {
            "id": _slug(agent.name, taken),
            "name": agent.name,
            "owner": agent.owners[0] if agent.owners else "TODO",
            "purpose": "TODO: what this agent does and for whom",
            "provider": agent.providers,
            "models": agent.models,
            "environment": "production",
            "created": today,
            "last_reviewed": today,
            "review_every_days": 90,
            "match": _match(agent.identity),
        }
        dumped = yaml.safe_dump([record], sort_keys=False, allow_unicode=True, default_flow_style=False)
        lines.append(f"  # {agent.name}: {agent.status.value} at scan time; seen at {', '.join(agent.locations[:3]) or '-'}")
        lines.extend("  " + line for line in dumped.rstrip("\n").splitlines())
    if lines[-1] == "agents:":
        lines[-1] = "agents: []"
    return "\n".join(lines) + "\n"
