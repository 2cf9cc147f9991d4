"""A registry without anchors is built from the YAML parser's events (scanner/registry.py,
``_load_events``), with no node graph: it must build exactly what the whole loader builds —
values, ``__lines__``/``__line__`` marks, duplicate-key refusals — or hand the document back."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from scanner import registry
from scanner.registry import parse_registry


def _whole(text: str):
    try:
        return "ok", yaml.load(text, Loader=registry._LineLoader)  # noqa: S506 - SafeLoader subclass
    except registry._Duplicate as dup:
        return "duplicate", dup.key, dup.line, dup.first


def _events(text: str):
    try:
        return "ok", registry._load_events(registry._LineLoader(text))
    except registry._Duplicate as dup:
        return "duplicate", dup.key, dup.line, dup.first


DOCUMENTS = [
    "version: 1\nagents:\n  - id: a\n    owner: b\n    created: 2026-01-10\n    models: [gpt-4o, 1, 2.5, true, null, '3']\n"
    "    match: {keys: ['repo:*'], tags: {team: x}}\n",
    "- id: a\n  owner: x\n", "", "# only a comment\n", "a: 1\n1: 2\n'1': 3\n", "a: !!str 12\nb: !!binary aGVsbG8=\n",
    "a: [[1, 2], {b: c}]\nc: {}\nd: []\n", "a: 1\na: 2\n", "x: {y: 1, y: 2}\n", "- a\n- b: 1\n  c: 2\n",
    "a: |\n  two\n  lines\nb: >-\n  folded\n", "a: 0x1f\nb: 1_000\nc: .inf\nd: ~\ne: 2026-13-40\n",
]
UNUSUAL = ["a: 1\n---\nb: 2\n", "? [a]\n: 1\n", "<<: {a: 1}\nb: 2\n", "a: !custom x\n", "a: !!set {x: null}\n"]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_events_build_what_the_whole_loader_builds(text: str) -> None:
    assert _events(text) == _whole(text)


@pytest.mark.parametrize("text", UNUSUAL)
def test_what_the_event_builder_leaves_to_the_whole_loader(text: str) -> None:
    with pytest.raises(registry._Unusual):
        registry._load_events(registry._LineLoader(text))


_keys = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12) \
    | st.dates(min_value=dt.date(1990, 1, 1))
_data = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
                     max_leaves=25)


@settings(max_examples=200, deadline=None)
@given(_data, st.booleans())
def test_any_dumped_document_is_built_alike(data, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    if "&" not in text:
        assert _events(text) == _whole(text)


def test_registries_with_anchors_or_merge_keys_still_load() -> None:
    anchored = ("version: 1\nagents:\n  - id: a\n    owner: &o team@example.com\n    match: [\"repo:*\"]\n"
                "  - id: b\n    owner: *o\n    match: [\"proc:*\"]\n")
    assert [r.owner for r in parse_registry(anchored, "r.yaml").records] == ["team@example.com"] * 2
    merged = "version: 1\nagents:\n  - <<: {owner: team@example.com}\n    id: a\n    match: [\"repo:*\"]\n"
    assert [r.owner for r in parse_registry(merged, "r.yaml").records] == ["team@example.com"]  # the whole loader's
