"""The CI templates: valid workflow files, and the commands they run work as the templates use them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.keys import make_key

ROOT = Path(__file__).resolve().parents[1]
GITHUB = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"


@pytest.mark.parametrize("path,schema", [(GITHUB, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")])
def test_templates_validate_against_the_published_schemas(path: Path, schema: str):
    exe = shutil.which("check-jsonschema")
    if exe is None:
        pytest.skip("needs check-jsonschema (pip install check-jsonschema)")
    r = subprocess.run([exe, "--builtin-schema", schema, str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _project(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    (repo / "bot").mkdir(parents=True)
    (repo / "bot" / "pyproject.toml").write_text("[project]\nname = 'bot'\ndependencies = ['openai']\n")
    (repo / "bot" / "main.py").write_text(f'import openai\nclient = openai.OpenAI(api_key="{make_key("openai-project", 70)}")\n')
    _commit(repo, "bot")
    return repo


def _commit(repo: Path, message: str) -> None:
    git = ["git", "-C", str(repo), "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", message], check=True)


def _add_second_agent(repo: Path) -> None:
    (repo / "summarizer").mkdir()
    (repo / "summarizer" / "package.json").write_text('{"name": "summarizer", "dependencies": {"@anthropic-ai/sdk": "^0.30"}}\n')
    (repo / "summarizer" / "index.js").write_text(
        f'const Anthropic = require("@anthropic-ai/sdk");\nconst c = new Anthropic({{apiKey: "{make_key("anthropic-api", 71)}"}});\n')
    _commit(repo, "summarizer")


def _env(home: Path) -> dict[str, str]:
    from tests.conftest import clean_environ
    return clean_environ(home)


def test_github_workflow_commands_record_a_baseline_then_fail_only_on_new_agents(tmp_path: Path, home: Path):
    steps = yaml.safe_load(GITHUB.read_text())["jobs"]["inventory"]["steps"]
    scan_step = next(s for s in steps if s.get("id") == "scan")
    fail_step = next(s for s in steps if s.get("name") == "Fail on new shadow agents")
    repo = _project(tmp_path)
    env = _env(home)

    def run_scan() -> str:
        out = tmp_path / "github_output"
        out.write_text("")
        subprocess.run(["bash", "-e", "-c", scan_step["run"]], cwd=repo, env={**env, "GITHUB_OUTPUT": str(out)},
                       check=True, timeout=300)
        code = dict(line.split("=", 1) for line in out.read_text().split())["code"]
        final = fail_step["run"].replace("${{ steps.scan.outputs.code }}", code)
        return str(subprocess.run(["bash", "-c", final], cwd=repo).returncode)

    assert run_scan() == "0"  # first run: the baseline is recorded, nothing fails
    for name in ("scan.json", "results.sarif", "shadow-agents.html", "baseline.json"):
        assert (repo / name).is_file(), name
    sarif = json.loads((repo / "results.sarif").read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    assert run_scan() == "0"  # nothing new since the baseline
    _add_second_agent(repo)
    assert run_scan() == "1"  # a new shadow agent fails the job
    assert run_scan() == "0"  # ... once: it is in the next baseline


def test_gitlab_job_script_records_a_baseline_then_fails_only_on_new_agents(tmp_path: Path, home: Path):
    job = yaml.safe_load(GITLAB.read_text())["shadow-agents"]
    script = "\n".join(job["script"])
    repo = _project(tmp_path)
    env = _env(home)

    def run() -> int:
        return subprocess.run(["sh", "-c", script], cwd=repo, env=env, timeout=300).returncode

    assert run() == 0
    assert (repo / "baseline.json").is_file() and (repo / "shadow-agents.html").is_file()
    for path in job["artifacts"]["paths"] + job["cache"]["paths"]:
        assert (repo / path).exists(), path
    _add_second_agent(repo)
    assert run() == 1
    assert run() == 0
