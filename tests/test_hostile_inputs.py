"""Hostile and broken input through the installed console script, each under a wall-clock and
memory bound: a clear one-line error (exit 2) naming the file and the field, never a traceback,
never a hang, and nothing already found lost."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from scanner.catalog import Catalog
from scanner.errors import InputError
from tests.conftest import CLI, clean_environ
from tests.keys import make_key

KEY = make_key("groq", 12)
MEMORY_LIMIT = 1536 * 1024 * 1024  # address space per command: a bomb that expands hits this, not the host
WALL = 60


def run_bounded(args: list[str], cwd: Path, home: Path, wall: float = WALL, env: dict[str, str] | None = None,
                stdin: str | None = None) -> tuple[int, str, str, float, int]:
    """(exit code, stdout, stderr, seconds, peak RSS in MiB) of one command under the bounds."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    full = {**clean_environ(home), **(env or {})}
    start = time.monotonic()
    proc = subprocess.Popen([CLI, *args], cwd=cwd, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            preexec_fn=limit, text=True)
    try:
        out, err = proc.communicate(stdin, timeout=wall)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{args} ran past {wall}s; stderr: {err[-2000:]}") from None
    seconds = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc.returncode, out, err, seconds, usage.ru_maxrss // 1024


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, err)


BOMB = ("version: 1\nagents:\n  - id: bot\n    owner: o\n    match:\n      tags:\n"
        "        a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        + "".join(f"        {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)))

REGISTRY_CASES = [
    (BOMB, ["r.yaml:1", "aliases expand it"]),
    ("version: 1\nagents:\n  - id: a\n    owner: o\n    created: 2026-02-30\n", ["r.yaml:5", "'created'", "2026-02-30"]),
    ("version: 1\nagents:\n  - id: a\n    owner: o\n    last_reviewed: 2026-13-01\n", ["r.yaml:5", "'last_reviewed'"]),
    ("version: 1\nagents:\n  - id: a\n    owner: o\n    review_every_days: 1e11\n", ["r.yaml:5", "'review_every_days'"]),
    ("version: 1\nagents:\n  - id: a\n    owner: o\n    review_every_days: 100000000000\n", ["r.yaml:5", "at most"]),
    ("version: 1\nagents: " + "[" * 20000 + "]" * 20000 + "\n", ["r.yaml", "nested too deeply"]),
    ("version: 1\nagents:\n  - id: a\n    owner: o\n    owner: p\n", ["r.yaml:5", "duplicate key 'owner'"]),
    ("version: 99\nagents: []\n", ["r.yaml:1", "version"]),
    ("\xff\xfe garbage".encode("latin-1").decode("latin-1"), ["r.yaml"]),
]


@pytest.mark.parametrize("text,needles", REGISTRY_CASES, ids=[str(i) for i in range(len(REGISTRY_CASES))])
def test_bad_registries_in_every_command_that_reads_them(text, needles, workdir: Path, home: Path):
    (workdir / "r.yaml").write_text(text, encoding="latin-1" if "\xff" in text else "utf-8")
    (workdir / ".env").write_text(f"GROQ_API_KEY={KEY}\n")
    scanned = run_bounded(["scan", "-d", "env", "-f", "json", "-o", "scan.json", "--fail-on", "none"], workdir, home)
    assert scanned[0] == 0, scanned[2]
    for args in (["registry", "check", "r.yaml"], ["scan", "-d", "env", "--registry", "r.yaml"],
                 ["merge", "scan.json", "--registry", "r.yaml"]):
        code, _out, err, seconds, rss = run_bounded(args, workdir, home)
        one_line_error(code, err, *needles)
        assert seconds < 30 and rss < 1024, (args, seconds, rss)


def _inventory(run_cli, workdir: Path) -> dict:
    (workdir / ".env").write_text(f"GROQ_API_KEY={KEY}\n")
    r = run_cli("scan", "-d", "env", "-f", "json")
    return json.loads(r.out)


def _set(doc: dict, path: str, value) -> dict:
    doc = json.loads(json.dumps(doc))
    target = doc
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


INVENTORY_CASES = [
    ("agents.0.name", 5, "agents[0].name"),
    ("findings.0.location", "x", "findings[0].location"),
    ("findings.0.location.path", 7, "findings[0].location.path"),
    ("findings.0.location.line", "abc", "findings[0].location.line"),
    ("agents.0.identity", [1, 2], "agents[0].identity"),
    ("agents.0.spend", "lots", "agents[0].spend"),
    ("schema_version", "99.0", "schema_version"),
    ("findings.0.details", "DEEP", "nested too deeply"),
]


@pytest.mark.parametrize("path,value,needle", INVENTORY_CASES, ids=[c[0] for c in INVENTORY_CASES])
def test_bad_inventories_name_the_field(run_cli, workdir: Path, home: Path, path, value, needle):
    deep = value == "DEEP"
    doc = _set(_inventory(run_cli, workdir), path, "DEEP-MARK" if deep else value)
    text = json.dumps(doc)
    if deep:  # deeper than json.dumps goes: written by hand
        text = text.replace('"DEEP-MARK"', '{"d": ' * 5000 + "{}" + "}" * 5000)
    (workdir / "bad.json").write_text(text)
    for args in (["report", "bad.json", "-f", "table"], ["diff", "bad.json", "bad.json"],
                 ["merge", "bad.json"], ["registry", "init", "--from", "bad.json"]):
        code, _out, err, seconds, _rss = run_bounded(args, workdir, home)
        one_line_error(code, err, "bad.json", needle)


def test_non_finite_numbers_in_an_inventory_are_refused(run_cli, workdir: Path, home: Path):
    doc = _inventory(run_cli, workdir)
    text = json.dumps(doc).replace('"findings": 1', '"findings": NaN', 1)
    assert "NaN" in text
    (workdir / "nan.json").write_text(text)
    code, out, err, _s, _r = run_bounded(["report", "nan.json", "-f", "sarif"], workdir, home)
    one_line_error(code, err, "nan.json", "NaN")
    assert out == ""


def _provider(**fields) -> str:
    return json.dumps({"providers": [{"id": "acme", "name": "Acme", **fields}]})


def _key(regex: str) -> str:
    return _provider(keys=[{"id": "acme-key", "regex": regex}])


CATALOG_CASES = [  # (catalogue extension, what the message names)
    (_provider(models=["(?i)acme-.*"]), "models[0]", "(?i:...)"),
    (_key(""), "keys[0] (acme-key)", "non-empty string"),
    (_key("a*"), "keys[0] (acme-key)", "matches the empty string"),
    (_key("(?:sk-)?\\b"), "keys[0] (acme-key)", "matches the empty string"),
    (_key("acme-(?P<body>[a-z]{20})"), "keys[0] (acme-key)", "named group (body)"),
    (_key("(acme)-[a-z]{8}\\1"), "keys[0] (acme-key)", "back-reference"),
    (_provider(models=["acme-(?P<m>x)"]), "models[0]", "named group"),
    (_provider(cmdline_patterns=[""]), "cmdline_patterns", "non-empty string"),
    (_provider(hostnames=[5]), "hostnames", "non-empty string"),
    (_provider(ports=["abc"]), "ports[0]", "port number"),
    (_provider(ip_ranges=["10.0.0.300/8"]), "ip_ranges[0]", "address range"),
    (_provider(packages={"python": 5}), "packages.python", "must be a list"),
    (_provider(env_vars={"keys": [1]}), "env_vars.keys", "non-empty string"),
    (_provider(env_vars={"secrets": ["X"]}), "env_vars", "unknown role"),
    (json.dumps({"frameworks": [{"id": "f", "name": "F", "imports": {"python": [7]}}]}), "frameworks[0] (f)", "imports"),
    (json.dumps({"agent_tools": [{"id": "t", "name": "T", "script_patterns": [""]}]}), "agent_tools[0] (t)",
     "script_patterns"),
]


@pytest.mark.parametrize("text,entry,needle", CATALOG_CASES, ids=[str(i) for i in range(len(CATALOG_CASES))])
def test_bad_catalogue_extensions_are_refused_on_load(text, entry, needle, tmp_path: Path):
    """A mistake in a ``--catalog`` file is refused on load, naming the file and the entry."""
    (tmp_path / "cat.yaml").write_text(text)
    with pytest.raises(InputError) as caught:
        Catalog.load([tmp_path / "cat.yaml"])
    message = str(caught.value)
    assert "cat.yaml" in message and entry in message and needle in message, message


@pytest.mark.parametrize("case", [0, 2])
def test_bad_catalogue_extensions_end_the_scan_with_exit_2(case, workdir: Path, home: Path):
    """Before, a ``(?i)`` model regex made the repo detector fail during the scan (exit 0), and an
    empty-matching key regex cut every message into pieces."""
    (workdir / "app.py").write_text("import openai\nopenai.OpenAI().chat.completions.create(model='gpt-4o')\n")
    (workdir / "cat.yaml").write_text(CATALOG_CASES[case][0])
    code, out, err, _s, _r = run_bounded(["scan", "-d", "repo", "-p", ".", "--catalog", "cat.yaml", "-f", "json"],
                                         workdir, home)
    one_line_error(code, err, "cat.yaml", *CATALOG_CASES[case][1:])
    assert out == ""


CONFIG_CASES = [
    (b"\x00\x01\x02binary", "invalid TOML"),
    (b"paths = ['\xff']\n", "invalid TOML"),
    (b'timeout = "inf"\n', "'timeout'"),
    (b"timeout = 1e300\n", "'timeout'"),
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    (b'[detectors.repo]\nmax_file_size = "huge"\n', "repo.max_file_size"),
]


@pytest.mark.parametrize("content,needle", CONFIG_CASES, ids=[str(i) for i in range(len(CONFIG_CASES))])
def test_bad_explicit_configs_name_the_file(content, needle, workdir: Path, home: Path):
    (workdir / "c.toml").write_bytes(content)
    code, _out, err, _s, _r = run_bounded(["scan", "-d", "env", "--config", "c.toml"], workdir, home)
    one_line_error(code, err, "c.toml", needle)


def test_timeout_values_that_are_not_durations(workdir: Path, home: Path):
    for value in ("nan", "inf", "1e300", "-1", "0"):
        code, _o, err, _s, _r = run_bounded(["scan", "-d", "env", "--timeout", value], workdir, home)
        one_line_error(code, err, "timeout")


def _slow_tree(root: Path, files: int = 240) -> None:
    """Files dense with key-like assignments, so the worker pool is busy for well over ten seconds.

    Plain words are no longer enough: the prefilter skips them at tens of MB/s.
    """
    import random
    rng = random.Random(5)
    lines = []
    for j in range(3000):
        word = "".join(rng.choices("abcdefghij", k=8))
        lines.append(f'{word}_api_key = "sk-{word}{j}"  # openai base_url http://localhost:8000/v1')
    block = "\n".join(lines)
    for i in range(files):
        d = root / f"d{i % 8}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.py").write_text(f"# {i}\n{block}")
    (root / "top.env").write_text(f"GROQ_API_KEY={KEY}\n")


def test_timeout_ends_a_scan_whose_worker_pool_is_busy(tmp_path: Path, home: Path):
    _slow_tree(tmp_path / "tree")
    args = ["scan", "-d", "repo", "-p", str(tmp_path / "tree"), "--timeout", "2", "--workers", "2",
            "--set", "repo.parallel_min_files=10", "-f", "json", "--fail-on", "none"]
    code, out, err, seconds, _rss = run_bounded(args, tmp_path, home, wall=90)
    assert seconds < 45, (seconds, err[-2000:])
    (cov,) = json.loads(out)["coverage"]
    assert "timed out" in cov["reason"]


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_end_the_scan_and_its_workers(tmp_path: Path, home: Path, sig, code):
    _slow_tree(tmp_path / "tree")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([CLI, "scan", "-d", "repo", "-p", str(tmp_path / "tree"), "--workers", "2",
                             "--set", "repo.parallel_min_files=10", "-o", str(out / "scan.json")],
                            cwd=tmp_path, env=clean_environ(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    time.sleep(3)
    proc.send_signal(sig)
    try:
        _o, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"{sig.name} did not end the scan") from None
    assert proc.returncode == code, err
    assert f"stopped by {sig.name}" in err.decode()
    assert list(out.iterdir()) == []  # no half-written report
    deadline = time.monotonic() + 20  # the resource tracker cleans up after its parent is gone
    while True:
        leftovers = subprocess.run(["pgrep", "-a", "-s", str(proc.pid)], capture_output=True, text=True).stdout
        if not leftovers or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert leftovers == "", leftovers  # no worker, forkserver or resource tracker outlives it


_BLOCKER = """
import os, socket, sys
_LOG = {log!r}
with open(_LOG + ".loaded", "a") as fh:
    fh.write(f"{{os.getpid()}}\\n")
_FAMILIES = {{"socket.connect": 1, "socket.sendto": 1, "socket.sendmsg": 1}}
def _block(event, args):
    if event in _FAMILIES:
        sock = args[0]
        if getattr(sock, "family", None) == socket.AF_UNIX:  # multiprocessing's own pipes
            return
    elif event not in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                       "socket.gethostbyaddr"):
        return
    with open(_LOG, "a") as fh:
        fh.write(f"{{event}} {{args[1:] if event in _FAMILIES else args}}\\n")
    raise PermissionError(f"network blocked by the test: {{event}}")
sys.addaudithook(_block)
"""


def test_offline_detectors_open_no_connection(tmp_path: Path, home: Path):
    """The offline detectors (env, repo with its worker processes, process, network reading a capture)
    run under an audit hook, loaded into the command and every worker, that refuses and records any
    connect, sendto or sendmsg on a socket that is not AF_UNIX, and any name lookup: the scan still
    finds everything, and nothing was refused."""
    hook = tmp_path / "hook"
    hook.mkdir()
    log = tmp_path / "connections.log"
    (hook / "sitecustomize.py").write_text(_BLOCKER.format(log=str(log)))
    repo = tmp_path / "repo"
    repo.mkdir()
    for i in range(3):  # more than one file; parallel_min_files=0 starts the worker pool at once
        (repo / f"app{i}.py").write_text(f'import openai\nclient = openai.OpenAI(api_key="{make_key("openai-project", 13 + i)}",'
                                         ' base_url="https://llm.internal.example:8443/v1")\n')
    (repo / ".env").write_text(f"GROQ_API_KEY={KEY}\n")
    capture = Path(__file__).parent / "data" / "network" / "loopback.pcap"
    env = {"PYTHONPATH": str(hook), "GROQ_API_KEY": KEY}
    code, out, err, _s, _r = run_bounded(["scan", "-d", "env", "-d", "repo", "-d", "process", "-d", "network",
                                          "-p", str(repo), "--capture", str(capture), "-f", "json", "--workers", "2",
                                          "--set", "repo.parallel_min_files=0"], tmp_path, home, env=env)
    assert code == 1, err
    assert not log.exists(), log.read_text()
    doc = json.loads(out)
    ran = {c["detector"]: c["status"] for c in doc["coverage"]}
    assert set(ran) == {"env", "repo", "process", "network"} and "failed" not in ran.values(), ran
    assert {"env", "repo", "network"} <= {d for a in doc["agents"] for d in a["detectors"]}, doc["agents"]
    assert len(set((tmp_path / "connections.log.loaded").read_text().split())) >= 2  # the command and its workers
    # the hook refuses a real connect and a lookup
    probe = subprocess.run([os.environ.get("PYTHON", "python3"), "-c",
                            "import socket\ns = socket.socket(); s.settimeout(0.2)\n"
                            "try: s.connect(('127.0.0.1', 9))\nexcept PermissionError: print('blocked')\n"
                            "try: socket.getaddrinfo('example.org', 443)\nexcept PermissionError: print('blocked')"],
                           env={**os.environ, "PYTHONPATH": str(hook)}, capture_output=True, text=True)
    assert probe.stdout.split() == ["blocked", "blocked"], probe
    assert "socket.connect" in log.read_text() and "socket.getaddrinfo" in log.read_text()
