"""Real git repositories: agent directories, repository ids, owners and --history."""

from __future__ import annotations

from pathlib import Path

from scanner.redact import fingerprint
from tests.keys import make_key
from tests.test_repo_support import commit_all, credentials, git, init_repo, scan, write

BOB = {"author": "Bob", "email": "bob@example.com"}
CAROL = {"author": "Carol", "email": "carol@example.com"}


def _repo_keys(findings) -> set[str]:
    return {k for f in findings for k in f.identity if k.startswith("repo:")}


def test_agent_directory_is_nearest_manifest_and_repo_id_is_the_remote(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "mono", remote="git@github.com:acme/mono.git")
    write(repo / "services" / "bot" / "pyproject.toml", '[project]\nname = "bot"\n')
    write(repo / "services" / "bot" / "src" / "bot" / "main.py", "import anthropic\n")
    write(repo / "services" / "web" / "package.json", '{"dependencies": {"openai": "^4"}}')
    write(repo / "services" / "web" / "src" / "ai.ts", "import OpenAI from 'openai'\n")
    write(repo / "notebooks" / "try.py", "import groq\n")
    commit_all(repo, "init")
    findings, _ = scan(repo)
    by_path = {Path(f.location.path).name: f for f in findings}
    assert "repo:github.com/acme/mono:services/bot" in by_path["main.py"].identity
    assert "repo:github.com/acme/mono:services/web" in by_path["ai.ts"].identity
    assert "repo:github.com/acme/mono:." in by_path["try.py"].identity
    assert by_path["main.py"].details["agent_dir"] == "services/bot"


def test_plain_directory_is_identified_by_its_path(tmp_path: Path) -> None:
    write(tmp_path / "proj" / "a.py", "import openai\n")
    findings, _ = scan(tmp_path / "proj")
    assert _repo_keys(findings) == {f"repo:{(tmp_path / 'proj').resolve()}:."}


def test_nested_clones_are_separate_repositories(tmp_path: Path) -> None:
    a = init_repo(tmp_path / "src" / "a", remote="https://github.com/acme/a.git")
    b = init_repo(tmp_path / "src" / "b", remote="https://user:pw@gitlab.example.com/team/b.git")
    write(a / "x.py", "import openai\n")
    write(b / "y.py", "import anthropic\n")
    findings, _ = scan(tmp_path / "src")
    assert _repo_keys(findings) == {"repo:github.com/acme/a:.", "repo:gitlab.example.com/team/b:."}


def test_owner_from_codeowners_then_top_author_then_repo_owner(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r", remote="git@github.com:acme/r.git")
    write(repo / "owned" / "package.json", "{}")
    write(repo / "owned" / "i.js", "const OpenAI = require('openai')\n")
    write(repo / ".github" / "CODEOWNERS", "# owners\n/owned/ @acme/ai-team\n")
    commit_all(repo, "one")
    write(repo / "worked" / "pyproject.toml", "[project]\nname='w'\n")
    write(repo / "worked" / "w.py", "import anthropic\n")
    commit_all(repo, "bob 1", **BOB)
    write(repo / "worked" / "w.py", "import anthropic\nimport groq\n")
    commit_all(repo, "bob 2", **BOB)
    write(repo / "worked" / "z.py", "x = 1\n")
    commit_all(repo, "carol", **CAROL)
    findings, _ = scan(repo)
    owners = {Path(f.location.path).name: {k for k in f.identity if k.startswith("owner:")} for f in findings}
    assert owners["i.js"] == {"owner:acme/ai-team"}
    assert owners["w.py"] == {"owner:bob@example.com"}


def test_owner_falls_back_to_remote_owner_without_commits(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r", remote="git@github.com:globex/tool.git")
    write(repo / "t.py", "import openai\n")
    findings, _ = scan(repo)
    assert "owner:globex" in findings[0].identity


def test_removed_key_is_found_in_history_with_commit_author_and_date(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    key = make_key("anthropic-api", seed=21)
    write(repo / "app" / "config.py", "import anthropic\n")
    commit_all(repo, "start")
    write(repo / "app" / "config.py", f'import anthropic\nKEY = "{key}"\n')
    added = commit_all(repo, "add key", author="Mallory", email="mallory@example.com",
                       date="2025-03-04T05:06:07+00:00")
    write(repo / "app" / "config.py", "import anthropic\nimport os\nKEY = os.environ['ANTHROPIC_API_KEY']\n")
    commit_all(repo, "remove key")
    git(repo, "checkout", "-q", "-b", "side")
    other = make_key("groq", seed=22)
    write(repo / "side.env", f"GROQ_API_KEY={other}\n")
    commit_all(repo, "side branch key")
    git(repo, "checkout", "-q", "main")

    now, _ = scan(repo)
    assert credentials(now) == {}
    findings, cov = scan(repo, history=True)
    found = credentials(findings)
    f = found[fingerprint(key)]
    assert f.location.commit == added and f.location.line == 2
    assert f.risks == ["in-history"] and f.details["author"] == "Mallory"
    assert f.observed_at == "2025-03-04T05:06:07+00:00"
    assert "owner:mallory@example.com" in f.identity
    assert fingerprint(other) in found  # --all: other branches too
    assert cov.scanned.get("repositories_history") == 1 and cov.scanned["commits"] == 4
    assert key not in repr([x.to_dict() for x in findings])


def test_history_on_a_plain_directory_is_a_coverage_note(tmp_path: Path) -> None:
    write(tmp_path / "a.py", "import openai\n")
    findings, cov = scan(tmp_path, history=True)
    assert findings and any("not a git repository" in g.reason for g in cov.gaps)


def test_history_of_many_commits_reports_the_commit_that_added_the_key(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    for i in range(30):
        write(repo / "f.txt", f"line {i}\n")
        commit_all(repo, f"c{i}")
    key = make_key("xai", seed=30)
    write(repo / "f.txt", f"XAI={key}\n")
    added = commit_all(repo, "key")
    write(repo / "g.txt", "more\n")
    commit_all(repo, "after")
    findings, cov = scan(repo, history=True)
    creds = sorted((f.location.commit or "", f.location.path) for f in findings if f.kind == "credential")
    assert creds == [("", str(repo / "f.txt")), (added, str(repo / "f.txt"))]
    assert cov.scanned["commits"] == 32


def test_gitignored_files_scanned_by_default_and_skipped_on_request(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    key = make_key("perplexity", seed=3)
    write(repo / ".gitignore", ".env\nbuild/\n")
    write(repo / ".env", f"PPLX_API_KEY={key}\n")
    write(repo / "build" / "out.py", "import openai\n")
    commit_all(repo, "init")
    assert fingerprint(key) in credentials(scan(repo)[0])
    findings, _ = scan(repo, respect_gitignore=True)
    assert credentials(findings) == {} and findings == []
