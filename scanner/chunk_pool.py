"""The chunks of a large saved inventory worked on by every core, their results taken in file order.

Reading a million-agent inventory is CPU-bound in C — msgspec's decoder and encoder, the key
gate's automaton — a chunk at a time, with nothing carried from one chunk to the next; what must
follow the file's order (the spool, the summary, the order checks) is cheap. So ``work(name, raw, offset)``
runs in worker processes, a few chunks ahead of the reader, and ``take(name, raw, result)`` runs
here in file order (``offset``, where the chunk is in the file, names the room in which a worker
may write what it made itself, :class:`scanner.spool.PlacedSpool`, rather than send it back). The workers are forked from this process: they start in milliseconds with
the key formats already loaded (those of ``--catalog`` too) and the input file open, so what is
sent is where a chunk is, not its bytes: each worker reads its chunks itself (a chunk of another
size than the reader saw — the file changed meanwhile — is worked on here, on the reader's bytes).
A fork copies the locks other threads hold, so a process that has other threads, a small input,
a single core or a system other than Linux works in-process, calling the same two functions.
:class:`OrderedTasks` is the same for any tasks whose work needs only what the process held when
it forked (the groups of a merge on disk, built from its spool).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable

MIN_BYTES = 64 << 20  # smaller inputs are read in-process: starting workers would cost more than they save
AHEAD = 3  # chunks in flight per worker

Work = Callable[[str, bytes, int], Any]
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
    return work(name, raw, offset) if len(raw) == size else _UNREAD


def forked_pool(wanted: bool) -> ProcessPoolExecutor | None:
    """Worker processes forked from this one, one per core it may use; None when ``wanted`` is
    false or forking is not safe or of no use here: other threads, one core, or not Linux (macOS
    system libraries are not safe to use in a forked child; Python itself does not fork there)."""
    workers = _cores()
    if not wanted or workers < 2 or threading.active_count() != 1 or not sys.platform.startswith("linux"):
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_quiet_worker)


class OrderedTasks:
    """``work(*args)`` for each task given to :meth:`submit`, in ``pool`` (None: here, at once),
    and ``take(context, result)`` in the order the tasks were given, a few tasks per worker ahead."""

    def __init__(self, work: Callable[..., Any], take: Callable[[Any, Any], None],
                 pool: ProcessPoolExecutor | None) -> None:
        self.work = work
        self.take = take
        self._pool = pool
        self._pending: deque[tuple[Any, Future[Any]]] = deque()
        self._ahead = AHEAD * _cores()

    @property
    def parallel(self) -> bool:
        return self._pool is not None

    def submit(self, context: Any, *args: Any) -> None:
        """One task: ``work(*args)``; ``context`` comes back to ``take`` with its result."""
        if self._pool is None:
            self.take(context, self.work(*args))
            return
        self._pending.append((context, self._pool.submit(self.work, *args)))
        while len(self._pending) > self._ahead:
            self._take_oldest()

    def drain(self) -> None:
        """Take every result still due (before anything that must follow them)."""
        while self._pending:
            self._take_oldest()

    def _take_oldest(self) -> None:
        context, future = self._pending.popleft()
        self.take(context, future.result())

    def close(self) -> None:
        """End the workers; what is still in flight is dropped."""
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class OrderedChunks(OrderedTasks):
    """``work(name, raw, offset)`` over chunks of the file open as ``fd`` handed to :meth:`chunk` (on every
    core once the file holds :data:`MIN_BYTES`), ``take(name, raw, result)`` in the order given."""

    def __init__(self, work: Work, take: Take, fd: int) -> None:
        super().__init__(_read_and_work, self._take_chunk, forked_pool(os.fstat(fd).st_size >= MIN_BYTES))
        self.chunk_work = work
        self.chunk_take = take
        self.fd = fd

    def chunk(self, name: str, raw: bytes, offset: int) -> None:
        """The chunk ``raw``, read at ``offset`` of the file."""
        if not self.parallel:
            self.chunk_take(name, raw, self.chunk_work(name, raw, offset))
            return
        self.submit((name, raw, offset), self.chunk_work, self.fd, name, offset, len(raw))

    def _take_chunk(self, context: tuple[str, bytes, int], result: Any) -> None:
        name, raw, offset = context
        if isinstance(result, str) and result == _UNREAD:
            result = self.chunk_work(name, raw, offset)
        self.chunk_take(name, raw, result)
