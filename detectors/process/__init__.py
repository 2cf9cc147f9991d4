"""The ``process`` detector: its declaration, cheap to import (``scan`` reads every detector's
options at start-up); the work is in :mod:`detectors.process.detector`, imported when it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from detectors.base import Check, Detector, Option, ScanContext

if TYPE_CHECKING:
    from scanner.model import Finding

__all__ = ["ProcessDetector"]

DEFAULT_RESOLVE_TIMEOUT = 5.0


class ProcessDetector(Detector):
    name = "process"
    description = "Running agents, agent CLIs, MCP servers and local model servers on this host (process table)"
    default = True
    offline = True
    options = (
        Option("resolve", "bool", False, "Resolve catalogue hostnames to attribute connections (makes DNS queries).",
               flag="--resolve"),
        Option("resolve_timeout", "duration", DEFAULT_RESOLVE_TIMEOUT, "How long the DNS lookups of --resolve may take."),
        Option("packages", "bool", True, "Look for installed LLM SDKs next to each interpreter."),
    )

    def __init__(self, source: Any = None) -> None:
        self.source = source  # where processes are read from: this host (LiveSource) unless given

    def available(self) -> tuple[bool, str]:
        import importlib.util
        if importlib.util.find_spec("psutil") is None:
            return False, "psutil is not installed"
        return True, ""

    def diagnose(self) -> list[Check]:
        from scanner.privileges import has_capability, is_root
        checks = super().diagnose()
        full = is_root() or has_capability("CAP_SYS_PTRACE")
        checks.append(Check("other users' processes", full,
                            "environments, open files and sockets of every process are readable" if full else
                            "only this user's processes show their environment, open files and sockets",
                            "" if full else "run as root (sudo shadow-agents scan), or in a container with "
                            "--pid=host --user 0 --cap-add SYS_PTRACE"))
        return checks

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        from detectors.process.detector import ProcessScan
        return ProcessScan(self.source).run(ctx)
