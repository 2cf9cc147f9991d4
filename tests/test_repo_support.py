"""Shared helpers for the repo detector tests (no tests here): real git repositories, in-process runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from detectors.base import ScanContext
from detectors.repo import RepoDetector
from scanner.catalog import Catalog
from scanner.model import Coverage, Finding

_CATALOG = Catalog.load()


def git(repo: Path, *args: str, author: str = "Alice", email: str = "alice@example.com",
        date: str = "2025-01-02T03:04:05+00:00") -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": author,
           "GIT_COMMITTER_EMAIL": email, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date,
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True,
                          text=True).stdout


def init_repo(path: Path, remote: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    if remote:
        git(path, "remote", "add", "origin", remote)
    return path


def commit_all(repo: Path, message: str, **who: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, **who)
    return git(repo, "rev-parse", "HEAD").strip()


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def scan(*paths: Path, catalog: list[Path] | None = None, **options) -> tuple[list[Finding], Coverage]:
    """Run the detector in-process (workers=1 unless given) and return findings + coverage.

    ``catalog``: extra catalogue files, as ``--catalog`` gives them.
    """
    options.setdefault("workers", 1)
    cov = Coverage("repo")
    ctx = ScanContext(detector="repo", catalog=Catalog.load(catalog) if catalog else _CATALOG, paths=[p.resolve() for p in paths], options=options,
                      coverage=cov)
    return list(RepoDetector().run(ctx)), cov


def credentials(findings: list[Finding]) -> dict[str, Finding]:
    """fingerprint → finding, for credential findings."""
    return {f.credential.fingerprint: f for f in findings if f.kind == "credential" and f.credential}
