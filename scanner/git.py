"""Running git on a repository that may be hostile: every git process of the scanner starts here.

A repository's own configuration can make git run programs (``core.fsmonitor``,
``gpg.program`` with ``log.showSignature``, ``core.sshCommand`` on a lazy fetch of a
partial clone, ``diff.external``, textconv and filter drivers, pagers, credential
helpers, ``remote.*.uploadpack``, ...), pull in more configuration (``include.path``,
``includeIf``) or quietly change what git prints (``diff.noprefix``,
``log.showRoot=false``, ``core.bigFileThreshold``), which would hide keys from us.

**Approach: git never reads the repository's configuration at all.** Overriding the
dangerous keys one by one with ``-c`` cannot be made complete: drivers have
repository-chosen names (``filter.<any>.process``, ``diff.<any>.textconv``), new
executing keys appear with new git versions, and enumerating the effective config
first would have to reproduce include resolution exactly. Instead each call gets a
throw-away git directory (a *mirror*) that holds our own ``config`` and points at the
repository's data:

* ``GIT_DIR`` = the mirror: ``config`` written by us, ``HEAD`` copied, ``refs``,
  ``packed-refs``, ``shallow``, ``info``, ``worktrees`` and the index linked to the real
  ones. Only the repository format and its ``objectformat``/``refstorage`` extensions
  come from the real config: its bytes (a bounded read of a regular file) are parsed by
  ``git config --file <copy> --no-includes --list`` — a parser run outside any
  repository, includes off, which is how git itself reads the repository format — and
  the values are checked against the known ones;
* ``GIT_OBJECT_DIRECTORY`` = the real object store, ``GIT_WORK_TREE`` = the work tree;
* no system or global config (``GIT_CONFIG_NOSYSTEM``, ``GIT_CONFIG_GLOBAL=/dev/null``),
  ``HOME`` = the mirror (no ``~/.config/git/ignore`` or ``attributes`` of the user who
  runs the scan), and an environment built from scratch, so no inherited ``GIT_DIR``,
  ``GIT_EXTERNAL_DIFF``, ``GIT_PAGER``, ``GIT_SSH*``, ``GIT_ASKPASS``, ``GIT_CONFIG_*``
  or ``GIT_TRACE*`` reaches git.

Git then reads configuration only from the mirror's file and our command line, so no
byte of the repository's configuration (or of a file it includes) is ever parsed as
configuration. Executing keys in the mirror are off again anyway (hooks path, fsmonitor,
signatures, every network protocol), as a second line.

Objects a partial clone lacks cannot be fetched: the mirror names no promisor remote,
every protocol is refused (``protocol.allow=never``, ``GIT_ALLOW_PROTOCOL``), and
``GIT_NO_LAZY_FETCH=1`` is set for gits that honour it (2.44+). Callers that need
every object (history) ask :func:`is_partial_clone` first and report the gap; a missing
object git did not expect makes git fail, which callers report too.

Replace refs and grafts are off (``GIT_NO_REPLACE_OBJECTS``, ``GIT_GRAFT_FILE``): they
could swap a commit for a clean one. What stays repository-controlled is data: objects,
refs, the index, ``.gitignore`` and ``.gitattributes`` (attributes can only name drivers,
and no driver is defined). stdin is closed, every process runs in its own session and is
killed with it on timeout. The mirror links with symbolic links; where they cannot be made
(Windows without the privilege) the call fails with :class:`GitError` and callers report it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

from scanner.stopping import scratch_directory

log = logging.getLogger("shadow_agents")

SMALL_FILE_LIMIT = 64 * 1024  # HEAD, a ``.git`` file, ``commondir``
CONFIG_LIMIT = 1024 * 1024  # a larger git config is not read
CONFIG_TIMEOUT = 10
CLOSE_GRACE = 2  # seconds git may take to exit after its output is closed
LINKED_FROM_COMMON = ("refs", "packed-refs", "shallow", "info", "worktrees", "reftable")
OBJECT_FORMATS = ("sha1", "sha256")
REF_STORAGES = ("files", "reftable")
# The mirror's configuration. Nothing here is needed for safety once the repository's config
# is not read; it keeps the answer independent of git's defaults and refuses what can run.
MIRROR_SETTINGS = {
    "core": {"bare": "false", "fsmonitor": "false", "hooksPath": os.devnull, "untrackedCache": "false",
             "quotePath": "false", "sshCommand": "false", "askPass": "", "pager": "cat", "editor": "false"},
    "protocol": {"allow": "never"},
    "log": {"showSignature": "false", "showRoot": "true", "mailmap": "false"},
    "credential": {"helper": ""},
}


class GitError(RuntimeError):
    """Git could not answer: not installed, timed out, or the repository is unusable."""


class PartialClone(GitError):
    """The repository is a partial clone: some objects live only on its remote."""


@dataclass(frozen=True)
class Layout:
    """Where a work tree's git data lives: ``git_dir`` holds HEAD and the index, ``common_dir`` the rest."""

    worktree: Path
    git_dir: Path
    common_dir: Path


def read_small(path: Path, limit: int = SMALL_FILE_LIMIT) -> bytes | None:
    """A regular file's bytes, or None when it is missing, not a regular file (FIFO, device) or too large.

    Opened non-blocking so a FIFO planted as ``.git/config`` cannot stall the scan.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return None if size > limit else b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def layout(worktree: Path) -> Layout | None:
    """The git directories of a work tree (``.git`` directory, or a ``gitdir:`` file for worktrees and
    submodules, with ``commondir`` followed), read as data; None when it is not a work tree."""
    dotgit = worktree / ".git"
    if dotgit.is_dir():
        git_dir = dotgit
    else:
        data = read_small(dotgit)
        if data is None or not data.startswith(b"gitdir:"):
            return None
        target = data[len(b"gitdir:"):].strip().decode("utf-8", "surrogateescape")
        if not target:
            return None
        git_dir = Path(os.path.realpath(worktree / target))
    common_dir = git_dir
    common = read_small(git_dir / "commondir")
    if common and common.strip():
        common_dir = Path(os.path.realpath(git_dir / common.strip().decode("utf-8", "surrogateescape")))
    return Layout(worktree=worktree, git_dir=git_dir, common_dir=common_dir)


@dataclass(frozen=True)
class _Format:
    version: int = 0
    object_format: str | None = None
    ref_storage: str | None = None
    partial_clone: bool = False


def _repo_format(lay: Layout) -> _Format:
    """The real config's repository format and extensions, read as data (see :func:`_parse_format`)."""
    data = read_small(lay.common_dir / "config", CONFIG_LIMIT)
    return _parse_format(data) if data else _Format()


@functools.lru_cache(maxsize=256)
def _parse_format(data: bytes) -> _Format:
    """Parse a config file's bytes with ``git config --file`` on a copy, once per distinct content.

    The copy is parsed without includes (git reads the repository format the same way),
    with the scrubbed environment and no repository, so this call runs nothing either.
    """
    with scratch_directory("shadow-agents-git-") as scratch:
        copy = scratch / "repository-config"
        copy.write_bytes(data)
        env = _base_env(scratch)
        env["GIT_DIR"] = str(scratch / "no-repository")
        try:
            out = subprocess.run([_git(), "config", "--file", str(copy), "--no-includes", "--list", "-z"],
                                 stdin=subprocess.DEVNULL, capture_output=True, env=env, cwd=scratch,
                                 timeout=CONFIG_TIMEOUT, start_new_session=True, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return _Format()
    values: dict[str, str] = {}
    promisor = False
    for entry in out.decode("utf-8", "replace").split("\0"):
        key, newline, value = entry.partition("\n")
        key = key.lower()
        values[key] = value
        # ``promisor`` alone (no ``=``) is true, as in git
        if key.startswith("remote.") and key.endswith(".promisor") and \
                (not newline or value.lower() in ("true", "yes", "on", "1")):
            promisor = True
    try:
        version = int(values.get("core.repositoryformatversion", "0"))
    except ValueError:
        version = 0
    return _Format(version=version,
                   object_format=values.get("extensions.objectformat", "").lower() or None,
                   ref_storage=values.get("extensions.refstorage", "").lower() or None,
                   partial_clone=promisor or bool(values.get("extensions.partialclone")))


def is_partial_clone(worktree: Path) -> bool:
    """True when git treats the repository as a partial clone: ``extensions.partialClone`` or a
    promisor remote in its config.

    A ``.promisor`` pack alone does not count: complete repositories keep them after the
    objects were all fetched (seen in the wild), and git does not lazy-fetch for them. If
    such a repository does lack an object, ``git log`` stops with an error, which history
    reports as incomplete.
    """
    lay = layout(worktree)
    return lay is not None and _repo_format(lay).partial_clone


@functools.cache
def _git() -> str:
    found = shutil.which("git")
    if not found:
        raise GitError("git is not installed")
    return os.path.abspath(found)


def _base_env(home: Path) -> dict[str, str]:
    """An environment built from nothing: git sees no variable of the caller but PATH."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_SYSTEM": os.devnull,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_NO_LAZY_FETCH": "1",
        "GIT_NO_REPLACE_OBJECTS": "1",  # refs/replace/* could swap a commit for a clean one
        "GIT_GRAFT_FILE": os.devnull,  # so could info/grafts
        "GIT_OPTIONAL_LOCKS": "0",  # never write the index back
        "GIT_ALLOW_PROTOCOL": "",  # an empty allow-list: no transport at all
        "GIT_PROTOCOL_FROM_USER": "0",
    }


def _mirror_config(fmt: _Format) -> str:
    if fmt.version > 1:
        raise GitError(f"unsupported repository format version {fmt.version}")
    lines = ["[core]", f"\trepositoryformatversion = {fmt.version}"]
    lines += [f"\t{k} = {v}" for k, v in MIRROR_SETTINGS["core"].items()]
    if fmt.version == 1 and (fmt.object_format or fmt.ref_storage):
        lines.append("[extensions]")
        if fmt.object_format:
            if fmt.object_format not in OBJECT_FORMATS:
                raise GitError(f"unsupported object format {fmt.object_format!r}")
            lines.append(f"\tobjectformat = {fmt.object_format}")
        if fmt.ref_storage:
            if fmt.ref_storage not in REF_STORAGES:
                raise GitError(f"unsupported ref storage {fmt.ref_storage!r}")
            lines.append(f"\trefstorage = {fmt.ref_storage}")
    for section, settings in MIRROR_SETTINGS.items():
        if section != "core":
            lines.append(f"[{section}]")
            lines += [f"\t{k} = {v}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


def _link(src: Path, dst: Path) -> None:
    if os.path.lexists(src):
        os.symlink(src, dst)


def _build_mirror(lay: Layout, mirror: Path) -> None:
    (mirror / "config").write_text(_mirror_config(_repo_format(lay)), encoding="utf-8")
    head = read_small(lay.git_dir / "HEAD")
    # an unreadable HEAD is an unborn branch: ``--all`` still walks every ref
    (mirror / "HEAD").write_bytes(head if head and b"\0" not in head else b"ref: refs/heads/unreadable-head\n")
    for name in LINKED_FROM_COMMON:
        _link(lay.common_dir / name, mirror / name)
    if not os.path.lexists(mirror / "refs"):
        (mirror / "refs").mkdir()
    _link(lay.git_dir / "index", mirror / "index")
    with contextlib.suppress(OSError):
        for name in os.listdir(lay.git_dir):
            if name.startswith("sharedindex."):  # a split index names its shared part
                _link(lay.git_dir / name, mirror / name)


@contextlib.contextmanager
def _mirrored(worktree: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """(command prefix, environment) for running git on ``worktree`` without its configuration."""
    lay = layout(worktree)
    if lay is None:
        raise GitError("not a git work tree")
    with contextlib.ExitStack() as stack:
        try:  # mode 0700, ours; removed at the end, or by stopping.leave() if the command exits first
            mirror = stack.enter_context(scratch_directory("shadow-agents-git-"))
        except OSError as exc:
            raise GitError(f"no temporary directory for git: {exc.strerror}") from None
        try:
            _build_mirror(lay, mirror)
        except OSError as exc:
            raise GitError(f"cannot prepare the git directory: {exc.strerror}") from None
        env = _base_env(mirror)
        env.update(GIT_DIR=str(mirror), GIT_WORK_TREE=str(worktree),
                   GIT_OBJECT_DIRECTORY=str(lay.common_dir / "objects"))
        # safe.directory exists so that git does not act on the configuration of a repository
        # somebody else owns. This git never reads that configuration (see the module docstring),
        # so trusting exactly this work tree is safe, and root must scan trees other users own.
        # (git checks ownership only when it discovers a repository, not for an explicit GIT_DIR;
        # both directories are named anyway, for gits that check more.)
        prefix = [_git(), "--no-pager", "-c", f"safe.directory={worktree}", "-c", f"safe.directory={mirror}"]
        yield prefix, env


class Stream:
    """A running git process; read ``stdout``. ``returncode`` and ``timed_out`` are set once it ended."""

    def __init__(self, proc: subprocess.Popen[bytes], timeout: float | None):
        self._proc = proc
        self.stdout: IO[bytes] = proc.stdout  # type: ignore[assignment]
        self.returncode: int | None = None
        self.timed_out = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout, self._expire) if timeout else None
        if self._timer:
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self.returncode is None:
                self.timed_out = True
                self._kill()

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            if hasattr(os, "killpg"):
                os.killpg(self._proc.pid, signal.SIGKILL)  # git and anything it started
            else:
                self._proc.kill()

    def close(self) -> None:
        if self._timer:
            self._timer.cancel()
        self.stdout.close()  # git stops at its next write when the reader left early
        try:
            code = self._proc.wait(timeout=CLOSE_GRACE)
        except subprocess.TimeoutExpired:
            with self._lock:
                self._kill()
            code = self._proc.wait()
        with self._lock:
            self.returncode = code


@contextlib.contextmanager
def stream(worktree: Path, args: Sequence[str], timeout: float | None = None) -> Iterator[Stream]:
    """Run ``git <args>`` on ``worktree`` (see the module docstring) and stream its stdout.

    The process is killed, with anything it started, when the block ends early or after ``timeout`` s.
    """
    with _mirrored(worktree) as (prefix, env):
        log.debug("git %s (work tree %s)", " ".join(args), worktree)
        try:
            proc = subprocess.Popen([*prefix, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, cwd=worktree, env=env, close_fds=True,
                                    start_new_session=True)
        except OSError as exc:
            raise GitError(f"git could not start: {exc.strerror}") from None
        s = Stream(proc, timeout)
        try:
            yield s
        finally:
            s.close()


def run(worktree: Path, args: Sequence[str], timeout: float) -> bytes:
    """``git <args>`` on ``worktree``: its whole stdout; GitError on failure or timeout."""
    with stream(worktree, args, timeout) as s:
        out = s.stdout.read()
    if s.timed_out:
        raise GitError(f"git {args[0]} timed out after {timeout:g} s")
    if s.returncode != 0:
        raise GitError(f"git {args[0]} exited with status {s.returncode}")
    return out
