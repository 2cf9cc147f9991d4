"""anthropic-admin against a loopback fake of the Anthropic Admin API (x-api-key, anthropic-version, cursors)."""

from __future__ import annotations

import datetime as dt

import pytest

from detectors.provider_admin import AnthropicAdminDetector
from scanner import identity, redact
from scanner.catalog import Catalog
from scanner.detector import DetectorError
from scanner.model import Coverage, CoverageStatus, Finding, Location, Status
from scanner.pipeline import build_inventory
from tests.fixtures.admin_fakes import AnthropicOrg, Server, run_detector
from tests.keys import make_key

ADMIN = make_key("anthropic-admin", 1)
TODAY = dt.datetime.now(dt.timezone.utc).date()


def day(offset: int) -> str:
    return (TODAY - dt.timedelta(days=offset)).isoformat()


def api_key(key_id: str, key: str, name: str, workspace: str | None, status: str = "active",
            created: str = "2024-10-30T23:58:27.427722Z") -> dict:
    return {"type": "api_key", "id": key_id, "name": name, "created_at": created,
            "created_by": {"id": "user_01", "type": "user"}, "partial_key_hint": f"{key[:16]}...{key[-4:]}",
            "status": status, "workspace_id": workspace,
            "scope": {"type": "workspace", "workspace_id": workspace} if workspace else {"type": "workspace",
                                                                                       "workspace_id": None}}


def organisation(held: str, other: str, stale: str) -> AnthropicOrg:
    org = AnthropicOrg(admin_key=ADMIN)
    org.workspaces = [{"type": "workspace", "id": "wrkspc_01", "name": "Support bots", "created_at":
                       "2024-10-30T23:58:27Z", "archived_at": None, "display_color": "#6C5BB9"}]
    org.users = [{"type": "user", "id": "user_01", "email": "bob@example.com", "name": "Bob", "role": "developer",
                  "added_at": "2024-10-30T23:58:27Z"}]
    org.api_keys = [api_key("apikey_01held", held, "support-bot", "wrkspc_01"),
                    api_key("apikey_02other", other, "batch", "wrkspc_01"),
                    api_key("apikey_03stale", stale, "old", None),
                    api_key("apikey_04gone", make_key("anthropic-api", 9), "revoked", None, status="archived")]
    usage = {"uncached_input_tokens": 1500, "cache_read_input_tokens": 200,
             "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
             "output_tokens": 500, "server_tool_use": {"web_search_requests": 2}, "service_tier": "standard",
             "context_window": "0-200k"}
    org.usage = [
        (day(2), {**usage, "api_key_id": "apikey_01held", "workspace_id": "wrkspc_01",
                  "model": "claude-sonnet-4-20250514"}),
        (day(3), {**usage, "api_key_id": "apikey_02other", "workspace_id": "wrkspc_01",
                  "model": "claude-sonnet-4-20250514", "output_tokens": 1500}),
        (day(4), {**usage, "api_key_id": None, "workspace_id": None, "model": "claude-haiku-4-5"}),  # Console
        (day(60), {**usage, "api_key_id": "apikey_01held", "workspace_id": "wrkspc_01",
                   "model": "claude-opus-4-1"}),  # before the 30-day window: last use only
    ]
    org.costs = [
        {"currency": "USD", "amount": "1000.00", "workspace_id": "wrkspc_01", "description": "Claude Sonnet 4 Usage",
         "cost_type": "tokens", "model": "claude-sonnet-4-20250514", "token_type": "uncached_input_tokens"},
        {"currency": "USD", "amount": "250.00", "workspace_id": None, "description": "Claude Haiku 4.5 Usage",
         "cost_type": "tokens", "model": "claude-haiku-4-5"},
    ]
    return org


@pytest.fixture
def keys() -> tuple[str, str, str]:
    return make_key("anthropic-api", 1), make_key("anthropic-api", 2), make_key("anthropic-api", 3)


def test_lists_keys_usage_and_cost_with_the_documented_headers_and_cursors(clean_env, monkeypatch, keys):
    with Server(None) as server:  # type: ignore[arg-type]
        server.handle = organisation(*keys).handle(server)
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN)
        findings, cov = run_detector(AnthropicAdminDetector, {"endpoint": server.url})
    assert server.violations == [] and cov.status == CoverageStatus.RAN, cov.gaps
    assert {r.headers["anthropic-version"] for r in server.requests} == {"2023-06-01"}
    assert {r.headers["x-api-key"] for r in server.requests} == {ADMIN}
    assert all("authorization" not in r.headers for r in server.requests)
    pages = [r.one("after_id") for r in server.requests if r.path == "/v1/organizations/api_keys"]
    assert pages == [None, "apikey_02other"]  # four keys, two a page: after_id = last_id
    usage_calls = [r for r in server.requests if r.path.endswith("/usage_report/messages")]
    assert [r.one("page") for r in usage_calls] == [None, "page-2"]
    assert usage_calls[0].query["group_by[]"] == ["api_key_id", "workspace_id", "model"]
    started = dt.date.fromisoformat(usage_calls[0].one("starting_at")[:10])
    assert (TODAY - started).days == 91  # look back past 90 days to know the last use
    cost_call = next(r for r in server.requests if r.path.endswith("/cost_report"))
    assert (TODAY - dt.date.fromisoformat(cost_call.one("starting_at")[:10])).days == 30
    listed = {f.details["key_id"]: f for f in findings if f.kind == "listed-api-key"}
    held = listed["apikey_01held"]
    assert held.details["workspace"] == {"id": "wrkspc_01", "name": "Support bots"}
    assert held.details["owner"] == "bob@example.com" and "owner:bob@example.com" in held.identity
    assert held.details["key_prefix"] == "sk-ant-api03-" and held.details["listing_complete"] is True
    assert held.details["last_used_at"] == f"{day(2)}T00:00:00Z"  # the newest day with tokens
    assert listed["apikey_04gone"].details["status"] == "archived"
    assert "last_used_at" not in listed["apikey_03stale"].details
    # $10.00 of Sonnet in wrkspc_01 shared by tokens: held 3700, other 4700 (cents in the report)
    assert held.cost == pytest.approx(10.0 * 3700 / 8400)
    assert listed["apikey_02other"].cost == pytest.approx(10.0 * 4700 / 8400)
    assert held.details["cost_basis"].startswith("workspace cost of the model")
    assert cov.scanned["cost_cents_not_attributed_to_a_key"] == 250  # the Console's Haiku
    models = sorted((f.location.resource, f.model) for f in findings if f.kind == "provider-usage")
    assert models == [("apikey_01held", "claude-sonnet-4-20250514"), ("apikey_02other", "claude-sonnet-4-20250514")]
    assert cov.scanned["usage_rows_without_key"] == 1


def test_hint_joins_a_key_found_elsewhere_and_a_stale_key_is_to_revoke(clean_env, monkeypatch, keys):
    held, other, stale = keys
    with Server(None) as server:  # type: ignore[arg-type]
        server.handle = organisation(*keys).handle(server)
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN)
        findings, cov = run_detector(AnthropicAdminDetector, {"endpoint": server.url})
    foreign = make_key("anthropic-api", 4)
    env_finding = Finding(detector="env", kind="env-credential", location=Location(host="h", user="u"),
                          identity=[identity.cred(redact.fingerprint(held)), identity.shell("h", "u")],
                          evidence="ANTHROPIC_API_KEY", provider="anthropic",
                          credential=redact.credential(held, "anthropic-api"))
    repo_finding = Finding(detector="repo", kind="credential", location=Location(path="x/.env", line=3),
                           identity=[identity.cred(redact.fingerprint(foreign)), identity.repo("x", ".")],
                           evidence="key", provider="anthropic", credential=redact.credential(foreign, "anthropic-api"))
    inv = build_inventory(findings + [env_finding, repo_finding], [cov, Coverage("env"), Coverage("repo")],
                          Catalog.load(), None, TODAY, {})
    shell = next(a for a in inv.agents if env_finding.id in a.findings)
    assert "keyid:anthropic:apikey_01held" in shell.identity
    assert env_finding.details["listed_key"]["agreeing_chars"] == 4  # the preview shows only "sk-ant-a"
    assert "claude-sonnet-4-20250514" in shell.models
    assert "listed-key" in [r.code for r in shell.reasons]
    lost = next(a for a in inv.agents if repo_finding.id in a.findings)
    assert "key-not-in-organisation" in [r.code for r in lost.reasons]
    old = next(a for a in inv.agents if "keyid:anthropic:apikey_03stale" in a.identity)
    assert "unused-key" in [r.code for r in old.reasons] and "revoke the unused key" in old.remediation
    other_agent = next(a for a in inv.agents if "keyid:anthropic:apikey_02other" in a.identity)
    assert other_agent.status == Status.SHADOW
    assert "key-in-use-no-holder" in [r.code for r in other_agent.reasons]
    archived = next(a for a in inv.agents if "keyid:anthropic:apikey_04gone" in a.identity)
    assert "unused-key" not in [r.code for r in archived.reasons]  # archived keys cannot be revoked again


def test_refused_admin_key_is_an_input_error_naming_the_role(clean_env, monkeypatch, keys):
    with Server(None) as server:  # type: ignore[arg-type]
        server.handle = organisation(*keys).handle(server)
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", make_key("anthropic-api", 5))
        with pytest.raises(DetectorError, match="HTTP 401.*ANTHROPIC_ADMIN_KEY must be an Admin API key"):
            run_detector(AnthropicAdminDetector, {"endpoint": server.url})
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        refused = {c.name: c for c in AnthropicAdminDetector().diagnose()}
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN)
        good = {c.name: c for c in AnthropicAdminDetector().diagnose()}
    assert not refused["admin key accepted"].ok and "401" in refused["admin key accepted"].detail
    assert good["admin key accepted"].ok and "organisation Acme" in good["admin key accepted"].detail
    assert server.requests[-1].path == "/v1/organizations/me"
