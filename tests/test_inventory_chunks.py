"""Saved inventories in this tool's own layout, read a chunk of whole elements at a time
(scanner/inventory_chunks.py): the same text as the general reader writes, or the general reader."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner import inventory_chunks, redact, report_stream
from tests.fixtures.inventory_samples import PLANTED_KEYS, empty_inventory, full_inventory, unregistered_inventory

SAMPLES = {"full": full_inventory, "unregistered": unregistered_inventory, "empty": empty_inventory}


def _both(path: Path) -> tuple[str | None, str | None]:
    """(chunked text or None where it declined, element-by-element text or None where it declined)."""
    redact.load_key_formats()
    out = []
    for way in (report_stream._in_chunks, report_stream._by_elements):
        with tempfile.TemporaryFile("w+b") as spool:
            ok = way(path, report_stream._Spool(spool))
            spool.seek(0)
            out.append(spool.read().decode("utf-8", "surrogatepass") if ok else None)
    return out[0], out[1]


def _chunks(path: Path) -> list[tuple[str, bytes]]:
    seen: list[tuple[str, bytes]] = []
    with open(path, "rb") as fh:
        inventory_chunks.read_chunks(fh, lambda name, raw: seen.append((name, raw)), lambda name, top: None)
    return seen


@pytest.mark.parametrize("sample", SAMPLES)
def test_what_this_tool_writes_is_read_in_chunks_into_structs_and_written_back_alike(sample: str, tmp_path: Path) -> None:
    saved = tmp_path / "scan.json"
    saved.write_text(SAMPLES[sample]().to_json(), encoding="utf-8")
    chunked, general = _both(saved)
    assert chunked is not None and chunked == general
    for name, raw in _chunks(saved):  # the structs took every chunk: the fast way was the way taken
        records = inventory_chunks.decode(name, raw)
        assert records is not None, name
        assert inventory_chunks.clean(inventory_chunks.items(records), records)
    assert not any(k in chunked for k in PLANTED_KEYS.values())


def _one_per_line(doc: dict) -> str:
    """The layout of a tool that writes each element on one line (the benchmark's inputs)."""
    parts = []
    for name in ("agents", "coverage", "findings", "metadata", "schema_version", "summary"):
        if name in ("agents", "findings"):
            parts.append(f'"{name}": [\n' + ",\n".join(json.dumps(e, sort_keys=True, ensure_ascii=False)
                                                     for e in doc[name]) + "]")
        else:
            parts.append(f'"{name}": ' + json.dumps(doc[name]))
    return "{" + ",\n".join(parts) + "}\n"


LAYOUTS = {
    "indented": lambda doc: json.dumps(doc, indent=2, sort_keys=True),
    "indent-1": lambda doc: json.dumps(doc, indent=1, sort_keys=True),
    "one-per-line": _one_per_line,
    "crlf": lambda doc: json.dumps(doc, indent=2, sort_keys=True).replace("\n", "\r\n"),
    "ascii-escapes": lambda doc: json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True),
    "compact": lambda doc: json.dumps(doc, sort_keys=True),  # not this layout: the general way
    "unsorted-keys": lambda doc: json.dumps(dict(reversed(list(doc.items()))), indent=2),  # findings first
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("chunk", [1 << 20, 300, 1])
def test_every_layout_and_chunk_size_gives_the_general_readers_text(layout: str, chunk: int, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inventory_chunks, "CHUNK", chunk)
    monkeypatch.setattr(inventory_chunks, "BLOCK", max(chunk, 64))  # the buffer grows block by block
    saved = tmp_path / "scan.json"
    saved.write_text(LAYOUTS[layout](json.loads(full_inventory().to_json())), encoding="utf-8")
    chunked, general = _both(saved)
    if layout == "unsorted-keys":
        assert (chunked, general) == (None, None)  # both decline: the inventory is read whole
    elif layout == "compact":
        assert chunked is None and general is not None  # declined, and the general way writes it
    else:
        assert general is not None and chunked == general
    if layout in ("indented", "one-per-line") and chunk == 1:
        assert sum(name == "findings" for name, _ in _chunks(saved)) == len(json.loads(saved.read_text())["findings"])


def _doc() -> dict:
    return json.loads(full_inventory().to_json())


NOT_WRITTEN_BACK_ALIKE = {  # valid, but the model writes it otherwise: the general way, and the same text
    "unsorted identity": lambda d: d["findings"][0].update(identity=["z:1", "a:1"]),
    "repeated identity": lambda d: d["findings"][0].update(identity=["a:1", "a:1"]),
    "empty finding identity": lambda d: d["findings"][0].update(identity=[]),
    "unsorted risks": lambda d: d["findings"][0].update(risks=["in-history", "exposed"]),
    "empty location": lambda d: d["findings"][0].update(location={}),
    "a dedupe key of another id": lambda d: d["agents"][0].update(dedupe_key="shadow-agents:000000000000"),
    "spend below a cent": lambda d: d["agents"][0].update(spend={"USD": 1.005}),
    "huge spend": lambda d: d["agents"][0].update(spend={"USD": 1e17}),
    "a tiny cost": lambda d: d["findings"][0].update(cost=1e-05),
    "a float in details": lambda d: d["findings"][0].update(details={"ratio": 0.5, "tiny": 1e-7}),
    "deep details": lambda d: d["findings"][0].update(details={"a": {"b": {"c": [1, {"d": None}]}}}),
    "empty details and tags": lambda d: d["findings"][0].update(details={}, tags={}, risks=[]),
    "no kind": lambda d: d["agents"][0].pop("kind"),
    "an admin flag off": lambda d: d["findings"][0].update(credential={"fingerprint": "0123abcd", "preview": "sk-…",
                                                                       "admin": False}),
    "an integer cost": lambda d: d["findings"][0].update(cost=3),
    "a key in a name": lambda d: d["agents"][0].update(name="bot " + PLANTED_KEYS[next(iter(PLANTED_KEYS))]),
    "a key in details": lambda d: d["findings"][1].update(details={"note": PLANTED_KEYS[next(iter(PLANTED_KEYS))]}),
    "a windows path": lambda d: d["findings"][0]["location"].update(path="C:\\Users\\dev\\app.py"),
    "a url password": lambda d: d["findings"][0].update(endpoint="https://user:hunter2@example.com/v1"),
}


@pytest.mark.parametrize("case", NOT_WRITTEN_BACK_ALIKE)
def test_what_the_model_writes_otherwise_is_written_as_the_general_reader_writes_it(case: str, tmp_path: Path) -> None:
    doc = _doc()
    NOT_WRITTEN_BACK_ALIKE[case](doc)
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    chunked, general = _both(saved)
    assert general is not None and chunked == general
    assert not any(k in chunked for k in PLANTED_KEYS.values())


BAD = {
    "an integer line": lambda d: d["findings"][-1]["location"].update(line="abc"),
    "an unknown field": lambda d: d["agents"][0].update(colour="red"),
    "a short id": lambda d: d["agents"][0].update(id="abc"),
    "a long preview": lambda d: d["findings"][0].update(credential={"fingerprint": "0123abcd", "preview": "x" * 17}),
    "a status nobody knows": lambda d: d["agents"][1].update(status="fine"),
    "an unknown risk": lambda d: d["findings"][0].update(risks=["haunted"]),
    "identity of numbers": lambda d: d["agents"][1].update(identity=[1, 2]),
    "a negative pid": lambda d: d["findings"][0]["location"].update(pid=-1),
    "spend as text": lambda d: d["agents"][0].update(spend={"USD": "12"}),
    "a null model": lambda d: d["findings"][0].update(model=None),  # optional is not nullable
    "a null change": lambda d: d["agents"][0].update(change=None),
    "a null path": lambda d: d["findings"][0]["location"].update(path=None),
}


@pytest.mark.parametrize("case", BAD)
def test_what_the_schema_refuses_is_refused_as_the_general_reader_refuses_it(case: str, tmp_path: Path) -> None:
    doc = _doc()
    BAD[case](doc)
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")
    assert _both(saved) == (None, None)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70)
                           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=3), max_leaves=6)


def _like(value: object) -> st.SearchStrategy:
    """Values of the type ``value`` has (most of them valid where it is), or anything at all."""
    text = st.text(max_size=12) | st.sampled_from(
        ["", "é…", "a\\b", 'q"q', "\t", "0.00001", "https://u:p@h", "sk-proj-"])
    if isinstance(value, str):
        return text
    if isinstance(value, list):
        return st.lists(text if not value or isinstance(value[0], str) else JSON_VALUES, max_size=4)
    if isinstance(value, dict):
        return st.dictionaries(text, text | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                               | st.none() | JSON_VALUES, max_size=3)
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, (int, float)):
        return st.integers(-10, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    return JSON_VALUES


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_change_to_an_element_is_read_alike_or_left_to_the_general_reader(data: st.DataObject,
                                                                             tmp_path: Path) -> None:
    """Whatever the general reader does with a changed field — writes it, or refuses the file —
    the chunked reader does too, or declines."""
    doc = _doc()
    name = data.draw(st.sampled_from(["agents", "findings"]))
    element = data.draw(st.sampled_from(doc[name]))
    field = data.draw(st.sampled_from(sorted(element) + ["location", "details", "spend", "extra"]))
    value = data.draw(_like(element.get(field)) | JSON_VALUES)
    if field == "location" and isinstance(value, dict) and name == "findings":
        value = {**element.get("location", {}), **value}
    element[field] = value
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    chunked, general = _both(saved)
    if general is None:
        assert chunked is None
    else:
        assert chunked in (None, general)


def test_a_cut_that_falls_inside_an_element_is_never_taken_for_one(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-edited file whose nested objects sit at the elements' own indent: the separator the
    layout suggests occurs inside an element, the chunk does not decode, and the file is read the
    general way."""
    monkeypatch.setattr(inventory_chunks, "CHUNK", 1)
    doc = _doc()
    text = json.dumps(doc, indent=2, sort_keys=True)
    inner = '"reasons": [\n        {'
    assert inner in text
    text = text.replace(inner, '"reasons": [{"code": "x", "message": "y"},\n    {', 1)
    saved = tmp_path / "scan.json"
    saved.write_text(text, encoding="utf-8")
    chunked, general = _both(saved)
    assert chunked is None or chunked == general


def test_the_structs_refuse_what_the_schema_refuses_in_a_decoded_chunk() -> None:
    good = json.loads(full_inventory().to_json())["agents"][0]
    raw = json.dumps(good).encode()
    assert inventory_chunks.decode("agents", raw) is not None
    for bad in ({**good, "id": "ABCDEF012345"}, {**good, "findings": ["zz"]}, {**good, "reasons": [{"code": "x"}]},
                {k: v for k, v in good.items() if k != "name"}):
        assert inventory_chunks.decode("agents", json.dumps(bad).encode()) is None
    with pytest.raises(inventory_chunks.NotThisLayout):
        inventory_chunks.decode_plain(raw[:-1])


def test_a_truncated_file_is_not_this_layout() -> None:
    text = full_inventory().to_json().encode()
    for cut in (10, len(text) // 3, len(text) // 2, len(text) - 3):
        with pytest.raises(inventory_chunks.NotThisLayout):
            inventory_chunks.read_chunks(io.BytesIO(text[:cut]), lambda n, r: None, lambda n, t: None)


@pytest.mark.parametrize("layout", ["indented", "one-per-line", "compact"])
@pytest.mark.parametrize("chunk", [1 << 20, 1])
def test_a_diff_read_in_chunks_is_the_diff_of_the_whole_inventories(layout: str, chunk: int, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.diff_stream import _whole, diff_saved
    monkeypatch.setattr(inventory_chunks, "CHUNK", chunk)
    old_doc = _doc()
    new_doc = _doc()
    live = [a for a in new_doc["agents"] if a.get("change") != "gone"]
    live[0]["models"] = sorted(live[0].get("models", []) + ["gpt-9"])
    new_doc["agents"].remove(live[1])
    live[2]["name"] = "renamed " + PLANTED_KEYS[next(iter(PLANTED_KEYS))]  # scrubbed, the general way
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(LAYOUTS[layout](old_doc), encoding="utf-8")
    new.write_text(LAYOUTS[layout](new_doc), encoding="utf-8")
    streamed = diff_saved(old, new)
    assert streamed == _whole(old, new)
    assert len(streamed.changed) == 1 and len(streamed.gone) == 1
    assert not any(k in repr(streamed) for k in PLANTED_KEYS.values())


def _general_load(path: Path) -> str:
    """The inventory as the general reader builds it, element by element (no chunks)."""
    from scanner.inventory_file import inventory_from_parts, read_inventory
    kept: dict[str, list] = {"agents": [], "findings": []}
    top = read_inventory(path, {n: kept[n].append for n in kept}, lambda name, _top: kept[name].clear())
    return redact.scrub_inventory(inventory_from_parts(path, top, kept["agents"], kept["findings"])).to_json()


@pytest.mark.parametrize("layout", ["indented", "one-per-line", "crlf", "compact"])
@pytest.mark.parametrize("chunk", [1 << 20, 1])
def test_an_inventory_loaded_in_chunks_is_the_one_loaded_element_by_element(layout: str, chunk: int, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.inventory_file import load_inventory
    monkeypatch.setattr(inventory_chunks, "CHUNK", chunk)
    doc = _doc()
    doc["findings"][0]["identity"] = ["z:1", "a:1"]  # not the model's form: built from the dict all the same
    doc["findings"][1]["location"]["path"] = "C:\\repo\\app.py"
    saved = tmp_path / "scan.json"
    saved.write_text(LAYOUTS[layout](doc), encoding="utf-8")
    assert load_inventory(saved).to_json() == _general_load(saved)


@pytest.mark.parametrize("case", ["an integer line", "a null model", "identity of numbers"])
def test_a_bad_inventory_loaded_in_chunks_gets_the_general_readers_message(case: str, tmp_path: Path) -> None:
    from scanner.errors import InputError
    from scanner.inventory_file import load_inventory
    doc = _doc()
    BAD[case](doc)
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")
    with pytest.raises(InputError) as chunked:
        load_inventory(saved)
    with pytest.raises(InputError) as general:
        _general_load(saved)
    assert str(chunked.value) == str(general.value)


def test_a_merge_that_meets_another_layout_midway_forgets_what_it_read_and_reads_it_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second file looks like this tool's layout until its findings end (its schema version
    comes before its metadata): its findings were handed to the union before it turned out
    otherwise, and must be taken back before it is read the general way."""
    from scanner.inventory_file import load_inventory
    from scanner.merge import merge_inventories, merge_saved
    from tests.fixtures.inventory_samples import TODAY
    monkeypatch.setattr(inventory_chunks, "CHUNK", 1)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(json.loads(unregistered_inventory().to_json()), indent=2), encoding="utf-8")
    doc = _doc()
    order = ["agents", "coverage", "findings", "schema_version", "metadata", "summary"]
    second.write_text(json.dumps({k: doc[k] for k in order}, indent=2), encoding="utf-8")
    handed: list[str] = []
    with open(second, "rb") as fh, pytest.raises(inventory_chunks.NotThisLayout):
        inventory_chunks.read_chunks(fh, lambda name, raw: handed.append(name), lambda n, t: None)
    assert handed.count("findings") > 1
    paths = [first, second]
    whole = merge_inventories([load_inventory(p, agents=False, scrub=False) for p in paths], None, [],
                              [str(p) for p in paths], TODAY)
    assert merge_saved(paths, None, [], TODAY).to_json() == whole.to_json()


_END_PIECES = [b"]", b",", b" ", b"\n", b"\t", b"\r", b":", b"x", b'"coverage"', b'"metadata"']


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_END_PIECES), max_size=40), st.integers(min_value=0, max_value=200),
       st.sampled_from(["agents", "findings"]))
def test_the_end_of_an_array_is_found_where_its_pattern_finds_it(pieces: list[bytes], pos: int, name: str) -> None:
    """The literal search for the key after an array finds the same match as the pattern's own search."""
    buf = b"".join(pieces)
    pos = min(pos, len(buf))
    want = inventory_chunks._END_OF[name].search(buf, pos)
    got = inventory_chunks._search_end(name, buf, pos)
    assert (want and want.span()) == (got and got.span())


@pytest.mark.parametrize("array, field, value", [
    ("findings", "id", "0123456789ABCDEF"), ("findings", "id", "0123456789abcdeg"),
    ("findings", "fingerprint", "ABCDEF12"), ("agents", "id", "0123456789AB"),
    ("agents", "findings", ["0123456789abcdeZ"]), ("agents", "id", "0123456789a\u00e9")])
def test_ids_and_fingerprints_that_are_not_lower_case_hex_are_refused_by_the_structs(array: str, field: str,
                                                                                     value: object) -> None:
    """Their lengths are msgspec's to check, their digits a chunk at a time: either way refused, as the
    schema's patterns refuse them (the chunk is then read the general way, which names the fault)."""
    doc = json.loads(full_inventory().to_json())
    element = next(e for e in doc[array] if field != "fingerprint" or "credential" in e)
    assert inventory_chunks.decode(f"{array}-checked", json.dumps(element).encode()) is not None
    if field == "fingerprint":
        element = dict(element, credential=dict(element["credential"], fingerprint=value))
    else:
        element = dict(element, **{field: value})
    for name in (array, f"{array}-checked"):
        assert inventory_chunks.decode(name, json.dumps(element, ensure_ascii=False).encode()) is None


def _attributes(finding: object) -> dict:
    """Every attribute of a finding and of its parts, with its type (3 == 3.0, but not as written)."""
    out = {}
    for name, value in vars(finding).items():
        parts = vars(value) if hasattr(value, "__dataclass_fields__") else {"": value}
        out.update({(name, k): (type(v), json.dumps(v, default=str, sort_keys=True)) for k, v in parts.items()})
    return out


def _record_and_dict_agree(doc: dict) -> int:
    """For every element the structs take, ``from_record`` of its text is ``from_dict`` of the element."""
    from scanner.model import Agent, Finding
    taken = 0
    for name, cls in (("agents", Agent), ("findings", Finding)):
        raw = json.dumps(doc[name], ensure_ascii=False).encode("utf-8", "surrogatepass")[1:-1]
        records = inventory_chunks.decode(name, raw)
        for record, element in zip(records or [], doc[name]):
            built = cls.from_record(msgspec.json.decode(msgspec.json.encode(record)))
            assert _attributes(built) == _attributes(cls.from_dict(element))
            assert built == cls.from_dict(element)
            taken += 1
    return taken


@pytest.mark.parametrize("case", ["as written", *NOT_WRITTEN_BACK_ALIKE])
def test_an_element_the_structs_took_is_built_from_its_text_as_the_general_reader_builds_it(case: str) -> None:
    doc = _doc()
    if case != "as written":
        NOT_WRITTEN_BACK_ALIKE[case](doc)
    taken = _record_and_dict_agree(doc)
    assert taken or case != "as written"


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_element_the_structs_take_is_built_from_its_text_as_the_general_reader_builds_it(
        data: st.DataObject) -> None:
    doc = _doc()
    name = data.draw(st.sampled_from(["agents", "findings"]))
    element = data.draw(st.sampled_from(doc[name]))
    extra = ["location", "details", "credential", "cost", "tags"] if name == "findings" else ["change", "spend"]
    field = data.draw(st.sampled_from(sorted(element) + extra))
    value = data.draw(_like(element.get(field)) | JSON_VALUES)
    if field == "location" and isinstance(value, dict):
        value = {**element.get("location", {}), **value}
    element[field] = value
    _record_and_dict_agree(doc)
