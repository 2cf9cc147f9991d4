"""A config file found in the scanned directory may only widen the scan (issue: hostile repositories).

Every case runs the installed console script in a directory holding a hostile config,
the way the README's default ``shadow-agents scan`` is run inside a repository.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scanner.redact import fingerprint
from tests.keys import make_key

KEY = make_key("openai-project", 7)
OLD_KEY = make_key("anthropic-api", 8)


@pytest.fixture
def repo(workdir: Path) -> Path:
    (workdir / ".env").write_text(f"OPENAI_API_KEY={KEY}\n")
    return workdir


def _hostile(outside: Path, registry: Path) -> str:
    return f"""
detectors = ["env", "aws-billing"]
exclude-detectors = ["repo", "env", "process"]
fail-on = "none"
output = "{outside}"
format = "table"
registry = "{registry}"
baseline = "{registry}"
catalog = ["{registry}"]
timeout = 0.001
quiet = true
paths = ["/etc", "sub"]
[detector-options.repo]
respect-gitignore = true
max-file-size = 1
history = true
"""


@pytest.mark.parametrize("config_name", ["shadow-agents.toml", "pyproject.toml"])
def test_implicit_config_cannot_disable_weaken_or_redirect(run_cli, repo, tmp_path, config_name):
    outside = tmp_path / "outside.json"
    registry = tmp_path / "approve-everything.yaml"
    registry.write_text("version: 1\nagents: []\n")
    (repo / "sub").mkdir()
    text = _hostile(outside, registry)
    if config_name == "pyproject.toml":
        text = "[project]\nname = 'x'\n" + text.replace("\n[detector-options.repo]", "\n[tool.shadow-agents.detector-options.repo]")
        text = text.replace('\ndetectors = ["env"', '\n[tool.shadow-agents]\ndetectors = ["env"', 1)
    (repo / config_name).write_text(text)
    r = run_cli("scan", "-d", "repo", "-d", "env", "-f", "json")
    assert r.code == 1, r.err  # the shadow agent still fails the run
    assert not outside.exists()
    inv = r.json()  # the report went to stdout, as JSON, not to the hostile output path
    assert any(f"cred:{fingerprint(KEY)}" in a["identity"] for a in inv["agents"])
    assert {c["detector"] for c in inv["coverage"]} == {"repo", "env"}  # nothing removed, no cloud detector added
    cov_text = str(inv["coverage"])
    assert "timed out" not in cov_text and "max_file_size" not in cov_text, cov_text  # no 0.001 s, no 1-byte limit
    meta = inv["metadata"]
    assert meta["paths"] == [str(repo), str(repo / "sub")], meta  # /etc refused, sub added
    assert meta["registry"] is None and meta["baseline"] is None
    assert meta["config_files"] == [{"path": str(repo / config_name), "trust": "implicit"}]
    refused = "\n".join(meta["config_refused"])
    for what in ("exclude-detectors", "fail-on 'none'", "output", "format", "registry", "baseline", "catalog",
                 "timeout", "quiet", "paths '/etc'", "detectors 'aws-billing'", "[detectors.repo] respect_gitignore",
                 "[detectors.repo] max_file_size"):
        assert what in refused, what
    assert "history" not in refused  # history only widens the scan: allowed
    assert "warning:" in r.err and "exclude-detectors" in r.err and "found in the current directory" in r.err


def test_implicit_config_may_widen_the_scan(run_cli, workdir):
    subprocess.run(["git", "init", "-q", str(workdir)], check=True)
    (workdir / "app.py").write_text(f'ANTHROPIC_API_KEY = "{OLD_KEY}"\n')
    git = ["git", "-C", str(workdir), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "app.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "add"], check=True)
    (workdir / "app.py").write_text("import os\n")
    subprocess.run([*git, "commit", "-qam", "remove"], check=True)
    (workdir / "shadow-agents.toml").write_text('fail-on = "drift"\nstrict = true\n[detectors.repo]\nhistory = true\n')
    r = run_cli("scan", "-d", "repo", "-f", "json")
    inv = r.json()
    assert any(f"cred:{fingerprint(OLD_KEY)}" in a["identity"] for a in inv["agents"]), "history was not scanned"
    assert inv["metadata"]["config_refused"] == []
    assert r.code == 1


def test_implicit_fail_on_stricter_is_kept_and_weaker_is_refused(run_cli, workdir):
    (workdir / "shadow-agents.toml").write_text('fail-on = "none"\n')
    r = run_cli("scan", "-d", "env", "--fail-on", "drift", "-f", "json")
    assert "fail-on 'none'" in "\n".join(r.json()["metadata"]["config_refused"])


def test_explicit_and_user_configs_are_trusted(run_cli, repo, home, tmp_path):
    cfg = tmp_path / "ci.toml"
    cfg.write_text('exclude-detectors = ["env"]\nfail-on = "none"\n')
    r = run_cli("scan", "-d", "env", "-d", "repo", "--config", str(cfg), "-f", "json")
    assert r.code == 0, r.err
    assert {c["detector"] for c in r.json()["coverage"]} == {"repo"}
    assert r.json()["metadata"]["config_files"] == [{"path": str(cfg), "trust": "explicit"}]
    user = home / ".config" / "shadow-agents" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('fail-on = "none"\n')
    r = run_cli("scan", "-d", "env", "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["metadata"]["config_files"] == [{"path": str(user), "trust": "user"}]


def test_a_broken_implicit_config_does_not_stop_the_scan(run_cli, repo):
    (repo / "pyproject.toml").write_text("[tool.shadow-agents\nnot toml")
    r = run_cli("scan", "-d", "env", "-f", "json")
    assert r.code == 1, r.err
    assert any(f"cred:{fingerprint(KEY)}" in a["identity"] for a in r.json()["agents"])
    assert "ignored" in r.err and "invalid TOML" in r.err
    (repo / "pyproject.toml").write_text('[tool.shadow-agents]\n[tool.shadow-agents.detectors.repo]\nhistroy = 1\n')
    r = run_cli("scan", "-d", "env", "-f", "json")
    assert r.code == 1 and "unknown option 'histroy'" in r.err
