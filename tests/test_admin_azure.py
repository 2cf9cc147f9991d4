"""azure-openai-inventory: azure-identity + azure-mgmt-cognitiveservices against a loopback ARM fake.

The credential is azure-identity's own DefaultAzureCredential, given a token by a fake App Service
managed-identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER); ARM is the same fake.
"""

from __future__ import annotations

import datetime as dt

import pytest

from detectors.provider_admin import AzureOpenAIInventoryDetector
from scanner import identity
from scanner.catalog import Catalog
from scanner.detector import DetectorError
from scanner.model import Coverage, CoverageStatus, Finding, Location, Status
from scanner.pipeline import build_inventory
from scanner.registry import load_registry
from tests.fixtures.admin_fakes import ArmFake, Server, arm_account, arm_deployment, run_detector

SUB1, SUB2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
SECRET = "identity-header-secret"


def arm() -> ArmFake:
    fake = ArmFake(identity_secret=SECRET, subscriptions=[SUB1, SUB2], forbidden={SUB2})
    aoai = arm_account(SUB1, "rg-ai", "myaoai", tags={"owner": "team-search"})
    foundry = arm_account(SUB1, "rg-ai", "foundry1", kind="AIServices", subdomain="foundry-one",
                          local_auth_disabled=True)
    fake.accounts = {SUB1: [aoai, foundry, arm_account(SUB1, "rg-x", "textsvc", kind="TextAnalytics")]}
    fake.deployments = {"myaoai": [arm_deployment(aoai["id"], "chat", "gpt-4o", "2024-11-20", "GlobalStandard", 50),
                                   arm_deployment(aoai["id"], "mini", "gpt-4.1-mini", "2025-04-14")],
                        "foundry1": [arm_deployment(foundry["id"], "r1", "DeepSeek-R1", "1")]}
    return fake


@pytest.fixture
def azure_env(clean_env, monkeypatch):
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
                 "MSI_ENDPOINT", "MSI_SECRET", "AZURE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def serve(monkeypatch, fake: ArmFake, server: Server, header: str = SECRET) -> None:
    server.handle = fake.handle(server)
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.url + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", header)


def test_accounts_and_deployments_of_every_subscription(azure_env):
    fake = arm()
    with Server(None) as server:  # type: ignore[arg-type]
        serve(azure_env, fake, server)
        findings, cov = run_detector(AzureOpenAIInventoryDetector, {"endpoint": server.url})
    assert server.violations == []
    assert server.paths("/msi/token") and all(r.headers["authorization"] == "Bearer fake-arm-token"
                                               for r in server.requests if not r.path.startswith("/msi"))
    assert server.paths() .count(f"/subscriptions/{SUB1}/providers/Microsoft.CognitiveServices/accounts") == 2
    assert cov.status == CoverageStatus.PARTIAL  # SUB2 refused
    assert [(g.what, g.reason) for g in cov.gaps] == [(f"subscription {SUB2}",
                                                       f"access denied: grant the Reader role on subscription {SUB2}")]
    assert cov.scanned["subscriptions"] == 2 and cov.scanned["accounts"] == 2
    assert cov.scanned["other_cognitive_services_accounts"] == 1
    accounts = {f.details["name"]: f for f in findings if f.kind == "azure-openai-account"}
    assert accounts["myaoai"].identity == ["azure-openai:myaoai"]
    assert accounts["myaoai"].tags == {"owner": "team-search"}
    assert accounts["foundry1"].identity == ["azure-openai:foundry-one", "azure-openai:foundry1"]
    assert accounts["foundry1"].details["local_auth_disabled"] is True
    deployments = sorted((f.details["account"], f.model, f.details["sku"], f.details["capacity"])
                         for f in findings if f.kind == "azure-openai-deployment")
    assert deployments == [("foundry1", "DeepSeek-R1", "Standard", 10), ("myaoai", "gpt-4.1-mini", "Standard", 10),
                           ("myaoai", "gpt-4o", "GlobalStandard", 50)]


def test_deployments_join_bill_and_callers_and_feed_drift(azure_env, tmp_path):
    with Server(None) as server:  # type: ignore[arg-type]
        serve(azure_env, arm(), server)
        findings, cov = run_detector(AzureOpenAIInventoryDetector, {"endpoint": server.url, "subscription": [SUB1]})
    assert not server.paths("/subscriptions?") and cov.status == CoverageStatus.RAN
    rid = f"/subscriptions/{SUB1}/resourcegroups/rg-ai/providers/microsoft.cognitiveservices/accounts/myaoai"
    bill = Finding(detector="azure-billing", kind="billing-line", location=Location(cloud="azure", account=SUB1,
                                                                                 resource=rid),
                   identity=[f"cloud:azure:{SUB1}:{rid}", identity.azure_openai_account("myaoai")],
                   evidence="Azure OpenAI spend", provider="azure-openai", cost=12.5, currency="USD")
    caller = Finding(detector="repo", kind="endpoint", location=Location(path="svc/app.py", line=4),
                     identity=[identity.repo("github.com/acme/svc", "."), identity.azure_openai_account("foundry-one")],
                     evidence="https://foundry-one.openai.azure.com/", provider="azure-openai")
    reg = tmp_path / "agents.yaml"
    reg.write_text("agents:\n  - id: search\n    name: Search\n    owner: team-search\n    provider: [azure-openai]\n"
                   "    models: [gpt-4o]\n    last_reviewed: 2099-01-01\n    match: ['azure-openai:myaoai']\n")
    inv = build_inventory(findings + [bill, caller], [cov, Coverage("azure-billing"), Coverage("repo")],
                          Catalog.load(), load_registry(str(reg)), dt.date(2099, 1, 2), {})
    search = next(a for a in inv.agents if bill.id in a.findings)
    assert {f for f in search.findings} >= {f.id for f in findings if "azure-openai:myaoai" in f.identity}
    assert search.spend == {"USD": 12.5} and search.status == Status.DRIFT
    assert [r.message for r in search.reasons if r.code == "drift-model"] == [
        "uses model gpt-4.1-mini, record search declares gpt-4o"]
    foundry = next(a for a in inv.agents if caller.id in a.findings)
    assert "DeepSeek-R1" in foundry.models and "azure-openai:foundry1" in foundry.identity


def test_no_usable_credential_is_an_input_error(azure_env):
    with Server(None) as server:  # type: ignore[arg-type]
        serve(azure_env, arm(), server, header="wrong")
        with pytest.raises(DetectorError, match="no usable Azure credentials"):
            run_detector(AzureOpenAIInventoryDetector, {"endpoint": server.url, "subscription": [SUB1]})
        assert [c.ok for c in AzureOpenAIInventoryDetector().diagnose()] == [True, False]
    assert not server.paths("/subscriptions")


def test_plain_http_off_loopback_is_refused_before_any_call(azure_env):
    with pytest.raises(DetectorError, match="plain http is accepted only to a loopback"):
        run_detector(AzureOpenAIInventoryDetector, {"endpoint": "http://arm.example.com"})


def test_doctor_does_not_probe_for_a_vm_identity_when_nothing_is_configured(azure_env, tmp_path):
    azure_env.delenv("IDENTITY_ENDPOINT", raising=False)
    azure_env.delenv("IDENTITY_HEADER", raising=False)
    azure_env.setenv("PATH", str(tmp_path))  # no az / azd here
    checks = AzureOpenAIInventoryDetector().diagnose()
    assert [c.ok for c in checks] == [True, False]
    assert "no Azure credential is configured here" in checks[1].detail  # said without any network call
