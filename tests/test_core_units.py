"""Unit tests of the core: redaction, catalogue, correlation, registry, comparison, config, model."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner import identity, redact
from scanner.baseline import diff
from scanner.catalog import Catalog, host_pattern_regex
from scanner.compare import compare
from scanner.config import parse_set_options, resolve
from scanner.pipeline import list_detectors
from scanner.correlate import correlate
from scanner.errors import InputError, UserError
from scanner.model import Confidence, Finding, Inventory, Location, Status
from scanner.registry import parse_registry
from scanner.secrets import is_placeholder
from tests.keys import SHAPES, make_key

TODAY = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def finding(*keys: str, provider: str = "openai", kind: str = "credential", path: str = "a/.env", model=None) -> Finding:
    return Finding(detector="env", kind=kind, location=Location(path=path, line=1), identity=list(keys),
                   evidence="x", provider=provider, model=model, confidence=Confidence.HIGH)


# ---- redact -----------------------------------------------------------------------------------

def test_preview_reveals_at_most_eight_plus_four_and_less_for_short_secrets():
    key = make_key("openai-project")
    p = redact.preview(key)
    assert p.startswith(key[:8]) and p.endswith(key[-4:]) and len(p) == 13
    short = "abcdefghijklmnop"  # 16 chars
    assert redact.preview(short) == "abcd…op"
    assert redact.preview("abc") == "…"


def test_fingerprint_is_stable_sha256_prefix():
    assert redact.fingerprint("hello") == "2cf24dba5fb0a30e"


def test_scrub_removes_remembered_and_key_shaped_strings(catalog):
    remembered = make_key("mistral", 5)  # formatless: only known because a detector saw it
    redact.credential(remembered)
    unseen = make_key("groq", 9)
    redact.add_patterns([catalog.key_regex])
    text = redact.scrub(f"error near {remembered} and {unseen}!")
    assert remembered not in text and unseen not in text
    assert redact.preview(unseen) in text


def test_scrub_masks_url_passwords():
    text = redact.scrub("proxy https://svc:s3cr3t-Passw0rd@gw.example.com:8443/v1 and redis://:pw@cache:6379 ok")
    assert "s3cr3t" not in text and ":pw@" not in text
    assert "https://svc:***@gw.example.com:8443/v1" in text and "redis://:***@cache:6379" in text
    assert redact.scrub("see https://example.com/a:b@c") == "see https://example.com/a:b@c"  # no userinfo


# ---- catalogue --------------------------------------------------------------------------------

def test_catalogue_has_the_breadth_the_detectors_need(catalog):
    assert len(catalog.providers) >= 25
    kinds = {p.kind for p in catalog.providers.values()}
    assert {"provider", "cloud", "gateway", "local"} <= kinds
    for p in catalog.providers.values():
        for k in p.keys:
            assert k.context_only or k.prefixes, k.id
    assert catalog.env_vars["OPENAI_API_KEY"].role == "key"
    assert catalog.env_vars["OPENAI_BASE_URL"].role == "endpoint"


@pytest.mark.parametrize("shape,provider", [
    ("openai-project", "openai"), ("openai-legacy", "openai"), ("anthropic-api", "anthropic"),
    ("google-ai-studio", None), ("groq", "groq"), ("huggingface", "huggingface"), ("replicate", "replicate"),
    ("perplexity", "perplexity"), ("xai", "xai"), ("openrouter", "openrouter"), ("deepseek", "deepseek"),
])
def test_every_self_identifying_key_shape_is_found_once_by_the_combined_regex(catalog, shape, provider):
    key = make_key(shape, 2)
    matches = list(catalog.key_regex.finditer(f'x = "{key}"\n'))
    assert len(matches) == 1 and matches[0].group(0) == key
    fmt = catalog.key_format_of_match(matches[0])
    if provider:
        assert fmt.provider == provider
    else:
        assert fmt.provider.startswith("google")


def test_formatless_keys_need_context(catalog):
    for shape, provider in (("mistral", "mistral"), ("cohere", "cohere"), ("azure-openai", "azure-openai")):
        key = make_key(shape, 1)
        assert not catalog.key_regex.search(key), shape
        assert catalog.classify_secret(key, provider) is not None, shape


def test_hosts_ports_models_map_to_providers(catalog):
    assert catalog.provider_for_host("API.OpenAI.com.") == "openai"
    assert catalog.provider_for_host("myres.openai.azure.com") == "azure-openai"
    assert catalog.provider_for_host("bedrock-runtime.eu-west-1.amazonaws.com") == "aws-bedrock"
    assert catalog.provider_for_host("s3.amazonaws.com") is None
    assert catalog.provider_for_host("example.com") is None
    assert "ollama" in catalog.providers_for_port(11434)
    assert catalog.provider_for_model("gpt-4o-2024-08-06") == "openai"
    assert catalog.provider_for_model("claude-sonnet-4-5") == "anthropic"
    assert catalog.provider_for_model("banana") is None
    assert re.fullmatch(host_pattern_regex("*.x.com"), "a.b.x.com")
    assert not re.fullmatch(host_pattern_regex("*.x.com"), "x.com")


def test_user_catalogue_adds_and_replaces_entries(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("providers:\n  - id: openai\n    name: Replaced\n    hostnames: [llm.internal.example]\n"
                     "  - id: inhouse\n    name: In-house LLM\n    kind: local\n    ports: [9999]\n")
    c = Catalog.load([extra])
    assert c.providers["openai"].name == "Replaced"
    assert c.provider_for_host("api.openai.com") is None
    assert c.provider_for_host("llm.internal.example") == "openai"
    assert c.providers_for_port(9999) == ["inhouse"]


def test_agent_tool_facts_come_from_the_catalogue(catalog):
    """Which files configure coding agents and which headers carry keys is data, not code."""
    assert {f.match for f in catalog.agent_files_for("svc/.cursor/mcp.json")} == {"mcp.json"}
    (settings,) = catalog.agent_files_for(".claude/settings.local.json")
    assert settings.tool == "claude-code" and settings.roles == ("settings",)
    assert catalog.agent_files_for(".claude/settings.json.bak") == []
    assert catalog.agent_files_for("docs/CLAUDE.md")[0].tool == "claude-code"
    assert {"authorization", "x-api-key"} <= set(catalog.auth_headers)
    assert "subscription_key" in catalog.key_arguments


@pytest.mark.parametrize("text,needle", [
    ("providers:\n  - id: x\n    name: X\n    colour: red\n", "unknown field 'colour'"),
    ("providers:\n  - id: x\n    name: X\n    keys:\n      - id: k\n        regex: '(['\n", "invalid regex"),
    ("providers: [\n", "invalid YAML"),
    ("agent_files:\n  files:\n    - {match: x.json, roles: [runs]}\n", "roles must be some of"),
    ("agent_files:\n  files:\n    - {match: x.json, roles: [settings], tool: nosuch}\n", "unknown tool 'nosuch'"),
    ("agent_files:\n  files:\n    - {roles: [settings]}\n", "missing required field 'match'"),
    ("providers:\n  - id: x\n    name: X\n    auth_headers: [5]\n", "auth_headers: every entry must be"),
])
def test_bad_user_catalogue_is_a_clear_error(tmp_path, text, needle):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(InputError, match=re.escape(needle)):
        Catalog.load([bad])


# ---- placeholders -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "sk-xxxxxxxxxxxxxxxxxxxxxxxx", "your-api-key-here", "<OPENAI_API_KEY>", "${OPENAI_API_KEY}",
    "sk-proj-abcdefghijklmnopqrstuvwxyz", "aaaaaaaaaaaaaaaaaaaaaaaa", "sk-ant-api03-REPLACE_ME_PLEASE_NOW",
    "short", "$(vault read key)",
])
def test_placeholders_are_not_secrets(value):
    assert is_placeholder(value, "sk-proj-" if value.startswith("sk-proj-") else "")


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_random_keys_are_rarely_mistaken_for_placeholders(shape):
    import random
    rng = random.Random(shape)
    flagged = sum(is_placeholder(SHAPES[shape](rng)) for _ in range(500))
    assert flagged <= 2, f"{flagged}/500 random {shape} keys flagged as placeholders"


# ---- correlation ------------------------------------------------------------------------------

def test_shared_credential_joins_repo_and_shell_but_owner_and_host_never_do():
    a = finding("cred:aaaa", "repo:github.com/acme/bot:.", "owner:alice", "host:h1")
    b = finding("cred:aaaa", "shell:h1:alice", "owner:alice", "host:h1", path="/home/alice/.bashrc")
    c = finding("cred:bbbb", "repo:github.com/acme/other:.", "owner:alice", "host:h1")
    agents = correlate([c, b, a])
    assert len(agents) == 2
    joined = next(x for x in agents if "cred:aaaa" in x.identity)
    assert set(joined.findings) == {a.id, b.id}
    assert joined.name == "bot" and joined.owners == ["alice"]
    assert correlate([a, b, c])[0].id in {x.id for x in agents}  # order does not matter


def test_finding_and_agent_ids_are_stable_across_runs():
    f1, f2 = finding("cred:1", "repo:r:."), finding("repo:r:.", "cred:1")
    assert f1.id == f2.id and re.fullmatch(r"[0-9a-f]{16}", f1.id)
    assert correlate([f1])[0].id == correlate([f2])[0].id


# ---- registry ---------------------------------------------------------------------------------

REG = """version: 1
agents:
  - id: bot
    name: Bot
    owner: alice@example.com
    provider: openai
    models: [gpt-4o]
    last_reviewed: 2026-11-01
    match:
      credentials: [AAAA]
      repos: [github.com/acme/bot]
  - id: old
    owner: bob
    last_reviewed: 2026-01-01
    expires: 2026-06-01
    match: ["proc:*:svc:*worker.py"]
"""


def test_registry_parses_match_into_identity_patterns():
    reg = parse_registry(REG, "agents.yaml")
    bot, old = reg.records
    assert bot.line == 3 and bot.matches_key("cred:aaaa") and bot.matches_key("repo:github.com/acme/bot:src")
    assert not bot.matches_key("repo:github.com/acme/bot2:.")
    assert old.matches_key("proc:h:svc:/srv/worker.py") and old.name == "old"


@pytest.mark.parametrize("text,needle,line", [
    (REG.replace("    owner: bob\n", ""), "missing required field 'owner'", 12),
    (REG.replace("models:", "modles:"), "unknown field 'modles' (did you mean 'models'?)", 7),
    (REG.replace("last_reviewed: 2026-11-01", "last_reviewed: soon"), "must be a date", 8),
    (REG.replace("credentials:", "credential:"), "unknown field 'credential'", 10),
    (REG.replace("id: old", "id: bot"), "duplicate id 'bot'", 12),
])
def test_registry_errors_name_file_line_and_field(text, needle, line):
    with pytest.raises(InputError) as exc:
        parse_registry(text, "agents.yaml")
    assert needle in str(exc.value) and str(exc.value).startswith(f"agents.yaml:{line}:")


def test_json_registry_is_accepted():
    reg = parse_registry(json.dumps([{"id": "a", "owner": "o", "match": {"hosts": ["h"]}}]), "r.json")
    assert reg.records[0].matches_key("host:h")


# ---- comparison -------------------------------------------------------------------------------

def _statuses(findings: list[Finding]) -> dict[str, tuple[str, list[str]]]:
    reg = parse_registry(REG, "agents.yaml")
    agents = correlate(findings)
    compare(agents, {f.id: f for f in findings}, reg, TODAY)
    return {a.approved_id or a.name: (a.status.value, [r.code for r in a.reasons]) for a in agents}


def test_approved_drift_expired_dormant_and_shadow():
    ok = _statuses([finding("cred:aaaa", "repo:github.com/acme/bot:.", model="gpt-4o-2024-08-06")])
    assert ok["bot"] == ("approved", ["approved"])
    assert ok["old"][0] == "dormant" and "expired" in ok["old"][1]

    drift = _statuses([finding("cred:aaaa", "repo:github.com/acme/bot:.", provider="anthropic",
                               model="claude-sonnet-4-5"),
                       finding("cred:aaaa", "repo:github.com/acme/elsewhere:.")])
    assert drift["bot"][0] == "drift"
    assert {"drift-provider", "drift-model", "drift-location"} <= set(drift["bot"][1])

    expired = _statuses([finding("proc:h:svc:/srv/worker.py")])
    assert expired["old"][0] == "expired"
    shadow = _statuses([finding("cred:ffff", "repo:x:.")])
    assert shadow["x"] == ("shadow", ["unregistered"])


def test_status_is_the_most_severe_reason():
    assert Status.SHADOW.rank > Status.EXPIRED.rank > Status.DRIFT.rank > Status.REVIEW_OVERDUE.rank
    assert Status.REVIEW_OVERDUE.rank > Status.DORMANT.rank > Status.APPROVED.rank


# ---- inventory round trip and diff ------------------------------------------------------------

def test_inventory_json_round_trip_is_lossless():
    from scanner.pipeline import build_inventory
    fs = [finding("cred:aaaa", "repo:github.com/acme/bot:.", model="gpt-4o"), finding("repo:z:.", kind="sdk-usage")]
    inv = build_inventory(fs, [], Catalog.load(), parse_registry(REG, "r.yaml"), TODAY, {"host": "h"})
    text = inv.to_json()
    assert Inventory.from_dict(json.loads(text)).to_json() == text


def test_diff_pairs_agents_by_shared_key_when_the_id_changed():
    before = Inventory(agents=correlate([finding("cred:aaaa")]), findings=[], coverage=[])
    after = Inventory(agents=correlate([finding("cred:aaaa", "repo:github.com/acme/bot:.")]), findings=[], coverage=[])
    d = diff(before, after)
    assert not d.new and not d.gone and len(d.changed) == 1


DECLARED = {i.name: i.options for i in list_detectors() if i.cls is not None}


# ---- config -----------------------------------------------------------------------------------

def test_config_precedence_cli_over_env_over_file_over_defaults(tmp_path: Path):
    cfg_file = tmp_path / "ci.toml"
    cfg_file.write_text(
        'registry = "reg.yaml"\nfail-on = "drift"\ntimeout = 5\npaths = ["src"]\n[detectors.repo]\nhistory = true\n')
    env = {"HOME": str(tmp_path)}
    cfg = resolve({}, env=env, cwd=tmp_path, config_path=str(cfg_file), declared=DECLARED)
    assert cfg.registry == str(tmp_path / "reg.yaml") and cfg.fail_on == "drift" and cfg.timeout == 5
    assert cfg.paths == [str(tmp_path / "src")] and cfg.detector_options == {"repo": {"history": True}}
    cfg = resolve({}, env={**env, "SHADOW_AGENTS_FAIL_ON": "expired", "SHADOW_AGENTS_STRICT": "true",
                           "SHADOW_AGENTS_CONFIG": str(cfg_file)}, cwd=tmp_path, declared=DECLARED)
    assert cfg.fail_on == "expired" and cfg.strict is True
    cfg = resolve({"fail_on": "none"}, env={**env, "SHADOW_AGENTS_FAIL_ON": "expired"}, cwd=tmp_path,
                  config_path=str(cfg_file), declared=DECLARED)
    assert cfg.fail_on == "none"
    assert resolve({}, env=env, cwd=tmp_path, declared=DECLARED).fail_on == "shadow"


def test_pyproject_section_and_errors(tmp_path: Path):
    env = {"HOME": str(tmp_path)}
    (tmp_path / "pyproject.toml").write_text('[tool.shadow-agents]\ndetectors = ["network"]\n')
    cfg = resolve({}, env=env, cwd=tmp_path, declared=DECLARED, offline={"network"})
    assert cfg.detectors == [] and cfg.extra_detectors == ["network"]  # added to the defaults, not replacing them
    bad = tmp_path / "bad.toml"
    bad.write_text('registy = "x"\n')
    with pytest.raises(UserError, match="did you mean 'registry'"):
        resolve({}, env=env, cwd=tmp_path, config_path=str(bad), declared=DECLARED)
    with pytest.raises(UserError, match="DETECTOR.OPTION=VALUE"):
        parse_set_options(["history"])
    assert parse_set_options(["repo.max-file-size=10", "net.iface=eth0"]) == {
        "repo": {"max_file_size": "10"}, "net": {"iface": "eth0"}}


# ---- identity ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url,expected", [
    ("git@github.com:acme/bot.git", "github.com/acme/bot"),
    ("https://user:tok@github.com/acme/bot.git", "github.com/acme/bot"),
    ("ssh://git@gitlab.example.com:2222/team/bot", "gitlab.example.com/team/bot"),
])
def test_remote_urls_normalise_without_credentials(url, expected):
    assert identity.normalise_remote(url) == expected


@pytest.mark.parametrize("value,expected", [("10MB", 10_000_000), ("512KiB", 524_288), (2048, 2048), ("3", 3)])
def test_sizes(value, expected):
    from scanner.config import parse_size
    assert parse_size(value) == expected


@pytest.mark.parametrize("value,expected", [("5m", 300), ("30s", 30), ("1h", 3600), (90, 90), ("7d", 604800)])
def test_durations(value, expected):
    from scanner.config import parse_duration
    assert parse_duration(value) == expected


@pytest.mark.parametrize("bad", ["ten", "5 parsecs", "-3", True, "0"])
def test_bad_sizes_and_durations_are_user_errors(bad):
    from scanner.config import parse_duration, parse_size
    with pytest.raises(UserError):
        parse_size(bad)
    with pytest.raises(UserError):
        parse_duration(bad)


def test_detector_option_units_are_normalised_when_config_resolves(tmp_path: Path):
    cfg = resolve({"detector_options": {"repo": {"max_file_size": "1MB"}, "network": {"duration": "2m"}}},
                  env={"HOME": str(tmp_path)}, cwd=tmp_path, declared=DECLARED)
    assert cfg.detector_options == {"repo": {"max_file_size": 1_000_000}, "network": {"duration": 120.0}}
    with pytest.raises(UserError, match="repo.max_file_size"):
        resolve({"detector_options": {"repo": {"max_file_size": "big"}}}, env={"HOME": str(tmp_path)}, cwd=tmp_path,
                declared=DECLARED)


def test_dormant_record_found_later_is_changed_not_gone_plus_new():
    from scanner.pipeline import build_inventory
    reg = parse_registry(REG, "r.yaml")
    before = build_inventory([], [], Catalog.load(), reg, TODAY, {})
    after = build_inventory([finding("cred:aaaa", "repo:github.com/acme/bot:.")], [], Catalog.load(), reg, TODAY, {})
    d = diff(before, after)
    assert not d.gone and not d.new
    assert any(b.approved_id == "bot" and "status dormant → approved" in what for _a, b, what in d.changed)


def test_scrub_covers_secrets_before_and_after_the_pattern_is_rebuilt():
    keys = [make_key("mistral", 1000 + i) for i in range(300)]  # formatless: only memory can scrub them
    for i, key in enumerate(keys):
        redact.credential(key)
        if i % 37 == 0:  # scrub while secrets are still arriving
            assert key not in redact.scrub(f"log line with {key}")
    text = redact.scrub(" ".join(keys))
    assert not any(k in text for k in keys)


@pytest.mark.parametrize("key,name", [
    ("net:10.0.0.5:t13d1811h2_8b80da21ef18_02713d6af862", "10.0.0.5 (TLS client t13d1811h2)"),
    ("net:fe80::1:ua-1a2b3c", "fe80::1 (HTTP client)"),
    ("repo:github.com/acme/bot:services/sum", "bot/services/sum"),
    ("shell:h1:alice", "shell environment of alice@h1"),
])
def test_agent_names_from_identity_keys(key, name):
    assert identity.describe(key) == name


def test_published_ranges_attribute_addresses(catalog):
    import ipaddress
    assert catalog.provider_for_address("160.79.104.10") == ("anthropic", "160.79.104.0/23")
    assert catalog.provider_for_address("::ffff:160.79.105.1")[0] == "anthropic"
    assert catalog.provider_for_address(ipaddress.ip_address("2607:6bc0::5").packed)[0] == "anthropic"
    assert catalog.provider_for_address("8.8.8.8") is None
    assert catalog.provider_for_address("not-an-ip") is None


@pytest.mark.parametrize("path,fmt", [("out.cdx.json", "cyclonedx"), ("scan.json", "json"), ("r.SARIF", "sarif"),
                                      ("t.jsonl", "jsonl"), ("x.unknown", None)])
def test_format_guessed_from_the_longest_matching_extension(path, fmt):
    from scanner.plugins import format_for_extension
    assert format_for_extension(path) == fmt


# ---- finding kinds: call-capable or descriptive, declared once -------------------------------------

def test_every_kind_a_detector_makes_is_declared_once():
    """A kind nobody declared would form agents by default: each one the detectors write is in the table."""
    from scanner.model import FINDING_KINDS
    literal = re.compile(r'(?:Hit\(|finding\(|(?<!\w)kind=|agg\.add\([^,]+, |(?<!\w)kind[\w, ]* = \(?)"([a-z][a-z-]+)"')
    either = re.compile(r'(?:Hit\(|finding\(|kind = |agg\.add\([^,]+, )"([a-z][a-z-]+)" if [\w.= "-]+ else "([a-z][a-z-]+)"')
    made = set()
    for path in (Path(__file__).resolve().parents[1] / "detectors").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        made |= set(literal.findall(text)) | {k for pair in either.findall(text) for k in pair}
    not_kinds = {"module-imports", "high", "medium", "low", "code", "config", "zeek-"}  # a note, confidences, places
    made -= not_kinds
    assert {"credential", "sdk-usage", "sdk-import", "endpoint", "process", "tls-sni", "mcp-server"} <= made
    from scanner import keyhints
    made |= {keyhints.LISTED_KIND, keyhints.USAGE_KIND}  # the admin detectors' kinds, named by constants
    assert made <= set(FINDING_KINDS), sorted(made - set(FINDING_KINDS))


def test_places_and_item_kinds_match_the_published_schema():
    import json as _json
    from importlib import resources
    from scanner.model import PLACES, ItemKind
    schema = _json.loads(resources.files("scanner.data").joinpath("inventory.schema.json").read_text())
    assert tuple(schema["$defs"]["finding"]["properties"]["place"]["enum"]) == PLACES
    assert schema["$defs"]["agent"]["properties"]["kind"]["enum"] == [k.value for k in ItemKind]


def test_what_a_finding_forms_is_its_kind_s_declaration_at_its_place_for_every_kind_and_place():
    from scanner.model import FINDING_KINDS, PLACES, Finding, Location, finding_kind
    for kind in [*FINDING_KINDS, "a-plugin-kind"]:
        for place in (*PLACES, None):
            for location in (Location(path="/r/a.py"), Location(host="h", pid=1)):
                f = Finding(detector="d", kind=kind, location=location, identity=["x:y"], evidence="e", place=place)
                where = place if place is not None or not location.path else "code"
                declared = finding_kind(kind)
                for _ in range(2):  # worked out once, then remembered: the same both times
                    assert f.forms == declared.forms_item(where)
                    assert f.strength[:2] == (declared.forms_item(where) is not None, declared.strength)


def test_place_and_item_kind_round_trip_and_decide_what_forms():
    from scanner.model import Agent, Finding, ItemKind, Location
    f = Finding(detector="repo", kind="sdk-usage", location=Location(path="/r/a.py", line=2), identity=["repo:r:."],
                evidence="calls openai", place="test")
    back = Finding.from_dict(f.to_dict())
    assert back.place == "test" and back.forms is None  # call-capable kind, but only in a test: describes
    assert Finding.from_dict({**f.to_dict(), "place": "code"}).forms == ItemKind.AGENT
    legacy = {k: v for k, v in f.to_dict().items() if k != "place"}
    assert Finding.from_dict(legacy).forms == ItemKind.AGENT  # a file finding from before places counts as code
    installed = Finding(detector="process", kind="sdk-usage", location=Location(host="h", pid=1), identity=["proc:h:u:p"],
                        evidence="openai installed")
    assert installed.forms is None  # an SDK installed where a program runs is no call
    agent = Agent(id="a", name="n", identity=[], findings=[], kind=ItemKind.MCP_SERVER)
    assert Agent.from_dict(agent.to_dict()).kind == ItemKind.MCP_SERVER
    with pytest.raises(ValueError):
        Finding(detector="repo", kind="credential", location=Location(), identity=[], evidence="", place="attic")


def _build_agent_field_by_field(group):  # type: ignore[no-untyped-def]
    """build_agent as first written: each field gathered by a generator of its own."""
    from scanner.correlate import anchor_key, strongest_first
    from scanner.model import Agent, stable_hash, unique_sorted
    group = strongest_first(group)
    keys = unique_sorted(k for f in group for k in f.identity)
    anchor = anchor_key(keys) or f"finding:{group[0].id}"
    spend: dict[str, float] = {}
    for f in group:
        if f.cost is not None:
            spend[f.currency or "USD"] = spend.get(f.currency or "USD", 0.0) + f.cost
    seen = unique_sorted(f.observed_at for f in group)
    return Agent(id=stable_hash(anchor, length=12), name=identity.describe(anchor), identity=keys,
                 findings=[f.id for f in group], providers=unique_sorted(f.provider for f in group),
                 models=unique_sorted(f.model for f in group),
                 owners=unique_sorted(k.split(":", 1)[1] for k in keys if identity.key_type(k) == "owner"),
                 detectors=unique_sorted(f.detector for f in group), kinds=unique_sorted(f.kind for f in group),
                 locations=unique_sorted(f.location.describe() for f in group),
                 first_seen=seen[0] if seen else None, last_seen=seen[-1] if seen else None, spend=spend)


_maybe = st.sampled_from([None, "", "openai", "anthropic", "mistral"])
_finding_strategy = st.builds(
    lambda kind, provider, model, key, owner, path, line, seen, cost, currency: Finding(
        detector="repo" if line else "process", kind=kind, location=Location(path=path, line=line) if path else Location(host="h", pid=line),
        identity=[k for k in (key, owner) if k], evidence="e", provider=provider, model=model, observed_at=seen,
        cost=cost, currency=currency),
    st.sampled_from(["credential", "sdk-usage", "model-reference", "endpoint", "env-var"]), _maybe, _maybe,
    st.sampled_from([None, "cred:abcd1234", "repo:/r:.", "proc:h:u:p", ""]), st.sampled_from([None, "owner:ann", "owner:bo"]),
    st.sampled_from([None, "", "/r/a.py", "/r/b.py"]), st.sampled_from([None, 0, 1, 7]),
    st.sampled_from([None, "", "2026-01-02T00:00:00Z", "2025-05-05T00:00:00Z"]),
    st.sampled_from([None, 0.0, 1.25, 3.5]), st.sampled_from([None, "", "USD", "EUR"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_finding_strategy, min_size=1, max_size=6))
def test_build_agent_in_one_pass_is_the_agent_each_field_by_itself_gives(group) -> None:  # type: ignore[no-untyped-def]
    from scanner.correlate import build_agent
    assert build_agent(group).to_dict() == _build_agent_field_by_field(group).to_dict()
