"""What a command line says: the program it runs and the catalogue signatures it matches.

Everything provider- or tool-specific comes from the catalogue. The only lists kept
here are generic: which executables are interpreters or launchers (their script or
package, not the interpreter, is the program) and how their options are shaped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Sequence

from scanner.catalog import AgentTool, Catalog
from scanner.secrets import shannon_entropy

INTERPRETER = re.compile(
    r"(?:python[0-9.]*w?|pypy[0-9.]*|node|nodejs|bun|bunx|deno|uv|uvx|npx|npm|pnpm|pnpx|yarn|tsx|ts-node)"
    r"(?:\.exe)?", re.IGNORECASE)
PYTHON = re.compile(r"(?:python[0-9.]*w?|pypy[0-9.]*)(?:\.exe)?", re.IGNORECASE)
NODE = re.compile(r"(?:node|nodejs|tsx|ts-node)(?:\.exe)?", re.IGNORECASE)
# Words a launcher takes before the thing it runs: `uv run x`, `uv tool run x`, `bun x y`, `npm exec z`.
LAUNCHER_WORDS = frozenset({"run", "exec", "x", "tool", "dlx"})
OPTIONS_WITH_VALUE = frozenset({
    "-W", "-X", "-r", "--require", "--import", "--loader", "--experimental-loader", "--with", "--from",
    "--python", "-p", "--package", "--env-file", "--cwd", "--project", "--directory", "--inspect-port",
})
INLINE_CODE = frozenset({"-c", "-e", "--eval", "-p", "--print"})
# A script pattern must start a word or a path component, so `test_mcp_server_x.py` is not `mcp_server_`.
_BOUNDARY = frozenset(" /\\='\"")
_SECRET_WORD = r"[\w.-]*(?:key|token|secret|passw|credential|auth)[\w.-]*"
_SENSITIVE_OPTION = re.compile(rf"(?i)^(-{{1,2}}{_SECRET_WORD})(=.*)?$")  # --api-key X, --token=X
_SENSITIVE_ASSIGNMENT = re.compile(rf"(?i)^({_SECRET_WORD}\s*[=:]\s*).+$")  # API_KEY=X, "Authorization: Bearer X"
MAX_CMDLINE_SHOWN = 300
# A bare argument that looks like a random token (a formatless key passed positionally):
# long, one word, letters and digits mixed, high entropy. Paths, URLs and options never match.
_TOKEN_ARG = re.compile(r"[A-Za-z0-9_+-]{24,}={0,2}")
MIN_TOKEN_ENTROPY = 3.5


def basename(path: str) -> str:
    """Last component of a POSIX or Windows path."""
    path = path.rstrip("/\\")
    return path[max(path.rfind("/"), path.rfind("\\")) + 1:]


@dataclass(frozen=True)
class Command:
    """How a process was started, reduced to what identifies the program."""

    names: tuple[str, ...]      # basenames the process is known by: exe, argv0, comm, script
    interpreter: str | None     # basename of the interpreter or launcher, when it is one
    script: str | None          # script path, "-m module" or launched package, for interpreters
    args: str                   # arguments after the interpreter, joined (what script_patterns see)
    program: str                # the program, for identity: script, renamed argv0 or executable
    renamed: bool = False       # an interpreter running under another name: argv0 is the program

    @property
    def is_python(self) -> bool:
        return bool(self.interpreter and PYTHON.fullmatch(self.interpreter))

    @property
    def is_node(self) -> bool:
        return bool(self.interpreter and NODE.fullmatch(self.interpreter))


def parse_command(exe: str | None, cmdline: Sequence[str], name: str | None) -> Command:
    """Reduce (exe, argv, comm) to a :class:`Command`."""
    argv0 = cmdline[0] if cmdline else ""
    exe_base, argv0_base = basename(exe or ""), basename(argv0)
    # argv0 first: it says how the program was invoked (`npx` and `uvx` run as node and uv)
    interpreter = next((b for b in (argv0_base, exe_base) if b and INTERPRETER.fullmatch(b)), None)
    script, args = None, ""
    if interpreter:
        rest = list(cmdline[1:])
        args = " ".join(rest)
        script = _script_of(interpreter, rest)
    names = tuple(dict.fromkeys(n for n in (exe_base, argv0_base, name or "",
                                            basename(script) if script and not script.startswith("-") else "")
                                if n))
    renamed = bool(interpreter and argv0_base and not INTERPRETER.fullmatch(argv0_base) and argv0_base != exe_base)
    if renamed:
        program = argv0  # an interpreter running under another name (a renamed or embedded program)
    elif interpreter and script:
        path_like = not script.startswith("-") and (PYTHON.fullmatch(interpreter) or NODE.fullmatch(interpreter)
                                                    or os.path.isabs(script))
        # a script path names the program; a module or a launched package needs its launcher: `uvx mcp-server-x`
        program = script if path_like else f"{interpreter} {script}"
    else:
        program = exe or argv0 or name or "?"
    return Command(names, interpreter, script, args, program, renamed)


def _script_of(interpreter: str, rest: list[str]) -> str | None:
    """The script, module or package an interpreter or launcher runs (None for inline code)."""
    i = 0
    launcher = not (PYTHON.fullmatch(interpreter) or NODE.fullmatch(interpreter))
    while i < len(rest):
        arg = rest[i]
        if arg == "-m" and i + 1 < len(rest):
            return f"-m {rest[i + 1]}"
        if arg.startswith("-m") and len(arg) > 2 and PYTHON.fullmatch(interpreter):
            return f"-m {arg[2:]}"
        if arg in INLINE_CODE and not launcher:
            return None
        if arg in OPTIONS_WITH_VALUE:
            i += 2
            continue
        if arg.startswith("-") or (launcher and arg in LAUNCHER_WORDS):
            i += 1
            continue
        return arg
    return None


def safe_cmdline(cmdline: Sequence[str], scrub) -> str:  # type: ignore[no-untyped-def]
    """The command line for people: values of key/token/password options and bare random-looking
    tokens masked, then scrubbed, then cut."""
    out: list[str] = []
    mask_next = False
    for arg in cmdline:
        if mask_next:
            out.append("***")
            mask_next = False
            continue
        m = _SENSITIVE_OPTION.match(arg)
        if m:
            out.append(m.group(1) + ("=***" if m.group(2) else ""))
            mask_next = not m.group(2)
            continue
        m = _SENSITIVE_ASSIGNMENT.match(arg)
        if m:
            out.append(m.group(1) + "***")
        else:  # a known key keeps its preview (scrub); an unknown random token is hidden whole
            out.append("***" if _random_token(arg) and scrub(arg) == arg else arg)
    text = scrub(" ".join(out))
    return text if len(text) <= MAX_CMDLINE_SHOWN else text[:MAX_CMDLINE_SHOWN] + "…"


def _random_token(arg: str) -> bool:
    return (_TOKEN_ARG.fullmatch(arg) is not None and not arg.startswith("-")
            and any(c.isdigit() for c in arg) and any(c.isalpha() for c in arg)
            and shannon_entropy(arg) >= MIN_TOKEN_ENTROPY)


class Signatures:
    """The catalogue's process signatures, compiled once per scan."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._tool_exes = [(re.compile("|".join(f"(?:{e})" for e in t.executables), re.IGNORECASE), t)
                           for t in catalog.tools.values() if t.executables]
        self._tool_scripts = [(p, t) for t in catalog.tools.values() for p in t.script_patterns]
        local = [p for p in catalog.providers.values() if p.process_names or p.cmdline_patterns]
        self._server_names = [(frozenset(p.process_names), p.id) for p in local if p.process_names]
        self._server_cmdlines = [(re.compile("|".join(f"(?:{c})" for c in p.cmdline_patterns)), p.id)
                                 for p in local if p.cmdline_patterns]

    def tool(self, cmd: Command) -> tuple[AgentTool, str] | None:
        """The agent tool the process is, with the name or pattern that said so.

        For interpreters the script patterns come first (the longest matching one wins):
        they say which package runs, where a script's bare name may fit several tools.
        """
        if cmd.interpreter and not cmd.renamed:
            best: tuple[AgentTool, str] | None = None
            for pattern, tool in self._tool_scripts:
                if _contains_at_boundary(cmd.args, pattern) and (best is None or len(pattern) > len(best[1])):
                    best = (tool, pattern)
            if best:
                return best
        for rx, tool in self._tool_exes:
            for n in cmd.names:
                if rx.fullmatch(n):
                    return tool, n
        return None

    def servers(self, cmd: Command, cmdline: str) -> dict[str, str]:
        """Local model server providers the process signature matches → what matched."""
        out: dict[str, str] = {}
        for names, pid in self._server_names:
            hit = next((n for n in cmd.names if n in names), None)
            if hit:
                out[pid] = f"process name {hit}"
        for rx, pid in self._server_cmdlines:
            if pid not in out and rx.search(cmdline):
                out[pid] = "command line"
        return out


def _contains_at_boundary(text: str, pattern: str) -> bool:
    start = text.find(pattern)
    while start >= 0:
        if start == 0 or not pattern[0].isalnum() or text[start - 1] in _BOUNDARY:
            return True
        start = text.find(pattern, start + 1)
    return False
