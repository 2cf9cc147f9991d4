"""Every report format renders every sample inventory, deterministically, without leaking a key."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import stat

import pytest

from reports.markdown import md
from scanner.model import Change, Inventory, Status
from scanner.plugins import format_for_extension, load_format
from tests.fixtures.inventory_samples import ALL_KINDS, PLANTED_KEYS, SAMPLES, full_inventory, unregistered_inventory

FORMATS = ("sarif", "markdown", "html", "csv", "cyclonedx")
EXTENSIONS = {"sarif": "sarif", "markdown": "md", "html": "html", "csv": "csv", "cyclonedx": "cdx.json"}


def as_rendered(fmt: str, text: str) -> str:
    """``text`` as the format writes it (Markdown escapes ``_``)."""
    return md(text) if fmt == "markdown" else text


def render(fmt: str, inventory: Inventory) -> str:
    buf = io.StringIO()
    load_format(fmt).render(inventory, buf)
    return buf.getvalue()


def test_full_sample_holds_every_status_kind_and_change():
    inv = full_inventory()
    assert {a.status for a in inv.agents} == set(Status)
    assert {a.change for a in inv.agents} == set(Change)
    assert {f.kind for f in inv.findings} == ALL_KINDS
    assert set(inv.summary()["spend"]) == {"USD", "EUR"}
    assert any(f.credential and f.credential.admin for f in inv.findings)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_format_renders_every_sample(fmt, sample):
    out = render(fmt, SAMPLES[sample]())
    assert out.endswith("\n")
    if sample != "empty":
        assert "résumé-screener" in out or "r%C3%A9sum%C3%A9" in out
    if fmt in ("sarif", "cyclonedx"):
        json.loads(out)


@pytest.mark.parametrize("fmt", ("markdown", "html", "csv"))
def test_control_and_bidi_characters_are_shown_not_obeyed(fmt):
    out = render(fmt, unregistered_inventory())
    assert not set("\x00\x1b\x7f\u202e") & set(out)
    assert "\\x1b" in out and "\\u202e" in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_is_deterministic_and_survives_a_json_round_trip(fmt):
    first = render(fmt, full_inventory())
    assert render(fmt, full_inventory()) == first
    reloaded = Inventory.from_dict(json.loads(full_inventory().to_json()))
    assert render(fmt, reloaded) == first


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_planted_key_leaks_but_previews_and_fingerprints_show(fmt):
    inv = full_inventory()
    out = render(fmt, inv)
    creds = {f.credential for f in inv.findings if f.credential}
    assert len(creds) == len(PLANTED_KEYS)
    for name, key in PLANTED_KEYS.items():
        assert key not in out, f"raw {name} key in {fmt} output"
        assert key[-12:] not in out and key[8:30] not in out
    for cred in creds:
        assert as_rendered(fmt, cred.preview) in out
    if fmt != "markdown":  # markdown shows previews only; the others carry fingerprints too
        for cred in creds:
            assert cred.fingerprint in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_extension_chooses_the_format(fmt):
    assert format_for_extension(f"weekly.{EXTENSIONS[fmt]}") == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_report_command_writes_each_format_mode_0600(run_cli, workdir, fmt):
    saved = workdir / "saved.json"
    saved.write_text(full_inventory().to_json(), encoding="utf-8")
    target = workdir / f"out.{EXTENSIONS[fmt]}"
    r = run_cli("report", str(saved), "-f", fmt, "-o", str(target))
    assert r.code == 0, r.err
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    text = target.read_bytes().decode("utf-8")
    assert text == render(fmt, full_inventory())
    assert not [p for p in os.listdir(workdir) if p.endswith(".tmp")]
    for key in PLANTED_KEYS.values():
        assert key not in text and key not in r.out + r.err


def test_a_table_of_more_rows_than_rich_lays_out_quickly_is_plain_and_says_so():
    from reports.table import RICH_ROWS
    inv = unregistered_inventory()
    template = next(a for a in inv.agents if "\x1b" in a.name)
    inv.agents = [dataclasses.replace(template, id=f"{i:012x}", name=f"{i}-" + ("x" * 60 if i == 7 else template.name))
                  for i in range(RICH_ROWS + 1)]
    out = render("table", inv)
    lines = out.splitlines()
    assert f"{RICH_ROWS + 1:,} rows: plain layout" in lines[1] and "-f json" in lines[1]
    assert lines[2].split()[:2] == ["Status", "Sev"] and set(lines[3].replace(" ", "")) == {"-"}
    rows = [line for line in lines[4:] if not line.startswith("coverage:")]
    assert len(rows) == RICH_ROWS + 1
    assert any("…" in row and " 7-xx" in row for row in rows)  # a long name is cut, the JSON has it whole
    assert not set("\x00\x1b\x7f\u202e") & set(out) and "\\x1b" in out  # cells are printable as in the rich table
    for key in PLANTED_KEYS:
        assert key not in out
