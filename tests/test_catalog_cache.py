"""The catalogue's start-up cache: used when it is ours and private, rebuilt when it is anything else."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from scanner import __version__, cache, catalog
from scanner.catalog import BUILTIN, Catalog


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(catalog, "_LOADED", {})  # this process's copies: each load below reads the disk
    return tmp_path / "xdg" / "shadow-agents"


def _entry(extra: list[str] = ()) -> Path:
    texts = [BUILTIN.read_text(encoding="utf-8"), *(Path(p).read_text(encoding="utf-8") for p in extra)]
    return cache.cache_dir() / f"{cache.key('catalog', __version__, texts)}.json"


def _summary(c: Catalog) -> tuple:
    return ([(k.id, k.provider, k.pattern, k.prefixes, k.examples) for k in c.key_formats], c.key_regex.pattern,
            sorted((n, v.provider, v.role) for n, v in c.env_vars.items()), sorted(c._host_exact.items()),
            [f.match for f in c.agent_files], c.llm_api_paths)


def _fresh() -> Catalog:
    catalog._LOADED.clear()
    return Catalog.load()


def test_the_first_load_writes_a_private_entry_and_the_next_gives_the_same_catalogue(cache_home):
    built = Catalog.load()
    entry = _entry()
    assert entry.is_file() and entry.stat().st_mode & 0o777 == 0o600
    assert cache_home.stat().st_mode & 0o777 == 0o700
    assert isinstance(cache.read(entry.stem), list)
    cached = _fresh()
    assert cached is not built and _summary(cached) == _summary(built)
    assert cached.classify_secret(built.key_formats[0].examples[0]).id == built.key_formats[0].id
    assert Catalog.load() is cached  # once per process


def _plant(entry: Path, name: str) -> None:
    """A valid entry whose OpenAI provider has another display name: visible when the entry is used."""
    data = cache.read(entry.stem)
    next(p for p in data[0]["providers"] if p["id"] == "openai")["name"] = name
    cache.write(entry.stem, data)


def test_an_entry_is_used_only_from_a_private_directory_and_a_file_no_one_else_may_write(cache_home):
    real = Catalog.load().providers["openai"].name
    entry = _entry()
    _plant(entry, "Planted")
    assert _fresh().providers["openai"].name == "Planted"  # ours and private: used

    os.chmod(entry, 0o622)  # others may write it: not trusted, rebuilt from the YAML and replaced
    assert _fresh().providers["openai"].name == real
    assert entry.stat().st_mode & 0o777 == 0o600

    _plant(entry, "Planted")
    os.chmod(cache_home, 0o755)  # a directory others can read or enter is not ours alone
    assert _fresh().providers["openai"].name == real
    os.chmod(cache_home, 0o700)

    elsewhere = cache_home.parent / "elsewhere.json"
    elsewhere.write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")
    entry.unlink()
    entry.symlink_to(elsewhere)  # never followed
    assert _fresh().providers["openai"].name == real


@pytest.mark.parametrize("value", ["[]", '{"providers": []}', '[{"providers": "openai"}]',
                                   '[{"providers": [{"id": "x"}]}]', '[{"unknown": 1}]', "[" * 100000])
def test_a_foreign_entry_is_rebuilt_never_an_error(cache_home, value):
    real = _summary(Catalog.load())
    entry = _entry()
    cache.write(entry.stem, json.loads(value) if len(value) < 100 else [])
    if len(value) >= 100:  # too deep to read back
        entry.write_text(json.dumps({"sha256": hashlib.sha256(value.encode()).hexdigest(), "value": value}))
    assert _summary(_fresh()) == real
    assert isinstance(cache.read(entry.stem), list) and cache.read(entry.stem)  # replaced by a good one


@pytest.mark.parametrize("damage", [lambda t: t[: len(t) // 2], lambda t: t.replace("OpenAI", "0penAI"),
                                    lambda t: "{not json", lambda t: ""])
def test_a_cut_or_changed_entry_is_rebuilt(cache_home, damage):
    real = _summary(Catalog.load())
    entry = _entry()
    entry.write_text(damage(entry.read_text(encoding="utf-8")), encoding="utf-8")
    assert _summary(_fresh()) == real
    assert cache.read(entry.stem)


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the directory would be
    monkeypatch.setattr(catalog, "_LOADED", {})
    assert Catalog.load().providers["openai"].keys


def test_an_extra_catalogue_is_part_of_the_key(cache_home, tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("providers:\n  - id: in-house\n    name: In-house gateway\n    hostnames: [llm.example.internal]\n",
                     encoding="utf-8")
    with_extra = Catalog.load([extra])
    assert with_extra.provider_for_host("llm.example.internal") == "in-house"
    assert _entry([str(extra)]).is_file()
    extra.write_text(extra.read_text(encoding="utf-8").replace("llm.example", "ai.example"), encoding="utf-8")
    changed = Catalog.load([extra])
    assert changed.provider_for_host("ai.example.internal") == "in-house"
    assert changed.provider_for_host("llm.example.internal") is None
    assert _fresh().provider_for_host("llm.example.internal") is None  # the built-in alone


def test_the_entry_holds_no_key_shaped_string(cache_home, run_cli, workdir):
    """The cache is a file written on every run: the catalogue's examples stay in pieces there, and a
    scan's own secrets never reach it."""
    from tests.keys import make_key
    key = make_key("openai-project", 7)
    (workdir / "app.py").write_text(f"import openai\nopenai.OpenAI(api_key='{key}').models.list()\n")
    r = run_cli("scan", "-d", "repo", "-f", "json", "--fail-on", "none", env={"XDG_CACHE_HOME": str(cache_home.parent)})
    assert r.code == 0, r.err
    built = Catalog.load()
    entries = list(cache_home.iterdir())
    assert entries
    for entry in entries:
        text = entry.read_text(encoding="utf-8")
        assert key not in text and built.key_regex.search(text) is None
