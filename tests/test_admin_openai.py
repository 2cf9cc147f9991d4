"""openai-admin against a loopback fake of the OpenAI Admin API (documented paths, cursors, shapes)."""

from __future__ import annotations

import time

import pytest

from detectors.provider_admin import OpenAIAdminDetector
from detectors.provider_admin.common import resolve_base
from scanner.catalog import Catalog
from scanner.detector import DetectorError
from scanner.model import CoverageStatus
from tests.fixtures.admin_fakes import OpenAIOrg, Server, run_detector
from tests.keys import make_key

NOW = int(time.time())
DAY = 86400
ADMIN = make_key("openai-admin", 1)


def hint(key: str) -> str:
    """How the Admin API shows a key: its first characters, '...', its last four."""
    return f"{key[:8]}...{key[-4:]}"


def project_key(key_id: str, key: str, name: str, last_used: int | None, owner: str = "user", **extra) -> dict:
    who = ({"type": "user", "user": {"id": "user_1", "email": "alice@example.com", "name": "Alice", "role": "owner",
                                     "created_at": NOW - 900 * DAY}}
           if owner == "user" else
           {"type": "service_account", "service_account": {"id": "svc_1", "name": "ci-bot", "role": "member",
                                                           "created_at": NOW - 500 * DAY}})
    return {"object": "organization.project.api_key", "id": key_id, "name": name, "redacted_value": hint(key),
            "created_at": NOW - 400 * DAY, "last_used_at": last_used, "owner": who,
            "owner_project_access": "active", **extra}


def organisation(keys: dict[str, str]) -> OpenAIOrg:
    """Two projects (one archived); five project keys over three pages; one admin key; usage and costs."""
    org = OpenAIOrg(admin_key=ADMIN)
    org.projects = [
        {"object": "organization.project", "id": "proj_a", "name": "Prod", "created_at": NOW - 800 * DAY,
         "status": "active", "archived_at": None},
        {"object": "organization.project", "id": "proj_b", "name": "Old", "created_at": NOW - 800 * DAY,
         "status": "archived", "archived_at": NOW - 10 * DAY},
    ]
    org.keys = {
        "proj_a": [
            project_key("key_held", keys["held"], "web-app", NOW - 3600),
            project_key("key_shadow", keys["shadow"], "mystery", NOW - 7200, owner="service_account"),
            project_key("key_stale", keys["stale"], "old-cron", NOW - 200 * DAY),
            project_key("key_never", keys["never"], "never-used", None),
        ],
        "proj_b": [project_key("key_archived", keys["archived"], "legacy", None,
                               owner_project_access="inactive")],
    }
    org.service_accounts = {"proj_a": [{"object": "organization.project.service_account", "id": "svc_1",
                                        "name": "ci-bot", "role": "member", "created_at": NOW - 500 * DAY}]}
    org.admin_keys = [{"object": "organization.admin_api_key", "id": "key_admin", "name": "Main Admin Key",
                       "redacted_value": hint(ADMIN), "created_at": NOW - 100 * DAY, "last_used_at": NOW,
                       "owner": {"type": "user", "object": "organization.user", "id": "user_1", "name": "Alice",
                                 "role": "owner"}}]
    org.usage = {
        "completions": [
            {"input_tokens": 1000, "output_tokens": 500, "num_model_requests": 5, "project_id": "proj_a",
             "api_key_id": "key_held", "model": "gpt-4o-mini-2024-07-18"},
            {"input_tokens": 2000, "output_tokens": 100, "num_model_requests": 7, "project_id": "proj_a",
             "api_key_id": "key_shadow", "model": "gpt-4.1"},
            {"input_tokens": 10, "output_tokens": 10, "num_model_requests": 1, "project_id": "proj_a",
             "api_key_id": "key_shadow", "model": "gpt-4.1"},
            {"input_tokens": 30, "output_tokens": 3, "num_model_requests": 1, "project_id": "proj_a",
             "api_key_id": None, "model": "gpt-4.1"},
        ],
        "embeddings": [{"input_tokens": 300, "num_model_requests": 3, "project_id": "proj_a",
                        "api_key_id": "key_deleted", "model": "text-embedding-3-small"}],
    }
    org.costs = [
        {"amount": {"value": 1.25, "currency": "usd"}, "line_item": None, "project_id": "proj_a",
         "api_key_id": "key_shadow"},
        {"amount": {"value": 0.5, "currency": "usd"}, "line_item": None, "project_id": "proj_a",
         "api_key_id": None},
    ]
    return org


@pytest.fixture
def keys() -> dict[str, str]:
    return {name: make_key("openai-project", i) for i, name in
            enumerate(("held", "shadow", "stale", "never", "archived"), start=10)}


def test_reads_every_key_usage_and_cost_following_cursors_and_a_429(clean_env, monkeypatch, keys):
    org = organisation(keys)
    org.throttle_once = {"/v1/organization/projects/proj_a/api_keys"}
    with Server(None) as server:  # type: ignore[arg-type]
        server.handle = org.handle(server)
        monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
        findings, cov = run_detector(OpenAIAdminDetector, {"endpoint": server.url + "/v1"})
    assert server.violations == []
    assert cov.status == CoverageStatus.RAN, cov.gaps
    listed = {f.details["key_id"]: f for f in findings if f.kind == "listed-api-key"}
    assert sorted(listed) == ["key_admin", "key_archived", "key_held", "key_never", "key_shadow", "key_stale"]
    # four keys in proj_a at two per page: the cursor was followed (after = last_id) to the end
    key_pages = [r for r in server.requests if r.path == "/v1/organization/projects/proj_a/api_keys"]
    assert [r.one("after") for r in key_pages] == [None, None, "key_shadow"]  # the 429, its retry, page 2
    assert cov.scanned["retries"] == 1 and cov.scanned["pages_api_keys"] == 3
    assert cov.scanned["requests"] == len(server.requests)
    # usage: six endpoints, grouped by key, project and model; three completions buckets = two pages
    completions = [r for r in server.requests if r.path.endswith("/usage/completions")]
    assert [r.one("page") for r in completions] == [None, "page-2"]
    assert completions[0].query["group_by[]"] == ["api_key_id", "project_id", "model"]
    assert abs(int(completions[0].one("start_time")) - (NOW - 30 * DAY)) < 120
    assert {r.path.rsplit("/", 1)[1] for r in server.requests if "/usage/" in r.path} == {
        "completions", "embeddings", "images", "audio_speeches", "audio_transcriptions", "moderations"}
    usage = {(f.details.get("usage") and f.location.resource, f.model): f for f in findings
             if f.kind == "provider-usage"}
    shadow_use = usage[("key_shadow", "gpt-4.1")]
    assert shadow_use.details["usage"] == {"requests": 8, "input_tokens": 2010, "output_tokens": 110}
    assert ("key_deleted", "text-embedding-3-small") in usage  # used, but no longer listed
    assert cov.scanned["usage_rows_without_key"] == 1 and cov.scanned["used_keys_not_listed"] == 1
    # costs grouped by key: on the key's finding; the rest only counted
    assert listed["key_shadow"].cost == 1.25 and listed["key_shadow"].currency == "USD"
    assert cov.scanned["cost_cents_not_attributed_to_a_key"] == 50
    # what each listed key says
    held = listed["key_held"]
    assert held.details["hint"] == hint(keys["held"]) and held.details["key_prefix"] == "sk-proj-"
    assert held.details["listing_complete"] is True and "owner:alice@example.com" in held.identity
    assert held.details["project"] == {"id": "proj_a", "name": "Prod"}
    assert listed["key_shadow"].details["owner_kind"] == "service_account"
    assert listed["key_shadow"].details["owner_name"] == "ci-bot"
    assert listed["key_archived"].details["status"] == "archived"
    assert listed["key_admin"].details["admin"] is True
    assert cov.scanned["service_accounts"] == 1 and cov.scanned["projects"] == 2
    # the admin key is nowhere in what the detector produced
    assert ADMIN not in repr(findings) and ADMIN not in repr(cov.to_dict())


def test_refused_key_is_an_input_error_that_names_the_key_needed(clean_env, monkeypatch, keys):
    wrong = make_key("openai-project", 99)  # not an admin key; the fake echoes it back in full
    with Server(None) as server:  # type: ignore[arg-type]
        server.handle = organisation(keys).handle(server)
        monkeypatch.setenv("OPENAI_ADMIN_KEY", wrong)
        with pytest.raises(DetectorError) as err:
            run_detector(OpenAIAdminDetector, {"endpoint": server.url + "/v1"})
    message = str(err.value)
    assert "HTTP 401" in message and "OPENAI_ADMIN_KEY must be an admin key" in message
    assert wrong not in message and wrong[8:-4] not in message
    assert len(server.requests) == 1  # a 401 is not retried


def test_usage_refused_is_a_gap_naming_the_scope_the_rest_is_read(clean_env, monkeypatch, keys):
    org = organisation(keys)
    org.forbidden = {"/v1/organization/usage/completions"}
    with Server(None) as server:  # type: ignore[arg-type]
        server.handle = org.handle(server)
        monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
        findings, cov = run_detector(OpenAIAdminDetector, {"endpoint": server.url + "/v1"})
    assert cov.status == CoverageStatus.PARTIAL
    assert [g.what for g in cov.gaps] == ["usage/completions"]
    assert "api.usage.read" in cov.gaps[0].reason and "OPENAI_ADMIN_KEY must be an admin key" in cov.gaps[0].reason
    assert len([f for f in findings if f.kind == "listed-api-key"]) == 6


def test_missing_key_says_which_key_and_where_to_make_it(clean_env):
    with pytest.raises(DetectorError, match="OPENAI_ADMIN_KEY is not set.*platform.openai.com/settings"):
        run_detector(OpenAIAdminDetector)


def test_base_url_follows_the_sdk_variable_and_refuses_clear_text_off_loopback(clean_env, monkeypatch, keys):
    api = Catalog.load().providers["openai"].admin_api
    assert resolve_base(None, api) == ("https://api.openai.com/v1", "public API")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://gateway.example.com/v1")
    with pytest.raises(DetectorError, match="plain http to gateway.example.com"):
        resolve_base(None, api)
    with Server(None) as server:  # type: ignore[arg-type]
        server.handle = organisation(keys).handle(server)
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
        findings, cov = run_detector(OpenAIAdminDetector)
    assert cov.status == CoverageStatus.RAN and findings
    assert server.requests[0].path == "/v1/organization/projects"


def test_doctor_checks_key_and_endpoint_with_one_call(clean_env, monkeypatch, keys):
    assert [c.ok for c in OpenAIAdminDetector().diagnose() if c.name == "admin key"] == [False]
    with Server(None) as server:  # type: ignore[arg-type]
        server.handle = organisation(keys).handle(server)
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
        checks = {c.name: c for c in OpenAIAdminDetector().diagnose()}
        monkeypatch.setenv("OPENAI_ADMIN_KEY", make_key("openai-admin", 2))
        refused = {c.name: c for c in OpenAIAdminDetector().diagnose()}
    assert checks["admin key"].ok and checks["admin key accepted"].ok
    assert checks["endpoint"].detail.endswith("($OPENAI_BASE_URL)")
    assert not refused["admin key accepted"].ok and "401" in refused["admin key accepted"].detail
    assert [r.path for r in server.requests] == ["/v1/organization/projects"] * 2
    assert all(ADMIN not in c.detail + c.fix for c in checks.values())
