"""SARIF 2.1.0: valid against the official OASIS schema, with locations and fingerprints platforms use."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from reports.sarif import build_sarif
from scanner.model import Change, Status
from tests.fixtures.inventory_samples import COMMIT, SAMPLES, full_inventory

# sarif-2.1/schema/sarif-schema-2.1.0.json from github.com/oasis-tcs/sarif-spec (the errata01 OASIS Standard)
SCHEMA_FILE = Path(__file__).parent / "data" / "reports" / "sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
SCHEMA = json.loads(SCHEMA_FILE.read_text("utf-8"))


def validate(doc: dict) -> list[str]:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.fixture(scope="module")
def full():
    inv = full_inventory()
    return inv, build_sarif(inv)


def _results_for(doc: dict, agent_name: str) -> list[dict]:
    return [r for r in doc["runs"][0]["results"] if r["properties"]["agentName"] == agent_name]


def test_schema_is_the_official_file_unchanged():
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert SCHEMA["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/")


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_sample_validates_against_the_official_schema(sample):
    doc = build_sarif(SAMPLES[sample]())
    assert validate(doc) == []
    assert doc["version"] == "2.1.0"


def test_the_schema_check_can_fail(full):
    _, doc = full
    broken = copy.deepcopy(doc)
    broken["runs"][0]["results"][0]["level"] = "critical"
    del broken["runs"][0]["results"][1]["message"]
    assert len(validate(broken)) == 2


def test_one_rule_per_status_and_kind_and_one_result_per_finding(full):
    inv, doc = full
    run = doc["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rule_ids == sorted(set(rule_ids))
    present = [a for a in inv.agents if a.change != Change.GONE and a.status != Status.APPROVED]
    expected = {f"{a.status.value}/{inv.finding_map()[f].kind}" for a in present for f in a.findings}
    expected |= {f"{a.status.value}/registry-record" for a in present if not a.findings}
    assert set(rule_ids) == expected
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
    assert len(run["results"]) == sum(max(1, len(a.findings)) for a in present)


def test_gone_and_approved_agents_are_not_results_and_changes_are_baseline_states(full):
    inv, doc = full
    results = doc["runs"][0]["results"]
    left_out = {a.id for a in inv.agents if a.change == Change.GONE or a.status == Status.APPROVED}
    assert len(left_out) == 3 and not [r for r in results if r["properties"]["agentId"] in left_out]
    assert doc["runs"][0]["properties"]["summary"]["by_status"]["approved"] == 2
    states = {r["properties"]["agentName"]: r.get("baselineState") for r in results}
    assert states["support-bot"] == "updated"
    assert states["old summariser 📝"] == "unchanged"
    assert states["résumé-screener"] == "updated"  # was a dormant record in the baseline


def test_repo_findings_have_relative_physical_locations_with_commit(full):
    _, doc = full
    run = doc["runs"][0]
    assert run["originalUriBaseIds"] == {"SRCROOT": {"uri": "file:///srv/scan/"}}
    [key] = [r for r in _results_for(doc, "support-bot") if r["properties"]["findingId"]
             and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "support-bot/.env"]
    physical = key["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uriBaseId"] == "SRCROOT"
    assert physical["region"] == {"startLine": 1}
    assert physical["properties"]["commit"] == COMMIT
    assert key["properties"]["credential"]["preview"].startswith("sk-proj-")
    [hostile] = _results_for(doc, "=SUM(1+1)|calc")
    assert hostile["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "%3DSUM%281%2B1%29%7Ccalc/bot.py"
    [accented] = _results_for(doc, "résumé-screener")
    accented_uri = accented["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert accented_uri == "r%C3%A9sum%C3%A9-screener/main.py"


def test_other_findings_have_logical_locations(full):
    _, doc = full
    kinds = set()
    for r in doc["runs"][0]["results"]:
        for loc in r["locations"]:
            kinds |= {ll["kind"] for ll in loc.get("logicalLocations", [])}
    assert {"process", "resource", "flow", "host", "registry-record"} <= kinds
    [server] = _results_for(doc, "ollama (ml@gpu01)")
    process = server["locations"][0]["logicalLocations"][0]
    assert process["fullyQualifiedName"] == "ml@gpu01 pid 999 /usr/local/bin/ollama"


def test_fingerprints_are_the_stable_ids_and_levels_follow_severity(full):
    inv, doc = full
    fmap = inv.finding_map()
    by_name = {a.name: a for a in inv.agents if a.change != Change.GONE and a.status != Status.APPROVED}
    for r in doc["runs"][0]["results"]:
        agent = by_name[r["properties"]["agentName"]]
        assert r["partialFingerprints"]["agentId/v1"] == agent.id
        if agent.findings:
            assert r["partialFingerprints"]["findingId/v1"] in fmap
        expected = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "none"}
        assert r["level"] == expected[agent.severity.value]
        assert r["kind"] == "fail"


def test_incomplete_coverage_becomes_tool_notifications(full):
    _, doc = full
    invocation = doc["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    levels = {n["descriptor"]["id"]: n["level"] for n in invocation["toolExecutionNotifications"]}
    assert levels == {"aws-billing": "error", "process": "warning", "pcap": "note"}


def test_every_result_has_an_artifact_uri_when_the_scan_had_a_registry(full):
    # GitHub code scanning rejects the whole upload if any result lacks physicalLocation.artifactLocation.uri
    _, doc = full
    results = doc["runs"][0]["results"]
    assert all(loc["physicalLocation"]["artifactLocation"]["uri"] for r in results for loc in r["locations"])
    anchored = [loc for r in results for loc in r["locations"] if "logicalLocations" in loc]
    assert anchored and all(loc["physicalLocation"] == {"artifactLocation": {"uri": "agents.yaml"},
                                                        "properties": {"anchor": "registry"}} for loc in anchored)


def test_without_registry_or_config_other_findings_are_logical_only():
    doc = build_sarif(SAMPLES["unregistered"]())
    locations = [loc for r in doc["runs"][0]["results"] for loc in r["locations"]]
    assert [loc for loc in locations if "physicalLocation" not in loc]
    assert all("logicalLocations" in loc for loc in locations if "physicalLocation" not in loc)


def test_results_over_the_platform_limit_keep_the_most_severe_and_say_so(full):
    inv, doc = full
    every = doc["runs"][0]["results"]
    limit = len(every) // 2
    capped = build_sarif(inv, max_results=limit)
    assert validate(capped) == []
    run = capped["runs"][0]
    assert len(run["results"]) == limit
    ranks = {"error": 3, "warning": 2, "note": 1, "none": 0}
    kept = sorted((ranks[r["level"]] for r in run["results"]), reverse=True)
    assert kept == sorted((ranks[r["level"]] for r in every), reverse=True)[:limit]
    assert run["properties"]["results_left_out"] == len(every) - limit
    note = [n for n in run["invocations"][0]["toolExecutionNotifications"] if n["descriptor"]["id"] == "result-limit"]
    assert note and f"{len(every) - limit} of {len(every)} results left out" in note[0]["message"]["text"]
    assert all(r["ruleIndex"] < len(run["tool"]["driver"]["rules"]) for r in run["results"])
    assert "results_left_out" not in doc["runs"][0]["properties"]


@pytest.mark.parametrize("limit", [0, 1, 5, 25_000])
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_the_document_written_result_by_result_is_the_document_dumped_whole(sample, limit):
    """The writer encodes its results one at a time into the document's text: the text is that
    of json.dumps of the whole document, whether none, some or all of the results are kept."""
    from reports.sarif import _SarifWriter
    from scanner.format import give_agents, reading_order
    inventory = SAMPLES[sample]()
    writer = _SarifWriter(inventory, limit)
    for _piece in give_agents(inventory, writer, reading_order):
        pass
    text = writer.head() + "".join(writer.tail())
    assert text == json.dumps(writer.document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert (len(json.loads(text)["runs"][0]["results"]) == 0) == (limit == 0 or not writer.pairs)
