"""No raw key leaves the process, whatever way it came in and whatever way it goes out.

Keys are planted in URL paths and queries (code, ``.env``, the environment), in file and
directory names, in registry fields, in config values and keys, in ``SHADOW_AGENTS_*``
variables, in ``--set``, ``--fail-on``, ``--format`` and path arguments, and in a saved
inventory written by a tool that did not redact. Every command is run through the installed
console script, in every format, and nothing it writes — stdout, stderr, report files — may
hold a key, or 16 characters in a row of one, even after undoing Markdown, HTML and URL
escapes (a key split by an escape is still a leak).
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from scanner.model import Coverage, Inventory
from tests.conftest import clean_environ
from tests.keys import make_key

CLI = shutil.which("shadow-agents") or str(Path(sys.executable).with_name("shadow-agents"))
FORMATS = ("json", "jsonl", "sarif", "cyclonedx", "csv", "markdown", "html", "table")

KEYS = {
    "url-path": make_key("openai-project", 11),
    "url-query": make_key("google-ai-studio", 12),
    "url-query-b64": make_key("aws-bedrock", 17),  # '+' and '/': percent-encoded in a URI
    "env-url": make_key("anthropic-api", 13),
    "dotenv-url": make_key("openrouter", 18),
    "dir-name": make_key("groq", 14),
    "file-name": make_key("huggingface", 15),
    "registry": make_key("xai", 16),
    "config": make_key("perplexity", 19),
    "argument": make_key("replicate", 20),
    "old-report": make_key("openai-project", 21),
}
WINDOW = 16


def _views(text: str) -> list[str]:
    """The text as written, and with Markdown, HTML and URL escapes undone."""
    return [text, text.replace("\\", ""), html.unescape(text), unquote(text)]


def assert_no_key(text: str, where: str) -> None:
    for label, key in KEYS.items():
        windows = {key[i:i + WINDOW] for i in range(len(key) - WINDOW + 1)}
        for view in _views(text):
            leaked = next((w for w in windows if w in view), None)
            assert leaked is None, f"{where}: {WINDOW} characters of the {label} key: {leaked!r}"


def run(*args: object, cwd: Path, home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = clean_environ(home)
    full_env.update(env or {})
    p = subprocess.run([CLI, *map(str, args)], cwd=cwd, env=full_env, capture_output=True, timeout=180,
                       encoding="utf-8", errors="strict")
    assert_no_key(p.stdout, f"stdout of {args}")
    assert_no_key(p.stderr, f"stderr of {args}")
    return p


def assert_files_clean(directory: Path) -> None:
    written = [p for p in directory.rglob("*") if p.is_file()]
    assert written
    for path in written:
        assert_no_key(path.read_text(encoding="utf-8"), f"file {path.name}")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A repository full of planted keys, a registry, a home and an output directory."""
    base = tmp_path_factory.mktemp("leaks")
    repo, out, home, inputs = base / "repo", base / "out", base / "home", base / "in"
    for d in (repo, out, home, inputs):
        d.mkdir()
    (repo / "requirements.txt").write_text("openai\nanthropic\n")
    (repo / "client.py").write_text(
        "import openai\n"
        f'client = openai.OpenAI(base_url="https://gateway.example.com/v1/{KEYS["url-path"]}/openai")\n'
        f'other = openai.OpenAI(base_url="https://llm.example.net/v1?key={KEYS["url-query"]}&token={KEYS["url-query-b64"]}")\n')
    (repo / ".env").write_text(f"OPENAI_BASE_URL=https://proxy.example.org/{KEYS['dotenv-url']}/v1\n")
    agent_dir = repo / f"bot-{KEYS['dir-name']}"
    agent_dir.mkdir()
    (agent_dir / "package.json").write_text('{"name": "bot", "dependencies": {"openai": "^4"}}\n')
    (agent_dir / f"{KEYS['file-name']}.py").write_text("import anthropic\nclient = anthropic.Anthropic()\n")
    registry = inputs / "agents.yaml"
    registry.write_text(
        "version: 1\nagents:\n"
        f"  - id: {KEYS['registry']}\n    name: {KEYS['registry']}\n"
        f"    owner: {KEYS['registry']}@example.com\n    purpose: {KEYS['registry']}\n"
        "    last_reviewed: 2026-01-01\n"
        f"    match:\n      repos: [github.com/acme/{KEYS['registry']}]\n")
    env = {"OPENAI_BASE_URL": f"https://gw.example.com/v1/{KEYS['env-url']}/x",
           "ANTHROPIC_BASE_URL": f"https://gw.example.com/v1?api_key={KEYS['env-url']}"}
    return {"base": base, "repo": repo, "out": out, "in": inputs, "home": home, "registry": registry,  # type: ignore[dict-item]
            "env": env}


@pytest.fixture(scope="module")
def scanned(planted) -> Path:
    """The planted repository scanned once (repo and env detectors, with the registry)."""
    saved = planted["out"] / "scan.json"
    r = run("scan", "-p", planted["repo"], "-d", "repo", "-d", "env", "--registry", planted["registry"],
            "-f", "json", "-o", saved, cwd=planted["repo"], home=planted["home"], env=planted["env"])
    assert r.returncode == 1, r.stderr
    inv = json.loads(saved.read_text())
    # the planted places were seen: the keys' previews are there, the keys are not
    text = saved.read_text()
    for label in ("url-path", "dir-name", "file-name", "env-url", "dotenv-url"):
        assert KEYS[label][:8] + "…" in text, label
    assert inv["agents"]
    return saved


@pytest.mark.parametrize("fmt", ("table", "markdown", "sarif", "csv"))  # every format: through `report` below
def test_scan_in_human_and_encoded_formats(planted, scanned, fmt):
    target = planted["out"] / f"scan-direct.{fmt}"
    r = run("scan", "-p", planted["repo"], "-d", "repo", "-d", "env", "--registry", planted["registry"], "-f", fmt,
            "-o", target, "-v", cwd=planted["repo"], home=planted["home"], env=planted["env"])
    assert r.returncode == 1, r.stderr
    assert_no_key(target.read_text(encoding="utf-8"), f"scan -f {fmt}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_report_in_every_format_to_stdout_and_file(planted, scanned, fmt):
    assert run("report", scanned, "-f", fmt, cwd=planted["base"], home=planted["home"]).returncode == 0
    target = planted["out"] / f"report.{fmt}"
    assert run("report", scanned, "-f", fmt, "-o", target, cwd=planted["base"], home=planted["home"]).returncode == 0
    assert_no_key(target.read_text(encoding="utf-8"), f"report -f {fmt}")


@pytest.mark.parametrize("fmt", ("json", "csv", "cyclonedx", "markdown"))
def test_merge_with_the_registry(planted, scanned, fmt):
    target = planted["out"] / f"merged.{fmt}"
    r = run("merge", scanned, scanned, "--registry", planted["registry"], "-f", fmt, "-o", target,
            cwd=planted["base"], home=planted["home"])
    assert r.returncode == 0, r.stderr
    assert_no_key(target.read_text(encoding="utf-8"), f"merge -f {fmt}")


def test_diff_registry_init_and_schema(planted, scanned):
    base, home = planted["base"], planted["home"]
    empty = planted["in"] / "empty.json"
    empty.write_text(Inventory([], [], [Coverage("repo")], {"tool": "shadow-agents", "version": "0.1.0"}).to_json())
    for args in (("diff", empty, scanned), ("diff", scanned, empty, "-f", "json"), ("diff", scanned, scanned),
                 ("registry", "init", "--from", scanned), ("schema",), ("formats",), ("detectors",)):
        assert run(*args, cwd=base, home=home).returncode == 0, args
    reg = planted["out"] / "starter.yaml"
    assert run("registry", "init", "--from", scanned, "-o", reg, cwd=base, home=home).returncode == 0
    assert run("registry", "check", reg, cwd=base, home=home).returncode == 0
    assert_no_key(reg.read_text(), "registry init -o")


# (registry body, is the planted value quoted in the message?)
BAD_REGISTRIES = {
    "bad date": ("  - id: a\n    owner: o\n    created: {key}\n", True),
    "bad integer": ("  - id: a\n    owner: o\n    review_every_days: {key}\n", True),
    "unknown field": ("  - id: a\n    owner: o\n    {key}: 1\n", True),
    "unknown match field": ("  - id: a\n    owner: o\n    match:\n      {key}: [x]\n", True),
    "bad match value": ("  - id: a\n    owner: o\n    match:\n      hosts: {{{key}: 1}}\n", False),
    "duplicate id": ("  - id: {key}\n    owner: o\n  - id: {key}\n    owner: o\n", True),
    "missing owner": ("  - id: {key}\n", True),
    "bad YAML": ("  - id: [{key}\n", False),
}


def bad_registry(planted: dict[str, Path], case: str) -> tuple[Path, bool]:
    reg = planted["in"] / f"bad-{case.replace(' ', '-')}.yaml"
    body, quoted = BAD_REGISTRIES[case]
    reg.write_text("version: 1\nagents:\n" + body.format(key=KEYS["registry"]))
    return reg, quoted


def assert_error_line(r: subprocess.CompletedProcess[str], quoted: bool) -> None:
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert not quoted or KEYS["registry"][:8] + "…" in r.stderr, r.stderr  # the value, redacted


@pytest.mark.parametrize("case", BAD_REGISTRIES)
def test_registry_check_errors(planted, case):
    reg, quoted = bad_registry(planted, case)
    assert_error_line(run("registry", "check", reg, cwd=planted["base"], home=planted["home"]), quoted)


@pytest.mark.parametrize("case", ["bad date", "duplicate id"])
def test_registry_errors_in_merge_and_scan(planted, scanned, case):
    reg, quoted = bad_registry(planted, case)
    for args in (("merge", scanned, "--registry", reg), ("scan", "-p", planted["repo"], "-d", "repo", "--registry", reg)):
        assert_error_line(run(*args, cwd=planted["base"], home=planted["home"]), quoted)


@pytest.mark.parametrize("label, args, env", [
    ("--fail-on", ["--fail-on", "{key}"], {}),
    ("--format", ["-f", "{key}"], {}),
    ("--detector", ["-d", "{key}"], {}),
    ("--path", ["-p", "/nonexistent/{key}"], {}),
    ("--set value", ["--set", "repo.max_file_size={key}"], {}),
    ("--set malformed", ["--set", "{key}"], {}),
    ("--registry path", ["--registry", "/nonexistent/{key}.yaml"], {}),
    ("--baseline path", ["--baseline", "/nonexistent/{key}.json"], {}),
    ("--timeout", ["--timeout", "{key}"], {}),
    ("SHADOW_AGENTS_FAIL_ON", [], {"SHADOW_AGENTS_FAIL_ON": "{key}"}),
    ("SHADOW_AGENTS_TIMEOUT", [], {"SHADOW_AGENTS_TIMEOUT": "{key}"}),
    ("SHADOW_AGENTS_STRICT", [], {"SHADOW_AGENTS_STRICT": "{key}"}),
    ("SHADOW_AGENTS_CONFIG", [], {"SHADOW_AGENTS_CONFIG": "/nonexistent/{key}.toml"}),
    ("unknown option", ["--{key}"], {}),
    ("extra argument", ["{key}"], {}),
])
def test_argument_and_environment_errors(planted, label, args, env):
    key = KEYS["argument"]
    r = run("scan", "-d", "repo", "-p", planted["repo"], *(a.format(key=key) for a in args), cwd=planted["base"],
            home=planted["home"], env={k: v.format(key=key) for k, v in env.items()})
    assert r.returncode == 2, (label, r.stdout[:200], r.stderr)
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("body", [
    'format = "{key}"\n',
    'timeout = "{key}"\n',
    '{key} = 1\n',
    'fail_on = "{key}"\n',
    '[detectors.repo]\nmax_file_size = "{key}"\n',
    'paths = [\n',  # invalid TOML, whose message quotes the line
])
def test_config_file_errors(planted, body):
    config = planted["in"] / "leaky.toml"
    config.write_text(f"# {KEYS['config']}\n" + body.format(key=KEYS["config"]))
    r = run("scan", "-d", "repo", "-p", planted["repo"], "--config", config, cwd=planted["base"], home=planted["home"])
    assert r.returncode == 2, (body, r.stderr)
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr


def test_a_report_from_a_tool_that_did_not_redact(planted, scanned):
    """An inventory holding raw keys (an older version, a hand edit) is redacted on the way in."""
    key = KEYS["old-report"]
    inv = json.loads(scanned.read_text())
    f = inv["findings"][0]
    f["evidence"] = f"api_key={key}"
    f["details"] = {"url": f"https://h.example.com/v1/{key}", key: "as a key"}
    f["location"]["path"] = f"/srv/{key}/app.py"
    f["identity"] = f["identity"] + [f"repo:/srv/{key}:."]
    inv["agents"][0]["name"] = key
    inv["agents"][0]["locations"] = [f"/srv/{key}/app.py"]
    inv["coverage"][0]["reason"] = f"could not read /srv/{key}"
    inv["metadata"]["paths"] = [f"/srv/{key}"]
    old = planted["in"] / "old.json"
    old.write_text(json.dumps(inv))
    base, home = planted["base"], planted["home"]
    for fmt in FORMATS:
        target = planted["out"] / f"old-report.{fmt}"
        assert run("report", old, "-f", fmt, "-o", target, cwd=base, home=home).returncode == 0, fmt
    for args in (("diff", scanned, old), ("diff", old, scanned, "-f", "json"), ("merge", old, scanned),
                 ("registry", "init", "--from", old)):
        assert run(*args, cwd=base, home=home).returncode == 0, args
    laid_out = planted["in"] / "old-laid-out.json"  # in this tool's layout: read a chunk at a time, the key gate's
    f["identity"] = sorted(f["identity"])  # ... and the finding in the model's own form: the structs take it
    laid_out.write_text(json.dumps(inv, indent=2, sort_keys=True))
    for k, args in enumerate((("report", old, "-f", "json"), ("report", laid_out, "-f", "json"),
                              ("merge", old, scanned, "-f", "json"), ("merge", laid_out, scanned, "-f", "json"))):
        with open(planted["out"] / f"stdout-{k}.json", "wb") as fh:  # written as it is read, no spool
            p = subprocess.run([CLI, *map(str, args)], cwd=base, env=clean_environ(home), stdout=fh,
                               stderr=subprocess.PIPE, timeout=180)
        assert p.returncode == 0, p.stderr
        assert_no_key(p.stderr.decode(), f"stderr of {args}")
    assert_files_clean(planted["out"])


def test_every_file_written_is_clean(planted, scanned):
    """Last: whatever the tests above wrote into the output directory."""
    assert_files_clean(planted["out"])
