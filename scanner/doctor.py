"""``shadow-agents doctor``: can each installed detector run here, and what would let it see more."""

from __future__ import annotations

import hashlib
import platform
import sys
from dataclasses import dataclass
from importlib import resources

import yaml

from scanner import __version__
from scanner.detector import Check
from scanner.installation import foreign_packages


@dataclass
class DetectorHealth:
    name: str
    default: bool
    checks: list[Check]

    @property
    def runs(self) -> bool:
        return all(c.ok for c in self.checks if c.required)

    @property
    def full(self) -> bool:
        return all(c.ok for c in self.checks)


def catalogue_version() -> str:
    """``47 providers, sha256 3f9a1c2b4d5e``: what the built-in catalogue holds, and which one it is."""
    text = resources.files("scanner.data").joinpath("providers.yaml").read_text(encoding="utf-8")
    providers = (yaml.safe_load(text) or {}).get("providers") or []
    return f"{len(providers)} providers, sha256 {hashlib.sha256(text.encode()).hexdigest()[:12]}"


def version_line() -> str:
    return (f"shadow-agents {__version__} (catalogue: {catalogue_version()}; "
            f"Python {platform.python_version()} on {sys.platform})")


def installation_checks() -> list[Check]:
    problems = foreign_packages()
    return [Check("installation", not problems, "; ".join(problems) or "scanner, detectors and reports are this "
                  "distribution's", "" if not problems else "install shadow-agents in its own environment: "
                  "pipx install shadow-agent-scanner", required=True)]


def detector_health() -> list[DetectorHealth]:
    from scanner.pipeline import list_detectors
    out = []
    for info in list_detectors():
        if info.cls is None:
            checks = [Check("can run here", False, info.load_error or "cannot load", "reinstall the plugin",
                            required=True)]
        else:
            try:
                checks = info.cls().diagnose()
            except Exception as exc:  # a plugin's diagnose must not break doctor
                checks = [Check("diagnose", False, f"{type(exc).__name__}: {exc}", required=True)]
        out.append(DetectorHealth(info.name, info.default and info.offline, checks))
    return out
