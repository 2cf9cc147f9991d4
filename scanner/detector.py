"""The detector plugin contract.

A detector is a class with a ``name``, its declared ``options`` and a ``run(ctx)``
generator that yields :class:`~scanner.model.Finding` objects. It reads its options
with ``ctx.option(name)``, already converted to the declared type and defaulted. It
records what it could not see on ``ctx.coverage`` and checks ``ctx.cancelled`` in long
loops so a timeout can stop it. It never reads the registry and never sees another
detector's findings. The module that the entry point names should be cheap to import
(every ``scan`` imports it to learn the options): import heavy machinery in ``run``.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

from scanner.catalog import Catalog
from scanner.model import Coverage, Finding
from scanner.options import Option


class DetectorError(Exception):
    """The user's input to a detector is unusable: a bad option, an unreadable capture, no privilege.

    The scan still completes and its report is written (nothing found is lost); the
    coverage entry is marked ``input_error`` and the command then exits with code 2.
    """


class Cancelled(Exception):
    """Raised by :meth:`ScanContext.check_cancelled` when the pipeline gave up on a detector."""


ProgressCallback = Callable[[str, "int | None", "int | None", "str | None"], None]


@dataclass
class ScanContext:
    """Everything a detector may use: options, the catalogue, and where to report coverage."""

    detector: str
    catalog: Catalog
    paths: list[Path]
    options: dict[str, Any]
    coverage: Coverage
    cancel_event: threading.Event = field(default_factory=threading.Event)
    progress_callback: ProgressCallback | None = None
    hostname: str = field(default_factory=lambda: current_host())
    username: str = field(default_factory=lambda: current_user())
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("shadow_agents"))

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled(self.detector)

    def progress(self, completed: int | None = None, total: int | None = None, note: str | None = None) -> None:
        """Tell the progress display how far along this detector is (all arguments optional)."""
        if self.progress_callback:
            self.progress_callback(self.detector, completed, total, note)

    def option(self, name: str, default: Any = None) -> Any:
        """The option's value (the pipeline fills in declared defaults); ``default`` if it is absent."""
        value = self.options.get(name)
        return default if value is None else value


@dataclass(frozen=True)
class Check:
    """One thing ``shadow-agents doctor`` looked at for a detector: present here or not, and the fix.

    ``required`` checks decide whether the detector can run at all; the others only limit
    what it sees (another user's processes without root, say).
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = False


class Detector:
    """Base class for detectors. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Runs with no -d flag: offline, local, safe on any laptop or CI runner.
    default: ClassVar[bool] = True
    # Needs no network access or cloud account.
    offline: ClassVar[bool] = True
    # What the user can set: ``--set NAME.OPTION=VALUE``, ``[detectors.NAME]``, and flags.
    options: ClassVar[tuple[Option, ...]] = ()

    def available(self) -> tuple[bool, str]:
        """(usable here?, why not). Checked before running and by ``shadow-agents detectors``."""
        return True, ""

    def diagnose(self) -> list[Check]:
        """What ``shadow-agents doctor`` shows: privileges, packages, credentials this detector needs.

        Cheap and local: no scan, and no call to a service beyond an identity check.
        The default reports :meth:`available`; detectors override it to say more.
        """
        ok, why = self.available()
        return [Check("can run here", ok, "yes" if ok else why, required=True)]

    def run(self, ctx: ScanContext) -> Iterator[Finding]:  # pragma: no cover - interface
        raise NotImplementedError


def current_host() -> str:
    return socket.gethostname() or "localhost"


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"
