"""The pre-commit hook, installed and run by pre-commit itself from this repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.keys import make_key

ROOT = Path(__file__).resolve().parents[1]
KEY = make_key("anthropic-api", 41)


def _pre_commit() -> list[str] | None:
    exe = shutil.which("pre-commit")
    if exe:
        return [exe]
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "pre_commit"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   check=True, capture_output=True)


def test_hook_via_pre_commit_try_repo_fails_on_a_staged_key_and_passes_a_clean_change(tmp_path: Path, home):
    pre_commit = _pre_commit()
    if pre_commit is None or not (ROOT / ".git").exists():
        pytest.skip("needs pre-commit (pip install pre-commit) and a git checkout of this project")
    repo = tmp_path / "app"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "main.py").write_text("print('hello')\n")
    _git(repo, "add", "main.py")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "HOME": str(home)}
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))  # HOME is a temp dir: keep pip's cache

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*pre_commit, "try-repo", str(ROOT), "shadow-agents"], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=900)

    clean = run()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Passed" in clean.stdout
    (repo / "settings.py").write_text(f'ANTHROPIC_API_KEY = "{KEY}"\n')
    _git(repo, "add", "settings.py")
    leaked = run()
    assert leaked.returncode == 1, leaked.stdout + leaked.stderr
    assert "settings.py:1: anthropic key sk-ant-a" in leaked.stdout
    assert KEY not in leaked.stdout + leaked.stderr


def test_hook_command_checks_only_the_files_given(run_cli, workdir):
    (workdir / "secret.env").write_text(f"ANTHROPIC_API_KEY={KEY}\n")
    (workdir / "ok.py").write_text("x = 1\n")
    (workdir / "agent.py").write_text("import anthropic\nclient = anthropic.Anthropic()\n")
    assert run_cli("pre-commit", "ok.py").code == 0
    assert run_cli("pre-commit", "ok.py", "agent.py").code == 0  # LLM code without a key: fine by default
    assert run_cli("pre-commit", "--fail-on-agents", "ok.py", "agent.py").code == 1
    r = run_cli("pre-commit", "ok.py", "secret.env", "deleted-in-this-commit.py")
    assert r.code == 1
    assert "secret.env:1: anthropic key" in r.err and KEY not in r.err + r.out
    assert run_cli("pre-commit").code == 0  # nothing staged


def _run_on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run the CLI with stderr on a pseudo-terminal (as a person at a shell sees it); return what it printed."""
    import pty
    import select
    main, child = pty.openpty()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=child, stdin=subprocess.DEVNULL)
    os.close(child)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(main, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace")


def test_first_run_on_a_terminal_hints_at_a_registry(workdir: Path, home: Path):
    from tests.conftest import CLI, clean_environ
    env = clean_environ(home)
    text = _run_on_a_terminal([CLI, "scan", "-d", "env"], workdir, env)
    assert "registry init --from scan.json" in text
    assert "registry init" not in _run_on_a_terminal([CLI, "scan", "-d", "env", "--quiet"], workdir, env)
    import re
    colour = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])[;m]")  # a foreground colour (bold is not one)
    env.pop("NO_COLOR", None)
    assert colour.search(text_coloured := _run_on_a_terminal([CLI, "scan", "-d", "env"], workdir, env)), text_coloured
    assert not colour.search(_run_on_a_terminal([CLI, "--no-color", "scan", "-d", "env"], workdir, env))


def test_every_command_has_help_with_an_example(run_cli):
    commands = ["scan", "report", "diff", "merge", "detectors", "formats", "schema", "doctor", "pre-commit",
                "registry init", "registry add", "registry check"]
    for command in commands:
        r = run_cli(*command.split(), "--help")
        assert r.code == 0, (command, r.err)
        assert "Example" in r.out, command
    script = run_cli("--show-completion", "bash").out
    assert "complete -o default -F _shadow_agents_completion shadow-agents" in script
    # what that script asks the CLI when the user presses tab: commands, then the detectors' own flags
    words = {"_SHADOW_AGENTS_COMPLETE": "complete_bash", "COMP_WORDS": "shadow-agents sc", "COMP_CWORD": "1"}
    assert run_cli(env=words).out.split() == ["schema", "scan"]
    words.update(COMP_WORDS="shadow-agents scan --hist", COMP_CWORD="2")
    assert run_cli(env=words).out.split() == ["--history"]
