"""Smoke run of benchmarks/large_inventories.py: small generated inputs, every command it times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_large_inventories_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "large_inventories.py"), "--smoke",
                        "--work", str(tmp_path / "work"), "--json", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    results = {r["command"]: r for r in json.loads(out.read_text())["results"]}
    assert set(results) == {"report-json", "report-table", "report-jsonl", "report-csv", "report-markdown", "report-html",
                            "report-sarif", "report-cyclonedx", "diff", "merge", "registry-check", "merge-registry"}
    assert all(r["exit"] == 0 for r in results.values()), results
    report = json.loads((tmp_path / "work" / "report-json.out").read_text())
    assert len(report["agents"]) == 300 and report["summary"]["agents"] == 300
    tickets = (tmp_path / "work" / "report-jsonl.out").read_text().splitlines()
    assert len(tickets) == 300 and len({json.loads(t)["dedupe_key"] for t in tickets}) == 300
    assert (tmp_path / "work" / "report-csv.out").read_bytes().count(b"\r\n") >= 301  # the header and a row each
    work = tmp_path / "work"
    assert (work / "report-table.out").read_text().count("\n") >= 300
    assert "… and 100 more agents" in (work / "report-markdown.out").read_text()  # 200 rows shown of 300
    assert (work / "report-html.out").read_text().count("<tr id=\"row-") == 300
    sarif = json.loads((work / "report-sarif.out").read_text())["runs"][0]
    assert sarif["properties"]["summary"]["agents"] == 300 and sarif["results"]
    bom = json.loads((work / "report-cyclonedx.out").read_text())
    assert sum(c["type"] == "application" for c in bom["components"]) == 300
    merged = json.loads((tmp_path / "work" / "merge-registry.out").read_text())
    assert merged["summary"]["by_status"]["approved"] == 60  # every record matched its agent through the index
    diff = (tmp_path / "work" / "diff.out").read_text()
    assert diff.count("+ new") == 15 and diff.count("- gone") == 15  # 5% gone and 5% new


def test_merge_holds_neither_input_whole(tmp_path: Path) -> None:
    """Two inventories of 20,000 agents (44 MB each): merging them on disk peaks near the
    interpreter's own size (97 MiB measured); holding the union and its agents took 187 MiB."""
    out = tmp_path / "results.json"
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "large_inventories.py"), "--agents", "20000",
                        "--records", "10", "--only", "merge", "--work", str(tmp_path / "work"), "--json", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    merge = json.loads(out.read_text())["results"][0]
    assert merge["exit"] == 0 and merge["peak_rss_mib"] < 140, merge
    merged = json.loads((tmp_path / "work" / "merge.out").read_text())
    assert merged["summary"]["agents"] == 21000 and merged["summary"]["findings"] == 63000  # 5% gone, 5% new
