"""The process benchmark in smoke mode: it plants processes, scans, and every planted one is found."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "process_bench.py"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the benchmark plants a Linux process table")
def test_process_bench_smoke():
    p = subprocess.run([sys.executable, str(BENCH), "--smoke"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "missing: 0" in p.stdout
    assert "per 1000 processes" in p.stdout and "ps -eo pid,args" in p.stdout
    assert "psutil.process_iter() alone" in p.stdout
