"""The ``process`` detector: agents, agent CLIs, MCP servers and local model servers running now.

One ``psutil.process_iter`` pass and one ``psutil.net_connections('inet')`` call
(see :mod:`detectors.process.snapshot`), then every process is judged by catalogue
signatures: the tool it is, the model server it is (signature, or a catalogue port
corroborated by its installed packages or environment), the keys and endpoints in
its environment, the SDKs its interpreter has installed and the providers it is
connected to. An agent is a program, not a pid: processes are grouped by
``proc:<host>:<user>:<program>`` (a catalogue tool by its id, an MCP server by its
package: :mod:`detectors.process.programs`) and the group carries its process count;
the processes of one tool session (a wrapper, its native binary, a daemon it starts)
are one program.

Each environment key is reported once, by the process that set it, or by the user's
interactive environment (``shell:``) when it was exported in a shell
(:mod:`detectors.process.lineage`); a process that merely inherited it neither becomes
an agent nor joins the owner's agent through it. An MCP server or a script an agent
started is its own agent, linked to the agent that started it (``details.parent`` and
a weak ``parent:`` identity key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlsplit

from detectors.base import ScanContext
from detectors.process import DEFAULT_RESOLVE_TIMEOUT, ProcessDetector
from detectors.process.installed import Container, Installed, PackageIndex
from detectors.process.lineage import Lineage, Shell
from detectors.process.remote import RemoteIndex, is_loopback, is_wildcard
from detectors.process.signatures import Signatures, safe_cmdline
from detectors.process.snapshot import (
    LISTEN, OUTGOING, EnvSignal, LiveSource, Seen, Snapshot, hidepid, platform_notes, take_snapshot,
)
from detectors.usage_gate import UsageGate
from scanner import identity, redact
from scanner.privileges import is_root
from scanner.model import Confidence, Finding, Location

MAX_PIDS_SHOWN = 10
MAX_REMOTES_SHOWN = 10


@dataclass
class Group:
    """One program (all its processes) and every signal seen in any of them."""

    key: str
    user: str
    program: str
    pids: list[int] = field(default_factory=list)
    command: str = ""
    tool: Any = None
    tool_match: str = ""
    servers: dict[str, str] = field(default_factory=dict)
    listening: set[str] = field(default_factory=set)
    env: dict[tuple[str, str], EnvSignal] = field(default_factory=dict)
    installed: dict[str, Installed] = field(default_factory=dict)
    loaded: set[str] | None = None  # catalogue packages the processes have loaded (None: not readable)
    connections: dict[str, tuple[set[str], str]] = field(default_factory=dict)
    parents: set[str] = field(default_factory=set)
    started_by: set[str] = field(default_factory=set)  # tool ids (child_env markers) not seen running
    inherited: dict[str, str] = field(default_factory=dict)  # key variable -> identity key of its owner
    containers: dict[str, Container] = field(default_factory=dict)
    shell: bool = False  # the user's interactive environment (keys exported in a shell), not a program


class ProcessScan(ProcessDetector):
    """The work of :class:`~detectors.process.ProcessDetector`, imported when it runs."""

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        catalog = ctx.catalog
        resolve = ctx.option("resolve", False)
        timeout = ctx.option("resolve_timeout", DEFAULT_RESOLVE_TIMEOUT) if resolve else 0.0
        source = self.source or LiveSource()
        signatures = Signatures(catalog)
        packages = PackageIndex(catalog) if ctx.option("packages", True) else None
        snap = take_snapshot(ctx, signatures, packages, source)
        remote = RemoteIndex(catalog)
        servers = _local_servers(ctx, snap)
        if resolve and _has_outgoing(snap):  # DNS queries only when there is something to attribute
            remote.resolve(timeout)
        connections = _connections(snap, servers, remote)
        groups = _group(ctx, snap, servers, connections, source)
        _record_coverage(ctx, snap, packages, remote)
        ctx.progress(snap.seen, snap.seen, None)
        gate = UsageGate(catalog)  # AWS keys count only in a program that also shows Bedrock use
        for group in sorted(groups.values(), key=lambda g: g.key):
            ctx.check_cancelled()
            for finding in self._findings(ctx, group):
                if gate.offer(group.key, finding) is not None:
                    yield finding
        yield from gate.release()
        if gate.dropped:
            ctx.coverage.count("keys_not_next_to_provider_use", gate.dropped)

    # ---- findings ---------------------------------------------------------------------

    def _findings(self, ctx: ScanContext, g: Group) -> Iterator[Finding]:
        catalog = ctx.catalog
        parents = sorted(g.parents)
        keys = [g.key, identity.host(ctx.hostname), identity.owner(g.user), *(c.key for c in g.containers.values()),
                *(identity.parent(p) for p in parents)]
        location = Location(host=ctx.hostname, user=g.user, exe=g.program)
        pids = sorted(g.pids)
        common: dict[str, Any] = {"processes": len(pids), "pids": pids[:MAX_PIDS_SHOWN], "command": g.command}
        if g.containers:
            common["containers"] = [c.to_dict() for _, c in sorted(g.containers.items())]
        if parents:
            common["parent"] = parents[0]
            if len(parents) > 1:
                common["parents"] = parents
        if g.started_by:
            common["started_by"] = sorted(g.started_by)
        if g.inherited:
            common["inherited_keys"] = dict(sorted(g.inherited.items()))
        where = f"{g.program} ({_count(len(pids))} of {g.user})"
        started = f", started by {identity.describe(parents[0])}" if parents else \
            f", started by {', '.join(catalog.tools[t].name for t in sorted(g.started_by))}" if g.started_by else ""

        def finding(kind: str, evidence: str, provider: str | None, confidence: Confidence,
                    details: dict[str, Any], extra_keys: tuple[str, ...] = (), credential: Any = None,
                    risks: tuple[str, ...] = (), endpoint: str | None = None) -> Finding:
            return Finding(detector=self.name, kind=kind, location=location, identity=[*keys, *extra_keys],
                           evidence=evidence, provider=provider, confidence=confidence, credential=credential,
                           details={**common, **details}, risks=list(risks), endpoint=endpoint)

        if g.shell:
            for (_, _), sig in sorted(g.env.items()):
                yield self._env_finding(finding, sig, g.program, catalog, shell=True)
            return
        if g.tool is not None:
            tool = g.tool
            details: dict[str, Any] = {"tool": tool.id, "tool_kind": tool.kind, "matched": g.tool_match}
            yield finding("mcp-server" if tool.kind == "mcp-server" else "process",
                          f"{tool.name} running: {where}{started}",
                          tool.providers[0] if len(tool.providers) == 1 else None,
                          # an installed package path names the tool; a bare name may be another program's
                          Confidence.HIGH if "/" in g.tool_match else Confidence.MEDIUM, details)
        for provider_id, how in sorted(g.servers.items()):
            provider = catalog.providers[provider_id]
            listening = sorted(a for a in g.listening)
            exposed = sorted(a for a in listening if not _loopback_address(a))
            on_port = any(int(a.rsplit(":", 1)[1]) in provider.ports for a in listening)
            details = {"server": provider_id, "matched": how, "listening": listening}
            bind = f"; listening on {', '.join(listening[:4])}" if listening else "; not listening"
            note = " (all interfaces: reachable from the network)" if exposed else ""
            confidence = Confidence.HIGH if on_port and not how.startswith("port ") else Confidence.MEDIUM
            yield finding("local-model-server", f"{provider.name} server ({how}): {where}{bind}{note}",
                          provider_id, confidence, details, risks=("exposed",) if exposed else ())
        for (_, _), sig in sorted(g.env.items()):
            yield self._env_finding(finding, sig, g.program, catalog)
        for env_path, installed in sorted(g.installed.items()):
            for pkg in installed.packages:
                label = "SDK" if pkg.kind == "sdk-usage" else "framework"
                # "loaded": a file of the package is mapped or open in the process (native modules, open
                # sources); "installed": only present in its environment (pure-Python modules leave no trace)
                state = "loaded" if g.loaded and pkg.name in g.loaded else "installed"
                details = {"package": pkg.name, "environment": env_path, "state": state}
                if pkg.kind == "framework":
                    details["framework"] = pkg.ref
                evidence = (f"{label} {pkg.name} is loaded by {where} (from {env_path})" if state == "loaded" else
                            f"{label} {pkg.name} is installed in {env_path}, the environment of {where}")
                confidence = Confidence.HIGH if state == "loaded" else \
                    Confidence.MEDIUM if installed.isolated else Confidence.LOW
                yield finding(pkg.kind, evidence, pkg.provider, confidence, details)
        for provider_id, (remotes, how) in sorted(g.connections.items()):
            shown = sorted(remotes)
            name = catalog.providers[provider_id].name
            yield finding("connection", f"connected to {name} ({', '.join(shown[:3])}; {how}): {where}",
                          provider_id, Confidence.MEDIUM if how.startswith("address of") else Confidence.HIGH,
                          {"remote": shown[:MAX_REMOTES_SHOWN], "matched": how})

    @staticmethod
    def _env_finding(finding: Any, sig: EnvSignal, program: str, catalog: Any, shell: bool = False) -> Finding:
        source = "process-environment" if sig.source == "environment" else sig.source
        details: dict[str, Any] = {"variable": sig.variable, "source": source}
        where = f"the interactive shell environment ({program}); every command started there inherits it" \
            if shell else f"the environment of {program}"
        if sig.role == "key":
            cred = sig.credential
            if sig.source == "command-line":
                details = {"source": source, "in_cmdline": True}
                evidence = f"{sig.label} {cred.preview} on the command line of {program} (readable by every user)"
            else:
                evidence = f"{sig.variable}={cred.preview} ({sig.label}) in {where}"
            return finding("credential", evidence, sig.provider, sig.confidence, details,
                           (identity.cred(cred.fingerprint),), cred)
        if sig.role == "endpoint":
            host = urlsplit(sig.endpoint).hostname if sig.endpoint else None
            return finding("endpoint-config", f"{sig.variable} points at {sig.endpoint} in {where}",
                           sig.provider, Confidence.MEDIUM, details, tuple(identity.endpoint_keys(catalog, host)),
                           endpoint=sig.endpoint)
        return finding("provider-config", f"{sig.variable} is set in {where}", sig.provider, Confidence.LOW, details)


# ---- analysis ---------------------------------------------------------------------------


def _local_servers(ctx: ScanContext, snap: Snapshot) -> dict[int, dict[str, str]]:
    """pid → local model server providers it is, with how that is known.

    A process signature (name or command line) is enough; a catalogue port alone is
    not (8000 and 8080 are everybody's), so it needs the provider's package in the
    process's environment or one of its variables.
    """
    out: dict[int, dict[str, str]] = {}
    for pid, seen in snap.processes.items():
        found = dict(seen.servers)
        corroborating = _provider_evidence(seen)
        for sock in snap.sockets.get(pid, []):
            if sock.status != LISTEN:
                continue
            for provider in ctx.catalog.providers_for_port(sock.port):
                if provider not in found and provider in corroborating:
                    found[provider] = f"port {sock.port} and {corroborating[provider]}"
        if found:
            out[pid] = found
    return out


def _provider_evidence(seen: Seen) -> dict[str, str]:
    out: dict[str, str] = {}
    if seen.installed:
        for pkg in seen.installed.packages:
            if pkg.provider:
                out.setdefault(pkg.provider, f"package {pkg.name}")
    for sig in seen.env.values():
        if sig.provider:
            out.setdefault(sig.provider, f"variable {sig.variable}")
    return out


def _has_outgoing(snap: Snapshot) -> bool:
    return any(s.remote and s.status in OUTGOING and not is_loopback(s.remote[0])
               for socks in snap.sockets.values() for s in socks)


def _connections(snap: Snapshot, servers: dict[int, dict[str, str]],
                 remote: RemoteIndex) -> dict[int, dict[str, tuple[set[str], str]]]:
    """pid → provider → (remote addresses, how the provider is known) for its outgoing connections."""
    local: dict[tuple[str, int], str] = {}
    for pid, found in servers.items():
        provider = sorted(found)[0]
        for sock in snap.sockets.get(pid, []):
            if sock.status == LISTEN:
                local[(sock.ip, sock.port)] = provider
    out: dict[int, dict[str, tuple[set[str], str]]] = {}
    for pid, socks in snap.sockets.items():
        listening = {s.port for s in socks if s.status == LISTEN}
        for sock in socks:
            if sock.status not in OUTGOING or not sock.remote or sock.port in listening:
                continue
            ip, port = sock.remote
            hit = remote.provider(ip)
            if hit is None:
                provider = local.get((ip, port)) or (local.get(("0.0.0.0", port)) or local.get(("::", port))
                                                     if is_loopback(ip) else None)
                hit = (provider, "a local model server found in this scan") if provider else None
            if hit and pid in servers and hit[0] in servers[pid]:
                continue  # a server talking to itself
            if hit:
                remotes, _ = out.setdefault(pid, {}).setdefault(hit[0], (set(), hit[1]))
                remotes.add(f"{ip}:{port}" if ":" not in ip else f"[{ip}]:{port}")
    return out


def _group(ctx: ScanContext, snap: Snapshot, servers: dict[int, dict[str, str]],
           connections: dict[int, dict[str, tuple[set[str], str]]], source: Any) -> dict[str, Group]:
    """Programs worth reporting, each with the union of its processes' signals and the
    environment signals it owns; the users' shell environments that own exported keys."""
    procs = snap.processes
    intrinsic = {pid for pid, seen in procs.items() if _intrinsic(seen, servers, connections)}
    lineage = Lineage(procs, intrinsic)
    reported = intrinsic | {pid for pid in procs if lineage.owns_any(pid)}
    programs = _fold_programs(procs, reported, lineage)
    own_container = source.container("self")
    groups: dict[str, Group] = {}
    keys: dict[int, str] = {}
    for pid in sorted(reported):
        seen = procs[pid]
        key = identity.proc(ctx.hostname, seen.user, programs[pid])
        keys[pid] = key
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key, seen.user, programs[pid], command=safe_cmdline(seen.cmdline, redact.scrub))
        g.pids.append(pid)
        if seen.tool and g.tool is None:
            g.tool, g.tool_match = seen.tool
        g.servers.update({p: h for p, h in servers.get(pid, {}).items() if p not in g.servers})
        if pid in servers:
            g.listening.update(_address(s.ip, s.port) for s in snap.sockets.get(pid, []) if s.status == LISTEN)
        if seen.installed and seen.installed.packages:
            g.installed[seen.installed.environment] = seen.installed
            _add_loaded(g, seen.installed, source.open_files(pid))
        for provider, (remotes, how) in connections.get(pid, {}).items():
            g.connections.setdefault(provider, (set(), how))[0].update(remotes)
        container = source.container(pid)
        if container and (own_container is None or container.id != own_container.id):
            g.containers[container.id] = container
    for pid in sorted(procs):  # every environment signal goes to its owner
        seen = procs[pid]
        for sig_key, sig in seen.env.items():
            owner = lineage.owner(pid, sig_key)
            if owner == pid:
                groups[keys[pid]].env[sig_key] = sig
            elif isinstance(owner, Shell):
                shell = _shell_group(ctx, groups, procs[owner.pid])
                shell.env[sig_key] = sig
                if owner.pid not in shell.pids:
                    shell.pids.append(owner.pid)
            if pid in keys and owner != pid and sig.role == "key":
                owner_key = keys.get(owner) if isinstance(owner, int) else \
                    identity.shell(ctx.hostname, owner.user) if isinstance(owner, Shell) else None
                if owner_key and owner_key != keys[pid]:
                    groups[keys[pid]].inherited.setdefault(sig.variable, owner_key)
    _link_parents(procs, reported, keys, groups, lineage)
    return groups


def _intrinsic(seen: Seen, servers: dict[int, Any], connections: dict[int, Any]) -> bool:
    """An agent whatever its environment: a tool, a model server, a provider connection, an SDK."""
    return bool(seen.tool or seen.pid in servers or seen.pid in connections
                or (seen.installed and seen.installed.packages))


def _fold_programs(procs: dict[int, Seen], reported: set[int], lineage: Lineage) -> dict[int, str]:
    """pid → program; a process of the same catalogue tool as its nearest reported ancestor takes the
    ancestor's program (`npm exec x` → `node …/_npx/<hash>/…/x`, `uvx x` → `…/archive-v0/<hash>/bin/x`)."""
    out: dict[int, str] = {}

    def program(pid: int) -> str:
        if pid not in out:
            seen = procs[pid]
            out[pid] = seen.program
            if seen.tool:
                parent = lineage.nearest(pid, reported)
                if parent is not None and procs[parent].tool and procs[parent].tool[0].id == seen.tool[0].id:
                    out[pid] = program(parent)
        return out[pid]

    for pid in sorted(reported):
        program(pid)
    return out


def _link_parents(procs: dict[int, Seen], reported: set[int], keys: dict[int, str], groups: dict[str, Group],
                  lineage: Lineage) -> None:
    """Link each reported program to the agent that started it.

    An MCP server links to its nearest reported ancestor that is not an MCP server; any
    other program only to an ancestor that is a catalogue agent tool (a script Claude Code
    ran). Where no such ancestor is visible, the tool markers of its environment
    (``CLAUDECODE=1``) name the tool: the user's running program of that tool, else
    ``started_by``.
    """
    agents = {pid for pid in reported if not (procs[pid].tool and procs[pid].tool[0].kind == "mcp-server")}
    tools = {pid for pid in agents if procs[pid].tool}
    by_program = {(g.user, g.program): g.key for g in groups.values()}
    for pid in sorted(reported):
        seen = procs[pid]
        mcp = bool(seen.tool and seen.tool[0].kind == "mcp-server")
        parent = lineage.nearest(pid, agents if mcp else tools)
        group = groups[keys[pid]]
        if parent is not None and keys[parent] != keys[pid]:
            group.parents.add(keys[parent])
            continue
        if parent is not None:
            continue
        own = seen.tool[0].id if seen.tool else None
        for tool_id in sorted(seen.markers - {own}):
            linked = by_program.get((seen.user, tool_id))
            if linked and linked != keys[pid]:
                group.parents.add(linked)
            elif not linked:
                group.started_by.add(tool_id)


def _shell_group(ctx: ScanContext, groups: dict[str, Group], host: Seen) -> Group:
    key = identity.shell(ctx.hostname, host.user)
    if key not in groups:
        groups[key] = Group(key, host.user, host.program, command=safe_cmdline(host.cmdline, redact.scrub),
                            shell=True)
    return groups[key]


def _add_loaded(g: Group, installed: Installed, files: set[str] | None) -> None:
    if files is None:
        return
    g.loaded = (g.loaded or set()) | installed.loaded(files)


# ---- coverage ---------------------------------------------------------------------------

_MISSING = {
    "environment": ("process environments", "provider keys and endpoints in them are unknown"),
    "executable path": ("process executables", "named by their command line; interpreter environments "
                                               "not inspected where argv0 is relative"),
    "command line": ("process command lines", "tools and model servers among them cannot be recognised"),
}


def _record_coverage(ctx: ScanContext, snap: Snapshot, packages: PackageIndex | None, remote: RemoteIndex) -> None:
    cov = ctx.coverage
    cov.count("processes", snap.seen)
    cov.count("sockets", sum(len(s) for s in snap.sockets.values()))
    if snap.zombies:
        cov.count("zombies", snap.zombies)
    root = is_root()
    elevate = "not readable even with this scan's privileges" if root else \
        "run as root (Administrator on Windows) to read them"
    for kind, n in sorted(snap.missing.items()):
        what, effect = _MISSING[kind]
        examples = snap.missing_examples.get(kind, [])
        named = ", ".join(examples) + (", …" if n > len(examples) else "")
        if root:  # root was refused: say which processes, not "run as root"
            cov.add_gap(what, f"{n} of {snap.seen} processes not readable even as root (access denied: {named}; "
                              "typically a process protected from tracing — another user namespace, a "
                              f"non-dumpable process or a security module): {effect}")
        else:
            users = sorted(snap.missing_users.get(kind, set()))
            owned = ", ".join(users[:5]) + (", …" if len(users) > 5 else "")
            cov.add_gap(what, f"{n} of {snap.seen} processes not readable (access denied; owned by {owned}): "
                              f"{effect}; {elevate}")
    if snap.unowned_sockets:
        cov.add_gap("process sockets", f"{snap.unowned_sockets} sockets belong to processes this scan cannot "
                                       f"inspect; their connections are not attributed; {elevate}")
    ports = sorted({s.port for s in snap.unowned_listeners if ctx.catalog.providers_for_port(s.port)})
    if ports:
        cov.add_gap("model-server ports", "listening sockets on local model server ports "
                                          f"{', '.join(map(str, ports))} belong to processes this scan cannot "
                                          f"inspect; {elevate}")
    if snap.sockets_error:
        cov.add_gap("process sockets", snap.sockets_error)
    hidden = hidepid()
    if hidden:
        cov.add_gap("other users' processes", f"hidden: /proc is mounted with hidepid={hidden}; run as root to see them")
    for what, reason in platform_notes():
        cov.add_gap(what, reason)
    if packages is not None and packages.unreadable:
        cov.add_gap("interpreter environments", f"{len(packages.unreadable)} site-packages or node_modules "
                                                "directories unreadable; installed SDKs there are unknown")
    if remote.unresolved:
        cov.add_gap("provider hostnames", f"{len(remote.unresolved)} catalogue hostnames did not resolve in time; "
                                          "connections to them may be unattributed")


# ---- small helpers ------------------------------------------------------------------------




def _count(n: int) -> str:
    return f"{n} process" if n == 1 else f"{n} processes"


def _address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _loopback_address(address: str) -> bool:
    ip = address.rsplit(":", 1)[0].strip("[]")
    return is_loopback(ip) and not is_wildcard(ip)
