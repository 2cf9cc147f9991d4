"""``cyclonedx``: a CycloneDX 1.6 AI/ML bill of materials.

Each agent is an ``application`` component (status, severity, owners, reasons and
remediation as ``shadow-agents:*`` properties, its findings as evidence occurrences);
each model it uses is a ``machine-learning-model`` component; each provider it calls
is a service with its endpoints (seen in the evidence, plus the provider's documented
hostnames from the catalogue). ``dependencies`` tie agents to models and services.
Agents gone since the baseline are left out: the BOM describes what exists now.
The document is deterministic: its serial number is derived from its content.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import IO, Any

from scanner.format import Format, agent_findings, finding_endpoints, ordered_agents
from scanner.catalog import Catalog
from scanner.model import Agent, Change, Finding, Inventory

SPEC_VERSION = "1.6"
SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"
PROP = "shadow-agents"
MAX_OCCURRENCES = 100


def _props(pairs: list[tuple[str, object]]) -> list[dict[str, str]]:
    return [{"name": f"{PROP}:{name}", "value": str(value)} for name, value in pairs if value not in (None, "", [])]


def agent_ref(agent: Agent) -> str:
    return f"agent:{agent.id}"


def model_ref(provider: str | None, model: str) -> str:
    return f"model:{provider or 'unknown'}/{model}"


def service_ref(provider: str) -> str:
    return f"service:{provider}"


def occurrence(f: Finding) -> dict[str, Any]:
    loc = f.location
    occ: dict[str, Any] = {"location": loc.path or loc.describe(),
                           "additionalContext": f"[{f.detector}/{f.kind}] {f.evidence}"}
    if loc.path and loc.line:
        occ["line"] = loc.line
    return occ


def agent_component(agent: Agent, findings: list[Finding]) -> dict[str, Any]:
    pairs: list[tuple[str, object]] = [
        ("agent-id", agent.id), ("status", agent.status.value), ("severity", agent.severity.value),
        ("change", agent.change.value if agent.change else None), ("approved-id", agent.approved_id),
        ("dedupe-key", agent.dedupe_key), ("remediation", agent.remediation),
        ("first-seen", agent.first_seen), ("last-seen", agent.last_seen),
    ]
    pairs += [("owner", o) for o in agent.owners]
    pairs += [("reason", f"{r.code}: {r.message}") for r in agent.reasons]
    pairs += [(f"spend:{cur}", f"{amount:.2f}") for cur, amount in sorted(agent.spend.items())]
    pairs += [("detector", d) for d in agent.detectors]
    creds = sorted({(f.credential.fingerprint, f.credential.preview) for f in findings if f.credential})
    pairs += [("credential", f"{preview} (fingerprint {fp})") for fp, preview in creds]
    component: dict[str, Any] = {
        "type": "application",
        "bom-ref": agent_ref(agent),
        "name": agent.name,
        "description": f"LLM agent, {agent.status.value} ({agent.severity.value}); providers: "
                       f"{', '.join(agent.providers) or 'unknown'}",
        "properties": _props(pairs),
    }
    if findings:
        component["evidence"] = {"occurrences": [occurrence(f) for f in findings[:MAX_OCCURRENCES]]}
    return component


def model_component(provider: str | None, model: str, catalog: Catalog) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "machine-learning-model", "bom-ref": model_ref(provider, model), "name": model}
    if provider:
        component["supplier"] = {"name": _provider_name(provider, catalog)}
        component["properties"] = _props([("provider", provider)])
    return component


def _provider_name(provider: str, catalog: Catalog) -> str:
    entry = catalog.providers.get(provider)
    return entry.name if entry else provider


def provider_service(provider: str, observed: set[str], authenticated: bool, catalog: Catalog) -> dict[str, Any]:
    entry = catalog.providers.get(provider)
    documented = {f"https://{h}" for h in entry.hostnames} if entry else set()
    service: dict[str, Any] = {
        "bom-ref": service_ref(provider),
        "name": _provider_name(provider, catalog),
        "provider": {"name": _provider_name(provider, catalog)},
        "authenticated": authenticated,
        "properties": _props([("provider", provider), ("provider-kind", entry.kind if entry else None)]),
    }
    endpoints = sorted(observed | documented)
    if endpoints:
        service["endpoints"] = endpoints
    if entry:
        local = entry.kind == "local"
        service["trustZone"] = "local" if local else "external"
        service["x-trust-boundary"] = not local
    return service


def _agent_models(findings: list[Finding], agent: Agent) -> set[tuple[str | None, str]]:
    pairs = {(f.provider, f.model) for f in findings if f.model}
    seen = {m for _, m in pairs}
    # models a registry record declares for a dormant agent have no finding to name their provider
    provider = agent.providers[0] if len(agent.providers) == 1 else None
    pairs |= {(provider, m) for m in agent.models if m not in seen}
    return pairs  # type: ignore[return-value]


def build_bom(inventory: Inventory, catalog: Catalog | None = None) -> dict[str, Any]:
    catalog = catalog or Catalog.load()
    inventory.sorted()
    fmap = inventory.finding_map()
    components: list[dict[str, Any]] = []
    models: dict[str, dict[str, Any]] = {}
    providers: dict[str, tuple[set[str], bool]] = {}
    dependencies: dict[str, set[str]] = {}
    for agent in ordered_agents(inventory):
        if agent.change == Change.GONE:
            continue
        findings = agent_findings(agent, fmap)
        components.append(agent_component(agent, findings))
        depends = dependencies.setdefault(agent_ref(agent), set())
        for provider in agent.providers:
            endpoints, auth = providers.get(provider, (set(), False))
            mine = [f for f in findings if f.provider == provider]
            endpoints |= {e for f in mine for e in finding_endpoints(f)}
            providers[provider] = (endpoints, auth or any(f.credential for f in mine))
            depends.add(service_ref(provider))
        for provider, model in _agent_models(findings, agent):
            ref = model_ref(provider, model)
            models.setdefault(ref, model_component(provider, model, catalog))
            depends.add(ref)
            if provider:
                providers.setdefault(provider, (set(), False))
                dependencies.setdefault(ref, set()).add(service_ref(provider))
    services = [provider_service(p, eps, auth, catalog) for p, (eps, auth) in sorted(providers.items())]
    for ref in [service_ref(p) for p in sorted(providers)]:
        dependencies.setdefault(ref, set())
    for ref in models:
        dependencies.setdefault(ref, set())
    bom: dict[str, Any] = {
        "$schema": SCHEMA_URI,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": _metadata(inventory),
        "components": components + [models[r] for r in sorted(models)],
        "services": services,
        "dependencies": [{"ref": ref, "dependsOn": sorted(deps)} for ref, deps in sorted(dependencies.items())],
    }
    digest = json.dumps(bom, sort_keys=True, ensure_ascii=False)
    bom["serialNumber"] = f"urn:uuid:{_uuid5('shadow-agents:' + digest)}"
    return bom


def _uuid5(name: str) -> uuid.UUID:
    """:func:`uuid.uuid5` in the URL namespace, also for names holding an undecodable byte of a
    file name (a surrogate escape), which ``uuid5`` cannot encode."""
    digest = hashlib.sha1(uuid.NAMESPACE_URL.bytes + name.encode("utf-8", "surrogatepass")).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def _metadata(inventory: Inventory) -> dict[str, Any]:
    meta = inventory.metadata
    tool: dict[str, Any] = {"type": "application", "name": "shadow-agents"}
    if isinstance(meta.get("version"), str):
        tool["version"] = meta["version"]
    summary = inventory.summary()
    pairs: list[tuple[str, object]] = [("scan-host", meta.get("host")), ("complete", str(summary["complete"]).lower()),
                                       ("agents", summary["agents"])]
    pairs += [(f"status:{s}", n) for s, n in summary["by_status"].items() if n]
    pairs += [(f"spend:{cur}", f"{v:.2f}") for cur, v in summary["spend"].items()]
    pairs += [(f"unexplained-spend:{cur}", f"{v:.2f}") for cur, v in summary["unexplained_spend"].items()]
    out: dict[str, Any] = {"tools": {"components": [tool]}, "properties": _props(pairs)}
    if isinstance(meta.get("finished_at"), str):
        out["timestamp"] = meta["finished_at"]
    return out


class CycloneDxFormat(Format):
    name = "cyclonedx"
    description = "CycloneDX 1.6 AI/ML-BOM: agents, the models they use and the provider services they call"
    extensions = (".cdx.json", ".bom.json")
    output_kind = "json"

    def render(self, inventory: Inventory, stream: IO[str]) -> None:
        json.dump(build_bom(inventory), stream, indent=2, sort_keys=True, ensure_ascii=False)
        stream.write("\n")
