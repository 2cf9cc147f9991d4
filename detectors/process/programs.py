"""The program a process belongs to: the name its agent is grouped and called by.

A catalogue tool is its catalogue id (``claude-code``), wherever and in whichever
version it is installed: an update or a second install path is the same agent. An
MCP server is its package (``@modelcontextprotocol/server-memory``, ``mcp-server-fetch``),
however it was launched (npx, a global install, uvx, a venv). A Node script is the
package of its nearest ``package.json`` (``…/dist/index.js`` is not a name). Anything
else keeps the command's own program (script path, renamed argv0 or executable).
"""

from __future__ import annotations

import os
import re

from detectors.process.installed import normalise_dist, package_json_above
from detectors.process.signatures import Command, basename
from scanner.catalog import AgentTool

# `@scope/name@1.2.3`, `name@latest`, `name==1.0`, `name[extra]>=2`: the package without its version.
_NPM_SPEC = re.compile(r"^(@[^/@\s]+/[^@\s]+|[^@\s]+)(?:@.*)?$")
_PY_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
# Directories of console entry points: a script there is named by its file name alone
# (`/root/.cache/uv/archive-v0/<hash>/bin/mcp-server-fetch` is `mcp-server-fetch`).
_ENTRY_DIRS = frozenset({"bin", "Scripts"})


class Programs:
    """Program names, cached per (command, working directory): workers share command lines."""

    def __init__(self) -> None:
        self._packages: dict[str, str | None] = {}

    def program(self, cmd: Command, tool: AgentTool | None, cwd: str | None = None) -> str:
        if tool is not None and tool.kind != "mcp-server":
            return tool.id
        package = self.node_package(cmd, cwd) if cmd.is_node else None
        if tool is not None:
            return package or server_name(cmd)
        return package or cmd.program

    def node_package(self, cmd: Command, cwd: str | None) -> str | None:
        """The package name of a Node script (its real path: ``.bin/x`` links into the package)."""
        script = cmd.script
        if not script or script.startswith("-"):
            return None
        path = script if os.path.isabs(script) else (os.path.join(cwd, script) if cwd else None)
        if path is None:
            return None
        if path not in self._packages:
            try:
                real = os.path.realpath(path)
            except OSError:
                real = path
            found = package_json_above(real)
            self._packages[path] = found[1] if found else None
        return self._packages[path]


def server_name(cmd: Command) -> str:
    """An MCP server's name from its command line alone: the launched package, module or entry point."""
    script = cmd.script
    if script and script.startswith("-m "):
        return normalise_dist(script[3:].split(".", 1)[0])  # python -m mcp_server_fetch → mcp-server-fetch
    if script and not cmd.is_python and not cmd.is_node and not os.path.isabs(script):
        m = (_PY_SPEC if cmd.runtime == "python" else _NPM_SPEC).match(script)  # uvx x==1, npx @s/x@2
        return m.group(1) if m else script
    if script:
        parent = basename(os.path.dirname(script))
        return basename(script) if parent in _ENTRY_DIRS else script
    return cmd.program if cmd.renamed else basename(cmd.program)
