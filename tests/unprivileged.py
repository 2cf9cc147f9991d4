"""Run code as an unprivileged user from a root test run: fork, drop privileges, send JSON back.

The CI runs as root and its virtualenv lives in a private temporary directory, so
another user cannot start the CLI from it; a forked child that drops its uid, gid
and groups (and with them every capability) runs the already-imported detector
exactly as an unprivileged scan would. ``throwaway_user`` creates a system user for
the duration of a test session (useradd/userdel), so planted programs are the only
ones of their user on the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import subprocess
import time
import traceback
from typing import Any, Callable, Iterator

import psutil

from detectors.base import ScanContext
from detectors.process import ProcessDetector
from scanner.catalog import Catalog
from scanner.model import Coverage


def run_as(uid: int, gid: int, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a forked child running as ``uid``/``gid`` with no supplementary groups."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test run
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            result = {"value": fn(*args)}
        except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test with it
            result = {"error": traceback.format_exc()}
        try:
            with os.fdopen(write_fd, "w", encoding="utf-8") as fh:
                json.dump(result, fh)
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, encoding="utf-8") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    result = json.loads(data) if data else {"error": "the unprivileged child sent nothing"}
    if "error" in result:
        raise AssertionError(f"as uid {uid}: {result['error']}")
    return result["value"]


def scan_processes(catalog: Catalog, hostname: str = "h1") -> dict[str, Any]:
    """One in-process run of the process detector: findings and coverage as JSON-ready dicts."""
    cov = Coverage(detector="process")
    ctx = ScanContext(detector="process", catalog=catalog, paths=[], options={}, coverage=cov, hostname=hostname)
    findings = [f.to_dict() for f in ProcessDetector().run(ctx)]
    return {"findings": findings, "coverage": cov.to_dict(), "user": pwd.getpwuid(os.getuid()).pw_name}


@contextlib.contextmanager
def throwaway_user(prefix: str = "sa-test") -> Iterator[pwd.struct_passwd | None]:
    """A new system user for the duration of the block (None when not root or useradd is missing);
    its processes are killed and the user removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("userdel"):
        yield None
        return
    name = f"{prefix}-{secrets.token_hex(3)}"
    made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                           "--user-group", name], capture_output=True, text=True)
    if made.returncode != 0:
        yield None
        return
    try:
        yield pwd.getpwnam(name)
    finally:
        _kill_processes_of(name)  # a daemon that left its parent's tree (reparented to init) too
        subprocess.run(["userdel", name], capture_output=True)


def _kill_processes_of(user: str) -> None:
    for _ in range(50):
        left = [p for p in psutil.process_iter(["username"]) if p.info["username"] == user]
        if not left:
            return
        for proc in left:
            try:
                proc.kill()
            except psutil.Error:
                pass
        time.sleep(0.1)
