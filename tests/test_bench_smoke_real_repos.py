"""The real-repositories benchmark: its smoke run end to end, and its matching rule on hand-made agents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "real_repos.py"
sys.path.insert(0, str(ROOT))

from benchmarks.real_repos import (  # noqa: E402
    Program, Repo, Reported, checkout_commands, load_truth, read_aibom, score, totals,
)


def test_real_repos_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    p = subprocess.run([sys.executable, str(BENCH), "--smoke", "--json", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "| ours |" in p.stdout and "https://example.invalid/svc" in p.stdout
    ours = json.loads(out.read_text())["ours"]
    assert ours["total"]["programs"] == 2 and ours["total"]["found"] == 2
    assert ours["total"]["false"] == 0 and ours["total"]["flagged"] == 0 and ours["total"]["non_llm"] == 1
    assert ours["repos"]["svc"]["missed"] == []


def _repo() -> Repo:
    return Repo("r", "https://example.invalid/r", "0" * 40, "test", [
        Program(".", exclude=("web",)),
        Program("worker"),
        Program(".", files=("bot.py", "bot.Dockerfile")),
    ])


def test_matching_rule_counts_found_split_false_and_missed() -> None:
    repo = _repo()
    reported = Reported(agents=[
        ["app.py", "README.md"],                  # root program
        ["worker/run.py", "worker/req.txt"],      # worker
        ["worker/tests/test_run.py"],             # worker again: a split agent
        ["web/src/index.js"],                     # excluded nested frontend: false
        ["chains.py", "worker/x.py", "app.py", "app2.py"],  # most locations vote for the root: root, split
    ])
    row = score(repo, reported)
    assert row["found"] == 2 and row["missed"] == [".[bot.py]"]
    assert row["split"] == 2 and row["false"] == 1 and row["agents"] == 5
    assert row["false_examples"] == [["web/src/index.js"]]
    t = totals([row, score(Repo("n", "u", "c", "no-llm", []), Reported(agents=[["x.py"]]))])
    assert t["flagged"] == 1 and t["non_llm"] == 1 and t["false"] == 2
    assert t["precision"] == round(2 / 6, 3) and t["recall"] == round(2 / 3, 3)


def test_files_program_beats_the_folder_it_sits_in() -> None:
    row = score(_repo(), Reported(agents=[["bot.py", "bot.Dockerfile"]]))
    assert row["missed"] == [".", "worker"] and row["found"] == 1 and row["split"] == 0


def test_aibom_components_are_grouped_by_truth_program(tmp_path: Path) -> None:
    (tmp_path / "worker").mkdir()
    (tmp_path / "tools").mkdir()
    for f in ("app.py", "worker/run.py", "tools/package.json", "tools/x.js"):
        (tmp_path / f).write_text("")
    comp = lambda loc: {"properties": [{"name": "trusera:source_location", "value": loc}]}  # noqa: E731
    data = {"components": [comp(f"{tmp_path}/app.py:3"), comp(f"{tmp_path}/worker/run.py:1"),
                           comp(f"{tmp_path}/worker/run.py:9"), comp("dependency files")]}
    repo = Repo("r", "u", "c", "t", [Program("."), Program("worker")])
    r = read_aibom(data, tmp_path, repo)
    assert sorted(map(sorted, r.agents)) == [["app.py"], ["worker/run.py", "worker/run.py"]]
    assert r.other == 1
    outside = read_aibom({"components": [comp(f"{tmp_path}/tools/x.js:2")]}, tmp_path,
                         Repo("r", "u", "c", "t", [Program("worker")]))
    assert score(Repo("r", "u", "c", "t", [Program("worker")]), outside)["false"] == 1


def test_truth_file_is_complete_and_pinned() -> None:
    repos = load_truth(ROOT / "benchmarks" / "real_repos_truth.yaml")
    assert len(repos) >= 22
    assert sum(1 for r in repos if not r.programs) >= 6
    for r in repos:
        assert r.url.startswith("https://github.com/") and len(r.commit) == 40, r.name
        for p in r.programs:
            assert p.why, (r.name, p.dir)
    raw = yaml.safe_load((ROOT / "benchmarks" / "real_repos_truth.yaml").read_text())
    assert all(set(r) <= {"url", "commit", "kind", "programs", "notes", "absent"} for r in raw["repos"].values())


def test_checkout_commands_pin_the_commit_and_skip_hooks() -> None:
    text = checkout_commands([Repo("a b", "https://github.com/o/a", "1" * 40, "k", [], ["big file.bin"])], "/tmp/rr")
    assert "checkout -q " + "1" * 40 in text and "core.hooksPath=/dev/null" in text
    assert "'/tmp/rr/a b'/'big file.bin'" in text
