"""The billing benchmark in smoke mode: it generates a small CUR export and every planted resource is exact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "billing_bench.py"

pytest.importorskip("duckdb")


def test_billing_bench_smoke(tmp_path):
    out = tmp_path / "billing.json"
    p = subprocess.run([sys.executable, str(BENCH), "--smoke", "--out", str(out)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "planted exact to the cent: 5/5, false: 0" in p.stdout
    results = json.loads(out.read_text())
    assert set(results["formats"]) == {"parquet", "csv.gz"}
    for row in results["formats"].values():
        assert row["shadow-agents"]["planted_exact"] == 5 and row["shadow-agents"]["peak_rss_mb"] > 0
        for other in ("pandas", "polars"):  # compared when installed (the bench extra), else reported missing
            assert row[other] is None or row[other]["planted_exact"] == 5
