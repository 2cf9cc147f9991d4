"""One pass over the process table and one over the socket table, reduced to what matters.

Each process is analysed as it is read and kept as a small :class:`Seen` record
(environments are reduced to catalogue signals with fingerprinted values, never
kept). Whatever could not be read is counted per kind, so coverage can say how
much of the host was really looked at.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

from detectors.base import ScanContext
from detectors.env import endpoint_provider
from detectors.process.installed import Container, Installed, PackageIndex, container_of
from detectors.process.programs import Programs
from detectors.process.signatures import Command, Signatures, normalise_argv, parse_command
from scanner import redact
from scanner.catalog import AgentTool, Catalog
from scanner.model import Confidence, Credential
from scanner.secrets import not_a_key

try:
    import psutil
except ImportError:  # pragma: no cover - reported by ProcessDetector.available()
    psutil = None  # type: ignore[assignment]

ATTRS = ["pid", "ppid", "name", "exe", "cmdline", "username", "environ", "status"]
PROGRESS_EVERY = 256
LISTEN = "LISTEN"
OUTGOING = frozenset({"ESTABLISHED", "SYN_SENT", "CLOSE_WAIT"})  # CLOSE_WAIT: the server hung up first
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class EnvSignal:
    """A catalogue variable (or a key-shaped value) in a process's environment or command line."""

    variable: str
    role: str  # "key" | "endpoint" | "other"
    provider: str | None
    value_fp: str  # fingerprint of the value: tells inherited from set-here
    credential: Credential | None = None
    label: str = ""
    confidence: Confidence = Confidence.MEDIUM
    endpoint: str | None = None
    source: str = "environment"


@dataclass
class Seen:
    """What one process is, reduced to the signals the detector reports on."""

    pid: int
    ppid: int | None
    user: str
    exe: str | None
    cmdline: list[str]
    cmd: Command
    tool: tuple[AgentTool, str] | None
    servers: dict[str, str]
    env: dict[tuple[str, str], EnvSignal]
    env_readable: bool
    installed: Installed | None
    program: str = ""  # what the process is grouped by (detectors.process.programs)
    markers: frozenset[str] = frozenset()  # ids of the tools whose child_env marks this process


@dataclass
class Socket:
    ip: str
    port: int
    status: str
    remote: tuple[str, int] | None


@dataclass
class Snapshot:
    processes: dict[int, Seen] = field(default_factory=dict)
    sockets: dict[int, list[Socket]] = field(default_factory=dict)
    unowned_listeners: list[Socket] = field(default_factory=list)
    unowned_sockets: int = 0
    sockets_error: str | None = None
    seen: int = 0
    zombies: int = 0
    missing: Counter = field(default_factory=Counter)  # kind of data → processes it was unreadable for
    missing_examples: dict[str, list[str]] = field(default_factory=dict)  # kind → "pid name (user)"
    missing_users: dict[str, set[str]] = field(default_factory=dict)  # kind → owners of those processes
    skipped_self: int = 0


class LiveSource:
    """This host: psutil's process and socket tables and the /proc files the detector reads.

    The detector reads the host only through a source, so a recorded process table
    (tests/process_tables.py) can be replayed through the same code.
    """

    def processes(self) -> Iterator[Any]:
        """Objects with ``.info`` (the ``ATTRS`` dict, None where access was denied)."""
        return psutil.process_iter(ATTRS, ad_value=None)

    def cwd(self, proc: Any) -> str | None:
        try:
            return proc.cwd() or None
        except Exception:  # AccessDenied, NoSuchProcess, ZombieProcess: the script stays relative
            return None

    def sockets(self) -> list[tuple[int | None, Any]]:
        """(pid, psutil connection) for every inet socket; raises psutil.AccessDenied where that needs root."""
        return [(c.pid, c) for c in psutil.net_connections("inet")]

    def process_sockets(self, pid: int) -> list[Any]:
        return psutil.Process(pid).net_connections("inet")

    def container(self, pid: int | str) -> Container | None:
        return container_of(pid)

    def open_files(self, pid: int) -> set[str] | None:
        """Files the process has mapped (native modules) or open; None when that is not readable."""
        files: set[str] = set()
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    path = line.rstrip("\n").split(None, 5)[5:]
                    if path and path[0].startswith("/"):
                        files.add(path[0])
        except OSError:
            return None
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("/"):
                    files.add(target)
        except OSError:
            pass  # the maps are enough for native modules
        return files


class EnvReader:
    """Turns an environment into catalogue signals; values are looked at once per distinct value."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._named: dict[tuple[str, str], EnvSignal | None] = {}
        self._shaped: dict[str, tuple[Any, str] | None] = {}

    def signals(self, environ: dict[str, str]) -> dict[tuple[str, str], EnvSignal]:
        """Catalogue variables by name; any other variable only when its value is key-shaped.

        Set operations and one substring pass over the joined values keep the common
        case (no catalogue name, no key prefix) in C: this runs for every process.
        """
        out: dict[tuple[str, str], EnvSignal] = {}
        named = environ.keys() & self.catalog.env_vars.keys()
        for name in named:
            value = environ[name]
            key = (name, value)
            if key not in self._named:
                self._named[key] = self._named_signal(name, value) if value else None
            signal = self._named[key]
            if signal is not None:
                out[(signal.variable, signal.value_fp)] = signal
        blob = "\0".join(environ.values())
        if self.catalog.may_hold_key(blob):
            for name, value in environ.items():
                if name not in named and value:
                    signal = self._shaped_signal(name, value)
                    if signal is not None:
                        out[(signal.variable, signal.value_fp)] = signal
        return out

    def in_text(self, text: str, source: str) -> list[EnvSignal]:
        """Key-shaped strings in free text (a command line)."""
        if not self.catalog.may_hold_key(text):
            return []
        out = []
        for m in self.catalog.key_regex.finditer(text):
            fmt, value = self.catalog.key_format_of_match(m), m.group(0)
            if not not_a_key(value, fmt):
                out.append(self._credential_signal(source, value, fmt, source))
        return out

    def _named_signal(self, name: str, value: str) -> EnvSignal | None:
        var = self.catalog.env_vars[name]
        if var.role == "key":
            fmt = self.catalog.classify_secret(value, var.provider)
            if not_a_key(value, fmt):
                return None
            return self._credential_signal(name, value, fmt, "environment", var.provider)
        if value.startswith("$"):
            return None
        fp = redact.fingerprint(value)
        if var.role == "endpoint":
            provider, safe = endpoint_provider(self.catalog, value, var.provider)
            return EnvSignal(name, "endpoint", provider, fp, endpoint=safe)
        return EnvSignal(name, "other", var.provider, fp, confidence=Confidence.LOW)

    def _shaped_signal(self, name: str, value: str) -> EnvSignal | None:
        if value not in self._shaped:
            hit = None
            m = self.catalog.search_key(value)
            if m:
                fmt = self.catalog.key_format_of_match(m)
                if not not_a_key(m.group(0), fmt):
                    hit = (fmt, m.group(0))
            self._shaped[value] = hit
        hit = self._shaped[value]
        return self._credential_signal(name, hit[1], hit[0], "environment") if hit else None

    @staticmethod
    def _credential_signal(name: str, value: str, fmt: Any, source: str, fallback: str | None = None) -> EnvSignal:
        cred = redact.credential(value, fmt.id if fmt else None, bool(fmt and fmt.admin))
        return EnvSignal(name, "key", fmt.provider if fmt else fallback, cred.fingerprint, credential=cred,
                         label=fmt.label if fmt else f"value of {name}",
                         confidence=Confidence.HIGH if fmt else Confidence.MEDIUM, source=source)


def take_snapshot(ctx: ScanContext, signatures: Signatures, packages: PackageIndex | None,
                  source: Any = None) -> Snapshot:
    """Read the process table once (psutil.process_iter) and the socket table once."""
    source = source or LiveSource()
    snap = Snapshot()
    reader = EnvReader(ctx.catalog)
    judge = Judge(signatures, reader)
    markers = {var: t.id for t in ctx.catalog.tools.values() for var in t.child_env}
    programs = Programs()
    own = os.getpid()
    for n, proc in enumerate(source.processes(), 1):
        if n % PROGRESS_EVERY == 0:
            ctx.check_cancelled()
            ctx.progress(n, None, "processes")
        info = proc.info
        pid, ppid = info["pid"], info["ppid"]
        if pid == own or ppid == own:
            snap.skipped_self += 1
            continue
        seen = _analyse(source, proc, info, snap, reader, judge, packages)
        if seen is not None:
            seen.program = programs.program(seen.cmd, seen.tool[0] if seen.tool else None)
            if seen.env_readable and info["environ"]:
                seen.markers = frozenset(markers[v] for v in info["environ"].keys() & markers.keys()
                                         if info["environ"][v])
            snap.processes[pid] = seen
    _read_sockets(ctx, snap, source)
    return snap


def _analyse(source: Any, proc: Any, info: dict[str, Any], snap: Snapshot, reader: EnvReader,
             judge: "Judge", packages: PackageIndex | None) -> Seen | None:
    status, cmdline = info["status"], info["cmdline"]
    if status == psutil.STATUS_ZOMBIE:
        snap.zombies += 1
        return None
    if cmdline == [] and not info["exe"]:
        return None  # a kernel thread (or a process that has already exited)
    snap.seen += 1
    environ, exe = info["environ"], info["exe"] or None
    for kind, value in (("command line", cmdline), ("environment", environ), ("executable path", info["exe"])):
        if value is None:
            _missing(snap, kind, info)
    cmdline = normalise_argv(cmdline or [])
    cmd, tool, servers, in_cmdline = judge(exe, cmdline, info["name"])
    if (cmd.is_python or cmd.is_node) and cmd.script and not cmd.script.startswith("-") \
            and not os.path.isabs(cmd.script):
        cwd = source.cwd(proc)
        if cwd:
            absolute = [cmdline[0], *_absolute_script(cmdline[1:], cmd.script, cwd)]
            cmd, tool, servers, in_cmdline = judge(exe, absolute, info["name"])
    env = reader.signals(environ) if environ else {}
    for signal in in_cmdline:
        env[(signal.variable, signal.value_fp)] = signal
    installed = None
    if packages is not None and cmdline:
        if cmd.is_python:
            installed = packages.for_python(cmdline[0], exe, environ)
        elif cmd.is_node:
            installed = packages.for_node(cmd.script, None)
    return Seen(
        pid=info["pid"], ppid=info["ppid"], user=info["username"] or "?", exe=exe, cmdline=cmdline, cmd=cmd,
        tool=tool, servers=servers, env=env, env_readable=environ is not None, installed=installed,
    )


class Judge:
    """Command line → (Command, tool, servers, keys in it); cached, because workers share command lines."""

    def __init__(self, signatures: Signatures, reader: EnvReader) -> None:
        self.signatures, self.reader = signatures, reader
        self._cache: dict[tuple[Any, ...], tuple[Command, Any, dict[str, str], list[EnvSignal]]] = {}

    def __call__(self, exe: str | None, cmdline: list[str], name: str | None) \
            -> tuple[Command, Any, dict[str, str], list[EnvSignal]]:
        key = (exe, tuple(cmdline), name)
        hit = self._cache.get(key)
        if hit is None:
            cmd, joined = parse_command(exe, cmdline, name), " ".join(cmdline)
            hit = (cmd, self.signatures.tool(cmd), self.signatures.servers(cmd, joined),
                   self.reader.in_text(joined, "command-line"))
            self._cache[key] = hit
        return hit


def _missing(snap: Snapshot, kind: str, info: dict[str, Any]) -> None:
    """Count a process whose ``kind`` of data was unreadable, keeping a few to name in coverage."""
    snap.missing[kind] += 1
    user = info["username"] or "?"
    snap.missing_users.setdefault(kind, set()).add(user)
    examples = snap.missing_examples.setdefault(kind, [])
    if len(examples) < MAX_EXAMPLES:
        examples.append(f"{info['pid']} {info['name'] or '?'} ({user})")


def _absolute_script(args: list[str], script: str, cwd: str) -> list[str]:
    """``args`` with the relative script replaced by its absolute path."""
    out = list(args)
    if script in out:
        out[out.index(script)] = os.path.normpath(os.path.join(cwd, script))
    return out


def _read_sockets(ctx: ScanContext, snap: Snapshot, source: Any) -> None:
    """One system-wide socket listing joined on pid (per-process fallback where it is refused)."""
    try:
        conns = source.sockets()
    except psutil.AccessDenied:
        snap.sockets_error = "the system socket table needs root on this platform; only own processes' sockets read"
        conns = _own_sockets(ctx, snap, source)
    except OSError as exc:
        snap.sockets_error = f"socket table unreadable: {exc.strerror or exc}"
        return
    for pid, c in conns:
        if not c.laddr:
            continue
        sock = Socket(c.laddr.ip, c.laddr.port, c.status, (c.raddr.ip, c.raddr.port) if c.raddr else None)
        if pid is None:
            snap.unowned_sockets += 1
            if c.status == LISTEN:
                snap.unowned_listeners.append(sock)
            continue
        snap.sockets.setdefault(pid, []).append(sock)


def _own_sockets(ctx: ScanContext, snap: Snapshot, source: Any) -> list[tuple[int, Any]]:
    """macOS without root: each own process's sockets, read one by one."""
    out = []
    for pid, seen in snap.processes.items():
        if seen.user != ctx.username:
            continue
        try:
            out += [(pid, c) for c in source.process_sockets(pid)]
        except (psutil.Error, OSError):
            continue
    return out


def platform_notes() -> list[tuple[str, str]]:
    """What psutil cannot see on this platform, whoever runs the scan."""
    if sys.platform == "darwin":
        return [("process environments", "macOS returns environments only for some processes of the scanning "
                                          "user; keys in other processes' environments are not seen")]
    return []


def hidepid() -> str | None:
    """The hidepid= option of /proc, when processes of other users are hidden from this one."""
    if not sys.platform.startswith("linux") or os.geteuid() == 0:
        return None
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 3 and parts[1] == "/proc":
                    opts = dict(o.partition("=")[::2] for o in parts[3].split(","))
                    if opts.get("hidepid") not in (None, "0", "off"):
                        return opts["hidepid"]
    except OSError:
        return None
    return None
