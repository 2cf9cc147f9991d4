"""``report -f json`` writes a saved inventory as it reads it (scanner/report_stream.py): the same bytes
as reading it whole, nothing written for an input it cannot write in one pass or a bad one. ``diff``
reads two agent by agent (scanner/diff_stream.py) and answers what the diff of the whole ones says;
``merge`` reads one inventory after the other into the union and rebuilds what merging them whole does."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.csv import CsvFormat
from reports.cyclonedx import CycloneDxFormat
from reports.html import HtmlFormat
from reports.json import JsonFormat
from reports.jsonl import JsonlFormat
from reports.markdown import MarkdownFormat
from reports.sarif import SarifFormat
from reports.table import TableFormat
from scanner.diff_stream import _whole as _whole_diff
from scanner.diff_stream import diff_saved
from scanner.errors import InputError
from scanner.inventory_file import load_inventory
from scanner.merge import merge_inventories, merge_saved
from scanner.merge_stream import streamed_merge
from scanner.plugins import load_format
from scanner.output import open_output
from scanner.report_agents import write_agent_report
from scanner.report_stream import FindingIds, write_json_report
from tests.test_inventory_chunks import JSON_VALUES, _like
from tests.fixtures.inventory_samples import (PLANTED_KEYS, TODAY, empty_inventory, full_inventory,
                                             unregistered_inventory)

SAMPLES = {"full": full_inventory, "unregistered": unregistered_inventory, "empty": empty_inventory}


def _whole(saved: Path, out: Path) -> bytes:
    """What ``report -f json`` wrote before: the inventory read whole, rendered through the guard."""
    with open_output(str(out), "json") as stream:
        JsonFormat().render(load_inventory(saved), stream)
    return out.read_bytes()


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_saved_inventory_is_written_as_it_is_read_byte_for_byte(sample: str, tmp_path: Path) -> None:
    saved = tmp_path / "scan.json"
    saved.write_text(SAMPLES[sample]().to_json(), encoding="utf-8")
    out = tmp_path / "streamed.json"
    assert write_json_report(saved, str(out)) is True
    assert out.read_bytes() == _whole(saved, tmp_path / "whole.json")
    assert not any(k in out.read_text(encoding="utf-8") for k in PLANTED_KEYS.values())


def test_findings_no_agent_lists_are_counted_apart(tmp_path: Path) -> None:
    doc = json.loads(full_inventory().to_json())
    before = doc["summary"]["unattached_findings"]
    listed = {f for a in doc["agents"] for f in a["findings"]}
    spare = dict(doc["findings"][0])
    extra = {"0000000000000000", "ffffffffffffffff", "7fffffffffffffff"}  # the schema's ids: 16 hex digits
    doc["findings"] += [dict(spare, id=i) for i in extra]
    doc["findings"].sort(key=lambda f: f["id"])
    assert not listed & extra
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "streamed.json"
    assert write_json_report(saved, str(out)) is True
    assert json.loads(out.read_text(encoding="utf-8"))["summary"]["unattached_findings"] == before + 3
    assert out.read_bytes() == _whole(saved, tmp_path / "whole.json")


def _reordered(doc: dict, how: str) -> str:
    if how == "agents":
        doc["agents"].reverse()
    elif how == "findings":
        doc["findings"].reverse()
    elif how == "keys":  # findings before agents and coverage
        return json.dumps({k: doc[k] for k in reversed(sorted(doc))}, indent=1)
    elif how == "legacy":
        doc["schema_version"] = "1.0"
    elif how == "repeated":
        text = json.dumps(doc)
        return text.replace('"agents": [', '"agents": [], "agents": [', 1)
    return json.dumps(doc, indent=1)


@pytest.mark.parametrize("how", ["agents", "findings", "keys", "legacy", "repeated"])
def test_an_input_out_of_the_reports_order_is_left_to_the_whole_read(how: str, tmp_path: Path, run_cli) -> None:
    doc = json.loads(full_inventory().to_json())
    assert len(doc["agents"]) > 2 and len(doc["findings"]) > 2
    saved = tmp_path / "scan.json"
    saved.write_text(_reordered(doc, how), encoding="utf-8")
    out = tmp_path / "streamed.json"
    assert write_json_report(saved, str(out)) is False
    assert not out.exists()
    r = run_cli("report", str(saved), "-f", "json")
    assert r.code == 0 and r.out.encode() == _whole(saved, tmp_path / "whole.json")


def test_a_bad_inventory_writes_nothing_and_gets_the_message_of_the_whole_read(tmp_path: Path, run_cli) -> None:
    doc = json.loads(full_inventory().to_json())
    doc["findings"][-1]["location"]["line"] = "abc"
    saved = tmp_path / "bad.json"
    saved.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    assert write_json_report(saved, str(tmp_path / "out.json")) is False
    assert not (tmp_path / "out.json").exists()
    r = run_cli("report", str(saved), "-f", "json")
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1
    assert f"field findings[{len(doc['findings']) - 1}].location.line: must be integer" in r.err


def test_finding_ids_are_held_as_numbers_and_answer_exactly() -> None:
    ids = FindingIds()
    ids.add(["00000000000000ff", "ffffffffffffffff", "0000000000000000", "not-hex-at-all", "00000000000000FF", "abc"])
    ids.freeze()
    for present in ("00000000000000ff", "ffffffffffffffff", "0000000000000000", "not-hex-at-all",
                    "00000000000000FF", "abc"):
        assert present in ids
    for absent in ("00000000000000fe", "0x000000000000ff", "000000000000000ff", "ABC", "", " 00000000000000ff"[:16]):
        assert absent not in ids


# ---- formats written an agent at a time (scanner/report_agents.py) ----------------------------

AGENT_FORMATS = {"jsonl": JsonlFormat, "csv": CsvFormat, "table": TableFormat, "markdown": MarkdownFormat,
                 "sarif": SarifFormat, "cyclonedx": CycloneDxFormat, "html": HtmlFormat}


def _whole_in(fmt: str, saved: Path, out: Path) -> bytes:
    """What ``report -f FMT`` wrote before: the inventory read whole, rendered through the guard."""
    formatter = AGENT_FORMATS[fmt]()
    with open_output(str(out), formatter.output_kind) as stream:
        formatter.render(load_inventory(saved), stream)
    return out.read_bytes()


def _agent_report(fmt: str, saved: Path, out: Path) -> bool:
    return write_agent_report(saved, AGENT_FORMATS[fmt](), str(out))


@pytest.mark.parametrize("fmt", AGENT_FORMATS)
@pytest.mark.parametrize("sample", SAMPLES)
def test_an_agent_at_a_time_is_the_whole_report_byte_for_byte(fmt: str, sample: str, tmp_path: Path) -> None:
    saved = tmp_path / "scan.json"
    saved.write_text(SAMPLES[sample]().to_json(), encoding="utf-8")
    out = tmp_path / f"streamed.{fmt}"
    assert _agent_report(fmt, saved, out) is True
    assert out.read_bytes() == _whole_in(fmt, saved, tmp_path / f"whole.{fmt}")
    assert not any(k in out.read_text(encoding="utf-8") for k in PLANTED_KEYS.values())


def _odd(doc: dict, how: str) -> dict:
    agents, findings = doc["agents"], doc["findings"]
    if how == "agents-reversed":
        agents.reverse()
    elif how == "findings-reversed":
        findings.reverse()
    elif how == "finding-repeated":  # the last copy counts, as in the inventory's finding map
        findings.append(dict(findings[0], evidence="the later copy"))
    elif how == "finding-shared":  # one finding listed by two agents
        agents[1]["findings"] = agents[1]["findings"] + [agents[0]["findings"][0]]
    elif how == "finding-missing":  # listed, not there
        agents[0]["findings"] = ["0123456789abcdef"] + agents[0]["findings"]
    elif how == "key-in-name":  # a report of an older version may hold a key: scrubbed on the way
        agents[0]["name"] = "svc " + PLANTED_KEYS[next(iter(PLANTED_KEYS))]
    elif how == "not-utf-8":  # a path that was not UTF-8, carried with a surrogate escape
        agents[0]["name"] = "svc-\udcff"
        findings[0]["location"]["path"] = "src/caf\udce9.py"
    return doc


ODD = ["agents-reversed", "findings-reversed", "finding-repeated", "finding-shared", "finding-missing", "key-in-name",
       "not-utf-8"]


@pytest.mark.parametrize("fmt", AGENT_FORMATS)
@pytest.mark.parametrize("how", ODD)
def test_an_agent_at_a_time_writes_what_the_whole_read_writes_of_any_order(fmt: str, how: str, tmp_path: Path) -> None:
    doc = _odd(json.loads(full_inventory().to_json()), how)
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    out = tmp_path / f"streamed.{fmt}"
    assert _agent_report(fmt, saved, out) is True
    assert out.read_bytes() == _whole_in(fmt, saved, tmp_path / f"whole.{fmt}")
    assert not any(k in out.read_text(encoding="utf-8") for k in PLANTED_KEYS.values())


@pytest.mark.parametrize("fmt", AGENT_FORMATS)
@pytest.mark.parametrize("how", ["keys", "legacy", "repeated"])
def test_an_input_an_agent_at_a_time_cannot_write_is_left_to_the_whole_read(fmt: str, how: str, tmp_path: Path,
                                                                              run_cli) -> None:
    saved = tmp_path / "scan.json"
    saved.write_text(_reordered(json.loads(full_inventory().to_json()), how), encoding="utf-8")
    out = tmp_path / f"streamed.{fmt}"
    assert _agent_report(fmt, saved, out) is False
    assert not out.exists()
    r = run_cli("report", str(saved), "-f", fmt, "-o", str(tmp_path / f"cli.{fmt}"))
    assert r.code == 0 and (tmp_path / f"cli.{fmt}").read_bytes() == _whole_in(fmt, saved, tmp_path / f"whole.{fmt}")


@pytest.mark.parametrize("fmt", AGENT_FORMATS)
def test_a_bad_inventory_in_an_agent_format_writes_nothing_and_is_named(fmt: str, tmp_path: Path, run_cli) -> None:
    doc = json.loads(full_inventory().to_json())
    doc["findings"][-1]["location"]["line"] = "abc"
    saved = tmp_path / "bad.json"
    saved.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    r = run_cli("report", str(saved), "-f", fmt, "-o", str(out))
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1 and not out.exists()
    assert f"field findings[{len(doc['findings']) - 1}].location.line: must be integer" in r.err


@pytest.mark.parametrize("fmt", AGENT_FORMATS)
def test_no_room_for_the_working_files_is_said_as_such(fmt: str, tmp_path: Path) -> None:
    """The spools cannot be written (here a file size limit of one byte; a full disk alike): one
    line naming the temporary directory and TMPDIR, exit 2, nothing on stdout — not a fault of the input."""
    saved = tmp_path / "scan.json"
    saved.write_text(full_inventory().to_json(), encoding="utf-8")

    def one_byte_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))

    r = subprocess.run([shutil.which("shadow-agents") or "shadow-agents", "report", str(saved), "-f", fmt],
                       capture_output=True, text=True, timeout=120, preexec_fn=one_byte_files,
                       env={**os.environ, "TMPDIR": str(tmp_path)})
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert f"cannot write the working files in {tmp_path}" in r.stderr and "TMPDIR" in r.stderr
    assert "internal error" not in r.stderr and str(saved) not in r.stderr


def _outcome(write) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    try:
        return "written", write()
    except InputError as exc:
        return "refused", str(exc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_change_to_an_element_is_written_or_refused_alike_an_agent_at_a_time(data: st.DataObject,
                                                                                tmp_path: Path) -> None:
    """Whatever the whole read does with a changed field — writes it, or names its fault — the
    agent-at-a-time path does the same, or declines (and the whole read then does it)."""
    fmt = data.draw(st.sampled_from(sorted(AGENT_FORMATS)))
    doc = json.loads(full_inventory().to_json())
    name = data.draw(st.sampled_from(["agents", "findings"]))
    element = data.draw(st.sampled_from(doc[name]))
    field = data.draw(st.sampled_from(sorted(element) + ["location", "details", "spend", "findings", "extra"]))
    element[field] = data.draw(_like(element.get(field)) | JSON_VALUES)
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    streamed_out, whole_out = tmp_path / f"streamed.{fmt}", tmp_path / f"whole.{fmt}"
    streamed_out.unlink(missing_ok=True)

    def streamed() -> str:
        return streamed_out.read_bytes().decode("utf-8") if _agent_report(fmt, saved, streamed_out) else "declined"

    got = _outcome(streamed)
    want = _outcome(lambda: _whole_in(fmt, saved, whole_out).decode("utf-8"))
    assert got == want or got == ("written", "declined")
    if got[0] == "refused":
        assert not streamed_out.exists()


# ---- diff, agent by agent (scanner/diff_stream.py) ------------------------------------------


def _save(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def _moved(doc: dict) -> dict:
    """``doc`` a scan later: one agent with a new id (paired by its keys), one gone, one with a new model."""
    doc = json.loads(json.dumps(doc))
    agents = [a for a in doc["agents"] if a.get("change") != "gone"]
    assert len(agents) >= 3
    agents[0]["id"] = "0123456789ab"
    agents[1]["models"] = sorted(agents[1].get("models", []) + ["gpt-9"])
    doc["agents"].remove(agents[2])
    return doc


def _shared_key(doc: dict) -> tuple[dict, dict]:
    """Two old agents hold one strong key; a new agent with another id holds it: the first old one is its
    past, the second is gone, and an agent that keeps its id but lost its keys is new only if unpaired."""
    old = json.loads(json.dumps(doc))
    agents = [a for a in old["agents"] if a.get("change") != "gone"]
    for a in agents[:2]:
        a["identity"] = sorted(a["identity"] + ["container:0123456789ab"])
    new = json.loads(json.dumps(old))
    first, second = [a for a in new["agents"] if a.get("change") != "gone"][:2]
    new["agents"].remove(second)
    first["id"] = "ba9876543210"
    return old, new


@pytest.mark.parametrize("pair", ["moved", "shared-key", "same", "registered", "empty-old", "empty-new"])
def test_a_diff_agent_by_agent_is_the_diff_of_the_whole_inventories(pair: str, tmp_path: Path) -> None:
    full = json.loads(full_inventory().to_json())
    docs = {"moved": (full, _moved(full)), "shared-key": _shared_key(full), "same": (full, full),
            "registered": (json.loads(unregistered_inventory().to_json()), full),
            "empty-old": (json.loads(empty_inventory().to_json()), full),
            "empty-new": (full, json.loads(empty_inventory().to_json()))}[pair]
    old, new = _save(tmp_path / "old.json", docs[0]), _save(tmp_path / "new.json", docs[1])
    streamed, whole = diff_saved(old, new), _whole_diff(old, new)
    assert streamed == whole
    if pair == "moved":
        assert len(streamed.changed) == 1 and len(streamed.gone) == 1 and not streamed.new
        assert "0123456789ab" in streamed.unchanged  # paired by its keys, and nothing compared changed
    assert diff_saved(old, new, keep_unchanged=False).unchanged_count == len(whole.unchanged)


def test_an_old_inventory_that_repeats_an_agent_id_is_left_to_the_whole_read(tmp_path: Path) -> None:
    full = json.loads(full_inventory().to_json())
    twice = json.loads(json.dumps(full))
    twice["agents"].append(dict(twice["agents"][0], name="the same id again"))
    old, new = _save(tmp_path / "old.json", twice), _save(tmp_path / "new.json", _moved(full))
    assert diff_saved(old, new) == _whole_diff(old, new)


def test_a_bad_new_inventory_is_named_as_the_whole_read_names_it(tmp_path: Path) -> None:
    full = json.loads(full_inventory().to_json())
    bad = json.loads(json.dumps(full))
    bad["agents"][1]["identity"] = [1, 2]
    old, new = _save(tmp_path / "old.json", full), _save(tmp_path / "new.json", bad)
    with pytest.raises(InputError, match=r"new\.json: not a shadow-agents inventory: field agents\[1\]\.identity"):
        diff_saved(old, new)


# ---- merge, one inventory after the other into the union (scanner/merge.py) --------------------


@pytest.mark.parametrize("case", ["overlap", "legacy", "repeated"])
def test_merging_saved_inventories_one_after_the_other_is_merging_them_read_whole(case: str, tmp_path: Path) -> None:
    full = json.loads(full_inventory().to_json())
    other = json.loads(unregistered_inventory().to_json())
    first, second = _save(tmp_path / "a.json", full), tmp_path / "b.json"
    if case == "legacy":  # a 1.0 inventory: its findings' typed fields are read from details
        for f in other["findings"]:
            f.setdefault("details", {})["world_readable"] = True
            f.pop("risks", None)
        other["schema_version"] = "1.0"
    _save(second, other)
    if case == "repeated":  # the last findings array of the file counts
        second.write_text(second.read_text(encoding="utf-8").replace('"findings": [', '"findings": [], "findings": [', 1),
                          encoding="utf-8")
    paths = [first, second, first]
    whole = merge_inventories([load_inventory(p, agents=False, scrub=False) for p in paths], None, [],
                              [str(p) for p in paths], TODAY)
    assert merge_saved(paths, None, [], TODAY).to_json() == whole.to_json()


# ---- merge on disk (scanner/merge_stream.py) ---------------------------------------------------


def _merged_on_disk(paths: list[Path], registry=None) -> str | None:  # type: ignore[no-untyped-def]
    built = streamed_merge(paths, registry, [], TODAY)
    if built is None:
        return None
    pieces: list[bytes] = []
    with built:
        built.write(pieces.append)
    return b"".join(pieces).decode("utf-8", "surrogatepass")


def _merged_whole(paths: list[Path], registry=None) -> str:  # type: ignore[no-untyped-def]
    inputs = [load_inventory(p, agents=False, scrub=False) for p in paths]
    return merge_inventories(inputs, registry, [], [str(p) for p in paths], TODAY).to_json()


def _listing_and_holders(tmp_path: Path) -> list[Path]:
    """One host's repo holds two keys, the admin API's listing (another run) lists one of them: the
    merge joins the held key to its listing across the two inventories, and says the other is not listed."""
    from tests.test_admin_keyhints import found, inventory, listed, used
    from tests.keys import make_key
    mine, other = make_key("openai-project", 1), make_key("openai-project", 2)
    holders = inventory([found(mine, "bot/config.py"), found(other, "bot/old.py")])
    listing = inventory([listed("key_web", f"{mine[:8]}...{mine[-4:]}"), listed("key_b", f"sk-proj-...{other[-3:]}x"),
                         used("key_web", "gpt-4o", 3)])
    (tmp_path / "holders.json").write_text(holders.to_json(), encoding="utf-8")
    (tmp_path / "listing.json").write_text(listing.to_json(), encoding="utf-8")
    return [tmp_path / "holders.json", tmp_path / "listing.json"]


@pytest.mark.parametrize("on_cores", [False, True], ids=["one-process", "workers"])
@pytest.mark.parametrize("case", ["overlap", "registered", "keys-listed", "empty", *ODD])
def test_a_merge_on_disk_is_the_whole_merge_byte_for_byte(case: str, on_cores: bool, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if on_cores:  # its inputs read and its groups built by forked workers, however small they are
        from scanner import chunk_pool, merge_stream
        monkeypatch.setattr(merge_stream, "PARALLEL_FINDINGS", 0)
        monkeypatch.setattr(chunk_pool, "MIN_BYTES", 0)
    full = json.loads(full_inventory().to_json())
    other = unregistered_inventory().to_json()
    registry = None
    (tmp_path / "full.json").write_text(full_inventory().to_json(), encoding="utf-8")  # this tool's layout
    paths = [tmp_path / "full.json", _save(tmp_path / "other.json", json.loads(other)), tmp_path / "full.json"]
    if case == "registered":  # matched records give approved agents, the others dormant ones
        from scanner.registry import parse_registry
        from tests.fixtures.inventory_samples import REGISTRY
        registry = parse_registry(REGISTRY, "agents.yaml")
    elif case == "keys-listed":
        paths = _listing_and_holders(tmp_path)
    elif case == "empty":
        (tmp_path / "empty.json").write_text(empty_inventory().to_json(), encoding="utf-8")
        paths = [tmp_path / "empty.json"]
    elif case in ODD:  # odd inputs, in the tool's layout (read a chunk at a time) and another
        odd = _odd(json.loads(json.dumps(full)), case)
        (tmp_path / "odd.json").write_text(json.dumps(odd, indent=2, sort_keys=True), encoding="utf-8")
        paths = [tmp_path / "odd.json", _save(tmp_path / "odd-1.json", odd), tmp_path / "other.json"]
    streamed = _merged_on_disk(paths, registry)
    assert streamed is not None
    assert streamed == _merged_whole(paths, registry)
    assert not any(k in streamed for k in PLANTED_KEYS.values())
    if case == "keys-listed":
        merged = json.loads(streamed)
        held = next(f for f in merged["findings"] if f.get("details", {}).get("listed_key", {}).get("status") == "matched")
        joined = next(a for a in merged["agents"] if held["id"] in a["findings"])
        assert any(f["id"] in joined["findings"] and f["kind"] == "listed-api-key" for f in merged["findings"])


@pytest.mark.parametrize("case", ["legacy", "repeated"])
def test_an_input_the_merge_on_disk_does_not_take_is_merged_whole(case: str, tmp_path: Path) -> None:
    doc = json.loads(unregistered_inventory().to_json())
    if case == "legacy":  # its findings' typed fields depend on its schema_version, read after them
        doc["schema_version"] = "1.0"
    saved = _save(tmp_path / "a.json", doc)
    if case == "repeated":  # the top-level findings twice: the last array counts
        text = saved.read_text(encoding="utf-8")
        assert '\n "findings": [' in text
        saved.write_text(text.replace('\n "findings": [', '\n "findings": [],\n "findings": [', 1), encoding="utf-8")
    assert _merged_on_disk([tmp_path / "a.json"]) is None
    assert _merged_whole([tmp_path / "a.json"])  # which the whole merge takes


@pytest.mark.parametrize("fault", ["location", "finding id"])
def test_a_bad_input_to_the_merge_on_disk_gets_the_message_of_the_whole_merge(fault: str, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(full_inventory().to_json(), encoding="utf-8")
    doc = json.loads(full_inventory().to_json())
    if fault == "location":
        doc["findings"][2]["location"] = "x"
    else:  # an id not of 16 lower-case hex digits (the spools hold ids as numbers): refused alike
        old_id = doc["findings"][2]["id"]
        doc["findings"][2]["id"] = new_id = old_id[:15] + "G"
        for agent in doc["agents"]:
            agent["findings"] = [new_id if i == old_id else i for i in agent["findings"]]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")
    with pytest.raises(InputError) as whole:
        _merged_whole([good, bad])
    with pytest.raises(InputError) as streamed:
        _merged_on_disk([good, bad])
    assert str(streamed.value) == str(whole.value) and "bad.json" in str(streamed.value)


@pytest.mark.parametrize("fmt", ["json", "csv", "sarif"])
def test_merge_writes_each_format_as_the_whole_merge_renders_it(fmt: str, tmp_path: Path, run_cli) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(full_inventory().to_json(), encoding="utf-8")
    b.write_text(unregistered_inventory().to_json(), encoding="utf-8")
    r = run_cli("merge", str(a), str(b), "-f", fmt, "-o", str(tmp_path / f"merged.{fmt}"))
    assert r.code == 0, r.stderr
    whole = merge_saved([a, b], None, [])
    with open_output(str(tmp_path / "whole"), "json" if fmt in ("json", "sarif") else "text") as stream:
        load_format(fmt).render(whole, stream)
    assert (tmp_path / f"merged.{fmt}").read_bytes() == (tmp_path / "whole").read_bytes()


def test_the_merge_leaves_no_working_files_behind(tmp_path: Path, run_cli) -> None:
    a = tmp_path / "a.json"
    a.write_text(full_inventory().to_json(), encoding="utf-8")
    work = tmp_path / "tmp"
    work.mkdir()
    for args in (["-f", "json"], ["-f", "csv"]):
        assert run_cli("merge", str(a), str(a), *args, env={"TMPDIR": str(work)}).code == 0
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    assert run_cli("merge", str(a), str(bad), env={"TMPDIR": str(work)}).code == 2
    assert list(work.iterdir()) == []


def test_no_room_for_the_merges_working_files_is_said_as_such(tmp_path: Path) -> None:
    saved = tmp_path / "scan.json"
    saved.write_text(full_inventory().to_json(), encoding="utf-8")

    def one_byte_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))

    r = subprocess.run([shutil.which("shadow-agents") or "shadow-agents", "merge", str(saved), str(saved)],
                       capture_output=True, text=True, timeout=120, preexec_fn=one_byte_files,
                       env={**os.environ, "TMPDIR": str(tmp_path)})
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert f"cannot write the working files in {tmp_path}" in r.stderr and "TMPDIR" in r.stderr


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_change_to_a_finding_is_merged_or_refused_alike_on_disk(data: st.DataObject, tmp_path: Path) -> None:
    """Whatever the whole merge does with a changed field of an input — merges it, or names its
    fault — the merge on disk does the same (or declines, and the whole merge then does it)."""
    tmp_path = Path(tempfile.mkdtemp(dir=tmp_path))  # each example its own files
    listing = data.draw(st.booleans())  # found keys in one input, the provider's listing in another
    paths = _listing_and_holders(tmp_path) if listing else []
    changed = data.draw(st.sampled_from(paths)) if listing and data.draw(st.booleans()) else tmp_path / "changed.json"
    doc = json.loads(changed.read_text(encoding="utf-8")) if changed.exists() else json.loads(full_inventory().to_json())
    name = data.draw(st.sampled_from(["findings", "findings", "agents"]))
    element = data.draw(st.sampled_from(doc[name]))
    field = data.draw(st.sampled_from(sorted(element) + ["location", "details", "identity", "credential", "extra"]))
    element[field] = data.draw(_like(element.get(field)) | JSON_VALUES)
    changed.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text(unregistered_inventory().to_json(), encoding="utf-8")
    paths = [other, *paths, *([] if changed in paths else [changed])]
    got = _outcome(lambda: _merged_on_disk(paths) or "declined")
    want = _outcome(lambda: _merged_whole(paths))
    assert got == want or got == ("written", "declined")


def test_a_merge_stopped_by_sigterm_leaves_no_working_files(tmp_path: Path) -> None:
    import signal
    import time
    a = tmp_path / "a.json"
    a.write_text(full_inventory().to_json(), encoding="utf-8")
    work = tmp_path / "tmp"
    work.mkdir()
    p = subprocess.Popen([shutil.which("shadow-agents") or "shadow-agents", "merge", *[str(a)] * 2000],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(work)})
    deadline = time.monotonic() + 60
    while not list(work.glob("shadow-agents-merge-*")) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    assert p.poll() is None, "the merge ended before it could be stopped"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert list(work.iterdir()) == []
