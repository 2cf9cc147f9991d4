"""The repo detector's worker processes: started in the background, fed chunks of files, read in order.

Why it is shaped this way (each point was a measured cost):

- Workers come from a *forkserver* that has already imported the scanning modules
  (``set_forkserver_preload``): a forked worker then starts in milliseconds instead of
  importing them itself (a quarter to half a second each, during which the detector's thread
  sat blocked writing the worker's start-up data). Not plain ``fork``: the process has other
  threads (the pipeline's, the other detectors'), and a fork copies whatever locks they hold.
- Starting the pool (the forkserver's own start-up, then one fork per worker) happens on a
  helper thread while the detector thread goes on scanning files itself; chunks go to the
  workers only once all of them are up, so no core waits for another.
- Workers open and read their files themselves (:func:`~.worker.scan_chunk`); a task is a few
  paths, a result is the hits of its files, nothing more.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Iterator

from detectors.repo.rules import Rules
from detectors.repo.worker import FileResult, Task, init_worker, ready, scan_chunk

# Imported by the forkserver before it forks any worker: everything a worker runs.
PRELOAD = ["__main__", "detectors.repo.worker"]


class WorkerPool:
    """``workers`` processes scanning chunks of files with ``rules``, each file on a ``budget`` (seconds)."""

    def __init__(self, rules: Rules, workers: int, budget: float, max_size: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)  # only read when the forkserver starts (first pool of a process)
        self.workers = workers
        self.max_size = max_size
        self._pool = ProcessPoolExecutor(max_workers=workers, initializer=init_worker, initargs=(rules, budget),
                                         mp_context=context)
        self._started: list[Future[bool]] = []
        self._failed: BaseException | None = None
        self._in_flight: deque[tuple[Future[list[FileResult]], Any]] = deque()
        self._starter = threading.Thread(target=self._start, name="repo-pool-start", daemon=True)
        self._starter.start()

    def _start(self) -> None:
        try:  # each submit to an idle pool starts one more worker, until there are ``workers``
            self._started = [self._pool.submit(ready) for _ in range(self.workers)]
        except BaseException as exc:  # shut down meanwhile, or the processes could not start
            self._failed = exc

    @property
    def ready(self) -> bool:
        """Are all workers up (so chunks sent now are scanned at once)?"""
        if self._starter.is_alive():
            return False
        if self._failed is not None:
            raise self._failed
        return all(f.done() for f in self._started)

    def submit(self, tasks: list[Task], context: Any) -> None:
        """Queue ``tasks`` (one chunk); ``context`` comes back with their results."""
        self._in_flight.append((self._pool.submit(scan_chunk, tasks, self.max_size), context))

    @property
    def full(self) -> bool:
        return len(self._in_flight) >= self.workers * 3

    def __bool__(self) -> bool:
        return bool(self._in_flight)

    def next_results(self) -> tuple[list[FileResult], Any]:
        """The results of the oldest chunk (waiting for them), and its context."""
        future, context = self._in_flight.popleft()
        return future.result(), context

    def drain(self) -> Iterator[tuple[list[FileResult], Any]]:
        while self._in_flight:
            yield self.next_results()

    def close(self) -> None:
        self._starter.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
