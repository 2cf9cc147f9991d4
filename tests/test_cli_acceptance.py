"""End to end through the installed console script: the foundation's acceptance criteria."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from scanner.redact import fingerprint
from tests.keys import make_key

KEY = make_key("openai-project", 1)


@pytest.fixture
def dotenv(workdir: Path) -> Path:
    p = workdir / ".env"
    p.write_text(f"# app settings\nDEBUG=1\nOPENAI_API_KEY={KEY}\n")
    return p


def registry_file(path: Path, records: str) -> Path:
    path.write_text("version: 1\nagents:\n" + records)
    return path


def record(rid: str, fp: str, reviewed: dt.date | None = None, extra: str = "") -> str:
    reviewed = reviewed or dt.date.today()
    return (f"  - id: {rid}\n    name: {rid}\n    owner: alice@example.com\n    provider: openai\n"
            f"    last_reviewed: {reviewed.isoformat()}\n    match:\n      credentials: [{fp}]\n{extra}")


def test_scan_finds_dotenv_key_as_shadow_and_exits_1(run_cli, dotenv):
    r = run_cli("scan", "-f", "json")
    assert r.code == 1, r.err
    inv = r.json()
    # default detectors: env and repo both see the .env key and join on its fingerprint (the
    # process detector may add unrelated agents running on this machine)
    agents = [a for a in inv["agents"] if f"cred:{fingerprint(KEY)}" in a["identity"]]
    assert len(agents) == 1
    assert agents[0]["status"] == "shadow"
    assert {"env", "repo"} <= set(agents[0]["detectors"])
    assert KEY not in r.out and KEY not in r.err


def test_registry_with_fingerprint_approves_and_exits_0(run_cli, dotenv, workdir):
    reg = registry_file(workdir / "agents.yaml", record("billing-bot", fingerprint(KEY)))
    r = run_cli("scan", "-d", "env", "-f", "json", "--registry", str(reg))
    assert r.code == 0, r.out + r.err
    (agent,) = r.json()["agents"]
    assert agent["status"] == "approved"
    assert agent["approved_id"] == "billing-bot"


def test_unmatched_record_is_dormant_and_stale_review_is_overdue(run_cli, dotenv, workdir):
    old = dt.date.today() - dt.timedelta(days=100)
    reg = registry_file(workdir / "agents.yaml",
                        record("billing-bot", fingerprint(KEY), reviewed=old) + record("ghost", "0" * 16))
    r = run_cli("scan", "-d", "env", "-f", "json", "--registry", str(reg))
    statuses = {a["name"]: a["status"] for a in r.json()["agents"]}
    assert statuses["ghost"] == "dormant"
    overdue = [a for a in r.json()["agents"] if a.get("approved_id") == "billing-bot"]
    assert overdue[0]["status"] == "review-overdue"
    assert any(x["code"] == "review-overdue" and old.isoformat() in x["message"] for x in overdue[0]["reasons"])
    assert r.code == 0  # default --fail-on shadow: overdue and dormant do not fail
    assert run_cli("scan", "-d", "env", "-f", "json", "--registry", str(reg), "--fail-on", "review-overdue").code == 1


def test_json_is_deterministic_and_valid_against_schema(run_cli, dotenv):
    a, b = run_cli("scan", "-d", "env", "-f", "json"), run_cli("scan", "-d", "env", "-f", "json")
    da, db = a.json(), b.json()
    assert da["metadata"]["started_at"]  # the run-specific block exists
    da.pop("metadata"), db.pop("metadata")
    assert json.dumps(da, sort_keys=True) == json.dumps(db, sort_keys=True)
    # byte-identical apart from the metadata block
    strip = lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "metadata"}, indent=2)  # noqa: E731
    assert strip(a.out) == strip(b.out)
    schema = json.loads(run_cli("schema").out)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(a.out), schema)


def test_no_raw_key_in_any_format_or_file(run_cli, dotenv, workdir, home):
    anthropic = make_key("anthropic-api", 7)
    (home / ".bashrc").write_text(f'export ANTHROPIC_API_KEY="{anthropic}"\n')
    secrets = [KEY, anthropic]
    formats = [line.split()[0] for line in run_cli("formats").out.splitlines() if line.strip()]
    assert {"json", "jsonl", "table"} <= set(formats)
    for fmt in formats:
        out_file = workdir / f"report.{fmt}"
        r1 = run_cli("scan", "-f", fmt, "-v")
        r2 = run_cli("scan", "-f", fmt, "-o", str(out_file))
        assert r1.out.strip(), fmt
        written = out_file.read_text()
        assert oct(out_file.stat().st_mode & 0o777) == oct(0o600)
        for s in secrets:
            for text in (r1.out, r1.err, r2.out, r2.err, written):
                assert s not in text and s[8:40] not in text, fmt
    saved = workdir / "saved.json"
    run_cli("scan", "-f", "json", "-o", str(saved))
    for fmt in formats:
        r = run_cli("report", str(saved), "-f", fmt)
        assert r.code == 0 and all(s not in r.out + r.err for s in secrets)


@pytest.mark.parametrize("content,needle", [
    ("agents:\n  - id: a\n    owner: [unclosed\n", "invalid YAML"),
    ("agents:\n  - id: a\n    name: A\n", "missing required field 'owner'"),
    ("agents:\n  - id: a\n    owner: bob\n    ownr: x\n", "unknown field 'ownr'"),
])
def test_malformed_registry_exit_2_with_file_and_line(run_cli, workdir, content, needle):
    reg = workdir / "bad.yaml"
    reg.write_text(content)
    r = run_cli("scan", "--registry", str(reg), "-f", "json")
    assert r.code == 2
    assert needle in r.err
    assert f"{reg}:" in r.err and "Traceback" not in r.err
    line = r.err.split(f"{reg}:", 1)[1].split(":", 1)[0]
    assert line.isdigit() and int(line) >= 2
    check = run_cli("registry", "check", str(reg))
    assert check.code == 2 and needle in check.err


def test_unknown_detector_or_format_lists_valid_names(run_cli):
    r = run_cli("scan", "-d", "nope")
    assert r.code == 2 and "env" in r.err and "Traceback" not in r.err
    r = run_cli("scan", "-f", "yaml")
    assert r.code == 2 and "json" in r.err and "jsonl" in r.err and "table" in r.err


def test_missing_path_and_bad_inventory_exit_2(run_cli, workdir):
    r = run_cli("scan", "-p", str(workdir / "nowhere"))
    assert r.code == 2 and "does not exist" in r.err
    (workdir / "x.json").write_text("{not json")
    r = run_cli("report", str(workdir / "x.json"))
    assert r.code == 2 and "not JSON" in r.err and "Traceback" not in r.err


PLUGIN = '''
import time
from detectors.base import Detector, DetectorError

class BadInput(Detector):
    name = "badinput"
    description = "rejects its input"
    def run(self, ctx):
        raise DetectorError("capture.pcap: not a capture file")
        yield

class Boom(Detector):
    name = "boom"
    description = "raises"
    def run(self, ctx):
        raise RuntimeError("kaboom: leaked {key}")
        yield

class Sleepy(Detector):
    name = "sleepy"
    description = "never finishes"
    def run(self, ctx):
        time.sleep(60)
        yield
'''


def _install_plugin(root: Path, key: str) -> dict[str, str]:
    root.mkdir()
    (root / "boom_plugin.py").write_text(PLUGIN.replace("{key}", key))
    dist = root / "boom_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: boom-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[shadow_agents.detectors]\nboom = boom_plugin:Boom\nsleepy = boom_plugin:Sleepy\n"
        "badinput = boom_plugin:BadInput\n")
    return {"PYTHONPATH": str(root)}


def test_raising_and_hanging_plugins_are_isolated(run_cli, dotenv, tmp_path):
    env = _install_plugin(tmp_path / "plugin", KEY)
    r = run_cli("scan", "-d", "env", "-d", "boom", "-d", "sleepy", "--timeout", "2", "-f", "json", env=env)
    assert r.code == 1, r.err  # the env detector's shadow agent still counts
    inv = r.json()
    cov = {c["detector"]: c for c in inv["coverage"]}
    assert cov["boom"]["status"] == "failed" and "kaboom" in cov["boom"]["reason"]
    assert cov["sleepy"]["status"] == "failed" and "timed out" in cov["sleepy"]["reason"]
    assert cov["env"]["status"] == "ran"
    assert any("openai" in a.get("providers", []) for a in inv["agents"])
    assert KEY not in r.out + r.err  # the plugin's error message carried the key; it was scrubbed
    strict = run_cli("scan", "-d", "env", "-d", "boom", "--strict", "-f", "json", env=env)
    assert strict.code == 3
    bad = run_cli("scan", "-d", "env", "-d", "badinput", "-f", "json", env=env)
    assert bad.code == 2 and "badinput: capture.pcap: not a capture file" in bad.err
    assert any("openai" in a.get("providers", []) for a in bad.json()["agents"])  # nothing found is lost
    listing = run_cli("detectors", "--json", env=env)
    assert {d["name"] for d in json.loads(listing.out)} >= {"env", "boom", "sleepy"}


def test_report_diff_merge_round_trip(run_cli, dotenv, workdir):
    first = workdir / "first.json"
    assert run_cli("scan", "-d", "env", "-f", "json", "-o", str(first)).code == 1
    again = run_cli("report", str(first), "-f", "json")
    assert json.loads(again.out) == json.loads(first.read_text())

    same = run_cli("diff", str(first), str(first))
    assert same.code == 0 and "0 new, 0 gone, 0 changed" in same.out

    # a second key appears: one new agent in the diff and with --baseline
    other = workdir / "svc"
    other.mkdir()
    (other / ".env").write_text(f"GROQ_API_KEY={make_key('groq', 3)}\n")
    second = workdir / "second.json"
    run_cli("scan", "-d", "env", "-p", ".", "-p", "svc", "-f", "json", "-o", str(second))
    d = json.loads(run_cli("diff", str(first), str(second), "-f", "json").out)
    assert len(d["new"]) == 1 and d["gone"] == []
    base = run_cli("scan", "-d", "env", "-p", ".", "-p", "svc", "--baseline", str(first), "--fail-on", "new", "-f", "json")
    assert base.code == 1
    changes = {a["name"]: a.get("change") for a in base.json()["agents"]}
    assert sorted(changes.values()) == ["new", "unchanged"]
    unchanged = run_cli("scan", "-d", "env", "--baseline", str(first), "--fail-on", "new", "-f", "json")
    assert unchanged.code == 0

    merged = run_cli("merge", str(first), str(second))
    inv = merged.json()
    assert merged.code == 0 and len(inv["agents"]) == 2
    assert len(inv["metadata"]["merged_from"]) == 2
    assert {f["id"] for f in inv["findings"]} == {f["id"] for f in json.loads(second.read_text())["findings"]}


def test_registry_init_produces_a_registry_that_approves_the_scan(run_cli, dotenv, workdir):
    scan = workdir / "scan.json"
    run_cli("scan", "-d", "env", "-f", "json", "-o", str(scan))
    reg = workdir / "agents.yaml"
    r = run_cli("registry", "init", "--from", str(scan), "-o", str(reg))
    assert r.code == 0, r.err
    assert run_cli("registry", "check", str(reg)).code == 0
    again = run_cli("scan", "-d", "env", "-f", "json", "--registry", str(reg))
    assert again.code == 0, again.out
    assert {a["status"] for a in again.json()["agents"]} == {"approved"}


def test_table_is_default_report_and_help_has_examples(run_cli, dotenv):
    r = run_cli("scan", "-f", "table")
    assert "shadow" in r.out and "openai" in r.out
    assert "agent" in r.out.splitlines()[0]
    for cmd in (["scan"], ["report"], ["diff"], ["merge"], ["detectors"], ["formats"], ["schema"],
                ["registry", "init"], ["registry", "check"]):
        h = run_cli(*cmd, "--help")
        assert h.code == 0 and "Example" in h.out, cmd
    assert run_cli("--version").out.startswith("shadow-agents ")


def test_python_dash_m_scanner_works(home, workdir, dotenv):
    import subprocess
    import sys

    from tests.conftest import clean_environ
    p = subprocess.run([sys.executable, "-m", "scanner", "scan", "-f", "json", "-q"], cwd=workdir,
                       env=clean_environ(home), capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and json.loads(p.stdout)["agents"]


def test_registry_add_appends_one_validated_record(run_cli, dotenv, workdir):
    scan = workdir / "scan.json"
    run_cli("scan", "-d", "env", "-f", "json", "-o", str(scan))
    agent = json.loads(scan.read_text())["agents"][0]
    reg = workdir / "agents.yaml"
    r = run_cli("registry", "add", agent["findings"][0], "--from", str(scan), "--registry", str(reg),
                "--owner", "dana@example.com")
    assert r.code == 0, r.err
    assert "registry add" in agent["remediation"] and agent["id"] in agent["remediation"]
    assert "dana@example.com" in reg.read_text()
    assert oct(reg.stat().st_mode & 0o777) == oct(0o600)
    again = run_cli("registry", "add", agent["id"], "--from", str(scan), "--registry", str(reg))
    assert again.code == 2 and "already matches" in again.err
    assert run_cli("scan", "-d", "env", "-f", "json", "--registry", str(reg)).code == 0
    assert run_cli("registry", "add", "nope", "--from", str(scan), "--registry", str(reg)).code == 2
