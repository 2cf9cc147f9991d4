"""Who owns a key in a process tree (detectors.process.lineage), on small tables of parsed command lines."""

from __future__ import annotations

from detectors.process.lineage import Lineage, Shell
from detectors.process.signatures import parse_command
from detectors.process.snapshot import EnvSignal, Seen

KEY = ("ANTHROPIC_API_KEY", "fp1")


def table(*rows: tuple[int, int | None, list[str], bool]) -> dict[int, Seen]:
    """(pid, ppid, argv, holds KEY) rows → the snapshot's process records."""
    out = {}
    for pid, ppid, argv, holds in rows:
        env = {KEY: EnvSignal(KEY[0], "key", "anthropic", KEY[1])} if holds else {}
        out[pid] = Seen(pid=pid, ppid=ppid, user="u", exe=None, cmdline=argv, cmd=parse_command(None, argv, None),
                        tool=None, servers={}, env=env, env_readable=True, installed=None)
    return out


def test_agent_that_set_the_key_owns_it_not_its_children():
    procs = table((1, None, ["python3", "holder.py"], False), (2, 1, ["claude"], True),
                  (3, 2, ["npm", "exec", "@modelcontextprotocol/server-memory"], True),
                  (4, 3, ["sh", "-c", "mcp-server-memory"], True), (5, 4, ["node", "/x/.bin/mcp-server-memory"], True))
    lineage = Lineage(procs, intrinsic={2, 3, 5})
    assert [lineage.owner(p, KEY) for p in (2, 3, 4, 5)] == [2, 2, 2, 2]
    assert lineage.owns_any(2) and not lineage.owns_any(5)


def test_a_wrapper_hands_its_key_to_the_agent_below_it():
    procs = table((1, None, ["script", "-qfc", "claude", "/dev/null"], True), (2, 1, ["claude"], True),
                  (3, 2, ["node", "/x/mcp-server-memory"], True))
    lineage = Lineage(procs, intrinsic={2, 3})
    assert [lineage.owner(p, KEY) for p in (1, 2, 3)] == [None, 2, 2]


def test_a_wrapper_with_no_agent_below_keeps_its_key():
    procs = table((1, None, ["bash", "run.sh"], True), (2, 1, ["sleep", "600"], True))
    lineage = Lineage(procs, intrinsic=set())
    assert [lineage.owner(p, KEY) for p in (1, 2)] == [1, 1]


def test_a_key_exported_in_an_interactive_shell_or_a_tmux_session_is_the_users():
    # /proc/<pid>/environ is the environment at exec: the exported key shows first in the shell's children
    procs = table((1, None, ["-bash"], False), (2, 1, ["less", "/etc/hosts"], True), (3, 1, ["claude"], True))
    lineage = Lineage(procs, intrinsic={3})
    assert lineage.owner(2, KEY) == Shell(1, "u") and lineage.owner(3, KEY) == Shell(1, "u")
    procs = table((1, None, ["tmux"], True), (2, 1, ["-zsh"], True), (3, 2, ["python3", "bot.py"], True))
    assert Lineage(procs, intrinsic={3}).owner(3, KEY) == Shell(1, "u")


def test_an_unreadable_parent_environment_makes_the_child_the_origin():
    procs = table((1, None, ["claude"], True), (2, 1, ["node", "/x/mcp-server-memory"], True))
    procs[1].env_readable = False
    assert Lineage(procs, intrinsic={1, 2}).owner(2, KEY) == 2


def test_a_key_on_the_command_line_is_always_the_process_own():
    procs = table((1, None, ["claude"], True), (2, 1, ["tool", "--api-key", "x"], False))
    procs[2].env[KEY] = EnvSignal(KEY[0], "key", "anthropic", KEY[1], source="command-line")
    assert Lineage(procs, intrinsic={1}).owner(2, KEY) == 2
