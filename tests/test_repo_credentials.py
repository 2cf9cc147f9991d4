"""Keys in every kind of file the repo detector reads, and the look-alikes it must leave alone."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from scanner.redact import fingerprint
from tests.keys import make_key
from tests.test_repo_support import credentials, scan, write

SELF_IDENTIFYING = [
    "openai-project", "openai-legacy", "openai-service-account", "openai-admin", "anthropic-api",
    "anthropic-admin", "google-ai-studio", "groq", "huggingface", "replicate", "perplexity", "xai", "openrouter",
    "deepseek", "fireworks", "together", "cerebras", "langsmith", "aws-bedrock",
]
EXPECTED_PROVIDER = {
    "openai-project": "openai", "openai-legacy": "openai", "openai-service-account": "openai",
    "openai-admin": "openai", "anthropic-api": "anthropic", "anthropic-admin": "anthropic",
    "google-ai-studio": "google-gemini", "groq": "groq", "huggingface": "huggingface", "replicate": "replicate",
    "perplexity": "perplexity", "xai": "xai", "openrouter": "openrouter", "deepseek": "deepseek",
    "fireworks": "fireworks", "together": "together", "cerebras": "cerebras", "langsmith": "langsmith",
    "aws-bedrock": "aws-bedrock",
}


def _line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


@pytest.mark.parametrize("shape", SELF_IDENTIFYING)
def test_every_self_identifying_format_is_found_with_provider_and_line(tmp_path: Path, shape: str) -> None:
    key = make_key(shape, seed=7)
    f = write(tmp_path / "app" / "settings.py", f'import os\n\nCLIENT_KEY = "{key}"\n')
    found = credentials(scan(tmp_path)[0])
    assert fingerprint(key) in found, shape
    finding = found[fingerprint(key)]
    assert finding.provider == EXPECTED_PROVIDER[shape]
    assert finding.location.path == str(f) and finding.location.line == 3
    assert key not in json.dumps(finding.to_dict())


def test_admin_keys_are_marked_admin(tmp_path: Path) -> None:
    key = make_key("openai-admin", seed=3)
    write(tmp_path / "ops.env", f"OPENAI_ADMIN_KEY={key}\n")
    finding = credentials(scan(tmp_path)[0])[fingerprint(key)]
    assert finding.credential.admin is True


def test_keys_in_each_file_type(tmp_path: Path) -> None:
    """.env, YAML, JSON, TOML, notebook outputs, k8s Secret, tfvars, compose, shell, CI workflow."""
    k = {name: make_key(shape, seed=i) for i, (name, shape) in enumerate([
        ("env", "groq"), ("yaml", "anthropic-api"), ("json", "openrouter"), ("toml", "xai"),
        ("ipynb", "openai-project"), ("k8s", "huggingface"), ("tfvars", "perplexity"),
        ("compose", "replicate"), ("shell", "google-ai-studio"), ("ci", "deepseek"),
    ])}
    files = {
        "env": write(tmp_path / ".env.production", f"GROQ_API_KEY={k['env']}\n"),
        "yaml": write(tmp_path / "config" / "llm.yaml", f"llm:\n  provider: anthropic\n  key: {k['yaml']}\n"),
        "json": write(tmp_path / "config" / "keys.json", json.dumps({"router": {"token": k["json"]}}, indent=2)),
        "toml": write(tmp_path / "pyproject.toml", f'[tool.bot]\nname = "x"\nxai = "{k["toml"]}"\n'),
        "ipynb": write(tmp_path / "nb" / "explore.ipynb", json.dumps({
            "cells": [{"cell_type": "code", "source": ["import os\n", "print(os.environ['OPENAI_API_KEY'])"],
                       "outputs": [{"output_type": "stream", "name": "stdout", "text": [f"{k['ipynb']}\n"]}]}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)),
        "k8s": write(tmp_path / "deploy" / "secret.yaml",
                     "apiVersion: v1\nkind: Secret\nmetadata:\n  name: llm\ntype: Opaque\ndata:\n"
                     f"  HF_TOKEN: {base64.b64encode(k['k8s'].encode()).decode()}\n"),
        "tfvars": write(tmp_path / "infra" / "prod.tfvars", f'region = "eu"\npplx_api_key = "{k["tfvars"]}"\n'),
        "compose": write(tmp_path / "docker-compose.yml",
                         f"services:\n  bot:\n    environment:\n      - REPLICATE_API_TOKEN={k['compose']}\n"),
        "shell": write(tmp_path / "scripts" / "run.sh", f"#!/bin/sh\nexport GEMINI_API_KEY='{k['shell']}'\n"),
        "ci": write(tmp_path / ".github" / "workflows" / "ci.yml",
                    f"jobs:\n  t:\n    env:\n      DEEPSEEK_API_KEY: {k['ci']}\n"),
    }
    findings, cov = scan(tmp_path)
    found = credentials(findings)
    for name, key in k.items():
        assert fingerprint(key) in found, name
        assert found[fingerprint(key)].location.path == str(files[name]), name
    assert found[fingerprint(k["k8s"])].details.get("base64") is True
    assert found[fingerprint(k["k8s"])].location.line == 7
    assert found[fingerprint(k["env"])].location.line == 1
    assert cov.gaps == []


@pytest.mark.parametrize("shape,var,provider", [
    ("mistral", "MISTRAL_API_KEY", "mistral"),
    ("cohere", "CO_API_KEY", "cohere"),
    ("azure-openai", "AZURE_OPENAI_API_KEY", "azure-openai"),
])
def test_formatless_keys_found_by_assignment_to_their_variable(tmp_path: Path, shape: str, var: str,
                                                               provider: str) -> None:
    key = make_key(shape, seed=11)
    write(tmp_path / ".env", f"# {var}\n{var}={key}\n")
    write(tmp_path / "values.yaml", f"env:\n  - name: {var}\n    value: \"{key}x\"\n")  # not the same value
    write(tmp_path / "cfg.json", json.dumps({var: key}))
    found = credentials(scan(tmp_path)[0])
    assert found[fingerprint(key)].provider == provider
    assert found[fingerprint(key)].details["assigned_to"] == var
    assert found[fingerprint(key)].location.line in (1, 2)


def test_formatless_key_as_sdk_argument(tmp_path: Path) -> None:
    mistral = make_key("mistral", seed=2)
    azure = make_key("azure-openai", seed=2)
    write(tmp_path / "bot.py", "from mistralai import Mistral\nfrom openai import AzureOpenAI\n"
                               f'm = Mistral(api_key="{mistral}")\n'
                               f'a = AzureOpenAI(azure_endpoint="https://x.openai.azure.com", api_key="{azure}")\n')
    found = credentials(scan(tmp_path)[0])
    assert found[fingerprint(mistral)].provider == "mistral"
    assert found[fingerprint(azure)].provider == "azure-openai"


def test_kubernetes_secret_env_name_gives_formatless_key_its_provider(tmp_path: Path) -> None:
    key = make_key("cohere", seed=5)
    write(tmp_path / "s.yaml", "apiVersion: v1\nkind: Secret\ndata:\n"
                               f"  COHERE_API_KEY: {base64.b64encode(key.encode()).decode()}\n")
    found = credentials(scan(tmp_path)[0])
    assert found[fingerprint(key)].provider == "cohere"


def test_kubernetes_secret_in_json_is_decoded_too(tmp_path: Path) -> None:
    key = make_key("mistral", seed=6)
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bot"},
           "data": {"MISTRAL_API_KEY": base64.b64encode(key.encode()).decode()}}
    write(tmp_path / "secret.json", json.dumps(doc, indent=2))
    found = credentials(scan(tmp_path)[0])
    assert found[fingerprint(key)].provider == "mistral" and found[fingerprint(key)].details["base64"] is True


NEGATIVES = [
    'OPENAI_API_KEY="sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
    "OPENAI_API_KEY=your-api-key",
    "OPENAI_API_KEY=<OPENAI_API_KEY>",
    "OPENAI_API_KEY=${OPENAI_API_KEY}",
    'key = os.environ["OPENAI_API_KEY"]',
    "GROQ_API_KEY=gsk_" + "0" * 52,
    "GROQ_API_KEY=gsk_" + "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    'api_key = "sk-proj-your-key-here"',
    "MISTRAL_API_KEY=" + "x" * 32,
    "COHERE_API_KEY=" + "a1" * 20,
    "checksum = d41d8cd98f00b204e9800998ecf8427e",
    "sha256 = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "request_id = 123e4567-e89b-12d3-a456-426614174000",
    "token = AIzaSyTRUNCATED",
    "# see https://platform.openai.com/docs sk-proj-...",
    "hf_hub_download(repo_id='x')  # hf_" + "a" * 10,
    "task-" + "0123456789abcdef" * 2,
]


def test_placeholders_and_look_alikes_are_not_findings(tmp_path: Path) -> None:
    write(tmp_path / "examples.env", "\n".join(NEGATIVES) + "\n")
    write(tmp_path / "examples.py", "\n".join(NEGATIVES) + "\n")
    findings, _ = scan(tmp_path)
    assert [f for f in findings if f.kind == "credential"] == []


def test_bare_formatless_value_without_context_is_not_a_key(tmp_path: Path) -> None:
    write(tmp_path / "data.txt", f"id {make_key('mistral', 9)}\nhash {make_key('azure-openai', 9)}\n")
    assert [f for f in scan(tmp_path)[0] if f.kind == "credential"] == []


def test_key_inside_longer_token_is_not_reported(tmp_path: Path) -> None:
    key = make_key("google-ai-studio", seed=4)
    write(tmp_path / "blob.txt", "xx" + key + "MORE\n")
    assert credentials(scan(tmp_path)[0]) == {}


def test_same_key_twice_is_one_fingerprint_two_locations(tmp_path: Path) -> None:
    key = make_key("groq", seed=8)
    write(tmp_path / "a" / "x.env", f"GROQ_API_KEY={key}\n")
    write(tmp_path / "b" / "y.env", f"GROQ_API_KEY={key}\n")
    findings = [f for f in scan(tmp_path)[0] if f.kind == "credential"]
    assert len(findings) == 2
    assert {f.credential.fingerprint for f in findings} == {fingerprint(key)}
    assert all(f"cred:{fingerprint(key)}" in f.identity for f in findings)


def test_formatless_key_printed_in_notebook_output(tmp_path: Path) -> None:
    key = make_key("mistral", seed=12)
    nb = {"cells": [{"cell_type": "code", "source": ["print(cfg)"], "outputs": [
        {"output_type": "stream", "name": "stdout", "text": [f'MISTRAL_API_KEY = "{key}"\n']}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(tmp_path / "n.ipynb", json.dumps(nb, indent=1))
    found = credentials(scan(tmp_path)[0])
    assert found[fingerprint(key)].provider == "mistral"
