"""AWS keys count only next to Bedrock use: in a repository, an environment, a running program."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detectors.base import ScanContext
from detectors.env import EnvDetector
from scanner.catalog import Catalog
from scanner.model import Coverage
from scanner.redact import fingerprint
from tests.conftest import CLI, clean_environ
from tests.keys import make_key
from tests.test_repo_support import commit_all, credentials, init_repo, scan, write

ACCESS_KEY = make_key("aws-access-key-id", 1)
SECRET_KEY = make_key("aws-secret-access-key", 1)
AWS_ENV = f"AWS_ACCESS_KEY_ID={ACCESS_KEY}\nAWS_SECRET_ACCESS_KEY={SECRET_KEY}\n"
GATED = "keys_not_next_to_provider_use"


def test_catalogue_marks_aws_keys_as_needing_bedrock_use() -> None:
    catalog = Catalog.load()
    fmt = catalog.key_format_of_match(catalog.key_regex.search(f"x={ACCESS_KEY}"))
    assert (fmt.id, fmt.provider) == ("aws-access-key-id", "aws-bedrock")
    assert catalog.requires_usage("aws-access-key-id") and catalog.requires_usage("aws-secret-access-key")
    assert not catalog.requires_usage("anthropic-api") and not catalog.requires_usage(None)
    assert catalog.classify_secret(SECRET_KEY, "aws-bedrock").id == "aws-secret-access-key"
    assert catalog.classify_secret(SECRET_KEY) is None  # formatless: only by its variable


@pytest.mark.parametrize("usage_file,usage", [
    ("bot/app.py", 'import boto3\nbrt = boto3.client("bedrock-runtime", region_name="us-east-1")\n'),
    ("bot/app.py", "from langchain_aws import ChatBedrock\n"),
    ("bot/model.py", 'MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"\n'),
    ("bot/ai.ts", "import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime'\n"),
    ("bot/cfg.py", 'URL = "https://bedrock-runtime.eu-west-1.amazonaws.com"\n'),
])
def test_aws_keys_in_a_repository_that_uses_bedrock_are_reported(tmp_path: Path, usage_file: str, usage: str) -> None:
    repo = init_repo(tmp_path / "r", remote="git@github.com:acme/r.git")
    write(repo / "deploy" / ".env", AWS_ENV)
    write(repo / usage_file, usage)
    findings, cov = scan(repo)
    found = credentials(findings)
    assert set(found) == {fingerprint(ACCESS_KEY), fingerprint(SECRET_KEY)}
    for f in found.values():
        assert f.provider == "aws-bedrock" and usage_file in f.details["next_to"]
        assert "next to:" in f.evidence
    assert found[fingerprint(SECRET_KEY)].details["assigned_to"] == "AWS_SECRET_ACCESS_KEY"
    assert GATED not in cov.scanned
    dump = json.dumps([f.to_dict() for f in findings])
    assert ACCESS_KEY not in dump and SECRET_KEY not in dump


def test_aws_keys_without_bedrock_use_are_only_counted(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    write(repo / "terraform.tfvars", f'access_key = "{ACCESS_KEY}"\n')
    write(repo / ".aws" / "credentials", f"[default]\naws_secret_access_key = {SECRET_KEY}\n")
    write(repo / "s3.py", 'import boto3\ns3 = boto3.client("s3")\n')
    findings, cov = scan(repo)
    assert credentials(findings) == {}
    assert cov.scanned[GATED] == 2


def test_bedrock_use_in_another_repository_does_not_count(tmp_path: Path) -> None:
    keys = init_repo(tmp_path / "src" / "infra", remote="https://github.com/acme/infra.git")
    write(keys / ".env", AWS_ENV)
    bot = init_repo(tmp_path / "src" / "bot", remote="https://github.com/acme/bot.git")
    write(bot / "app.py", "from langchain_aws import ChatBedrock\n")
    findings, cov = scan(tmp_path / "src")
    assert credentials(findings) == {} and cov.scanned[GATED] == 2


def test_removed_aws_key_is_found_in_history_when_bedrock_is_used_now(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    write(repo / "app.py", 'import boto3\nclient = boto3.client(service_name="bedrock-runtime")\n')
    write(repo / "settings.py", f'AWS_KEY = "{ACCESS_KEY}"\n')
    commit_all(repo, "key")
    write(repo / "settings.py", "import os\nAWS_KEY = os.environ['AWS_ACCESS_KEY_ID']\n")
    commit_all(repo, "remove key")
    findings, _ = scan(repo, history=True)
    f = credentials(findings)[fingerprint(ACCESS_KEY)]
    assert f.risks == ["in-history"] and "app.py" in f.details["next_to"]


def run_env(paths: list[Path]) -> tuple[list, Coverage]:
    cov = Coverage(detector="env")
    ctx = ScanContext(detector="env", catalog=Catalog.load(), paths=paths, options={}, coverage=cov,
                      hostname="h1", username="alice")
    return list(EnvDetector().run(ctx)), cov


def test_env_reports_aws_keys_only_where_bedrock_is_configured(clean_env, home: Path, tmp_path: Path,
                                                                monkeypatch) -> None:
    plain, bedrock = tmp_path / "plain", tmp_path / "bedrock"
    write(plain / ".env", AWS_ENV)
    write(bedrock / ".env", AWS_ENV + "CLAUDE_CODE_USE_BEDROCK=1\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", make_key("aws-access-key-id", 2))  # the shell: no Bedrock variable
    findings, cov = run_env([plain, bedrock])
    creds = [f for f in findings if f.credential]
    assert {f.location.path for f in creds} == {str(bedrock / ".env")}
    assert {f.credential.fingerprint for f in creds} == {fingerprint(ACCESS_KEY), fingerprint(SECRET_KEY)}
    assert all("CLAUDE_CODE_USE_BEDROCK" in f.details["next_to"] for f in creds)
    assert cov.scanned[GATED] == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="planted process tables need Linux")
def test_process_with_aws_keys_reported_only_when_it_also_uses_bedrock(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from process_bench import Holder

    sleep = shutil.which("sleep") or "/bin/sleep"
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    other = make_key("aws-access-key-id", 3)
    backup = tmp_path / "bin" / "nightly-backup"  # another program: a program is the unit here
    backup.parent.mkdir()
    shutil.copy2(sleep, backup)
    agent = tmp_path / "bin" / f"bedrock-agent-{os.getpid()}"  # a name no other program on the host has
    shutil.copy2(sleep, agent)
    specs = [
        {"argv": [str(agent), "601"], "env": {**base, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "CLAUDE_CODE_USE_BEDROCK": "1"}},
        {"argv": [str(backup), "602"], "env": {**base, "AWS_ACCESS_KEY_ID": other, "AWS_REGION": "us-east-1"}},
    ]
    home = tmp_path / "home"
    home.mkdir()
    with Holder(specs) as started:
        time.sleep(0.2)
        cmd = [CLI] if CLI else [sys.executable, "-m", "scanner"]
        p = subprocess.run([*cmd, "scan", "-d", "process", "-f", "json"], env=clean_environ(home),
                           capture_output=True, text=True, timeout=120, cwd=home)
    assert p.returncode in (0, 1), p.stderr
    report = json.loads(p.stdout)
    pids = {s["pid"] for s in started}
    creds = [f for f in report["findings"] if f["kind"] == "credential" and pids & set(f["details"]["pids"])]
    assert [f["credential"]["fingerprint"] for f in creds] == [fingerprint(ACCESS_KEY)]
    assert "CLAUDE_CODE_USE_BEDROCK" in creds[0]["details"]["next_to"]
    process_cov = next(c for c in report["coverage"] if c["detector"] == "process")
    assert process_cov["scanned"].get(GATED, 0) >= 1
    assert ACCESS_KEY not in p.stdout + p.stderr and other not in p.stdout + p.stderr
