"""``azure-billing``: Azure OpenAI / AI Foundry spend — Cost Management Query API or cost-details files.

The Query API is asked per scope (subscription, resource group, billing account, management
group), grouped by ResourceId and Meter (two groupings at most per query), once for the services
whose every line is LLM spend and once for the shared ones (Cognitive Services), whose lines count
only with an LLM meter; ``nextLink`` is followed, and a 429's Cost Management retry-after header is
honoured through azure-core's own retry policy. Owner tags come from TagKey groupings. Credentials:
``DefaultAzureCredential`` (environment, workload and managed identity, Azure CLI, …).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

from detectors.billing import common
from detectors.billing.common import MIN_SPEND, SINCE, Line, Matcher, Window
from detectors.endpoints import is_loopback_url
from scanner.detector import DetectorError, ScanContext
from scanner.model import CoverageStatus, Finding
from scanner.options import Option

ROLE = "Cost Management Reader"
OWNER_TAG_QUERIES = 2  # TagKey groupings per scope (the API allows about 4 queries a minute per scope)
MAX_PAGES = 200
MAX_RETRY_AFTER = 60.0  # seconds; a longer server hint is capped so a scan cannot hang for an hour
_RETRY_AFTER_HEADERS = re.compile(r"^x-ms-ratelimit-microsoft\.(?:costmanagement-[a-z]+|consumption)-retry-after$",
                                  re.IGNORECASE)
_SUBSCRIPTION = re.compile(r"^/?subscriptions/([^/]+)", re.IGNORECASE)


class AzureBillingDetector(common.BillingDetector):
    name = "azure-billing"
    description = ("Azure OpenAI / AI Foundry spend: Cost Management Query API (Azure credentials), "
                   "or cost-details export files (offline)")
    cloud = "azure"
    packages = ("azure.mgmt.costmanagement", "azure.identity", "duckdb")
    permissions = "the Cost Management Reader role on each scope"
    export_schema = "azure-cost-details"
    export_source = "cost-details-export"
    options = (
        SINCE, MIN_SPEND,
        Option("scope", "list", None, "Cost Management scope(s): subscriptions/ID, subscriptions/ID/resourceGroups/RG, "
               "providers/Microsoft.Billing/billingAccounts/ID, providers/Microsoft.Management/managementGroups/ID."),
        Option("export", "paths", None, "Cost-details export CSV (or Parquet) files or directories, actual or "
               "amortized, EA or MCA headers.", flag="--azure-export"),
        Option("endpoint", "str", None, "Azure Resource Manager base URL (sovereign clouds; default: public Azure)."),
    )

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        since = float(ctx.option("since"))
        matcher = Matcher(ctx.catalog, "azure")
        if ctx.option("export"):
            yield from self.export_findings(ctx, matcher, since)
            return
        scopes = [s.strip().strip("/") for s in ctx.option("scope") or [] if s.strip().strip("/")]
        if not scopes:
            raise DetectorError("azure-billing needs a scope (--set azure-billing.scope=subscriptions/ID) "
                                "or cost-details files (--azure-export FILE)")
        window = Window.until_today(since)
        lines = list(_query_api(ctx, scopes, matcher, window))
        yield from common.findings(self.name, ctx, "azure", lines, window, "cost-management-query")


def _retry_after_hook(response: Any) -> None:
    """Cost Management says when to retry in its own headers; azure-core retries a POST on ``Retry-After``."""
    headers = response.http_response.headers
    if response.http_response.status_code != 429 or headers.get("Retry-After"):
        return
    waits = []
    for name, value in headers.items():
        if _RETRY_AFTER_HEADERS.match(name):
            try:
                waits.append(float(value))
            except ValueError:
                continue
    headers["Retry-After"] = str(min(max(waits, default=5.0), MAX_RETRY_AFTER))


def _loopback_http(endpoint: str | None) -> bool:
    """Plain HTTP carries the bearer token in clear: allowed only to this machine (an emulator, a proxy)."""
    return bool(endpoint) and urlsplit(endpoint).scheme == "http" and is_loopback_url(endpoint)


def _client(ctx: ScanContext) -> tuple[Any, dict[str, Any]]:
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.costmanagement import CostManagementClient

    endpoint = ctx.option("endpoint")
    if endpoint and urlsplit(endpoint).scheme == "http" and not _loopback_http(endpoint):
        raise DetectorError(f"azure-billing endpoint {endpoint}: plain http is only accepted on loopback addresses")
    kwargs: dict[str, Any] = {"retry_total": 4, "retry_backoff_factor": 1.0, "retry_backoff_max": MAX_RETRY_AFTER,
                              "raw_response_hook": _retry_after_hook}
    if endpoint:
        kwargs["credential_scopes"] = [endpoint.rstrip("/") + "/.default"]
    client = CostManagementClient(DefaultAzureCredential(), base_url=endpoint or None, **kwargs)
    per_call = {"enforce_https": False} if _loopback_http(endpoint) else {}
    return client, per_call


def _query_api(ctx: ScanContext, scopes: list[str], matcher: Matcher, window: Window) -> Iterator[Line]:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    client, per_call = _client(ctx)
    rules = matcher.rules
    whole = sorted({s for r in rules for s in r.services})
    scoped = sorted({s for r in rules for s in r.scoped_services})
    period = {"from": f"{window.start.isoformat()}T00:00:00Z",
              "to": f"{(window.end - dt.timedelta(days=1)).isoformat()}T23:59:59Z"}
    failed = 0
    for scope in scopes:
        ctx.check_cancelled()
        ctx.progress(None, None, scope)
        try:
            owners = _owner_tags(ctx, client, per_call, scope, period, whole + scoped)
            for service_list in (whole, scoped):
                if not service_list:
                    continue
                body = _body(period, service_list, [_dim("ResourceId"), _dim("Meter")])
                for row in _rows(ctx, client, per_call, scope, body):
                    resource = str(row.get("ResourceId") or "")
                    account = _subscription(resource) or _subscription(scope) or scope
                    yield Line(account=account, service=service_list[0], item=str(row.get("Meter") or ""),
                               resource=resource, cost=_cost(row), quantity=_float(row.get("UsageQuantity")),
                               currency=str(row.get("Currency") or "USD"), owners=owners.get(resource.lower(), []))
            ctx.coverage.count("scopes")
        except ClientAuthenticationError as exc:
            raise DetectorError(f"no usable Azure credentials (az login, AZURE_CLIENT_ID/AZURE_TENANT_ID/"
                                f"AZURE_CLIENT_SECRET, or a managed identity): {_short(exc)}") from None
        except HttpResponseError as exc:
            failed += 1
            ctx.coverage.add_gap(scope, _refusal(exc, scope))
    if failed and failed == len(scopes):
        ctx.coverage.status = CoverageStatus.FAILED
        ctx.coverage.reason = ctx.coverage.gaps[0].reason if ctx.coverage.gaps else "every scope failed"


def _dim(name: str) -> dict[str, str]:
    return {"type": "Dimension", "name": name}


def _body(period: dict[str, str], services: list[str], grouping: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "type": "ActualCost", "timeframe": "Custom", "timePeriod": period,
        "dataset": {
            "granularity": "None",
            "aggregation": {"totalCost": {"name": "PreTaxCost", "function": "Sum"},
                            "totalQuantity": {"name": "UsageQuantity", "function": "Sum"}},
            "grouping": grouping,
            "filter": {"dimensions": {"name": "ServiceName", "operator": "In", "values": services}},
        },
    }


def _rows(ctx: ScanContext, client: Any, per_call: dict[str, Any], scope: str,
          body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every row of a query, as column name → value, following ``nextLink`` (same body, next skiptoken)."""
    params: dict[str, str] = {}
    for _ in range(MAX_PAGES):
        ctx.check_cancelled()
        result = client.query.usage(scope, body, params=params, **per_call)
        ctx.coverage.count("queries")
        if result is None or result.properties is None:
            return
        names = [c.name for c in result.properties.columns or []]
        for row in result.properties.rows or []:
            yield dict(zip(names, row))
        token = _skiptoken(result.properties.next_link)
        if not token:
            return
        params = {"$skiptoken": token}
    ctx.coverage.add_gap(scope, f"more than {MAX_PAGES} result pages; the rest was not read")


def _skiptoken(next_link: str | None) -> str | None:
    if not next_link:
        return None
    values = parse_qs(urlsplit(next_link).query).get("$skiptoken")
    return values[0] if values else None


def _owner_tags(ctx: ScanContext, client: Any, per_call: dict[str, Any], scope: str, period: dict[str, str],
                services: list[str]) -> dict[str, list[str]]:
    """Lower-cased resource id → values of the first owner tag keys (owner, team) on its LLM spend."""
    from azure.core.exceptions import HttpResponseError

    out: dict[str, set[str]] = {}
    for key in ctx.catalog.owner_tags[:OWNER_TAG_QUERIES]:
        body = _body(period, services, [_dim("ResourceId"), {"type": "TagKey", "name": key}])
        try:
            for row in _rows(ctx, client, per_call, scope, body):
                value = row.get("TagValue")
                if value:
                    out.setdefault(str(row.get("ResourceId") or "").lower(), set()).add(str(value))
        except HttpResponseError as exc:
            if exc.status_code in (401, 403):
                raise
            ctx.coverage.add_gap(f"{scope} tag {key}", _refusal(exc, scope))
    return {r: sorted(v) for r, v in out.items()}


def _refusal(exc: Any, scope: str) -> str:
    code = getattr(getattr(exc, "error", None), "code", None) or ""
    if exc.status_code in (401, 403) or code in ("AuthorizationFailed", "RBACAccessDenied"):
        return f"access denied: grant the {ROLE} role on {scope}"
    if exc.status_code == 429:
        return "still throttled after retries (Cost Management allows about 4 queries a minute per scope)"
    return f"query failed: HTTP {exc.status_code} {code} {_short(exc)}".strip()[:300]


def _short(exc: Exception) -> str:
    return common.short_error(exc)



def _subscription(text: str) -> str | None:
    m = _SUBSCRIPTION.match(text or "")
    return m.group(1).lower() if m else None


def _cost(row: dict[str, Any]) -> float:
    for name in ("PreTaxCost", "Cost", "CostUSD", "PreTaxCostUSD"):
        if row.get(name) is not None:
            return _float(row[name]) or 0.0
    return 0.0


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
