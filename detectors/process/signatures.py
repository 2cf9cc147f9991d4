"""What a command line says: the program it runs and the catalogue signatures it matches.

Everything provider- or tool-specific comes from the catalogue. The only lists kept
here are generic: which executables are interpreters or launchers (their script or
package, not the interpreter, is the program) and how their options are shaped; which
are shells, terminal session hosts and wrappers (they run their arguments, so they are
never the tool those name); and how a package manager's install command looks.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from typing import Iterator, Sequence

from scanner.catalog import AgentTool, Catalog
from scanner.secrets import shannon_entropy

INTERPRETER = re.compile(
    r"(?:python[0-9.]*w?|pypy[0-9.]*|node|nodejs|bun|bunx|deno|uv|uvx|npx|npm|pnpm|pnpx|yarn|tsx|ts-node)"
    r"(?:\.exe)?", re.IGNORECASE)
PYTHON = re.compile(r"(?:python[0-9.]*w?|pypy[0-9.]*)(?:\.exe)?", re.IGNORECASE)
NODE = re.compile(r"(?:node|nodejs|tsx|ts-node)(?:\.exe)?", re.IGNORECASE)
UV = re.compile(r"uvx?(?:\.exe)?", re.IGNORECASE)
# Words a launcher takes before the thing it runs: `uv run x`, `uv tool run x`, `uv tool uvx x` (what
# `uvx x` execs), `bun x y`, `npm exec z`.
LAUNCHER_WORDS = frozenset({"run", "exec", "x", "tool", "dlx", "uvx"})
# Package managers and the words that make their command line an install, not a run of what it names:
# `pip install mcp-server-fetch`, `npm i -g @openai/codex`, `uv tool install x`, `yarn global add y`.
INSTALLERS = frozenset({"pip", "pip3", "pipx", "uv", "poetry", "pdm", "conda", "mamba", "micromamba",
                        "npm", "npm-cli.js", "pnpm", "pnpm.cjs", "yarn", "yarn.js", "bun", "apt", "apt-get", "brew"})
INSTALLER_SCOPES = frozenset({"pip", "tool", "global"})
INSTALL_VERBS = frozenset({"install", "i", "in", "add", "ci", "update", "up", "upgrade", "uninstall",
                           "remove", "rm", "un", "sync", "download", "wheel", "lock", "audit", "outdated", "list"})
# Shells, and session hosts that hold a user's interactive environment (a key exported there
# reaches every command the user starts; `systemd --user` is one too, with environment.d). The
# leading "-" is a login shell's argv0.
SHELL = re.compile(r"-?(?:(?:ba|da|z|k|mk|tc|c|fi|a|y)?sh|nu|pwsh|xonsh|elvish)(?:\.exe)?")
SESSION_HOSTS = frozenset({"tmux", "tmux: server", "screen", "SCREEN", "zellij"})
# Programs that run the command in their arguments (in a child, a container or elsewhere): the
# command line names what they start, not what they are, so it matches no server or tool signature.
WRAPPERS = frozenset({"timeout", "sudo", "doas", "su", "runuser", "nohup", "setsid", "nice", "ionice", "chrt",
                      "taskset", "stdbuf", "unbuffer", "watch", "script", "xargs", "env", "time", "flock",
                      "strace", "ltrace", "gdb", "systemd-run", "tini", "dumb-init", "docker", "podman",
                      "nerdctl", "kubectl", "ssh"})
_SHELL_OPTIONS_WITH_VALUE = frozenset({"--rcfile", "--init-file", "-o", "+o", "-O", "+O"})
OPTIONS_WITH_VALUE = frozenset({
    "-W", "-X", "-r", "--require", "--import", "--loader", "--experimental-loader", "--with", "--from",
    "--python", "-p", "--package", "--env-file", "--cwd", "--project", "--directory", "--inspect-port",
})
INLINE_CODE = frozenset({"-c", "-e", "--eval", "-p", "--print"})
# A script pattern must start a word or a path component, so `test_mcp_server_x.py` is not `mcp_server_`.
_BOUNDARY = frozenset(" /\\='\"")
_WORD_CHAR = re.compile(r"[A-Za-z0-9_-]")
_SECRET_WORD = r"[\w.-]*(?:key|token|secret|passw|credential|auth)[\w.-]*"
_SENSITIVE_OPTION = re.compile(rf"(?i)^(-{{1,2}}{_SECRET_WORD})(?:=.*)?$")  # --api-key X, --token=X
# API_KEY=X, "Authorization: Bearer X", and the same behind an option: -eAPI_KEY=X, --env=API_KEY=X
_SENSITIVE_ASSIGNMENT = re.compile(rf"(?i)^((?:-{{1,2}}[\w-]+=|-e)?{_SECRET_WORD}[\"']?\s*[=:]\s*).*$")
# A secret assigned inside a longer word: OpenAI(api_key="X"), url?token=X
_EMBEDDED_SECRET = re.compile(rf"(?i)({_SECRET_WORD}[\"']?\s*[=:]\s*[\"']?)([^\s\"',;)}}&]+)")
AUTH_SCHEMES = frozenset({"bearer", "basic", "token"})
_PUNCTUATION = "\"'{}()[],;"
MAX_SHELL_DEPTH = 3  # sh -c "bash -c '…'" nests; a deeper string is masked as one word
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
    interactive: bool = False   # an interactive shell or a terminal session host (tmux, screen)
    installer: bool = False     # a package manager installing something (`pip install x`)
    wrapper: bool = False       # a shell or a wrapper (`sh -c '…'`, `timeout 60 …`): it runs its arguments

    @property
    def is_python(self) -> bool:
        return bool(self.interpreter and PYTHON.fullmatch(self.interpreter))

    @property
    def is_node(self) -> bool:
        return bool(self.interpreter and NODE.fullmatch(self.interpreter))

    @property
    def runtime(self) -> str | None:
        """The interpreter family: "python" (python, pypy, uv, uvx) or "node" (node, npx, npm, bun, deno…)."""
        if not self.interpreter:
            return None
        return "python" if PYTHON.fullmatch(self.interpreter) or UV.fullmatch(self.interpreter) else "node"


def normalise_argv(cmdline: Sequence[str]) -> list[str]:
    """argv as the program was started: a process title written over argv (``npm exec x``
    shows as one string padded with empty arguments) is split back into words."""
    argv = list(cmdline)
    padded = len(argv) > 1 and argv[-1] == ""
    while argv and argv[-1] == "":
        argv.pop()
    if padded and len(argv) == 1 and " " in argv[0]:
        return argv[0].split()
    return argv


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
    interactive = _interactive_shell(argv0_base or exe_base, list(cmdline[1:])) or (name or "") in SESSION_HOSTS \
        or argv0_base in SESSION_HOSTS or (argv0_base == "systemd" and "--user" in cmdline[1:])
    wrapper = not interpreter and any(SHELL.fullmatch(b) or b in WRAPPERS for b in (argv0_base, exe_base) if b)
    return Command(names, interpreter, script, args, program, renamed, interactive, _installer(cmdline), wrapper)


def _interactive_shell(base: str, rest: list[str]) -> bool:
    """A shell with neither a script nor a command string: the one a user types into."""
    if not SHELL.fullmatch(base):
        return False
    skip = False
    for arg in rest:
        if skip:
            skip = False
        elif arg in _SHELL_OPTIONS_WITH_VALUE:
            skip = True
        elif arg in ("--command", "--init-command"):
            return False
        elif arg.startswith("--"):
            continue
        elif arg[:1] in "-+" and len(arg) > 1:
            if "c" in arg[1:] or "s" in arg[1:]:
                return False  # -c 'command', -s (commands from stdin)
        else:
            return False  # a script
    return True


def _installer(cmdline: Sequence[str]) -> bool:
    """A package manager installing (or listing) packages, whatever their names look like."""
    words = [basename(a).removesuffix(".exe") for a in cmdline if not a.startswith("-")]
    for i, word in enumerate(words[:3]):  # pip …, python3 /usr/bin/pip …, python3 -m pip …
        if word in INSTALLERS:
            rest = words[i + 1:]
            if rest and rest[0] in INSTALLER_SCOPES:
                rest = rest[1:]
            return bool(rest) and rest[0] in INSTALL_VERBS
    return False


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
    """The command line for people, secrets masked, then scrubbed, then cut.

    Hidden: values of key/token/password options and assignments, what follows an
    ``Authorization:``/``Bearer`` label, secrets assigned inside code, and bare
    random-looking tokens — also inside shell strings, which are split as a shell would
    (``sh -c '… --master_key X'``, ``env KEY=X cmd``, ``docker run -e KEY=X``). Values are
    replaced where they stand, so the command keeps its shape.
    """
    args = list(cmdline)
    hidden = _secret_values(list(_words(args, 0)), scrub)
    text = scrub(" ".join(_hide(arg, hidden) for arg in args))
    return text if len(text) <= MAX_CMDLINE_SHOWN else text[:MAX_CMDLINE_SHOWN] + "…"


def _words(args: Sequence[str], depth: int) -> Iterator[str]:
    """The arguments, with each shell string (one with whitespace) split into its words, recursively."""
    for arg in args:
        if depth < MAX_SHELL_DEPTH and any(c.isspace() for c in arg.strip()):
            yield from _words(_shell_words(arg), depth + 1)
        else:
            yield arg


def _secret_values(words: list[str], scrub) -> set[str]:  # type: ignore[no-untyped-def]
    found: set[str] = set()
    hide_next = False
    for word in words:
        core = word.strip(_PUNCTUATION)
        if hide_next:
            if core.lower() in AUTH_SCHEMES:
                continue  # "Authorization: Bearer X": X is the secret
            if core:
                found.add(core)
            hide_next = False
            continue
        label = word.lstrip(_PUNCTUATION)
        m = _SENSITIVE_OPTION.match(label) or _SENSITIVE_ASSIGNMENT.match(label)
        if m:
            value = label[m.end(1):].lstrip("=").strip(_PUNCTUATION)
            if value:
                found.add(value)
            else:
                hide_next = True  # --api-key X, "Authorization:" X
        elif core.lower() in AUTH_SCHEMES:
            hide_next = True
        elif _random_token(core) and scrub(core) == core:
            found.add(core)  # an unknown random token; a known key keeps its preview (scrub)
        else:
            found.update(m.group(2) for m in _EMBEDDED_SECRET.finditer(word))
    return found


def _hide(text: str, values: set[str]) -> str:
    for value in sorted(values, key=lambda v: (-len(v), v)):
        if value in text:
            text = re.sub(rf"(?<![^\s\"'=:,;({{\[]){re.escape(value)}(?![^\s\"',;)}}\]&])", "***", text)
    return text


def _shell_words(text: str) -> list[str]:
    """The words a shell would split ``text`` into (on whitespace when its quoting is unbalanced)."""
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:
        return text.split()


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
        they say which package runs, where a script's bare name may fit several tools. A tool
        bound to a runtime never matches another interpreter's process, and a package manager
        installing a tool is not the tool.
        """
        if cmd.installer or cmd.wrapper:
            return None
        runtime = cmd.runtime
        if cmd.interpreter and not cmd.renamed:
            best: tuple[AgentTool, str] | None = None
            for pattern, tool in self._tool_scripts:
                if tool.runtime not in (None, runtime):
                    continue
                if _contains_at_boundary(cmd.args, pattern) and (best is None or len(pattern) > len(best[1])):
                    best = (tool, pattern)
            if best:
                return best
        for rx, tool in self._tool_exes:
            if runtime and not cmd.renamed and tool.runtime not in (None, runtime):
                continue
            for n in cmd.names:
                if rx.fullmatch(n):
                    return tool, n
        return None

    def servers(self, cmd: Command, cmdline: str) -> dict[str, str]:
        """Local model server providers the process signature matches → what matched."""
        out: dict[str, str] = {}
        if cmd.installer or cmd.wrapper:
            return out
        for names, pid in self._server_names:
            hit = next((n for n in cmd.names if n in names), None)
            if hit:
                out[pid] = f"process name {hit}"
        for rx, pid in self._server_cmdlines:
            if pid not in out and rx.search(cmdline):
                out[pid] = "command line"
        return out


def _contains_at_boundary(text: str, pattern: str) -> bool:
    """``pattern`` in ``text`` as whole words: `/bin/llm` is not `/bin/llmnr`, `aider` not `xaider`."""
    start = text.find(pattern)
    while start >= 0:
        end = start + len(pattern)
        if (start == 0 or not pattern[0].isalnum() or text[start - 1] in _BOUNDARY) \
                and (end == len(text) or not pattern[-1].isalnum() or not _WORD_CHAR.match(text[end])):
            return True
        start = text.find(pattern, start + 1)
    return False
