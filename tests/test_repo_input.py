"""Bad input, walking rules, parallel scanning, and the leak test through the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scanner.redact import fingerprint
from tests.keys import SHAPES, make_key
from tests.test_repo_support import commit_all, credentials, init_repo, scan, write


def test_non_utf8_minified_invalid_json_yaml_do_not_stop_the_scan(tmp_path: Path) -> None:
    key = make_key("groq", seed=50)
    big = make_key("openrouter", seed=50)
    write(tmp_path / "latin1.py", b"# caf\xe9 \xff\xfe\nGROQ = '" + key.encode() + b"'\n")
    write(tmp_path / "bundle.min.js", ("var a=1;" * 130_000) + f'k="{big}";' + ("b=2;" * 10_000))
    write(tmp_path / ".mcp.json", '{"mcpServers": {"x": ')
    write(tmp_path / "s.yaml", "kind: Secret\ndata:\n  a: [unclosed\n")
    write(tmp_path / "deep.json", "[" * 5000 + "]" * 5000)
    findings, cov = scan(tmp_path)
    found = credentials(findings)
    assert fingerprint(key) in found and found[fingerprint(key)].location.line == 2
    assert fingerprint(big) in found and found[fingerprint(big)].location.line == 1
    bad = [f for f in findings if f.kind == "agent-config" and "error" in f.details]
    assert bad and "not valid JSON" in bad[0].details["error"]
    assert cov.scanned["files"] == 5


def test_symlink_loop_broken_link_and_binary_are_coverage_not_crashes(tmp_path: Path) -> None:
    root = tmp_path / "t"
    write(root / "sub" / "a.py", "import openai\nclient = openai.OpenAI()\n")
    os.symlink(root, root / "sub" / "loop")
    os.symlink(root / "missing", root / "dangling")
    os.symlink("self", root / "self")
    write(root / "blob.bin", b"\x00\x01sk-" + b"a" * 100)
    findings, cov = scan(root)
    reasons = {Path(g.what).name: g.reason for g in cov.gaps}
    assert reasons["loop"] == "symbolic link loop"
    assert reasons["dangling"] == "broken symbolic link"
    assert "loop" in reasons["self"]
    assert cov.scanned["binary_files_skipped"] == 1
    assert [f.kind for f in findings] == ["sdk-usage"]


def test_large_files_are_skipped_and_reported(tmp_path: Path) -> None:
    key = make_key("xai", seed=51)
    write(tmp_path / "big.txt", "x" * 5000 + key)
    findings, cov = scan(tmp_path, max_file_size=1000)
    assert findings == []
    assert "max_file_size" in cov.gaps[0].reason and cov.gaps[0].what.endswith("big.txt")


def test_vendored_directories_skipped_unless_asked(tmp_path: Path) -> None:
    write(tmp_path / "node_modules" / "openai" / "index.js", "const x = require('openai')\n")
    write(tmp_path / "env" / "pyvenv.cfg", "home = /usr\n")
    write(tmp_path / "env" / "lib" / "m.py", "import anthropic\n")
    write(tmp_path / "app.py", "import groq\n")
    findings, cov = scan(tmp_path)
    assert {Path(f.location.path).name for f in findings} == {"app.py"}
    assert cov.scanned["vendored_dirs_skipped"] == 2
    findings, _ = scan(tmp_path, include_vendored=True)
    assert {Path(f.location.path).name for f in findings} == {"app.py", "index.js", "m.py"}


def test_bad_option_values_are_refused_by_the_declarations(tmp_path: Path) -> None:
    from detectors.repo import RepoDetector
    from scanner.errors import UserError
    from scanner.options import convert_all, declared
    with pytest.raises(UserError, match="repo.max_file_size: expected a number like 10MB, got 'ten'"):
        convert_all("repo", {"max_file_size": "ten"}, declared(RepoDetector.options), "--set")


def test_single_file_and_several_paths(tmp_path: Path) -> None:
    a = write(tmp_path / "a" / "k.env", f"GROQ_API_KEY={make_key('groq', 60)}\n")
    b = write(tmp_path / "b" / "x.py", "import openai\n")
    findings, _ = scan(a, b.parent)
    assert {Path(f.location.path).name for f in findings} == {"k.env", "x.py"}


def test_parallel_workers_give_the_same_findings(tmp_path: Path) -> None:
    for i in range(40):
        write(tmp_path / f"d{i % 4}" / f"f{i}.py",
              f"import openai\nK = '{make_key('deepseek', i)}'\nm = 'gpt-4o'\n" + "# filler\n" * 200)
    serial, _ = scan(tmp_path, workers=1)
    parallel, cov = scan(tmp_path, workers=2, parallel_min_files=0)
    assert sorted(f.id for f in serial) == sorted(f.id for f in parallel)
    assert len(credentials(parallel)) == 40 and cov.scanned["files"] == 40


def test_findings_are_deterministic(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r", remote="git@github.com:acme/d.git")
    write(repo / "a.py", f"import openai\nK='{make_key('openai-project', 1)}'\n")
    commit_all(repo, "x")
    one = [f.to_dict() for f in scan(repo, history=True)[0]]
    two = [f.to_dict() for f in scan(repo, history=True)[0]]
    assert sorted(json.dumps(d, sort_keys=True) for d in one) == sorted(json.dumps(d, sort_keys=True) for d in two)


def _plant_all_shapes(root: Path) -> list[str]:
    keys = []
    for i, shape in enumerate(sorted(SHAPES)):
        key = make_key(shape, seed=100 + i)
        keys.append(key)
    env_lines = [f"MISTRAL_API_KEY={keys[sorted(SHAPES).index('mistral')]}",
                 f"COHERE_API_KEY={keys[sorted(SHAPES).index('cohere')]}",
                 f"AZURE_OPENAI_API_KEY={keys[sorted(SHAPES).index('azure-openai')]}"]
    write(root / ".env", "\n".join(env_lines) + "\n")
    write(root / "keys.py", "import openai\n" + "".join(f"K{i} = '{k}'\n" for i, k in enumerate(keys)))
    write(root / ".mcp.json", json.dumps({"mcpServers": {"s": {"command": "x", "args": ["--key", keys[0]],
                                                                "env": {"OPENAI_API_KEY": keys[1]}}}}))
    return keys


@pytest.mark.parametrize("fmt", ["json", "jsonl", "table"])
def test_no_raw_key_in_any_output(run_cli, workdir: Path, fmt: str) -> None:
    repo = init_repo(workdir / "proj")
    keys = _plant_all_shapes(repo)
    commit_all(repo, "keys")
    removed = make_key("anthropic-admin", seed=77)
    write(repo / "old.env", f"ANTHROPIC_ADMIN_API_KEY={removed}\n")
    commit_all(repo, "old key")
    (repo / "old.env").unlink()
    commit_all(repo, "rm")
    out_file = workdir / f"out.{fmt}"
    r = run_cli("scan", "-p", str(repo), "-d", "repo", "--set", "repo.history=true", "-f", fmt,
                "-o", str(out_file), "-v")
    assert r.code in (0, 1), r.err
    text = out_file.read_text(encoding="utf-8") + r.out + r.err
    for key in keys + [removed]:
        assert key not in text
    if fmt == "json":
        data = json.loads(out_file.read_text(encoding="utf-8"))
        fps = {f["credential"]["fingerprint"] for f in data["findings"] if f.get("credential")}
        assert {fingerprint(k) for k in keys + [removed]} <= fps


def test_missing_path_is_a_usage_error(run_cli, workdir: Path) -> None:
    r = run_cli("scan", "-p", str(workdir / "nope"), "-d", "repo")
    assert r.code == 2 and "does not exist" in r.err


def test_without_the_optional_accelerator_results_are_identical(tmp_path: Path, monkeypatch) -> None:
    import detectors.repo.rules as rules_module
    if rules_module.ahocorasick_rs is None:
        pytest.skip("ahocorasick-rs not installed: the fallback is the only path")
    _plant_all_shapes(tmp_path)
    write(tmp_path / "more.py", "task-key = 'x'\nMY_TOKEN: abc\napiKey: 'short'\n" * 50
          + "client = OpenAI(base_url='http://localhost:11434/v1')\nurl = 'https://api.mistral.ai/v1/chat'\n")
    fast, _ = scan(tmp_path)
    monkeypatch.setattr(rules_module, "ahocorasick_rs", None)
    slow, _ = scan(tmp_path)
    assert sorted(f.id for f in fast) == sorted(f.id for f in slow) and len(credentials(slow)) == len(SHAPES)
