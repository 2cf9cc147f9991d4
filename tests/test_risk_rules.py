"""One test per severity rule of scanner/risk.py, through the real correlate → compare → assess path.

Severity reads typed fields only (``Finding.risks``, ``credential.admin``, ``place``, ``cost``);
``details`` is display. Each test changes one input and asserts the one outcome that rule gives,
so a renamed flag or a reordered rule fails here rather than silently changing tickets.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from scanner import identity, redact
from scanner.catalog import Catalog
from scanner.model import Coverage, Finding, Location, Severity, Status
from scanner.pipeline import build_inventory, load_inventory
from scanner.registry import parse_registry
from scanner.schema import check_inventory
from tests.keys import make_key

TODAY = dt.date(2026, 12, 1)
REPO = identity.repo("github.com/acme/bot", ".")
OWNER = identity.owner("alice@example.com")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def key_finding(n: int = 1, admin: bool = False, risks: tuple[str, ...] = (), **extra) -> Finding:
    """A credential in the bot's .env, as the repo detector makes it."""
    cred = redact.credential(make_key("openai-project", n), "openai-project", admin)
    return Finding(detector="repo", kind="credential", provider="openai", credential=cred,
                   location=Location(path="/src/bot/.env", line=n), identity=[REPO, OWNER, identity.cred(cred.fingerprint)],
                   evidence=f"OPENAI_API_KEY={cred.preview}", risks=list(risks), **extra)


def code_finding(place: str = "code") -> Finding:
    return Finding(detector="repo", kind="sdk-usage", provider="openai", location=Location(path="/src/bot/app.py", line=3),
                   identity=[REPO, OWNER], evidence="openai.OpenAI()", place=place)


def server_finding(risks: tuple[str, ...] = ()) -> Finding:
    return Finding(detector="process", kind="local-model-server", provider="ollama",
                   location=Location(host="gpu01", pid=9, user="ml", exe="/usr/bin/ollama"),
                   identity=[identity.proc("gpu01", "ml", "ollama"), OWNER], evidence="ollama serve", risks=list(risks))


def mcp_finding() -> Finding:
    return Finding(detector="repo", kind="mcp-server", location=Location(path="/src/bot/.mcp.json", line=1),
                   identity=[REPO, OWNER], evidence="MCP server files", place="config")


def assess(catalog: Catalog, findings: list[Finding], registry: str | None = None):
    reg = parse_registry(registry, "agents.yaml") if registry else None
    inv = build_inventory(findings, [Coverage("repo"), Coverage("process")], catalog, reg, TODAY, {})
    (agent,) = [a for a in inv.agents if a.status != Status.DORMANT] or inv.agents
    return agent.severity, {r.code for r in agent.reasons}


def record(**fields: str) -> str:
    base = {"id": "bot", "name": "bot", "owner": "alice@example.com", "provider": "openai",
            "last_reviewed": "2026-11-01", "match": '{repos: ["github.com/acme/bot"]}'}
    base.update(fields)
    return "version: 1\nagents:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in base.items()) + "\n"


# ---- the base, from the status ---------------------------------------------------------------------------

@pytest.mark.parametrize("registry,status,severity", [
    (None, Status.SHADOW, Severity.HIGH),
    (record(expires="2026-06-30"), Status.EXPIRED, Severity.HIGH),
    (record(provider="anthropic"), Status.DRIFT, Severity.MEDIUM),
    (record(last_reviewed="2025-01-01"), Status.REVIEW_OVERDUE, Severity.LOW),
    (record(), Status.APPROVED, Severity.INFO),
])
def test_the_status_sets_the_base(catalog, registry, status, severity):
    reg = parse_registry(registry, "agents.yaml") if registry else None
    inv = build_inventory([key_finding()], [Coverage("repo")], catalog, reg, TODAY, {})
    (agent,) = inv.agents
    assert (agent.status, agent.severity) == (status, severity)


def test_a_record_nothing_matched_is_dormant_and_low(catalog):
    reg = parse_registry(record(match='{repos: ["github.com/acme/gone"]}'), "agents.yaml")
    inv = build_inventory([key_finding()], [Coverage("repo")], catalog, reg, TODAY, {})
    dormant = [a for a in inv.agents if a.status == Status.DORMANT]
    assert [a.severity for a in dormant] == [Severity.LOW]


def test_an_mcp_server_starts_low(catalog):
    assert assess(catalog, [mcp_finding()])[0] == Severity.LOW


# ---- the evidence grade -------------------------------------------------------------------------------------

def test_code_only_evidence_is_one_step_lower(catalog):
    severity, codes = assess(catalog, [code_finding()])
    assert (severity, "evidence-code-only" in codes) == (Severity.MEDIUM, True)


def test_example_only_evidence_is_two_steps_lower(catalog):
    severity, codes = assess(catalog, [code_finding(place="example")])
    assert (severity, "evidence-example-only" in codes) == (Severity.LOW, True)


def test_a_key_keeps_the_base(catalog):
    severity, codes = assess(catalog, [code_finding(), key_finding()])
    assert severity == Severity.HIGH and not codes & {"evidence-code-only", "evidence-example-only"}


# ---- factors that raise it ------------------------------------------------------------------------------------

def test_an_admin_key_raises_one_step(catalog):
    severity, codes = assess(catalog, [key_finding(admin=True)])
    assert (severity, "admin-key" in codes) == (Severity.CRITICAL, True)


def test_a_key_in_history_raises_one_step(catalog):
    severity, codes = assess(catalog, [key_finding(risks=("in-history",))])
    assert (severity, "key-in-history" in codes) == (Severity.CRITICAL, True)


def test_a_server_on_all_interfaces_raises_one_step(catalog):
    assert assess(catalog, [server_finding()])[0] == Severity.HIGH
    severity, codes = assess(catalog, [server_finding(risks=("exposed",))])
    assert (severity, "exposed-server" in codes) == (Severity.CRITICAL, True)


def test_a_world_readable_key_file_is_a_reason_not_a_step(catalog):
    severity, codes = assess(catalog, [key_finding(risks=("world-readable",))])
    assert (severity, "world-readable" in codes) == (Severity.HIGH, True)


def test_world_readable_counts_only_for_a_finding_that_holds_a_key(catalog):
    _severity, codes = assess(catalog, [server_finding(risks=("world-readable",))])
    assert "world-readable" not in codes


def test_factors_add_up_and_stop_at_critical(catalog):
    severity, codes = assess(catalog, [key_finding(admin=True, risks=("in-history", "world-readable"))])
    assert severity == Severity.CRITICAL and {"admin-key", "key-in-history", "world-readable"} <= codes


def test_drift_with_a_key_in_history_is_high(catalog):
    severity, _ = assess(catalog, [key_finding(risks=("in-history",))], record(provider="anthropic"))
    assert severity == Severity.HIGH


def test_an_approved_agent_is_never_raised(catalog):
    severity, codes = assess(catalog, [key_finding(admin=True, risks=("in-history",))], record())
    assert severity == Severity.INFO and {"admin-key", "key-in-history"} <= codes


def test_details_do_not_change_severity(catalog):
    """What used to be read from details is display only now: the old names change nothing."""
    f = key_finding(details={"in_history": True, "world_readable": True, "exposed": True})
    assert assess(catalog, [f]) == assess(catalog, [key_finding()])


# ---- reasons without a step -------------------------------------------------------------------------------------

def test_no_owner_is_a_reason(catalog):
    f = Finding(detector="repo", kind="sdk-usage", provider="openai", location=Location(path="/src/x/app.py", line=1),
                identity=[identity.repo("/src/x", ".")], evidence="openai.OpenAI()", place="code")
    assert "no-owner" in assess(catalog, [f])[1]
    assert "no-owner" not in assess(catalog, [code_finding()])[1]


def test_spend_without_approval_is_a_reason(catalog):
    bill = Finding(detector="aws-billing", kind="billing-line", provider="bedrock", cost=12.5, currency="USD",
                   location=Location(cloud="aws", account="123456789012"), identity=[identity.cloud("aws", "123456789012", "bedrock")],
                   evidence="Amazon Bedrock: 12.50 USD")
    assert "unexplained-spend" in assess(catalog, [bill])[1]


# ---- the typed fields themselves ------------------------------------------------------------------------------

def test_an_unknown_risk_is_refused():
    with pytest.raises(ValueError, match="unknown risk 'in_history'"):
        key_finding(risks=("in_history",))
    f = key_finding()
    with pytest.raises(ValueError, match="unknown risk"):
        f.add_risk("public")


def test_registry_tags_match_the_finding_tags(catalog):
    account = Finding(detector="azure-openai-inventory", kind="azure-openai-account", provider="azure-openai",
                      location=Location(cloud="azure", account="sub-1", resource="/subscriptions/sub-1/x/accounts/a"),
                      identity=[identity.azure_openai_account("a")], evidence="Azure OpenAI account a",
                      tags={"app": "search"})
    reg = record(provider="azure-openai", match="{tags: {app: search}}")
    assert assess(catalog, [account], reg)[0] == Severity.INFO
    assert assess(catalog, [account], reg.replace("app: search", "app: other"))[0] != Severity.INFO


def test_typed_fields_round_trip_and_validate(catalog, tmp_path: Path):
    found = [key_finding(risks=("in-history", "world-readable")),
             Finding(detector="env", kind="endpoint-config", provider="openai", location=Location(path="/etc/env", line=1),
                     identity=[OWNER], evidence="OPENAI_BASE_URL", endpoint="https://api.openai.com/v1",
                     tags={"team": "search"})]
    inv = build_inventory(found, [Coverage("repo")], catalog, None, TODAY, {})
    data = json.loads(inv.to_json())
    check_inventory(data, "scan.json")
    saved = {f["kind"]: f for f in data["findings"]}
    assert saved["credential"]["risks"] == ["in-history", "world-readable"]
    assert (saved["endpoint-config"]["endpoint"], saved["endpoint-config"]["tags"]) == \
        ("https://api.openai.com/v1", {"team": "search"})
    path = tmp_path / "scan.json"
    path.write_text(inv.to_json())
    assert load_inventory(path).to_json() == inv.to_json()


def test_a_schema_1_0_inventory_keeps_its_risks(catalog, tmp_path: Path):
    """Inventories written before the typed fields held the flags in details: merge must not lose them."""
    inv = build_inventory([key_finding(risks=("in-history",)), server_finding(risks=("exposed",))],
                          [Coverage("repo")], catalog, None, TODAY, {})
    old = json.loads(inv.to_json())
    old["schema_version"] = "1.0"
    for f in old["findings"]:
        for flag in f.pop("risks", []):
            f.setdefault("details", {})[{"in-history": "in_history", "exposed": "exposed"}[flag]] = True
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    loaded = load_inventory(path)
    assert loaded.schema_version == "1.1"
    assert sorted(r for f in loaded.findings for r in f.risks) == ["exposed", "in-history"]
    again = build_inventory(loaded.findings, loaded.coverage, catalog, None, TODAY, {})
    assert sorted(a.severity.value for a in again.agents) == ["critical", "critical"]
