"""CycloneDX 1.6 AI/ML-BOM: valid for the official library, with agents, models, services and their links."""

from __future__ import annotations

import copy
import json

import pytest

from reports.cyclonedx import build_bom
from scanner.model import Change
from tests.fixtures.inventory_samples import SAMPLES, full_inventory

# cyclonedx-python-lib (the official library) is a test dependency: the format writes plain JSON
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def validate(bom: dict) -> list[str]:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom))
    return [str(error)] if error else []


@pytest.fixture(scope="module")
def bom():
    return build_bom(full_inventory())


def _props(item: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in item.get("properties", []):
        out.setdefault(p["name"].split(":", 1)[1], []).append(p["value"])
    return out


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_sample_validates_strictly_against_1_6(sample):
    doc = build_bom(SAMPLES[sample]())
    assert validate(doc) == []
    assert doc["specVersion"] == "1.6" and doc["bomFormat"] == "CycloneDX"


def test_the_schema_check_can_fail(bom):
    broken = copy.deepcopy(bom)
    broken["components"][0]["type"] = "agent"
    assert validate(broken)


def test_the_official_library_reads_it_back(bom):
    parsed = Bom.from_json(bom)  # type: ignore[attr-defined]
    types = sorted({c.type.value for c in parsed.components})
    assert types == ["application", "machine-learning-model"]
    assert len(parsed.services) == len(bom["services"])


def test_agents_models_and_services(bom):
    inv = full_inventory()
    present = [a for a in inv.agents if a.change != Change.GONE]
    apps = [c for c in bom["components"] if c["type"] == "application"]
    assert sorted(c["bom-ref"] for c in apps) == sorted(f"agent:{a.id}" for a in present)
    models = {c["name"]: c for c in bom["components"] if c["type"] == "machine-learning-model"}
    assert {"gpt-4o", "gpt-4o-mini", "llama3.1:8b", "claude-3-5-sonnet-20241022"} <= set(models)
    assert models["llama3.1:8b"]["supplier"]["name"] == "Ollama"
    services = {s["bom-ref"]: s for s in bom["services"]}
    openai = services["service:openai"]
    assert "https://api.openai.com" in openai["endpoints"]
    assert "https://api.openai.com/v1/chat/completions" in openai["endpoints"]  # seen in the evidence
    assert openai["authenticated"] is True and openai["trustZone"] == "external"
    assert services["service:ollama"]["trustZone"] == "local"
    assert "https://llm-gateway.internal:4000/v1" in services["service:litellm-proxy"]["endpoints"]


def test_dependencies_link_agents_to_models_and_services(bom):
    refs = {c["bom-ref"] for c in bom["components"]} | {s["bom-ref"] for s in bom["services"]}
    deps = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert set(deps) == refs
    assert all(set(targets) <= refs for targets in deps.values())
    support = next(c for c in bom["components"] if c["name"] == "support-bot")
    assert deps[support["bom-ref"]] == ["model:openai/gpt-4o-mini", "service:openai"]


def test_agent_properties_and_evidence(bom):
    support = next(c for c in bom["components"] if c["name"] == "support-bot")
    props = _props(support)
    assert props["status"] == ["drift"] and props["change"] == ["changed"] and props["owner"] == ["bob@example.com"]
    assert any(r.startswith("key-in-history: ") for r in props["reason"])
    assert props["credential"][0].startswith("sk-proj-")
    occurrences = support["evidence"]["occurrences"]
    assert {"location": "/srv/scan/support-bot/.env", "line": 1} .items() <= occurrences[0].items()
    bedrock = next(c for c in bom["components"] if c["name"].startswith("aws:"))
    assert _props(bedrock)["spend:USD"] == ["1234.50"]
    summary = _props(bom["metadata"])
    assert summary["unexplained-spend:USD"] == ["1276.50"] and summary["complete"] == ["false"]


def test_serial_number_is_derived_from_content():
    a, b = build_bom(full_inventory()), build_bom(full_inventory())
    assert a["serialNumber"] == b["serialNumber"]
    assert build_bom(SAMPLES["empty"]())["serialNumber"] != a["serialNumber"]


def test_serial_number_is_that_of_the_rest_of_the_text():
    """Written an agent at a time, the BOM takes in its own text as it goes: the serial number is the
    name-based UUID of the document as written without it, so anyone can check it."""
    import hashlib
    import io
    import re
    import uuid

    from reports.cyclonedx import CycloneDxFormat

    text = io.StringIO()
    CycloneDxFormat().render(full_inventory(), text)
    member = re.search(r',\n  "serialNumber": "urn:uuid:([0-9a-f-]+)"', text.getvalue())
    assert member
    rest = text.getvalue()[:member.start()] + text.getvalue()[member.end():]
    digest = hashlib.sha1(rest.encode("utf-8")).hexdigest()
    assert member.group(1) == str(uuid.uuid5(uuid.NAMESPACE_URL, digest))
