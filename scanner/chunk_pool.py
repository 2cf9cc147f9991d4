"""The chunks of a large saved inventory worked on by every core, their results taken in file order.

Reading a million-agent inventory is CPU-bound in C — msgspec's decoder and encoder, the key
gate's automaton — a chunk at a time, with nothing carried from one chunk to the next; what must
follow the file's order (the spool, the summary, the order checks) is cheap. So ``work(name, raw)``
runs in worker processes, a few chunks ahead of the reader, and ``take(name, raw, result)`` runs
here in file order. The workers are forked from this process: they start in milliseconds with
the key formats already loaded (those of ``--catalog`` too) and the input file open, so what is
sent is where a chunk is, not its bytes: each worker reads its chunks itself (a chunk of another
size than the reader saw — the file changed meanwhile — is worked on here, on the reader's bytes).
A fork copies the locks other threads hold, so a process that has other threads, a small input
or a single core works in-process, calling the same two functions.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable

MIN_BYTES = 64 << 20  # smaller inputs are read in-process: starting workers would cost more than they save
AHEAD = 3  # chunks in flight per worker

Work = Callable[[str, bytes], Any]
Take = Callable[[str, bytes, Any], None]
_UNREAD = "unread"  # a worker's answer for a chunk it could not read as the reader did


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _quiet_worker() -> None:
    """Ctrl-C is the parent's to handle (it ends the workers); SIGTERM simply ends a worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _read_and_work(work: Work, fd: int, name: str, offset: int, size: int) -> Any:
    raw = os.pread(fd, size, offset)
    return work(name, raw) if len(raw) == size else _UNREAD


class OrderedChunks:
    """``work`` over chunks of the file open as ``fd`` handed to :meth:`chunk`, ``take`` over the
    results in the order given."""

    def __init__(self, work: Work, take: Take, fd: int) -> None:
        self.work = work
        self.take = take
        self.fd = fd
        self._pending: deque[tuple[str, bytes, Future[Any]]] = deque()
        self._pool: ProcessPoolExecutor | None = None
        workers = _cores()
        if os.fstat(fd).st_size >= MIN_BYTES and workers > 1 and threading.active_count() == 1 \
                and "fork" in multiprocessing.get_all_start_methods():
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                             initializer=_quiet_worker)
            self._ahead = workers * AHEAD

    @property
    def parallel(self) -> bool:
        return self._pool is not None

    def chunk(self, name: str, raw: bytes, offset: int) -> None:
        """The chunk ``raw``, read at ``offset`` of the file."""
        if self._pool is None:
            self.take(name, raw, self.work(name, raw))
            return
        future = self._pool.submit(_read_and_work, self.work, self.fd, name, offset, len(raw))
        self._pending.append((name, raw, future))
        while len(self._pending) > self._ahead:
            self._take_oldest()

    def drain(self) -> None:
        """Take every result still due (before anything that must follow them)."""
        while self._pending:
            self._take_oldest()

    def _take_oldest(self) -> None:
        name, raw, future = self._pending.popleft()
        result = future.result()
        self.take(name, raw, self.work(name, raw) if isinstance(result, str) and result == _UNREAD else result)

    def close(self) -> None:
        """End the workers; what is still in flight is dropped."""
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
