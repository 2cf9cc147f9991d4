"""Only evidence that can call an LLM makes an agent: one regression test per defect class seen on real code.

Each tree is shaped like the real repository where the class was seen (a web framework's tests,
a catalogue of model names, an MCP server, a pyproject with an Anthropic author, a compose stack,
...), scanned by the real detector and turned into an inventory by the real pipeline.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from scanner.catalog import Catalog
from scanner.model import Agent, Coverage, Inventory, ItemKind, Severity
from scanner.pipeline import build_inventory
from tests.keys import make_key
from tests.test_repo_support import commit_all, init_repo, scan, write

CATALOG = Catalog.load()
ROOT = Path(__file__).resolve().parents[1]


def inventory(*paths: Path) -> Inventory:
    findings, cov = scan(*paths)
    return build_inventory(findings, [cov], CATALOG, None, dt.date(2026, 12, 1), {})


def agents(*paths: Path) -> list[Agent]:
    return [a for a in inventory(*paths).agents if a.kind == ItemKind.AGENT]


def names(items: list[Agent]) -> set[str]:
    return {a.name.split("/", 1)[1] if "/" in a.name else "." for a in items}


# ---- a port alone, a base_url of anything -------------------------------------------------------

def test_web_framework_tests_and_examples_full_of_localhost_3000_are_no_agent(tmp_path: Path) -> None:
    repo = tmp_path / "express"
    write(repo / "package.json", json.dumps({"name": "express", "dependencies": {"debug": "2"}}))
    write(repo / "test" / "app.listen.js", "request('http://localhost:3000/users').expect(200)\n")
    write(repo / "examples" / "hello" / "index.js", "app.listen(3000);\nconsole.log('Listening on http://localhost:3000/');\n")
    write(repo / "lib" / "response.js", "/**\n * @example res.redirect('http://localhost:3000/admin')\n */\n")
    write(repo / "lib" / "dev.js", "const DEV_URL = 'http://localhost:3000/';\nconst TGI = 'http://localhost:8080';\n")
    write(repo / "docs" / "api.md", "Open http://localhost:8080/v1/chat/completions in your browser.\n")
    assert agents(repo) == []


def test_base_url_counts_only_when_it_feeds_an_llm_client(tmp_path: Path) -> None:
    repo = tmp_path / "app"
    write(repo / "tests" / "conftest.py", 'client = httpx.Client(base_url="http://example.test")\n')
    write(repo / "so.py", 'so_api_base_url = "https://api.stackexchange.com/2.3"\nendpoint = "https://example.com/api"\n')
    write(repo / "llm.py", 'from openai import OpenAI\nGATEWAY = "https://llm-gw.internal.example/v1"\n'
                           'client = OpenAI(base_url=GATEWAY)\nlocal = OpenAI(base_url="http://localhost:1234/v1")\n')
    findings, _ = scan(repo)
    endpoints = {f.endpoint: f for f in findings if f.kind == "endpoint"}
    assert set(endpoints) == {"https://llm-gw.internal.example/v1", "http://localhost:1234/v1"}
    assert endpoints["https://llm-gw.internal.example/v1"].details["variable"] == "GATEWAY"
    assert endpoints["http://localhost:1234/v1"].provider == "lm-studio"


def test_local_model_server_needs_an_llm_api_path_or_a_client_in_the_file(tmp_path: Path) -> None:
    repo = tmp_path / "svc"
    write(repo / "health.py", 'import requests\nrequests.get("http://localhost:11434")\n')  # a port alone
    write(repo / "gen.py", 'import requests\nrequests.post("http://localhost:11434/api/generate", json={})\n')
    findings, _ = scan(repo)
    (ep,) = [f for f in findings if f.kind == "endpoint"]
    assert (ep.provider, ep.location.path.endswith("gen.py"), ep.details["llm_api_path"]) == ("ollama", True, True)
    assert names(agents(repo)) == {"."}


def test_a_provider_url_in_ui_text_is_a_mention_not_a_call(tmp_path: Path) -> None:
    repo = tmp_path / "web"
    write(repo / "package.json", json.dumps({"name": "admin-ui"}))
    write(repo / "src" / "Token.js", "const help = <p>Replace https://api.openai.com with your server</p>;\n"
                                     "const ph = '请输入 AZURE_OPENAI_ENDPOINT，例如：https://docs-test-001.openai.azure.com';\n")
    findings, _ = scan(repo)
    assert {f.kind for f in findings if "openai" in (f.provider or "")} == {"endpoint-mention"}
    assert agents(repo) == []


# ---- descriptive evidence alone -----------------------------------------------------------------

def test_a_catalogue_of_model_names_and_api_hosts_is_no_agent(tmp_path: Path) -> None:
    repo = tmp_path / "leaderboard"
    write(repo / "pyproject.toml", '[project]\nname = "leaderboard"\ndependencies = ["pyyaml"]\n')
    write(repo / "data" / "models.yaml", "models:\n  - name: gpt-4o\n    provider: openai\n"
                                         "    base_url: https://api.openai.com/v1\n  - name: claude-sonnet-4-5\n"
                                         "  - name: gemini-2.5-pro\nadmin_api: https://api.openai.com/v1/organization\n")
    write(repo / "board.py", 'import yaml\nMODELS = ["gpt-4o", "claude-3-5-sonnet-20241022"]\nmodel = "o3-mini"\n')
    inv = inventory(repo)
    assert [a for a in inv.agents] == [] and inv.summary()["unattached_findings"] > 0


def test_imports_without_a_call_and_lock_file_only_dependencies_are_no_agent(tmp_path: Path) -> None:
    repo = tmp_path / "tool"
    write(repo / "package.json", json.dumps({"name": "tool", "dependencies": {"langsmith": "0.1"}}))
    write(repo / "package-lock.json", json.dumps({"packages": {"": {"dependencies": {"langsmith": "0.1"}},
                                                               "node_modules/openai": {"version": "4"}}}))
    write(repo / "src" / "types.ts", "import type { ChatCompletion } from 'openai/resources';\n"
                                     "import { Client } from 'langsmith';\nconst c = new Client();\n")
    findings, _ = scan(repo)
    (lock,) = [f for f in findings if f.kind == "dependency" and f.details["package"] == "openai"]
    assert lock.details["direct"] is False and lock.details["lockfile"] is True
    assert agents(repo) == []  # LangSmith is observability: calling its client calls no model


def test_comments_and_docstrings_only_describe(tmp_path: Path) -> None:
    repo = tmp_path / "infra"
    write(repo / "notes.py", 'import boto3\n\n# boto3.client("bedrock-runtime")\n'
                             'def f():\n    """Call it like boto3.client("bedrock-runtime").converse(...)."""\n'
                             '    return boto3.client("s3")\n')
    write(repo / "doc_only.py", '"""Uses ``boto3.client("bedrock-runtime")`` (no import here)."""\n')
    findings, _ = scan(repo)
    assert not [f for f in findings if f.kind == "sdk-usage"]
    assert agents(repo) == []


def test_pyproject_authors_and_own_name_are_not_dependencies(tmp_path: Path) -> None:
    repo = tmp_path / "anthropic-tools"
    write(repo / "pyproject.toml", '[project]\nname = "anthropic"\nauthors = [{ name = "Anthropic, PBC." }]\n'
                                   'dependencies = ["httpx>=0.23", "openai ; python_version > \'3.8\'"]\n'
                                   '[project.optional-dependencies]\nbedrock = ["boto3"]\n'
                                   '[tool.poetry.group.dev.dependencies]\nlangchain-openai = "^0.2"\n')
    deps = {f.details["package"]: f for f in scan(repo)[0] if f.kind == "dependency"}
    assert set(deps) == {"openai", "langchain-openai"}
    assert deps["openai"].details["direct"] is True and deps["langchain-openai"].details["scope"] == "dev"


def test_requirements_syntax_and_pip_compile_via_comments(tmp_path: Path) -> None:
    repo = tmp_path / "svc"
    write(repo / "requirements.txt", "# LLM stack\nlitellm==1.50 \\\n    --hash=sha256:abc\n"
                                     "    # via -r requirements.in\nopenai==1.51\n    # via\n    #   litellm\n"
                                     "-e git+https://example.com/x.git#egg=anthropic\nnot a requirement at all!\n")
    deps = {f.details["package"]: f.details["direct"] for f in scan(repo)[0] if f.kind == "dependency"}
    assert deps == {"litellm": True, "openai": False, "anthropic": True}


def test_a_local_agents_package_is_not_the_openai_agents_sdk(tmp_path: Path) -> None:
    repo = tmp_path / "quickstarts"
    write(repo / "agents" / "__init__.py", "")
    write(repo / "agents" / "agent.py", "class Agent:\n    pass\n")
    write(repo / "run.py", "from agents.agent import Agent\nfrom agents import Agent as A\nAgent()\n")
    findings, _ = scan(repo)
    assert not [f for f in findings if f.details.get("framework") == "openai-agents"]
    write(repo / "agents" / "agent.py", "from anthropic import Anthropic\nclient = Anthropic()\n")
    (agent,) = agents(repo)  # the local package's own client call makes the agent
    assert agent.providers == ["anthropic"]


def test_an_mcp_server_is_its_own_kind_of_item_with_low_severity(tmp_path: Path) -> None:
    repo = tmp_path / "servers"
    write(repo / "src" / "fetch" / "pyproject.toml", '[project]\nname = "mcp-server-fetch"\ndependencies = ["mcp"]\n')
    write(repo / "src" / "fetch" / "server.py", "from mcp.shared.exceptions import McpError\n"
                                                "from mcp.server import Server\nserver = Server('fetch')\n")
    write(repo / "src" / "memory" / "package.json", json.dumps({"name": "m", "dependencies": {"@modelcontextprotocol/sdk": "1"}}))
    write(repo / "src" / "memory" / "index.ts", "import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';\n"
                                                "const s = new McpServer({ name: 'memory' });\n")
    write(repo / "src" / "client" / "package.json", json.dumps({"name": "c"}))
    write(repo / "src" / "client" / "index.ts", "import { Client } from '@modelcontextprotocol/sdk/client/index.js';\n"
                                                "const c = new Client({ name: 'x' });\n")  # an MCP client calls no model
    inv = inventory(repo)
    assert {(a.kind, a.name.rsplit("/", 1)[-1]) for a in inv.agents} == {
        (ItemKind.MCP_SERVER, "fetch"), (ItemKind.MCP_SERVER, "memory")}
    assert {a.severity for a in inv.agents} == {Severity.LOW}
    assert inv.summary()["agents"] == 0 and inv.summary()["mcp_servers"] == 2


# ---- program boundaries --------------------------------------------------------------------------

def test_requirements_tests_and_docker_folders_join_their_program(tmp_path: Path) -> None:
    repo = tmp_path / "aider"
    write(repo / "pyproject.toml", '[project]\nname = "aider-chat"\ndependencies = ["litellm"]\n')
    write(repo / "aider" / "main.py", "import litellm\nlitellm.completion(model='gpt-4o', messages=[])\n")
    write(repo / "requirements" / "requirements-dev.txt", "openai\npytest\n")
    write(repo / "docker" / "Dockerfile", "FROM python:3.12\nCOPY . /app\n")
    write(repo / "__tests__" / "playwright" / "package.json", json.dumps({"devDependencies": {"openai": "4"}}))
    write(repo / "__tests__" / "playwright" / "chat.spec.ts", "import OpenAI from 'openai';\nnew OpenAI();\n")
    write(repo / "scripts" / "Dockerfile.jekyll", "FROM jekyll/jekyll\nCOPY aider/website /site\n")
    write(repo / "scripts" / "blame.py", "import subprocess\n")
    write(repo / "benchmark" / "Dockerfile", "FROM python:3.12\nCOPY . /aider\n")
    write(repo / "benchmark" / "benchmark.py", "from aider.main import main\nmain()\n")
    assert names(agents(repo)) == {".", "benchmark"}  # benchmark reaches LLMs through the repo's own aider/
    programs = {f.location.path.split("/aider/", 1)[1]: f.details["agent_dir"] for f in scan(repo)[0]}
    assert programs["__tests__/playwright/chat.spec.ts"] == programs["requirements/requirements-dev.txt"] == "."


def test_a_folder_a_dockerfile_copies_into_its_image_is_that_program(tmp_path: Path) -> None:
    repo = tmp_path / "computer-use-demo"
    write(repo / "Dockerfile", "FROM python\nCOPY computer_use_demo/requirements.txt /r.txt\nCOPY computer_use_demo/ /app/\n")
    write(repo / "setup.sh", "pip install -r dev-requirements.txt\n")
    write(repo / "computer_use_demo" / "requirements.txt", "anthropic\n")
    write(repo / "computer_use_demo" / "loop.py", "from anthropic import Anthropic\nAnthropic()\n")
    write(repo / "helpers" / "setup.py", "def setup():\n    pass\n")  # a module named setup.py is no manifest
    write(repo / "helpers" / "call.py", "from anthropic import Anthropic\nAnthropic()\n")
    assert names(agents(repo)) == {"."}


def test_compose_services_sharing_a_folder_are_one_program_each(tmp_path: Path) -> None:
    repo = tmp_path / "genai-stack"
    write(repo / "requirements.txt", "langchain-openai\nstreamlit\n")
    write(repo / "docker-compose.yml", "services:\n  bot:\n    build: {context: ., dockerfile: bot.Dockerfile}\n"
                                       "  api:\n    build: {context: ., dockerfile: api.Dockerfile}\n")
    write(repo / "bot.Dockerfile", 'FROM python\nCOPY bot.py .\nCOPY chains.py .\nENTRYPOINT ["streamlit", "run", "bot.py"]\n')
    write(repo / "api.Dockerfile", 'FROM python\nCOPY api.py .\nENTRYPOINT ["uvicorn", "api:app", "--port", "8504"]\n')
    write(repo / "chains.py", "from langchain_openai import ChatOpenAI\n\ndef load_llm():\n    return ChatOpenAI()\n")
    write(repo / "bot.py", "from chains import load_llm\nllm = load_llm()\n")
    write(repo / "api.py", "from chains import load_llm\nfrom utils import x\n")
    write(repo / "utils.py", "x = 1\n")
    found = agents(repo)
    assert names(found) == {"bot.py", "api.py"}  # chains.py belongs to both; the folder alone is no agent
    for agent in found:
        entry = agent.name.rsplit("/", 1)[-1]
        assert any(loc.split(":")[0].endswith(entry) for loc in agent.locations)
        assert any("chains.py" in loc for loc in agent.locations)


def test_a_ci_workflow_running_an_agent_tool_is_a_program_of_its_own(tmp_path: Path) -> None:
    repo = tmp_path / "servers"
    write(repo / "package.json", json.dumps({"name": "servers"}))
    write(repo / ".github" / "workflows" / "claude.yml", "jobs:\n  c:\n    steps:\n"
                                                          "      - uses: anthropics/claude-code-action@v1\n"
                                                          "        with: {anthropic_api_key: '${{ secrets.ANTHROPIC_API_KEY }}'}\n")
    write(repo / ".github" / "workflows" / "test.yml", "jobs:\n  t:\n    env: {OPENAI_API_KEY: '${{ secrets.OPENAI_API_KEY }}'}\n")
    (agent,) = agents(repo)  # the test workflow only hands a key to the tests: it describes the root
    assert agent.name.endswith(".github/workflows/claude.yml") and agent.providers == ["anthropic"]


# ---- keys, places, severity ---------------------------------------------------------------------

def test_a_key_in_tests_is_still_a_key_and_its_place_is_recorded(tmp_path: Path) -> None:
    repo = tmp_path / "lib"
    write(repo / "setup.py", "from setuptools import setup\nsetup(name='lib', install_requires=['requests'])\n")
    key = make_key("anthropic-api", seed=7)
    write(repo / "tests" / "test_client.py", f'KEY = "{key}"\n')
    inv = inventory(repo)
    (agent,) = inv.agents
    (cred,) = [f for f in inv.findings if f.kind == "credential"]
    assert cred.place == "test" and agent.severity == Severity.HIGH


def test_severity_follows_the_strength_of_the_evidence(tmp_path: Path) -> None:
    write(tmp_path / "keyed" / "requirements.txt", "openai\n")
    write(tmp_path / "keyed" / "app.py", "from openai import OpenAI\nclient = OpenAI()\n")
    write(tmp_path / "keyed" / ".env", f"OPENAI_API_KEY={make_key('openai-project', seed=8)}\n")
    write(tmp_path / "sdk" / "requirements.txt", "openai\n")
    write(tmp_path / "sdk" / "app.py", "from openai import OpenAI\nclient = OpenAI()\n")
    write(tmp_path / "examples" / "demo" / "requirements.txt", "openai\n")
    write(tmp_path / "examples" / "demo" / "run.py", "from openai import OpenAI\nOpenAI()\n")
    inv = inventory(tmp_path)
    by_name = {a.name.rsplit("/", 1)[-1]: a for a in inv.agents}
    assert by_name["keyed"].severity == Severity.HIGH  # a key with an SDK in use
    assert by_name["sdk"].severity == Severity.MEDIUM  # SDK use without a key
    assert by_name["demo"].severity == Severity.LOW  # only example code
    assert any(r.code == "evidence-code-only" for r in by_name["sdk"].reasons)
    fmap = inv.finding_map()
    kinds = [fmap[f].kind for f in by_name["keyed"].findings]
    assert kinds[0] == "credential" and kinds.index("sdk-usage") < kinds.index("dependency")  # strongest first


def test_this_checkout_holds_no_agent() -> None:
    """The scanner's own catalogue, tests and docs name every provider; none of that calls one."""
    inv = inventory(ROOT)
    assert [a.name for a in inv.agents] == []
    assert inv.summary()["unattached_findings"] > 10  # it does name providers, all descriptive


def test_new_credential_in_a_baseline_agent_fails_fail_on_new(run_cli, tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "svc", remote="https://github.com/acme/svc.git")
    write(repo / "requirements.txt", "openai\n")
    write(repo / "app.py", "from openai import OpenAI\nclient = OpenAI()\n")
    commit_all(repo, "app")
    base = tmp_path / "base.json"
    r = run_cli("scan", "-d", "repo", "-p", str(repo), "-f", "json", "-o", str(base), "--fail-on", "none")
    assert r.code == 0, r.err
    same = run_cli("scan", "-d", "repo", "-p", str(repo), "--baseline", str(base), "--fail-on", "new", "-f", "json")
    assert same.code == 0, same.out
    write(repo / "config.py", f'OPENAI_API_KEY = "{make_key("openai-project", seed=9)}"\n')
    r = run_cli("scan", "-d", "repo", "-p", str(repo), "--baseline", str(base), "--fail-on", "new", "-f", "json")
    assert r.code == 1, r.out + r.err
    (agent,) = r.json()["agents"]
    assert agent["change"] == "changed"
    assert any(x["code"] == "new-credential" for x in agent["reasons"])
