"""The process detector on a real process table: planted agents, MCP servers, model servers and keys.

Planted processes are children of a holder process (benchmarks/process_bench.py --hold),
because the detector skips the scanning process and its own children.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
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
from scanner.model import Coverage
from scanner.redact import fingerprint
from tests.conftest import CLI, clean_environ
from tests.keys import make_key

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from process_bench import Holder  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="planted process tables need Linux")

ENV_KEY = make_key("anthropic-api", 501)
INHERITED_KEY = make_key("openai-project", 502)
CMDLINE_KEY = make_key("openai-project", 503)
NOBODY_KEY = make_key("groq", 504)
OWN_CHILD_KEY = make_key("anthropic-api", 505)
ALL_KEYS = (ENV_KEY, INHERITED_KEY, CMDLINE_KEY, NOBODY_KEY, OWN_CHILD_KEY)

SLEEP = shutil.which("sleep") or "/bin/sleep"
BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

OLLAMA_SERVER = textwrap.dedent("""
    import http.server, json, sys
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as model servers are used
        def do_GET(self):
            body = json.dumps({"models": [{"name": "llama3.2:1b"}]}).encode()
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")
# An agent that calls the local model server and keeps its connection open.
CLIENT = textwrap.dedent("""
    import socket, sys, time
    for _ in range(200):
        try:
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            break
        except OSError:
            time.sleep(0.05)
    s.sendall(b"GET /api/tags HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")
    time.sleep(600)
""")
SLEEPER = "import time\ntime.sleep(600)\n"
# A parent that never reaps its exited child: the child stays a zombie while the parent lives.
ZOMBIE_PARENT = "import os, time\nif os.fork() == 0:\n    os._exit(0)\ntime.sleep(600)\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):
    """Start every planted process once for the module; yields (pids by role, extension catalogue, paths)."""
    tmp = tmp_path_factory.mktemp("procs")
    port = free_port()
    ext = tmp / "catalog.yaml"
    ollama = dict(Catalog.load().providers["ollama"].raw)
    ollama["ports"] = sorted({*ollama["ports"], port})
    ext.write_text(yaml.safe_dump({"schema_version": 1, "providers": [ollama]}), encoding="utf-8")

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    for dist in ("anthropic-0.40.0.dist-info", "langchain_core-0.3.0.dist-info"):
        (site / dist).mkdir()
        (site / dist / "METADATA").write_text(f"Name: {dist.split('-')[0]}\n", encoding="utf-8")
    bot = tmp / "bot.py"
    bot.write_text(SLEEPER, encoding="utf-8")
    client = tmp / "agent_client.py"
    client.write_text(CLIENT, encoding="utf-8")
    exposed = tmp / "bin" / "vllm"
    exposed.parent.mkdir()
    shutil.copy2(SLEEP, exposed)
    holder = tmp / "bin" / f"key-holder-{os.getpid()}"  # a name no other program on the host has
    shutil.copy2(SLEEP, holder)

    specs = {
        "key": {"argv": [str(holder), "600"], "env": {**BASE_ENV, "ANTHROPIC_API_KEY": ENV_KEY}},
        "shell": {"argv": ["sh", "-c", f"{SLEEP} 600; :"], "env": {**BASE_ENV, "OPENAI_API_KEY": INHERITED_KEY}},
        "cmdline": {"argv": [sys.executable, "-c", SLEEPER, "--api-key", CMDLINE_KEY], "env": BASE_ENV},
        "ollama": {"argv": ["ollama", "-c", OLLAMA_SERVER, str(port)], "executable": sys.executable,
                   "env": BASE_ENV},
        "client": {"argv": [sys.executable, str(client), str(port)], "env": BASE_ENV},
        "venv": {"argv": [str(venv / "bin" / "python"), str(bot)], "env": BASE_ENV},
        "zombie_parent": {"argv": [sys.executable, "-c", ZOMBIE_PARENT], "env": BASE_ENV},
        "exposed": {"argv": [str(exposed), "600"], "env": {**BASE_ENV, "VLLM_API_KEY": "x"},
                    "listen": {"host": "0.0.0.0", "port": 0}},
    }
    if os.geteuid() == 0:
        specs["nobody"] = {"argv": [SLEEP, "600"], "env": {**BASE_ENV, "GROQ_API_KEY": NOBODY_KEY}, "user": "nobody"}
    with Holder(list(specs.values())) as started:
        pids = {role: s["pid"] for role, s in zip(specs, started)}
        wait_for_port(port)
        time.sleep(0.5)  # the MCP child and the client connection
        yield {"pids": pids, "catalog": ext, "port": port, "venv": venv, "bot": bot,
               "exposed": exposed, "client": client, "tmp": tmp, "holder": holder}


def run_scan(*extra: str, prefix: tuple[str, ...] = (), home: Path, catalog: Path) -> subprocess.CompletedProcess:
    cmd = [CLI] if CLI else [sys.executable, "-m", "scanner"]
    return subprocess.run([*prefix, *cmd, "scan", "-d", "process", "--catalog", str(catalog), *extra],
                          env=clean_environ(home), capture_output=True, text=True, timeout=120, cwd=home)


@pytest.fixture(scope="module")
def report(planted, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("home")
    p = run_scan("-f", "json", home=home, catalog=planted["catalog"])
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def findings_for(report: dict, pid: int) -> list[dict]:
    return [f for f in report["findings"] if pid in f["details"].get("pids", [])]


def test_key_in_environment_is_fingerprinted(report, planted):
    found = findings_for(report, planted["pids"]["key"])
    cred = [f for f in found if f["kind"] == "credential"]
    assert len(cred) == 1
    f = cred[0]
    assert f["provider"] == "anthropic" and f["details"]["variable"] == "ANTHROPIC_API_KEY"
    assert f["credential"]["fingerprint"] == fingerprint(ENV_KEY)
    assert f"cred:{fingerprint(ENV_KEY)}" in f["identity"]
    assert any(k.startswith("proc:") and k.endswith(f":{planted['holder']}") for k in f["identity"])


def test_inherited_key_reports_the_origin_not_every_child(report, planted):
    shell_pid = planted["pids"]["shell"]
    child = [p for p in _children(shell_pid)]
    assert child, "the shell should have started sleep"
    shell_findings = [f for f in findings_for(report, shell_pid) if f["kind"] == "credential"]
    assert shell_findings and shell_findings[0]["credential"]["fingerprint"] == fingerprint(INHERITED_KEY)
    assert not any(findings_for(report, c) for c in child)


def test_key_on_command_line(report, planted):
    cred = [f for f in findings_for(report, planted["pids"]["cmdline"]) if f["kind"] == "credential"]
    assert [f["credential"]["fingerprint"] for f in cred] == [fingerprint(CMDLINE_KEY)]
    assert cred[0]["details"]["in_cmdline"] is True
    assert "--api-key ***" in cred[0]["details"]["command"]


def test_fake_ollama_is_a_local_model_server(report, planted):
    found = findings_for(report, planted["pids"]["ollama"])
    server = [f for f in found if f["kind"] == "local-model-server"]
    assert len(server) == 1
    f = server[0]
    assert f["provider"] == "ollama" and f["confidence"] == "high"
    assert f["details"]["listening"] == [f"127.0.0.1:{planted['port']}"]
    assert "exposed" not in f.get("risks", [])
    assert f["location"]["exe"] == "ollama"


def test_client_of_local_server_is_connected_to_it(report, planted):
    conn = [f for f in findings_for(report, planted["pids"]["client"]) if f["kind"] == "connection"]
    assert len(conn) == 1 and conn[0]["provider"] == "ollama"
    assert conn[0]["details"]["remote"] == [f"127.0.0.1:{planted['port']}"]
    assert conn[0]["location"]["exe"] == str(planted["client"])


def test_server_on_all_interfaces_is_exposed_when_port_is_corroborated(report, planted):
    server = [f for f in findings_for(report, planted["pids"]["exposed"]) if f["kind"] == "local-model-server"]
    assert len(server) == 1
    assert server[0]["provider"] == "vllm"
    assert server[0]["risks"] == ["exposed"]
    assert server[0]["details"]["listening"][0].startswith("0.0.0.0:")
    agent = next(a for a in report["agents"] if server[0]["id"] in a["findings"])
    assert any(r["code"] == "exposed-server" for r in agent["reasons"])


def test_venv_python_has_provider_sdk_and_framework(report, planted):
    found = findings_for(report, planted["pids"]["venv"])
    sdk = [f for f in found if f["kind"] == "sdk-usage"]
    fw = [f for f in found if f["kind"] == "framework"]
    assert [(f["provider"], f["details"]["package"]) for f in sdk] == [("anthropic", "anthropic")]
    assert [f["details"]["framework"] for f in fw] == ["langchain"]
    assert sdk[0]["details"]["environment"] == str(planted["venv"])
    assert sdk[0]["details"]["state"] == "installed"  # pure-Python packages leave no mapped file
    assert sdk[0]["confidence"] == "medium"
    assert sdk[0]["location"]["exe"] == str(planted["bot"])


def test_no_key_value_in_any_output(planted, run_cli):
    for fmt in ("json", "jsonl", "table"):
        r = run_cli("scan", "-d", "process", "--catalog", str(planted["catalog"]), "-f", fmt, "--verbose")
        assert r.code in (0, 1), r.err
        assert "ANTHROPIC_API_KEY" in r.out or fmt == "table"
        for key in ALL_KEYS:
            assert key not in r.out and key not in r.err
            assert key[len(key) // 2:] not in r.out


def test_unreadable_processes_are_coverage_gaps(planted, tmp_path):
    """Without CAP_SYS_PTRACE and DAC overrides, another user's environment and exe are unreadable."""
    if os.geteuid() != 0 or not shutil.which("setpriv") or "nobody" not in planted["pids"]:
        pytest.skip("needs root and setpriv to drop the capabilities that make other users' processes readable")
    caps = "-sys_ptrace,-dac_override,-dac_read_search"
    prefix = ("setpriv", "--bounding-set", caps, "--inh-caps", caps, "--")
    p = run_scan("-f", "json", prefix=prefix, home=tmp_path, catalog=planted["catalog"])
    assert p.returncode in (0, 1), p.stderr
    data = json.loads(p.stdout)
    cov = next(c for c in data["coverage"] if c["detector"] == "process")
    assert cov["status"] == "partial"
    gaps = {g["what"]: g["reason"] for g in cov["gaps"]}
    assert "process environments" in gaps and "access denied" in gaps["process environments"]
    # still root, without the capabilities: the gap names the processes, it does not say "run as root"
    assert "even as root" in gaps["process environments"] and "run as root" not in gaps["process environments"]
    assert re.search(r"access denied: \d+ \S+ \(\S+\)", gaps["process environments"])
    assert len(cov["gaps"]) == len(gaps), "one gap line per kind of missing data"
    assert NOBODY_KEY not in p.stdout
    assert not any(f["credential"]["fingerprint"] == fingerprint(NOBODY_KEY)
                   for f in data["findings"] if f.get("credential"))
    assert any(f.get("credential", {}).get("fingerprint") == fingerprint(ENV_KEY) for f in data["findings"])


def test_scanning_process_and_its_children_are_skipped(planted, clean_env):
    child = subprocess.Popen([SLEEP, "600"], env={**BASE_ENV, "ANTHROPIC_API_KEY": OWN_CHILD_KEY})
    try:
        cov = Coverage(detector="process")
        ctx = ScanContext(detector="process", catalog=Catalog.load([planted["catalog"]]), paths=[], options={},
                          coverage=cov, hostname="h1")
        findings = list(ProcessDetector().run(ctx))
    finally:
        child.kill()
        child.wait()
    fps = {f.credential.fingerprint for f in findings if f.credential}
    assert fingerprint(ENV_KEY) in fps
    assert fingerprint(OWN_CHILD_KEY) not in fps
    assert not any(os.getpid() in f.details["pids"] or child.pid in f.details["pids"] for f in findings)
    assert cov.scanned["processes"] >= len(planted["pids"])
    planted_pids = set(planted["pids"].values())
    again = list(ProcessDetector().run(ScanContext(
        detector="process", catalog=ctx.catalog, paths=[], options={}, coverage=Coverage("process"), hostname="h1")))

    def planted_ids(fs: list) -> set[str]:
        return {f.id for f in fs if planted_pids & set(f.details["pids"])}

    assert planted_ids(findings) and planted_ids(findings) == planted_ids(again)


def _children(pid: int) -> list[int]:
    import psutil
    return [c.pid for c in psutil.Process(pid).children()]



def test_zombies_are_counted_and_not_reported(report, planted):
    zombies = [c for c in _children(planted["pids"]["zombie_parent"])]
    assert zombies, "the planted parent should hold a zombie child"
    cov = next(c for c in report["coverage"] if c["detector"] == "process")
    assert cov["scanned"]["zombies"] >= 1
    assert not any(findings_for(report, z) for z in zombies)


def test_bad_option_is_an_error_before_the_scan(run_cli):
    r = run_cli("scan", "-d", "process", "--set", "process.resolve=true", "--set", "process.resolve_timeout=-1",
                "-f", "json")
    assert r.code == 2 and r.out == ""
    assert "process.resolve_timeout: expected a number like 5m, got '-1'" in r.err
