"""The layering rule of pyproject.toml's [tool.importlinter], checked with import-linter.

The core (``scanner``) holds the contracts (``Detector``, ``ScanContext``, ``Format``) and reaches
detectors and formats only through entry points, so a plugin never needs a change to the core.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([LINT, "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_core_imports_no_detector_and_no_format():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_an_import_of_a_format_from_the_core_breaks_the_rule(tmp_path: Path):
    for package in ("scanner", "detectors", "reports"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "scanner" / "shortcut.py").write_text("def lines():\n    from reports.table import TableFormat\n")
    r = lint(tmp_path)
    assert r.returncode != 0
    assert "the core imports no detector and no format BROKEN" in r.stdout
    assert "scanner.shortcut -> reports.table" in r.stdout
