"""CI definitions: jobs running coding-agent tools (a CLI, a catalogue ``ci_actions`` action), and jobs
handed LLM secrets (``${{ secrets.OPENAI_API_KEY }}``).

A job that runs an agent tool calls a model (``ci-workflow``); a job that is only handed a
key runs the program it tests, whose code says whether it calls one (``ci-secret``, descriptive).
"""

from __future__ import annotations

import re

from detectors.repo.filetypes.base import FileView, Hit, Lines
from detectors.repo.rules import Rules

_WORKFLOW_SECRET = re.compile(rb"secrets\.([A-Za-z_][A-Za-z0-9_]*)")


def applies(f: FileView) -> bool:
    return f.ci


def scan(f: FileView) -> list[Hit]:
    return workflow(f.rules, f.rel, f.data, f.lines)


def workflow(rules: Rules, rel: str, data: bytes, lines: Lines) -> list[Hit]:
    by_provider: dict[str | None, Hit] = {}
    for m in _WORKFLOW_SECRET.finditer(data):
        var = m.group(1).decode("ascii").upper()
        provider = rules.key_env_names.get(var)
        if provider is None:
            continue
        hit = by_provider.setdefault(provider, Hit("ci-workflow", lines.of(m.start()), provider=provider,
                                                   confidence="high", label=f"CI workflow uses {var}",
                                                   details={"workflow": rel, "secrets": []}, pos=m.start()))
        if var not in hit.details["secrets"]:
            hit.details["secrets"].append(var)
    text = data.decode("utf-8", "replace")
    actions: dict[str, list[str]] = {}
    for uses, tool_id in rules.catalog.ci_actions.items():
        actions.setdefault(tool_id, []).append(uses + "@")
    for tool in rules.catalog.tools.values():
        needles = [p for p in tool.packages.get("javascript", []) + tool.packages.get("python", []) if len(p) > 3]
        needles += [p for p in tool.script_patterns if len(p) > 5 and "/" in p]
        needles += actions.get(tool.id, [])
        used = next((n for n in needles if n in text), None)
        if used:
            provider = tool.providers[0] if len(tool.providers) == 1 else None
            at = data.find(used.encode())
            hit = by_provider.setdefault(provider, Hit("ci-workflow", lines.of(at), provider=provider,
                                                       confidence="high", label=f"CI workflow runs {tool.name}",
                                                       details={"workflow": rel, "secrets": []}, pos=at))
            hit.details.setdefault("tools", []).append(tool.id)
    for hit in by_provider.values():
        if not hit.details["secrets"]:
            del hit.details["secrets"]
        if not hit.details.get("tools"):
            hit.kind = "ci-secret"
    return list(by_provider.values())
