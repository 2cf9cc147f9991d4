"""Smoke run of the repo benchmark: tiny corpus, our detector (and ripgrep when installed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_repo_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "repo_bench.py"), "--smoke",
                        "--corpus", str(tmp_path / "corpus"), "--json", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert "| ours |" in p.stdout
    ours = json.loads(out.read_text())["ours"]
    assert ours["planted"] == 44 and ours["found"] == ours["planted"]
    assert ours["fp"] == 0 and ours["other"] == 0
    assert 0 < ours["cpu_min"] <= ours["cpu"] <= ours["cpu_max"] and ours["wall_min"] <= ours["wall"]  # the whole tree
    manifest = json.loads((tmp_path / "corpus.planted.json").read_text())
    assert manifest["total_bytes"] >= 2 * 1024 * 1024
