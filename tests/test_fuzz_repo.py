"""The repo detector's file readers fuzzed: key and import scanners, manifests and lock files
(JSON, YAML, TOML, requirements, go.mod), notebooks, MCP and agent settings, Kubernetes
secrets, CI workflows.

``scan_bytes`` is what every file goes through; a file is outside input, so it may raise
nothing. Seeds are real files (this project's own sources, manifests and examples, and one
small file per family holding keys and SDK use), mutated byte by byte and read under the
names each family answers to. Files built from the catalogue's key prefixes and context
anchors, repeated, cost linear work (tests/test_repo_linear.py checks each one alone; here
random mixtures of them).
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from detectors.repo.content import scan_bytes
from detectors.repo.rules import MODEL_ANCHORS, Rules
from scanner.catalog import Catalog
from tests.fuzzing import ROOT, assert_linear_cpu, cpu_seconds, fuzz, mutations
from tests.keys import make_key

CATALOG = Catalog.load()
RULES = Rules.build(CATALOG)
OPENAI = make_key("openai-project", 7)
ANTHROPIC = make_key("anthropic-api", 7)

FAMILY_SEEDS = {
    "app.py": f'import openai\nfrom anthropic import Anthropic\nc = openai.OpenAI(api_key="{OPENAI}")\n'
              'c.chat.completions.create(model="gpt-4o")\nAnthropic(base_url="http://localhost:11434/v1")\n',
    "index.ts": f"import OpenAI from 'openai';\nconst c = new OpenAI({{ apiKey: '{OPENAI}' }});\n"
                "await c.chat.completions.create({ model: 'gpt-4o-mini' });\n",
    "main.go": 'package main\nimport (\n  openai "github.com/sashabaranov/go-openai"\n)\n'
               'func main() { c := openai.NewClient("x"); c.CreateChatCompletion(nil, openai.ChatCompletionRequest{}) }\n',
    "main.rs": "use async_openai::Client;\nfn main() { let c = Client::new(); c.chat().create(req); }\n",
    "notebook.ipynb": json.dumps({"cells": [{"cell_type": "code", "source": ["import openai\n",
                                                                            f"openai.api_key = '{OPENAI}'\n"]},
                                            {"cell_type": "markdown", "source": ["# notes"]}],
                                  "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
    ".env": f"OPENAI_API_KEY={OPENAI}\nANTHROPIC_API_KEY={ANTHROPIC}\nOPENAI_BASE_URL=https://api.openai.com/v1\n",
    "requirements.txt": "openai==1.40.0\nanthropic>=0.30 ; python_version > '3.8'\n-r other.txt\nlangchain[openai]\n",
    "package.json": json.dumps({"dependencies": {"openai": "^4.0.0", "@anthropic-ai/sdk": "0.20.0"},
                                "devDependencies": {"ai": "3"}}),
    "pnpm-lock.yaml": "lockfileVersion: '9.0'\npackages:\n  openai@4.0.0:\n    resolution: {integrity: sha512-x}\n",
    "Cargo.toml": '[package]\nname = "x"\n[dependencies]\nasync-openai = "0.20"\n',
    "go.mod": "module x\ngo 1.22\nrequire (\n  github.com/sashabaranov/go-openai v1.20.0\n)\n",
    "uv.lock": 'version = 1\n[[package]]\nname = "openai"\nversion = "1.40.0"\n',
    ".mcp.json": json.dumps({"mcpServers": {"fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-fs"],
                                                   "env": {"OPENAI_API_KEY": OPENAI}}}}),
    "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  OPENAI_API_KEY: "
                   + __import__("base64").b64encode(OPENAI.encode()).decode() + "\n",
    ".github/workflows/ci.yml": "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                                "      - uses: anthropics/claude-code-action@v1\n"
                                "        with: {anthropic_api_key: '${{ secrets.ANTHROPIC_API_KEY }}'}\n",
}
PROJECT_FILES = ["pyproject.toml", "README.md", "scanner/catalog.py", "detectors/repo/filetypes/python.py",
                 "examples/ci/github-actions.yml", "examples/ci/gitlab-ci.yml", "examples/plugin/pyproject.toml",
                 "Dockerfile"]
SEEDS = [s.encode() for s in FAMILY_SEEDS.values()] + [(ROOT / p).read_bytes()[:20_000] for p in PROJECT_FILES]
NAMES = sorted(FAMILY_SEEDS) + ["pyproject.toml", "setup.py", "config.yaml", "settings.json", "Pipfile.lock",
                                "yarn.lock", "package-lock.json", "CLAUDE.md", "x.txt", "app.js", "values.tfvars"]


def _scan(name: str, data: bytes) -> None:
    hits = scan_bytes(RULES, name, data)
    lines = data.count(b"\n") + 1
    for h in hits:
        assert isinstance(h.kind, str) and h.kind
        assert 0 <= h.line <= lines, (h.kind, h.line, lines)
        if h.span is not None:
            start, end = h.span
            assert 0 <= start < end <= len(data)


def test_every_family_finds_something_in_its_seed() -> None:
    """The seeds are worth mutating: each one holds what its family looks for."""
    for name, text in FAMILY_SEEDS.items():
        assert scan_bytes(RULES, name, text.encode()), name


@fuzz(200)
@given(mutations(SEEDS, max_ops=10), st.sampled_from(NAMES))
def test_mutated_files_scan_without_raising(data: bytes, name: str) -> None:
    _scan(name, data)


@fuzz(80)
@given(st.sampled_from(sorted(FAMILY_SEEDS)), st.data())
def test_mutated_files_under_their_own_names(name: str, data) -> None:
    _scan(name, data.draw(mutations([FAMILY_SEEDS[name].encode()], max_ops=6)))


KEY_PREFIXES = sorted({p for k in CATALOG.key_formats for p in k.prefixes})
ANCHORS = sorted({a.decode() for a in RULES.context_anchors} | {m.decode() for m in MODEL_ANCHORS})
SYNTAX = ["=", ":", '"', "'", " ", "\n", "-", "_", "(", ")", "{", "}", "[", "]", ",", "import ", "from ", "require('",
          "https://", "api_key=", "model=", "#", "//", "\\n", "T3BlbkFJ", "AA", "0", "a"]
_PIECE = st.one_of(st.sampled_from(KEY_PREFIXES), st.sampled_from(ANCHORS), st.sampled_from(SYNTAX),
                   st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8))
_UNIT = st.lists(_PIECE, min_size=1, max_size=4).map("".join)


@fuzz(150)
@given(_UNIT, st.integers(1, 400), st.sampled_from(NAMES))
def test_repeated_prefixes_and_anchors_scan_without_raising(unit: str, times: int, name: str) -> None:
    _scan(name, (unit * times).encode())


def _repeated(unit: str):  # type: ignore[no-untyped-def]
    return lambda size: (unit * (size // len(unit) + 1)).encode()[:size]


@fuzz(6, deep_share=0.05)
@given(_UNIT, st.sampled_from(["config.py", "settings.json", "app.ts", ".env"]))
def test_repeated_prefixes_and_anchors_cost_linear_time(unit: str, name: str) -> None:
    """Random mixtures of prefixes, anchors and syntax, repeated to 8 KB and to 32 KB: CPU time
    at most the generous ratio of tests/fuzzing.py (linear ~4x, quadratic ~16x), measured twice
    before a noisy machine is blamed."""
    size = 8000
    while cpu_seconds(lambda: scan_bytes(RULES, name, _repeated(unit)(size)), repeat=1) < 0.01 and size < 64_000:
        size *= 2  # the smaller run long enough for its time to mean something
    try:
        assert_linear_cpu(_repeated(unit), lambda data: scan_bytes(RULES, name, data), size, what=repr(unit))
    except AssertionError:
        assert_linear_cpu(_repeated(unit), lambda data: scan_bytes(RULES, name, data), size, what=repr(unit))
