"""CI definitions: jobs handed LLM secrets (``${{ secrets.OPENAI_API_KEY }}``) or running coding-agent tools."""

from __future__ import annotations

import posixpath
import re

from detectors.repo.filetypes.base import FileView, Hit, Lines
from detectors.repo.rules import Rules

CI_FILES = (".gitlab-ci.yml", "azure-pipelines.yml", "bitbucket-pipelines.yml", "Jenkinsfile")
_WORKFLOW_SECRET = re.compile(rb"secrets\.([A-Za-z_][A-Za-z0-9_]*)")


def applies(f: FileView) -> bool:
    return is_workflow(f.rel)


def scan(f: FileView) -> list[Hit]:
    return workflow(f.rules, f.rel, f.data, f.lines)


def is_workflow(rel: str) -> bool:
    """GitHub Actions workflows, CircleCI config and the usual single-file CI definitions."""
    github = (rel.startswith(".github/workflows/") or "/.github/workflows/" in rel) and rel.endswith((".yml", ".yaml"))
    return github or rel.startswith(".circleci/") or posixpath.basename(rel) in CI_FILES


def workflow(rules: Rules, rel: str, data: bytes, lines: Lines) -> list[Hit]:
    by_provider: dict[str | None, Hit] = {}
    for m in _WORKFLOW_SECRET.finditer(data):
        var = m.group(1).decode("ascii").upper()
        provider = rules.key_env_names.get(var)
        if provider is None:
            continue
        hit = by_provider.setdefault(provider, Hit("ci-workflow", lines.of(m.start()), provider=provider,
                                                   confidence="high", label=f"CI workflow uses {var}",
                                                   details={"workflow": rel, "secrets": []}))
        if var not in hit.details["secrets"]:
            hit.details["secrets"].append(var)
    text = data.decode("utf-8", "replace")
    for tool in rules.catalog.tools.values():
        needles = [p for p in tool.packages.get("javascript", []) + tool.packages.get("python", []) if len(p) > 3]
        needles += [p for p in tool.script_patterns if len(p) > 5 and "/" in p]
        used = next((n for n in needles if n in text), None)
        if used:
            provider = tool.providers[0] if len(tool.providers) == 1 else None
            hit = by_provider.setdefault(provider, Hit("ci-workflow", lines.of(data.find(used.encode())),
                                                       provider=provider, confidence="high",
                                                       label=f"CI workflow runs {tool.name}",
                                                       details={"workflow": rel, "secrets": []}))
            hit.details.setdefault("tools", []).append(tool.id)
    for hit in by_provider.values():
        if not hit.details["secrets"]:
            del hit.details["secrets"]
    return list(by_provider.values())
