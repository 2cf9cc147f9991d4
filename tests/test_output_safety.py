"""What leaves the process is safe for whoever reads it, through the installed console script.

Report targets (devices, FIFOs, links, directories), control characters and undecodable
bytes in scanned names, closed pipes and full disks, and one-line errors. Device cases run
in a private mount namespace over a throw-away /dev; the machine's own /dev is never a
target.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import select
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from scanner.catalog import Catalog
from scanner.model import Coverage, Finding, Location
from scanner.pipeline import build_inventory
from tests.conftest import clean_environ

# the console script of the environment running the tests (on PATH or next to its python)
CLI = shutil.which("shadow-agents") or str(Path(sys.executable).with_name("shadow-agents"))

FORMATS = ("json", "jsonl", "sarif", "cyclonedx", "csv", "markdown", "html", "table")
HUMAN = ("csv", "markdown", "html", "table")
# Names that hide, reorder or forge text on a terminal, and bytes that are not UTF-8.
HOSTILE_DIRS = [b"clear\x1b[2Jx", b"hide\x1b[8mx", "rtl\u202egnp".encode(), "c1\u009bz".encode(), b"raw\x9bz",
                b"bell\x07z", b"del\x7fz", b"bad\xffname"]
CALLS_OPENAI = "import openai\nclient = openai.OpenAI()\n"  # an SDK call: what makes an agent in a source tree
RAW_CONTROL = [b"\x1b[2J", b"\x1b[8m", "\u202e".encode(), b"\xc2\x9b", b"\x9b", b"\x07", b"\x7f", b"\xff"]


def sa(*args: str | Path, cwd: Path, home: Path, stdout: int | object = subprocess.PIPE,
       env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """The installed console script, for real, output kept as bytes."""
    full_env = clean_environ(home)
    full_env.update(env or {})
    cmd = [CLI, *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=full_env, stdout=stdout, stderr=subprocess.PIPE, timeout=timeout)


def write_inventory(path: Path, agents: int, name: str = "service") -> Path:
    """A saved inventory of ``agents`` repo agents, built by the real pipeline."""
    findings = [
        Finding(detector="repo", kind="sdk-usage", provider="openai", evidence="openai.OpenAI()",
                location=Location(path=f"/srv/src/{name}-{i:05d}/app/main.py", line=3),
                identity=[f"repo:/srv/src/{name}-{i:05d}:."])
        for i in range(agents)
    ]
    inv = build_inventory(findings, [Coverage("repo")], Catalog.load(), None, dt.date(2026, 1, 1),
                          {"tool": "shadow-agents", "version": "0.1.0"})
    path.write_text(inv.to_json(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hostile_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose directory and file names carry control characters and invalid UTF-8."""
    root = tmp_path_factory.mktemp("hostile") / "repo"
    root.mkdir()
    base = os.fsencode(root)
    for d in HOSTILE_DIRS:
        os.mkdir(base + b"/" + d)
        Path(os.fsdecode(base + b"/" + d + b"/requirements.txt")).write_text("openai\n")
        Path(os.fsdecode(base + b"/" + d + b"/app.py")).write_text(CALLS_OPENAI)
    Path(os.fsdecode(base + b"/\xfe.py")).write_text("import anthropic\nclient = anthropic.Anthropic()\n")
    return root


@pytest.fixture(scope="module")
def hostile_scan(hostile_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile tree scanned once to a saved JSON inventory."""
    saved = tmp_path_factory.mktemp("hostile-scan") / "scan.json"
    home = saved.parent / "home"
    home.mkdir()
    r = sa("scan", "-p", hostile_tree, "-d", "repo", "-f", "json", "-o", saved, cwd=saved.parent, home=home)
    assert r.returncode == 1, r.stderr
    _assert_no_raw_control(r.stderr, "scan summary on stderr")
    return saved


@pytest.fixture
def small_inventory(tmp_path: Path) -> Path:
    return write_inventory(tmp_path / "small.json", 3)


# ---- 11.8: where a report may be written -----------------------------------------------------


def test_regular_file_is_replaced_atomically_with_mode_0600(small_inventory, tmp_path, home):
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o644)
    r = sa("report", small_inventory, "-f", "json", "-o", target, cwd=tmp_path, home=home)
    assert r.returncode == 0, r.stderr
    assert json.loads(target.read_text())["agents"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report.json.")]  # no temp file left


def test_dash_means_stdout(small_inventory, tmp_path, home):
    r = sa("report", small_inventory, "-f", "json", "-o", "-", cwd=tmp_path, home=home)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["agents"]
    assert not (tmp_path / "-").exists()
    # /dev/stdout is tried only in the throw-away /dev below: a tool that got it wrong would
    # replace the machine's /dev/stdout link with a file


@pytest.mark.parametrize("make, what", [
    (lambda p: p.mkdir(), "a directory"),
    (lambda p: socket.socket(socket.AF_UNIX).bind(str(p)), "a socket"),
])
def test_directory_and_socket_are_refused(small_inventory, tmp_path, home, make, what):
    target = tmp_path / "target"
    make(target)
    before = os.lstat(target)
    r = sa("report", small_inventory, "-f", "json", "-o", target, cwd=tmp_path, home=home)
    assert r.returncode == 2
    assert r.stderr.decode() == f"error: cannot write {target}: it is {what}\n"
    assert os.lstat(target).st_mode == before.st_mode and os.lstat(target).st_ino == before.st_ino


def test_symlink_to_a_regular_file_or_nothing_is_refused_and_not_followed(small_inventory, tmp_path, home):
    real = tmp_path / "elsewhere.txt"
    real.write_text("keep me")
    for link, points_to in ((tmp_path / "to-file.json", real), (tmp_path / "dangling.json", tmp_path / "missing")):
        link.symlink_to(points_to)
        r = sa("report", small_inventory, "-f", "json", "-o", link, cwd=tmp_path, home=home)
        assert r.returncode == 2
        assert "it is a symbolic link" in r.stderr.decode()
        assert link.is_symlink() and os.readlink(link) == str(points_to)
    assert real.read_text() == "keep me"
    assert not (tmp_path / "missing").exists()


def test_fifo_is_written_in_place(small_inventory, tmp_path, home):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    r = sa("report", small_inventory, "-f", "json", "-o", fifo, cwd=tmp_path, home=home)
    reader.join(30)
    assert r.returncode == 0, r.stderr
    assert json.loads(received[0])["agents"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pipe.")] == []


# The harness runs as root inside `unshare -m`: a tmpfs over /dev with fresh device nodes, so
# whatever the tool does to them, the machine's /dev/null and /dev/full are never touched.
DEVICE_HARNESS = r'''
import json, os, stat, subprocess, sys
cli, inventory, work = sys.argv[1:4]
subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "throwaway-dev", "/dev"], check=True)
if os.listdir("/dev"):  # not our fresh tmpfs: touch nothing
    sys.exit("the throw-away /dev is not in place")
for name, kind, major, minor in (("null", stat.S_IFCHR, 1, 3), ("full", stat.S_IFCHR, 1, 7),
                                 ("zero", stat.S_IFCHR, 1, 5), ("urandom", stat.S_IFCHR, 1, 9),
                                 ("blockdev", stat.S_IFBLK, 7, 250)):
    os.mknod("/dev/" + name, kind | 0o666, os.makedev(major, minor))
    os.chmod("/dev/" + name, 0o666)
for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2")):
    os.symlink(target, "/dev/" + name)
os.symlink("/dev/null", work + "/link-to-null")

def node(path):
    st = os.lstat(path)
    return {"type": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode), "rdev": st.st_rdev}

out = {}
for target in ("/dev/null", "/dev/full", "/dev/stdout", "/dev/blockdev", work + "/link-to-null"):
    before = node(target)
    p = subprocess.run([cli, "report", inventory, "-f", "json", "-o", target], capture_output=True)
    out[target] = {"code": p.returncode, "stdout": len(p.stdout), "stderr": p.stderr.decode(),
                   "before": before, "after": node(target), "null": node("/dev/null")}
p = subprocess.run([cli, "scan", "-p", work + "/tree", "-d", "repo", "-f", "json", "-o", "/dev/null"],
                   capture_output=True)
out["scan"] = {"code": p.returncode, "stderr": p.stderr.decode(), "null": node("/dev/null")}
print(json.dumps(out))
'''


def _namespace_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a private mount namespace with its own /dev"
    if not shutil.which("unshare"):
        return "needs unshare(1)"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    return None if probe.returncode == 0 else f"unshare -m not permitted here: {probe.stderr.decode().strip()}"


@pytest.mark.skipif(_namespace_available() is not None, reason=str(_namespace_available()))
def test_devices_are_written_in_place_never_replaced(small_inventory, tmp_path, home):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "app.py").write_text(CALLS_OPENAI)
    harness = tmp_path / "harness.py"
    harness.write_text(DEVICE_HARNESS)
    p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, str(harness), CLI,
                        str(small_inventory), str(tmp_path)], capture_output=True, env=clean_environ(home), timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    res = json.loads(p.stdout)
    chr_null = {"type": stat.S_IFCHR, "mode": 0o666, "rdev": os.makedev(1, 3)}
    null = res["/dev/null"]
    assert null["code"] == 0 and null["stderr"] == "" and null["stdout"] == 0
    assert null["after"] == chr_null
    full = res["/dev/full"]
    assert full["code"] == 2
    assert full["stderr"] == "error: cannot write to /dev/full: No space left on device\n"
    assert full["after"] == full["before"] and full["after"]["type"] == stat.S_IFCHR
    out = res["/dev/stdout"]
    assert out["code"] == 0 and out["stdout"] > 100 and out["after"]["type"] == stat.S_IFLNK
    block = res["/dev/blockdev"]
    assert block["code"] == 2 and "it is a block device" in block["stderr"]
    assert block["after"] == block["before"]
    link = res[str(tmp_path / "link-to-null")]
    assert link["code"] == 0 and link["after"]["type"] == stat.S_IFLNK and link["null"] == chr_null
    assert res["scan"]["code"] == 1 and res["scan"]["null"] == chr_null  # a shadow agent, nothing replaced


# ---- 11.10: registry init does not overwrite ---------------------------------------------------


def test_registry_init_refuses_to_replace_an_existing_registry(small_inventory, tmp_path, home):
    reg = tmp_path / "agents.yaml"
    reg.write_text("version: 1\nagents: []\n# hand-edited\n")
    r = sa("registry", "init", "--from", small_inventory, "-o", reg, cwd=tmp_path, home=home)
    assert r.returncode == 2
    assert r.stderr.decode() == (f"error: {reg} already exists; use --force to replace it, "
                                 "or `registry add` to append one agent to it\n")
    assert reg.read_text().endswith("# hand-edited\n")
    r = sa("registry", "init", "--from", small_inventory, "-o", reg, "--force", cwd=tmp_path, home=home)
    assert r.returncode == 0, r.stderr
    assert "hand-edited" not in reg.read_text() and reg.read_text().count("  - id: ") == 3
    fresh = tmp_path / "new.yaml"
    assert sa("registry", "init", "--from", small_inventory, "-o", fresh, cwd=tmp_path, home=home).returncode == 0
    assert sa("registry", "check", fresh, cwd=tmp_path, home=home).returncode == 0


# ---- 11.11 and 19.3: control characters and undecodable names ---------------------------------


def _assert_no_raw_control(data: bytes, where: str) -> None:
    for seq in RAW_CONTROL:
        assert seq not in data, f"{where}: raw {seq!r}"


@pytest.mark.parametrize("fmt, how", [(f, "stdout") for f in HUMAN] + [("table", "file"), ("markdown", "file")])
def test_control_characters_never_reach_a_human_format(hostile_scan, tmp_path, home, fmt, how):
    target = tmp_path / f"out.{fmt}"
    r = sa("report", hostile_scan, "-f", fmt, *(["-o", target] if how == "file" else []), cwd=tmp_path, home=home)
    assert r.returncode == 0, r.stderr
    data = target.read_bytes() if how == "file" else r.stdout
    _assert_no_raw_control(data, f"{fmt} to {how}")
    data.decode("utf-8")  # strict: valid UTF-8 throughout
    assert b"clear\\x1b[2Jx" in data and b"bad\\xffname" in data  # shown, escaped


def test_diff_text_shows_hostile_names_escaped(hostile_scan, tmp_path, home):
    saved = hostile_scan
    empty = write_inventory(tmp_path / "empty.json", 0)
    r = sa("diff", empty, saved, cwd=tmp_path, home=home)
    assert r.returncode == 0 and r.stdout.count(b"+ new ") == len(HOSTILE_DIRS) + 1
    _assert_no_raw_control(r.stdout, "diff text")
    assert b"+ new      repo/hide\\x1b[8mx " in r.stdout


def test_table_on_a_terminal_keeps_colours_but_no_escape_from_names(hostile_scan, tmp_path, home):
    saved = hostile_scan
    master, slave = pty.openpty()
    env = clean_environ(home)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm-256color"
    p = subprocess.Popen([CLI, "report", str(saved), "-f", "table"], stdout=slave, stderr=subprocess.PIPE,
                         cwd=tmp_path, env=env)
    os.close(slave)
    data = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            data += chunk
        elif p.poll() is not None:
            break
    p.wait(30)
    os.close(master)
    assert p.returncode == 0, p.stderr.read()
    assert b"\x1b[" in data  # rich coloured the terminal...
    for seq in (b"\x1b[2J", b"\x1b[8m", "\u202e".encode(), b"\x9b", b"\x07", b"\x7f", b"\xff"):
        assert seq not in data, seq  # ...but no name did
    assert b"clear\\x1b[2Jx" in data


def test_markdown_summary_lines_defuse_mentions(tmp_path, home):
    tree = tmp_path / "repo"
    (tree / "@octo-team").mkdir(parents=True)
    (tree / "@octo-team" / "requirements.txt").write_text("openai\n")
    (tree / "@octo-team" / "app.py").write_text(CALLS_OPENAI)
    r = sa("scan", "-p", tree, "-d", "repo", "-f", "markdown", cwd=tmp_path, home=home)
    assert r.returncode == 1, r.stderr
    summaries = [line for line in r.stdout.decode().splitlines() if line.startswith("<summary>")]
    assert summaries and all("@octo" not in line and "@\u2060octo-team" in line for line in summaries)


def test_undecodable_file_names_are_escaped_in_json_and_round_trip(hostile_scan, tmp_path, home):
    raw = hostile_scan.read_bytes()
    raw.decode("utf-8")  # strict UTF-8
    assert b"\\udcff" in raw and b"\\u001b[2J" in raw  # JSON escapes, which read back exactly
    inv = json.loads(raw)
    assert any("bad\udcffname" in a["name"] for a in inv["agents"])
    again = sa("report", hostile_scan, "-f", "json", cwd=tmp_path, home=home)
    assert again.returncode == 0 and again.stdout == raw  # byte-identical round trip


@pytest.mark.parametrize("how", ["stdout", "file"])
def test_a_merge_written_as_bytes_still_escapes_hostile_names(hostile_scan, tmp_path, home, how):
    """The merge on disk hands its text to the guard as bytes: what needs escaping still is escaped."""
    target = tmp_path / "merged.json"
    r = sa("merge", hostile_scan, hostile_scan, "-f", "json", *(["-o", target] if how == "file" else []),
           cwd=tmp_path, home=home)
    assert r.returncode == 0, r.stderr
    raw = target.read_bytes() if how == "file" else r.stdout
    raw.decode("utf-8")  # strict: the lone surrogate went out as an escape
    assert b"\\udcff" in raw and b"\\u001b[2J" in raw and b"\x1b" not in raw
    names = {a["name"] for a in json.loads(raw)["agents"]}
    assert names == {a["name"] for a in json.loads(hostile_scan.read_bytes())["agents"]}


@pytest.mark.parametrize("fmt, how", [(f, "file") for f in FORMATS] + [("sarif", "stdout"), ("cyclonedx", "stdout")])
def test_undecodable_file_names_survive_every_format(hostile_tree, tmp_path, home, fmt, how):
    target = tmp_path / f"r.{fmt}"
    extra = ["-o", target] if how == "file" else []
    r = sa("scan", "-p", hostile_tree, "-d", "repo", "-f", fmt, *extra, cwd=tmp_path, home=home)
    assert r.returncode == 1, r.stderr
    text = (target.read_bytes() if how == "file" else r.stdout).decode("utf-8")  # strict UTF-8
    if fmt in ("json", "sarif", "cyclonedx"):
        doc = json.loads(text)
    elif fmt == "jsonl":
        [json.loads(line) for line in text.splitlines()]
    else:
        assert "bad\\xffname" in text
    if fmt == "sarif":
        uris = [loc["physicalLocation"]["artifactLocation"]["uri"] for res in doc["runs"][0]["results"]
                for loc in res["locations"]]
        assert "bad%FFname/app.py" in uris and "%FE.py" in uris  # the byte itself, percent-encoded


# ---- 19.9: closed pipes and full disks ----------------------------------------------------------


@pytest.fixture(scope="module")
def big_inventories(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("big")
    return write_inventory(d / "empty.json", 0), write_inventory(d / "big.json", 1500, "a-service-with-a-name-long-enough-that-even-the-capped-markdown-summary-outgrows-a-pipe-buffer")


@pytest.mark.parametrize("args", [["report", "{big}", "-f", f] for f in FORMATS] + [["diff", "{empty}", "{big}"],
                                                                                   ["diff", "{empty}", "{big}", "-f", "json"]])
def test_a_closed_pipe_ends_quietly_with_141(big_inventories, tmp_path, home, args):
    empty, big = big_inventories
    cmd = [CLI, *(a.format(big=big, empty=empty) for a in args)]
    # unbuffered: read(200) takes 200 bytes, not a buffer's worth (which could leave the writer room
    # for the rest of a 100 KB report, and no closed pipe to meet)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=clean_environ(home),
                         bufsize=0)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.read(200)
    p.stdout.close()  # like `| head -c 200`
    err = p.stderr.read()
    assert p.wait(120) == 141
    assert err == b""


def test_scan_table_into_head_ends_quietly(tmp_path, home):
    tree = tmp_path / "tree"
    for i in range(300):
        d = tree / f"agent-{i:03d}-{'x' * 60}"
        d.mkdir(parents=True)
        (d / "requirements.txt").write_text("openai\n")
        (d / "app.py").write_text(CALLS_OPENAI)
    env = clean_environ(home)
    p = subprocess.run(f"'{CLI}' scan -p '{tree}' -d repo -f table | head -n 2; echo \"status ${{PIPESTATUS[0]}}\"",
                       shell=True, executable="/bin/bash", capture_output=True, cwd=tmp_path, env=env, timeout=300)
    lines = p.stdout.decode().splitlines()
    assert len(lines) == 3 and lines[-1] == "status 141", p.stdout + p.stderr
    assert p.stderr == b""


@pytest.mark.parametrize("args", [["schema"], ["report", "{inv}", "-f", "json"], ["report", "{inv}", "-f", "table"],
                                  ["diff", "{inv}", "{inv}"], ["registry", "init", "--from", "{inv}"],
                                  ["formats"], ["--version"]])
def test_a_full_disk_on_stdout_is_one_line_and_exit_2(small_inventory, tmp_path, home, args):
    with open("/dev/full", "wb") as full:  # stdout only: the tool never sees the path
        r = sa(*(a.format(inv=small_inventory) for a in args), cwd=tmp_path, home=home, stdout=full)
    assert r.returncode == 2
    assert r.stderr.decode() == "error: cannot write to stdout: No space left on device\n"


# ---- 19.11: one error, one line ----------------------------------------------------------------

LONG = "a-field-name-long-enough-to-wrap-any-terminal-" * 3


@pytest.mark.parametrize("body, needle", [
    (f"agents:\n  - id: x\n    owner: o\n    {LONG}: 1\n", "unknown field"),
    ("agents:\n  - id: x\n    owner: o\n    created: 2026-13-45-and-then-a-long-tail-of-text-for-the-message\n", "must be a date"),
    ("agents:\n  - id: same-id-repeated-in-two-records-with-a-long-name\n    owner: o\n"
     "  - id: same-id-repeated-in-two-records-with-a-long-name\n    owner: o\n", "duplicate id"),
    ("agents:\n  - id: x\n    owner: o\n    match:\n      hosts: {a: 1}\n", "match.hosts"),
    ("agents: [\n  {id: x, owner: o,\n", "invalid YAML"),
])
def test_registry_errors_are_one_line_when_stderr_is_not_a_terminal(tmp_path, home, body, needle):
    reg = tmp_path / "registry-with-a-long-name-so-the-message-passes-eighty-columns.yaml"
    reg.write_text(body)
    r = sa("registry", "check", reg, cwd=tmp_path, home=home, env={"COLUMNS": "40"})
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.count("\n") == 1 and err.endswith("\n") and len(err) > 80, err
    assert err.startswith("error: ") and needle in err


def test_a_line_break_or_escape_in_a_file_name_does_not_break_the_error_line(tmp_path, home):
    reg = tmp_path / "bad\nname\x1b[2J.yaml"
    reg.write_text("agents: 5\n")
    r = sa("registry", "check", reg, cwd=tmp_path, home=home)
    assert r.returncode == 2
    assert r.stderr.count(b"\n") == 1 and b"\x1b" not in r.stderr
    assert "bad name\\x1b[2J.yaml" in r.stderr.decode()


def test_usage_errors_are_one_line(tmp_path, home):
    r = sa("scan", "--no-such-option-with-a-long-name-to-pass-eighty-columns-easily-and-more", cwd=tmp_path, home=home,
           env={"COLUMNS": "40"})
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("error: No such option") and "--help" in err


# ---- registry init from hostile names ----------------------------------------------------------


def test_registry_init_from_hostile_names_is_valid_and_approves_every_agent(tmp_path, home):
    """Names from the Big List of Naughty Strings that broke the starter registry: a glob class
    (``[Beeeep]``), a wildcard, a noncharacter YAML refuses even in a comment, a line break."""
    tree = tmp_path / "tree"
    names = ["bot[1]", "The quic\b\b\bk fo\a\ax... [Beeeep]", "all*of?them", "non\ufffechar", "two\nlines",
             "rtl\u202eexe"]
    for name in names:
        (tree / name).mkdir(parents=True)
        (tree / name / "requirements.txt").write_text("openai\n")
        (tree / name / "app.py").write_text(CALLS_OPENAI)
    scan, reg = tmp_path / "scan.json", tmp_path / "agents.yaml"
    assert sa("scan", "-p", tree, "-d", "repo", "-f", "json", "-o", scan, cwd=tmp_path, home=home).returncode == 1
    r = sa("registry", "init", "--from", scan, "-o", reg, cwd=tmp_path, home=home)
    assert r.returncode == 0, r.stderr
    _assert_no_raw_control(reg.read_bytes(), "starter registry")
    assert not [line for line in reg.read_text().splitlines() if line.startswith("two") or line.startswith("lines")]
    assert sa("registry", "check", reg, cwd=tmp_path, home=home).returncode == 0
    r = sa("scan", "-p", tree, "-d", "repo", "--registry", reg, "-f", "json", cwd=tmp_path, home=home)
    assert r.returncode == 0, r.stderr
    statuses = {a["name"]: a["status"] for a in json.loads(r.stdout)["agents"]}
    assert len(statuses) == len(names) and set(statuses.values()) == {"approved"}, statuses


# ---- a spool its writer scrubbed, written as bytes ---------------------------------------------


SPOOL_TEXTS = [
    "plain ascii line\n" * 3,
    "an ellipsis … and an emoji \U0001f600 at piece ends\n",
    "a bidi override \u202e, a C1 control \x85, an escape \x1b[2J\n",
    "a lone surrogate from a file name: bad\udcffname\n",
]


@pytest.mark.parametrize("text", SPOOL_TEXTS + ["".join(SPOOL_TEXTS)])
@pytest.mark.parametrize("piece", [1, 2, 5, 1 << 20])
def test_a_scrubbed_spool_is_written_as_the_text_path_writes_it(tmp_path, text, piece):
    """Whole characters at every cut, neutralised exactly as the guard neutralises text: the bytes
    path only skips the second scrub and the decode when nothing needs escaping."""
    import tempfile

    from scanner.output import GuardedStream, copy_spool

    written = {}
    for scrubbed in (False, True):
        target = tmp_path / f"out-{scrubbed}"
        with tempfile.TemporaryFile("w+b") as spool, \
                open(target, "w", encoding="utf-8", errors="backslashreplace", newline="") as fh:
            spool.write(text.encode("utf-8", "surrogatepass"))
            stream = GuardedStream(fh, "json", "out")
            copy_spool(spool, stream, piece=piece, scrubbed=scrubbed)
            stream.flush()
        written[scrubbed] = target.read_bytes()
    assert written[True] == written[False]
    written[True].decode("utf-8")  # strict: no lone surrogate reached the file
    assert b"\xe2\x80\xae" not in written[True] and b"\x1b" not in written[True]


def test_utf8_safe_looks_only_at_what_is_not_plain_ascii():
    from scanner.safetext import utf8_safe

    assert utf8_safe(b"plain\ttext\r\n") and utf8_safe("caf\u00e9 \u2026".encode())
    for bad in ("\x00", "\x7f", "\x85", "\u200e", "\u2028", "\u2066", "x\udcff"):
        assert not utf8_safe(bad.encode("utf-8", "surrogatepass")), repr(bad)
