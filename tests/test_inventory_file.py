"""A saved inventory is read in pieces (scanner/inventory_file.py): wherever a piece ends — inside a
string, a number, a key — the inventory read is the one a whole-file read gives, and a fault is
reported at the line a whole-file read names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner import inventory_file, redact
from scanner.errors import InputError
from scanner.inventory_file import load_inventory
from scanner.model import Inventory
from tests.fixtures.inventory_samples import full_inventory


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "scan.json"
    path.write_text(full_inventory().to_json(), encoding="utf-8")
    return path


def _whole_file(path: Path) -> str:
    return redact.scrub_inventory(Inventory.from_dict(json.loads(path.read_text(encoding="utf-8")))).to_json()


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000, 1 << 20])
def test_pieces_of_any_size_read_the_same_inventory(saved: Path, chunk: int, monkeypatch) -> None:
    monkeypatch.setattr(inventory_file, "CHUNK", chunk)
    assert load_inventory(saved).to_json() == _whole_file(saved)


def test_keys_in_any_order_and_findings_left_out(saved: Path, tmp_path: Path) -> None:
    doc = json.loads(saved.read_text(encoding="utf-8"))
    shuffled = tmp_path / "shuffled.json"
    shuffled.write_text(json.dumps({k: doc[k] for k in reversed(sorted(doc))}, indent=1), encoding="utf-8")
    assert load_inventory(shuffled).to_json() == _whole_file(saved)
    lean = load_inventory(saved, findings=False)
    assert lean.findings == [] and [a.id for a in lean.agents] == [a.id for a in load_inventory(saved).agents]
    assert load_inventory(saved, agents=False).agents == [] and load_inventory(saved, agents=False).findings


@pytest.mark.parametrize("chunk", [5, 1 << 20])
@pytest.mark.parametrize("damage", ["cut", "comma", "quote", "extra", "nan"])
def test_a_fault_is_reported_at_the_line_a_whole_file_read_names(saved: Path, tmp_path: Path, damage: str,
                                                                chunk: int, monkeypatch) -> None:
    monkeypatch.setattr(inventory_file, "CHUNK", chunk)
    text = saved.read_text(encoding="utf-8")
    middle = text.index('"findings": [') + 200
    bad = {"cut": text[:middle], "comma": text[:middle] + text[middle:].replace(",\n", "\n", 1),
           "quote": text[:middle] + text[middle:].replace('"', "", 1), "extra": text + "{}",
           "nan": text[:middle] + text[middle:].replace('"line": 1', '"line": NaN', 1)}[damage]
    path = tmp_path / "bad.json"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_inventory(path)
    try:
        json.loads(bad, parse_constant=inventory_file._no_constant)
    except json.JSONDecodeError as exc:
        assert str(caught.value) == f"{path}:{exc.lineno}: not JSON: {exc.msg}"
    except ValueError:
        assert str(caught.value) == f"{path}: not JSON: NaN is not a number JSON allows"
    else:
        pytest.fail("the damaged text is still JSON")


def test_a_bad_element_is_named_by_its_place_in_the_file(saved: Path, tmp_path: Path) -> None:
    doc = json.loads(saved.read_text(encoding="utf-8"))
    doc["findings"][3]["location"]["line"] = "abc"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.json: not a shadow-agents inventory: field findings\[3\]\.location\.line: "
                                         r"must be integer"):
        load_inventory(path, findings=False)  # checked even when not kept


def test_one_value_larger_than_many_pieces_costs_time_linear_in_its_size(tmp_path: Path, monkeypatch) -> None:
    """A value that spans pieces is decoded anew after each read; the reads grow, so the cost stays linear."""
    from tests.fuzzing import assert_linear_cpu
    monkeypatch.setattr(inventory_file, "CHUNK", 4096)
    doc = json.loads(full_inventory().to_json())

    def make(n: int) -> Path:
        path = tmp_path / f"big{n}.json"
        path.write_text(json.dumps(dict(doc, metadata={"notes": ["x" * 1000] * n})), encoding="utf-8")
        return path
    assert_linear_cpu(make, load_inventory, 2000, what="one large metadata value")
