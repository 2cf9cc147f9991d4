"""Owner guess for an agent directory: CODEOWNERS, else the most frequent recent author, else the repo owner.

Git is asked once per repository (the last ``RECENT_COMMITS`` commits with their
file names), not once per agent, so the cost does not grow with the number of agents.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

from detectors.repo.walk import Repo

RECENT_COMMITS = 500
CODEOWNERS_PLACES = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")  # GitHub order
GIT_TIMEOUT = 60


def parse_codeowners(text: str) -> list[tuple[re.Pattern[str], list[str]]]:
    rules = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("["):
            continue
        pattern, *owners = line.split()
        if owners:
            rules.append((_codeowners_regex(pattern), owners))
    return rules


def _codeowners_regex(pattern: str) -> re.Pattern[str]:
    """gitignore-style pattern → regex over repository-relative paths (directories end in ``/``)."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    out, i = [], 0
    while i < len(body):
        if body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    rx = "".join(out)
    prefix = "^" if anchored else r"^(?:.*/)?"
    return re.compile(prefix + rx + r"(?:/.*)?$")


class Owners:
    def __init__(self, repo: Repo):
        self.repo = repo
        self._codeowners: list[tuple[re.Pattern[str], list[str]]] | None = None
        self._authors: dict[str, Counter[str]] | None = None
        self._cache: dict[str, str | None] = {}

    def guess(self, agent_dir: str) -> str | None:
        if agent_dir not in self._cache:
            self._cache[agent_dir] = self._codeowner(agent_dir) or self._top_author(agent_dir) or self._repo_owner()
        return self._cache[agent_dir]

    def _codeowner(self, agent_dir: str) -> str | None:
        if self._codeowners is None:
            self._codeowners = []
            for place in CODEOWNERS_PLACES:
                try:
                    self._codeowners = parse_codeowners((self.repo.root / place).read_text("utf-8", "replace"))
                    break
                except OSError:
                    continue
        probe = "" if agent_dir == "." else agent_dir + "/"
        owner = None
        for rx, owners in self._codeowners:  # the last matching rule wins, as in GitHub
            if rx.match(probe + "x") or (probe and rx.match(probe.rstrip("/"))):
                owner = owners[0]
        return owner.lstrip("@") if owner else None

    def _top_author(self, agent_dir: str) -> str | None:
        if not self.repo.is_git:
            return None
        if self._authors is None:
            self._authors = recent_authors(self.repo.root)
        d = agent_dir
        while True:
            counts = self._authors.get(d)
            if counts:
                return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            if d == ".":
                return None
            d = d.rsplit("/", 1)[0] if "/" in d else "."

    def _repo_owner(self) -> str | None:
        if "/" in self.repo.id and not self.repo.id.startswith("/"):
            parts = self.repo.id.split("/")
            return parts[1] if len(parts) >= 3 else None
        try:
            return self.repo.root.owner()
        except (OSError, KeyError, NotImplementedError):
            return None


def recent_authors(root: Path) -> dict[str, Counter[str]]:
    """Directory → author e-mail counts over the last commits (a file counts for all its directories)."""
    out: dict[str, Counter[str]] = {}
    try:
        proc = subprocess.Popen(["git", "-C", str(root), "log", f"-n{RECENT_COMMITS}", "--no-renames",
                                 "--name-only", "--format=%x00%ae"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except OSError:
        return out
    author = None
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("\x00"):
                author = line[1:].strip() or None
                continue
            if not line or author is None:
                continue
            d = line.rsplit("/", 1)[0] if "/" in line else "."
            while True:
                out.setdefault(d, Counter())[author] += 1
                if d == ".":
                    break
                d = d.rsplit("/", 1)[0] if "/" in d else "."
    finally:
        proc.stdout.close()
        try:
            proc.wait(timeout=GIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out
