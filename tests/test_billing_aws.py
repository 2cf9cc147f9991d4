"""aws-billing end to end: the real CLI and boto3 against loopback Cost Explorer, STS and Athena fakes."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.fixtures.billing_fakes import FakeServer, aws_env, aws_error, aws_json, sts_assume_role

pytest.importorskip("boto3")

CLAUDE = "Claude 3.5 Sonnet (Amazon Bedrock Edition)"


def _metrics(cost: str, qty: str, unit: str = "N/A") -> dict:
    return {"UnblendedCost": {"Amount": cost, "Unit": "USD"}, "UsageQuantity": {"Amount": qty, "Unit": unit}}


def _result(groups: list[tuple[list[str], dict]], token: str | None = None, attrs: list | None = None) -> dict:
    out = {"GroupDefinitions": [], "DimensionValueAttributes": attrs or [],
           "ResultsByTime": [{"TimePeriod": {"Start": "2025-01-01", "End": "2025-02-01"}, "Total": {},
                              "Estimated": False, "Groups": [{"Keys": k, "Metrics": m} for k, m in groups]}]}
    if token:
        out["NextPageToken"] = token
    return out


class CostExplorer:
    """GetDimensionValues (2 pages), GetTags, GetCostAndUsage (throttled once, then paged)."""

    def __init__(self) -> None:
        self.throttled = False

    def __call__(self, req):
        if b"Action=AssumeRole" in req.body:  # STS speaks the query protocol (form body, XML reply)
            return sts_assume_role("arn:aws:iam::999999999999:role/billing-reader")
        body = req.json()
        if req.target == "GetDimensionValues":
            if body.get("NextPageToken") != "dv2":
                return aws_json({"DimensionValues": [{"Value": "Amazon Bedrock", "Attributes": {}},
                                                     {"Value": "Amazon Elastic Compute Cloud - Compute", "Attributes": {}}],
                                 "ReturnSize": 2, "TotalSize": 4, "NextPageToken": "dv2"})
            return aws_json({"DimensionValues": [{"Value": CLAUDE, "Attributes": {}},
                                                 {"Value": "Amazon SageMaker", "Attributes": {}}],
                             "ReturnSize": 2, "TotalSize": 4})
        if req.target == "GetTags":
            return aws_json({"Tags": ["Environment", "owner"], "ReturnSize": 2, "TotalSize": 2})
        if req.target != "GetCostAndUsage":
            return aws_error("ValidationException", f"unexpected {req.target}")
        if not self.throttled:
            self.throttled = True
            return aws_error("LimitExceededException", "You made too many calls in a short period of time.")
        keys = [g["Key"] for g in body["GroupBy"]]
        flt = body["Filter"]
        if keys == ["LINKED_ACCOUNT", "SERVICE"]:
            return aws_json(_result([(["111111111111", CLAUDE], _metrics("12.34", "1"))],
                                    attrs=[{"Value": "111111111111", "Attributes": {"description": "ml-prod"}}]))
        if keys == ["LINKED_ACCOUNT", "owner"]:
            return aws_json(_result([(["111111111111", "owner$dana@example.com"], _metrics("12.34", "1")),
                                     (["111111111111", "owner$"], _metrics("1", "1"))]))
        assert keys == ["SERVICE", "USAGE_TYPE"], keys
        assert flt["And"][1] == {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["111111111111"]}}
        if body.get("NextPageToken") != "cu2":
            return aws_json(_result([([CLAUDE, "USE1-MP:USE1_InputTokenCount-Units"], _metrics("10.00", "4113333")),
                                     ([CLAUDE, "USE1-MP:USE1_OutputTokenCount-Units"], _metrics("2.34", "100000"))],
                                    token="cu2"))
        return aws_json(_result([(["Amazon Bedrock", "USE1-Nova-Lite-input-tokens"], _metrics("0.50", "800")),
                                 (["Amazon SageMaker", "USE1-Notebk:ml.t3.medium"], _metrics("9.00", "10", "Hrs"))]))


def test_cost_explorer_pages_retries_and_joins_owner_tags(run_cli, tmp_path):
    with FakeServer(CostExplorer()) as fake:
        r = run_cli("scan", "-d", "aws-billing", "--since", "31d", "--set",
                    "aws-billing.role_arn=arn:aws:iam::999999999999:role/billing-reader", "-f", "json",
                    env=aws_env(fake.url, tmp_path))
        assert r.code == 1, r.err  # shadow agents found
        inv = r.json()
        # the scoped SageMaker notebook line is not LLM spend; EC2 never reached the cost query
        by_model = {f["model"]: f for f in inv["findings"]}
        assert set(by_model) == {"Claude 3.5 Sonnet", "Nova-Lite"}
        claude = by_model["Claude 3.5 Sonnet"]
        assert claude["cost"] == pytest.approx(12.34) and claude["currency"] == "USD"
        assert claude["provider"] == "aws-bedrock" and claude["kind"] == "billing-line"
        assert "cloud:aws:111111111111:aws-bedrock" in claude["identity"]
        assert "owner:dana@example.com" in claude["identity"]
        assert claude["details"]["account_name"] == "ml-prod"
        assert inv["summary"]["spend"] == {"USD": 12.84}
        assert "12.84 USD LLM spend (12.84 unexplained)" in r.err
        # what boto3 sent: the assumed role's keys, the paged dimension values, only LLM services filtered
        cost_calls = fake.calls("GetCostAndUsage")
        assert all("ASIAFAKEFAKEFAKE0001" in c.headers["authorization"] for c in cost_calls)
        assert len(fake.calls("GetDimensionValues")) == 2
        first_filter = cost_calls[1].json()["Filter"]["Dimensions"]
        assert first_filter["Key"] == "SERVICE" and "Amazon Elastic Compute Cloud - Compute" not in first_filter["Values"]
        assert cost_calls[0].json() == cost_calls[1].json()  # the throttled call was retried as is
        cov = inv["coverage"][0]
        assert cov["status"] == "ran", cov


def test_missing_permission_is_a_coverage_entry(run_cli, tmp_path):
    def deny(req):
        return aws_error("AccessDeniedException", "User: arn:aws:iam::1:user/x is not authorized to perform: "
                         "ce:GetDimensionValues")

    with FakeServer(deny) as fake:
        r = run_cli("scan", "-d", "aws-billing", "-f", "json", env=aws_env(fake.url, tmp_path))
    assert r.code == 0, r.err
    cov = r.json()["coverage"][0]
    assert cov["status"] == "failed"
    assert "grant ce:GetDimensionValues" in cov["reason"]
    assert "Traceback" not in r.err


def test_no_credentials_is_a_clear_error(run_cli, tmp_path):
    env = aws_env("http://127.0.0.1:9", tmp_path)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    r = run_cli("scan", "-d", "aws-billing", "-f", "json", env=env)
    assert r.code == 2
    assert "no AWS credentials" in r.err and "Traceback" not in r.err


class Athena:
    """StartQueryExecution / GetQueryExecution (running, then done) / GetQueryResults (paged)."""

    COLUMNS = [("line_item_usage_account_id", "varchar"), ("product", "map"), ("line_item_product_code", "varchar"),
               ("line_item_usage_type", "varchar"), ("line_item_resource_id", "varchar"),
               ("line_item_iam_principal", "varchar"), ("line_item_unblended_cost", "double"),
               ("line_item_usage_amount", "double"), ("pricing_unit", "varchar"),
               ("line_item_currency_code", "varchar"), ("line_item_usage_start_date", "timestamp"),
               ("line_item_line_item_type", "varchar"), ("resource_tags", "map"), ("billing_period", "varchar")]

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.polls = 0

    @staticmethod
    def operation(req) -> tuple[str, dict]:
        """The operation and its parameters, in either wire format boto3 has spoken to Athena: JSON 1.1
        (``X-Amz-Target``, everything in the body) and, as botocore 1.44 speaks it, REST-JSON (the operation
        in the method and path, the query's id in the path, ``NextToken`` in the query string)."""
        if req.target:
            return req.target, req.json()
        parts = [urllib.parse.unquote(p) for p in req.path.split("?")[0].strip("/").split("/")]
        if req.method == "POST" and parts == ["query-executions"]:
            return "StartQueryExecution", req.json()
        if req.method == "GET" and parts[0] == "query-executions" and len(parts) in (2, 3):
            params = {"QueryExecutionId": parts[1], **({"NextToken": req.one("NextToken")} if req.one("NextToken") else {})}
            return ("GetQueryExecution" if len(parts) == 2 else "GetQueryResults"), params
        raise AssertionError(f"not an Athena call this fake knows: {req.method} {req.path}")

    def __call__(self, req):
        target, body = self.operation(req)
        if target == "StartQueryExecution":
            self.queries.append(body["QueryString"])
            return aws_json({"QueryExecutionId": f"q{len(self.queries)}"})
        if target == "GetQueryExecution":
            self.polls += 1
            state = "RUNNING" if self.polls % 2 else "SUCCEEDED"
            return aws_json({"QueryExecution": {"QueryExecutionId": body["QueryExecutionId"],
                                                "Status": {"State": state}}})
        assert target == "GetQueryResults"
        if body["QueryExecutionId"] == "q1":
            cols = [{"Name": n, "Type": t} for n, t in self.COLUMNS]
            return aws_json({"ResultSet": {"Rows": [{"Data": [{"VarCharValue": n} for n, _ in self.COLUMNS]}],
                                           "ResultSetMetadata": {"ColumnInfo": cols}}})
        names = ["account", "account_name", "service", "subcategory", "item", "product", "resource", "principal",
                 "unit", "currency", "tags0", "day", "cost", "credits", "quantity"]
        meta = {"ColumnInfo": [{"Name": n, "Type": "varchar"} for n in names]}

        def row(*values):
            return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}

        if body.get("NextToken") != "r2":
            return aws_json({"NextToken": "r2", "ResultSet": {"ResultSetMetadata": meta, "Rows": [
                row(*names),
                row("222222222222", None, CLAUDE, None, "USW2-MP:USW2_InputTokenCount-Units", None, None,
                    "arn:aws:iam::222222222222:role/support-bot", "Units", "USD", '{"user_team":"support"}',
                    "2025-01-03", "7.25", None, "1000")]}})
        return aws_json({"ResultSet": {"ResultSetMetadata": meta, "Rows": [
            row("222222222222", None, CLAUDE, None, "USW2-MP:USW2_OutputTokenCount-Units", None, None,
                "arn:aws:iam::222222222222:role/support-bot", "Units", "USD", '{"user_team":"support"}',
                "2025-01-04", "2.75", None, "50")]}})


def test_athena_pushes_the_aggregate_down(run_cli, tmp_path):
    athena = Athena()
    with FakeServer(athena) as fake:
        r = run_cli("scan", "-d", "aws-billing", "--since", "3650d", "--set", "aws-billing.athena_database=cur",
                    "--set", "aws-billing.athena_table=cur2", "-f", "json", env=aws_env(fake.url, tmp_path))
    assert r.code == 1, r.err
    (finding,) = r.json()["findings"]
    assert finding["cost"] == pytest.approx(10.0)
    assert "cloud:aws:222222222222:arn:aws:iam::222222222222:role/support-bot" in finding["identity"]
    assert "owner:support" in finding["identity"]
    schema_query, query = athena.queries
    assert schema_query == 'SELECT * FROM "cur"."cur2" LIMIT 0'
    assert "element_at(\"product\", 'product_name')" in query and "GROUP BY" in query
    assert "LIKE '%(amazon bedrock edition)'" in query
    assert '"line_item_usage_start_date" >= TIMESTAMP' in query and '"billing_period" >= ' in query


def test_missing_sdk_names_the_extra(run_cli, tmp_path):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['boto3'] = None  # as if not installed\n")
    r = run_cli("detectors", "--json", env={"PYTHONPATH": str(hide)})
    (aws,) = [d for d in json.loads(r.out) if d["name"] == "aws-billing"]
    assert aws["available"] is False
    assert aws["why_not"] == "needs boto3: pip install 'shadow-agent-scanner[aws]'"
    r = run_cli("scan", "-d", "aws-billing", "-f", "json", env={"PYTHONPATH": str(hide)})
    cov = r.json()["coverage"][0]
    assert cov["status"] == "skipped" and "shadow-agent-scanner[aws]" in cov["reason"]


def test_doctor_says_whether_credentials_are_there(run_cli, tmp_path):
    def checks(env):
        doc = json.loads(run_cli("doctor", "--json", env=env).out)
        (aws,) = [d for d in doc["detectors"] if d["name"] == "aws-billing"]
        return {c["name"]: c for c in aws["checks"]}

    without = checks({})
    assert without["can run here"]["ok"] and not without["credentials"]["ok"]
    assert "--aws-export" in without["credentials"]["fix"]
    with_profile = checks({"AWS_PROFILE": "billing-reader"})
    assert with_profile["credentials"]["ok"] and "AWS_PROFILE" in with_profile["credentials"]["detail"]
