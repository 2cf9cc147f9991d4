"""Replay a recorded process table (tests/fixtures/process_tables/*.json) through the process detector.

The tables were recorded from real runs of agent CLIs with
tests/fixtures/record_process_table.py: command lines, environment *names*, parent
links, and the few files the detector reads to name a program. A replay lays those
files out under a temporary directory (``$HOME/…`` → ``<root>/HOME/…``), gives every
recorded key a test key of the same format (same token, same key: inheritance is
kept) and hands the table to :class:`~detectors.process.ProcessDetector` as its
source. Pids are moved above any real pid, so nothing is read from the live host.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

from detectors.base import ScanContext
from detectors.process import ProcessDetector
from scanner.catalog import Catalog
from scanner.correlate import correlate
from scanner.model import Agent, Coverage, Finding
from tests.keys import SHAPES, make_key

TABLES = Path(__file__).resolve().parent / "fixtures" / "process_tables"
PID_BASE = 5_000_000  # above /proc/sys/kernel/pid_max's largest value (4,194,304)
_PLACE = re.compile(r"\$([A-Z][A-Z0-9_]*)")
_KEY_TOKEN = re.compile(r"\{(key:[\w-]+:\d+@[\w.-]+)\}")


def _scoped(text: str, table: str) -> str:
    """Key tokens are numbered per table: ``key:openai-project:1`` of two tables are two keys."""
    return re.sub(r"(key:[\w-]+:\d+)", rf"\1@{table}", text)


class ReplaySource:
    """The process source protocol of detectors.process.snapshot.LiveSource, over a recorded table."""

    def __init__(self, tables: str | list[str], root: Path, user: str = "alice") -> None:
        self.data: dict[str, Any] = {"processes": [], "files": {"links": {}, "packages": {}, "dist_info": {}}}
        seen: set[int] = set()
        for table in [tables] if isinstance(tables, str) else tables:  # tables recorded on one host together
            data = json.loads(_scoped((TABLES / f"{table}.json").read_text(encoding="utf-8"), table))
            self.data["processes"] += [p for p in data["processes"] if p["pid"] not in seen]
            seen |= {p["pid"] for p in data["processes"]}
            for kind, entries in data.get("files", {}).items():
                self.data["files"][kind].update(entries)
        self.root, self.user = root, user
        self.keys: dict[str, str] = {}
        self._lay_out_files()

    def place(self, text: str) -> str:
        return _PLACE.sub(lambda m: str(self.root / m.group(1)), text)

    def pid(self, recorded: int | None) -> int | None:
        return None if recorded is None else PID_BASE + recorded

    def key(self, token: str) -> str:
        """The test key standing for a recorded ``key:<format>:<n>@<table>`` token."""
        if token not in self.keys:
            fmt = token.split(":")[1]
            digest = hashlib.sha256(token.encode()).hexdigest()
            self.keys[token] = make_key(fmt, int(digest[:8], 16)) if fmt in SHAPES else \
                "Zk" + digest[:30]  # a formatless secret
        return self.keys[token]

    def value(self, recorded: str) -> str:
        if recorded.startswith("key:"):
            return self.key(recorded)
        if recorded == "endpoint:loopback":
            return "http://127.0.0.1:9"
        if recorded == "endpoint:remote":
            return "https://llm.example.invalid/v1"
        return recorded or "x"

    def _lay_out_files(self) -> None:
        files = self.data.get("files", {})
        for link, target in files.get("links", {}).items():
            link_path, target_path = Path(self.place(link)), Path(self.place(target))
            target_path.parent.mkdir(parents=True, exist_ok=True)
            target_path.touch()
            link_path.parent.mkdir(parents=True, exist_ok=True)
            if not link_path.is_symlink():
                link_path.symlink_to(target_path)
        for manifest, name in files.get("packages", {}).items():
            p = Path(self.place(manifest))
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps({"name": name}), encoding="utf-8")
        for entry in files.get("dist_info", {}):
            p = Path(self.place(entry))
            if p.name.endswith(".dist-info"):
                p.mkdir(parents=True, exist_ok=True)
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.touch()

    # ---- the source protocol ----------------------------------------------------------

    def processes(self) -> Iterator[Any]:
        for p in self.data["processes"]:
            env = p.get("env")
            info = {
                "pid": self.pid(p["pid"]), "ppid": self.pid(p["ppid"]), "name": p["name"],
                "exe": self.place(p["exe"]) if p.get("exe") else None,
                "cmdline": [_KEY_TOKEN.sub(lambda m: self.key(m.group(1)), self.place(a)) for a in p["cmdline"]],
                "username": self.user if p["user"] == "user1" else p["user"],
                "environ": None if env is None else {k: self.value(v) for k, v in env.items()},
                "status": "running",
            }
            yield SimpleNamespace(info=info, recorded_cwd=self.place(p["cwd"]) if p.get("cwd") else None)

    def cwd(self, proc: Any) -> str | None:
        return proc.recorded_cwd

    def sockets(self) -> list[tuple[int | None, Any]]:
        return []

    def process_sockets(self, pid: int) -> list[Any]:
        return []

    def container(self, pid: int | str) -> None:
        return None

    def open_files(self, pid: int) -> None:
        return None


def replay(table: str | list[str], root: Path, hostname: str = "replay-host") -> tuple[list[Finding], list[Agent], ReplaySource]:
    """Run the process detector over a recorded table; (findings, agents, source)."""
    source = ReplaySource(table, root)
    ctx = ScanContext(detector="process", catalog=Catalog.load(), paths=[], options={},
                      coverage=Coverage("process"), hostname=hostname)
    findings = list(ProcessDetector(source).run(ctx))
    return findings, correlate(findings), source
