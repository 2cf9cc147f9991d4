"""CSV: one row per agent, stable columns, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import pytest

from reports.csv import COLUMNS, CsvFormat, neutralise, values
from tests.fixtures.inventory_samples import HOSTILE_NAME, SAMPLES, full_inventory


def rows(sample: str = "full") -> tuple[str, list[dict[str, str]]]:
    buf = io.StringIO(newline="")
    CsvFormat().render(SAMPLES[sample](), buf)
    text = buf.getvalue()
    return text, list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("value, expected", [
    ("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("-1", "'-1"), ("@cmd", "'@cmd"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), ("zoë", "zoë"),
])
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_stable_header_and_one_row_per_agent():
    text, parsed = rows()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert text.count("\r\n") == len(parsed) + 1  # RFC 4180 line ends, no stray line breaks
    inv = full_inventory()
    assert [r["agent_id"] for r in parsed][:1] and {r["agent_id"] for r in parsed} == {a.id for a in inv.agents}
    assert len(parsed) == len(inv.agents)


def test_each_value_is_made_for_its_column():
    inv = full_inventory()
    findings = {f.id: f for f in inv.findings}
    for agent in inv.agents:  # the row is written by position: the values must come in the columns' order
        assert tuple(values(agent, findings)) == COLUMNS


def test_no_cell_starts_like_a_formula():
    _, parsed = rows()
    cells = [v for r in parsed for v in r.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    hostile = next(r for r in parsed if HOSTILE_NAME in r["name"])
    assert hostile["name"] == "'" + HOSTILE_NAME
    assert hostile["owners"] == "'=1+2@evil.example"


def test_values_round_trip_through_the_csv_module():
    _, parsed = rows()
    by_name = {r["name"]: r for r in parsed}
    bedrock = by_name["aws:123456789012:bedrock/anthropic.claude-3-5-sonnet"]
    assert bedrock["spend"] == "1234.50 USD" and bedrock["status"] == "shadow"
    drift = by_name["support-bot"]
    assert drift["change"] == "changed" and drift["approved_id"] == "support-bot"
    assert drift["credentials"].startswith("sk-proj-") and "…" in drift["credentials"]
    assert drift["reason_codes"] == "drift-provider; drift-model; world-readable; key-in-history"
    assert len(drift["reasons"].split("\n")) == 4 and drift["findings"] == "2"
    assert by_name["résumé-screener"]["owners"] == "zoë@example.com"
    assert by_name["old summariser 📝"]["status"] == "dormant"


def test_empty_inventory_is_just_the_header():
    text, parsed = rows("empty")
    assert text == ",".join(COLUMNS) + "\r\n" and parsed == []


def test_a_cell_with_an_unsafe_character_is_escaped_and_the_rest_of_its_row_left_as_it_is():
    from reports.csv import row
    inv = full_inventory()
    agent = next(a for a in inv.agents if a.name == "support-bot")
    clean = row(agent, {f.id: f for f in inv.findings})
    agent.name, agent.owners = "bot\x1b[2J", ["\u202eevil@example.com", "=1+2"]
    escaped = row(agent, {f.id: f for f in inv.findings})
    assert escaped["name"] == "bot\\x1b[2J" and escaped["owners"] == "\\u202eevil@example.com; =1+2"
    assert {k: v for k, v in escaped.items() if k not in ("name", "owners")} == \
        {k: v for k, v in clean.items() if k not in ("name", "owners")}
    agent.owners = ["=1+2", "\u202e"]
    assert row(agent, {})["owners"] == "'=1+2; \\u202e"  # escaped, then neutralised
