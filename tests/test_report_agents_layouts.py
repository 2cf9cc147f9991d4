"""Formats written an agent at a time (scanner/format.py ``AgentWriter``), with many agents in no
order and values this tool would not write (spend of three decimals): the table's summary line and
plain-layout widths depend on every agent. Written from a saved inventory (scanner/report_agents.py)
they are byte for byte what the inventory read whole gives."""

from __future__ import annotations

import json
import os
import pty
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.csv import CsvFormat
from reports.cyclonedx import CycloneDxFormat
from reports.html import HtmlFormat
from reports.jsonl import JsonlFormat
from reports.markdown import MAX_ROWS, MarkdownFormat
import reports.sarif
from reports.sarif import SarifFormat
from reports.table import RICH_ROWS, TableFormat
from scanner import chunk_pool, report_agents
from scanner.inventory_file import load_inventory
from scanner.output import is_terminal, open_output
from scanner.report_agents import write_agent_report
from scanner.spool import sortable as _sortable
from tests.fixtures.inventory_samples import PLANTED_KEYS, full_inventory

FORMATS = {"table": TableFormat, "markdown": MarkdownFormat, "sarif": SarifFormat, "cyclonedx": CycloneDxFormat,
           "html": HtmlFormat, "jsonl": JsonlFormat, "csv": CsvFormat}


def many(n: int, seed: int = 7) -> dict:
    """An inventory of ``n`` agents made of the sample's, with their own ids, longer names and spend
    in two currencies, in no particular order."""
    doc = json.loads(full_inventory().to_json())
    rng = random.Random(seed)
    agents = []
    for i in range(n):
        agent = dict(rng.choice(doc["agents"]))
        agent["id"] = f"{i:012x}"
        agent["name"] = f"{agent['name']}-{rng.randint(0, 99999)}" + "x" * rng.randint(0, 60)
        if rng.random() < 0.3:
            agent["spend"] = {"USD": round(rng.random() * 100, 3), **({"EUR": 0.005} if rng.random() < 0.2 else {})}
        agents.append(agent)
    doc["agents"] = agents
    return doc


def _whole(fmt: str, saved: Path, out: Path) -> bytes:
    formatter = FORMATS[fmt]()
    with open_output(str(out), formatter.output_kind) as stream:
        formatter.render(load_inventory(saved), stream)
    return out.read_bytes()


@pytest.fixture(params=["one process", "every core"])
def cores(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Rendered in this process, or by forked workers in batches of an odd size (a writer that waits
    and adds up copies of itself — the table — given each batch as a copy of its own)."""
    if request.param == "every core":
        pool = chunk_pool.forked_pool(True)
        if pool is None:
            pytest.skip("one core, or no fork here: rendered in-process")
        pool.shutdown()
        monkeypatch.setattr(report_agents, "PARALLEL_AGENTS", 0)
        monkeypatch.setattr(report_agents, "_RENDER_BATCH", 97)
    return str(request.param)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n", [RICH_ROWS, RICH_ROWS + 1, 3 * RICH_ROWS])
def test_many_agents_an_agent_at_a_time_are_the_whole_report_byte_for_byte(fmt: str, n: int, tmp_path: Path,
                                                                           cores: str) -> None:
    saved = tmp_path / "many.json"
    saved.write_text(json.dumps(many(n), indent=1), encoding="utf-8")
    out = tmp_path / "streamed"
    assert write_agent_report(saved, FORMATS[fmt](), str(out)) is True
    assert out.read_bytes() == _whole(fmt, saved, tmp_path / "whole")
    text = out.read_text(encoding="utf-8")
    assert not any(k in text for k in PLANTED_KEYS.values())
    if fmt == "table":
        assert (f"{n:,} rows: plain layout" in text) is (n > RICH_ROWS)
    if fmt == "markdown":
        assert f"… and {n - MAX_ROWS} more agents" in text


@pytest.mark.parametrize("limit", [1, 50, 10_000])
def test_sarif_keeps_the_same_results_when_there_are_more_than_code_scanning_takes(limit: int, tmp_path: Path,
                                                                                   monkeypatch) -> None:
    """Beyond the limit the most severe results are kept, then the first in reading order."""
    monkeypatch.setattr(reports.sarif, "MAX_RESULTS", limit)
    saved = tmp_path / "many.json"
    saved.write_text(json.dumps(many(400, seed=3), indent=1), encoding="utf-8")
    out = tmp_path / "streamed.sarif"
    assert write_agent_report(saved, SarifFormat(), str(out)) is True
    assert out.read_bytes() == _whole("sarif", saved, tmp_path / "whole.sarif")
    run = json.loads(out.read_text(encoding="utf-8"))["runs"][0]
    assert len(run["results"]) == min(limit, len(run["results"]) + run["properties"].get("results_left_out", 0))
    assert ("results_left_out" in run["properties"]) is (limit < 10_000)


def test_the_table_summary_adds_spend_up_as_the_json_summary_does(tmp_path: Path, run_cli) -> None:
    """Spend is rounded as it is added up, so its order shows in the cents: the summary line adds it
    up in the inventory's canonical order, whatever order the file has, as ``summary`` in JSON does."""
    doc = json.loads(full_inventory().to_json())
    doc["agents"].reverse()
    for agent, amount in zip(doc["agents"], (0.005, 0.015, 0.025, 1.115, 2.225)):
        agent["spend"] = {"USD": amount}
    saved = tmp_path / "cents.json"
    saved.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    total = json.loads(run_cli("report", str(saved), "-f", "json").out)["summary"]["spend"]["USD"]
    table = run_cli("report", str(saved), "-f", "table").out
    assert f"{total:,.2f} USD LLM spend" in " ".join(table.split())


def test_a_terminal_gets_the_console_layout_from_the_whole_read(tmp_path: Path) -> None:
    """Rich lays a terminal's table out for that terminal (width, colours): written to a terminal the
    table is left to the whole read, which has it; the null device is not a terminal."""
    saved = tmp_path / "scan.json"
    saved.write_text(full_inventory().to_json(), encoding="utf-8")
    leader, follower = pty.openpty()
    try:
        terminal = os.ttyname(follower)
        assert is_terminal(terminal) and not is_terminal(os.devnull) and not is_terminal(str(saved))
        assert write_agent_report(saved, TableFormat(), terminal) is False
    finally:
        os.close(leader)
        os.close(follower)
    assert write_agent_report(saved, TableFormat(), os.devnull) is True


_CHARS = st.lists(st.sampled_from(["\x00", "\xff", "a", "b", "\udcff", "\ud7ff", "\ue000", "\U0001f600", "é"]),
                  max_size=3).map("".join)
_PART = st.one_of(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1), _CHARS)


@settings(max_examples=500, deadline=None)
@given(common=st.lists(_PART, max_size=2), stem=_CHARS, ends=st.tuples(_CHARS, _CHARS),
       rests=st.tuples(st.lists(_PART, max_size=2), st.lists(_PART, max_size=2)))
def test_sort_keys_are_held_as_bytes_that_sort_as_the_keys(common: list, stem: str, ends: tuple, rests: tuple) -> None:
    """The agents' sort keys are held as bytes: any two compare as the tuples do (where tuples
    compare), among them keys alike up to a string that one extends (by a NUL, say)."""
    x = tuple(common + [stem + ends[0]] + rests[0])
    y = tuple(common + [stem + ends[1]] + rests[1])
    try:
        expected = (x > y) - (x < y)
    except TypeError:  # a string against an integer: no format's key holds that
        return
    assert (_sortable(x) > _sortable(y)) - (_sortable(x) < _sortable(y)) == expected


def test_a_sort_key_of_another_kind_leaves_the_report_to_the_whole_read(tmp_path: Path) -> None:
    class FloatKeyed(JsonlFormat):
        def agent_key(self, agent):  # type: ignore[no-untyped-def]
            return (float(len(agent.name)), agent.id)

    saved = tmp_path / "scan.json"
    saved.write_text(full_inventory().to_json(), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert write_agent_report(saved, FloatKeyed(), str(out)) is False and not out.exists()
