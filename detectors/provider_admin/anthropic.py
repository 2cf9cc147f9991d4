"""``anthropic-admin``: the Anthropic organisation as its Admin API sees it.

Reads, with ``ANTHROPIC_ADMIN_KEY`` (headers ``x-api-key`` and ``anthropic-version``, GET
only): ``/v1/organizations/workspaces`` (archived too), ``/v1/organizations/users`` (to name
who created a key), ``/v1/organizations/api_keys`` (every status; ``partial_key_hint``),
``/v1/organizations/usage_report/messages`` grouped by API key, workspace and model, and
``/v1/organizations/cost_report`` grouped by workspace and description. Lists follow
``after_id`` = ``last_id`` while ``has_more``; reports follow ``page`` = ``next_page``.

The API has no last-use date per key: a key's last use is the newest day of the usage report
in which it has tokens, read back :data:`~detectors.provider_admin.common.LAST_USE_LOOKBACK_DAYS`
days (or ``since``, if longer). Costs cannot be grouped by key: each workspace's cost of a model
is shared among the keys that used that model there, by their share of its tokens
(``details["cost_basis"]`` says so).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Iterator

from detectors.provider_admin import common
from detectors.provider_admin.common import DAY, LAST_USE_LOOKBACK_DAYS, ListedKey, Usage, Window, as_int
from detectors.provider_admin.http import AdminClient, ApiError
from detectors.provider_admin.session import AdminScan, run_session
from scanner import keyhints
from scanner.detector import ScanContext
from scanner.model import Finding

PROVIDER = "anthropic"
API_VERSION = "2023-06-01"  # the version the Admin API documentation's requests send
ROLE = "an Admin API key (sk-ant-admin…), which only an organisation admin can make"
COST_BASIS = "workspace cost of the model, shared by this key's share of its tokens"


def headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": API_VERSION, "Accept": "application/json"}


def scan(detector: str, ctx: ScanContext) -> Iterator[Finding]:
    return run_session(detector, ctx, PROVIDER, _Scan, headers)


def _tokens(r: dict[str, Any]) -> tuple[int, int]:
    """(input, output) tokens of one usage result; cache writes nested or flattened."""
    cache = r.get("cache_creation") if isinstance(r.get("cache_creation"), dict) else {}
    written = sum(as_int(v) for v in cache.values()) + sum(
        as_int(v) for k, v in r.items() if k.startswith("cache_creation_") and k.endswith("_input_tokens"))
    return as_int(r.get("uncached_input_tokens")) + as_int(r.get("cache_read_input_tokens")) + written, \
        as_int(r.get("output_tokens"))


class _Scan(AdminScan):
    role = ROLE

    def __init__(self, detector: str, ctx: ScanContext, client: AdminClient, variable: str, provider_name: str,
                 api: Any, window: Window):
        super().__init__(detector, ctx, client, variable, provider_name, api, window)
        days = max(LAST_USE_LOOKBACK_DAYS, -(-(window.end - window.start).total_seconds() // DAY))
        day0 = window.end.replace(hour=0, minute=0, second=0, microsecond=0)
        self.lookback_start = day0 - dt.timedelta(days=int(days))

    def optional(self, path: str, kind: str) -> list[dict[str, Any]]:
        try:
            items = list(self.client.listing(path, {"limit": 100, **({"include_archived": True}
                                                                      if kind == "workspaces" else {})},
                                             "after_id", kind))
        except ApiError as exc:
            self.ctx.coverage.add_gap(kind, self.refused(exc, "not read"))
            return []
        self.ctx.coverage.count(kind, len(items))
        return items

    def run(self) -> Iterator[Finding]:
        items = self.required_listing("v1/organizations/api_keys", {"limit": 100}, "after_id", "api_keys",
                                      "listing API keys")
        if items is None:
            return
        workspaces = {str(w.get("id")): w for w in self.optional("v1/organizations/workspaces", "workspaces")}
        users = {str(u.get("id")): u for u in self.optional("v1/organizations/users", "users")}
        keys = [self.listed(k, workspaces, users) for k in items]
        usage, last_days = self.usage()
        costs = self.costs()
        yield from self.findings(keys, usage, last_days, costs)

    def listed(self, k: dict[str, Any], workspaces: dict[str, Any], users: dict[str, Any]) -> ListedKey:
        scope = k.get("scope") if isinstance(k.get("scope"), dict) else {}
        workspace = k.get("workspace_id") or scope.get("workspace_id")
        creator = k.get("created_by") if isinstance(k.get("created_by"), dict) else {}
        user = users.get(str(creator.get("id"))) if creator.get("type") == "user" else None
        hint = str(k.get("partial_key_hint") or "")
        redacted = keyhints.split(hint)
        key_type, prefix = common.key_format(self.ctx.catalog, PROVIDER, redacted.head if redacted else hint)
        ws = workspaces.get(str(workspace)) if workspace else None
        return ListedKey(
            provider=PROVIDER, provider_name=self.provider_name, key_id=str(k.get("id") or ""),
            name=str(k.get("name") or ""), hint=hint, key_type=key_type, key_prefix=prefix,
            scope_kind="workspace" if workspace or scope.get("type") != "organization" else "organization",
            scope_id=str(workspace or ("organization" if scope.get("type") == "organization" else "default")),
            scope_name=str(ws.get("name")) if ws and ws.get("name") else ("Default" if not workspace else None),
            owner=str(user["email"]) if user and user.get("email") else None,
            owner_kind=str(creator.get("type")) if creator.get("type") else None,
            owner_name=str(user.get("name")) if user and user.get("name") else creator.get("id"),
            created_at=common.from_rfc3339(k.get("created_at")), last_used_at=None,
            last_used_known_since=common.iso(self.lookback_start), status=str(k.get("status") or "active"),
            extra={"expires_at": common.from_rfc3339(k.get("expires_at"))} if k.get("expires_at") else {},
        )

    def usage(self) -> tuple[dict[str, dict[str, Usage]], dict[str, str]]:
        """(api key id → model → usage in the window, api key id → newest day with use in the look-back)."""
        usage: dict[str, dict[str, Usage]] = defaultdict(lambda: defaultdict(Usage))
        last: dict[str, str] = {}
        window_start = common.iso(self.window.start) or ""
        params = {"starting_at": common.iso(self.lookback_start), "ending_at": common.iso(self.window.end),
                  "bucket_width": "1d", "group_by[]": ["api_key_id", "workspace_id", "model"], "limit": 31}
        try:
            for bucket in self.client.report("v1/organizations/usage_report/messages", params, "usage"):
                day = common.from_rfc3339(bucket.get("starting_at"))
                ends = common.from_rfc3339(bucket.get("ending_at")) or day or ""
                for r in bucket.get("results") or []:
                    if not isinstance(r, dict):
                        continue
                    self.ctx.coverage.count("usage_rows")
                    if not r.get("api_key_id"):
                        self.ctx.coverage.count("usage_rows_without_key")  # Console and Workbench use
                        continue
                    key_id = str(r["api_key_id"])
                    tokens_in, tokens_out = _tokens(r)
                    if (tokens_in or tokens_out) and day:
                        last[key_id] = max(last.get(key_id, day), day)
                    if ends > window_start:
                        searches = (r.get("server_tool_use") or {}).get("web_search_requests") \
                            if isinstance(r.get("server_tool_use"), dict) else None
                        usage[key_id][str(r.get("model") or "")].add(
                            0, tokens_in, tokens_out, day,
                            {"web_search_requests": float(searches)} if searches else None,
                            str(r.get("workspace_id") or "default"))
        except ApiError as exc:
            self.ctx.coverage.add_gap("usage report", self.refused(exc, "not read"))
        return usage, last

    def costs(self) -> dict[tuple[str, str], float]:
        """(workspace id, model) → USD in the window (the report's amounts are cents)."""
        out: dict[tuple[str, str], float] = defaultdict(float)
        params = {"starting_at": common.iso(self.window.start), "ending_at": common.iso(self.window.end),
                  "group_by[]": ["workspace_id", "description"], "limit": 31}
        try:
            for bucket in self.client.report("v1/organizations/cost_report", params, "costs"):
                for r in bucket.get("results") or []:
                    try:
                        cents = float(r.get("amount") or 0) if isinstance(r, dict) else 0.0
                    except (TypeError, ValueError):
                        continue
                    out[(str(r.get("workspace_id") or "default"), str(r.get("model") or ""))] += cents / 100
        except ApiError as exc:
            self.ctx.coverage.add_gap("cost report", self.refused(exc, "not read"))
        return out

    def findings(self, keys: list[ListedKey], usage: dict[str, dict[str, Usage]], last_days: dict[str, str],
                 costs: dict[tuple[str, str], float]) -> Iterator[Finding]:
        # tokens per (workspace, model) and per key within it, to share each workspace's cost of a model
        share: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for key_id, models in usage.items():
            for model, u in models.items():
                for ws in u.scopes or {"default"}:
                    share[(ws, model)][key_id] = share[(ws, model)].get(key_id, 0) + u.input_tokens + u.output_tokens
        per_key: dict[str, float] = defaultdict(float)
        unattributed = 0.0
        for (ws, model), amount in costs.items():
            users = share.get((ws, model), {})
            total = sum(users.values())
            if not total:
                unattributed += amount
                continue
            for key_id, tokens in users.items():
                per_key[key_id] += amount * tokens / total
        if unattributed:
            self.ctx.coverage.count("cost_cents_not_attributed_to_a_key", round(unattributed * 100))
        listed = set()
        for k in sorted(keys, key=lambda k: k.key_id):
            listed.add(k.key_id)
            if k.key_id in last_days:
                k.last_used_at = last_days[k.key_id]
            if k.key_id in per_key:
                k.extra["cost_basis"] = COST_BASIS
            yield k.finding(self.detector, self.window, usage.get(k.key_id, {}), per_key.get(k.key_id), "USD",
                            True, self.api.lists_key_formats)
            yield from common.usage_findings(self.detector, PROVIDER, self.provider_name, k.key_id,
                                             usage.get(k.key_id, {}), self.window, "workspace", k.owner)
        for key_id in sorted(set(usage) - listed):
            self.ctx.coverage.count("used_keys_not_listed")
            yield from common.usage_findings(self.detector, PROVIDER, self.provider_name, key_id, usage[key_id],
                                             self.window, "workspace", None, per_key.get(key_id), "USD")
