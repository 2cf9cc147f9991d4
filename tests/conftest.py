"""Shared fixtures: a clean environment (no real keys, a temp HOME) and a real CLI runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.catalog import Catalog

CLI = shutil.which("shadow-agents") or ""
# The catalogue's start-up cache (scanner/cache.py), shared by the CLI runs of one user's test runs;
# tests of the cache itself use their own.
SHARED_CACHE = Path(tempfile.gettempdir()) / f"shadow-agents-tests-{os.getuid()}"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


def clean_environ(home: Path) -> dict[str, str]:
    """The current environment minus every provider variable and key-shaped value, HOME set to ``home``."""
    catalog = Catalog.load()
    env = {k: v for k, v in os.environ.items()
           if k not in catalog.env_vars and not catalog.key_regex.search(v) and not k.startswith("SHADOW_AGENTS_")}
    env.pop("XDG_CONFIG_HOME", None)  # the user config is looked up under HOME
    env["HOME"] = str(home)
    env["XDG_CACHE_HOME"] = str(SHARED_CACHE)  # one start-up cache for every CLI run of the suite
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    w = tmp_path / "work"
    w.mkdir()
    return w


@pytest.fixture
def run_cli(home: Path, workdir: Path):
    """Run the installed ``shadow-agents`` console script for real, in ``workdir`` with a clean env."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
        full_env = clean_environ(home)
        full_env.update(env or {})
        cmd = [CLI, *args] if CLI else [sys.executable, "-m", "scanner", *args]
        p = subprocess.run(cmd, cwd=cwd or workdir, env=full_env, capture_output=True, text=True,
                           input=stdin, timeout=120)
        return Result(p.returncode, p.stdout, p.stderr)

    return run


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> dict[str, str]:
    """Apply :func:`clean_environ` to this process (for in-process detector tests)."""
    env = clean_environ(home)
    for k in list(os.environ):
        if k not in env:
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env
