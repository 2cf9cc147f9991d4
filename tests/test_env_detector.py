"""The env detector on real files and a real process environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.base import ScanContext
from detectors.env import EnvDetector, parse_assignment
from scanner.catalog import Catalog
from scanner.model import Coverage
from scanner.redact import fingerprint
from tests.keys import make_key


def run_env(paths: list[Path]) -> tuple[list, Coverage]:
    cov = Coverage(detector="env")
    ctx = ScanContext(detector="env", catalog=Catalog.load(), paths=paths, options={}, coverage=cov,
                      hostname="h1", username="alice")
    return list(EnvDetector().run(ctx)), cov


@pytest.mark.parametrize("line,expected", [
    ('export OPENAI_API_KEY="abc def"  # comment', ("OPENAI_API_KEY", "abc def")),
    ("OPENAI_API_KEY='x#y'", ("OPENAI_API_KEY", "x#y")),
    ("OPENAI_API_KEY = value # trailing", ("OPENAI_API_KEY", "value")),
    ("set -gx GROQ_API_KEY value", ("GROQ_API_KEY", "value")),
    ("setenv GROQ_API_KEY value", ("GROQ_API_KEY", "value")),
    ("# OPENAI_API_KEY=commented", None),
    ("echo hello", None),
])
def test_parse_assignment(line, expected):
    assert parse_assignment(line) == expected


def test_profiles_dotenv_and_process_environment(clean_env, home: Path, tmp_path: Path, monkeypatch):
    anthropic, groq, mistral, gemini = (make_key("anthropic-api", 1), make_key("groq", 1),
                                        make_key("mistral", 1), make_key("google-ai-studio", 1))
    (home / ".bashrc").write_text(f'export ANTHROPIC_API_KEY="{anthropic}"\nexport PATH=$PATH:/x\n')
    (home / ".config/fish").mkdir(parents=True)
    (home / ".config/fish/config.fish").write_text(f"set -gx MISTRAL_API_KEY {mistral}\n")
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".env.local").write_text(
        f"MY_CUSTOM_LLM={groq}\nOPENAI_API_KEY=your-api-key-here\nOPENAI_BASE_URL=https://u:p@myres.openai.azure.com/v1\n")
    monkeypatch.setenv("GEMINI_API_KEY", gemini)
    findings, cov = run_env([project])
    by_fp = {f.credential.fingerprint: f for f in findings if f.credential}
    assert by_fp[fingerprint(anthropic)].provider == "anthropic"
    assert by_fp[fingerprint(anthropic)].location.line == 1
    assert by_fp[fingerprint(mistral)].provider == "mistral"  # formatless, found by its variable name
    assert by_fp[fingerprint(groq)].provider == "groq"  # unknown variable, known key shape
    assert by_fp[fingerprint(gemini)].location.path is None  # from the process environment
    assert "shell:h1:alice" in by_fp[fingerprint(anthropic)].identity
    assert any(k.startswith("repo:") for k in by_fp[fingerprint(groq)].identity)
    assert len(by_fp) == 4  # the placeholder is not a finding
    endpoint = next(f for f in findings if f.kind == "endpoint-config")
    assert endpoint.provider == "azure-openai" and "u:p" not in endpoint.endpoint
    dump = repr([f.to_dict() for f in findings])
    for secret in (anthropic, groq, mistral, gemini, "u:p@"):
        assert secret not in dump
    assert cov.complete and cov.scanned["sources"] >= 3


def test_profile_that_is_a_directory_is_a_gap(clean_env, home: Path):
    (home / ".zshrc").mkdir()
    findings, cov = run_env([])
    assert cov.status.value == "partial" and "unreadable" in cov.gaps[0].reason
