"""The network benchmark in smoke mode: it builds a small replicated capture and finds every expected row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "network_bench.py"


def test_network_bench_smoke(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, str(BENCH), "--smoke", "--workdir", str(tmp_path), "--methods", "ours,dpkt"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "every row found: yes" in p.stdout
    ours = [line for line in p.stdout.splitlines() if line.startswith("ours ")]
    assert len(ours) == 1 and "MB/s" in p.stdout and "split ClientHellos" in p.stdout
    # the replicated capture holds IPv6 copies, split ClientHellos and re-keyed QUIC, all found
    cells = [c.split("/") for c in ours[0].split() if "/" in c]
    assert len(cells) == 5 and all(int(got) == int(want) > 0 for got, want in cells)
