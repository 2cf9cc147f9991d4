"""``openai-admin``: the OpenAI organisation as its Admin API sees it.

Reads, with ``OPENAI_ADMIN_KEY`` (GET only): ``/organization/projects`` (archived too), per
project ``/api_keys`` (``owner_project_access=any``: keys whose owner left the project as
well) and ``/service_accounts``, ``/organization/admin_api_keys``, the usage reports
``/organization/usage/{completions,embeddings,images,audio_speeches,audio_transcriptions,
moderations}`` grouped by API key, project and model, and ``/organization/costs`` grouped by
project and API key. Lists follow ``after`` = ``last_id`` while ``has_more``; reports follow
``page`` = ``next_page``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator

from detectors.provider_admin import common
from detectors.provider_admin.common import ListedKey, Usage, as_int
from detectors.provider_admin.http import ApiError
from detectors.provider_admin.session import AdminScan, run_session
from scanner import keyhints
from scanner.detector import ScanContext
from scanner.model import Finding

PROVIDER = "openai"
USAGE_ENDPOINTS = ("completions", "embeddings", "images", "audio_speeches", "audio_transcriptions", "moderations")
# Usage counters other than requests and tokens, per endpoint result (images, characters, seconds).
OTHER_UNITS = ("images", "characters", "seconds")
ROLE = "an admin key (sk-admin-…) of an Organization Owner"


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Accept": "application/json"}


def scan(detector: str, ctx: ScanContext) -> Iterator[Finding]:
    return run_session(detector, ctx, PROVIDER, _Scan, headers)


class _Scan(AdminScan):
    role = ROLE

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.complete = True  # every key listing read to its end

    def gap(self, what: str, exc: ApiError) -> None:
        self.ctx.coverage.add_gap(what, self.refused(exc, "not read"))

    def run(self) -> Iterator[Finding]:
        projects = self.required_listing("organization/projects", {"limit": 100, "include_archived": True},
                                         "after", "projects", "listing projects")
        if projects is None:
            return
        keys: list[ListedKey] = []
        for i, project in enumerate(projects):
            self.ctx.progress(i, len(projects), f"project {project.get('id')}")
            keys += self.project_keys(project)
        keys += self.admin_keys()
        usage = self.usage()
        costs = self.costs()
        yield from self.findings(keys, usage, costs)

    # ---- listings ------------------------------------------------------------------------------

    def project_keys(self, project: dict[str, Any]) -> list[ListedKey]:
        pid = str(project.get("id") or "")
        try:
            accounts = list(self.client.listing(f"organization/projects/{pid}/service_accounts", {"limit": 100},
                                                "after", "service_accounts"))
            self.ctx.coverage.count("service_accounts", len(accounts))
        except ApiError as exc:
            self.gap(f"project {pid} service accounts", exc)
        try:
            items = list(self.client.listing(f"organization/projects/{pid}/api_keys",
                                             {"limit": 100, "owner_project_access": "any"}, "after", "api_keys"))
        except ApiError as exc:
            self.complete = False
            self.gap(f"project {pid} API keys", exc)
            return []
        archived = project.get("status") == "archived" or bool(project.get("archived_at"))
        out = []
        for k in items:
            owner = k.get("owner") if isinstance(k.get("owner"), dict) else {}
            kind = owner.get("type")
            user = owner.get("user") if isinstance(owner.get("user"), dict) else {}
            account = owner.get("service_account") if isinstance(owner.get("service_account"), dict) else {}
            person = user if kind == "user" or (user and not account) else {}
            expires = common.from_unix(k.get("expires_at"))
            status = ("archived" if archived else
                      "expired" if expires and expires < common.iso(self.window.end) else "active")
            out.append(self.listed(k, "project", pid, project.get("name"), owner=person.get("email"),
                                   owner_kind=kind or ("user" if person else "service_account" if account else None),
                                   owner_name=person.get("name") or account.get("name"), status=status,
                                   extra={"owner_project_access": k.get("owner_project_access"),
                                          "owner_role": person.get("role") or account.get("role"),
                                          "expires_at": expires}))
        self.ctx.coverage.count("api_keys", len(out))
        return out

    def admin_keys(self) -> list[ListedKey]:
        try:
            items = list(self.client.listing("organization/admin_api_keys", {"limit": 100}, "after", "admin_keys"))
        except ApiError as exc:
            self.complete = False
            self.gap("admin API keys", exc)
            return []
        out = []
        for k in items:
            owner = k.get("owner") if isinstance(k.get("owner"), dict) else {}
            out.append(self.listed(k, "organization", "organization", None, owner=None,
                                   owner_kind=owner.get("type"), owner_name=owner.get("name"), status="active",
                                   admin=True, extra={"expires_at": common.from_unix(k.get("expires_at"))}))
        self.ctx.coverage.count("admin_keys", len(out))
        return out

    def listed(self, k: dict[str, Any], scope_kind: str, scope_id: str, scope_name: Any, *, owner: Any,
               owner_kind: Any, owner_name: Any, status: str, admin: bool = False,
               extra: dict[str, Any]) -> ListedKey:
        hint = str(k.get("redacted_value") or "")
        redacted = keyhints.split(hint)
        key_type, prefix = common.key_format(self.ctx.catalog, PROVIDER, redacted.head if redacted else hint)
        created = common.from_unix(k.get("created_at"))
        return ListedKey(
            provider=PROVIDER, provider_name=self.provider_name, key_id=str(k.get("id") or ""),
            name=str(k.get("name") or ""), hint=hint, key_type=key_type, key_prefix=prefix,
            scope_kind=scope_kind, scope_id=scope_id, scope_name=str(scope_name) if scope_name else None,
            owner=str(owner) if owner else None, owner_kind=str(owner_kind) if owner_kind else None,
            owner_name=str(owner_name) if owner_name else None, created_at=created,
            last_used_at=common.from_unix(k.get("last_used_at")), last_used_known_since=created,
            status=status, admin=admin, extra={k2: v for k2, v in extra.items() if v is not None},
        )

    # ---- reports -------------------------------------------------------------------------------

    def _times(self) -> dict[str, Any]:
        return {"start_time": int(self.window.start.timestamp()), "end_time": int(self.window.end.timestamp()),
                "bucket_width": "1d"}

    def usage(self) -> dict[str, dict[str, Usage]]:
        """api key id → model → usage over the window, every usage endpoint summed."""
        out: dict[str, dict[str, Usage]] = defaultdict(lambda: defaultdict(Usage))
        for endpoint in USAGE_ENDPOINTS:
            params = {**self._times(), "group_by[]": ["api_key_id", "project_id", "model"], "limit": 31}
            try:
                for bucket in self.client.report(f"organization/usage/{endpoint}", params, "usage"):
                    day = common.from_unix(bucket.get("start_time"))
                    for r in bucket.get("results") or []:
                        if not isinstance(r, dict):
                            continue
                        self.ctx.coverage.count("usage_rows")
                        if not r.get("api_key_id"):
                            self.ctx.coverage.count("usage_rows_without_key")
                            continue
                        units = {u: float(r[u]) for u in OTHER_UNITS if isinstance(r.get(u), (int, float))}
                        out[str(r["api_key_id"])][str(r.get("model") or "")].add(
                            as_int(r.get("num_model_requests")), as_int(r.get("input_tokens")),
                            as_int(r.get("output_tokens")), day, units, r.get("project_id"))
            except ApiError as exc:
                self.gap(f"usage/{endpoint}", exc)
        return out

    def costs(self) -> dict[str, tuple[float, str]]:
        """api key id → (amount, currency) over the window; what no key explains is only counted."""
        out: dict[str, tuple[float, str]] = {}
        for group_by in (["project_id", "api_key_id"], ["project_id"]):
            params = {**self._times(), "group_by[]": group_by, "limit": 180}
            try:
                buckets = list(self.client.report("organization/costs", params, "costs"))
            except ApiError as exc:
                if exc.status == 400 and "api_key_id" in group_by:
                    continue  # this organisation cannot group costs by key: read them by project
                self.gap("costs", exc)
                return out
            unattributed = 0.0
            for bucket in buckets:
                for r in bucket.get("results") or []:
                    amount = r.get("amount") if isinstance(r, dict) else None
                    if not isinstance(amount, dict):
                        continue
                    try:
                        value = float(amount.get("value") or 0)
                    except (TypeError, ValueError):
                        continue
                    currency = str(amount.get("currency") or "usd").upper()
                    key_id = r.get("api_key_id")
                    if key_id:
                        total, _ = out.get(str(key_id), (0.0, currency))
                        out[str(key_id)] = (total + value, currency)
                    else:
                        unattributed += value
            if unattributed:
                self.ctx.coverage.count("cost_cents_not_attributed_to_a_key", round(unattributed * 100))
            return out
        return out

    # ---- findings ------------------------------------------------------------------------------

    def findings(self, keys: list[ListedKey], usage: dict[str, dict[str, Usage]],
                 costs: dict[str, tuple[float, str]]) -> Iterator[Finding]:
        formats = self.api.lists_key_formats
        listed_ids = set()
        for k in sorted(keys, key=lambda k: k.key_id):
            listed_ids.add(k.key_id)
            cost, currency = costs.get(k.key_id, (None, None))
            yield k.finding(self.detector, self.window, usage.get(k.key_id, {}), cost, currency, self.complete, formats)
            yield from common.usage_findings(self.detector, PROVIDER, self.provider_name, k.key_id,
                                             usage.get(k.key_id, {}), self.window, "project", k.owner)
        for key_id in sorted(set(usage) | set(costs)):
            if key_id in listed_ids:
                continue
            self.ctx.coverage.count("used_keys_not_listed")
            cost, currency = costs.get(key_id, (None, None))
            found = common.usage_findings(self.detector, PROVIDER, self.provider_name, key_id, usage.get(key_id, {}),
                                          self.window, "project", None, cost, currency)
            if not found and cost:
                self.ctx.coverage.count("cost_cents_not_attributed_to_a_key", round(cost * 100))
            yield from found
