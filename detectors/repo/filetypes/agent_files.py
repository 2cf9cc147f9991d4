"""Coding-agent files named by the catalogue's ``agent_files``: MCP server lists, settings, instructions,
and configs a tool runs against models (promptfoo's ``providers:``).

Server names, commands and the names of env vars are reported, never env values; an
argument that holds a key keeps its shape, not its value.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import yaml

from detectors.repo.filetypes.base import FileView, Hit
from detectors.repo.filetypes.keys import mask_keys
from detectors.repo.rules import Rules
from scanner.catalog import AgentFile

SETTINGS_FIELDS = ("enabledMcpjsonServers", "permissions", "hooks", "model")  # what a settings file turns on


def applies(f: FileView) -> bool:
    return bool(f.rules.catalog.agent_files_for(f.rel))


def scan(f: FileView) -> list[Hit]:
    entries = f.rules.catalog.agent_files_for(f.rel)
    roles = {r for e in entries for r in e.roles}
    hits: list[Hit] = []
    if roles & {"mcp-servers", "settings"}:
        hits += _json_config(f, entries, roles)
    if "runner" in roles:
        hits += _runner(f)
    for entry in entries:
        if "instructions" in entry.roles:
            hits.append(Hit("agent-config", 1, provider=_provider(f.rules, entry), confidence="medium",
                            label=f"{f.name} agent instructions", details={"file": f.name}))
    return hits


try:
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]

MAX_RUNNER_CONFIG = 1 << 20


def _runner(f: FileView) -> list[Hit]:
    """One hit per provider a runner config names (``anthropic:messages:claude-3-haiku``, ``{id: openai:gpt-4o}``)."""
    if len(f.data) > MAX_RUNNER_CONFIG:
        return []
    try:
        doc = yaml.load(f.data, Loader=_YamlLoader)
    except yaml.YAMLError:
        return []
    entries = doc.get("providers") if isinstance(doc, dict) else None
    if isinstance(entries, (str, dict)):
        entries = [entries]
    out: dict[str, Hit] = {}
    for entry in entries if isinstance(entries, list) else []:
        spec = entry.get("id") if isinstance(entry, dict) else entry
        if not isinstance(spec, str) or ":" not in spec:
            continue
        first, _, rest = spec.partition(":")
        provider = _provider_named(f.rules, first.lower())
        model = rest.rsplit(":", 1)[-1]
        if provider is None and f.rules.model_provider_cached(model) is None:
            continue
        key = provider or spec
        if key not in out:
            line = f.lines.of(max(0, f.data.find(spec.encode("utf-8", "replace"))))
            out[key] = Hit("runner-config", line, provider=provider, model=model if f.rules.model_provider_cached(model)
                           else None, confidence="high", label=f"{f.name} runs {spec}",
                           details={"file": f.name, "runs": spec})
    return list(out.values())


def _provider_named(rules: Rules, name: str) -> str | None:
    """A catalogue provider a tool names by a short word: ``anthropic``, ``openai``, ``bedrock``, ``vertex``."""
    if name in rules.catalog.providers:
        return name
    ids = [pid for pid in rules.catalog.providers if name in pid.split("-")]
    return ids[0] if len(ids) == 1 else None


def _provider(rules: Rules, entry: AgentFile) -> str | None:
    """The provider a file is for: its own, or its tool's when the tool has exactly one."""
    if entry.provider:
        return entry.provider
    tool = rules.catalog.tools.get(entry.tool or "")
    return tool.providers[0] if tool and len(tool.providers) == 1 else None


def _json_config(f: FileView, entries: list[AgentFile], roles: set[str]) -> list[Hit]:
    try:
        doc = json.loads(f.data.decode("utf-8", "replace"))
    except ValueError as exc:
        return [Hit("agent-config", 1, label=f"{f.name} (not valid JSON)",
                    details={"file": f.name, "error": f"not valid JSON: {str(exc)[:80]}"}, confidence="low")]
    if not isinstance(doc, dict):
        return []
    hits: list[Hit] = []
    if "mcp-servers" in roles:
        servers = _servers(doc, f.rules.catalog.mcp_server_keys)
        key_lines = _key_lines(f) if servers else {}
        for server, spec in sorted(servers.items()):
            if isinstance(spec, dict):
                hit = _mcp_server_hit(f.rules, f.name, str(server), spec)
                hit.line = key_lines.get(str(server).encode("utf-8", "replace"), 1)
                hits.append(hit)
    for entry in entries:
        if "settings" in entry.roles:
            hits.append(_settings_hit(f, doc, entry))
    return hits


_JSON_KEY = re.compile(rb'"((?:[^"\\\n]|\\.){1,200})"\s*:')


def _key_lines(f: FileView) -> dict[bytes, int]:
    """Line of the first ``"name":`` of each object key in the file (one pass, however many servers)."""
    out: dict[bytes, int] = {}
    for m in _JSON_KEY.finditer(f.data):
        if m.group(1) not in out:
            out[m.group(1)] = f.lines.of(m.start())
    return out


def _servers(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The server list under the first of ``keys`` present (``mcp.servers`` is a nested key)."""
    for key in keys:
        node: Any = doc
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and node:
            return node
    return {}


def _settings_hit(f: FileView, doc: dict[str, Any], entry: AgentFile) -> Hit:
    env = doc.get("env") if isinstance(doc.get("env"), dict) else {}
    details: dict[str, Any] = {"file": f.name, "tool": entry.tool}
    if env:
        details["env"] = sorted(str(k) for k in env)
    for field_name in SETTINGS_FIELDS:
        if field_name in doc:
            details.setdefault("settings", []).append(field_name)
    if isinstance(doc.get("model"), str):
        details["model"] = doc["model"]
    return Hit("agent-config", 1, provider=_provider(f.rules, entry), label=f"{f.name} agent settings",
               details=details, confidence="high")


def _mcp_server_hit(rules: Rules, file: str, server: str, spec: dict[str, Any]) -> Hit:
    details: dict[str, Any] = {"server": server, "file": file}
    command = spec.get("command")
    args = [str(a) for a in spec.get("args") or [] if isinstance(a, (str, int, float))]
    if isinstance(command, str):
        details["command"] = command
    if args:
        details["args"] = [mask_keys(rules, a) for a in args[:20]]
    url = spec.get("url") or spec.get("serverUrl")
    endpoint = None
    if isinstance(url, str):
        parts = urlsplit(url)
        endpoint = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if _port(parts) else ''}{parts.path}"
    env = spec.get("env") if isinstance(spec.get("env"), dict) else {}
    headers = spec.get("headers") if isinstance(spec.get("headers"), dict) else {}
    if env:
        details["env"] = sorted(str(k) for k in env)
    if headers:
        details["headers"] = sorted(str(k) for k in headers)
    provider = None
    for var in env:
        provider = provider or rules.key_env_names.get(str(var).upper())
    return Hit("mcp-server", 1, provider=provider, confidence="high", label=f"MCP server {server}", details=details,
               endpoint=endpoint)


def _port(parts) -> int | None:  # type: ignore[no-untyped-def]
    try:
        return parts.port
    except ValueError:
        return None
