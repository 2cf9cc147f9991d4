"""SDK and framework usage, dependencies, endpoints, models, agent and MCP configurations."""

from __future__ import annotations

import json
from pathlib import Path

from scanner.redact import fingerprint
from tests.keys import make_key
from tests.test_repo_support import credentials, scan, write


def _kinds(findings, kind: str):
    return [f for f in findings if f.kind == kind]


def test_python_and_javascript_imports(tmp_path: Path) -> None:
    write(tmp_path / "a.py", "import os\nimport litellm\nfrom google.genai import types\n"
                             "from langgraph.graph import StateGraph\nfrom crewai import Agent\n"
                             "def f():\n    import anthropic\n")
    write(tmp_path / "b.ts", "import OpenAI from 'openai';\nimport { ChatAnthropic } from \"@langchain/anthropic\";\n"
                             "const { Client } = require('@modelcontextprotocol/sdk/client/index.js');\n"
                             "import { generateText } from 'ai';\nimport x from 'lodash';\n")
    findings, _ = scan(tmp_path)
    imported = {(Path(f.location.path).name, f.provider) for f in _kinds(findings, "sdk-import")}
    assert {("a.py", "google-gemini"), ("a.py", "anthropic"), ("b.ts", "openai")} <= imported
    frameworks = {(Path(f.location.path).name, f.details["framework"]) for f in _kinds(findings, "framework-import")}
    assert {("a.py", "litellm"), ("a.py", "langgraph"), ("a.py", "crewai"), ("b.ts", "mcp"),
            ("b.ts", "vercel-ai")} <= frameworks
    assert not _kinds(findings, "sdk-usage") and not _kinds(findings, "framework")  # nothing is called
    assert not any("lodash" in f.evidence or f.details.get("import") == "os" for f in findings)


def test_calls_of_imported_names_make_sdk_usage(tmp_path: Path) -> None:
    """A client constructed or an SDK call made: the name an import bound is called in that file."""
    write(tmp_path / "a.py", "import litellm\nfrom anthropic import Anthropic as A\nfrom langgraph.graph import StateGraph\n"
                             "from langchain_openai import (\n    ChatOpenAI,\n)\n"
                             "class Chat(ChatOpenAI):\n    pass\n"
                             "client = A()\nr = litellm.completion(model='gpt-4o')\ng = StateGraph(dict)\n")
    write(tmp_path / "b.ts", "import OpenAI from 'openai';\nimport type { ChatCompletion } from 'openai/resources';\n"
                             "import { generateText } from 'ai';\nimport { openai } from '@ai-sdk/openai';\n"
                             "const c = new OpenAI();\nawait generateText({ model: openai('gpt-4o') });\n")
    findings, _ = scan(tmp_path)
    kinds = {(Path(f.location.path).name, f.kind, f.details.get("framework") or f.provider) for f in findings
             if f.kind in ("sdk-usage", "framework", "framework-import", "sdk-import")}
    assert {("a.py", "sdk-usage", "anthropic"), ("a.py", "framework", "litellm"),
            ("a.py", "framework", "langchain-openai"),  # a subclass of an LLM client is one
            ("a.py", "framework-import", "langgraph"),  # called, but LangGraph itself calls no model
            ("b.ts", "sdk-usage", "openai"), ("b.ts", "framework", "vercel-ai"),
            ("b.ts", "framework", "ai-sdk-openai")} <= kinds


def test_a_module_imported_under_another_name_is_called_by_that_name(tmp_path: Path) -> None:
    write(tmp_path / "a.py", "import os, openai as oa\nclient = oa.OpenAI()\n")
    write(tmp_path / "b.py", "import anthropic as ac, litellm as ll\nll.completion(model='gpt-4o')\n")
    findings, _ = scan(tmp_path)
    kinds = {(Path(f.location.path).name, f.kind, f.details.get("framework") or f.provider) for f in findings
             if f.kind in ("sdk-usage", "framework", "framework-import", "sdk-import")}
    assert kinds == {("a.py", "sdk-usage", "openai"), ("b.py", "sdk-import", "anthropic"),
                     ("b.py", "framework", "litellm")}


def test_imports_in_notebook_cells(tmp_path: Path) -> None:
    nb = {"cells": [{"cell_type": "markdown", "source": ["client = anthropic.Anthropic()  # in prose\n"]},
                    {"cell_type": "code", "source": ["import pandas as pd\n", "import anthropic\n",
                                                     "from openai import OpenAI\n", "client = OpenAI()\n"]}],
          "nbformat": 4, "nbformat_minor": 5, "metadata": {}}
    write(tmp_path / "n.ipynb", json.dumps(nb, indent=1))
    findings = scan(tmp_path)[0]
    assert [f.provider for f in _kinds(findings, "sdk-usage")] == ["openai"]
    assert [f.provider for f in _kinds(findings, "sdk-import")] == ["anthropic"]  # its call is in a Markdown cell


def test_manifests_and_lock_files(tmp_path: Path) -> None:
    write(tmp_path / "py" / "requirements-dev.txt", "requests==2\nopenai>=1.0 ; python_version>'3.8'\nlangchain-core\n")
    write(tmp_path / "py" / "poetry.lock", '[[package]]\nname = "anthropic"\nversion = "0.40"\n')
    write(tmp_path / "py" / "uv.lock", '[[package]]\nname = "mistralai"\nversion = "1"\n')
    write(tmp_path / "py" / "Pipfile.lock", json.dumps({"default": {"cohere": {"version": "==5"}}}))
    write(tmp_path / "js" / "package.json", json.dumps({"dependencies": {"@anthropic-ai/sdk": "^0.30", "left-pad": "1"}}))
    write(tmp_path / "js" / "package-lock.json", json.dumps({"packages": {"node_modules/groq-sdk": {}}}))
    write(tmp_path / "js" / "pnpm-lock.yaml", "packages:\n  /@google/genai@1.0.0:\n    resolution: {}\n")
    write(tmp_path / "js" / "yarn.lock", '"@mistralai/mistralai@^1.0.0":\n  version "1.0.0"\n')
    write(tmp_path / "go" / "go.mod", "module x\n\nrequire (\n\tgithub.com/sashabaranov/go-openai v1.20.0\n)\n")
    write(tmp_path / "rs" / "Cargo.toml", '[dependencies]\nasync-openai = "0.20"\nserde = "1"\n')
    deps = {(f.details["manifest"], f.details["package"]) for f in _kinds(scan(tmp_path)[0], "dependency")}
    assert deps == {
        ("requirements-dev.txt", "openai"), ("requirements-dev.txt", "langchain-core"),
        ("poetry.lock", "anthropic"), ("uv.lock", "mistralai"), ("Pipfile.lock", "cohere"),
        ("package.json", "@anthropic-ai/sdk"), ("package-lock.json", "groq-sdk"), ("pnpm-lock.yaml", "@google/genai"),
        ("yarn.lock", "@mistralai/mistralai"), ("go.mod", "github.com/sashabaranov/go-openai"),
        ("Cargo.toml", "async-openai"),
    }


def test_endpoints_local_servers_and_base_url_overrides(tmp_path: Path) -> None:
    write(tmp_path / "c.py", 'import openai\n'
                             'a = "https://api.anthropic.com/v1/messages"\n'
                             'b = openai.OpenAI(base_url="http://localhost:11434/v1")\n'
                             'c = openai.OpenAI(base_url="https://llm-gw.internal.example/v1?key=abc")\n'
                             'd = "https://example.com/docs"\n'
                             'e = "https://user:pw@my-res.openai.azure.com/openai"\n')
    eps = {f.endpoint: f for f in _kinds(scan(tmp_path)[0], "endpoint")}
    assert eps["https://api.anthropic.com/v1/messages"].provider == "anthropic"
    assert eps["http://localhost:11434/v1"].provider == "ollama"
    assert eps["http://localhost:11434/v1"].details["local"] is True
    assert eps["https://llm-gw.internal.example/v1"].details["base_url_override"] is True
    assert eps["https://my-res.openai.azure.com/openai"].provider == "azure-openai"
    assert not any("example.com/docs" in u for u in eps)
    assert not any("pw" in json.dumps(f.to_dict()) for f in eps.values())


def test_model_names_in_files_that_use_llms(tmp_path: Path) -> None:
    write(tmp_path / "m.py", 'from openai import OpenAI\nr = c.create(model="gpt-4o-mini")\n'
                             'a = "claude-sonnet-4-5-20250929"\nb = "gemini-2.5-pro"\n')
    write(tmp_path / "agent.yaml", "llm:\n  provider: openai\n  base: https://api.openai.com/v1\n  model: o3-mini\n")
    write(tmp_path / "unrelated.py", 'name = "gpt-4o"\n')  # no LLM evidence in this file
    models = {(Path(f.location.path).name, f.model, f.provider) for f in _kinds(scan(tmp_path)[0], "model-reference")}
    assert {("m.py", "gpt-4o-mini", "openai"), ("m.py", "claude-sonnet-4-5-20250929", "anthropic"),
            ("m.py", "gemini-2.5-pro", "google-gemini"), ("agent.yaml", "o3-mini", "openai")} <= models
    assert not any(name == "unrelated.py" for name, _, _ in models)


def test_mcp_configs_list_servers_and_never_env_values(tmp_path: Path) -> None:
    key = make_key("openai-project", seed=40)
    formatless = make_key("mistral", seed=40)
    cfg = {"mcpServers": {
        "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                   "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_notakeyformatwecareabout0000000000"}},
        "helper": {"command": "uvx", "args": ["mcp-server-fetch", "--api-key", key],
                   "env": {"OPENAI_API_KEY": key, "MISTRAL_API_KEY": formatless}},
        "remote": {"url": "https://mcp.example.com/sse?token=abc", "headers": {"Authorization": "Bearer x"}},
    }}
    write(tmp_path / ".mcp.json", json.dumps(cfg, indent=2))
    write(tmp_path / ".cursor" / "mcp.json", json.dumps({"mcpServers": {"fs": {"command": "npx"}}}))
    write(tmp_path / ".vscode" / "mcp.json", json.dumps({"servers": {"vs": {"command": "node", "args": ["s.js"]}}}))
    write(tmp_path / "claude_desktop_config.json", json.dumps({"mcpServers": {"desk": {"command": "python"}}}))
    write(tmp_path / ".claude" / "settings.local.json",
          json.dumps({"permissions": {"allow": []}, "env": {"ANTHROPIC_MODEL": "claude-opus-4-1"}}))
    write(tmp_path / "AGENTS.md", "# Agents\n")
    write(tmp_path / "CLAUDE.md", "# Claude\n")
    findings, _ = scan(tmp_path)
    servers = {f.details["server"]: f for f in _kinds(findings, "mcp-server")}
    assert set(servers) == {"github", "helper", "remote", "fs", "vs", "desk"}
    assert servers["helper"].details["command"] == "uvx"
    assert servers["helper"].details["env"] == ["MISTRAL_API_KEY", "OPENAI_API_KEY"]
    assert "<redacted>" in servers["helper"].details["args"]
    assert servers["remote"].endpoint == "https://mcp.example.com/sse"
    assert servers["helper"].location.line != servers["github"].location.line
    found = credentials(findings)
    assert fingerprint(key) in found and fingerprint(formatless) in found
    configs = {Path(f.location.path).name for f in _kinds(findings, "agent-config")}
    assert {"settings.local.json", "AGENTS.md", "CLAUDE.md", "claude_desktop_config.json"} <= configs
    dump = json.dumps([f.to_dict() for f in findings])
    assert key not in dump and formatless not in dump and "Bearer x" not in dump and "token=abc" not in dump


def test_agent_files_from_a_user_catalogue_are_read(tmp_path: Path) -> None:
    """A new tool's MCP list is one catalogue entry: the repo detector reads it with no code change."""
    extra = write(tmp_path / "extra.yaml", "agent_files:\n  files:\n"
                                           "    - {match: .newtool/servers.json, roles: [mcp-servers]}\n")
    repo = tmp_path / "repo"
    write(repo / ".newtool" / "servers.json", json.dumps({"mcpServers": {"db": {"command": "uvx"}}}))
    write(repo / ".mcp.json", json.dumps({"mcpServers": {"fs": {"command": "npx"}}}))
    assert _kinds(scan(repo)[0], "mcp-server") and all(
        f.details["server"] == "fs" for f in _kinds(scan(repo)[0], "mcp-server"))
    servers = {f.details["server"] for f in _kinds(scan(repo, catalog=[extra])[0], "mcp-server")}
    assert servers == {"db", "fs"}


def test_ci_workflow_referencing_llm_secrets_and_tools(tmp_path: Path) -> None:
    write(tmp_path / ".github" / "workflows" / "review.yml",
          "on: pull_request\njobs:\n  r:\n    steps:\n      - run: npx @anthropic-ai/claude-code -p review\n"
          "        env:\n          ANTHROPIC_API_KEY: ${{ secrets.ANTHROPIC_API_KEY }}\n"
          "          OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}\n          X: ${{ secrets.NPM_TOKEN }}\n")
    write(tmp_path / ".github" / "workflows" / "claude.yml",
          "on: issue_comment\njobs:\n  c:\n    steps:\n      - uses: anthropics/claude-code-action@v1\n")
    findings = scan(tmp_path)[0]
    wf = {f.provider: f for f in _kinds(findings, "ci-workflow") if f.location.path.endswith("review.yml")}
    assert set(wf) == {"anthropic"}  # runs Claude Code
    assert wf["anthropic"].details["secrets"] == ["ANTHROPIC_API_KEY"]
    assert wf["anthropic"].details["tools"] == ["claude-code"]
    (secret,) = _kinds(findings, "ci-secret")  # only handed a key: what runs with it says the rest
    assert (secret.provider, secret.location.line) == ("openai", 8)
    (action,) = [f for f in _kinds(findings, "ci-workflow") if f.location.path.endswith("claude.yml")]
    assert action.details["tools"] == ["claude-code"] and action.location.line == 5  # a catalogue ci_actions entry


def test_ordinary_directory_is_quiet(tmp_path: Path) -> None:
    write(tmp_path / "README.md", "# A project\nSee https://example.com\n")
    write(tmp_path / "main.py", "import json\nprint(json.dumps({'model': 'x'}))\n")
    write(tmp_path / "data.json", json.dumps({"items": list(range(100))}))
    findings, cov = scan(tmp_path)
    assert findings == [] and cov.gaps == [] and cov.scanned["files"] == 3


def test_bedrock_model_ids_without_a_provider_sdk_import(tmp_path: Path) -> None:
    write(tmp_path / "b.py", 'import boto3\nrt = boto3.client("bedrock-runtime")\n'
                             'rt.converse(modelId="anthropic.claude-3-5-sonnet-20240620-v1:0", messages=[])\n')
    models = [(f.model, f.provider) for f in _kinds(scan(tmp_path)[0], "model-reference")]
    assert models == [("anthropic.claude-3-5-sonnet-20240620-v1:0", "aws-bedrock")]


def test_go_imports(tmp_path: Path) -> None:
    write(tmp_path / "main.go", 'package main\n\nimport (\n\t"fmt"\n\topenai "github.com/sashabaranov/go-openai"\n)\n')
    (f,) = _kinds(scan(tmp_path)[0], "sdk-usage")
    assert (f.provider, f.location.line, f.details["language"]) == ("openai", 5, "go")


def test_speech_and_model_hosting_sdks_are_known_and_raising_their_errors_is_no_call(tmp_path: Path) -> None:
    write(tmp_path / "stt.py", "from deepgram import DeepgramClient\nfrom deepgram.core import ApiError\n"
                               "dg = DeepgramClient()\n")
    write(tmp_path / "errors_only.py", "from deepgram.core import ApiError\nfrom openai import OpenAIError\n"
                                       "def f():\n    raise ApiError(status_code=401)\n"
                                       "def g():\n    raise OpenAIError('x')\n")
    write(tmp_path / "tts.ts", "import { ElevenLabsClient } from '@elevenlabs/elevenlabs-js';\n"
                               "import { AssemblyAI } from 'assemblyai';\n"
                               "const e = new ElevenLabsClient();\nconst a = new AssemblyAI({ apiKey: k });\n")
    write(tmp_path / "evals.py", "import braintrust\nimport clarifai\nbraintrust.init_logger(project='x')\n")
    write(tmp_path / "requirements.txt", "deepgram-sdk==4.0\nassemblyai>=0.30\nelevenlabs\n")
    findings, _ = scan(tmp_path)
    kinds = {(Path(f.location.path).name, f.kind, f.provider) for f in findings
             if f.kind in ("sdk-usage", "sdk-import", "dependency")}
    assert {("stt.py", "sdk-usage", "deepgram"), ("tts.ts", "sdk-usage", "elevenlabs"),
            ("tts.ts", "sdk-usage", "assemblyai"), ("evals.py", "sdk-import", "clarifai"),
            ("requirements.txt", "dependency", "deepgram"), ("requirements.txt", "dependency", "assemblyai"),
            ("requirements.txt", "dependency", "elevenlabs")} <= kinds
    # an observability SDK called is still not a model call; an exception class raised is not a client made
    assert ("evals.py", "sdk-import", "braintrust") in kinds and ("evals.py", "sdk-usage", "braintrust") not in kinds
    assert {k for k in kinds if k[0] == "errors_only.py"} == {("errors_only.py", "sdk-import", "deepgram"),
                                                               ("errors_only.py", "sdk-import", "openai")}
