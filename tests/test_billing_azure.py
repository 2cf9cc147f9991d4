"""azure-billing end to end: azure-identity and azure-mgmt-costmanagement against a loopback ARM fake."""

from __future__ import annotations

import pytest

from tests.fixtures.billing_fakes import FakeServer, arm_error, arm_query_result, azure_token

pytest.importorskip("azure.mgmt.costmanagement")

SUB = "00000000-0000-0000-0000-0000000000a1"
DENIED = "00000000-0000-0000-0000-0000000000b2"
AOAI = f"/subscriptions/{SUB}/resourcegroups/rg-bots/providers/microsoft.cognitiveservices/accounts/support-aoai"
SPEECH = f"/subscriptions/{SUB}/resourcegroups/rg-bots/providers/microsoft.cognitiveservices/accounts/speech1"
FOUNDRY = f"/subscriptions/{SUB}/resourcegroups/rg-lab/providers/microsoft.cognitiveservices/accounts/lab-foundry"
SECRET = "identity-header-secret"
COLUMNS = [("PreTaxCost", "Number"), ("UsageQuantity", "Number"), ("ResourceId", "String"), ("Meter", "String"),
           ("Currency", "String")]


class Arm:
    """Managed-identity token endpoint + the Cost Management query endpoint (429 once, nextLink, 403)."""

    def __init__(self) -> None:
        self.url = ""
        self.throttled = False
        self.bodies: list[dict] = []

    def __call__(self, req):
        if req.path == "/msi/token":
            return azure_token(req, SECRET)
        assert req.headers.get("authorization") == "Bearer fake-arm-token", req.headers
        assert req.path.endswith("/providers/Microsoft.CostManagement/query"), req.path
        if DENIED in req.path:
            return arm_error(403, "AuthorizationFailed", "The client does not have authorization to perform action "
                             "'Microsoft.CostManagement/query/action'")
        if not self.throttled:
            self.throttled = True  # Cost Management's own header, no Retry-After: azure-core alone would not retry
            return arm_error(429, "429", "Too many requests. Please retry.",
                             **{"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "0"})
        body = req.json()
        self.bodies.append(body)
        grouping = body["dataset"]["grouping"]
        services = body["dataset"]["filter"]["dimensions"]["values"]
        if grouping[1]["type"] == "TagKey":
            if grouping[1]["name"] != "owner":
                return arm_query_result([("PreTaxCost", "Number"), ("ResourceId", "String"), ("TagKey", "String"),
                                         ("TagValue", "String"), ("Currency", "String")], [])
            return arm_query_result([("PreTaxCost", "Number"), ("ResourceId", "String"), ("TagKey", "String"),
                                     ("TagValue", "String"), ("Currency", "String")],
                                    [[4.0, AOAI, "owner", "support-team@example.com", "USD"]])
        if "Foundry Models" in services:
            if req.query.get("$skiptoken") != ["page2"]:
                link = f"{self.url}{req.path}?api-version=2025-03-01&$skiptoken=page2"
                return arm_query_result(COLUMNS, [[1.5, 3.0, FOUNDRY, "5.4 mini Inp Gl", "USD"]], link)
            return arm_query_result(COLUMNS, [[0.25, 1.0, FOUNDRY, "5.4 mini Outp Gl", "USD"]])
        assert services == ["Cognitive Services", "Foundry Tools"], services
        return arm_query_result(COLUMNS, [[4.0, 40.0, AOAI, "gpt-4o-mini-0718 Inp glbl Tokens", "USD"],
                                          [9.0, 3.0, SPEECH, "S1 Speech To Text", "USD"]])


def test_query_api_scopes_paging_throttling_and_permissions(run_cli, workdir):
    arm = Arm()
    with FakeServer(arm) as fake:
        arm.url = fake.url
        env = {"IDENTITY_ENDPOINT": f"{fake.url}/msi/token", "IDENTITY_HEADER": SECRET,
               "AZURE_CONFIG_DIR": str(workdir / "no-az")}
        r = run_cli("scan", "-d", "azure-billing", "--set", f"azure-billing.scope=subscriptions/{SUB},"
                    f"subscriptions/{DENIED}", "--set", f"azure-billing.endpoint={fake.url}", "-f", "json", env=env)
    assert r.code == 1, r.err
    inv = r.json()
    findings = {(f["location"]["resource"], f["model"]): f for f in inv["findings"]}
    assert set(findings) == {(AOAI, "gpt-4o-mini-0718"), (FOUNDRY, "5.4 mini")}  # speech is not LLM spend
    aoai = findings[(AOAI, "gpt-4o-mini-0718")]
    assert aoai["cost"] == 4.0 and aoai["provider"] == "azure-openai"
    assert {"azure-openai:support-aoai", f"cloud:azure:{SUB}:{AOAI}",
            "owner:support-team@example.com"} <= set(aoai["identity"])
    assert findings[(FOUNDRY, "5.4 mini")]["cost"] == pytest.approx(1.75)  # both nextLink pages
    cov = inv["coverage"][0]
    assert cov["status"] == "partial"
    assert cov["gaps"] == [{"what": f"subscriptions/{DENIED}",
                            "reason": f"access denied: grant the Cost Management Reader role on subscriptions/{DENIED}"}]
    # the wire body the SDK sent: two groupings, the window, the catalogue's services
    body = arm.bodies[-1]
    assert body["type"] == "ActualCost" and body["timeframe"] == "Custom" and "from" in body["timePeriod"]
    assert len(body["dataset"]["grouping"]) == 2


def test_endpoint_finding_joins_the_billed_account(run_cli, workdir, tmp_path):
    """A repository that calls support-aoai.openai.azure.com and the bill of that account are one agent."""
    app = workdir / "bot"
    app.mkdir()
    (app / "main.py").write_text('from openai import AzureOpenAI\n'
                                 'client = AzureOpenAI(azure_endpoint="https://Support-AOAI.openai.azure.com/")\n')
    export = tmp_path / "costs.csv"
    export.write_text(
        "SubscriptionId,Date,MeterCategory,MeterSubCategory,MeterName,ProductName,UnitOfMeasure,Quantity,"
        "CostInBillingCurrency,BillingCurrency,ResourceId,Tags\n"
        f"{SUB},2025-01-02,Cognitive Services,Azure OpenAI,GPT 4.1 Mini Input Tokens,Azure OpenAI GPT 4.1 Mini,1K,"
        f'10,0.40,EUR,{AOAI.replace("support-aoai", "Support-AOAI")},"{{""team"": ""support""}}"\n')
    r = run_cli("scan", "-p", str(app), "-d", "repo", "-d", "azure-billing", "--azure-export", str(export),
                "-f", "json")
    assert r.code == 1, r.err
    inv = r.json()
    (agent,) = [a for a in inv["agents"] if "azure-openai:support-aoai" in a["identity"]]
    assert set(agent["detectors"]) == {"repo", "azure-billing"}
    assert agent["spend"] == {"EUR": 0.4} and "support" in agent["owners"]
    assert "0.40 EUR LLM spend (0.40 unexplained)" in r.err
