"""Agents, their MCP servers and the keys they inherit, on a real planted process table.

Every planted program has a name of its own (a random tag, and an agent tool that only
exists in this module's catalogue extension), so what else runs on the host does not
change the result. Planted processes are children of a holder process
(benchmarks/process_bench.py), because the detector skips the scanning process's own.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from detectors.base import ScanContext
from detectors.process import ProcessDetector
from scanner.catalog import Catalog
from scanner.correlate import correlate
from scanner.model import Coverage
from scanner.redact import fingerprint
from tests.keys import make_key
from tests.unprivileged import run_as, scan_processes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from process_bench import Holder  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="planted process tables need Linux")

TAG = secrets.token_hex(3)
AGENT = f"sa-agent-{TAG}"
MARKER = f"SA_AGENT_{TAG.upper()}"
AGENT_KEY = make_key("anthropic-api", 601)
SHELL_KEY = make_key("openai-project", 602)
APP_KEY = make_key("anthropic-api", 603)
ROOT_KEY = make_key("openai-project", 604)
NOBODY_KEY = make_key("groq", 605)
ALL_KEYS = (AGENT_KEY, SHELL_KEY, APP_KEY, ROOT_KEY, NOBODY_KEY)
SLEEP = shutil.which("sleep") or "/bin/sleep"
BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
SLEEPER = "import time\ntime.sleep(600)\n"

# A coding agent's session: its native binary in a versioned install directory (as codex runs
# ~/.codex/packages/…/releases/<version>/bin/codex app-server), and an MCP server started through
# `sh -c`, as `npm exec` does, with the agent's marker variable set for it.
AGENT_SESSION = textwrap.dedent("""
    import os, subprocess, sys, time
    python, daemon, mcp, marker = sys.argv[1:5]
    subprocess.Popen([daemon, "-c", "import time; time.sleep(600)", "app-server"], executable=python)
    subprocess.Popen(["sh", "-c", f"{python} {mcp}; :"], env={**os.environ, marker: "1"}, stdin=subprocess.PIPE)
    time.sleep(600)
""")
# A process that holds one of its packages' sources open (as a process that reads its own files does).
OPEN_PACKAGE_FILE = "import sys, time\nfh = open(sys.argv[1])\ntime.sleep(600)\n"


def _tool_entry() -> dict:
    return {"id": AGENT, "name": f"Test agent {TAG}", "kind": "coding-agent", "executables": [AGENT],
            "script_patterns": [], "packages": {"python": [], "javascript": []}, "providers": ["anthropic"],
            "env_vars": [], "child_env": [MARKER]}


def _venv(path: Path, dists: dict[str, str]) -> Path:
    """A real venv (no pip) with fake ``*.dist-info`` entries: name-version → top-level package."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    site = next(path.glob("lib/python*/site-packages"))
    for dist, top in dists.items():
        info = site / f"{dist}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Name: {dist.split('-')[0]}\n", encoding="utf-8")
        (info / "top_level.txt").write_text(f"{top}\n", encoding="utf-8")
        (site / top).mkdir()
        (site / top / "__init__.py").write_text("", encoding="utf-8")
    return site


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _link(path: Path, target: str | Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("lineage")
    catalog_file = _write(tmp / "catalog.yaml", yaml.safe_dump({"schema_version": 1, "agent_tools": [_tool_entry()]}))
    node = _link(tmp / "bin" / "node", sys.executable)  # a `node` whose scripts are Python: the names are real
    daemon = _link(tmp / ".sa" / "packages" / "standalone" / "releases" / "9.8.7" / "bin" / AGENT, sys.executable)
    mcp = _write(tmp / "tools" / "bin" / f"mcp-server-{TAG}", SLEEPER)
    mcp_marked = _write(tmp / "tools" / "bin" / f"mcp-server-{TAG}-b", SLEEPER)
    pager = _link(tmp / "bin" / f"pager-{TAG}", SLEEP)
    pip = _write(tmp / "bin" / "pip", SLEEPER)
    npm_cli = _write(tmp / "npm" / "bin" / "npm-cli.js", SLEEPER)
    package = tmp / "prefix" / "lib" / "node_modules" / "@sa-test" / f"server-{TAG}"
    _write(package / "package.json", json.dumps({"name": f"@sa-test/server-{TAG}", "bin": "dist/index.js"}))
    _write(package / "dist" / "package.json", json.dumps({"type": "module"}))  # no name: not the package
    global_mcp = _link(tmp / "prefix" / "bin" / f"mcp-server-{TAG}-g", _write(package / "dist" / "index.js", SLEEPER))
    app = tmp / "app"
    _write(app / "package.json", json.dumps({"name": f"sa-app-{TAG}"}))
    app_script = _write(app / "dist" / "index.js", SLEEPER)
    site = _venv(tmp / "venv", {"anthropic-0.40.0": "anthropic", "openai-1.50.0": "openai"})
    opener = _write(tmp / "opener.py", OPEN_PACKAGE_FILE)
    shell_spec = _write(tmp / "shell.json", json.dumps({
        "argv": ["bash", "--norc", "--noprofile", "-i"], "env": {**BASE_ENV, "PS1": "$ "}, "cwd": str(tmp),
        "keys": [[0.5, f"export OPENAI_API_KEY={SHELL_KEY}\r"], [1.0, f"{pager} 600\r"]]}))

    specs = {
        "agent": {"argv": [AGENT, "-c", AGENT_SESSION, sys.executable, str(daemon), str(mcp), MARKER],
                  "executable": sys.executable,
                  "env": {**BASE_ENV, "ANTHROPIC_API_KEY": AGENT_KEY, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}},
        "mcp_marked": {"argv": [sys.executable, str(mcp_marked)], "env": {**BASE_ENV, MARKER: "1"}},
        "shell": {"argv": [sys.executable, str(ROOT / "tests" / "pty_terminal.py"), str(shell_spec)], "env": BASE_ENV},
        "pip": {"argv": [sys.executable, str(pip), "install", f"mcp-server-fetch-{TAG}"], "env": BASE_ENV},
        "npm": {"argv": [str(node), str(npm_cli), "i", "-g", f"@modelcontextprotocol/server-{TAG}"], "env": BASE_ENV},
        "global_mcp": {"argv": [str(node), str(global_mcp)], "env": BASE_ENV},
        "app": {"argv": [str(node), str(app_script)], "env": {**BASE_ENV, "ANTHROPIC_API_KEY": APP_KEY}},
        "opener": {"argv": [str(tmp / "venv" / "bin" / "python"), str(opener), str(site / "anthropic" / "__init__.py")],
                   "env": BASE_ENV},
    }
    with Holder(list(specs.values())) as started:
        pids = {role: s["pid"] for role, s in zip(specs, started)}
        _wait_for(lambda: _descendants(pids["agent"], 3) and _descendants(pids["shell"], 2)
                  and any(_name(p) == f"pager-{TAG}" for p in _descendants(pids["shell"], 3)))
        catalog = Catalog.load([catalog_file])
        ctx = ScanContext(detector="process", catalog=catalog, paths=[], options={}, coverage=Coverage("process"),
                          hostname="h1")
        findings = list(ProcessDetector().run(ctx))
        yield {"pids": pids, "findings": findings, "agents": correlate(findings), "catalog": catalog, "tmp": tmp,
               "tree": {role: [pid, *_descendants(pid, 4)] for role, pid in pids.items()}}


def _descendants(pid: int, depth: int) -> list[int]:
    import psutil
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)][:50] if depth else []
    except psutil.Error:
        return []


def _name(pid: int) -> str:
    import psutil
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return ""


def _wait_for(ready) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        if ready():
            time.sleep(0.3)  # the last exec
            return
        time.sleep(0.05)
    raise RuntimeError("planted processes did not start")


def _of(findings: list, pids: list[int]) -> list:
    return [f for f in findings if set(f.details.get("pids", [])) & set(pids)]


def _agent_of(agents: list, finding) -> object:  # type: ignore[no-untyped-def]
    return next(a for a in agents if finding.id in a.findings)


def test_agent_session_is_one_agent_named_after_the_tool(planted):
    """Wrapper and versioned native daemon are one program; the version is in no identity key."""
    tree = planted["tree"]["agent"]
    tool = [f for f in _of(planted["findings"], tree) if f.kind == "process"]
    assert len(tool) == 1
    f = tool[0]
    assert f.details["tool"] == AGENT and f.location.exe == AGENT
    assert f.details["processes"] == 2  # the wrapper and its daemon, not the shell or the MCP server
    assert f"proc:h1:{_me()}:{AGENT}" in f.identity
    assert not any("9.8.7" in k for k in f.identity)
    agent = _agent_of(planted["agents"], f)
    assert agent.name == f"{AGENT} ({_me()}@h1)"
    creds = [x for x in planted["findings"] if x.credential and x.credential.fingerprint == fingerprint(AGENT_KEY)]
    assert [c.location.exe for c in creds] == [AGENT], "the key is reported once, by the agent that holds it"


def test_mcp_server_is_its_own_agent_linked_to_its_parent(planted):
    findings, agents = planted["findings"], planted["agents"]
    mcp = [f for f in findings if f.kind == "mcp-server" and f.location.exe == f"mcp-server-{TAG}"]
    assert len(mcp) == 1
    f = mcp[0]
    parent = f"proc:h1:{_me()}:{AGENT}"
    assert f.details["parent"] == parent and f"parent:{parent}" in f.identity
    assert f.details["inherited_keys"] == {"ANTHROPIC_API_KEY": parent}
    assert not any(k.startswith("cred:") for k in f.identity), "an inherited key must not merge the two"
    assert f"started by {AGENT} ({_me()}@h1)" in f.evidence
    agent = _agent_of(agents, f)
    assert agent.name == f"mcp-server-{TAG} ({_me()}@h1)"
    assert not any(k == parent for k in agent.identity)
    # nothing of the MCP server's chain (sh -c, the endpoint it inherited) is reported on its own
    mine = _of(findings, planted["tree"]["agent"])
    assert not [x for x in mine if x.kind == "endpoint-config" and x.location.exe != AGENT]


def test_tool_marker_links_an_mcp_server_whose_parent_is_not_an_agent(planted):
    f = next(f for f in planted["findings"] if f.kind == "mcp-server" and f.location.exe == f"mcp-server-{TAG}-b")
    assert f.details["parent"] == f"proc:h1:{_me()}:{AGENT}"


def test_key_exported_in_an_interactive_shell_belongs_to_the_shell(planted):
    tree = planted["tree"]["shell"]
    pager = [p for p in tree if _name(p) == f"pager-{TAG}"]
    assert pager, "the shell should have started the pager"
    findings = planted["findings"]
    assert not _of(findings, pager), "a program run from the shell is not an agent because of the shell's key"
    shell = [f for f in findings if f.credential and f.credential.fingerprint == fingerprint(SHELL_KEY)]
    assert len(shell) == 1
    assert f"shell:h1:{_me()}" in shell[0].identity
    assert "interactive shell environment" in shell[0].evidence
    assert not any(k.startswith("proc:") for k in shell[0].identity)


def test_installer_command_lines_are_not_mcp_servers(planted):
    pids = [planted["pids"]["pip"], planted["pids"]["npm"]]
    assert not _of(planted["findings"], pids)


def test_global_npm_mcp_server_is_node_and_named_after_its_package(planted):
    f = next(f for f in _of(planted["findings"], [planted["pids"]["global_mcp"]]) if f.kind == "mcp-server")
    assert f.details["tool"] == "mcp-server-npm"
    assert f.location.exe == f"@sa-test/server-{TAG}"


def test_node_script_is_named_after_its_package(planted):
    f = next(f for f in _of(planted["findings"], [planted["pids"]["app"]]) if f.kind == "credential")
    assert f.location.exe == f"sa-app-{TAG}"
    assert f.credential.fingerprint == fingerprint(APP_KEY)


def test_packages_the_process_has_open_are_loaded_the_rest_installed(planted):
    found = {f.details["package"]: f for f in _of(planted["findings"], [planted["pids"]["opener"]])
             if f.kind == "sdk-usage"}
    assert found["anthropic"].details["state"] == "loaded" and found["anthropic"].confidence.value == "high"
    assert "is loaded by" in found["anthropic"].evidence
    assert found["openai"].details["state"] == "installed"


def test_no_key_in_any_finding(planted):
    text = json.dumps([f.to_dict() for f in planted["findings"]])
    for key in ALL_KEYS:
        assert key not in text and key[8:-4] not in text


def test_unprivileged_scan_of_a_root_process_in_a_private_home(tmp_path):
    """As another user, a root-owned interpreter under a 0700 home is a coverage gap, not a failure."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start a root-owned process and scan as another user")
    nobody = pwd.getpwnam("nobody")
    home = tmp_path / "root-home"
    home.mkdir(mode=0o700)
    _venv(home / "venv", {"anthropic-0.40.0": "anthropic"})
    bot = _write(home / "bot.py", SLEEPER)
    specs = [{"argv": [str(home / "venv" / "bin" / "python"), str(bot)], "env": {**BASE_ENV, "OPENAI_API_KEY": ROOT_KEY}},
             {"argv": [SLEEP, "600"], "env": {**BASE_ENV, "GROQ_API_KEY": NOBODY_KEY}, "user": "nobody"}]
    with Holder(specs) as started:
        time.sleep(0.3)
        result = run_as(nobody.pw_uid, nobody.pw_gid, scan_processes, Catalog.load())
    assert result["user"] == "nobody"
    cov = result["coverage"]
    assert cov["status"] == "partial", cov
    gaps = {g["what"]: g["reason"] for g in cov["gaps"]}
    assert "interpreter environments" in gaps, gaps
    assert "owned by" in gaps["process environments"] and "run as root" in gaps["process environments"]
    fps = {f["credential"]["fingerprint"] for f in result["findings"] if f.get("credential")}
    assert fingerprint(NOBODY_KEY) in fps and fingerprint(ROOT_KEY) not in fps
    assert started[1]["pid"] in {p for f in result["findings"] for p in f["details"]["pids"]}
    text = json.dumps(result)
    assert NOBODY_KEY not in text and ROOT_KEY not in text


def _me() -> str:
    return pwd.getpwuid(os.getuid()).pw_name
