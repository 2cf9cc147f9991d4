"""The documents people hand the scanner, fuzzed: registries, config files, catalogue
extensions and saved inventories.

Each is read by one function whose only way to refuse is :class:`InputError` (exit 2 with a
one-line message). Mutated real documents and documents with random values in real fields
must be read or refused that way, never with another exception; an inventory that is read
must render in every format. Cost is linear in the document, and a document bomb does not
fill memory.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner import config as config_mod
from scanner.catalog import Catalog
from scanner.errors import InputError, UserError
from scanner.pipeline import load_inventory
from scanner.plugins import load_format, report_entry_points
from scanner.redact import scrub_inventory
from scanner.registry import parse_registry
from tests.fixtures import inventory_samples
from tests.fuzzing import ROOT, assert_linear_lines, assert_linear_memory, fuzz, mutations

_DIR = Path(tempfile.mkdtemp(prefix="fuzz-documents-"))
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _fenced(language: str) -> list[bytes]:
    """The README's ``language`` examples: real documents, written for people."""
    parts = README.split("```" + language + "\n")[1:]
    return [p.split("```", 1)[0].encode() for p in parts]


def _one_line(exc: Exception) -> None:
    text = str(exc)
    assert text and "\n" not in text, repr(text)


# ---- registries ------------------------------------------------------------------------------------

REGISTRIES = [d for d in _fenced("yaml") if b"agents:" in d] + [
    json.dumps({"version": 1, "agents": [{"id": "a", "owner": "o", "match": {"keys": ["repo:*"]}}]}).encode()]


def _registry(data: bytes, name: str = "r.yaml") -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # load_registry refuses it by its line before parsing (tests/test_hostile_inputs.py)
    try:
        reg = parse_registry(text, name)
    except InputError as exc:
        _one_line(exc)
        return
    for record in reg.records:
        assert isinstance(record.id, str) and isinstance(record.owner, str)
        record.matches_key("repo:/x:.")
    reg.candidates(["repo:/x:.", "cred:0123456789abcdef"])


def test_the_readme_gives_registry_seeds() -> None:
    assert len(REGISTRIES) >= 2 and all(parse_registry(d.decode(), "r.yaml" if i < len(REGISTRIES) - 1 else "r.json")
                                        for i, d in enumerate(REGISTRIES))


@fuzz(100)
@given(mutations(REGISTRIES[:-1], max_ops=10))
def test_mutated_registries_are_read_or_refused_clearly(data: bytes) -> None:
    _registry(data)


@fuzz(40)
@given(mutations(REGISTRIES[-1:], max_ops=10))
def test_mutated_json_registries_are_read_or_refused_clearly(data: bytes) -> None:
    _registry(data, "r.json")


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10 ** 20), 10 ** 20), st.floats(allow_nan=True),
                     st.text(max_size=20), st.sampled_from(["2026-02-30", "2026-13-01", "*", "", "repo:*", "1e11"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=12)
_RECORD_FIELDS = ["id", "name", "owner", "provider", "models", "created", "last_reviewed", "review_every_days",
                  "expires", "max_session_minutes", "match", "scopes", "notes"]


@fuzz(80)
@given(st.dictionaries(st.sampled_from(_RECORD_FIELDS), _VALUES, max_size=8),
       st.dictionaries(st.sampled_from(["keys", "credentials", "repos", "processes", "hosts", "cloud", "tags"]),
                       _VALUES, max_size=3))
def test_registry_records_with_random_values(record: dict, match: dict) -> None:
    record = {"id": "a", "owner": "o", **record}
    if match:
        record["match"] = match
    _registry(json.dumps({"version": 1, "agents": [record]}, default=str).encode(), "r.json")


def test_registry_cost_is_linear_in_its_records() -> None:
    def make(n: int) -> str:
        return "version: 1\nagents:\n" + "".join(
            f"  - id: a{i}\n    owner: o\n    models: [gpt-4o]\n    match: {{repos: [github.com/x/r{i}]}}\n"
            for i in range(n))
    assert_linear_lines(make, lambda text: parse_registry(text, "r.yaml"), 200, libraries=["yaml"], what="registry")
    assert_linear_memory(make, lambda text: parse_registry(text, "r.yaml"), 500, what="registry")


# ---- config files -------------------------------------------------------------------------------

CONFIGS = _fenced("toml") + [(ROOT / "pyproject.toml").read_bytes()]


def _config(data: bytes, name: str = "c.toml") -> None:
    path = _DIR / name
    path.write_bytes(data)
    try:
        config_mod.resolve({}, env={"HOME": str(_DIR)}, cwd=_DIR, config_path=str(path))
    except (InputError, UserError) as exc:
        _one_line(exc)


@fuzz(80)
@given(mutations(CONFIGS, max_ops=10))
def test_mutated_config_files_are_read_or_refused_clearly(data: bytes) -> None:
    _config(data, "pyproject.toml" if b"[project]" in data else "c.toml")


@fuzz(60)
@given(st.dictionaries(st.sampled_from(["paths", "registry", "fail-on", "timeout", "detectors", "format", "strict",
                                        "workers", "catalog", "baseline", "output"]), _VALUES, max_size=5))
def test_config_keys_with_random_values(values: dict) -> None:
    lines = [f"{k} = {json.dumps(v, default=str)}" for k, v in values.items()
             if v is not None and not isinstance(v, dict)]
    _config("\n".join(lines).encode())


# ---- catalogue extensions -----------------------------------------------------------------------

_BUILTIN = (ROOT / "scanner" / "data" / "providers.yaml").read_text(encoding="utf-8")
# Whole provider entries cut out of the built-in catalogue: real extensions.
_ENTRIES = re.split(r"\n(?=[a-z])", _BUILTIN.split("\nproviders:\n", 1)[1], maxsplit=1)[0].split("\n  - id: ")
CATALOGUES = [("providers:\n  - id: " + _ENTRIES[i]).encode() for i in (1, 3, 5, 9, 14)]


def _catalogue(data: bytes) -> None:
    path = _DIR / "cat.yaml"
    path.write_bytes(data)
    try:
        catalog = Catalog.load([path])
    except InputError as exc:
        _one_line(exc)
        return
    catalog.key_regex.search("sk-proj-abc xai-1 AIza")  # every regex it accepted can be used as the detectors do
    catalog.provider_for_model("gpt-4o")
    catalog.provider_for_host("api.openai.com")


def test_the_built_in_catalogue_gives_extension_seeds() -> None:
    for seed in CATALOGUES:
        (_DIR / "seed.yaml").write_bytes(seed)
        assert Catalog.load([_DIR / "seed.yaml"]).providers


@fuzz(30)
@given(mutations(CATALOGUES, max_ops=8))
def test_mutated_catalogue_extensions_are_read_or_refused_clearly(data: bytes) -> None:
    _catalogue(data)


_PATTERNS = st.one_of(st.text(max_size=12), st.sampled_from(
    ["(?i)x", "(?i:x)", "a*", "", "(?P<g>x)", "(a)\\1", "[", "x{0,}", "\\b", "(?=x)", "sk-[a-z]{8}", "(?:)", "^$"]))


@fuzz(40)
@given(st.lists(_PATTERNS, max_size=3), st.lists(_PATTERNS, max_size=2), st.lists(_VALUES, max_size=2),
       st.lists(_VALUES, max_size=2))
def test_catalogue_entries_with_random_patterns_and_values(models: list, keys: list, ports: list, hosts: list) -> None:
    entry = {"id": "acme", "name": "Acme", "models": models, "ports": ports, "hostnames": hosts,
             "keys": [{"id": f"k{i}", "regex": k} for i, k in enumerate(keys)]}
    _catalogue(json.dumps({"providers": [entry]}, default=str).encode())


# ---- saved inventories --------------------------------------------------------------------------

INVENTORY = inventory_samples.full_inventory().to_json()
INVENTORIES = [INVENTORY.encode(), inventory_samples.empty_inventory().to_json().encode()]
FORMATS = sorted(report_entry_points())


def _inventory(data: bytes, render: bool = False) -> None:
    path = _DIR / "inv.json"
    path.write_bytes(data)
    try:
        inv = load_inventory(path)
    except InputError as exc:
        _one_line(exc)
        return
    if render:
        for fmt in FORMATS:
            load_format(fmt).render(scrub_inventory(inv), io.StringIO())


@fuzz(80)
@given(mutations(INVENTORIES, max_ops=10))
def test_mutated_inventories_are_read_or_refused_clearly(data: bytes) -> None:
    _inventory(data)


def _paths(doc, prefix=()):  # type: ignore[no-untyped-def]
    """Every place in a JSON document, as the keys and indexes that reach it."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            yield from _paths(v, prefix + (i,))


_DOC = json.loads(INVENTORY)
_PLACES = [p for p in _paths(_DOC) if p]


@fuzz(50)
@given(st.lists(st.tuples(st.sampled_from(_PLACES), _VALUES), min_size=1, max_size=3))
def test_inventories_with_random_values_in_real_fields_read_or_refuse_and_render(changes: list) -> None:
    """What the schema lets through, every format renders."""
    doc = json.loads(INVENTORY)
    for place, value in changes:
        target = doc
        try:
            for step in place[:-1]:
                target = target[step]
            target[place[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    _inventory(json.dumps(doc, default=str).encode(), render=True)


def test_inventory_cost_is_linear_in_its_agents() -> None:
    agent, finding = _DOC["agents"][0], _DOC["findings"][0]

    def make(n: int) -> Path:
        doc = dict(_DOC, agents=[dict(agent, id=f"{i:012x}", findings=[f"{i:016x}"]) for i in range(n)],
                   findings=[dict(finding, id=f"{i:016x}") for i in range(n)])
        path = _DIR / f"inv{n}.json"
        path.write_text(json.dumps(doc))
        return path
    assert_linear_lines(make, load_inventory, 50, what="inventory")
    assert_linear_memory(make, load_inventory, 200, what="inventory")


@pytest.mark.parametrize("fmt", FORMATS)
def test_rendering_cost_is_linear_in_the_agents(fmt: str) -> None:
    agent, finding = _DOC["agents"][0], _DOC["findings"][0]

    def make(n: int):  # type: ignore[no-untyped-def]
        doc = dict(_DOC, agents=[dict(agent, id=f"{i:012x}", name=f"agent-{i}", findings=[f"{i:016x}"])
                                 for i in range(n)], findings=[dict(finding, id=f"{i:016x}") for i in range(n)])
        path = _DIR / f"render{n}.json"
        path.write_text(json.dumps(doc))
        return scrub_inventory(load_inventory(path))
    assert_linear_lines(make, lambda inv: load_format(fmt).render(inv, io.StringIO()), 20,
                        libraries=["rich"] if fmt == "table" else (), what=fmt)
