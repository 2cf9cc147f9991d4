"""Finding and agent ids of the repo detector do not depend on where a clone sits on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.keys import make_key
from tests.test_repo_support import commit_all, init_repo, write


def test_two_clones_at_different_paths_give_the_same_ids(tmp_path: Path, run_cli) -> None:
    repo = init_repo(tmp_path / "laptop" / "bot", remote="git@github.com:acme/bot.git")
    write(repo / "pyproject.toml", '[project]\nname = "bot"\ndependencies = ["anthropic"]\n')
    write(repo / "bot" / "main.py", f'import anthropic\nKEY = "{make_key("anthropic-api", 40)}"\n')
    commit_all(repo, "init")
    write(repo / "bot" / "main.py", "import anthropic\n")
    commit_all(repo, "drop key")
    runner = tmp_path / "ci-runner" / "builds" / "1234" / "bot"
    shutil.copytree(repo, runner)

    def ids(path: Path) -> tuple[set[str], set[str], set[str]]:
        report = run_cli("scan", "-d", "repo", "--history", "-p", str(path), "-f", "json").json()
        paths = {f["location"]["path"] for f in report["findings"]}
        return {f["id"] for f in report["findings"]}, {a["id"] for a in report["agents"]}, paths

    (laptop_findings, laptop_agents, laptop_paths), (ci_findings, ci_agents, ci_paths) = ids(repo), ids(runner)
    assert laptop_findings and laptop_findings == ci_findings
    assert laptop_agents == ci_agents
    assert laptop_paths != ci_paths  # locations still say where the file is on this machine
