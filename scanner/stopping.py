"""How the command stops: SIGTERM and SIGHUP end it like Ctrl-C does, and nothing outlives it.

A detector that timed out, or a scan that was interrupted, can leave a thread blocked
in a worker pool; the interpreter's exit would then wait for the pool's workers,
holding a pipeline (``scan | wc -c``) open for minutes. So the command ends its
worker processes itself and leaves without waiting for threads nobody will join.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

_scratch: set[str] = set()  # private temporary directories in use: removed however the command leaves


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM or SIGHUP arrives (a BaseException, like KeyboardInterrupt,
    so no ``except Exception`` on the way swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def _raise(signum: int, _frame: Any) -> None:
    raise Terminated(signum)


def _stop_forkserver() -> None:
    forkserver = sys.modules.get("multiprocessing.forkserver")
    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def install() -> None:
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, _raise)


@contextmanager
def scratch_directory(prefix: str) -> Iterator[Path]:
    """A private (0700) temporary directory, removed at the end of the block or, if the command
    leaves first without waiting for the thread that uses it, by :func:`leave`."""
    path = tempfile.mkdtemp(prefix=prefix)
    _scratch.add(path)
    try:
        yield Path(path)
    finally:
        _scratch.discard(path)
        shutil.rmtree(path, ignore_errors=True)


def leave(code: int | None) -> None:
    """End worker processes; if threads are still running (a timed-out detector), exit now without them."""
    for path in list(_scratch):
        shutil.rmtree(path, ignore_errors=True)
    mp = sys.modules.get("multiprocessing")
    children = mp.active_children() if mp is not None else []
    if children:
        _stop_forkserver()  # first, so that no new worker is half-started while the others end
    for child in children:
        child.terminate()
    for child in children:
        child.join(2)
        if child.is_alive():
            child.kill()
    # Non-daemon threads would hold the exit; a detector's daemon thread that is still alive is stuck.
    # Any other daemon thread still running when the interpreter finalizes is ended by pthread_exit()
    # as it wakes, which can abort the process ("FATAL: exception not rethrown", exit -6): one that
    # is ending (a detector's file watchdog, told to close) gets a moment, else it counts as stuck.
    deadline = time.monotonic() + 1.0
    for t in threading.enumerate():
        if t is not threading.main_thread() and t.daemon and not t.name.startswith("detector-"):
            t.join(max(0.0, deadline - time.monotonic()))
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if busy or children:
        _end_descendants()  # os._exit runs no atexit hook: the pool's workers would outlive us
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def _end_descendants() -> None:
    """Terminate every process this one started (forkserver, its workers, the resource tracker)."""
    try:
        import psutil
        procs = psutil.Process().children(recursive=True)
    except Exception:  # noqa: BLE001 - nothing to end, or no way to see them
        return
    for p in procs:
        try:
            p.terminate()
        except Exception:  # noqa: BLE001 - gone already
            pass
    try:
        _gone, alive = psutil.wait_procs(procs, timeout=2)
    except Exception:  # noqa: BLE001
        return
    for p in alive:
        try:
            p.kill()
        except Exception:  # noqa: BLE001
            pass
