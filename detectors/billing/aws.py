"""``aws-billing``: AWS spend on LLM services — Cost Explorer, Athena over CUR 2.0, or CUR files.

Sources, first that applies: ``export`` files (DuckDB, offline), ``athena_*`` (the same aggregate
query pushed down to Athena), else Cost Explorer ``GetCostAndUsage``. Credentials come from
boto3's own chain (environment, profiles, SSO, instance and container roles), optionally as
``profile`` and then ``role_arn`` (AssumeRole); ``AWS_ENDPOINT_URL_<SERVICE>`` is honoured.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

from detectors.billing import common
from detectors.billing.common import MIN_SPEND, SINCE, Line, Matcher, Window
from scanner import redact
from scanner.detector import DetectorError, ScanContext
from scanner.model import CoverageStatus, Finding
from scanner.options import Option

# Least privilege, named in coverage when a call is refused.
PERMISSION = {
    "GetDimensionValues": "ce:GetDimensionValues", "GetCostAndUsage": "ce:GetCostAndUsage", "GetTags": "ce:GetTags",
    "AssumeRole": "sts:AssumeRole",
    "StartQueryExecution": "athena:StartQueryExecution", "GetQueryExecution": "athena:GetQueryExecution",
    "GetQueryResults": "athena:GetQueryResults", "StopQueryExecution": "athena:StopQueryExecution",
}
ATHENA_DATA_PERMISSIONS = ("glue:GetTable, glue:GetPartitions, s3:GetObject and s3:ListBucket on the CUR bucket, "
                           "s3:PutObject and s3:GetObject on the query result location")
MAX_OWNER_TAG_QUERIES = 3  # one GetCostAndUsage call ($0.01) per owner tag key found


class AwsBillingDetector(common.BillingDetector):
    name = "aws-billing"
    description = ("AWS spend on Bedrock, SageMaker inference and Amazon Q: Cost Explorer or Athena (AWS credentials), "
                   "or CUR 2.0 export files (offline)")
    cloud = "aws"
    packages = ("boto3", "duckdb")
    permissions = "ce:GetDimensionValues, ce:GetCostAndUsage, ce:GetTags (README: least privilege)"
    export_schema = "aws-cur2"
    export_source = "cur-export"
    options = (
        SINCE, MIN_SPEND,
        Option("export", "paths", None, "CUR 2.0 / Data Exports files or directories (Parquet or CSV, gzipped or not), "
               "read with DuckDB instead of calling Cost Explorer.", flag="--aws-export"),
        Option("athena_database", "str", None, "Athena database holding the CUR 2.0 table (pushes the query down)."),
        Option("athena_table", "str", None, "Athena table of the CUR 2.0 export."),
        Option("athena_workgroup", "str", "primary", "Athena workgroup that runs the query."),
        Option("athena_output", "str", None, "s3:// location for Athena query results (default: the workgroup's)."),
        Option("profile", "str", None, "AWS profile name (default: boto3's credential chain)."),
        Option("role_arn", "str", None, "IAM role to assume before reading the bill (e.g. in the payer account)."),
    )

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        since = float(ctx.option("since"))
        matcher = Matcher(ctx.catalog, "aws")
        if ctx.option("export"):
            yield from self.export_findings(ctx, matcher, since)
            return
        window = Window.until_today(since)
        session = _session(ctx)
        if session is None:
            return
        if ctx.option("athena_database") or ctx.option("athena_table"):
            lines = list(_athena(ctx, session, matcher, window))
            source = "athena"
        else:
            lines = list(_cost_explorer(ctx, session, matcher, window))
            source = "cost-explorer"
        yield from common.findings(self.name, ctx, "aws", lines, window, source)


# ---- credentials ----------------------------------------------------------------------------------


def _config():
    from botocore.config import Config
    # bounded retries with backoff: botocore's standard mode retries throttling (LimitExceededException,
    # ThrottlingException, 429) and transient errors
    return Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60,
                  user_agent_extra="shadow-agents")


def _session(ctx: ScanContext) -> Any:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

    try:
        session = boto3.Session(profile_name=ctx.option("profile") or None)
    except ProfileNotFound as exc:
        raise DetectorError(f"AWS profile not found: {exc}") from None
    if session.get_credentials() is None:
        raise DetectorError("no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID, run 'aws sso login', "
                            "or use an instance or container role (or give export files)")
    role = ctx.option("role_arn")
    if not role:
        return session
    try:
        creds = session.client("sts", config=_config()).assume_role(
            RoleArn=role, RoleSessionName="shadow-agents-billing", DurationSeconds=3600)["Credentials"]
    except ClientError as exc:
        _refused(ctx, f"role {role}", "AssumeRole", exc, fatal=True)
        return None
    except (NoCredentialsError, BotoCoreError) as exc:
        raise DetectorError(f"cannot assume {role}: {exc}") from None
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])


def _refused(ctx: ScanContext, what: str, operation: str, exc: Any, fatal: bool) -> None:
    """A refused or failed call → a coverage entry naming the permission; ``fatal``: nothing was read."""
    err = exc.response.get("Error", {})
    code, message = err.get("Code", "Error"), err.get("Message", "")
    if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
        reason = f"access denied to {operation}: grant {PERMISSION.get(operation, operation)}"
    elif code in ("LimitExceededException", "ThrottlingException", "TooManyRequestsException"):
        reason = f"{operation} still throttled after retries ({code})"
    elif code == "DataUnavailableException":
        reason = f"{operation}: no Cost Explorer data for the period (is Cost Explorer enabled?)"
    else:
        reason = redact.scrub(f"{operation} failed: {code}: {message}"[:300])
    if fatal:
        ctx.coverage.status = CoverageStatus.FAILED
        ctx.coverage.reason = f"{what}: {reason}"
    else:
        ctx.coverage.add_gap(what, reason)


# ---- Cost Explorer --------------------------------------------------------------------------------


def _pages(call, **kwargs: Any) -> Iterator[dict]:
    """Follow ``NextPageToken`` to the end."""
    token = None
    while True:
        page = call(**kwargs, **({"NextPageToken": token} if token else {}))
        yield page
        token = page.get("NextPageToken")
        if not token:
            return


def _cost_explorer(ctx: ScanContext, session: Any, matcher: Matcher, window: Window) -> Iterator[Line]:
    from botocore.exceptions import ClientError

    ce = session.client("ce", region_name="us-east-1", config=_config())
    start = window.start
    if (window.end - start).days > 14 * 30:  # past 14 months Cost Explorer wants the first of a month
        start = start.replace(day=1)
    # End is exclusive and may be at most the first of next month: tomorrow is always allowed
    period = {"Start": start.isoformat(), "End": window.end.isoformat()}
    try:
        services = [v["Value"] for page in _pages(ce.get_dimension_values, TimePeriod=period,
                                                  Dimension="SERVICE", Context="COST_AND_USAGE")
                    for v in page.get("DimensionValues", [])]
    except ClientError as exc:
        _refused(ctx, "Cost Explorer", "GetDimensionValues", exc, fatal=True)
        return
    ai = sorted(s for s in set(services) if matcher.matches_service(s))
    ctx.coverage.count("services", len(set(services)))
    if not ai:
        return
    only_ai = {"Dimensions": {"Key": "SERVICE", "Values": ai}}

    def usage(group_by: list[dict], flt: dict) -> Iterator[tuple[list[str], dict, dict]]:
        for page in _pages(ce.get_cost_and_usage, TimePeriod=period, Granularity="MONTHLY",
                           Metrics=["UnblendedCost", "UsageQuantity"], Filter=flt, GroupBy=group_by):
            names = {a["Value"]: a.get("Attributes", {}) for a in page.get("DimensionValueAttributes", [])}
            for result in page.get("ResultsByTime", []):
                ctx.check_cancelled()
                for g in result.get("Groups", []):
                    yield g["Keys"], g.get("Metrics", {}), names

    try:
        accounts: dict[str, str] = {}
        for keys, _, names in usage([_dim("LINKED_ACCOUNT"), _dim("SERVICE")], only_ai):
            accounts.setdefault(keys[0], names.get(keys[0], {}).get("description", ""))
    except ClientError as exc:
        _refused(ctx, "Cost Explorer", "GetCostAndUsage", exc, fatal=True)
        return
    owners = _owners_by_account(ctx, ce, period, only_ai, matcher, usage)
    for account in sorted(accounts):
        flt = {"And": [only_ai, {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [account]}}]}
        try:
            for (service, usage_type), metrics, _ in usage([_dim("SERVICE"), _dim("USAGE_TYPE")], flt):
                cost = metrics.get("UnblendedCost", {})
                qty = metrics.get("UsageQuantity", {})
                yield Line(account=account, service=service, item=usage_type, cost=float(cost.get("Amount") or 0),
                           currency=cost.get("Unit") or "USD", quantity=_amount(qty),
                           unit="" if qty.get("Unit") in (None, "N/A") else qty["Unit"],
                           account_name=accounts[account], owners=owners.get(account, []))
        except ClientError as exc:
            _refused(ctx, f"Cost Explorer account {account}", "GetCostAndUsage", exc, fatal=False)


def _dim(key: str) -> dict:
    return {"Type": "DIMENSION", "Key": key}


def _amount(metric: dict) -> float | None:
    try:
        return float(metric["Amount"])
    except (KeyError, TypeError, ValueError):
        return None


def _owners_by_account(ctx: ScanContext, ce: Any, period: dict, only_ai: dict, matcher: Matcher,
                       usage: Any) -> dict[str, list[str]]:
    """Values of owner cost-allocation tags (owner, team, …) on LLM spend, per linked account."""
    from botocore.exceptions import ClientError

    try:
        keys = sorted({t for page in _pages(ce.get_tags, TimePeriod=period, Filter=only_ai)
                       for t in page.get("Tags", []) if matcher.is_owner_tag(t)})
    except ClientError as exc:
        _refused(ctx, "cost allocation tags", "GetTags", exc, fatal=False)
        return {}
    out: dict[str, set[str]] = {}
    for key in keys[:MAX_OWNER_TAG_QUERIES]:
        try:
            for (account, tag), _, _ in usage([_dim("LINKED_ACCOUNT"), {"Type": "TAG", "Key": key}], only_ai):
                value = tag.split("$", 1)[1] if "$" in tag else ""
                if value:
                    out.setdefault(account, set()).add(value)
        except ClientError as exc:
            _refused(ctx, f"cost allocation tag {key}", "GetCostAndUsage", exc, fatal=False)
    return {a: sorted(v) for a, v in out.items()}


# ---- Athena over CUR 2.0 --------------------------------------------------------------------------


def _athena(ctx: ScanContext, session: Any, matcher: Matcher, window: Window) -> Iterator[Line]:
    from botocore.exceptions import ClientError

    from detectors.billing.sql import ATHENA, Columns, SchemaError, aggregate_query, ident, row_to_line

    database, table = ctx.option("athena_database"), ctx.option("athena_table")
    if not database or not table:
        raise DetectorError("Athena needs both athena_database and athena_table "
                            "(--set aws-billing.athena_database=DB --set aws-billing.athena_table=TABLE)")
    athena = session.client("athena", config=_config())
    source = f"{ident(database)}.{ident(table)}"
    schema = ctx.catalog.billing_exports["aws-cur2"]
    try:
        columns = Columns(_athena_columns(ctx, athena, f"SELECT * FROM {source} LIMIT 0"))
        where = _athena_window(columns, window)
        query = aggregate_query(source, schema, columns, ATHENA, matcher.services, matcher.scoped, where)
        rows = _athena_rows(ctx, athena, query)
    except ClientError as exc:
        operation = exc.operation_name if hasattr(exc, "operation_name") else "StartQueryExecution"
        _refused(ctx, f"Athena {database}.{table}", operation, exc, fatal=True)
        return
    except SchemaError as exc:
        raise DetectorError(f"Athena table {database}.{table} is not a CUR 2.0 table: {exc}") from None
    except _QueryFailed as exc:
        ctx.coverage.status = CoverageStatus.FAILED
        ctx.coverage.reason = f"Athena query on {database}.{table} failed: {exc}"
        return
    ctx.coverage.count("athena_queries", 2)
    for row in rows:
        yield row_to_line(row)


class _QueryFailed(Exception):
    pass


def _athena_window(columns: Any, window: Window) -> list[str]:
    from detectors.billing.sql import literal
    where = []
    start = columns.get("line_item_usage_start_date")
    if start:
        value = f"TIMESTAMP {literal(window.start.isoformat() + ' 00:00:00')}" if not start[1].lower().startswith(
            "varchar") else literal(window.start.isoformat())
        where.append(f'"{start[0]}" >= {value}')
    period = columns.get("billing_period")  # the partition column of the CUR 2.0 Glue table
    if period:
        where.append(f'"{period[0]}" >= {literal(window.start.strftime("%Y-%m"))}')
    return where


def _run_query(ctx: ScanContext, athena: Any, query: str) -> str:
    kwargs: dict[str, Any] = {"QueryString": query, "WorkGroup": ctx.option("athena_workgroup") or "primary",
                              "QueryExecutionContext": {"Database": ctx.option("athena_database")}}
    if ctx.option("athena_output"):
        kwargs["ResultConfiguration"] = {"OutputLocation": ctx.option("athena_output")}
    qid = athena.start_query_execution(**kwargs)["QueryExecutionId"]
    delay = 0.2
    while True:
        if ctx.cancelled:
            athena.stop_query_execution(QueryExecutionId=qid)
            ctx.check_cancelled()
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        state = status.get("State")
        if state == "SUCCEEDED":
            return qid
        if state in ("FAILED", "CANCELLED"):
            reason = status.get("StateChangeReason", state)
            if "denied" in reason.lower() or "permission" in reason.lower():
                reason += f" (grant {ATHENA_DATA_PERMISSIONS})"
            raise _QueryFailed(reason[:400])
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def _athena_columns(ctx: ScanContext, athena: Any, query: str) -> list[tuple[str, str]]:
    qid = _run_query(ctx, athena, query)
    page = athena.get_query_results(QueryExecutionId=qid, MaxResults=1)
    return [(c["Name"], c["Type"]) for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]


def _athena_rows(ctx: ScanContext, athena: Any, query: str) -> list[dict[str, Any]]:
    qid = _run_query(ctx, athena, query)
    rows: list[dict[str, Any]] = []
    names: list[str] = []
    first = True
    for page in _pages_athena(athena, qid):
        if not names:
            names = [c["Name"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
        for row in page["ResultSet"].get("Rows", []):
            values = [d.get("VarCharValue") for d in row.get("Data", [])]
            if first:  # the first row of a SELECT's results repeats the column names
                first = False
                if values == names:
                    continue
            rows.append(dict(zip(names, values)))
    return rows


def _pages_athena(athena: Any, qid: str) -> Iterator[dict]:
    token = None
    while True:
        page = athena.get_query_results(QueryExecutionId=qid, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken")
        if not token:
            return
