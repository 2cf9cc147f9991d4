"""End to end: real agent software installed from npm and PyPI, started as users start it, scanned.

Installs Gemini CLI and the MCP memory server from npm, and llm and mcp-server-fetch
from PyPI (with uv), once per test session into a temporary prefix (or the prefix in
``SHADOW_AGENTS_E2E_PREFIX``, reused when it already holds these versions). Gemini CLI
runs interactively under a pseudo-terminal with both MCP servers configured in its
settings (``npx -y @modelcontextprotocol/server-memory``, the venv's
``mcp-server-fetch``); ``llm chat`` runs under another. Every base URL points at a
loopback server that answers nothing, so nothing leaves the machine.

When the suite runs as root the tools run as a throwaway user of their own, so no
other process on the host is of the same program; the scan runs once as root (the
CLI) and once as that unprivileged user. Skipped, with the reason, when the packages
cannot be installed or the tools do not start; deselect with ``-m "not e2e"``.
"""

from __future__ import annotations

import http.server
import json
import os
import pwd
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from scanner.catalog import Catalog
from scanner.redact import fingerprint
from tests.conftest import CLI, clean_environ
from tests.keys import make_key
from tests.unprivileged import run_as, scan_processes, throwaway_user

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from process_bench import Holder  # noqa: E402

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the tools run under a Linux pty")]

NPM_PACKAGES = ("@google/gemini-cli@0.61.0", "@modelcontextprotocol/server-memory@2026.8.31")
PYPI_PACKAGES = ("llm==0.36", "mcp-server-fetch==2026.10.24")
INSTALL_TIMEOUT = 900
START_TIMEOUT = 120
GEMINI_KEY = make_key("google-ai-studio", 801)
OPENAI_KEY = make_key("openai-project", 802)
KEYS = (GEMINI_KEY, OPENAI_KEY)
SYSTEM_CERTS = "/etc/ssl/certs/ca-certificates.crt"


# ---- installs (once per session) ---------------------------------------------------------------

def _installer_env() -> dict[str, str]:
    catalog = Catalog.load()
    env = {k: v for k, v in os.environ.items() if k not in catalog.env_vars and not catalog.key_regex.search(v)}
    if "SSL_CERT_FILE" not in env and os.path.exists(SYSTEM_CERTS):
        env["SSL_CERT_FILE"] = SYSTEM_CERTS  # uv reads its CA bundle from here, not from pip's config
    return env


def _run(cmd: list[str], what: str) -> str | None:
    try:
        p = subprocess.run(cmd, env=_installer_env(), capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{what}: {exc}"
    return None if p.returncode == 0 else f"{what} exited {p.returncode}: {(p.stderr or p.stdout)[-400:]}"


def _install_npm(prefix: Path) -> str | None:
    if not shutil.which("npm") or not shutil.which("node"):
        return "npm and node are not installed"
    return _run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
                 *NPM_PACKAGES], "npm install")


def _world_python() -> str | None:
    """A Python every user can run (the test venv may sit in a private directory)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys._base_executable):  # type: ignore[attr-defined]
        if candidate and os.path.exists(candidate) and all(
                os.stat(d).st_mode & 0o001 for d in Path(candidate).resolve().parents):
            return candidate
    return None


def _install_pypi(prefix: Path) -> str | None:
    python = _world_python()
    if python is None:
        return "no Python interpreter that another user can run"
    error = _run([sys.executable, "-m", "pip", "install", "-q", "--target", str(prefix / "uv"), "uv"], "pip install uv")
    uv = str(prefix / "uv" / "bin" / "uv")
    return error or _run([uv, "venv", "-q", "--python", python, str(prefix / "venv")], "uv venv") or \
        _run([uv, "pip", "install", "-q", "--python", str(prefix / "venv" / "bin" / "python"), *PYPI_PACKAGES],
             "uv pip install")


@pytest.fixture(scope="session")
def prefix():
    reuse = os.environ.get("SHADOW_AGENTS_E2E_PREFIX")
    root = Path(reuse) if reuse else Path(tempfile.mkdtemp(prefix="sa-e2e-"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the tools run as another user
    stamp, want = root / ".installed", json.dumps([NPM_PACKAGES, PYPI_PACKAGES])
    if not (stamp.exists() and stamp.read_text(encoding="utf-8") == want):
        with ThreadPoolExecutor(2) as pool:  # network-bound: both at once
            errors = [e for e in pool.map(lambda f: f(root), (_install_npm, _install_pypi)) if e]
        if errors:
            if not reuse:
                shutil.rmtree(root, ignore_errors=True)
            pytest.skip("cannot install the end-to-end tools here: " + "; ".join(errors))
        stamp.write_text(want, encoding="utf-8")
    yield root
    if not reuse:
        shutil.rmtree(root, ignore_errors=True)


# ---- the session --------------------------------------------------------------------------------

class _Silent(http.server.BaseHTTPRequestHandler):
    """A loopback stand-in for every provider: reads the request, never answers (the tool waits)."""

    def _hold(self) -> None:
        time.sleep(START_TIMEOUT + 60)

    do_GET = do_POST = do_HEAD = _hold

    def log_message(self, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def runner():
    """Who runs the tools: a throwaway user when the suite runs as root, else the current user."""
    with throwaway_user("sa-e2e") as user:
        yield user or pwd.getpwuid(os.getuid())


@pytest.fixture(scope="module")
def session(prefix: Path, runner: pwd.struct_passwd, tmp_path_factory: pytest.TempPathFactory):
    own = runner.pw_uid == os.getuid()
    if own and _programs_running(runner.pw_name, ("gemini", "mcp-server-memory", "llm", "mcp-server-fetch")):
        pytest.skip(f"another Gemini CLI, llm or MCP server of {runner.pw_name} runs on this host; "
                    "run as root to give the tools a user of their own")
    server = _Server(("127.0.0.1", 0), _Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    home = Path(tempfile.mkdtemp(prefix="home-", dir=prefix))
    (home / "work").mkdir()
    (home / ".gemini").mkdir()
    (home / ".gemini" / "settings.json").write_text(json.dumps({
        "mcpServers": {
            "memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"], "cwd": str(prefix)},
            "fetch": {"command": str(prefix / "venv" / "bin" / "mcp-server-fetch")}},
        "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
        "general": {"disableAutoUpdate": True}, "privacy": {"usageStatisticsEnabled": False},
        "ide": {"hasSeenNudge": True}}), encoding="utf-8")
    terminal = shutil.copy2(ROOT / "tests" / "pty_terminal.py", home / "pty_terminal.py")
    path = f"{prefix / 'node_modules' / '.bin'}:{prefix / 'venv' / 'bin'}:/usr/bin:/bin"
    common = {"PATH": path, "HOME": str(home), "npm_config_cache": str(home / ".npm"), "NO_UPDATE_NOTIFIER": "1"}
    sessions = {
        "gemini": {"argv": ["gemini"], "env": {**common, "GEMINI_API_KEY": GEMINI_KEY, "GOOGLE_GEMINI_BASE_URL": base}},
        "llm": {"argv": [str(prefix / "venv" / "bin" / "llm"), "chat", "-m", "gpt-4o-mini"],
                "env": {**common, "OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": f"{base}/v1",
                        "LLM_USER_PATH": str(home / ".llm")}},
    }
    specs = []
    for name, spec in sessions.items():
        spec_file = home / f"{name}.json"
        spec_file.write_text(json.dumps({**spec, "cwd": str(home / "work"), "log": str(home / f"{name}.log")}),
                             encoding="utf-8")
        specs.append({"argv": [str(prefix / "venv" / "bin" / "python"), str(terminal), str(spec_file)],
                      "env": {"PATH": path}, **({} if own else {"user": runner.pw_name})})
    if not own:
        shutil.chown(home, runner.pw_name, runner.pw_name)
        for p in home.rglob("*"):
            shutil.chown(p, runner.pw_name, runner.pw_name)
    try:
        with Holder(specs) as started:
            terminals = {name: s["pid"] for name, s in zip(sessions, started)}
            _wait_for_tools(terminals, home)
            report = _scan_as_root(tmp_path_factory.mktemp("e2e-scan"))
            unprivileged = None if own else run_as(runner.pw_uid, runner.pw_gid, scan_processes, Catalog.load())
            yield {"report": report, "unprivileged": unprivileged, "runner": runner.pw_name, "own": own,
                   "pids": {name: _tree(pid) for name, pid in terminals.items()}, "host": report["metadata"]["host"]}
    finally:
        server.shutdown()
        shutil.rmtree(home, ignore_errors=True)


def _tree(pid: int) -> set[int]:
    try:
        return {pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))}
    except psutil.Error:
        return {pid}


def _programs_running(user: str, names: tuple[str, ...]) -> bool:
    for proc in psutil.process_iter(["username", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["username"] == user and any(f"/{n}" in cmd or cmd.startswith(n) for n in names):
            return True
    return False


def _wait_for_tools(terminals: dict[str, int], home: Path) -> None:
    """Until Gemini CLI has started both MCP servers and llm runs; skip (with the logs) otherwise."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        gemini = " ".join(" ".join(_cmdline(p)) for p in _tree(terminals["gemini"]))
        llm = " ".join(" ".join(_cmdline(p)) for p in _tree(terminals["llm"]))
        if "node_modules/.bin/mcp-server-memory" in gemini and "bin/mcp-server-fetch" in gemini and "llm chat" in llm:
            time.sleep(2)  # let the last process finish starting
            return
        time.sleep(0.5)
    logs = {n: (home / f"{n}.log").read_bytes()[-300:].decode("utf-8", "replace") if (home / f"{n}.log").exists()
            else "" for n in terminals}
    pytest.skip(f"the tools did not start within {START_TIMEOUT} s: {logs!r}")


def _cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []


def _scan_as_root(home: Path) -> dict:
    """The CLI, as the suite's user: the JSON report, and every format's output for the leak check."""
    outputs, report = {}, None
    cmd = [CLI] if CLI else [sys.executable, "-m", "scanner"]
    for fmt in ("json", "table"):
        p = subprocess.run([*cmd, "scan", "-d", "process", "-f", fmt], env=clean_environ(home), capture_output=True,
                           text=True, timeout=120, cwd=home)
        assert p.returncode in (0, 1), p.stderr
        outputs[fmt] = p.stdout + p.stderr
        if fmt == "json":
            report = json.loads(p.stdout)
    assert report is not None
    report["_outputs"] = outputs
    return report


# ---- what the scan must say ---------------------------------------------------------------------

PROGRAMS = {"gemini": "gemini-cli", "llm": "llm-cli", "memory": "@modelcontextprotocol/server-memory",
            "fetch": "mcp-server-fetch"}


def _agents_by_program(agents: list[dict], host: str, user: str) -> dict[str, list[dict]]:
    return {name: [a for a in agents if f"proc:{host}:{user}:{program}" in a["identity"]]
            for name, program in PROGRAMS.items()}


def test_one_agent_per_tool_named_after_it(session):
    report, user, host = session["report"], session["runner"], session["host"]
    found = _agents_by_program(report["agents"], host, user)
    assert {n: len(a) for n, a in found.items()} == {n: 1 for n in PROGRAMS}, [a["name"] for a in report["agents"]]
    assert found["gemini"][0]["name"] == f"gemini-cli ({user}@{host})"
    assert found["llm"][0]["name"] == f"llm-cli ({user}@{host})"
    assert found["memory"][0]["name"] == f"server-memory ({user}@{host})"
    assert found["fetch"][0]["name"] == f"mcp-server-fetch ({user}@{host})"
    # four agents, not one: the MCP servers did not merge into Gemini CLI through what they inherited
    assert len({a["id"] for agents in found.values() for a in agents}) == 4
    ours = set().union(*session["pids"].values())
    for agent in (a for agents in found.values() for a in agents):
        pids = {p for f in report["findings"] if f["id"] in agent["findings"] for p in f["details"]["pids"]}
        assert pids <= ours, f"{agent['name']} holds processes the test did not start: {pids - ours}"


def test_mcp_servers_are_linked_to_gemini_cli(session):
    report, user, host = session["report"], session["runner"], session["host"]
    parent = f"proc:{host}:{user}:gemini-cli"
    for program in (PROGRAMS["memory"], PROGRAMS["fetch"]):
        mcp = [f for f in report["findings"] if f["kind"] == "mcp-server" and f["location"]["exe"] == program
               and f["location"]["user"] == user]
        assert len(mcp) == 1, program
        assert mcp[0]["details"]["parent"] == parent
        assert f"parent:{parent}" in mcp[0]["identity"]
        assert "started by gemini-cli" in mcp[0]["evidence"]


def test_keys_are_fingerprinted_on_the_agent_that_holds_them(session):
    report, user, host = session["report"], session["runner"], session["host"]
    found = _agents_by_program(report["agents"], host, user)
    assert f"cred:{fingerprint(GEMINI_KEY)}" in found["gemini"][0]["identity"]
    assert f"cred:{fingerprint(OPENAI_KEY)}" in found["llm"][0]["identity"]
    for name in ("memory", "fetch"):
        assert not [k for k in found[name][0]["identity"] if k.startswith("cred:")]
    gemini_endpoint = [f for f in report["findings"] if f["kind"] == "endpoint-config"
                       and f["details"]["variable"] == "GOOGLE_GEMINI_BASE_URL" and f["location"]["user"] == user]
    assert gemini_endpoint and gemini_endpoint[0]["location"]["exe"] == "gemini-cli"


def test_nothing_leaked(session):
    for fmt, text in session["report"]["_outputs"].items():
        for key in KEYS:
            assert key not in text and key[8:-4] not in text, fmt
    if session["unprivileged"]:
        text = json.dumps(session["unprivileged"])
        assert not any(key in text for key in KEYS)


def test_unprivileged_scan_sees_its_own_tools_and_reports_the_rest_as_gaps(session):
    if session["own"]:
        pytest.skip("the tools run as the scanning user: no second user to scan as")
    result, user = session["unprivileged"], session["runner"]
    assert result["user"] == user
    cov = result["coverage"]
    assert cov["status"] == "partial"
    gaps = {g["what"]: g["reason"] for g in cov["gaps"]}
    assert "owned by root" in gaps["process environments"] and "run as root" in gaps["process environments"]
    fps = {f["credential"]["fingerprint"] for f in result["findings"] if f.get("credential")}
    assert {fingerprint(GEMINI_KEY), fingerprint(OPENAI_KEY)} <= fps
    exes = {f["location"]["exe"] for f in result["findings"] if f["location"]["user"] == user}
    assert set(PROGRAMS.values()) <= exes
