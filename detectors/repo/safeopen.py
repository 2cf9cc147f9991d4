"""Opening what the walk chose — exactly that, through no symbolic link.

The walk hands over *real* paths: the place each file or directory really is, links already
resolved (and judged) by the walk. Opening one follows no link on the way, so a file or a parent
directory swapped for a link after the walk saw it cannot lead anywhere else — not to a file
outside the tree, not to a device whose ``open`` alone has an effect:

- Linux 5.6+: ``openat2`` with ``RESOLVE_NO_SYMLINKS`` (the kernel refuses any link in the path);
- elsewhere: ``O_NOFOLLOW`` on the last component, then the kernel's name for the descriptor
  (``/proc/self/fd``) must be the path asked for (without ``/proc``: the resolved path, checked,
  not race-free).

``O_NONBLOCK``: a FIFO swapped in cannot block the open. Paths longer than ``PATH_MAX`` are
opened a short head first, then one component at a time with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from typing import Callable

LONG_PATH = 3584  # longer paths (bytes) are opened a component at a time; Linux PATH_MAX is 4096

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
FILE_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
# Listing by descriptor needs these; without them (Windows) directories are listed by path.
BY_FD = os.scandir in os.supports_fd and os.stat in os.supports_dir_fd and os.open in os.supports_dir_fd


class Moved(OSError):
    """What was opened is not what the walk saw there: a link appeared on the way during the scan."""


def open_exact(path: str, directory: bool = False) -> int:
    """Open the real path ``path`` read-only, following no symbolic link; :class:`Moved` if one is in the way."""
    flags = (DIR_FLAGS if directory else FILE_FLAGS) | NOFOLLOW
    try:
        return _open_one(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return _open_long(path, flags)
        if exc.errno in (errno.ELOOP, errno.EMLINK) or (exc.errno == errno.ENOTDIR and os.path.islink(path)):
            raise Moved(exc.errno, "a symbolic link appeared on the way", path) from None
        raise


def _open_one(path: str | bytes, flags: int) -> int:
    if _openat2 is not None:
        return _openat2(os.fsencode(path), flags)
    fd = os.open(path, flags)
    if not _is_at(fd, os.fsdecode(path)):
        os.close(fd)
        raise Moved(errno.EXDEV, "opened somewhere else", path)
    return fd


def _is_at(fd: int, path: str) -> bool:
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return False
        return os.path.normcase(os.path.realpath(path)) == os.path.normcase(os.path.normpath(path))  # no /proc
    return real == path or real == path + " (deleted)"


def _open_long(path: str, flags: int) -> int:
    raw = os.fsencode(path)
    cut = raw.rfind(b"/", 0, LONG_PATH)
    if cut <= 0:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), path)
    fd = _open_one(raw[:cut], DIR_FLAGS | NOFOLLOW)
    parts = [p for p in raw[cut + 1:].split(b"/") if p]
    try:
        for name in parts[:-1]:
            nxt = os.open(name, DIR_FLAGS | NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return os.open(parts[-1], flags, dir_fd=fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR):
            raise Moved(exc.errno, "a symbolic link appeared on the way", path) from None
        raise
    finally:
        os.close(fd)


def open_child(dir_fd: int, name: str, directory: bool = False) -> int:
    """Open ``name`` inside an open directory, not through a link."""
    flags = (DIR_FLAGS if directory else FILE_FLAGS) | NOFOLLOW
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or (exc.errno == errno.ENOTDIR and directory):
            raise Moved(exc.errno, "a symbolic link appeared on the way", name) from None
        raise


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_SYS_OPENAT2 = 437  # the same number on every Linux architecture
_AT_FDCWD = -100
_RESOLVE_NO_MAGICLINKS, _RESOLVE_NO_SYMLINKS = 0x02, 0x04


def _load_openat2() -> Callable[[bytes, int], int] | None:
    """``openat2(AT_FDCWD, path, {flags, RESOLVE_NO_SYMLINKS})``, or None where the kernel has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    syscall.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t)
    hows: dict[int, tuple[_OpenHow, int]] = {}  # one per set of flags (there are two), kept alive here
    size = ctypes.sizeof(_OpenHow)

    def openat2(path: bytes, flags: int) -> int:
        how = hows.get(flags)
        if how is None:
            st = _OpenHow(flags, 0, _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
            how = hows[flags] = (st, ctypes.addressof(st))
        fd = syscall(_SYS_OPENAT2, _AT_FDCWD, path, how[1], size)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), os.fsdecode(path))
        return fd

    try:
        os.close(openat2(b"/", DIR_FLAGS))
    except OSError:  # ENOSYS (before 5.6), EPERM (a seccomp filter)
        return None
    return openat2


_openat2 = _load_openat2()
