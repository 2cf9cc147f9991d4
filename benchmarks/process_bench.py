"""Benchmark of the ``process`` detector against ``ps -eo pid,args`` and ``psutil.process_iter()``.

Starts at least 1,000 real, cheap processes (``sleep``, some under copies named
like catalogue tools and model servers, some with provider keys in their
environment, some listening on catalogue model-server ports), scans the process
table with the detector, checks every planted process is found, and prints the scan
time per 1,000 processes next to, in the same run and interleaved with it, ``ps -eo
pid,args`` and a bare ``psutil.process_iter()`` pass over the attributes the detector
reads (the floor for any psutil-based scan).

    python benchmarks/process_bench.py            # full run (1,000 processes)
    python benchmarks/process_bench.py --smoke    # 20 processes, a few seconds
    python benchmarks/process_bench.py --hold     # process holder (used by tests and by this script)

The planted processes are children of a separate holder process, because the
detector skips the scanning process and its own children. The holder reads one
JSON line of specs on stdin, starts them, prints one JSON line of
``{"pid", "port"}`` and, at end of input, kills and reaps them all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_PER_1000_S = 1.0
TARGET_RATIO_TO_PS = 5.0
ROUNDS = 5  # interleaved with ps; best and median both shown (the box may be shared)


# ---- the holder -------------------------------------------------------------------------


def hold() -> int:
    """Start the processes described on stdin, report their pids, keep them until stdin closes."""
    specs = json.loads(sys.stdin.readline())
    children: list[subprocess.Popen] = []
    started = []
    try:
        for spec in specs:
            sock = _listen(spec["listen"]) if spec.get("listen") else None
            fds = (sock.fileno(),) if sock else ()
            user = spec.get("user")  # another user: its own group and no supplementary groups, as at login
            as_user = {"user": user, "group": _primary_group(user), "extra_groups": []} if user else {}
            children.append(subprocess.Popen(
                spec["argv"], executable=spec.get("executable"), env=spec.get("env", {}), cwd=spec.get("cwd"),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=fds,
                start_new_session=True, **as_user))
            started.append({"pid": children[-1].pid, "port": sock.getsockname()[1] if sock else None})
            if sock:
                sock.close()
        print(json.dumps(started), flush=True)
        sys.stdin.read()
    finally:
        for child in children:
            _kill_tree(child.pid)
        for child in children:
            child.wait()
    return 0


def _primary_group(user: str) -> int:
    import pwd
    return pwd.getpwnam(user).pw_gid


def _listen(spec: dict[str, Any]) -> socket.socket:
    """A listening socket on the wanted port (shared with SO_REUSEPORT), else on a free one."""
    family = socket.AF_INET6 if ":" in spec["host"] else socket.AF_INET
    for port in (spec.get("port", 0), 0):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((spec["host"], port))
        except OSError:
            sock.close()
            continue
        sock.listen(8)
        return sock
    raise OSError("cannot bind a listening socket")


def _kill_tree(pid: int) -> None:
    """Kill a child, every descendant (a pty child has a session of its own) and its process group."""
    import psutil

    try:
        descendants = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        descendants = []
    targets = [lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)]
    targets += [lambda d=d: os.kill(d, signal.SIGKILL) for d in descendants]
    for target in targets:
        try:
            target()
        except (ProcessLookupError, PermissionError, OSError):
            pass


class Holder:
    """Context manager around a holder process: ``with Holder(specs) as started: ...``."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        self.specs = specs
        self.proc: subprocess.Popen | None = None
        self.started: list[dict[str, Any]] = []

    def __enter__(self) -> list[dict[str, Any]]:
        self.proc = subprocess.Popen([sys.executable, __file__, "--hold"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        try:
            assert self.proc.stdin and self.proc.stdout
            self.proc.stdin.write(json.dumps(self.specs) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("process holder failed to start its processes")
            self.started = json.loads(line)
        except BaseException:
            self.__exit__()
            raise
        return self.started

    def __exit__(self, *exc: Any) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            for s in self.started:  # belt and braces: nothing planted outlives the run
                try:
                    os.kill(s["pid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


# ---- the planted table ------------------------------------------------------------------


def plan(total: int, workdir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Specs for ``total`` processes and what the scan must find among them."""
    from scanner.catalog import Catalog
    from tests.keys import make_key

    catalog = Catalog.load()
    sleep = shutil.which("sleep") or "/bin/sleep"
    bindir = workdir / "bin"
    bindir.mkdir()
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    servers = [p for p in catalog.providers.values() if p.kind == "local" and p.process_names and p.ports]
    tools = [t for t in catalog.tools.values() if t.kind == "coding-agent" and t.executables]
    n_keys = max(2, total // 10)
    per_server = max(1, total // 200)
    n_servers = min(len(servers), max(1, total // 125))
    n_tools = min(len(tools), max(1, total // 100))
    specs: list[dict[str, Any]] = []
    expect: dict[str, Any] = {"keys": {}, "servers": {}, "tools": {}}
    for i in range(n_keys):
        var, shape = ("ANTHROPIC_API_KEY", "anthropic-api") if i % 2 else ("OPENAI_API_KEY", "openai-project")
        key = make_key(shape, 10_000 + i)
        specs.append({"argv": [sleep, "600"], "env": {**base_env, var: key}})
        expect["keys"][_fingerprint(key)] = var
    for provider in servers[:n_servers]:
        exe = _copy(sleep, bindir / next(n for n in provider.process_names if " " not in n))
        for _ in range(per_server):
            specs.append({"argv": [str(exe), "600"], "env": base_env,
                          "listen": {"host": "127.0.0.1", "port": provider.ports[0]}, "server": provider.id})
        expect["servers"][str(exe)] = {"provider": provider.id, "processes": per_server}
    for tool in tools[:n_tools]:
        exe = _copy(sleep, bindir / tool.executables[0])
        specs.append({"argv": [str(exe), "600"], "env": base_env})
        expect["tools"][str(exe)] = tool.id
    while len(specs) < total:
        specs.append({"argv": [sleep, "600"], "env": base_env})
    return specs, expect


def _copy(src: str, dst: Path) -> Path:
    shutil.copy2(src, dst)
    return dst


def _fingerprint(key: str) -> str:
    from scanner.redact import fingerprint
    return fingerprint(key)


def extension_for_ports(specs: list[dict[str, Any]], started: list[dict[str, Any]], path: Path) -> list[Path]:
    """A catalogue extension declaring the ports servers really got when the default one was taken."""
    import yaml

    from scanner.catalog import Catalog

    catalog = Catalog.load()
    extra: dict[str, set[int]] = {}
    for spec, s in zip(specs, started):
        if spec.get("server") and s["port"] not in catalog.providers[spec["server"]].ports:
            extra.setdefault(spec["server"], set()).add(s["port"])
    if not extra:
        return []
    entries = []
    for pid, ports in sorted(extra.items()):
        raw = dict(catalog.providers[pid].raw)
        raw["ports"] = sorted(set(raw.get("ports") or []) | ports)
        entries.append(raw)
    path.write_text(yaml.safe_dump({"schema_version": 1, "providers": entries}), encoding="utf-8")
    return [path]


# ---- scanning and timing ----------------------------------------------------------------


def scan(catalog: Any) -> tuple[list[Any], Any]:
    """One detector run (the catalogue is loaded once per scan by the pipeline, so not timed here)."""
    from detectors.base import ScanContext
    from detectors.process import ProcessDetector
    from scanner.model import Coverage

    import psutil

    getattr(psutil, "_pmap", {}).clear()  # a cold run, like the CLI's only one: no Process objects cached
    ctx = ScanContext(detector="process", catalog=catalog, paths=[], options={}, coverage=Coverage("process"))
    return list(ProcessDetector().run(ctx)), ctx.coverage


def time_ps() -> float:
    start = time.perf_counter()
    subprocess.run(["ps", "-eo", "pid,args"], stdout=subprocess.PIPE, check=True)
    return time.perf_counter() - start


def time_psutil() -> float:
    """One cold ``psutil.process_iter`` over the detector's attributes, nothing else."""
    import psutil

    from detectors.process.snapshot import ATTRS

    getattr(psutil, "_pmap", {}).clear()
    start = time.perf_counter()
    for proc in psutil.process_iter(ATTRS, ad_value=None):
        proc.info  # noqa: B018 - the read is what is timed
    return time.perf_counter() - start


def check(findings: list[Any], expect: dict[str, Any]) -> list[str]:
    """Every planted key, server and tool must be in the findings; returns what is missing."""
    missing = []
    fps = {f.credential.fingerprint for f in findings if f.credential}
    missing += [f"key in {var}" for fp, var in expect["keys"].items() if fp not in fps]
    servers = {(f.location.exe, f.provider): f.details.get("processes") for f in findings
               if f.kind == "local-model-server"}
    for exe, want in expect["servers"].items():
        if servers.get((exe, want["provider"])) != want["processes"]:
            missing.append(f"{want['provider']} server {exe} ({want['processes']} processes)")
    # a catalogue tool is its own program, whatever its executable's path
    tools = {(f.location.exe, f.details.get("tool")) for f in findings if f.kind in ("process", "mcp-server")}
    missing += [f"tool {tool} {exe}" for exe, tool in expect["tools"].items() if (tool, tool) not in tools]
    return missing


def run(total: int) -> int:
    from scanner.catalog import Catalog

    with tempfile.TemporaryDirectory(prefix="process-bench-") as tmp:
        work = Path(tmp)
        specs, expect = plan(total, work)
        t0 = time.perf_counter()
        with Holder([{k: v for k, v in s.items() if k != "server"} for s in specs]) as started:
            spawn_s = time.perf_counter() - t0
            catalog = Catalog.load(extension_for_ports(specs, started, work / "ports.yaml"))
            time.sleep(0.2)  # let every exec finish
            scan_times, ps_times, psutil_times = [], [], []
            findings: list[Any] = []
            coverage = None
            for _ in range(ROUNDS):
                ps_times.append(time_ps())
                psutil_times.append(time_psutil())
                start = time.perf_counter()
                findings, coverage = scan(catalog)
                scan_times.append(time.perf_counter() - start)
        seen = coverage.scanned.get("processes", 0)
        missing = check(findings, expect)
    scan_s, ps_s, iter_s = min(scan_times), min(ps_times), min(psutil_times)
    scan_med, ps_med, iter_med = (statistics.median(t) for t in (scan_times, ps_times, psutil_times))
    per_1000 = scan_s / max(seen, 1) * 1000
    ratio = scan_s / ps_s if ps_s else float("inf")
    print(f"planted {len(specs)} processes in {spawn_s:.2f}s; host table {seen} processes; {ROUNDS} rounds")
    print(f"process detector: best {scan_s * 1000:.1f} ms, median {scan_med * 1000:.1f} ms"
          f"  = {per_1000 * 1000:.1f} ms per 1000 processes  [target < {TARGET_PER_1000_S * 1000:.0f} ms]")
    print(f"ps -eo pid,args: best {ps_s * 1000:.1f} ms, median {ps_med * 1000:.1f} ms;"
          f"  detector/ps = {ratio:.2f}x best, {scan_med / ps_med:.2f}x median  [target <= {TARGET_RATIO_TO_PS:.0f}x]")
    print(f"psutil.process_iter() alone: best {iter_s * 1000:.1f} ms, median {iter_med * 1000:.1f} ms;"
          f"  detector/psutil = {scan_s / iter_s:.2f}x best, {scan_med / iter_med:.2f}x median")
    print(f"findings: {len(findings)}; planted keys {len(expect['keys'])}, servers {len(expect['servers'])}, "
          f"tools {len(expect['tools'])}; missing: {len(missing)}")
    for m in missing:
        print(f"  MISSING {m}")
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--smoke", action="store_true", help="20 processes: a quick correctness run")
    parser.add_argument("--processes", type=int, default=1000, help="processes to plant (default 1000)")
    parser.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hold:
        return hold()
    return run(20 if args.smoke else max(args.processes, 20))


if __name__ == "__main__":
    sys.exit(main())
