"""Writing registry records: ``registry init`` (one per agent of a scan) and ``registry add`` (one)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml

from scanner import identity, safetext
from scanner.errors import UserError
from scanner.model import Agent, Inventory, Status
from scanner.registry import parse_registry

_MATCH_FIELD = {"cred": "credentials", "keyid": "key_ids", "repo": "repos", "proc": "processes", "cloud": "cloud"}
# What a YAML stream may hold at all, comments included (YAML 1.1 "printable"); U+FFFE in a
# directory name would otherwise make the whole starter registry unreadable.
_NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
HEADER = [
    "# Approved-agent registry. Review each record: fill in owner and purpose, delete what should",
    "# not run, then pass this file to `shadow-agents scan --registry`.",
    "# Validate with `shadow-agents registry check`.",
    "version: 1",
    "agents:",
]


class _NoAliasDumper(yaml.SafeDumper):
    """Never ``&id001``/``*id001``: records are dumped one by one, and two records each defining
    anchor ``id001`` (the same date object as created and last_reviewed) are invalid YAML."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _comment_text(text: str) -> str:
    """One line of text that a YAML comment can hold."""
    return _NOT_YAML.sub(lambda m: f"\\u{ord(m.group()):04x}", safetext.one_line(text))


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48] or "agent"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _literal(key: str) -> str:
    """``key`` as a match pattern that matches only itself: match entries are globs, and a
    directory called ``bot[1]`` or ``*`` must not become a character class or a wildcard."""
    return re.sub(r"([*?\[])", r"[\1]", key)


def _match(keys: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key in keys:
        t = identity.key_type(key)
        if t in _MATCH_FIELD:
            # credentials are written as bare fingerprints; the others keep their full, explicit form
            out.setdefault(_MATCH_FIELD[t], []).append(key.split(":", 1)[1] if t == "cred" else _literal(key))
    if not out:
        out["keys"] = [_literal(k) for k in keys if not identity.is_weak(k)]
    return out


def record_lines(agent: Agent, taken: set[str], today: dt.date, owner: str | None = None,
                 purpose: str | None = None) -> list[str]:
    """A commented YAML list item (indented for ``agents:``) that matches ``agent``."""
    record = {
        "id": _slug(agent.name, taken),
        "name": agent.name,
        "owner": owner or (agent.owners[0] if agent.owners else "TODO"),
        "purpose": purpose or "TODO: what this agent does and for whom",
        "provider": agent.providers,
        "models": agent.models,
        "environment": "production",
        "created": today,
        "last_reviewed": today,
        "review_every_days": 90,
        "match": _match(agent.identity),
    }
    # A value holding a control or bidi character is written with YAML escapes (ASCII only), so it
    # reads back exactly and the output stream has nothing to neutralise; the comment is one line,
    # or a name with a line break in it could write YAML of its own.
    plain = not safetext.UNSAFE.search(yaml.dump([record], Dumper=_NoAliasDumper, allow_unicode=True))
    dumped = yaml.dump([record], Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=plain, default_flow_style=False)
    seen = _comment_text(", ".join(agent.locations[:3]) or "-")
    comment = f"  # {_comment_text(agent.name)}: {agent.status.value} at scan time; seen at {seen}"
    return [comment] + ["  " + line for line in dumped.rstrip("\n").splitlines()]


def starter_registry(inventory: Inventory, today: dt.date) -> str:
    lines = list(HEADER)
    taken: set[str] = set()
    for agent in inventory.sorted().agents:
        if agent.status != Status.DORMANT and agent.identity:
            lines += record_lines(agent, taken, today)
    if lines[-1] == "agents:":
        lines[-1] = "agents: []"
    return "\n".join(lines) + "\n"


def find_agent(inventory: Inventory, ref: str) -> Agent:
    """The agent with id ``ref``, or the one holding finding ``ref``."""
    for agent in inventory.agents:
        if agent.id == ref or ref in agent.findings:
            return agent
    raise UserError(f"no agent or finding with id '{ref}' in this inventory")


def add_record(registry_path: Path, agent: Agent, today: dt.date, owner: str | None, purpose: str | None) -> str:
    """Text of ``registry_path`` with a record for ``agent`` appended (validated before it is returned)."""
    text = registry_path.read_text(encoding="utf-8") if registry_path.exists() else ""
    reg = parse_registry(text, str(registry_path)) if text.strip() else None
    taken = {r.id for r in reg.records} if reg else set()
    if reg and any(any(r.matches_key(k) for k in agent.identity) for r in reg.records):
        raise UserError(f"{registry_path}: agent {agent.id} ({agent.name}) already matches a record")
    new = record_lines(agent, taken, today, owner, purpose)
    if not text.strip():
        text = "\n".join(HEADER) + "\n"
    elif re.search(r"^agents:\s*\[\s*\]\s*$", text, re.MULTILINE):
        text = re.sub(r"^agents:\s*\[\s*\]\s*$", "agents:", text, count=1, flags=re.MULTILINE)
    elif not re.search(r"^agents:\s*$", text, re.MULTILINE):
        raise UserError(f"{registry_path}: registry add needs a top-level 'agents:' list to append to")
    result = text.rstrip("\n") + "\n" + "\n".join(new) + "\n"
    parse_registry(result, str(registry_path))  # never write a registry we cannot read back
    return result
