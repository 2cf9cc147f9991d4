"""Walking scan paths: which files to read, which repository and agent directory each belongs to.

Skipped by design: ``.git`` internals (history is ``--history``'s job), vendored
dependencies (``node_modules``, virtualenvs, ``site-packages``) unless
``include_vendored``, and — only with ``respect_gitignore`` — files git ignores.
Broken symlinks, symlink loops and unreadable directories are coverage gaps.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from detectors.repo.content import MANIFEST_NAMES, manifest_kind
from scanner import git, identity

VCS_DIRS = {".git", ".hg", ".svn", ".jj"}
VENDORED_DIRS = {"node_modules", "site-packages", "dist-packages", "bower_components", "vendor", ".venv", "venv",
                 ".tox", ".nox", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs",
                 "jspm_packages", ".yarn", ".pnpm-store", ".terraform"}
GIT_TIMEOUT = 120


@dataclass
class Repo:
    """A scanned tree: a git work tree (id = remote URL or path) or a plain directory (id = path)."""

    root: Path
    id: str
    is_git: bool
    ignored: set[str] | None = None
    agent_dirs: dict[str, str] = field(default_factory=dict)  # rel dir -> agent dir (cache)

    def is_ignored(self, rel: str, is_dir: bool) -> bool:
        if not self.ignored:
            return False
        return rel in self.ignored or (is_dir and rel + "/" in self.ignored)

    def agent_dir(self, rel_dir: str) -> str:
        """Nearest ancestor (inside the repository) holding a package manifest, else the repository root."""
        if rel_dir in ("", "."):
            return "."
        cached = self.agent_dirs.get(rel_dir)
        if cached is not None:
            return cached
        if _has_manifest(self.root / rel_dir):
            result = rel_dir
        else:
            parent = rel_dir.rsplit("/", 1)[0] if "/" in rel_dir else "."
            result = self.agent_dir(parent)
        if len(self.agent_dirs) < 100_000:
            self.agent_dirs[rel_dir] = result
        return result


def _has_manifest(directory: Path) -> bool:
    try:
        with os.scandir(directory) as it:
            return any(e.name in MANIFEST_NAMES or (manifest_kind(e.name) and not e.name.endswith(".lock"))
                       for e in it)
    except OSError:
        return False


@dataclass
class FileItem:
    path: str
    rel: str  # inside its repository, posix separators
    repo: Repo

    @property
    def rel_dir(self) -> str:
        return self.rel.rsplit("/", 1)[0] if "/" in self.rel else "."


def open_repo(root: Path, respect_gitignore: bool) -> Repo:
    is_git = (root / ".git").exists()
    repo_id = (identity.repo_remote(root) if is_git else None) or str(root)
    repo = Repo(root=root, id=repo_id, is_git=is_git)
    if is_git and respect_gitignore:
        repo.ignored = git_ignored(root)
    return repo


def git_ignored(root: Path) -> set[str] | None:
    """Paths git ignores (directories collapsed, with a trailing ``/``); run through :mod:`scanner.git`."""
    try:
        out = git.run(root, ["ls-files", "-z", "-o", "-i", "--exclude-standard", "--directory"], GIT_TIMEOUT)
    except git.GitError:
        return None
    return {p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p}


class Walker:
    def __init__(self, include_vendored: bool, respect_gitignore: bool,
                 gap: Callable[[str, str], None], count: Callable[[str], None]):
        self.include_vendored = include_vendored
        self.respect_gitignore = respect_gitignore
        self.gap = gap
        self.count = count
        self.repos: dict[Path, Repo] = {}
        self._visited: set[tuple[int, int]] = set()

    def repo_at(self, root: Path) -> Repo:
        if root not in self.repos:
            self.repos[root] = open_repo(root, self.respect_gitignore)
        return self.repos[root]

    def walk(self, path: Path) -> Iterator[FileItem]:
        path = path.resolve()
        root = identity.find_repo_root(path if path.is_dir() else path.parent)
        repo = self.repo_at(root or (path if path.is_dir() else path.parent))
        if path.is_file():
            yield FileItem(str(path), _rel(repo.root, path), repo)
            return
        prefix = _rel(repo.root, path)
        yield from self._walk_dir(str(path), "" if prefix == "." else prefix + "/", repo, (str(path),))

    def _walk_dir(self, directory: str, rel_prefix: str, repo: Repo,
                  ancestors: tuple[str, ...]) -> Iterator[FileItem]:
        """Depth-first, sorted; only symbolic links cost a stat call (the rest comes from d_type)."""
        try:
            st = os.stat(directory)
            if (st.st_dev, st.st_ino) in self._visited:
                return
            self._visited.add((st.st_dev, st.st_ino))
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.gap(directory, f"cannot list directory: {exc.strerror or exc}")
            return
        if rel_prefix and any(e.name == ".git" for e in entries):
            repo, rel_prefix = self.repo_at(Path(directory)), ""
        subdirs: list[tuple[str, str, tuple[str, ...]]] = []
        for entry in entries:
            if entry.name in VCS_DIRS:
                continue
            rel = rel_prefix + entry.name
            try:
                is_link = entry.is_symlink()
                if is_link:
                    mode = os.stat(entry.path).st_mode
                    is_dir, is_file = stat.S_ISDIR(mode), stat.S_ISREG(mode)
                else:
                    is_dir, is_file = entry.is_dir(follow_symlinks=False), entry.is_file(follow_symlinks=False)
            except FileNotFoundError:
                self.gap(entry.path, "broken symbolic link")
                continue
            except OSError as exc:
                reason = "symbolic link loop" if exc.errno == errno.ELOOP else f"cannot stat: {exc.strerror or exc}"
                self.gap(entry.path, reason)
                continue
            if is_dir:
                if not self.include_vendored and _vendored(entry.name, entry.path):
                    self.count("vendored_dirs_skipped")
                    continue
                if repo.is_ignored(rel, True):
                    continue
                if is_link:
                    real = os.path.realpath(entry.path)
                    if any(real == a or a.startswith(real + os.sep) for a in ancestors):
                        self.gap(entry.path, "symbolic link loop")
                        continue
                    subdirs.append((entry.path, rel + "/", ancestors + (real,)))
                else:
                    subdirs.append((entry.path, rel + "/", ancestors))
            elif is_file and not repo.is_ignored(rel, False):
                yield FileItem(entry.path, rel, repo)
        for sub, sub_rel, anc in subdirs:
            yield from self._walk_dir(sub, sub_rel, repo, anc)


def _vendored(name: str, path: str) -> bool:
    return name in VENDORED_DIRS or os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def _rel(root: Path, path: Path) -> str:
    rel = os.path.relpath(path, root)
    return "." if rel == "." else rel.replace(os.sep, "/")
