"""Process tables recorded from real agent installs, replayed through the detector (deterministic).

Each table in tests/fixtures/process_tables/ is one real session (its ``note`` says
what ran: Claude Code, Codex and Gemini CLI from npm with an MCP server each, aider,
Open Interpreter, llm and the LiteLLM proxy from PyPI, MCP servers from uvx and a venv, a script using
the OpenAI SDK, a shell with an exported key running ``less``), all recorded on one
host at one time. Replayed together they are the host's process table: one agent per
tool, named after it, MCP servers linked to the agents that started them.
"""

from __future__ import annotations

import json

import pytest

from scanner import redact
from scanner.catalog import Catalog
from tests.process_tables import TABLES, replay

ALL = sorted(p.stem for p in TABLES.glob("*.json"))
ME = "alice@replay-host"
PROC = "proc:replay-host:alice:"

# agent name → (kinds it must have, the agents it was started by)
EXPECTED = {
    f"claude-code ({ME})": ({"process", "credential", "endpoint-config"}, set()),
    f"codex-cli ({ME})": ({"process", "credential", "endpoint-config"}, set()),
    f"gemini-cli ({ME})": ({"process", "credential", "endpoint-config"}, set()),
    f"aider ({ME})": ({"process", "credential", "endpoint-config", "sdk-usage"}, set()),
    f"open-interpreter ({ME})": ({"process", "credential", "sdk-usage"}, set()),
    f"llm-cli ({ME})": ({"process", "credential", "endpoint-config", "sdk-usage"}, set()),
    f"litellm ({ME})": ({"local-model-server", "credential", "sdk-usage"}, set()),
    f"bot.py ({ME})": ({"credential", "endpoint-config", "sdk-usage"}, set()),
    f"server-memory ({ME})": ({"mcp-server"}, {f"{PROC}claude-code", f"{PROC}codex-cli", f"{PROC}gemini-cli"}),
    f"mcp-server-fetch ({ME})": ({"mcp-server", "framework"}, set()),
    "shell environment of alice@replay-host": ({"credential"}, set()),
}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    findings, agents, source = replay(ALL, tmp_path_factory.mktemp("replay"))
    return {"findings": findings, "agents": agents, "source": source, "by_id": {f.id: f for f in findings}}


def test_every_recorded_tool_is_one_agent_under_its_name(host):
    names = sorted(a.name for a in host["agents"])
    assert names == sorted(EXPECTED), names
    for agent in host["agents"]:
        kinds, parents = EXPECTED[agent.name]
        assert kinds <= set(agent.kinds), (agent.name, agent.kinds)
        assert {k.split(":", 1)[1] for k in agent.identity if k.startswith("parent:")} == parents, agent.name


def test_no_identity_carries_a_version_or_an_install_path(host):
    keys = {k for a in host["agents"] for k in a.identity if k.startswith("proc:")}
    assert not [k for k in keys if "0.171.0" in k or "_npx" in k or "archive-v0" in k or "releases" in k], keys


def test_each_key_is_reported_once_by_the_process_that_set_it(host):
    creds: dict[str, list[str]] = {}
    for f in host["findings"]:
        if f.credential:
            creds.setdefault(f.credential.fingerprint, []).append(f.location.exe)
    assert all(len(v) == 1 for v in creds.values()), creds
    claude_key = host["source"].key("key:anthropic-api:1@claude-code")
    mcp = [f for f in host["findings"] if f.kind == "mcp-server" and "server-memory" in f.location.exe]
    assert mcp and all(not any(k.startswith("cred:") for k in f.identity) for f in mcp)
    assert mcp[0].details["inherited_keys"]["ANTHROPIC_API_KEY"] == f"{PROC}claude-code"
    assert redact.fingerprint(claude_key) in creds


def test_codex_session_is_one_program_of_four_processes(host):
    tool = next(f for f in host["findings"] if f.kind == "process" and f.details["tool"] == "codex-cli")
    assert tool.details["processes"] == 4  # node wrapper, vendor binary, app-server daemon and its helper


def test_shell_export_and_less(host):
    shell = [f for f in host["findings"] if any(k.startswith("shell:") for k in f.identity)]
    assert len(shell) == 1 and shell[0].kind == "credential"
    assert not [f for f in host["findings"] if f.location.exe and f.location.exe.endswith("/less")]


def test_litellm_proxy_wrapper_is_not_an_agent_and_its_secrets_are_masked(host):
    litellm = [f for f in host["findings"] if f.location.exe and f.location.exe.endswith("/litellm")]
    assert litellm
    assert not [f for f in host["findings"] if f.location.exe == "/usr/bin/bash" and "shell:replay-host:alice"
                not in f.identity]
    for f in litellm:
        assert "Bearer ***" in f.details["command"]


def test_replayed_findings_hold_no_secret(host):
    Catalog.load()  # registers the key patterns scrub() uses
    text = json.dumps([f.to_dict() for f in host["findings"]], sort_keys=True)
    secrets = [*host["source"].keys.values(), "Xq7pZc9Lm2Rt5Vw8Yb3Nd6Fg", "Zt8qWm3Rn6Yp1Kc4Vb7Hj2Lx"]
    for secret in secrets:
        assert secret not in text and secret[6:-4] not in text


@pytest.mark.parametrize("table", ALL)
def test_each_table_replays_on_its_own(table, tmp_path):
    findings, agents, _ = replay(table, tmp_path)
    assert agents, table
    assert not [f for f in findings if f.location.exe in ("/usr/bin/less", "/usr/bin/bash", "/usr/bin/dash")
                and not any(k.startswith("shell:") for k in f.identity)]
