"""gcp-billing end to end: google-auth, google-cloud-bigquery and google-cloud-billing against loopback fakes."""

from __future__ import annotations

import pytest

from tests.fixtures.billing_fakes import (FakeServer, bigquery_rows, google_error, reply,
                                          service_account_file)

pytest.importorskip("google.cloud.bigquery")

TABLE = "billing-admin.billing_ds.gcp_billing_export_v1_01ABCD_234567_89EF01"
FIELDS = [("account", "STRING"), ("account_name", "STRING"), ("service", "STRING"), ("item", "STRING"),
          ("resource", "STRING"), ("unit", "STRING"), ("currency", "STRING"), ("tags0", "STRING"),
          ("cost", "FLOAT"), ("credits", "FLOAT"), ("quantity", "FLOAT")]


class Google:
    """OAuth token endpoint, BigQuery jobs.query (429 once), Cloud Billing accounts and projects."""

    def __init__(self, deny_jobs: bool = False) -> None:
        self.deny_jobs = deny_jobs
        self.throttled = False
        self.queries: list[dict] = []

    def __call__(self, req):
        if req.path == "/token":
            assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in req.body
            return reply(200, {"access_token": "ya29.fake", "expires_in": 3600, "token_type": "Bearer"})
        if req.path.startswith("/bigquery/v2/projects/"):
            assert req.headers["authorization"] == "Bearer ya29.fake"
            if req.method == "GET" and "/jobs/job1" in req.path:  # jobs.get, before reading the next page
                return reply(200, {"kind": "bigquery#job", "id": "runner-project:US.job1",
                                   "jobReference": {"projectId": "runner-project", "jobId": "job1", "location": "US"},
                                   "configuration": {"query": {"query": "..."}}, "status": {"state": "DONE"}})
            if req.method == "GET" and "/queries/job1" in req.path:  # jobs.getQueryResults, second page
                assert req.query.get("pageToken") == ["bq2"], req.query
                return bigquery_rows(FIELDS, [["p-lab", "Lab", "Gemini API", "Gemini 2.0 Flash Output Tokens", None,
                                               "count1000", "USD", "[]", 0.75, 0, 5]], total=3)
            if self.deny_jobs:
                return google_error(403, "accessDenied", "Access Denied: Project runner-project: User does not have "
                                    "bigquery.jobs.create permission in project runner-project.")
            if not self.throttled:
                self.throttled = True
                return google_error(429, "rateLimitExceeded", "Exceeded rate limits")
            self.queries.append(req.json())
            return bigquery_rows(FIELDS, total=3, page_token="bq2", rows=[
                ["p-support", "Support", "Vertex AI", "Gemini 2.5 Flash Text Input - Predictions", None, "count1000",
                 "USD", '[{"key":"owner","value":"ana"}]', 3.5, -0.5, 120],
                ["p-support", "Support", "Vertex AI", "Gemini 2.5 Flash Text Output - Predictions", None, "count1000",
                 "USD", '[{"key":"owner","value":"ana"}]', 1.0, 0, 30],
            ])
        if req.path == "/v1/billingAccounts":  # two pages: the GAPIC pager follows nextPageToken
            if req.query.get("pageToken") != ["acct2"]:
                return reply(200, {"billingAccounts": [
                    {"name": "billingAccounts/01ABCD-234567-89EF01", "open": True, "displayName": "Main"}],
                    "nextPageToken": "acct2"})
            return reply(200, {"billingAccounts": [
                {"name": "billingAccounts/0FFFFF-000000-111111", "open": True, "displayName": "Other"},
                {"name": "billingAccounts/0CCCCC-000000-222222", "open": False, "displayName": "Closed"}]})
        if req.path == "/v1/billingAccounts/01ABCD-234567-89EF01/projects":
            return reply(200, {"projectBillingInfo": [{"projectId": "p-support", "billingEnabled": True},
                                                      {"projectId": "p-lab", "billingEnabled": True}]})
        if req.path == "/v1/billingAccounts/0FFFFF-000000-111111/projects":
            return google_error(403, "forbidden", "The caller does not have permission")
        return reply(404, {"error": {"code": 404, "message": f"no {req.path}"}})


def _env(fake_url: str, tmp_path) -> dict[str, str]:
    return {"GOOGLE_APPLICATION_CREDENTIALS": service_account_file(tmp_path / "sa.json", f"{fake_url}/token"),
            "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"), "GCE_METADATA_HOST": "127.0.0.1:9"}


def test_bigquery_query_pushdown_credits_and_billing_coverage(run_cli, tmp_path):
    google = Google()
    with FakeServer(google) as fake:
        r = run_cli("scan", "-d", "gcp-billing", "--set", f"gcp-billing.billing_table={TABLE}",
                    "--set", "gcp-billing.project=runner-project", "--set", f"gcp-billing.endpoint={fake.url}",
                    "--min-spend", "1", "-f", "json", env=_env(fake.url, tmp_path))
    assert r.code == 1, r.err
    inv = r.json()
    (finding,) = inv["findings"]  # the 0.75 Gemini API line is under --min-spend 1
    assert finding["provider"] == "google-vertex" and finding["model"] == "Gemini 2.5 Flash"
    assert finding["cost"] == pytest.approx(4.0)  # 3.5 - 0.5 credit + 1.0
    assert finding["quantity"] == 150 and finding["unit"] == "count1000"
    assert {"cloud:gcp:p-support:google-vertex", "owner:ana"} <= set(finding["identity"])
    (query,) = google.queries
    sql = query["query"]
    assert f"FROM `{TABLE}`" in sql and "UNNEST(credits)" in sql and "_PARTITIONTIME" in sql
    assert "lower(service.description) LIKE 'vertex ai'" in sql
    assert {p["name"] for p in query["queryParameters"]} == {"start", "end"}
    cov = inv["coverage"][0]
    assert cov["scanned"]["resources_below_min_spend"] == 1  # the Gemini API line of the second result page
    assert cov["scanned"]["billing_accounts"] == 2  # both pages, the closed account left out
    assert cov["gaps"] == [{"what": "billing account 0FFFFF-000000-111111", "reason": cov["gaps"][0]["reason"]}]
    assert "Billing Account Viewer" in cov["gaps"][0]["reason"]


def test_bigquery_permission_error_names_the_role(run_cli, tmp_path):
    with FakeServer(Google(deny_jobs=True)) as fake:
        r = run_cli("scan", "-d", "gcp-billing", "--set", f"gcp-billing.billing_table={TABLE}",
                    "--set", f"gcp-billing.endpoint={fake.url}", "-f", "json", env=_env(fake.url, tmp_path))
    assert r.code == 0, r.err
    cov = r.json()["coverage"][0]
    assert cov["status"] == "failed" and "BigQuery Job User (roles/bigquery.jobUser)" in cov["reason"]


def test_bad_table_name_is_a_usage_error(run_cli, tmp_path):
    r = run_cli("scan", "-d", "gcp-billing", "--set", "gcp-billing.billing_table=x`; DROP TABLE y; --", "-f", "json")
    assert r.code == 2 and "expected PROJECT.DATASET.TABLE" in r.err
