"""A private per-user cache of derived data (JSON only), so start-up does not redo work.

Entries live in ``$XDG_CACHE_HOME/shadow-agents`` (else ``~/.cache/shadow-agents``), one file
per entry, named by a key that hashes everything the value was derived from (inputs and the
tool's version): a stale entry is never found, and a write removes all but the newest few of its kind.

A cache file is data read by this process, so it is treated as untrusted input: JSON, never
pickle (loading it runs no code); read only from a directory this user owns with no access
for others (created 0700) and from a regular file this user owns that no one else may write,
opened without following links, whose value still has the checksum it was written with;
anything else — missing, unreadable, cut short, corrupt, wrong shape — reads as a miss, and the caller rebuilds from its real inputs and validates the value as it
validates those. Writing is best-effort and atomic (temp file, rename); a read-only or
missing home only costs the time the cache would have saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterable

MAX_ENTRY_BYTES = 16 * 1024 * 1024
KEEP_PER_KIND = 4  # entries of one kind kept after a write (a few installs side by side); older ones are removed


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):  # the XDG spec: a relative value is invalid and ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "shadow-agents"


def key(kind: str, version: str, parts: Iterable[str | bytes]) -> str:
    """The name of an entry: ``kind`` plus a hash of the version and of every input, in order."""
    h = hashlib.sha256(f"{kind}\0{version}\0".encode())
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(hashlib.sha256(data).digest())
    return f"{kind}-{h.hexdigest()[:32]}"


def _private_dir(path: Path, create: bool) -> bool:
    """Is ``path`` a real directory of this user that nobody else can use (made so when ``create``)?"""
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077


def read(name: str) -> Any | None:
    """The JSON value of entry ``name``, or None (a miss) when it is absent or not to be trusted."""
    folder = cache_dir()
    if not _private_dir(folder, create=False):
        return None
    try:
        fd = os.open(folder / f"{name}.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022
                or st.st_size > MAX_ENTRY_BYTES):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_ENTRY_BYTES + 1)
        entry = json.loads(data)
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
            return None
        if hashlib.sha256(entry["value"].encode("utf-8", "surrogatepass")).hexdigest() != entry.get("sha256"):
            return None  # cut short or changed since it was written
        return json.loads(entry["value"])
    except (OSError, ValueError, RecursionError):
        return None
    finally:
        os.close(fd)


def write(name: str, value: Any) -> None:
    """Store ``value`` (JSON-serialisable) as entry ``name``; failures are ignored."""
    folder = cache_dir()
    if not _private_dir(folder, create=True):
        return
    tmp = None
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        entry = {"sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), "value": text}
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)  # mode 0600
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(entry, fh, ensure_ascii=False)
        os.replace(tmp, folder / f"{name}.json")
        tmp = None
        _prune(folder, name)
    except (OSError, TypeError, ValueError):
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _prune(folder: Path, written: str) -> None:
    """Remove all but the newest entries of the kind of ``written`` (which is kept): every key
    change (an upgrade, an edited catalogue, an install) writes a new entry, and the old ones
    would otherwise pile up."""
    kind = written.rsplit("-", 1)[0]
    entries = []
    with os.scandir(folder) as it:
        for e in it:
            if e.name.startswith(f"{kind}-") and e.name.endswith(".json") and e.name[len(kind) + 1:-5].isalnum() \
                    and e.name != f"{written}.json":
                try:
                    entries.append((e.stat(follow_symlinks=False).st_mtime_ns, e.path))
                except OSError:
                    pass
    for _, path in sorted(entries, reverse=True)[KEEP_PER_KIND - 1:]:
        try:
            os.unlink(path)
        except OSError:
            pass
