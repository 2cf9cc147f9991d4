"""Every key format's own examples and non-examples (scanner/data/providers.yaml) through every path.

Each example is planted three ways and scanned for real, once per path for the whole module:
repo (a file in a tmp git repository, the installed CLI), env (a ``.env`` file in a scanned
directory, the CLI's env detector) and process (a planted subprocess with a unique executable
name holding the value in its environment). An example must come out as its own format; a
non-example must never be taken for that format. Self-identifying keys are planted under a
neutral name, formatless (``context_only``) ones under their provider's key variable; AWS keys
(``requires_usage``) sit next to a Bedrock signal in the same unit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scanner.catalog import Catalog, KeyFormat
from scanner.errors import InputError
from scanner.redact import fingerprint
from tests.conftest import CLI, clean_environ

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from process_bench import Holder  # noqa: E402

CATALOG = Catalog.load()
FORMATS = sorted(CATALOG.key_formats, key=lambda k: k.id)
NEUTRAL = "CLIENT_KEY"
VARIABLE = {"aws-secret-access-key": "AWS_SECRET_ACCESS_KEY"}  # formats whose provider has several key vars
BEDROCK_USE = "CLAUDE_CODE_USE_BEDROCK"
SLEEP = shutil.which("sleep") or "/bin/sleep"
PATHS = ("repo", "env", "process")


def variable(fmt: KeyFormat) -> str:
    if not fmt.context_only:
        return NEUTRAL
    return VARIABLE.get(fmt.id) or CATALOG.providers[fmt.provider].env_keys[0]


def planted() -> list[tuple[str, str, int, str]]:
    """(format id, "example" | "non-example", index, value) for every value in the catalogue."""
    out = []
    for fmt in FORMATS:
        out += [(fmt.id, "example", i, v) for i, v in enumerate(fmt.examples)]
        out += [(fmt.id, "non-example", i, v) for i, v in enumerate(fmt.non_examples)]
    return out


PLANTED = planted()


def slug(fid: str, kind: str, i: int) -> str:
    return f"{fid}-{'x' if kind == 'example' else 'n'}{i}"


def run_cli(args: list[str], home: Path, cwd: Path) -> dict:
    cmd = [CLI] if CLI else [sys.executable, "-m", "scanner"]
    p = subprocess.run([*cmd, "scan", *args, "-f", "json", "--fail-on", "none"], env=clean_environ(home),
                       capture_output=True, text=True, timeout=300, cwd=cwd)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def by_fingerprint(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in report["findings"]:
        if f["kind"] == "credential" and f.get("credential"):
            out.setdefault(f["credential"]["fingerprint"], []).append(f)
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[dict]]]:
    """Findings by fingerprint, per path; each path scanned once for every planted value."""
    tmp = tmp_path_factory.mktemp("key-formats")
    home = tmp / "home"
    home.mkdir()
    fmts = {k.id: k for k in FORMATS}
    out: dict[str, dict[str, list[dict]]] = {}

    repo = tmp / "repo"
    for fid, kind, i, value in PLANTED:
        fmt = fmts[fid]
        use = 'import boto3\nclient = boto3.client("bedrock-runtime")\n' if fmt.requires_usage else ""
        (repo / "config").mkdir(parents=True, exist_ok=True)
        (repo / "config" / f"{slug(fid, kind, i)}.py").write_text(
            f'{use}{variable(fmt)} = "{value}"\n', encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "planted"], check=True)
    out["repo"] = by_fingerprint(run_cli(["-d", "repo", "-p", str(repo)], home, tmp))

    dirs = []
    for fid, kind, i, value in PLANTED:
        d = tmp / "env" / slug(fid, kind, i)
        d.mkdir(parents=True)
        use = f"{BEDROCK_USE}=1\n" if fmts[fid].requires_usage else ""
        (d / ".env").write_text(f"{use}{variable(fmts[fid])}={value}\n", encoding="utf-8")
        dirs += ["-p", str(d)]
    out["env"] = by_fingerprint(run_cli(["-d", "env", *dirs], home, tmp))

    bindir = tmp / "bin"
    bindir.mkdir()
    specs = []
    for n, (fid, kind, i, value) in enumerate(PLANTED):
        exe = bindir / f"keyfmt{n:03d}"  # a unique executable name per planted value
        shutil.copy2(SLEEP, exe)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), variable(fmts[fid]): value}
        if fmts[fid].requires_usage:
            env[BEDROCK_USE] = "1"
        specs.append({"argv": [str(exe), "600"], "env": env})
    with Holder(specs) as started:
        report = run_cli(["-d", "process"], home, tmp)
        pids = [s["pid"] for s in started]
    found = by_fingerprint(report)
    for fp, fs in found.items():  # keep only what the planted processes hold
        found[fp] = [f for f in fs if set(f["details"].get("pids", [])) & set(pids)]
    out["process"] = found
    return out


CASES = [pytest.param(fid, kind, i, value, path, id=f"{path}-{slug(fid, kind, i)}")
         for fid, kind, i, value in PLANTED for path in PATHS]


@pytest.mark.parametrize("fid,kind,i,value,path", CASES)
def test_format_examples(results, fid: str, kind: str, i: int, value: str, path: str) -> None:
    fmt = next(k for k in FORMATS if k.id == fid)
    found = results[path].get(fingerprint(value), [])
    as_format = [f for f in found if f["credential"].get("key_type") == fid]
    if kind == "example":
        named = [f["credential"].get("key_type") for f in found]
        assert as_format, f"{path}: example {i} of {fid} is not found as {fid} (found as {named})"
        assert all(f["provider"] == fmt.provider for f in as_format)
    else:
        assert not as_format, f"{path}: non-example {i} of {fid} is taken for {fid}"
        if not fmt.context_only and path != "env":  # a neutral name: nothing else may claim it either
            assert not found, f"{path}: non-example {i} of {fid} is reported as a key"


def test_every_format_has_examples_and_non_examples() -> None:
    missing = [k.id for k in FORMATS if not k.examples or not k.non_examples]
    assert not missing, f"key formats without examples or non-examples: {missing}"
    assert len(FORMATS) >= 57


def test_examples_are_checked_against_the_regex(tmp_path: Path) -> None:
    entry = dict(CATALOG.providers["groq"].raw)
    entry["keys"] = [{**entry["keys"][0], "examples": ["gsk_tooShort"]}]
    ext = tmp_path / "bad.yaml"
    ext.write_text(yaml.safe_dump({"schema_version": 1, "providers": [entry]}), encoding="utf-8")
    with pytest.raises(InputError, match=r"examples\[0\] does not match") as err:
        Catalog.load([ext])
    assert "gsk_tooShort" not in str(err.value)  # a value in an error could be a real key
    entry["keys"] = [{**entry["keys"][0], "examples": [], "non_examples": [7]}]
    ext.write_text(yaml.safe_dump({"schema_version": 1, "providers": [entry]}), encoding="utf-8")
    with pytest.raises(InputError, match="non_examples must be a list of non-empty strings"):
        Catalog.load([ext])


def test_published_examples_need_a_fingerprint_and_a_source(tmp_path: Path) -> None:
    published = CATALOG.providers["google-gemini"].keys[0]
    assert len(published.published) >= 16 and not published.is_published(published.examples[0])
    assert all(published.is_published(v) for v in published.non_examples[2:4])
    entry = dict(CATALOG.providers["groq"].raw)
    ext = tmp_path / "bad.yaml"
    for bad in ({"sha256": "AIza" + "x" * 35, "source": "docs"}, {"sha256": "0" * 64}):
        entry["keys"] = [{**entry["keys"][0], "published_examples": [bad]}]
        ext.write_text(yaml.safe_dump({"schema_version": 1, "providers": [entry]}), encoding="utf-8")
        with pytest.raises(InputError, match=r"published_examples\[0\] needs a sha256") as err:
            Catalog.load([ext])
        assert "xxxxxxxx" not in str(err.value)


def test_no_example_in_any_report(results) -> None:
    dump = json.dumps(results)
    leaked = [fid for fid, _, _, value in PLANTED if len(value) >= 12 and value in dump]
    assert not leaked, f"raw values in a report: {leaked}"
    assert not re.search(r"T3BlbkFJ[A-Za-z0-9_-]{20}", dump)
