"""Repo detector: base64 Secret values in git history, Rust imports, and per-file CODEOWNERS."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from detectors.base import ScanContext
from detectors.repo import RepoDetector
from detectors.repo.owners import CodeOwners
from scanner.catalog import Catalog
from scanner.model import Coverage
from scanner.redact import fingerprint
from tests.keys import make_key
from tests.test_repo_support import commit_all, credentials, init_repo, scan, write

BOB = {"author": "Bob", "email": "bob@example.com"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _secret(entries: dict[str, str], name: str = "llm") -> str:
    lines = "".join(f"  {k}: {v}\n" for k, v in entries.items())
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: Opaque\ndata:\n{lines}"


# ---- 1. Kubernetes Secrets in git history ----------------------------------------------------------


def test_history_decodes_keys_added_to_the_data_block_of_a_secret(tmp_path: Path) -> None:
    """Only the new ``KEY: <base64>`` lines are in the diff; git's hunk heading ``data:`` marks the Secret."""
    repo = init_repo(tmp_path / "r")
    openai = make_key("openai-project", seed=41)
    mistral = make_key("mistral", seed=42)  # formatless: the entry name gives it its provider
    write(repo / "deploy" / "app.yaml", _secret({"LOG_LEVEL": b64("debug-verbose-output")}))
    commit_all(repo, "manifest")
    write(repo / "deploy" / "app.yaml", _secret({"LOG_LEVEL": b64("debug-verbose-output"),
                                                 "OPENAI_API_KEY": b64(openai), "MISTRAL_API_KEY": b64(mistral)}))
    added = commit_all(repo, "add keys", **BOB)
    write(repo / "deploy" / "app.yaml", _secret({"LOG_LEVEL": b64("debug-verbose-output")}))
    commit_all(repo, "remove keys")

    assert credentials(scan(repo)[0]) == {}
    findings, _ = scan(repo, history=True)
    found = credentials(findings)
    assert set(found) == {fingerprint(openai), fingerprint(mistral)}
    for key, line, provider in ((openai, 8, "openai"), (mistral, 9, "mistral")):
        f = found[fingerprint(key)]
        assert (f.location.commit, f.location.line, f.provider) == (added, line, provider)
        assert f.details["base64"] is True and f.risks == ["in-history"]
        assert "owner:bob@example.com" in f.identity
    text = json.dumps([f.to_dict() for f in findings])
    assert openai not in text and mistral not in text and b64(openai) not in text


def test_history_decodes_a_json_secret_named_as_one(tmp_path: Path) -> None:
    """A JSON manifest whose file name says secret: the later commit adds only the ``"KEY": "<base64>"`` line."""
    repo = init_repo(tmp_path / "r")
    groq = make_key("groq", seed=43)
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "llm"}, "data": {"A": b64("plain-value-one")}}
    write(repo / "k8s" / "llm-secret.json", json.dumps(doc, indent=2) + "\n")
    commit_all(repo, "one")
    doc["data"]["GROQ_API_KEY"] = b64(groq)
    write(repo / "k8s" / "llm-secret.json", json.dumps(doc, indent=2) + "\n")
    added = commit_all(repo, "two")
    write(repo / "k8s" / "llm-secret.json", "{}\n")
    commit_all(repo, "three")
    found = credentials(scan(repo, history=True)[0])
    f = found[fingerprint(groq)]
    assert (f.location.commit, f.location.line, f.provider) == (added, 9, "groq")


def test_history_finds_a_secret_added_whole_and_ignores_base64_noise(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    key = make_key("anthropic-api", seed=44)
    noise = base64.b64encode(bytes(range(256))[:48]).decode()  # binary, not a key
    write(repo / "charts" / "values.yaml", _secret({"TLS_BLOB": noise, "TOKEN": b64(key)}))
    added = commit_all(repo, "chart")
    write(repo / "charts" / "values.yaml", "replicas: 2\n")
    commit_all(repo, "drop")
    findings, _ = scan(repo, history=True)
    assert [(f.location.commit, f.location.line) for f in findings if f.kind == "credential"] == [(added, 8)]


def test_history_does_not_decode_base64_outside_secret_manifests(tmp_path: Path) -> None:
    """A YAML value that happens to hold base64 text, in a file with no sign of a Secret, is left alone."""
    repo = init_repo(tmp_path / "r")
    key = make_key("xai", seed=45)
    write(repo / "config" / "app.yaml", "service:\n  name: web\n")
    commit_all(repo, "config")
    write(repo / "config" / "app.yaml", f"service:\n  name: web\n  blob: {b64(key)}\n")
    commit_all(repo, "blob")
    write(repo / "notes" / "secret-notes.txt", f"XAI: {b64(key)}\n")  # named secret, but not YAML/JSON
    commit_all(repo, "notes")
    assert credentials(scan(repo, history=True)[0]) == {}


# ---- 2. Rust imports ----------------------------------------------------------------------------------

RUST_MAIN = """\
//! Chat service; see async_openai::Client for the client.
#[macro_use]
extern crate anthropic_sdk;

use std::env;
pub(crate) use {serde::Deserialize, ollama_rs::{Ollama, generation::completion::GenerationRequest}};
use async_openai::{
    types::CreateChatCompletionRequestArgs,
    Client,
};
use aws_sdk_bedrockruntime as bedrockruntime;

mod gemini_rust;

fn main() {
    // mistralai_client::v1::client::Client is not used here
    let api = hf_hub::api::sync::Api::new().unwrap();
    let local = gemini_rust::helper();
    let other = my_rmcp::serve();
    let client = Client::new();  // async_openai's Client, imported above
    let ollama = Ollama::default();
}
"""


def _usage(findings) -> dict[str, tuple[str, int, str | None]]:
    return {f.details["import"]: (f.kind, f.location.line, f.provider) for f in findings
            if f.details.get("language") == "rust"}


def test_rust_use_extern_crate_and_qualified_paths_name_the_sdk(tmp_path: Path) -> None:
    crate = tmp_path / "bot"
    write(crate / "Cargo.toml", '[package]\nname = "bot"\n')
    write(crate / "src" / "main.rs", RUST_MAIN)
    write(crate / "src" / "mcp.rs", "pub async fn serve() { let s = rmcp::ServiceExt::serve(h, t); }\n")
    findings, _ = scan(tmp_path)
    assert _usage(findings) == {  # called here: sdk-usage; only imported: sdk-import
        "anthropic_sdk": ("sdk-import", 3, "anthropic"),
        "ollama_rs": ("sdk-usage", 6, "ollama"),
        "async_openai": ("sdk-usage", 7, "openai"),
        "aws_sdk_bedrockruntime": ("sdk-import", 11, "aws-bedrock"),
        "hf_hub": ("sdk-usage", 17, "huggingface"),  # a qualified path with no use line
        "rmcp": ("framework-import", 1, None),  # the MCP SDK calls no model
    }
    # not reported: a crate named only in comments, a local `mod gemini_rust`, `my_rmcp::` (another crate)
    main = [f for f in findings if f.location.path.endswith("main.rs") and f.details.get("language") == "rust"]
    assert {f.details["import"] for f in main} == {"anthropic_sdk", "ollama_rs", "async_openai",
                                                   "aws_sdk_bedrockruntime", "hf_hub"}


def test_rust_library_name_from_catalogue_imports(tmp_path: Path) -> None:
    """A crate whose library name differs from its package name is listed under ``imports.rust``."""
    extra = write(tmp_path / "extra.yaml", "schema_version: 1\nframeworks:\n  - id: rig\n    name: Rig\n"
                  "    packages: {rust: [rig-core]}\n    imports: {rust: [rig]}\n    providers: []\n")
    write(tmp_path / "src" / "agent.rs", "use rig::{completion::Prompt, providers::openai};\n")
    write(tmp_path / "src" / "lib.rs", "use rig_core::DynModel;\n")  # newer releases: rig_core
    cov = Coverage("repo")
    ctx = ScanContext(detector="repo", catalog=Catalog.load([extra]), paths=[tmp_path.resolve()],
                      options={"workers": 1}, coverage=cov)
    findings = list(RepoDetector().run(ctx))
    assert {(Path(f.location.path).name, f.details["framework"]) for f in findings
            if f.details.get("language") == "rust"} == {("agent.rs", "rig"), ("lib.rs", "rig")}


# ---- 3. CODEOWNERS per file -------------------------------------------------------------------------

CODEOWNERS = """\
# Owners of this repository; the last matching pattern wins.
*.py                    @acme/python        # every Python file
/docs/                  docs-team@example.com
**/prompts              @acme/prompt-eng
services/bot/           @acme/bot-team
services/bot/legacy/
/services/web/*.ts      @webdev
!services/web/skip.ts   @nobody
services/web/[ab].ts    @nobody
"""


def _owner_of(findings, rel: str) -> set[str]:
    return {k for f in findings if f.location.path.endswith("/" + rel) for k in f.identity if k.startswith("owner:")}


def test_each_finding_gets_the_owner_of_its_own_file(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r", remote="git@github.com:acme/r.git")
    write(repo / ".github" / "CODEOWNERS", CODEOWNERS)
    write(repo / "CODEOWNERS", "* @ignored-because-.github-comes-first\n")
    write(repo / "services" / "bot" / "pyproject.toml", "[project]\nname = 'bot'\n")
    write(repo / "services" / "web" / "package.json", '{"dependencies": {"openai": "^4"}}')
    commit_all(repo, "layout")
    files = {
        "services/bot/main.py": "import anthropic\n",
        "services/bot/legacy/old.py": "import groq\n",  # matched by a rule without owners
        "services/web/index.ts": "import OpenAI from 'openai'\n",
        "services/web/skip.ts": "import OpenAI from 'openai'\n",  # the ! and [ ] lines are skipped
        "services/web/src/ai.ts": "import OpenAI from 'openai'\n",  # *.ts under web/ is one level only
        "docs/guide/example.py": "import openai\n",
        "tools/prompts/build.py": "import openai\n",
        "scripts/run.py": "import mistralai\n",
    }
    for rel, text in files.items():
        write(repo / rel, text)
    commit_all(repo, "code", **BOB)
    findings, _ = scan(repo)
    assert _owner_of(findings, "services/bot/main.py") == {"owner:acme/bot-team"}
    assert _owner_of(findings, "services/bot/legacy/old.py") == {"owner:bob@example.com"}
    assert _owner_of(findings, "services/web/index.ts") == {"owner:webdev"}
    assert _owner_of(findings, "services/web/skip.ts") == {"owner:webdev"}
    assert _owner_of(findings, "services/web/src/ai.ts") == {"owner:bob@example.com"}
    assert _owner_of(findings, "docs/guide/example.py") == {"owner:docs-team@example.com"}
    assert _owner_of(findings, "tools/prompts/build.py") == {"owner:acme/prompt-eng"}
    assert _owner_of(findings, "scripts/run.py") == {"owner:acme/python"}
    # no rule for the manifest either: the agent directory's most frequent author (Bob, 3 files to Alice's 1)
    assert _owner_of(findings, "services/web/package.json") == {"owner:bob@example.com"}


def test_docs_codeowners_is_used_when_no_other_exists(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r", remote="https://github.com/globex/tool.git")
    write(repo / "docs" / "CODEOWNERS", "/agent/ @globex/agents\n")
    write(repo / "agent" / "run.py", "import openai\n")
    write(repo / "other" / "run.py", "import openai\n")
    findings, _ = scan(repo)  # no commits: the fallback is the remote's owner
    assert _owner_of(findings, "agent/run.py") == {"owner:globex/agents"}
    assert _owner_of(findings, "other/run.py") == {"owner:globex"}


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("*.py", "a/b/c.py", True),
    ("*.py", "a.pyc", False),
    ("docs/", "x/docs/a.md", True),
    ("docs/", "docs", False),
    ("/docs/", "x/docs/a.md", False),
    ("docs/*", "docs/a.md", True),
    ("docs/*", "docs/sub/a.md", False),
    ("apps/github", "apps/github/x/y.js", True),
    ("apps/github", "lib/apps/github/y.js", False),
    ("**/logs", "a/b/logs/x.log", True),
    ("logs/**", "logs/a/b.log", True),
    ("logs/**", "x/logs/a.log", False),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b/z.txt", True),
    ("/*", "top.txt", True),
    ("/*", "dir/file.txt", False),
    ("f?o.txt", "foo.txt", True),
    ("f?o.txt", "fo/o.txt", False),
    ("my\\ file.txt", "my file.txt", True),
])
def test_codeowners_pattern_semantics(pattern: str, path: str, matches: bool) -> None:
    owners = CodeOwners.parse(f"{pattern} @team").owners_of(path)
    assert (owners == ("team",)) is matches


def test_codeowners_last_rule_wins_and_empty_rule_unowns() -> None:
    co = CodeOwners.parse("* @org/all\n/apps/ @octocat\n/apps/github\n*.md docs@example.com\n")
    assert co.owners_of("src/main.c") == ("org/all",)
    assert co.owners_of("apps/x.js") == ("octocat",)
    assert co.owners_of("apps/github/x.js") == ()
    assert co.owners_of("apps/github/README.md") == ("docs@example.com",)
    assert CodeOwners.parse("/only/ @x\n").owners_of("elsewhere/a.py") is None
