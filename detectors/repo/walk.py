"""Walking scan paths: which files to read, which repository and agent directory each belongs to.

**The tree is what the user asked to scan**: the scan paths, resolved. A symbolic link whose
target resolves outside every scan path is not followed (directory) and not read (file); such
links are counted in coverage (``symlinks_outside_tree_skipped``) with the first few as gaps.
Links inside the tree are followed, loop-safe. ``follow_symlinks`` allows leaving the tree
(still loop-safe: a directory is walked once, a link back to an ancestor is a gap).

Every file and directory is handed on with its real path (links resolved and judged here), and
:mod:`.safeopen` opens that path following no link: a file or directory swapped for a link
after the walk saw it cannot lead out of the tree (it is a coverage gap).

Skipped by design: ``.git`` internals (history is ``--history``'s job), vendored dependencies
(``node_modules``, virtualenvs, ``site-packages``) and — only with ``respect_gitignore`` — files
git ignores. Broken links, link loops and unreadable directories are coverage gaps.

**Generated trees** (``dist/``, ``build/``, ``*.egg-info``, ``.next/``, Cargo/Maven ``target/``,
any directory with a ``CACHEDIR.TAG``, …) are scanned for **keys only**, and counted as
``generated_dirs_keys_only``; ``include_vendored`` scans them whole. Why keys: a generated tree
repeats the source's imports, models and endpoints (duplicate, misleading evidence), but a key in
it is a real leak — a bundle in ``dist/`` or ``.next/static`` ships to every browser, build output
is deployed — and may be in no source file (inlined from the build environment). ``target/`` counts
as generated only next to ``Cargo.toml``, ``pom.xml`` or ``build.sbt``; ``out/``, ``bin/`` and
``coverage/`` are too often source to be judged by name.

The walk is iterative (depth-first, sorted: the order that fixes finding order), so nesting depth
is bounded by memory, not by Python's stack. Paths longer than ``PATH_MAX`` open from their
parent's descriptor; a package manifest that deep does not make an agent directory.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from detectors.repo.content import MANIFEST_NAMES, manifest_kind
from detectors.repo.safeopen import BY_FD, LONG_PATH, Moved, open_child, open_exact
from scanner import git, identity

VCS_DIRS = {".git", ".hg", ".svn", ".jj"}
VENDORED_DIRS = {"node_modules", "site-packages", "dist-packages", "bower_components", "vendor", ".venv", "venv",
                 ".tox", ".nox", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs",
                 "jspm_packages", ".yarn", ".pnpm-store", ".terraform"}
VENV_MARKER = "pyvenv.cfg"
GENERATED_DIRS = {"dist", "build", "_build", ".next", ".nuxt", ".output", ".svelte-kit", ".turbo", ".parcel-cache",
                  ".angular", ".docusaurus", ".vercel", ".serverless", ".aws-sam", "cdk.out", "htmlcov", ".gradle"}
GENERATED_SUFFIXES = (".egg-info",)
TARGET_DIR_MANIFESTS = {"Cargo.toml", "pom.xml", "build.sbt"}  # their build output goes to target/
CACHE_MARKER = "CACHEDIR.TAG"  # https://bford.info/cachedir/ (Cargo writes one into target/)
OUTSIDE_LINK_EXAMPLES = 5
GIT_TIMEOUT = 120
LONG_DIR_FDS = 64  # descriptors kept for long directories, so their children open in one step
CHECK_EVERY_DIRS = 256
REAL_DIR_CACHE = 4096


@dataclass(frozen=True)
class Tree:
    """The scan paths, resolved: where the walk may go."""

    dirs: tuple[str, ...]
    files: frozenset[str] = frozenset()

    @classmethod
    def of(cls, paths: list[Path]) -> "Tree":
        real = [os.path.realpath(p) for p in paths]
        return cls(tuple(sorted({p for p in real if os.path.isdir(p)})),
                   frozenset(p for p in real if not os.path.isdir(p)))

    def contains(self, real: str) -> bool:
        if real in self.files:
            return True
        for d in self.dirs:
            if real == d or real.startswith(d if d.endswith("/") else d + "/"):
                return True
        return False


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
        below: list[str] = []  # the directories on the way up: all get this call's answer
        d, result = rel_dir, "."
        while d not in ("", "."):
            cached = self.agent_dirs.get(d)
            if cached is not None:
                result = cached
                break
            below.append(d)
            if _has_manifest(os.path.join(self.root, d)):
                result = d
                break
            d = d.rsplit("/", 1)[0] if "/" in d else "."
        if len(self.agent_dirs) < 100_000:
            for b in below:
                self.agent_dirs[b] = result
        return result


def _has_manifest(directory: str) -> bool:
    if len(directory) >= LONG_PATH:
        return False
    try:
        with os.scandir(directory) as it:
            return any(e.name in MANIFEST_NAMES or (manifest_kind(e.name) and not e.name.endswith(".lock"))
                       for e in it)
    except OSError:
        return False


@dataclass(slots=True)
class FileItem:
    path: str  # where the walk found it (reported)
    rel: str  # inside its repository, posix separators
    repo: Repo
    real: str | None = None  # where it really is, when a followed link makes that differ (opened)
    keys_only: bool = False  # in a generated tree: look for keys, nothing else

    @property
    def rel_dir(self) -> str:
        return self.rel.rsplit("/", 1)[0] if "/" in self.rel else "."

    @property
    def open_path(self) -> str:
        return self.real or self.path


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


@dataclass(slots=True)
class _Dir:
    """A directory waiting to be listed."""

    path: str  # as reported
    real: str  # where it really is (== path unless a followed link is on the way)
    rel_prefix: str  # "" at a repository root, else "sub/dir/"
    repo: Repo
    keys_only: bool = False
    top: bool = False  # a scan path: never judged vendored or generated by its markers
    ancestors: tuple[str, ...] = ()  # real paths where the walk jumped (scan path, followed links)


class Walker:
    """Depth-first, sorted, iterative; only symbolic links cost a stat call (the rest comes from d_type)."""

    def __init__(self, include_vendored: bool, respect_gitignore: bool,
                 gap: Callable[[str, str], None], count: Callable[[str], None],
                 paths: list[Path] | None = None, follow_symlinks: bool = False,
                 check: Callable[[], None] | None = None):
        self.include_vendored = include_vendored
        self.respect_gitignore = respect_gitignore
        self.gap = gap
        self.count = count
        self.tree: Tree | None = None if follow_symlinks else Tree.of(paths or [])
        self.check = check
        self.repos: dict[Path, Repo] = {}
        self._visited: set[tuple[int, int]] = set()
        self._outside_links = 0
        self._links: list[_Dir] = []  # directories behind links, walked after the rest
        self._long_fds: dict[str, int] = {}  # long real directory path -> open descriptor
        self._real_dirs: dict[str, str] = {}  # a link target's directory -> its real path
        self._dirs_listed = 0

    def repo_at(self, root: Path) -> Repo:
        if root not in self.repos:
            self.repos[root] = open_repo(root, self.respect_gitignore)
        return self.repos[root]

    def walk(self, *paths: Path) -> Iterator[FileItem]:
        """Every file to scan: each path depth-first and sorted, then what only links lead to.

        A directory walked at its own place is not walked again through a link: its findings keep
        their own path (and ids), whichever of the two comes first in the sort order.
        """
        self._links = []
        try:
            for path in paths:
                yield from self._walk_path(path)
            while self._links:
                yield from self._walk_from(self._links.pop(0))
        finally:
            for fd in self._long_fds.values():
                os.close(fd)
            self._long_fds.clear()

    def _walk_path(self, path: Path) -> Iterator[FileItem]:
        path = path.resolve()
        if self.tree is not None and not self.tree.contains(str(path)):  # a path not given to the constructor
            self.tree = Tree.of([*(Path(d) for d in self.tree.dirs), *(Path(f) for f in self.tree.files), path])
        root = identity.find_repo_root(path if path.is_dir() else path.parent)
        repo = self.repo_at(root or (path if path.is_dir() else path.parent))
        if path.is_file():
            yield FileItem(str(path), _rel(repo.root, path), repo)
            return
        prefix = _rel(repo.root, path)
        yield from self._walk_from(_Dir(str(path), str(path), "" if prefix == "." else prefix + "/", repo,
                                        top=True, ancestors=(str(path),)))

    def _walk_from(self, first: _Dir) -> Iterator[FileItem]:
        stack: list[Iterator[_Dir]] = [iter([first])]
        while stack:
            task = next(stack[-1], None)
            if task is None:
                stack.pop()
                continue
            files, subdirs = self._list(task)
            yield from files
            if subdirs:
                stack.append(iter(subdirs))

    def _list(self, task: _Dir) -> tuple[list[FileItem], list[_Dir]]:
        """One directory: its files (to yield now) and its subdirectories (to walk next, in order)."""
        self._dirs_listed += 1
        if self.check and self._dirs_listed % CHECK_EVERY_DIRS == 0:
            self.check()
        if not BY_FD:
            return self._list_by_path(task)
        try:
            fd = self._open_dir(task.real)
        except Moved:
            self.gap(task.path, "became a symbolic link during the scan: not followed")
            return [], []
        except OSError as exc:
            self.gap(task.path, f"cannot list directory: {exc.strerror or exc}")
            return [], []
        keep = False
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) in self._visited:
                return [], []
            self._visited.add((st.st_dev, st.st_ino))
            with os.scandir(fd) as it:
                entries = sorted(it, key=lambda e: e.name)
            files, subdirs = self._entries(task, fd, entries)
            keep = bool(subdirs) and len(task.real) + 256 >= LONG_PATH
        except OSError as exc:
            self.gap(task.path, f"cannot list directory: {exc.strerror or exc}")
            return [], []
        finally:
            if not keep:
                os.close(fd)
        if keep:  # its children have long paths: they open from this descriptor
            self._long_fds[task.real] = fd
            if len(self._long_fds) > LONG_DIR_FDS:
                os.close(self._long_fds.pop(next(iter(self._long_fds))))
        return files, subdirs

    def _open_dir(self, real: str) -> int:
        if len(real) >= LONG_PATH:
            parent, name = real.rsplit("/", 1)
            kept = self._long_fds.get(parent)
            if kept is not None:
                return open_child(kept, name, directory=True)
        return open_exact(real, directory=True)

    def _list_by_path(self, task: _Dir) -> tuple[list[FileItem], list[_Dir]]:
        """Where directories cannot be listed by descriptor (Windows): by path, links judged the same."""
        try:
            st = os.stat(task.real)
            if (st.st_dev, st.st_ino) in self._visited:
                return [], []
            self._visited.add((st.st_dev, st.st_ino))
            with os.scandir(task.real) as it:
                entries = sorted(it, key=lambda e: e.name)
            return self._entries(task, None, entries)
        except OSError as exc:
            self.gap(task.path, f"cannot list directory: {exc.strerror or exc}")
            return [], []

    def _entries(self, task: _Dir, fd: int | None,
                 entries: list[os.DirEntry[str]]) -> tuple[list[FileItem], list[_Dir]]:
        names = {e.name for e in entries}
        keys_only = task.keys_only
        if not task.top and not self.include_vendored:
            if VENV_MARKER in names:
                self.count("vendored_dirs_skipped")
                return [], []
            if CACHE_MARKER in names and not keys_only:
                self.count("generated_dirs_keys_only")
                keys_only = True
        repo, rel_prefix = task.repo, task.rel_prefix
        if rel_prefix and ".git" in names:
            repo, rel_prefix = self.repo_at(Path(task.path)), ""
        base = task.path if task.path.endswith("/") else task.path + "/"
        moved = task.real != task.path  # behind a followed link: what is opened differs from what is reported
        real_base = task.real if task.real.endswith("/") else task.real + "/"
        files: list[FileItem] = []
        subdirs: list[_Dir] = []
        for entry in entries:
            name = entry.name
            if name in VCS_DIRS:
                continue
            path, rel = base + name, rel_prefix + name
            target: str | None = None
            try:
                if entry.is_symlink():
                    found = self._link(name, fd, path, task.real)
                    if found is None:
                        continue
                    mode, target = found
                    is_dir, is_file = stat.S_ISDIR(mode), stat.S_ISREG(mode)
                else:
                    is_dir, is_file = entry.is_dir(follow_symlinks=False), entry.is_file(follow_symlinks=False)
            except OSError as exc:
                self.gap(path, f"cannot stat: {exc.strerror or exc}")
                continue
            real = target or (real_base + name if moved else path)
            if is_dir:
                if not self.include_vendored and name in VENDORED_DIRS:
                    self.count("vendored_dirs_skipped")
                    continue
                if repo.is_ignored(rel, True):
                    continue
                sub_keys_only = keys_only
                if not keys_only and not self.include_vendored and _generated(name, names):
                    self.count("generated_dirs_keys_only")
                    sub_keys_only = True
                if target is None:
                    subdirs.append(_Dir(path, real, rel + "/", repo, sub_keys_only, False, task.ancestors))
                elif any(a == target or a.startswith(target.rstrip("/") + "/") for a in (*task.ancestors, task.real)):
                    self.gap(path, "symbolic link loop")
                else:
                    self._links.append(_Dir(path, target, rel + "/", repo, sub_keys_only, False,
                                            (*task.ancestors, target)))
            elif is_file and not repo.is_ignored(rel, False):
                files.append(FileItem(path, rel, repo, None if real == path else real, keys_only))
        return files, subdirs

    def _resolve_link(self, dir_real: str, text: str) -> str:
        """Real path of a link's target ``text``, read in the real directory ``dir_real``.

        ``realpath(p/name) == realpath(realpath(p)/name)``: the target's directory is resolved once
        and remembered (trees with many links point into few directories), then one ``lstat``.
        A directory that changes later cannot mislead a read: opening follows no link.
        """
        full = text if os.path.isabs(text) else dir_real.rstrip("/") + "/" + text
        parent, _, name = full.rpartition("/")
        if name in ("", ".", "..") or not parent:
            return os.path.realpath(full)
        real_parent = self._real_dirs.get(parent)
        if real_parent is None:
            real_parent = os.path.realpath(parent)
            if len(self._real_dirs) >= REAL_DIR_CACHE:
                self._real_dirs.clear()
            self._real_dirs[parent] = real_parent
        candidate = real_parent.rstrip("/") + "/" + name
        return os.path.realpath(candidate) if os.path.islink(candidate) else candidate

    def _link(self, name: str, dir_fd: int | None, path: str, dir_real: str) -> tuple[int, str] | None:
        """(mode, real target) of a link the walk may follow; ``None`` (and a note) for one it may not."""
        where = {"dir_fd": dir_fd} if dir_fd is not None else {}
        at = name if dir_fd is not None else path
        try:
            mode = os.stat(at, **where).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                return None
            if len(dir_real) >= LONG_PATH:
                self.gap(path, "symbolic link in a path too long to resolve: not followed")
                return None
            target = self._resolve_link(dir_real, os.readlink(at, **where))
        except FileNotFoundError:
            self.gap(path, "broken symbolic link")
            return None
        except OSError as exc:
            self.gap(path, "symbolic link loop" if exc.errno == errno.ELOOP else f"cannot stat: {exc.strerror or exc}")
            return None
        if self.tree is not None and not self.tree.contains(target):
            self.count("symlinks_outside_tree_skipped")
            self._outside_links += 1
            if self._outside_links <= OUTSIDE_LINK_EXAMPLES:
                self.gap(path, f"symbolic link to {target}, outside the scanned paths: not followed "
                               "(follow_symlinks allows it)")
            return None
        return mode, target


def _generated(name: str, siblings: set[str]) -> bool:
    if name in GENERATED_DIRS or name.endswith(GENERATED_SUFFIXES):
        return True
    return name == "target" and not siblings.isdisjoint(TARGET_DIR_MANIFESTS)


def _rel(root: Path, path: Path) -> str:
    rel = os.path.relpath(path, root)
    return "." if rel == "." else rel.replace(os.sep, "/")
