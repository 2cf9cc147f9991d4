"""Reading and scanning files, in this process or in worker processes (same code, same results).

Files are opened at the real path the walk chose, through no link (:mod:`.safeopen`).

**Per-file time budget** (``file_timeout``): a file whose scan runs past it is abandoned alone —
its result is a coverage gap naming it, every other file is still scanned. How it is stopped:

- in a worker process the scan runs in the main thread, so a ``SIGALRM`` timer interrupts it —
  even inside one long regular-expression call, which checks for signals;
- in this process the scan runs in the detector's thread, where signals cannot reach: a watchdog
  thread raises :class:`FileOverBudget` in it. That takes effect between two steps of the
  scanner's own code (between two pattern calls), not inside one call that holds the
  interpreter lock — only a worker process can stop such a call.

:class:`FileOverBudget` derives from ``BaseException`` so no ``except Exception`` in the content
scanners can swallow it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import stat
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from detectors.repo.content import BINARY_SNIFF, Hit, is_binary, scan_bytes
from detectors.repo.rules import Rules
from detectors.repo.safeopen import Moved, open_exact

_RULES: Rules | None = None
_BUDGET = 0.0
_ARMED = False

# (index, path to open, rel, keys_only): what a worker needs to know about one file
Task = tuple[int, str, str, bool]


class FileOverBudget(BaseException):
    """One file's scan ran past ``file_timeout``."""


@dataclass
class FileResult:
    index: int
    hits: list[Hit] = field(default_factory=list)
    gap: str | None = None  # why the file could not be read
    binary: bool = False
    size: int = 0

    def __reduce__(self) -> tuple[type, tuple]:  # as Hit.__reduce__: results go back by the thousand
        return FileResult, (self.index, self.hits, self.gap, self.binary, self.size)


def over_budget(index: int, seconds: float) -> FileResult:
    return FileResult(index, gap=f"scan took longer than file_timeout ({seconds:g} s): abandoned, "
                                 "the other files were scanned")


def scan_file(rules: Rules, index: int, path: str, rel: str, max_size: int, keys_only: bool = False) -> FileResult:
    try:
        fd = open_exact(path)
    except Moved:
        return FileResult(index, gap="a symbolic link appeared on its path during the scan: not read")
    except OSError as exc:
        return FileResult(index, gap=f"unreadable: {exc.strerror or type(exc).__name__}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return FileResult(index, gap="not a regular file any more (changed during the scan): not read")
        if st.st_size > max_size:
            return FileResult(index, gap=f"larger than max_file_size ({max_size} bytes)")
        data = _read(fd, BINARY_SNIFF, st.st_size)
        if is_binary(data):  # decided on the first block: binaries are never read whole
            return FileResult(index, binary=True)
        # Asked for its size (plus one byte, to see growth), not the limit: a read of n bytes
        # allocates n first, and 10 MB per small file cost more than scanning it.
        if len(data) == BINARY_SNIFF and len(data) <= st.st_size:
            data += _read(fd, st.st_size + 1 - len(data), st.st_size - len(data))
        if len(data) > st.st_size:  # it grew while being read: read on, up to the limit
            data += _read(fd, max_size + 1 - len(data), max_size + 1 - len(data))
    except OSError as exc:
        return FileResult(index, gap=f"unreadable: {exc.strerror or type(exc).__name__}")
    finally:
        os.close(fd)
    if len(data) > max_size:
        return FileResult(index, gap=f"larger than max_file_size ({max_size} bytes)")
    try:
        hits = scan_bytes(rules, rel, data)
    except RecursionError:
        return FileResult(index, gap="too deeply nested to parse", size=len(data))
    if keys_only:
        hits = [h for h in hits if h.kind == "credential"]
    return FileResult(index, hits=hits, size=len(data))


def _read(fd: int, n: int, size: int) -> bytes:
    """Up to ``n`` bytes; fewer at the end of the file, or once ``size`` bytes (what is left of the
    size ``fstat`` gave) are read. ``os.read`` on the descriptor: a buffered file object around it
    cost more to make than reading most files."""
    data = os.read(fd, n)
    while len(data) < n and len(data) < size:  # a short read before the end it had: read on
        part = os.read(fd, n - len(data))
        if not part:
            break
        data += part
    return data


# ---- worker processes ------------------------------------------------------------------------


def init_worker(rules: Rules, budget: float) -> None:
    global _RULES, _BUDGET
    _RULES, _BUDGET = rules, budget
    signal.signal(signal.SIGALRM, _on_alarm)


def ready() -> bool:
    """A worker's first task: it is up (the pool sends files only once every worker has answered)."""
    return _RULES is not None


def _on_alarm(signum: int, frame: object) -> None:
    if _ARMED:  # a late alarm, after the file finished, is ignored
        raise FileOverBudget()


def scan_chunk(chunk: list[Task], max_size: int) -> list[FileResult]:
    """Worker entry point: scan a batch with the rules given at start-up, each file on its own budget."""
    assert _RULES is not None
    return [_scan_on_alarm(_RULES, task, max_size) for task in chunk]


def _scan_on_alarm(rules: Rules, task: Task, max_size: int) -> FileResult:
    global _ARMED
    index, path, rel, keys_only = task
    if _BUDGET <= 0:
        return scan_file(rules, index, path, rel, max_size, keys_only)
    try:
        _ARMED = True
        signal.setitimer(signal.ITIMER_REAL, _BUDGET)
        try:
            return scan_file(rules, index, path, rel, max_size, keys_only)
        finally:
            _ARMED = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except FileOverBudget:
        _ARMED = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        return over_budget(index, _BUDGET)


# ---- in this process -------------------------------------------------------------------------


class Watchdog:
    """Abandon the file the detector thread is scanning once it has run ``seconds`` (0: never).

    Arming and disarming for each file only set a field under a lock: they never wake the
    watchdog thread (waking it for every file made the two threads trade the interpreter lock
    twice per file, which cost more than scanning small files). The watchdog wakes by itself
    every ``seconds / 4`` (at most a second apart) and at the armed deadline it knows of, so a
    file over budget is stopped at most that much late.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds if _set_async_exc is not None else 0.0
        self._tick = min(1.0, self.seconds / 4) if self.seconds > 0 else 1.0
        self._cond = threading.Condition()
        self._armed: tuple[int, float] | None = None  # (thread id, deadline)
        self._fired = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def scan(self, index: int, scan: Callable[[], FileResult]) -> FileResult:
        if self.seconds <= 0:
            return scan()
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="repo-file-budget", daemon=True)
            self._thread.start()
        tid = threading.get_ident()
        try:
            try:
                with self._cond:
                    self._armed, self._fired = (tid, time.monotonic() + self.seconds), False
                return scan()
            finally:
                self._disarm(tid)
        except FileOverBudget:
            self._disarm(tid)
            return over_budget(index, self.seconds)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _disarm(self, tid: int) -> None:
        with self._cond:
            self._armed = None
            if self._fired:  # raised but not delivered yet (the file ended just then): withdraw it
                _set_async_exc(tid, None)  # type: ignore[misc]
                self._fired = False

    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                wait = self._tick
                if self._armed is not None and not self._fired:
                    tid, deadline = self._armed
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._fired = True
                        _set_async_exc(tid, FileOverBudget)  # type: ignore[misc]
                        continue
                    wait = min(wait, left)
                self._cond.wait(wait)


def _async_exc_setter() -> Callable[[int, type[BaseException] | None], None] | None:
    """CPython's documented way to raise an exception in another thread (None elsewhere)."""
    api = getattr(ctypes, "pythonapi", None)
    fn = getattr(api, "PyThreadState_SetAsyncExc", None)
    if fn is None:
        return None

    def setter(tid: int, exc: type[BaseException] | None) -> None:
        fn(ctypes.c_ulong(tid), None if exc is None else ctypes.py_object(exc))  # None: NULL, withdraws it

    return setter


_set_async_exc = _async_exc_setter()
