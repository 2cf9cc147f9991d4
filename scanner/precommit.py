"""The pre-commit hook: the repo detector on the files about to be committed, nothing else.

pre-commit hands over the staged files (it stashes unstaged changes first, so what is
on disk is what will be committed). No history, no process table, no registry: a key
is a leak whether or not its agent is approved. The hook fails on keys; with
``fail_on_agents`` it also fails on new code that calls an LLM API, so a team can ask
for a registry record before such code lands.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from scanner.config import ScanConfig
from scanner.model import Finding, Inventory, Status


@dataclass
class HookResult:
    inventory: Inventory
    keys: list[Finding]
    agents: int
    skipped: list[str]

    def failed(self, fail_on_agents: bool) -> bool:
        return bool(self.keys) or (fail_on_agents and self.agents > 0)


def run_hook(files: Iterable[str], catalog: list[str], timeout: float) -> HookResult:
    from scanner.pipeline import scan
    present = [f for f in files if Path(f).is_file()]
    skipped = [f for f in files if f not in present]  # deleted or renamed away: nothing to commit there
    config = ScanConfig(paths=present, detectors=["repo"], catalog=catalog, timeout=timeout, progress=False,
                        fail_on="none")
    if not present:
        return HookResult(Inventory(agents=[], findings=[], coverage=[]), [], 0, skipped)
    inventory = scan(config, today=dt.date.today())
    keys = sorted((f for f in inventory.findings if f.credential is not None),
                  key=lambda f: (f.location.path or "", f.location.line or 0))
    agents = sum(1 for a in inventory.agents if a.status == Status.SHADOW)
    return HookResult(inventory, keys, agents, skipped)


def describe(result: HookResult) -> list[str]:
    """One line per key (``path:line: openai key sk-proj-…a1B9 (fingerprint 3f9a…)``), then a verdict."""
    lines = []
    for f in result.keys:
        where = f.location.path or "?"
        if f.location.line:
            where += f":{f.location.line}"
        assert f.credential is not None
        lines.append(f"{where}: {f.provider or 'LLM'} key {f.credential.preview} "
                     f"(fingerprint {f.credential.fingerprint})")
    return lines
