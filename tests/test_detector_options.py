"""Declared detector options: conversion, validation, flags and listings derived from the declarations."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scanner.config import resolve
from scanner.errors import UserError
from scanner.options import Option, parse_set
from scanner.pipeline import list_detectors

ROOT = Path(__file__).resolve().parents[1]
DECLARED = {i.name: i.options for i in list_detectors() if i.cls is not None}


@pytest.mark.parametrize("type_,value,expected", [
    ("bool", "yes", True), ("bool", "OFF", False), ("bool", True, True),
    ("int", "12", 12), ("int", 7, 7), ("float", "0.5", 0.5),
    ("size", "5MB", 5_000_000), ("size", "2KiB", 2048), ("duration", "2m", 120.0), ("duration", 30, 30.0),
    ("list", "a, b,,c", ["a", "b", "c"]), ("list", ["a,b", "c"], ["a", "b", "c"]), ("str", 5, "5"),
])
def test_values_convert_to_the_declared_type(type_, value, expected):
    assert Option("x", type_).convert(value, "here") == expected


@pytest.mark.parametrize("type_,value,message", [
    ("bool", "maybe", "expected true or false"), ("bool", 2, "expected true or false"),
    ("int", "1.5", "whole number"), ("int", True, "whole number"), ("float", "nan", "finite"),
    ("size", "big", "like 10MB"), ("duration", "-3", "like 5m"), ("duration", "inf", "like 5m"),
    ("list", [1, 2], "list of strings"), ("str", ["a"], "a string"),
])
def test_bad_values_name_the_option(type_, value, message):
    with pytest.raises(UserError, match=rf"^here: .*{message}"):
        Option("x", type_).convert(value, "here")


def test_choices_and_minimum():
    opt = Option("mode", "choice", "fast", choices=("fast", "full"))
    assert opt.convert("full", "w") == "full"
    with pytest.raises(UserError, match="did you mean 'full'"):
        opt.convert("ful", "w")
    with pytest.raises(UserError, match="at least 1"):
        Option("n", "int", minimum=1).convert("0", "w")


def test_declarations_are_checked_when_written():
    with pytest.raises(ValueError):
        Option("x", "number")
    with pytest.raises(ValueError):
        Option("x", "int", widens=True)


def test_set_keeps_text_for_conversion_by_type():
    assert parse_set(["repo.max-file-size=10", "network.inputs=[\"a.pcap\", \"b.pcap\"]"]) == {
        "repo": {"max_file_size": "10"}, "network": {"inputs": ["a.pcap", "b.pcap"]}}
    with pytest.raises(UserError, match="DETECTOR.OPTION=VALUE"):
        parse_set(["history"])


def test_config_file_options_are_converted_and_relative_paths_follow_the_file(tmp_path: Path):
    cfg_file = tmp_path / "conf" / "scan.toml"
    cfg_file.parent.mkdir()
    cfg_file.write_text('[detectors.repo]\nmax-file-size = "1MB"\nhistory = "true"\n'
                        '[detectors.network]\ninputs = ["caps/a.pcap", "/abs/b.pcap"]\nduration = "2m"\n')
    cfg = resolve({}, env={"HOME": str(tmp_path)}, cwd=tmp_path, config_path=str(cfg_file), declared=DECLARED)
    assert cfg.detector_options["repo"] == {"max_file_size": 1_000_000, "history": True}
    assert cfg.detector_options["network"] == {"inputs": [str(cfg_file.parent / "caps/a.pcap"), "/abs/b.pcap"],
                                               "duration": 120.0}


@pytest.mark.parametrize("table,message", [
    ('[detectors.repo]\nhistroy = true\n', r"unknown option 'histroy' for detector 'repo' \(did you mean 'history'\?\)"),
    ('[detectors.rpeo]\nhistory = true\n', r"unknown detector 'rpeo' \(did you mean 'repo'\?\)"),
    ('[detectors.process]\nresolve = "maybe"\n', r"process.resolve: expected true or false"),
    ('[detectors.repo]\nworkers = 0\n', r"repo.workers: must be at least 1"),
])
def test_config_file_mistakes_are_errors_naming_file_and_option(tmp_path: Path, table, message):
    cfg_file = tmp_path / "scan.toml"
    cfg_file.write_text(table)
    with pytest.raises(UserError, match=rf"^{cfg_file}: .*{message}"):
        resolve({}, env={"HOME": str(tmp_path)}, cwd=tmp_path, config_path=str(cfg_file), declared=DECLARED)


@pytest.mark.parametrize("args,message", [
    (["--set", "repo.histroy=true"], "unknown option 'histroy' for detector 'repo' (did you mean 'history'?)"),
    (["--set", "process.resolve=maybe"], "process.resolve: expected true or false, got 'maybe'"),
    (["--max-file-size", "big"], "repo.max_file_size: expected a number like 10MB"),
    (["--workers", "0"], "repo.workers: must be at least 1"),
    (["--set", "repo.timeout=forever"], "repo.timeout: expected a number like 5m"),
    (["--timeout", "nan"], "'timeout': expected a number like 5m"),
])
def test_cli_rejects_unknown_options_and_bad_values_with_exit_2(run_cli, workdir, args, message):
    r = run_cli("scan", "-d", "repo", "-p", str(workdir), *args)
    assert r.code == 2, r.err
    assert message in " ".join(r.err.split()), r.err
    assert "Traceback" not in r.err


def test_flags_and_set_reach_the_detector_typed(run_cli, workdir):
    # a file over the limit is skipped and counted: the converted size reached the repo detector
    (workdir / "big.py").write_text("x = 1\n" * 400)
    r = run_cli("scan", "-d", "repo", "-p", str(workdir), "--max-file-size", "1KB", "-f", "json")
    (cov,) = r.json()["coverage"]
    assert cov["gaps"] == [{"reason": "larger than max_file_size (1000 bytes)", "what": str(workdir / "big.py")}]
    r2 = run_cli("scan", "-d", "repo", "-p", str(workdir), "--set", "repo.max_file_size=1MB", "-f", "json")
    assert r2.json()["coverage"][0]["status"] == "ran"


def test_detectors_listing_and_scan_help_come_from_the_declarations(run_cli):
    listed = {d["name"]: d for d in json.loads(run_cli("detectors", "--json").out)}
    repo = {o["name"]: o for o in listed["repo"]["options"]}
    assert repo["history"] == {"name": "history", "type": "bool", "default": False, "flag": "--history",
                               "help": "Also scan every commit of git history.", "choices": None, "widens": True}
    assert "timeout" in repo  # the common option every detector has
    assert {o["name"]: o for o in listed["network"]["options"]}["inputs"]["flag"] == "--capture"
    help_text = run_cli("scan", "--help").out
    for flag in ("--history", "--max-file-size", "--resolve", "--capture", "--interface"):
        assert flag in help_text
    text = run_cli("detectors").out
    assert "history --history (bool, default false)" in text


def _install_example_plugin(site: Path) -> dict[str, str]:
    """The example plugin made importable the way pip would: a dist-info with entry points."""
    dist = site / "shadow_agents_gateway-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shadow-agents-gateway\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        "[shadow_agents.detectors]\ngateway-log = shadow_agents_gateway:GatewayLogDetector\n\n"
        "[shadow_agents.reports]\ntsv = shadow_agents_gateway:TsvFormat\n")
    path = os.pathsep.join([str(site), str(ROOT / "examples" / "plugin")])
    return {"PYTHONPATH": path}


def test_a_plugins_options_work_like_the_built_ins_with_no_change_to_the_core(run_cli, workdir, tmp_path):
    env = _install_example_plugin(tmp_path / "site")
    log = workdir / "access.jsonl"
    log.write_text("".join(json.dumps({"app": app, "user": "dana", "provider": "openai", "model": "gpt-4o"}) + "\n"
                           for app in ["summarizer"] * 3 + ["triage"]))
    listed = {d["name"]: d for d in json.loads(run_cli("detectors", "--json", env=env).out)}
    assert [o["name"] for o in listed["gateway-log"]["options"]] == ["timeout", "log", "min_requests"]
    assert "--gateway-log" in run_cli("scan", "--help", env=env).out
    r = run_cli("scan", "-d", "gateway-log", "--gateway-log", str(log), "--set", "gateway-log.min_requests=2",
                "-f", "tsv", env=env)
    assert r.code == 1, r.err  # one shadow agent
    lines = r.out.splitlines()
    assert lines[0] == "id\tstatus\tseverity\tname\tproviders" and len(lines) == 2 and "\tshadow\t" in lines[1]
    bad = run_cli("scan", "-d", "gateway-log", "--gateway-log", str(log), "--set", "gateway-log.min_requests=few",
                  env=env)
    assert bad.code == 2 and "gateway-log.min_requests: expected a whole number" in bad.err
