"""Preview × listed hint matching, and the reasons and remediation it leads to, through build_inventory."""

from __future__ import annotations

import datetime as dt

from scanner import identity, keyhints, redact
from scanner.catalog import Catalog
from scanner.model import Confidence, Coverage, Finding, Location, Status
from scanner.pipeline import build_inventory
from scanner.registry import load_registry
from tests.keys import make_key

TODAY = dt.date(2025, 3, 1)


def listed(key_id: str, hint: str, provider: str = "openai", prefix: str = "sk-proj-", complete: bool = True,
           **details) -> Finding:
    return Finding(detector=f"{provider}-admin", kind=keyhints.LISTED_KIND,
                   location=Location(cloud=provider, account="proj_a", resource=key_id),
                   identity=[identity.keyid(provider, key_id)], evidence=f"listed {key_id}", provider=provider,
                   confidence=Confidence.HIGH, period="2025-01-30/2025-03-01",
                   details={"key_id": key_id, "name": key_id.removeprefix("key_"), "hint": hint, "key_prefix": prefix,
                            "provider_name": provider.capitalize(), "listing_complete": complete,
                            "lists_key_formats": ["openai-project", "openai-legacy"] if provider == "openai"
                            else ["anthropic-api"], "status": "active", "created_at": "2024-01-01T00:00:00Z",
                            **details})


def used(key_id: str, model: str, requests: int, provider: str = "openai") -> Finding:
    return Finding(detector=f"{provider}-admin", kind=keyhints.USAGE_KIND,
                   location=Location(cloud=provider, account="proj_a", resource=key_id),
                   identity=[identity.keyid(provider, key_id)], evidence=f"{key_id} used {model}", provider=provider,
                   model=model, period="2025-01-30/2025-03-01",
                   details={"usage": {"requests": requests, "input_tokens": 100, "output_tokens": 10},
                            "last_used_at": "2025-02-27T00:00:00Z"})


def found(secret: str, path: str, key_type: str = "openai-project", provider: str = "openai") -> Finding:
    return Finding(detector="repo", kind="credential", location=Location(path=path, line=1),
                   identity=[identity.cred(redact.fingerprint(secret)), identity.repo("github.com/acme/bot", ".")],
                   evidence="key in code", provider=provider, credential=redact.credential(secret, key_type))


def inventory(findings: list[Finding], registry=None):
    return build_inventory(findings, [Coverage("repo"), Coverage("openai-admin")], Catalog.load(), registry,
                           TODAY, {})


def agent_of(inv, finding: Finding):
    return next(a for a in inv.agents if finding.id in a.findings)


def test_split_and_agreement_of_redacted_forms():
    assert keyhints.split("sk-proj-...9f2c") == keyhints.Redacted("sk-proj-", "9f2c")
    assert keyhints.split("sk-ant-api03-R2D...igAA") == keyhints.Redacted("sk-ant-api03-R2D", "igAA")
    assert keyhints.split("sk-proj-…9f2c") == keyhints.Redacted("sk-proj-", "9f2c")
    assert keyhints.split("sk-****9f2c") == keyhints.Redacted("sk-", "9f2c")
    assert keyhints.split("no redaction here") is None
    a, b = keyhints.Redacted("sk-ant-a", "igAA"), keyhints.Redacted("sk-ant-api03-R2D", "igAA")
    assert keyhints.agreeing(a, b, "sk-ant-api03-") == 4  # the common head is all fixed prefix
    assert keyhints.agreeing(keyhints.Redacted("sk-ant-api03-R2D", "gAA"), b, "sk-ant-api03-") == 6
    assert keyhints.agreeing(keyhints.Redacted("sk-ant-api03-R2X", "igAA"), b, "sk-ant-api03-") is None
    assert keyhints.agreeing(keyhints.Redacted("sk-proj-", "9f2d"), keyhints.Redacted("sk-proj-", "9f2c")) is None


def test_a_found_key_joins_the_listed_key_its_preview_fits_and_only_that_one():
    mine, other = make_key("openai-project", 1), make_key("openai-project", 2)
    repo = found(mine, "bot/config.py")
    stray = found(other, "bot/old.py")
    key = listed("key_web", f"{mine[:8]}...{mine[-4:]}")
    decoy = listed("key_other", f"sk-svcacct-...{mine[-4:]}")  # same tail, another format: no fit
    inv = inventory([repo, stray, key, decoy, used("key_web", "gpt-4o", 3)])
    joined = agent_of(inv, repo)
    assert key.id in joined.findings and decoy.id not in joined.findings
    assert repo.details["listed_key"] == {"status": "matched", "key": "keyid:openai:key_web", "name": "web",
                                          "hint": key.details["hint"], "strength": "partial", "agreeing_chars": 4}
    # the stray key: OpenAI's listing was read in full and covers its format, and has no such key
    assert stray.details["listed_key"] == {"status": "not-listed", "provider": "openai", "keys_listed": 2}
    assert "key-not-in-organisation" in [r.code for r in agent_of(inv, stray).reasons]
    assert "revoked or foreign" in next(r.message for r in agent_of(inv, stray).reasons
                                        if r.code == "key-not-in-organisation")


def test_no_verdict_without_a_complete_listing_and_no_join_when_two_keys_fit():
    mine = make_key("openai-project", 3)
    repo = found(mine, "a.py")
    twin_a = listed("key_a", f"sk-proj-...{mine[-4:]}", complete=False)
    twin_b = listed("key_b", f"sk-...{mine[-4:]}", complete=False)
    inv = inventory([repo, twin_a, twin_b])
    assert repo.details["listed_key"] == {"status": "ambiguous", "candidates": ["keyid:openai:key_a",
                                                                               "keyid:openai:key_b"]}
    assert len(agent_of(inv, repo).findings) == 1
    lonely = found(make_key("openai-project", 4), "b.py")
    inventory([lonely, listed("key_c", "sk-proj-...zzzz", complete=False)])
    assert "listed_key" not in lonely.details  # the listing was partial: no claim either way


def test_unheld_key_in_use_is_shadow_with_its_use_and_an_unused_key_gets_revoke():
    live = listed("key_live", "sk-proj-...AAAA", last_used_at="2025-02-28T10:00:00Z")
    usage = used("key_live", "gpt-4.1", 12)
    usage.cost, usage.currency = 3.5, "USD"
    stale = listed("key_stale", "sk-proj-...BBBB", last_used_at="2024-10-01T00:00:00Z")
    inv = inventory([live, usage, stale])
    agent = agent_of(inv, live)
    assert agent.status == Status.SHADOW and agent.models == ["gpt-4.1"]
    reason = next(r.message for r in agent.reasons if r.code == "key-in-use-no-holder")
    assert reason.startswith("key in use, no known holder: Openai key 'live' (sk-proj-...AAAA)")
    assert "last used 2025-02-28" in reason and "12 requests" in reason and "models gpt-4.1" in reason
    assert "3.50 USD" in reason
    old = agent_of(inv, stale)
    assert [r.code for r in old.reasons if r.code == "unused-key"] == ["unused-key"]
    assert "key-in-use-no-holder" not in [r.code for r in old.reasons]
    assert "revoke the unused key Openai key 'stale' (sk-proj-...BBBB)" in old.remediation


def test_models_the_provider_saw_make_an_approved_agent_drift(tmp_path):
    mine = make_key("openai-project", 5)
    repo = found(mine, "bot/app.py")
    key = listed("key_bot", f"sk-proj-...{mine[-4:]}", last_used_at="2025-02-28T00:00:00Z")
    reg = tmp_path / "agents.yaml"
    reg.write_text("agents:\n  - id: bot\n    name: Bot\n    owner: alice@example.com\n    provider: [openai]\n"
                   "    models: [gpt-4o]\n    last_reviewed: 2025-02-01\n    match:\n"
                   "      keys: ['repo:github.com/acme/bot:*']\n")
    inv = inventory([repo, key, used("key_bot", "gpt-4o", 4), used("key_bot", "o3", 1)], load_registry(str(reg)))
    agent = agent_of(inv, repo)
    assert agent.approved_id == "bot" and agent.status == Status.DRIFT
    assert [r.message for r in agent.reasons if r.code == "drift-model"] == [
        "uses model o3, record bot declares gpt-4o"]
    assert "key-in-use-no-holder" not in [r.code for r in agent.reasons]  # the repository holds it
