"""The start-up caches of entry points and detector declarations: a current entry spares the imports,
any change to what it was read from is seen on the next run, and a bad entry is rebuilt."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scanner import __version__, cache, declarations, plugins
from tests.conftest import clean_environ

ROOT = Path(__file__).resolve().parents[1]

# Runs the real console entry point, then (at exit) writes which modules it imported.
_RUN_AND_LIST_MODULES = textwrap.dedent("""
    import atexit, json, sys
    out = sys.argv.pop(1)
    atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
    from scanner.cli import main
    main()
""")


def _run(args: list[str], home: Path, cache_home: Path, extra_path: list[Path] = ()) -> tuple[subprocess.CompletedProcess, set[str]]:
    env = clean_environ(home)
    env["XDG_CACHE_HOME"] = str(cache_home)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(map(str, extra_path))
    listing = home / "modules.json"
    r = subprocess.run([sys.executable, "-c", _RUN_AND_LIST_MODULES, str(listing), *args], env=env, cwd=home,
                       capture_output=True, text=True, timeout=120)
    return r, set(json.loads(listing.read_text()))


def _heavy_detectors(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[:2] in (["detectors", "repo"], ["detectors", "network"],
                                                        ["detectors", "process"], ["detectors", "billing"],
                                                        ["detectors", "provider_admin"])}


def test_a_scan_with_current_caches_imports_only_the_detector_it_runs(tmp_path):
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    first, modules = _run(["scan", "-d", "env", "-f", "json"], home, xdg)
    assert first.returncode == 0, first.stderr
    assert _heavy_detectors(modules) and "importlib.metadata" in modules  # a miss: everything was read
    second, modules = _run(["scan", "-d", "env", "-f", "json"], home, xdg)
    assert second.returncode == 0, second.stderr
    assert _heavy_detectors(modules) == set() and "importlib.metadata" not in modules
    assert "detectors.env" in modules
    assert json.loads(second.stdout)["metadata"]["detectors"] == ["env"]
    # the flags of every detector are still there, and still work
    r, _ = _run(["scan", "--help"], home, xdg)
    assert "--history" in r.stdout and "--capture" in r.stdout
    r, _ = _run(["scan", "-d", "env", "--history", "-f", "json"], home, xdg)
    assert r.returncode == 0, r.stderr


def test_a_default_scan_imports_no_detector_that_does_not_run_by_default(tmp_path):
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    _run(["scan", "--help"], home, xdg)  # fills the caches
    r, modules = _run(["scan", "-f", "json", "--fail-on", "none", "-p", str(home)], home, xdg)
    assert r.returncode == 0, r.stderr
    ran = json.loads(r.stdout)["metadata"]["detectors"]
    assert "repo" in ran and not any(d.endswith("billing") or d.endswith("admin") for d in ran)
    assert not {m for m in modules if m.startswith(("detectors.billing", "detectors.provider_admin"))}


def _plugin_site(tmp_path: Path) -> tuple[Path, Path]:
    """An empty site folder, and a copy of the example plugin's package that tests may edit."""
    site, code = tmp_path / "site", tmp_path / "code"
    site.mkdir()
    shutil.copytree(ROOT / "examples" / "plugin" / "shadow_agents_gateway", code / "shadow_agents_gateway")
    return site, code


def _install(site: Path) -> None:
    dist = site / "shadow_agents_gateway-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shadow-agents-gateway\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[shadow_agents.detectors]\ngateway-log = shadow_agents_gateway:GatewayLogDetector\n")


def test_installing_editing_and_removing_a_plugin_are_seen_on_the_next_run(tmp_path):
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    site, code = _plugin_site(tmp_path)
    path = [site, code]
    r, _ = _run(["scan", "--help"], home, xdg, path)
    assert "--gateway-log" not in r.stdout
    _install(site)
    r, _ = _run(["scan", "--help"], home, xdg, path)
    assert "--gateway-log" in r.stdout, r.stderr
    r, _ = _run(["scan", "--help"], home, xdg, path)  # now from the caches
    assert "--gateway-log" in r.stdout
    module = code / "shadow_agents_gateway" / "__init__.py"
    text = module.read_text()
    time.sleep(0.01)
    module.write_text(text.replace('flag="--gateway-log"', 'flag="--gateway-logs"'))  # same size + 1: a new key
    r, _ = _run(["scan", "--help"], home, xdg, path)
    assert "--gateway-logs" in r.stdout and "--gateway-log " not in r.stdout
    entry_points = site / "shadow_agents_gateway-0.1.0.dist-info" / "entry_points.txt"
    entry_points.write_text(entry_points.read_text().replace("gateway-log =", "gateway =", 1))
    r, _ = _run(["detectors", "--json"], home, xdg, path)
    names = {d["name"] for d in json.loads(r.stdout)}
    assert "gateway" in names and "gateway-log" not in names
    shutil.rmtree(site / "shadow_agents_gateway-0.1.0.dist-info")
    r, _ = _run(["scan", "--help"], home, xdg, path)
    assert "--gateway-logs" not in r.stdout


def test_a_plugin_that_cannot_load_is_reported_every_time_not_cached_away(tmp_path):
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    site, code = _plugin_site(tmp_path)
    _install(site)
    (code / "shadow_agents_gateway" / "__init__.py").write_text("raise ImportError('needs a library')\n")
    for _ in range(2):
        r, _ = _run(["detectors"], home, xdg, [site, code])
        assert "gateway-log" in r.stdout and "cannot load" in r.stdout
        r, _ = _run(["scan", "--help"], home, xdg, [site, code])
        assert r.returncode == 0 and "--history" in r.stdout
    assert list(xdg.glob("shadow-agents/entry-points-*.json"))
    assert not list(xdg.glob("shadow-agents/declarations-*.json"))


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    plugins._installed.cache_clear()
    plugins._entry_points.cache_clear()
    declarations.detector_declarations.cache_clear()
    yield
    plugins._installed.cache_clear()
    plugins._entry_points.cache_clear()
    declarations.detector_declarations.cache_clear()


@pytest.mark.parametrize("bad", [{"x": 1}, [], {"shadow_agents.detectors": [["env", "not a module path!"]],
                                                  "shadow_agents.reports": []}])
def test_an_entry_points_cache_entry_of_another_shape_is_rebuilt(own_cache, bad):
    truth = plugins._installed()
    name = cache.key("entry-points", __version__, plugins._metadata_signature())
    assert cache.read(name) is not None
    cache.write(name, bad)
    plugins._installed.cache_clear()
    assert plugins._installed() == truth
    assert plugins.detector_entry_points()["env"].load().__name__ == "EnvDetector"


def test_a_declarations_cache_entry_of_another_shape_is_rebuilt(own_cache):
    truth = declarations.detector_declarations()
    name = cache.key("declarations", __version__, declarations._source_signature(plugins.detector_entry_points()))
    value = cache.read(name)
    assert [d["name"] for d in value] == [d.name for d in truth]
    value[0]["options"][0]["type"] = "no such type"
    cache.write(name, value)
    declarations.detector_declarations.cache_clear()
    assert declarations.detector_declarations() == truth
    cache.write(name, value[1:])  # a detector missing
    declarations.detector_declarations.cache_clear()
    assert declarations.detector_declarations() == truth


def test_a_write_keeps_the_newest_few_entries_of_its_kind_and_always_itself(own_cache, tmp_path):
    folder = cache.cache_dir()
    for i in range(7):
        cache.write(f"kind-{i:032x}", i)
        os.utime(folder / f"kind-{i:032x}.json", ns=(10**18 - i, 10**18 - i))  # the first written looks newest
    cache.write("other-" + "f" * 32, "x")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["kind-" + f"{i:032x}.json" for i in (0, 1, 2, 6)] + ["other-" + "f" * 32 + ".json"]
    assert cache.read(f"kind-{6:032x}") == 6


def test_naming_an_output_file_imports_only_the_format_it_picks(tmp_path):
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    site, code = _plugin_site(tmp_path)
    _install(site)
    (site / "shadow_agents_gateway-0.1.0.dist-info" / "entry_points.txt").write_text(
        "[shadow_agents.reports]\ntsv = shadow_agents_gateway:TsvFormat\n")
    for _ in range(2):  # a miss, then from the cache
        r, modules = _run(["scan", "-d", "env", "-o", str(home / "out.sarif")], home, xdg, [site, code])
        assert r.returncode == 0, r.stderr
        assert json.loads((home / "out.sarif").read_text())["version"] == "2.1.0"
        r, _ = _run(["scan", "-d", "env", "-o", str(home / "out.tsv")], home, xdg, [site, code])
        assert (home / "out.tsv").read_text().startswith("id\tstatus")
    assert "reports.sarif" in modules and not {"reports.html", "reports.cyclonedx", "reports.markdown"} & modules


def test_the_key_alternation_is_compiled_only_once_a_key_prefix_is_seen(tmp_path):
    from scanner.catalog import Catalog
    from tests.keys import make_key
    extra = tmp_path / "extra.yaml"
    extra.write_text("providers: []\n")  # a catalogue of its own: not the one other tests compiled
    catalog = Catalog.load([extra])
    assert catalog.search_key("PATH=/usr/bin:/bin LANG=C.UTF-8 ghp_notakey") is None
    assert "key_regex" not in catalog.__dict__
    key = make_key("openai-project")
    m = catalog.search_key(f"token={key};")
    assert m is not None and m.group(0) == key and catalog.key_format_of_match(m).id == "openai-project"
    assert "key_regex" in catalog.__dict__
    for text in ("", "sk-", "sk-proj-short", f"x{key}"):  # the same answer as the alternation everywhere
        assert bool(catalog.search_key(text)) == bool(catalog.key_regex.search(text))
