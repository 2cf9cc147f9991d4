"""``cyclonedx``: a CycloneDX 1.6 AI/ML bill of materials.

Each agent is an ``application`` component (status, severity, owners, reasons and
remediation as ``shadow-agents:*`` properties, its findings as evidence occurrences);
each model it uses is a ``machine-learning-model`` component; each provider it calls
is a service with its endpoints (seen in the evidence, plus the provider's documented
hostnames from the catalogue). ``dependencies`` tie agents to models and services.
Agents gone since the baseline are left out: the BOM describes what exists now.
The document is deterministic: its serial number is derived from the rest of its text.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from array import array
from typing import Any, Iterator

from scanner.format import (AgentFormat, AgentWriter, Counts, agent_findings, finding_endpoints, reading_order,
                            write_agents)
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
    text = io.StringIO()
    write_agents(inventory, text, _BomWriter(inventory, catalog or Catalog.load()), reading_order)
    return json.loads(text.getvalue())  # type: ignore[no-any-return]


class CycloneDxFormat(AgentFormat):
    name = "cyclonedx"
    description = "CycloneDX 1.6 AI/ML-BOM: agents, the models they use and the provider services they call"
    extensions = (".cdx.json", ".bom.json")
    output_kind = "json"

    def agent_key(self, agent: Agent) -> Any:
        return reading_order(agent)

    def writer(self, frame: Inventory) -> AgentWriter:
        return _BomWriter(frame, Catalog.load())


def _indented(value: Any, level: int) -> str:
    """``value`` as ``json.dumps(indent=2, sort_keys=True)`` writes it ``level`` deep in a document
    (JSON text holds no raw line end, so every line end is one of the layout)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).replace("\n", "\n" + "  " * level)


class _BomWriter(AgentWriter):
    """The BOM as ``json.dump(bom, indent=2, sort_keys=True)`` lays it out, its agents' components
    as pieces: of each agent it keeps what the rest of the document needs — its id and the set of
    what it depends on (one number: agents share few sets) — and the models and providers seen.
    The serial number is derived from the document's text without it, taken in as it is written."""

    def __init__(self, frame: Inventory, catalog: Catalog) -> None:
        self.meta, self.coverage, self.catalog = frame.metadata, frame.coverage, catalog
        self.counts = Counts()
        self.models: dict[str, dict[str, Any]] = {}
        self.providers: dict[str, tuple[set[str], bool]] = {}
        self.model_deps: dict[str, set[str]] = {}
        self.agent_ids: list[str] = []
        self.agent_deps = array("I")  # per agent: its set of dependencies, as an index into dep_sets
        self.dep_sets: dict[frozenset[str], int] = {}
        self.digest = hashlib.sha1()
        self.components = 0

    def agent(self, agent: Agent, fmap: dict[str, Finding]) -> str:
        self.counts.agent(agent)
        if agent.change == Change.GONE:
            return ""  # the BOM describes what exists now
        findings = agent_findings(agent, fmap)
        depends: set[str] = set()
        for provider in agent.providers:
            endpoints, auth = self.providers.get(provider, (set(), False))
            mine = [f for f in findings if f.provider == provider]
            endpoints |= {e for f in mine for e in finding_endpoints(f)}
            self.providers[provider] = (endpoints, auth or any(f.credential for f in mine))
            depends.add(service_ref(provider))
        for provider, model in _agent_models(findings, agent):
            ref = model_ref(provider, model)
            if ref not in self.models:
                self.models[ref] = model_component(provider, model, self.catalog)
            depends.add(ref)
            if provider:
                self.providers.setdefault(provider, (set(), False))
                self.model_deps.setdefault(ref, set()).add(service_ref(provider))
        self.agent_ids.append(agent.id)
        self.agent_deps.append(self.dep_sets.setdefault(frozenset(depends), len(self.dep_sets)))
        return _indented(agent_component(agent, findings), 2)

    def _taken(self, text: str) -> str:
        self.digest.update(text.encode("utf-8", "surrogatepass"))
        return text

    def _element(self, text: str) -> str:
        """An element of the components or dependencies array, after the ones before it."""
        self.components += 1
        return self._taken(("\n    " if self.components == 1 else ",\n    ") + text)

    def _close(self) -> str:
        """The end of an array of ``self.components`` elements (and a fresh count for the next)."""
        text, self.components = ("\n  ]" if self.components else "]"), 0
        return self._taken(text)

    def head(self) -> str:
        return self._taken('{\n  "$schema": ' + json.dumps(SCHEMA_URI) + ',\n  "bomFormat": "CycloneDX",\n  "components": [')

    def piece(self, text: str, section: int = 0) -> str:
        return self._element(text) if text else ""

    def tail(self) -> Iterator[str]:
        for ref in sorted(self.models):
            yield self._element(_indented(self.models[ref], 2))
        yield self._close() + self._taken(',\n  "dependencies": [')
        for ref, deps in self._dependencies():
            yield self._element(_indented({"dependsOn": sorted(deps), "ref": ref}, 2))
        yield self._close()
        services = [provider_service(p, eps, auth, self.catalog) for p, (eps, auth) in sorted(self.providers.items())]
        summary = self.counts.summary(complete=all(c.complete for c in self.coverage))
        yield self._taken(',\n  "metadata": ' + _indented(_metadata(self.meta, summary), 1))
        rest = (',\n  "services": ' + _indented(services, 1) + ',\n  "specVersion": ' + json.dumps(SPEC_VERSION)
                + ',\n  "version": 1\n}\n')
        self._taken(rest)
        serial = f"urn:uuid:{_uuid5(self.digest.hexdigest())}"
        yield ',\n  "serialNumber": ' + json.dumps(serial) + rest

    def _dependencies(self) -> Iterator[tuple[str, set[str]]]:
        """Each ref and what it depends on, by ref: agents (one entry for agents that share an id),
        then models and services, which sort after ``agent:``."""
        sets = [set(s) for s, _i in sorted(self.dep_sets.items(), key=lambda item: item[1])]
        ids, deps = self.agent_ids, self.agent_deps
        order = sorted(range(len(ids)), key=ids.__getitem__)
        k = 0
        while k < len(order):
            agent_id, merged = ids[order[k]], sets[deps[order[k]]]
            while k + 1 < len(order) and ids[order[k + 1]] == agent_id:
                k += 1
                merged = merged | sets[deps[order[k]]]
            yield f"agent:{agent_id}", merged
            k += 1
        rest = dict(self.model_deps)
        for ref in [service_ref(p) for p in self.providers]:
            rest.setdefault(ref, set())
        for ref in self.models:
            rest.setdefault(ref, set())
        yield from sorted(rest.items())


def _uuid5(name: str) -> uuid.UUID:
    """:func:`uuid.uuid5` in the URL namespace, also for names holding an undecodable byte of a
    file name (a surrogate escape), which ``uuid5`` cannot encode."""
    digest = hashlib.sha1(uuid.NAMESPACE_URL.bytes + name.encode("utf-8", "surrogatepass")).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def _metadata(meta: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = {"type": "application", "name": "shadow-agents"}
    if isinstance(meta.get("version"), str):
        tool["version"] = meta["version"]
    pairs: list[tuple[str, object]] = [("scan-host", meta.get("host")), ("complete", str(summary["complete"]).lower()),
                                       ("agents", summary["agents"])]
    pairs += [(f"status:{s}", n) for s, n in summary["by_status"].items() if n]
    pairs += [(f"spend:{cur}", f"{v:.2f}") for cur, v in summary["spend"].items()]
    pairs += [(f"unexplained-spend:{cur}", f"{v:.2f}") for cur, v in summary["unexplained_spend"].items()]
    out: dict[str, Any] = {"tools": {"components": [tool]}, "properties": _props(pairs)}
    if isinstance(meta.get("finished_at"), str):
        out["timestamp"] = meta["finished_at"]
    return out
