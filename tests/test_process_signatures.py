"""Command lines → programs and catalogue signatures; cgroups → containers; interpreter environments."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from detectors.process.installed import PackageIndex, package_json_above, parse_cgroup, python_root
from detectors.process.programs import Programs, server_name
from detectors.process.remote import RemoteIndex
from detectors.process.signatures import Signatures, normalise_argv, parse_command, safe_cmdline
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


# ---- real command-line shapes seen on agent installs -------------------------------------------

def test_process_title_written_over_argv_is_split_back():
    # what psutil reads for `npm exec` (npm sets process.title): one string padded with empty arguments
    assert normalise_argv(["npm exec @modelcontextprotocol/server-memory", "", "", ""]) == \
        ["npm", "exec", "@modelcontextprotocol/server-memory"]
    assert normalise_argv(["LM Studio"]) == ["LM Studio"]  # a name with a space is not a title
    assert normalise_argv(["python3", "x.py", ""]) == ["python3", "x.py"]


@pytest.mark.parametrize("argv,interactive,wrapper,installer", [
    (["-bash"], True, True, False),
    (["/bin/zsh", "-l"], True, True, False),
    (["bash", "--norc", "-i"], True, True, False),
    (["bash", "/dev/fd/3"], False, True, False),
    (["sh", "-c", "mcp-server-memory"], False, True, False),
    (["bash", "-lc", "ls"], False, True, False),
    (["tmux"], True, False, False),
    (["/usr/lib/systemd/systemd", "--user"], True, False, False),
    (["/sbin/init"], False, False, False),
    (["timeout", "60", "vllm", "serve", "m"], False, True, False),
    (["pip", "install", "mcp-server-fetch"], False, False, True),
    (["/usr/bin/python3", "/usr/local/bin/pip", "install", "-U", "aider-chat"], False, False, True),
    (["python3", "-m", "pip", "install", "llm"], False, False, True),
    (["npm", "i", "-g", "@openai/codex"], False, False, True),
    (["node", "/usr/lib/node_modules/npm/bin/npm-cli.js", "install", "@modelcontextprotocol/server-memory"],
     False, False, True),
    (["uv", "tool", "install", "openhands"], False, False, True),
    (["yarn", "global", "add", "@google/gemini-cli"], False, False, True),
    (["uv", "tool", "uvx", "mcp-server-fetch"], False, False, False),
    (["npx", "-y", "@modelcontextprotocol/server-memory"], False, False, False),
    (["ssh", "host"], False, True, False),
])
def test_shells_wrappers_and_installers(argv, interactive, wrapper, installer):
    cmd = parse_command(None, argv, None)
    assert (cmd.interactive, cmd.wrapper, cmd.installer) == (interactive, wrapper, installer)


@pytest.mark.parametrize("exe,argv,tool", [
    # installers and shells are never the tool they name
    ("/usr/bin/python3", ["/usr/bin/python3", "/usr/local/bin/pip", "install", "mcp-server-fetch"], None),
    ("/usr/bin/node", ["node", "/usr/lib/node_modules/npm/bin/npm-cli.js", "i", "@modelcontextprotocol/server-x"],
     None),
    ("/usr/bin/dash", ["sh", "-c", "'mcp-server-memory'"], None),
    # a global npm install's bin link is a Node MCP server, not a Python one
    ("/usr/bin/node", ["node", "/usr/local/bin/mcp-server-memory"], "mcp-server-npm"),
    ("/usr/bin/python3", ["/venv/bin/python3", "/venv/bin/mcp-server-fetch"], "mcp-server-python"),
    ("/root/.local/bin/uv", ["/root/.local/bin/uv", "tool", "uvx", "mcp-server-fetch"], "mcp-server-python"),
    ("/usr/bin/node", ["npm", "exec", "@modelcontextprotocol/server-memory"], "mcp-server-npm"),
    # the catalogue's newer agent CLIs, by their published entry points
    ("/venv/bin/python3", ["/venv/bin/python3", "/venv/bin/interpreter", "--model", "x"], "open-interpreter"),
    ("/venv/bin/python3", ["/venv/bin/python3", "/venv/bin/llm", "chat", "-m", "gpt-4o-mini"], "llm-cli"),
    ("/venv/bin/python3", ["/venv/bin/python3", "/venv/bin/llmnr-probe"], None),  # whole words only
    ("/venv/bin/python3", ["/venv/bin/python3", "/venv/bin/gptme"], "gptme"),
    ("/home/u/.local/bin/openhands", ["openhands"], "openhands"),
    ("/usr/bin/node", ["node", "/usr/lib/node_modules/@kilocode/cli/bin/kilo"], "kilo-code-cli"),
    ("/usr/bin/node", ["node", "/usr/lib/node_modules/@augmentcode/auggie/augment.mjs"], "auggie"),
    ("/usr/bin/node", ["node", "/usr/lib/node_modules/cline/bin/cline"], "cline-cli"),
    ("/usr/local/bin/qchat", ["qchat", "chat"], "amazon-q-cli"),
    ("/tmp/x/home/.codex/packages/app-server-daemon/releases/0.171.0-x86_64-unknown-linux-musl/bin/codex",
     ["/tmp/x/home/.codex/packages/app-server-daemon/releases/0.171.0-x86_64-unknown-linux-musl/bin/codex",
      "app-server", "--listen", "unix://"], "codex-cli"),
])
def test_tool_signatures_on_real_command_lines(sigs, exe, argv, tool):
    assert tool_of(sigs, exe, normalise_argv(argv)) == tool


def test_wrappers_do_not_match_server_command_lines(sigs):
    argv = ["bash", "-c", "LITELLM_MASTER_KEY=x litellm --port 4001; echo stopped"]
    assert sigs.servers(parse_command("/usr/bin/bash", argv, "bash"), " ".join(argv)) == {}
    argv = ["/venv/bin/python3", "/venv/bin/litellm", "--port", "4001"]
    assert "litellm-proxy" in sigs.servers(parse_command("/usr/bin/python3", argv, "litellm"), " ".join(argv))


# ---- program names --------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,name", [
    (["npx", "-y", "@modelcontextprotocol/server-memory@2026.8.31"], "@modelcontextprotocol/server-memory"),
    (["npm", "exec", "@modelcontextprotocol/server-memory"], "@modelcontextprotocol/server-memory"),
    (["uv", "tool", "uvx", "mcp-server-fetch==2026.10.24"], "mcp-server-fetch"),
    (["/c/archive-v0/2QyPlq/bin/python", "/c/archive-v0/2QyPlq/bin/mcp-server-fetch"], "mcp-server-fetch"),
    (["/venv/bin/python", "-m", "mcp_server_fetch"], "mcp-server-fetch"),
    (["/usr/local/bin/github-mcp-server", "stdio"], "github-mcp-server"),
    (["/usr/bin/python3", "/srv/tools/mcp_server_tickets.py"], "/srv/tools/mcp_server_tickets.py"),
])
def test_mcp_server_names_do_not_depend_on_how_they_were_launched(argv, name):
    assert server_name(parse_command(None, normalise_argv(argv), None)) == name


def test_node_scripts_are_named_after_their_package(tmp_path: Path):
    package = tmp_path / "_npx" / "15b07286" / "node_modules" / "@modelcontextprotocol" / "server-memory"
    (package / "dist").mkdir(parents=True)
    (package / "package.json").write_text('{"name": "@modelcontextprotocol/server-memory"}', encoding="utf-8")
    (package / "dist" / "package.json").write_text('{"type": "module"}', encoding="utf-8")
    (package / "dist" / "index.js").write_text("", encoding="utf-8")
    bindir = tmp_path / "_npx" / "15b07286" / "node_modules" / ".bin"
    bindir.mkdir()
    (bindir / "mcp-server-memory").symlink_to(package / "dist" / "index.js")
    sigs = Signatures(Catalog.load())
    cmd = parse_command("/usr/bin/node", ["node", str(bindir / "mcp-server-memory")], "node")
    tool = sigs.tool(cmd)
    assert tool and tool[0].id == "mcp-server-npm"
    assert Programs().program(cmd, tool[0]) == "@modelcontextprotocol/server-memory"
    # a project's own script: its package name, not "index.js"; a script in no package keeps its path
    (tmp_path / "app" / "dist").mkdir(parents=True)
    (tmp_path / "app" / "package.json").write_text('{"name": "summarizer"}', encoding="utf-8")
    cmd = parse_command("/usr/bin/node", ["node", str(tmp_path / "app" / "dist" / "index.js")], "node")
    assert Programs().program(cmd, None) == "summarizer"
    cmd = parse_command("/usr/bin/node", ["node", "/nowhere/x.js"], "node")
    assert Programs().program(cmd, None) == "/nowhere/x.js"
    # a package.json name is data from the scanned host: anything npm would not accept is ignored
    (tmp_path / "odd" / "package.json").parent.mkdir()
    (tmp_path / "odd" / "package.json").write_text('{"name": "a b\\nc"}', encoding="utf-8")
    assert package_json_above(str(tmp_path / "odd" / "x.js")) is None


def test_catalogue_tool_is_named_by_its_id_wherever_it_is_installed(sigs):
    for exe in ("/home/u/.local/bin/claude", "/usr/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe"):
        cmd = parse_command(exe, [exe], "claude")
        assert Programs().program(cmd, sigs.tool(cmd)[0]) == "claude-code"


# ---- loaded or only installed ----------------------------------------------------------------------

def test_loaded_packages_are_those_with_a_mapped_or_open_file(tmp_path: Path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    for dist, top in (("openai-1.0.dist-info", "openai"), ("google_genai-1.0.dist-info", None)):
        (site / dist).mkdir(parents=True)
        if top:
            (site / top).mkdir()
    (site / "google_genai-1.0.dist-info" / "RECORD").write_text(
        "google/genai/__init__.py,sha256=x,1\ngoogle_genai-1.0.dist-info/RECORD,,\n", encoding="utf-8")
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    installed = PackageIndex(Catalog.load()).for_python(str(tmp_path / "bin" / "python"), None, {})
    assert {p.name for p in installed.packages} == {"openai", "google-genai"}
    assert installed.isolated
    assert installed.loaded({str(site / "google" / "genai" / "_native.so")}) == {"google-genai"}
    assert installed.loaded({str(site / "openai" / "__init__.py"), "/usr/lib/libc.so.6"}) == {"openai"}
    assert installed.loaded(set()) == set()


def test_catalogue_rejects_an_unknown_tool_runtime(tmp_path: Path):
    from scanner.errors import InputError
    ext = tmp_path / "c.yaml"
    ext.write_text("schema_version: 1\nagent_tools:\n  - {id: x, name: X, kind: mcp-server, runtime: ruby}\n",
                   encoding="utf-8")
    with pytest.raises(InputError, match="runtime must be one of python, node"):
        Catalog.load([ext])


@pytest.mark.parametrize("argv,shown", [
    (["bash", "-c", "litellm --port 4001 --master_key {s}"], "bash -c litellm --port 4001 --master_key ***"),
    (["sh", "-c", "LITELLM_MASTER_KEY={s} litellm --port 4001; echo stopped"],
     "sh -c LITELLM_MASTER_KEY=*** litellm --port 4001; echo stopped"),
    (["env", "MY_SERVICE_TOKEN={s}", "python", "bot.py"], "env MY_SERVICE_TOKEN=*** python bot.py"),
    (["docker", "run", "-e", "OPENAI_API_KEY={s}", "-eGROQ_API_KEY={s}", "--env=HF_TOKEN={s}", "img"],
     "docker run -e OPENAI_API_KEY=*** -eGROQ_API_KEY=*** --env=HF_TOKEN=*** img"),
    (["litellm", "--headers", '{{"Authorization": "Bearer {s}"}}'], 'litellm --headers {"Authorization": "Bearer ***"}'),
    (["curl", "-H", "Authorization: Basic {s}", "http://127.0.0.1:4000"],
     "curl -H Authorization: Basic *** http://127.0.0.1:4000"),
    (["python3", "-c", 'from openai import OpenAI; c = OpenAI(api_key="{s}")'],
     'python3 -c from openai import OpenAI; c = OpenAI(api_key="***")'),
    (["su", "-c", "bash -c 'run --token {s}'"], "su -c bash -c 'run --token ***'"),
    (["sh", "-c", "echo \"unbalanced --password {s}"], 'sh -c echo "unbalanced --password ***'),
])
def test_safe_cmdline_masks_secrets_inside_shell_strings(argv, shown):
    secret = "Xq7pZc9Lm2Rt5Vw8Yb3Nd6Fg"  # formatless: only its place says it is a secret
    argv = [a.format(s=secret) for a in argv]
    text = safe_cmdline(argv, redact.scrub)
    assert secret not in text and secret[4:-4] not in text
    assert text == shown


def test_safe_cmdline_keeps_a_known_key_preview_inside_a_shell_string():
    key = make_key("anthropic-api", 79)
    redact.add_patterns([Catalog.load().key_regex])
    text = safe_cmdline(["sh", "-c", f"ANTHROPIC_API_KEY={key} claude"], redact.scrub)
    assert key not in text and text == "sh -c ANTHROPIC_API_KEY=*** claude"
    text = safe_cmdline(["sh", "-c", f"claude --print {key}"], redact.scrub)
    assert key not in text and "sk-ant-a" in text
