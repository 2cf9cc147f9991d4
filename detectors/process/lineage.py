"""Process ancestry: who set each key in an environment, and which agent started which process.

A child inherits its parent's environment, so one exported key shows up in every
process below the one that set it. Each environment signal is reported once, by its
*owner*:

* the process that set it (the topmost of an unbroken chain of ancestors holding the
  same value), when that process is an agent in its own right;
* the user's interactive environment (``shell:<host>:<user>``) when that process is an
  interactive shell or a terminal session host (tmux, screen), or was started from one
  — ``/proc/<pid>/environ`` is the environment at exec, so a key ``export``-ed in a
  running shell first appears in the shell's children;
* otherwise (a wrapper: a pty helper, ``bash run.sh``) the topmost agents below it
  that hold the key, and the wrapper itself only when there are none.

A descendant that merely inherited a key does not carry it as an identity key, so an
agent and the MCP servers it starts stay separate agents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from detectors.process.snapshot import Seen

MAX_DEPTH = 64  # ancestry walks stop here (pid trees are shallow; this only bounds a corrupt table)
SignalKey = tuple[str, str]  # (variable, value fingerprint)


@dataclass(frozen=True)
class Shell:
    """The interactive environment of ``user``, seen in the session host process ``pid``."""

    pid: int
    user: str


Owner = Union[int, Shell, None]


class Lineage:
    """Owners of environment signals over one snapshot, given which processes are agents on their own."""

    def __init__(self, procs: dict[int, Seen], intrinsic: set[int]) -> None:
        self.procs = procs
        self.intrinsic = intrinsic
        self._origin: dict[tuple[int, SignalKey], int] = {}
        self._holders: dict[tuple[int, SignalKey], bool] = {}
        for pid, seen in procs.items():  # which origins have an agent below them holding the key
            if pid in intrinsic:
                for key, sig in seen.env.items():
                    if sig.source == "environment":
                        origin = self.origin(pid, key)
                        if origin != pid:
                            self._holders[(origin, key)] = True

    def parent(self, pid: int) -> Seen | None:
        ppid = self.procs[pid].ppid
        return self.procs.get(ppid) if ppid is not None else None

    def origin(self, pid: int, key: SignalKey) -> int:
        """The topmost process of the unbroken chain of ancestors (from ``pid``) holding ``key``."""
        memo = (pid, key)
        if memo not in self._origin:
            chain, current = [], pid
            for _ in range(MAX_DEPTH):
                chain.append(current)
                parent = self.parent(current)
                if parent is None or not parent.env_readable or key not in parent.env:
                    break
                if (parent.pid, key) in self._origin:
                    current = self._origin[(parent.pid, key)]
                    chain.append(current)
                    break
                current = parent.pid
            for p in chain:
                self._origin[(p, key)] = current
        return self._origin[memo]

    def owner(self, pid: int, key: SignalKey) -> Owner:
        """Who reports ``pid``'s signal ``key``: a pid, the user's shell environment, or nobody (None)."""
        seen = self.procs[pid]
        if seen.env[key].source != "environment":
            return pid  # a key on a command line is that process's own
        origin = self.origin(pid, key)
        host = self._session_host(origin)
        if host is not None:
            return Shell(host.pid, host.user)
        if origin in self.intrinsic:
            return origin
        top = self._topmost_agent(pid, origin)
        if top is not None:
            return top
        return None if self._holders.get((origin, key)) else origin

    def owns_any(self, pid: int) -> bool:
        return any(self.owner(pid, key) == pid for key in self.procs[pid].env)

    def _session_host(self, origin: int) -> Seen | None:
        seen = self.procs[origin]
        if seen.cmd.interactive:
            return seen
        parent = self.parent(origin)
        if parent is not None and parent.cmd.interactive and parent.user == seen.user:
            return parent
        return None

    def _topmost_agent(self, pid: int, origin: int) -> int | None:
        """The agent closest to ``origin`` on the way up from ``pid`` (both included)."""
        found, current = None, pid
        for _ in range(MAX_DEPTH):
            if current in self.intrinsic:
                found = current
            if current == origin:
                break
            parent = self.parent(current)
            if parent is None:
                break
            current = parent.pid
        return found

    def nearest(self, pid: int, among: set[int], max_depth: int = MAX_DEPTH) -> int | None:
        """The nearest ancestor of ``pid`` that is in ``among``."""
        current = self.procs[pid].ppid
        for _ in range(max_depth):
            if current is None or current not in self.procs:
                return None
            if current in among:
                return current
            current = self.procs[current].ppid
        return None
