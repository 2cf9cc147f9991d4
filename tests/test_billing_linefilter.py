"""The CSV line filter: the same findings as reading the bill whole, and whole reads where it cannot be exact."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest

from detectors.billing import linefilter
from detectors.billing.linefilter import LineFilter, NotFiltered, literals

pytest.importorskip("duckdb")

HEADER = ["line_item_usage_account_id", "product", "line_item_usage_type", "line_item_resource_id",
          "line_item_iam_principal", "line_item_unblended_cost", "line_item_usage_amount", "pricing_unit",
          "line_item_currency_code", "line_item_usage_start_date", "line_item_line_item_type", "resource_tags"]
ROLE = "arn:aws:iam::111111111111:role/support-bot"


def row(product: str, cost: str, account="111111111111", principal=ROLE, usage="USE1-MP:USE1_InputTokenCount-Units",
        tags='{"user_owner":"dana@example.com"}', product_json: str | None = None) -> list[str]:
    return [account, product_json or json.dumps({"product_name": product}, separators=(",", ":")), usage, "",
            principal, cost, "10", "Units", "USD", "2025-03-30 00:00:00", "Usage", tags]


LLM_ROWS = [
    row("Claude 3.5 Sonnet (Amazon Bedrock Edition)", "0.25"),
    row("CLAUDE 3.5 SONNET (AMAZON BEDROCK EDITION)", "0.5"),  # another letter case: the same service
    row("", "1.125", product_json='{"product_name":"Claude 3.5 Sonnet (\\u0041mazon Bedrock Edition)"}'),  # escaped
    row("Amazon Bedrock", "2", account="222222222222", principal="",
        tags='{"user_team":"a, \\"quoted\\" team"}'),  # commas and quotes inside a quoted field
    row("Amazon Q", "4", account="333333333333", principal=""),
]
ORDINARY = [row("Amazon Elastic Compute Cloud", "99", principal="", usage="BoxUsage:m5.large"),
            row("Amazon Simple Storage Service", "7", principal="", usage="TimedStorage")]


def bill(rows: list[list[str]], newline="\n", bom=False, final_newline=True) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows([HEADER, *rows])
    text = out.getvalue()
    if not final_newline:
        text = text[: -len(newline)]
    return ("\ufeff" if bom else "").encode() + text.encode()


def mixed() -> list[list[str]]:
    rows = []
    for i in range(40):
        rows += ORDINARY
        if i % 8 == 0:
            rows.append(LLM_ROWS[(i // 8) % len(LLM_ROWS)])
    return rows


def scan(run_cli, path: Path) -> tuple[dict[tuple[str, str], float], dict]:
    r = run_cli("scan", "-d", "aws-billing", "--aws-export", str(path), "-f", "json", "--since", "3000d")
    assert r.code in (0, 1), r.err
    inv = r.json()
    costs: dict[tuple[str, str], float] = {}
    for f in inv["findings"]:  # one finding per model: the upper-case name may not name one
        key = (f["location"]["account"], f["location"]["resource"])
        costs[key] = round(costs.get(key, 0.0) + f["cost"], 6)
    return costs, inv["coverage"][0]["scanned"]


WANT = {("111111111111", ROLE): 1.875, ("222222222222", "aws-bedrock"): 2.0, ("333333333333", "amazon-q"): 4.0}


@pytest.mark.parametrize("layout", ["plain", "gzip", "two-gzip-members", "crlf-bom-no-final-newline"])
def test_filtered_bill_gives_the_findings_of_the_whole_bill(run_cli, tmp_path, layout):
    rows = mixed()
    path = tmp_path / ("bill.csv" if layout in ("plain", "crlf-bom-no-final-newline") else "bill.csv.gz")
    if layout == "plain":
        path.write_bytes(bill(rows))
    elif layout == "gzip":
        path.write_bytes(gzip.compress(bill(rows)))
    elif layout == "two-gzip-members":  # concatenated members are one gzip stream (gzip -c a b)
        first, second = bill(rows[:30]), bill(rows[30:]).split(b"\n", 1)[1]
        path.write_bytes(gzip.compress(first) + gzip.compress(second))
    else:
        path.write_bytes(bill(rows, newline="\r\n", bom=True, final_newline=False))
    costs, scanned = scan(run_cli, path)
    assert scanned["export_files_line_filtered"] == 1
    assert costs == WANT
    # a record elsewhere whose quoted field holds a line break does not stop the filter: it knows
    # from the quote count where records start; one that holds a literal makes it read the bill whole
    for note, filtered in (("a\nb", True), ("moved off amazon bedrock\nlast week", False)):
        other = tmp_path / f"other-{filtered}" / "bill.csv"
        other.parent.mkdir()
        broken = row("Amazon Elastic Compute Cloud", "3", principal="", tags='{"note":"' + note + '"}')
        other.write_bytes(bill([*rows[:7], broken, *rows[7:]]))
        costs_other, scanned_other = scan(run_cli, other)
        assert ("export_files_line_filtered" in scanned_other) is filtered
        assert costs_other == WANT


def test_an_llm_line_with_a_line_break_in_a_quoted_field_is_not_lost(run_cli, tmp_path):
    path = tmp_path / "bill.csv"
    path.write_bytes(bill([*ORDINARY, row("Amazon Bedrock", "5", principal="", tags='{"note":"line one\nline two"}')]))
    with pytest.raises(NotFiltered):
        LineFilter.for_globs(["Amazon Bedrock"]).filter_file(path, tmp_path / "copy.csv")
    costs, scanned = scan(run_cli, path)
    assert costs == {("111111111111", "aws-bedrock"): 5.0} and "export_files_line_filtered" not in scanned


def test_a_tab_separated_bill_is_filtered_with_its_own_delimiter(run_cli, tmp_path):
    tsv = tmp_path / "tsv" / "bill.tsv"
    tsv.parent.mkdir()
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\n").writerows([HEADER, *mixed()])
    tsv.write_text(out.getvalue())
    costs, scanned = scan(run_cli, tsv)
    assert costs == WANT and scanned["export_files_line_filtered"] == 1


def test_literals_cover_every_glob_with_the_fewest_pieces():
    assert literals(["*(Amazon Bedrock Edition)", "Amazon Bedrock", "Amazon Q", "Amazon Q Business"]) == [
        "amazon bedrock", "amazon q"]
    assert literals(["Vertex AI", "*Gemini*"]) == ["gemini", "vertex ai"]
    assert literals(["*", "Amazon Q"]) is None  # a glob with no literal: every line could match
    assert literals(["Q*"]) is None and literals(["Modèle*"]) is None


def test_filter_gives_up_when_most_lines_are_kept_or_the_scan_is_cancelled(tmp_path, monkeypatch):
    path = tmp_path / "bill.csv"
    path.write_bytes(bill([LLM_ROWS[0]] * 50 + ORDINARY))
    lf = LineFilter.for_globs(["*(Amazon Bedrock Edition)"])
    assert lf.filter_file(path, tmp_path / "a.csv") == 50
    assert (tmp_path / "a.csv").read_bytes() == bill([LLM_ROWS[0]] * 50)
    with pytest.raises(NotFiltered):
        lf.filter_file(path, tmp_path / "b.csv", stop=lambda: True)
    monkeypatch.setattr(linefilter, "SHARE_CHECKED_AFTER", 0)
    with pytest.raises(NotFiltered):
        lf.filter_file(path, tmp_path / "c.csv")


def test_scratch_copies_are_removed_when_the_command_leaves_without_the_thread(tmp_path):
    """A timed-out or interrupted billing read leaves its thread behind: the copies of bill lines go anyway."""
    import subprocess
    import sys
    code = (
        "import sys, threading, time\n"
        "from scanner.stopping import scratch_directory, leave\n"
        "ready = threading.Event()\n"
        "def read():\n"
        "    with scratch_directory('shadow-agents-bill-') as d:\n"
        "        (d / 'copy.csv').write_text('bill lines')\n"
        "        print(d, flush=True); ready.set(); time.sleep(60)\n"
        "threading.Thread(target=read, name='detector-aws-billing', daemon=True).start()\n"
        "ready.wait(); leave(0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                         env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    scratch = Path(out.stdout.strip())
    assert scratch.parent == tmp_path and not scratch.exists()
