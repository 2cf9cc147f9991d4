"""Progress display on stderr: a rich live view per detector, or nothing at all."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from scanner import redact, safetext

if TYPE_CHECKING:  # rich is imported only for a live display (a terminal): start-up time
    from rich.console import Console

    from scanner.model import Coverage


class ProgressSink(Protocol):
    def start(self, detector: str) -> None: ...
    def update(self, detector: str, completed: int | None, total: int | None, note: str | None) -> None: ...
    def finish(self, detector: str, coverage: Coverage) -> None: ...
    def __enter__(self) -> "ProgressSink": ...
    def __exit__(self, *exc: object) -> None: ...


class NoProgress:
    def start(self, detector: str) -> None:
        pass

    def update(self, detector: str, completed: int | None, total: int | None, note: str | None) -> None:
        pass

    def finish(self, detector: str, coverage: Coverage) -> None:
        pass

    def __enter__(self) -> "NoProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


_STATUS_STYLE = {"ran": "green", "partial": "yellow", "skipped": "dim", "failed": "red"}


class RichProgress:
    """One line per detector: spinner, bar when the detector knows its total, findings so far."""

    def __init__(self, console: "Console") -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn)
        self._progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.fields[detector]:<12}"), BarColumn(bar_width=24),
            MofNCompleteColumn(), TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
            console=console, transient=False, redirect_stdout=False, redirect_stderr=False,
        )
        self._tasks: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, detector: str) -> None:
        with self._lock:
            self._tasks[detector] = self._progress.add_task(detector, total=None, detector=detector, note="starting")

    def update(self, detector: str, completed: int | None, total: int | None, note: str | None) -> None:
        task = self._tasks.get(detector)
        if task is None:
            return
        kwargs: dict[str, object] = {}
        if total is not None:
            kwargs["total"] = total
        if completed is not None:
            kwargs["completed"] = completed
        if note is not None:  # often a file name: scrubbed, printable, and never markup
            from rich.markup import escape
            kwargs["note"] = escape(safetext.one_line(redact.scrub(note))[:40])
        self._progress.update(task, **kwargs)

    def finish(self, detector: str, coverage: Coverage) -> None:
        task = self._tasks.get(detector)
        if task is None:
            return
        style = _STATUS_STYLE.get(coverage.status.value, "white")
        note = f"[{style}]{coverage.status.value}[/] · {coverage.findings} findings"
        total = self._progress.tasks[task].total or 1
        self._progress.update(task, total=total, completed=total, note=note)
