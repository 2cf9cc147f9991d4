"""``gcp-billing``: Vertex AI and Gemini API spend — the BigQuery billing export, or exported rows.

One aggregate query is pushed down to the standard or detailed export table (grouped by project,
service, SKU — SKU descriptions name the model — resource and labels; credits netted), so only
aggregates come back. ``google-cloud-billing`` then lists the billing accounts and their projects
so coverage says whose costs the table does not hold. Credentials: Application Default
Credentials (``GOOGLE_APPLICATION_CREDENTIALS`` service-account file, gcloud, metadata server).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from detectors.billing import common
from detectors.billing.common import MIN_SPEND, SINCE, Line, Matcher, Window
from detectors.billing.sql import llm_filter, row_to_line
from scanner.detector import DetectorError, ScanContext
from scanner.model import CoverageStatus, Finding
from scanner.options import Option

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
JOB_ROLES = "BigQuery Job User (roles/bigquery.jobUser) on the project that runs the query"
DATA_ROLES = "BigQuery Data Viewer (roles/bigquery.dataViewer) on the billing export dataset"
BILLING_ROLE = "Billing Account Viewer (roles/billing.viewer) on the billing account"
_TABLE = re.compile(r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$]+$")
_EXPORT_ACCOUNT = re.compile(r"gcp_billing_export(?:_resource)?_v1_([0-9A-F]{6})_([0-9A-F]{6})_([0-9A-F]{6})", re.I)
RETRY_DEADLINE = 60.0  # seconds of the client's own retry (429, rateLimitExceeded, 5xx) per call


class GcpBillingDetector(common.BillingDetector):
    name = "gcp-billing"
    description = ("GCP Vertex AI and Gemini API spend: BigQuery billing export (Google credentials), "
                   "or exported billing rows (offline)")
    cloud = "gcp"
    packages = ("google.cloud.bigquery", "google.cloud.billing_v1", "google.auth", "duckdb")
    permissions = "BigQuery Data Viewer + Job User, Billing Account Viewer"
    export_schema = "gcp-billing-export"
    export_source = "billing-export-rows"
    options = (
        SINCE, MIN_SPEND,
        Option("billing_table", "str", None, "project.dataset.table of the standard or detailed billing export."),
        Option("project", "str", None, "Project that runs (and pays for) the query job (default: the credentials')."),
        Option("endpoint", "str", None, "API endpoint for the BigQuery and Cloud Billing clients (default: Google's)."),
        Option("export", "paths", None, "Exported billing rows (CSV, JSON lines or Parquet) instead of BigQuery.",
               flag="--gcp-export"),
    )

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        since = float(ctx.option("since"))
        matcher = Matcher(ctx.catalog, "gcp")
        if ctx.option("export"):
            yield from self.export_findings(ctx, matcher, since)
            return
        table = ctx.option("billing_table")
        if not table:
            raise DetectorError("gcp-billing needs the billing export table (--set gcp-billing.billing_table="
                                "PROJECT.DATASET.TABLE) or exported rows (--gcp-export FILE)")
        if not _TABLE.match(table):
            raise DetectorError(f"gcp-billing billing_table {table!r}: expected PROJECT.DATASET.TABLE")
        window = Window.until_today(since)
        credentials, default_project = _credentials()
        project = ctx.option("project") or default_project or table.split(".", 1)[0]
        lines = _bigquery(ctx, credentials, project, table, matcher, window)
        if lines is None:
            return
        _billing_coverage(ctx, credentials, table, {line.account for line in lines})
        yield from common.findings(self.name, ctx, "gcp", lines, window, "bigquery-export")


def _credentials() -> tuple[Any, str | None]:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError as exc:
        raise DetectorError("no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account file, "
                            f"run 'gcloud auth application-default login', or run on GCP ({_short(exc)})") from None


def _client_options(ctx: ScanContext) -> Any:
    from google.api_core.client_options import ClientOptions
    endpoint = ctx.option("endpoint")
    return ClientOptions(api_endpoint=endpoint) if endpoint else None


def query_sql(table: str, matcher: Matcher, detailed: bool, partition_filter: bool = True) -> str:
    """The pushed-down aggregate: LLM services and SKUs in the window, credits netted, grouped by project and SKU."""
    where = ["usage_start_time >= @start", "usage_start_time < @end", "cost_type = 'regular'",
             llm_filter(matcher.services, matcher.scoped, "service.description", ("sku.description",))]
    if partition_filter:  # exports are partitioned by day; late rows land up to a few days after usage
        where.insert(0, "_PARTITIONTIME >= TIMESTAMP_SUB(@start, INTERVAL 3 DAY)")
    resource = "resource.name" if detailed else "CAST(NULL AS STRING)"
    return (
        "SELECT project.id AS account, ANY_VALUE(project.name) AS account_name, service.description AS service, "
        f"sku.description AS item, {resource} AS resource, usage.pricing_unit AS unit, currency, "
        "TO_JSON_STRING(labels) AS tags0, SUM(cost) AS cost, "
        "SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)) AS credits, "
        "SUM(usage.amount_in_pricing_units) AS quantity "
        f"FROM `{table}` WHERE {' AND '.join(where)} "
        "GROUP BY account, service, item, resource, unit, currency, tags0"
    )


def _bigquery(ctx: ScanContext, credentials: Any, project: str, table: str, matcher: Matcher,
              window: Window) -> list[Line] | None:
    from google.api_core import exceptions as gexc
    from google.auth.exceptions import RefreshError, TransportError
    from google.cloud import bigquery

    client = bigquery.Client(project=project, credentials=credentials, client_options=_client_options(ctx))
    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter("start", "TIMESTAMP", f"{window.start.isoformat()}T00:00:00+00:00"),
        bigquery.ScalarQueryParameter("end", "TIMESTAMP", f"{window.end.isoformat()}T00:00:00+00:00"),
    ])
    detailed = "_resource_v1_" in table.rsplit(".", 1)[-1]
    retry = bigquery.DEFAULT_RETRY.with_deadline(RETRY_DEADLINE)
    for partitioned in (True, False):
        try:
            rows = client.query_and_wait(query_sql(table, matcher, detailed, partitioned), job_config=config,
                                         retry=retry, job_retry=None, wait_timeout=300, api_timeout=60)
            ctx.coverage.count("queries")
            return [row_to_line(dict(row.items())) for row in rows]
        except gexc.BadRequest as exc:
            if partitioned and "_PARTITIONTIME" in str(exc):
                continue  # a table that is not partitioned by ingestion time: ask without the pruning filter
            return _failed(ctx, table, f"query rejected: {_short(exc)}")
        except gexc.Forbidden as exc:
            text = str(exc)
            role = JOB_ROLES if "jobs.create" in text or "bigquery.jobs" in text else DATA_ROLES
            return _failed(ctx, table, f"access denied: grant {role} ({_short(exc)})")
        except gexc.NotFound as exc:
            raise DetectorError(f"billing export table not found: {table} ({_short(exc)})") from None
        except (RefreshError, TransportError) as exc:
            raise DetectorError(f"cannot get a Google access token: {_short(exc)}") from None
        except gexc.GoogleAPIError as exc:
            return _failed(ctx, table, f"query failed: {_short(exc)}")
    return None


def _failed(ctx: ScanContext, table: str, reason: str) -> None:
    ctx.coverage.status = CoverageStatus.FAILED
    ctx.coverage.reason = f"{table}: {reason}"[:400]
    return None


def _billing_coverage(ctx: ScanContext, credentials: Any, table: str, seen_projects: set[str]) -> None:
    """Which billing accounts (and how many projects) the export table does not cover: coverage gaps."""
    from google.api_core import exceptions as gexc
    from google.cloud import billing_v1

    m = _EXPORT_ACCOUNT.search(table.rsplit(".", 1)[-1])
    exported = "-".join(m.groups()).upper() if m else None
    client = billing_v1.CloudBillingClient(credentials=credentials, transport="rest",
                                           client_options=_client_options(ctx))
    retry = _billing_retry()
    try:
        accounts = [a for a in client.list_billing_accounts(retry=retry, timeout=60) if a.open_]
    except gexc.PermissionDenied:
        ctx.coverage.add_gap("billing accounts", f"not listed: grant {BILLING_ROLE} to see which projects' costs "
                                                 "the export does not hold")
        return
    except gexc.GoogleAPIError as exc:
        ctx.coverage.add_gap("billing accounts", f"not listed: {_short(exc)}")
        return
    ctx.coverage.count("billing_accounts", len(accounts))
    for account in sorted(accounts, key=lambda a: a.name):
        account_id = account.name.split("/", 1)[-1]
        try:
            projects = [p.project_id for p in client.list_project_billing_info(name=account.name, retry=retry,
                                                                                 timeout=60) if p.billing_enabled]
        except gexc.GoogleAPIError as exc:
            ctx.coverage.add_gap(f"billing account {account_id}", f"projects not listed ({_short(exc)}); "
                                 f"grant {BILLING_ROLE}")
            continue
        ctx.coverage.count("projects_billed", len(projects))
        if exported and account_id.upper() != exported:
            ctx.coverage.add_gap(f"billing account {account_id}",
                                 f"its {len(projects)} project(s) bill elsewhere: their costs are not in {table}")
        elif exported:
            ctx.coverage.count("projects_with_llm_spend", len(seen_projects & set(projects)))


def _billing_retry() -> Any:
    from google.api_core import exceptions as gexc
    from google.api_core import retry as gretry
    return gretry.Retry(predicate=gretry.if_exception_type(gexc.TooManyRequests, gexc.ServiceUnavailable,
                                                           gexc.InternalServerError),
                        initial=0.5, maximum=10.0, timeout=RETRY_DEADLINE)


def _short(exc: Exception) -> str:
    return common.short_error(exc)
