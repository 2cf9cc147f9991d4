"""Large saved inventories are worked on by every core (scanner/chunk_pool.py): what comes out is
what one process writes. The size from which workers start is lowered here so that an inventory
of a few megabytes (a few chunks) goes through real forked workers."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks.large_inventories import CLI, _template, write_inventory
from scanner import chunk_pool
from scanner.chunk_pool import OrderedChunks
from scanner.diff_stream import _whole as whole_diff
from scanner.diff_stream import diff_saved
from reports.csv import CsvFormat
from scanner.errors import InputError
from scanner.plugins import load_format
from scanner import report_agents
from scanner.report_agents import write_agent_report
from scanner.report_stream import write_json_report
from scanner.spool import PlacedSpool
from tests.keys import make_key

AGENTS = 2500  # about 5 MB: five chunks of agents, more of findings


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("large")
    path = work / "a.json"
    write_inventory(_template(work), path, AGENTS)
    return path


@pytest.fixture(scope="module")
def saved_pair(saved: Path) -> tuple[Path, Path]:
    """The benchmark's pair: 5% of the agents gone, as many new, the models of 5% changed."""
    new = saved.with_name("b.json")
    write_inventory(_template(saved.parent), new, AGENTS, variant=1)
    return saved, new


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(chunk_pool, "MIN_BYTES", 0)
    with open(tmp_path / "probe", "wb") as fh:
        probe = OrderedChunks(_size, lambda name, raw, result: None, fh.fileno())
        try:
            if not probe.parallel:
                pytest.skip("one core, or no fork here: the chunks are worked on in-process")
        finally:
            probe.close()


def _cli_report(path: Path, cwd: Path) -> bytes:
    r = subprocess.run([CLI, "report", str(path), "-f", "json"], capture_output=True, cwd=cwd,
                       env={**os.environ, "HOME": str(cwd)})
    assert r.returncode == 0, r.stderr
    return r.stdout


def _size(name: str, raw: bytes, _offset: int) -> int:
    return len(raw)


def _first_byte(name: str, raw: bytes, _offset: int) -> bytes:
    return raw[:1]


def test_workers_read_their_chunks_and_the_results_come_back_in_order(workers: None, tmp_path: Path) -> None:
    sizes = [k * 997 % 101 + 1 for k in range(40)]
    data = b"".join(bytes([65 + k % 26]) * n for k, n in enumerate(sizes))
    (tmp_path / "f").write_bytes(data)
    taken: list[tuple[str, bytes]] = []
    with open(tmp_path / "f", "rb") as fh:
        chunks = OrderedChunks(_first_byte, lambda name, raw, result: taken.append((name, result)), fh.fileno())
        try:
            offset = 0
            for k, n in enumerate(sizes):
                chunks.chunk(f"c{k}", data[offset:offset + n], offset)
                offset += n
            chunks.chunk("past-the-end", b"xyz", len(data))  # not in the file (it changed): worked on here
            chunks.drain()
        finally:
            chunks.close()
    assert taken == [(f"c{k}", bytes([65 + k % 26])) for k in range(40)] + [("past-the-end", b"x")]
    assert not multiprocessing.active_children()


def test_a_report_written_by_the_workers_is_the_one_process_report(saved: Path, tmp_path: Path, workers: None) -> None:
    out = tmp_path / "out.json"
    assert write_json_report(saved, str(out)) is True
    assert out.read_bytes() == _cli_report(saved, tmp_path)  # the file is small: one process there
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("room", ["room", "no room"])
@pytest.mark.parametrize("fmt", ["table", "csv", "jsonl", "sarif"])
def test_a_format_written_an_agent_at_a_time_from_the_workers_chunks_is_the_one_process_report(
        fmt: str, room: str, saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: None) -> None:
    """(No room: no chunk's texts fit their room of the spool, the workers send them back.)"""
    key = make_key("openai-project", 3)
    lines = saved.read_text(encoding="utf-8").split("\n")
    agents = [k for k, line in enumerate(lines) if line.startswith('{"dedupe_key"')]
    element = json.loads(lines[agents[len(agents) // 2]].rstrip(","))
    element["name"] = f"bot {key}"  # this chunk is built and scrubbed, the others kept as read
    lines[agents[len(agents) // 2]] = json.dumps(element, sort_keys=True) + ","
    planted = tmp_path / "planted.json"
    planted.write_text("\n".join(lines), encoding="utf-8")
    one = tmp_path / f"one.{fmt}"
    with monkeypatch.context() as one_process:
        one_process.setattr(chunk_pool, "MIN_BYTES", 1 << 62)
        assert write_agent_report(planted, load_format(fmt), str(one)) is True
    monkeypatch.setattr(report_agents, "PARALLEL_AGENTS", 0)  # csv's and jsonl's pieces made by the workers too
    if room == "no room":
        monkeypatch.setattr(PlacedSpool, "ROOM", 0)
    cores = tmp_path / f"cores.{fmt}"
    assert write_agent_report(planted, load_format(fmt), str(cores)) is True
    assert cores.read_bytes() == one.read_bytes()
    assert key not in cores.read_text(encoding="utf-8")
    assert not multiprocessing.active_children()


class _KeyMakingCsv(CsvFormat):
    """csv whose writer adds to each row a key it makes itself (no input holds it): only the
    scrub of the pieces where they are made stands between it and the output."""

    def __init__(self, key: str, whole_lines: bool) -> None:
        self.key, self.whole_lines = key, whole_lines

    def writer(self, frame: Any) -> Any:
        writer = super().writer(frame)
        made = writer.agent
        key, whole_lines = self.key, self.whole_lines
        writer.agent = lambda agent, findings: (made(agent, findings) + f"made {key}" + ("\n" if whole_lines else ""))
        return writer


@pytest.mark.parametrize("whole_lines", [True, False])
def test_what_a_writer_makes_on_the_workers_is_scrubbed_before_the_output(
        whole_lines: bool, saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: None) -> None:
    key = make_key("openai-project", 11)
    monkeypatch.setattr(report_agents, "PARALLEL_AGENTS", 0)
    out = tmp_path / "out.csv"
    assert write_agent_report(saved, _KeyMakingCsv(key, whole_lines), str(out)) is True
    text = out.read_text(encoding="utf-8")
    assert key not in text and text.count(f"made {key[:8]}") == AGENTS  # each scrubbed to its preview


class _WhatItIsGiven(CsvFormat):
    """csv that writes, for each agent, the kinds of the findings it was given, and the counts."""

    def writer(self, frame: Any) -> Any:
        from scanner.format import AgentWriter

        class Writer(AgentWriter):
            waits = False

            def agent(self, agent: Any, findings: dict[str, Any]) -> str:
                return " ".join(sorted(findings[i].kind for i in agent.findings if i in findings)) + "\n"

            def count_findings(self, total: int, unattached: int) -> None:
                self.counted = (total, unattached)

            def tail(self) -> list[str]:
                return [f"{self.counted}\n"]
        return Writer()


@pytest.mark.parametrize("uses", ["all", "keys"])
@pytest.mark.parametrize("on_cores", [False, True], ids=["one-process", "workers"])
def test_a_format_that_shows_only_key_findings_is_given_those_and_counts_them_all(
        uses: str, on_cores: bool, saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fmt = _WhatItIsGiven()
    fmt.uses_findings = uses
    if on_cores:
        monkeypatch.setattr(chunk_pool, "MIN_BYTES", 0)
        monkeypatch.setattr(report_agents, "PARALLEL_AGENTS", 0)
    out = tmp_path / "given.txt"
    assert write_agent_report(saved, fmt, str(out)) is True
    *rows, counted = out.read_text(encoding="utf-8").splitlines()
    doc = json.loads(saved.read_text(encoding="utf-8"))
    assert counted == str((len(doc["findings"]), 0))  # every finding counted, whatever was kept
    assert len(rows) == AGENTS
    if uses == "keys":
        assert set(rows) == {"credential"}
    else:
        assert set(rows) == {"credential model-reference sdk-usage"}


def test_a_chunk_holding_a_key_is_read_element_by_element_among_the_workers_chunks(saved: Path, tmp_path: Path,
                                                                                    workers: None) -> None:
    key = make_key("anthropic-api", 7)
    lines = saved.read_text(encoding="utf-8").split("\n")
    agents = [k for k, line in enumerate(lines) if line.startswith('{"dedupe_key"')]
    middle = agents[len(agents) // 2]
    element = json.loads(lines[middle].rstrip(","))
    element["remediation"] = f"rotate {key}"
    lines[middle] = json.dumps(element, sort_keys=True) + ","
    planted = tmp_path / "planted.json"
    planted.write_text("\n".join(lines), encoding="utf-8")
    out = tmp_path / "out.json"
    assert write_json_report(planted, str(out)) is True
    text = out.read_text(encoding="utf-8")
    assert key not in text and key[:8] in text  # its preview
    assert out.read_bytes() == _cli_report(planted, tmp_path)


def test_agents_out_of_order_across_chunks_leave_the_report_to_the_whole_read(saved: Path, tmp_path: Path,
                                                                             workers: None) -> None:
    lines = saved.read_text(encoding="utf-8").split("\n")
    agents = [k for k, line in enumerate(lines) if line.startswith('{"dedupe_key"')]
    first, late = agents[0], agents[-2]  # the first agent moved near the end: another chunk's
    lines[first], lines[late] = lines[late], lines[first]
    moved = tmp_path / "moved.json"
    moved.write_text("\n".join(lines), encoding="utf-8")
    assert write_json_report(moved, str(tmp_path / "out.json")) is False
    assert not (tmp_path / "out.json").exists()
    assert not multiprocessing.active_children()


def test_a_diff_worked_out_by_the_workers_is_the_diff_of_the_whole_inventories(saved_pair: tuple[Path, Path],
                                                                               workers: None) -> None:
    old, new = saved_pair
    streamed = diff_saved(old, new)
    assert streamed == whole_diff(old, new)
    assert len(streamed.gone) == len(streamed.new) == AGENTS // 20 and len(streamed.changed) == sum(i % 20 == 1 for i in range(AGENTS // 20, AGENTS))
    assert not multiprocessing.active_children()


def _report_into(path: Path, out: Path, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """``report -f json`` with stdout redirected to ``out`` (appended to, as ``>>`` does)."""
    with open(out, "ab") as fh:
        return subprocess.run([CLI, "report", str(path), "-f", "json"], stdout=fh, stderr=subprocess.PIPE,
                              cwd=cwd, env={**os.environ, "HOME": str(cwd)})


def test_stdout_redirected_to_a_file_is_cut_back_when_the_input_turns_out_bad(saved: Path, tmp_path: Path) -> None:
    """Written as it is read, not spooled: a fault found past the first chunks leaves the file as it was."""
    lines = saved.read_text(encoding="utf-8").split("\n")
    findings = [k for k, line in enumerate(lines) if line.startswith('{"confidence"')]
    bad = findings[-3]  # near the end: many chunks were written before it is read
    lines[bad] = lines[bad].replace('"confidence": "', '"confidence": "unheard-of-', 1)
    broken = tmp_path / "broken.json"
    broken.write_text("\n".join(lines), encoding="utf-8")
    out = tmp_path / "out.json"
    out.write_bytes(b"kept from before\n")
    r = _report_into(broken, out, tmp_path)
    assert r.returncode == 2 and b"confidence" in r.stderr, r.stderr
    assert out.read_bytes() == b"kept from before\n"


def test_a_table_reads_the_findings_only_to_check_them_and_names_a_bad_one_as_the_whole_read_does(
        saved: Path, tmp_path: Path, workers: None) -> None:
    """The table shows no finding: its findings are checked on the workers, never kept, and a
    finding the schema refuses is still named by its index and field."""
    lines = saved.read_text(encoding="utf-8").split("\n")
    findings = [k for k, line in enumerate(lines) if line.startswith('{"confidence"')]
    bad = len(findings) // 2
    lines[findings[bad]] = lines[findings[bad]].replace('"line": ', '"line": "x', 1).replace(', "path"', '", "path"', 1)
    broken = tmp_path / "broken.json"
    broken.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InputError, match=rf"findings\[{bad}\]\.location\.line: must be integer"):
        write_agent_report(broken, load_format("table"), str(tmp_path / "out.txt"))
    assert not (tmp_path / "out.txt").exists()
    good = tmp_path / "good.txt"
    assert write_agent_report(saved, load_format("table"), str(good)) is True
    assert good.read_text(encoding="utf-8").startswith(f"{AGENTS} agents")


def test_stdout_redirected_to_a_file_gets_the_whole_reads_report_once_when_the_stream_gives_way(
        saved: Path, tmp_path: Path) -> None:
    lines = saved.read_text(encoding="utf-8").split("\n")
    agents = [k for k, line in enumerate(lines) if line.startswith('{"dedupe_key"')]
    lines[agents[0]], lines[agents[-2]] = lines[agents[-2]], lines[agents[0]]  # out of order, found late
    moved = tmp_path / "moved.json"
    moved.write_text("\n".join(lines), encoding="utf-8")
    out = tmp_path / "out.json"
    r = _report_into(moved, out, tmp_path)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == _cli_report(moved, tmp_path)  # a pipe: the whole read's text, once
    assert len(json.loads(out.read_bytes())["agents"]) == AGENTS


def test_what_a_diff_worker_sends_comes_back_whole_names_that_were_not_utf8_too() -> None:
    from scanner.diff_stream import Seen, pack, unpack

    seen = [Seen("0123456789ab", "bad\udcffname", "shadow", b"{}", b"\x00" * 16, [b"\x01" * 16], []),
            Seen("ba9876543210", "fine", "approved", b"{}", b"\x02" * 16, [], ["repo:x"])]
    assert unpack(pack(seen)) == seen and unpack(pack(seen[1:])) == seen[1:] and unpack(b"") == []


def test_sigterm_while_workers_write_into_a_file_cuts_it_back_and_ends_them(tmp_path: Path) -> None:
    """A real large inventory (past the size from which workers start), stopped while its report is
    being written into stdout redirected to a file: exit 143, the file as it was, no worker left."""
    import signal
    import time

    big = tmp_path / "big.json"
    write_inventory(_template(tmp_path), big, 35_000)  # about 77 MB
    assert big.stat().st_size >= chunk_pool.MIN_BYTES
    out = tmp_path / "out.json"
    out.write_bytes(b"kept\n")
    with open(out, "ab") as fh:
        proc = subprocess.Popen([CLI, "report", str(big), "-f", "json"], stdout=fh, stderr=subprocess.PIPE,
                                cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)}, start_new_session=True)
    deadline = time.monotonic() + 60
    while out.stat().st_size < 1 << 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the report ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert out.read_bytes() == b"kept\n"
    deadline = time.monotonic() + 20
    while (left := subprocess.run(["pgrep", "-a", "-s", str(proc.pid)], capture_output=True, text=True).stdout) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == "", left


@pytest.mark.parametrize("room", ["room", "no room"])
def test_a_merge_built_by_the_workers_is_the_whole_merge(room: str, saved_pair: tuple[Path, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Its inputs read and many batches of its groups built on every core, taken in order: the
    whole merge's text — the findings' and agents' texts written by the workers into their rooms
    of the spools, or (no room: none fits) sent back and written here."""
    from scanner import merge_stream
    from tests.test_streamed_commands import _merged_on_disk, _merged_whole

    if room == "no room":
        monkeypatch.setattr(PlacedSpool, "ROOM", 0)
    monkeypatch.setattr(merge_stream, "PARALLEL_FINDINGS", 0)
    monkeypatch.setattr(chunk_pool, "MIN_BYTES", 0)
    probe = chunk_pool.forked_pool(True)
    if probe is None:
        pytest.skip("one core, or no fork here: the groups are built in-process")
    probe.shutdown()
    paths = list(saved_pair)
    streamed = _merged_on_disk(paths)
    assert streamed is not None and streamed == _merged_whole(paths)
    assert len(json.loads(streamed)["agents"]) == AGENTS + AGENTS // 20
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("on_cores", [False, True], ids=["one-process", "workers"])
def test_a_merge_of_chunks_kept_as_read_and_chunks_built_between_them_is_the_whole_merge(
        on_cores: bool, saved_pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key in one finding's details in the middle of the first input: its chunk is built and
    scrubbed, and its findings' texts are written anew between findings written as they were read."""
    from scanner import merge_stream
    from tests.test_streamed_commands import _merged_on_disk, _merged_whole

    if on_cores:
        monkeypatch.setattr(merge_stream, "PARALLEL_FINDINGS", 0)
        monkeypatch.setattr(chunk_pool, "MIN_BYTES", 0)
    key = make_key("anthropic-api", 11)
    old, new = saved_pair
    lines = old.read_text(encoding="utf-8").split("\n")
    findings = [k for k, line in enumerate(lines) if line.startswith('{"confidence"')]
    middle = findings[len(findings) // 2]
    element = json.loads(lines[middle].rstrip(","))
    element["details"] = {**element.get("details", {}), "note": f"was {key}"}
    lines[middle] = json.dumps(element, sort_keys=True) + ","
    planted = tmp_path / "planted.json"
    planted.write_text("\n".join(lines), encoding="utf-8")
    paths = [planted, new]
    streamed = _merged_on_disk(paths)
    assert streamed is not None and streamed == _merged_whole(paths)
    assert key not in streamed and key[:8] in streamed
