"""Command lines → programs and catalogue signatures; cgroups → containers; interpreter environments."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from detectors.process.installed import PackageIndex, parse_cgroup, python_root
from detectors.process.remote import RemoteIndex
from detectors.process.signatures import Signatures, parse_command, safe_cmdline
from scanner import redact
from scanner.catalog import Catalog
from tests.keys import make_key


@pytest.fixture(scope="module")
def sigs() -> Signatures:
    return Signatures(Catalog.load())


def tool_of(sigs: Signatures, exe: str, argv: list[str]) -> str | None:
    hit = sigs.tool(parse_command(exe, argv, None))
    return hit[0].id if hit else None


@pytest.mark.parametrize("exe,argv,program", [
    ("/usr/bin/python3.11", ["python3", "/srv/bot/main.py", "--port", "1"], "/srv/bot/main.py"),
    ("/usr/bin/python3.11", ["python3", "-u", "-m", "mcp_server_fetch"], "python3 -m mcp_server_fetch"),
    ("/usr/bin/python3.11", ["python3", "-c", "print(1)"], "/usr/bin/python3.11"),
    ("/usr/bin/node", ["node", "--require", "x.js", "/opt/app/server.js"], "/opt/app/server.js"),
    ("/usr/bin/uv", ["uvx", "mcp-server-fetch"], "uvx mcp-server-fetch"),
    ("/usr/bin/node", ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
     "npx @modelcontextprotocol/server-filesystem"),
    ("/usr/local/bin/ollama", ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama"),
    ("/usr/bin/python3.11", ["ollama", "-c", "serve()"], "ollama"),
    (None, ["/opt/claude/claude", "--resume"], "/opt/claude/claude"),
])
def test_program_of_a_command(exe, argv, program):
    assert parse_command(exe, argv, None).program == program


@pytest.mark.parametrize("exe,argv,tool", [
    ("/home/u/.local/bin/claude", ["claude"], "claude-code"),
    ("/usr/bin/node", ["node", "/usr/lib/node_modules/@openai/codex/bin/codex.js"], "codex-cli"),
    ("/usr/bin/node", ["node", "/usr/lib/node_modules/@google/gemini-cli/bundle/gemini.js"], "gemini-cli"),
    ("/venv/bin/python3", ["/venv/bin/python3", "/venv/bin/aider", "--model", "x"], "aider"),
    ("/venv/bin/python3", ["/venv/bin/python3", "/venv/bin/crewai", "run"], "crewai-run"),
    ("/usr/bin/node", ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "mcp-server-npm"),
    ("/usr/bin/node", ["node", "/root/.npm/_npx/1/node_modules/.bin/mcp-server-memory"], "mcp-server-npm"),
    ("/usr/bin/uv", ["uvx", "mcp-server-fetch"], "mcp-server-python"),
    ("/usr/bin/python3", ["python3", "-m", "mcp_server_time"], "mcp-server-python"),
    # not tools: a test file whose name contains a pattern, an editor opening a tool's file
    ("/usr/bin/python3", ["python3", "-m", "pytest", "tests/test_mcp_server_config.py"], None),
    ("/usr/bin/vim", ["vim", "/srv/node_modules/@anthropic-ai/claude-code/cli.js"], None),
    ("/usr/bin/sleep", ["sleep", "600"], None),
])
def test_tool_signatures(sigs, exe, argv, tool):
    assert tool_of(sigs, exe, argv) == tool


def test_local_server_signatures(sigs):
    cmd = parse_command("/usr/local/bin/ollama", ["/usr/local/bin/ollama", "serve"], "ollama")
    assert sigs.servers(cmd, "/usr/local/bin/ollama serve") == {"ollama": "process name ollama"}
    argv = ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "m"]
    cmd = parse_command("/usr/bin/python3", argv, "python3")
    assert sigs.servers(cmd, " ".join(argv)) == {"vllm": "command line"}
    cmd = parse_command("/usr/bin/python3", ["python3", "-m", "http.server", "8000"], "python3")
    assert sigs.servers(cmd, "python3 -m http.server 8000") == {}


def test_safe_cmdline_masks_secrets():
    key = make_key("openai-project", 77)
    redact.add_patterns([Catalog.load().key_regex])
    azure = "0123456789abcdef" * 2  # formatless: only its position says it is a key
    argv = ["tool", "--api-key", "hunter22", "--token=abc123", "--model", "m", "-H", f"api-key: {azure}",
            f"AZURE_OPENAI_API_KEY={azure}", key]
    text = safe_cmdline(argv, redact.scrub)
    assert "hunter22" not in text and "abc123" not in text and azure not in text and key not in text
    assert text.startswith("tool --api-key *** --token=*** --model m -H api-key: *** AZURE_OPENAI_API_KEY=*** sk-proj-")


def test_safe_cmdline_masks_bare_random_tokens_but_not_ordinary_arguments():
    mistral = make_key("mistral", 78)  # formatless, passed positionally: only its shape says it is a key
    argv = ["python", "bot.py", mistral, "--model", "mistral-large-latest", "/srv/app/config.yaml",
            "service-2024.01.15-SNAPSHOT.jar", "my_long_module_name_for_tests", "--dangerously-skip-permissions"]
    text = safe_cmdline(argv, redact.scrub)
    assert mistral not in text
    assert text == ("python bot.py *** --model mistral-large-latest /srv/app/config.yaml "
                    "service-2024.01.15-SNAPSHOT.jar my_long_module_name_for_tests --dangerously-skip-permissions")


def test_cgroup_container_ids():
    cid = "3f" * 32
    docker = f"12:memory:/docker/{cid}\n0::/\n"
    assert parse_cgroup(docker).id == cid and parse_cgroup(docker).runtime == "docker"
    k8s = f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b3c4d_1111_2222_3333_444455556666.slice/cri-containerd-{cid}.scope\n"
    c = parse_cgroup(k8s)
    assert c.id == cid and c.runtime == "cri-containerd" and c.pod == "1a2b3c4d-1111-2222-3333-444455556666"
    assert c.key == f"container:{cid[:12]}"
    assert parse_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n") is None
    assert parse_cgroup("4:memory:/process_api/ab5d4c345581fef05f7268e2e0320af7\n") is None


def test_python_root_prefers_virtual_env_then_argv0_then_exe(tmp_path: Path):
    assert python_root("python", "/usr/bin/python3.11", {"VIRTUAL_ENV": "/srv/venv"}) == "/srv/venv"
    assert python_root("/srv/venv/bin/python", "/usr/bin/python3.11", {}) == "/srv/venv"
    assert python_root("python3", "/usr/bin/python3.11", None) == "/usr"
    bindir = tmp_path / "env" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python").symlink_to(sys.executable)
    assert python_root("python", sys.executable, {"PATH": str(bindir)}) == str(tmp_path / "env")


def test_node_modules_packages_are_found_from_the_script(tmp_path: Path):
    project = tmp_path / "app"
    for pkg in ("@anthropic-ai/sdk", "@langchain/core", "left-pad"):
        (project / "node_modules" / pkg).mkdir(parents=True)
    (project / "src").mkdir()
    index = PackageIndex(Catalog.load())
    installed = index.for_node(str(project / "src" / "index.js"), None)
    assert installed is not None and installed.environment == str(project / "node_modules")
    assert {(p.name, p.kind, p.ref) for p in installed.packages} == {
        ("@anthropic-ai/sdk", "sdk-usage", "anthropic"), ("@langchain/core", "framework", "langchain")}
    assert index.for_node("relative.js", None) is None


def test_remote_addresses_in_published_ranges():
    remote = RemoteIndex(Catalog.load())
    assert remote.provider("160.79.104.10") == ("anthropic", "published range 160.79.104.0/23")
    assert remote.provider("::ffff:160.79.105.1")[0] == "anthropic"
    assert remote.provider("2607:6bc0::10")[0] == "anthropic"
    assert remote.provider("10.0.0.1") is None and remote.provider("not-an-ip") is None


def test_resolve_maps_catalogue_hostnames_and_gives_up_in_time(monkeypatch):
    """--resolve: answers become address → provider; a hostname that hangs is reported, not waited for."""
    import socket
    import threading

    release = threading.Event()

    def fake_getaddrinfo(host, port, *args, **kwargs):  # DNS stand-in: tests make no outside queries
        if host == "api.anthropic.com":
            release.wait(5)
            return []
        if host == "api.openai.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("198.51.100.7", port))]
        raise socket.gaierror("no such host")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    remote = RemoteIndex(Catalog.load())
    try:
        remote.resolve(timeout=0.5)
    finally:
        release.set()
    assert remote.provider("198.51.100.7") == ("openai", "address of a catalogue hostname")
    assert remote.unresolved == ["api.anthropic.com"]
