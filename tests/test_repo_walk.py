"""The repo detector's walk and per-file bounds, through the installed console script on real trees.

Symbolic links never lead out of the scan paths unless ``--follow-symlinks``; a file or directory
swapped for a link mid-scan cannot either; 2,000-deep nesting (paths past PATH_MAX) is walked;
generated trees are scanned for keys only; a file over ``file_timeout`` is abandoned alone.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from detectors.repo import safeopen
from detectors.repo.rules import Rules
from detectors.repo.walk import OUTSIDE_LINK_EXAMPLES, Tree, Walker
from detectors.repo.worker import scan_file
from scanner.catalog import Catalog
from scanner.redact import fingerprint
from tests.keys import make_key
from tests.test_repo_support import write

OUTSIDE = "outside the scanned paths"


def repo_scan(run_cli, *args: str) -> tuple[list[dict], dict]:
    r = run_cli("scan", "-d", "repo", "-f", "json", "--no-progress", *args)
    assert r.code in (0, 1), r.err
    assert "Traceback" not in r.err
    data = r.json()
    return data["findings"], data["coverage"][0]


def by_fingerprint(findings: list[dict]) -> dict[str, list[str]]:
    """fingerprint -> sorted paths where that key was reported."""
    out: dict[str, list[str]] = {}
    for f in findings:
        if f["kind"] == "credential":
            out.setdefault(f["credential"]["fingerprint"], []).append(f["location"]["path"])
    return {k: sorted(v) for k, v in out.items()}


def gaps(cov: dict) -> dict[str, str]:
    return {g["what"]: g["reason"] for g in cov.get("gaps", [])}


# ---- symbolic links -------------------------------------------------------------------------------


def test_links_out_of_the_tree_are_not_followed_and_are_counted(run_cli, tmp_path: Path) -> None:
    proj, outside = tmp_path / "proj", tmp_path / "outside"
    inside_key, outside_key = make_key("groq", 1), make_key("groq", 2)
    write(proj / "app.env", f"GROQ_API_KEY={inside_key}\n")
    write(outside / "secret.env", f"GROQ_API_KEY={outside_key}\n")
    os.symlink("/", proj / "to_root")
    os.symlink(outside, proj / "to_outside")
    os.symlink("../outside/secret.env", proj / "linked.env")  # a symlinked FILE pointing outside
    (proj / "many").mkdir()
    for i in range(20):
        os.symlink(outside, proj / "many" / f"l{i:02}")
    findings, cov = repo_scan(run_cli, "-p", str(proj))
    assert by_fingerprint(findings) == {fingerprint(inside_key): [str(proj / "app.env")]}
    assert all(f["location"]["path"].startswith(str(proj) + "/") for f in findings)
    assert cov["scanned"]["files"] == 1 and cov["scanned"]["bytes"] == len(f"GROQ_API_KEY={inside_key}\n")
    assert cov["scanned"]["symlinks_outside_tree_skipped"] == 23
    reasons = gaps(cov)  # a few examples, in walk order; the count has them all
    assert sorted(w for w, why in reasons.items() if OUTSIDE in why) == sorted(
        str(proj / p) for p in ("linked.env", "to_outside", "to_root", "many/l00", "many/l01"))
    assert OUTSIDE_LINK_EXAMPLES == 5
    for link, target in (("to_root", "/"), ("to_outside", str(outside)), ("linked.env", str(outside / "secret.env"))):
        assert reasons[str(proj / link)] == (f"symbolic link to {target}, {OUTSIDE}: not followed "
                                             "(follow_symlinks allows it)")
    assert cov["status"] == "partial"


def test_links_inside_the_tree_are_followed_and_not_walked_twice(run_cli, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    shared_key, vendored_key = make_key("groq", 3), make_key("xai", 4)
    write(proj / "shared" / "common.env", f"GROQ_API_KEY={shared_key}\n")
    write(proj / "vendor" / "mylib" / "client.py", f"K = '{vendored_key}'\n")  # vendor/ itself is skipped
    (proj / "app").mkdir()
    os.symlink("../shared/common.env", proj / "app" / ".env")  # a file link inside the tree
    os.symlink("../vendor/mylib", proj / "app" / "lib")  # a directory link inside the tree
    os.symlink("shared", proj / "a_shared")  # sorts before shared/: still walked at its own place
    findings, cov = repo_scan(run_cli, "-p", str(proj))
    assert by_fingerprint(findings) == {
        fingerprint(shared_key): [str(proj / "app" / ".env"), str(proj / "shared" / "common.env")],
        fingerprint(vendored_key): [str(proj / "app" / "lib" / "client.py")],
    }
    assert cov["status"] == "ran" and "symlinks_outside_tree_skipped" not in cov["scanned"]


def test_follow_symlinks_leaves_the_tree_but_stays_loop_safe(run_cli, tmp_path: Path) -> None:
    proj, outside = tmp_path / "proj", tmp_path / "outside"
    outside_key = make_key("groq", 5)
    write(outside / "secret.env", f"GROQ_API_KEY={outside_key}\n")
    write(proj / "app.py", "import openai\n")
    os.symlink(outside, proj / "to_outside")
    os.symlink(outside / "secret.env", proj / "linked.env")
    os.symlink("/", proj / "to_root")  # an ancestor of the tree: a loop, never a walk of the whole disk
    os.symlink("..", outside / "up")  # outside/up -> tmp_path, which holds proj again
    findings, cov = repo_scan(run_cli, "-p", str(proj), "--follow-symlinks")
    assert by_fingerprint(findings) == {
        fingerprint(outside_key): [str(proj / "linked.env"), str(proj / "to_outside" / "secret.env")]}
    reasons = gaps(cov)
    assert reasons[str(proj / "to_root")] == "symbolic link loop"
    assert reasons[str(proj / "to_outside" / "up")] == "symbolic link loop"
    assert "symlinks_outside_tree_skipped" not in cov["scanned"] and cov["scanned"]["files"] == 3


def test_link_loops_end_and_every_file_is_scanned_once(run_cli, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    keys = [make_key("groq", 10 + i) for i in range(3)]
    write(proj / "a" / "k.env", f"GROQ_API_KEY={keys[0]}\n")
    write(proj / "x" / "k.env", f"GROQ_API_KEY={keys[1]}\n")
    write(proj / "y" / "k.env", f"GROQ_API_KEY={keys[2]}\n")
    os.symlink("..", proj / "a" / "loop")
    os.symlink("self", proj / "self")
    os.symlink("../y", proj / "x" / "to_y")  # x -> y -> x: a cycle through two links
    os.symlink("../x", proj / "y" / "to_x")
    (proj / "a" / "deeper").mkdir()
    os.symlink("../../a", proj / "a" / "deeper" / "back")
    for extra in ([], ["--follow-symlinks"]):
        findings, cov = repo_scan(run_cli, "-p", str(proj), *extra)
        assert by_fingerprint(findings) == {fingerprint(keys[0]): [str(proj / "a" / "k.env")],
                                            fingerprint(keys[1]): [str(proj / "x" / "k.env")],
                                            fingerprint(keys[2]): [str(proj / "y" / "k.env")]}
        reasons = gaps(cov)
        assert reasons[str(proj / "a" / "loop")] == "symbolic link loop"
        assert reasons[str(proj / "a" / "deeper" / "back")] == "symbolic link loop"
        assert "loop" in reasons[str(proj / "self")]


def test_a_key_shaped_link_target_is_not_printed_raw(run_cli, tmp_path: Path) -> None:
    proj, key = tmp_path / "proj", make_key("groq", 20)
    (tmp_path / "out" / key).mkdir(parents=True)
    write(proj / "app.py", "import openai\n")
    os.symlink(tmp_path / "out" / key, proj / "x")
    r = run_cli("scan", "-d", "repo", "-f", "json", "-p", str(proj), "-v")
    assert r.code in (0, 1), r.err
    assert key not in r.out and key not in r.err
    assert OUTSIDE in r.out


# ---- a tree that changes while it is scanned --------------------------------------------------------


def _tree(tmp_path: Path) -> tuple[Path, Path, str]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    key = make_key("groq", 30)
    write(root / "a.txt", "nothing here\n")
    write(root / "sub" / "x.env", "nothing here either\n")
    write(outside / "x.env", f"GROQ_API_KEY={key}\n")
    return root, outside, key


def _walker(root: Path, gaps_seen: list[tuple[str, str]]) -> Walker:
    return Walker(False, False, lambda what, why: gaps_seen.append((what, why)), lambda what, n=1: None, paths=[root])


def test_a_directory_swapped_for_a_link_after_listing_is_not_walked(tmp_path: Path) -> None:
    root, outside, _ = _tree(tmp_path)
    seen: list[tuple[str, str]] = []
    walk = _walker(root, seen).walk(root)
    assert next(walk).rel == "a.txt"  # root is listed; sub/ is not yet
    os.rename(root / "sub", tmp_path / "sub.moved")
    os.symlink(outside, root / "sub")
    assert list(walk) == []
    assert seen == [(str(root / "sub"), "became a symbolic link during the scan: not followed")]


SWAPPED = "a symbolic link appeared on its path during the scan: not read"


@pytest.mark.parametrize("openat2", [True, False], ids=["openat2", "O_NOFOLLOW and /proc"])
def test_a_file_or_its_directory_swapped_for_a_link_after_listing_is_not_read(tmp_path: Path, monkeypatch,
                                                                             openat2: bool) -> None:
    if openat2 and safeopen._openat2 is None:
        pytest.skip("this kernel has no openat2: the fallback is the only path")
    if not openat2:
        monkeypatch.setattr(safeopen, "_openat2", None)
    root, outside, key = _tree(tmp_path)
    seen: list[tuple[str, str]] = []
    walker = _walker(root, seen)
    items = {i.rel: i for i in walker.walk(root)}
    assert set(items) == {"a.txt", "sub/x.env"} and seen == []
    rules = Rules.build(Catalog.load())
    (root / "a.txt").unlink()
    os.symlink(outside / "x.env", root / "a.txt")  # the file itself became a link
    os.rename(root / "sub", tmp_path / "sub.moved")
    os.symlink(outside, root / "sub")  # a directory on its path became a link
    results = {rel: scan_file(rules, 0, i.open_path, rel, 1 << 20) for rel, i in items.items()}
    assert {rel: r.gap for rel, r in results.items()} == {"a.txt": SWAPPED, "sub/x.env": SWAPPED}
    assert all(r.hits == [] for r in results.values())
    (root / "sub").unlink()
    os.rename(tmp_path / "sub.moved", root / "sub")
    assert scan_file(rules, 0, items["sub/x.env"].open_path, "sub/x.env", 1 << 20).gap is None


def test_a_fifo_or_socket_swapped_in_does_not_block_the_reader(tmp_path: Path) -> None:
    root, _, _ = _tree(tmp_path)
    walker = _walker(root, [])
    items = {i.rel: i for i in walker.walk(root)}
    rules = Rules.build(Catalog.load())
    (root / "a.txt").unlink()
    os.mkfifo(root / "a.txt")  # nobody writes: a blocking open would hang the scan
    (root / "sub" / "x.env").unlink()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(root / "sub" / "x.env"))
        results = [scan_file(rules, 0, i.open_path, rel, 1 << 20) for rel, i in sorted(items.items())]
    assert results[0].gap == "not a regular file any more (changed during the scan): not read"
    assert results[1].gap and results[1].gap.startswith("unreadable:")


# ---- depth -----------------------------------------------------------------------------------------


def test_2000_deep_nesting_past_path_max_finds_the_top_and_the_bottom_key(run_cli, tmp_path: Path) -> None:
    root = tmp_path / "deep"
    top, bottom = make_key("groq", 40), make_key("xai", 41)
    write(root / "top.env", f"GROQ_API_KEY={top}\n")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(2000):  # "dd/" x 2000: 6,000 characters, past Linux's PATH_MAX of 4,096
        os.mkdir("dd", dir_fd=fd)
        nxt = os.open("dd", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    with open(os.open("bottom.py", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as fh:
        fh.write(f"import openai\nclient = openai.OpenAI()\nK = '{bottom}'\n")
    os.close(fd)
    try:
        findings, cov = repo_scan(run_cli, "-p", str(root))
    finally:
        _remove_chain(root, "dd")
    found = by_fingerprint(findings)
    assert found[fingerprint(top)] == [str(root / "top.env")]
    [deep_path] = found[fingerprint(bottom)]
    assert deep_path == str(root) + "/dd" * 2000 + "/bottom.py" and len(deep_path.encode()) > 4096
    assert {f["kind"] for f in findings if f["location"]["path"] == deep_path} == {"credential", "sdk-usage"}
    assert cov["status"] == "ran" and cov["scanned"]["files"] == 2


def _remove_chain(root: Path, name: str) -> None:
    """Remove a deep chain of directories from the top (shutil.rmtree recurses, as pytest's cleanup does)."""
    while (root / name).is_dir():
        if (root / name / name).is_dir():
            os.rename(root / name / name, root / "next")
        for leftover in (root / name).iterdir():
            leftover.unlink()
        os.rmdir(root / name)
        if (root / "next").is_dir():
            os.rename(root / "next", root / name)


# ---- generated trees -------------------------------------------------------------------------------


def test_generated_trees_are_scanned_for_keys_only_and_counted(run_cli, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    bundle_key, next_key = make_key("openai-project", 50), make_key("anthropic-api", 51)
    write(proj / "package.json", '{"name": "web", "dependencies": {"openai": "^4.0.0"}}\n')
    write(proj / "src" / "index.js", 'import OpenAI from "openai";\nconst client = new OpenAI();\n')
    write(proj / "dist" / "bundle.js", f'import OpenAI from "openai";const k="{bundle_key}";\n')
    write(proj / ".next" / "server" / "chunk.js",
          f'fetch("https://api.anthropic.com/v1/messages");const k="{next_key}";\n')
    write(proj / "build" / "lib" / "m.py", "import anthropic\n")
    write(proj / "web.egg-info" / "m.py", "import anthropic\n")
    write(proj / "rs" / "Cargo.toml", '[package]\nname = "rs"\n')
    write(proj / "rs" / "target" / "debug" / "gen.py", "import mistralai\n")
    write(proj / "cache" / "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n")
    write(proj / "cache" / "m.py", "import cohere\n")
    write(proj / "other" / "target" / "app.py", "import groq\nclient = groq.Groq()\n")  # no Cargo.toml/pom.xml beside it: source
    findings, cov = repo_scan(run_cli, "-p", str(proj))
    paths = {(Path(f["location"]["path"]).relative_to(proj).as_posix(), f["kind"]) for f in findings}
    assert paths == {("package.json", "dependency"), ("src/index.js", "sdk-usage"),
                     ("dist/bundle.js", "credential"), (".next/server/chunk.js", "credential"),
                     ("other/target/app.py", "sdk-usage")}
    assert cov["scanned"]["generated_dirs_keys_only"] == 6
    findings, cov = repo_scan(run_cli, "-p", str(proj), "--include-vendored")
    kinds = {Path(f["location"]["path"]).relative_to(proj).as_posix() for f in findings}
    assert {"dist/bundle.js", ".next/server/chunk.js", "build/lib/m.py", "web.egg-info/m.py",
            "rs/target/debug/gen.py", "cache/m.py"} <= kinds
    assert "generated_dirs_keys_only" not in cov["scanned"]


# ---- per-file time budget ----------------------------------------------------------------------------

SLOW_CATALOG = """schema_version: 1
providers:
  - id: slowco
    name: SlowCo
    kind: provider
    keys:
      - id: slowco-key
        label: SlowCo key
        regex: 'slowk-(?:[a-z]+)+!'
        prefixes: ['slowk-']
        admin: false
        context_only: false
"""


@pytest.mark.parametrize("mode", ["in-process", "worker pool"])
def test_a_file_over_its_time_budget_is_abandoned_alone(run_cli, tmp_path: Path, mode: str) -> None:
    """A catastrophic key regex from a catalogue extension makes one file take minutes.

    In-process the file is many short calls (each ~10-100 ms, hundreds of them): the watchdog stops it
    between two. In a worker it is one call of minutes: only the worker's alarm can stop that.
    """
    tree, key = tmp_path / "tree", make_key("groq", 60)
    catalog = write(tmp_path / "slow.yaml", SLOW_CATALOG)
    if mode == "in-process":
        write(tree / "slow.txt", " ".join("slowk-" + "a" * 20 for _ in range(2000)))
        extra: list[str] = ["--workers", "1"]
    else:
        write(tree / "slow.txt", "x slowk-" + "a" * 40 + " y")
        extra = ["--workers", "2", "--set", "repo.parallel_min_files=0"]
    write(tree / "z.env", f"GROQ_API_KEY={key}\n")
    findings, cov = repo_scan(run_cli, "-p", str(tree), "--catalog", str(catalog), "--timeout", "60",
                              "--set", "repo.file_timeout=1", *extra)
    assert by_fingerprint(findings) == {fingerprint(key): [str(tree / "z.env")]}
    assert cov["status"] == "partial" and not cov.get("reason")  # not "timed out": the detector finished
    assert gaps(cov) == {str(tree / "slow.txt"): "scan took longer than file_timeout (1 s): abandoned, "
                                                 "the other files were scanned"}
    assert cov["scanned"]["files"] == 1


@pytest.mark.parametrize("value", ["soon", "nan", "-1", "0"])
def test_a_bad_file_timeout_is_a_clear_input_error(run_cli, tmp_path: Path, value: str) -> None:
    write(tmp_path / "a.py", "import openai\n")
    r = run_cli("scan", "-d", "repo", "-f", "json", "-p", str(tmp_path), "--set", f"repo.file_timeout={value}")
    assert r.code == 2 and "Traceback" not in r.err and r.out == ""
    [line] = r.err.strip().splitlines()
    assert "repo.file_timeout" in line


def test_a_config_in_the_scanned_directory_cannot_turn_on_follow_symlinks(run_cli, workdir: Path,
                                                                           tmp_path: Path) -> None:
    outside_key = make_key("groq", 70)
    write(tmp_path / "outside" / "secret.env", f"GROQ_API_KEY={outside_key}\n")
    write(workdir / "shadow-agents.toml", "[detectors.repo]\nfollow_symlinks = true\n")
    os.symlink(tmp_path / "outside", workdir / "to_outside")
    findings, cov = repo_scan(run_cli, "-p", ".")
    assert fingerprint(outside_key) not in by_fingerprint(findings)
    assert cov["scanned"]["symlinks_outside_tree_skipped"] == 1


def test_tree_membership_is_by_whole_path_components(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    tree = Tree.of([tmp_path / "a"])
    assert tree.contains(str(tmp_path / "a")) and tree.contains(str(tmp_path / "a" / "b"))
    assert not tree.contains(str(tmp_path / "ab")) and not tree.contains(str(tmp_path))
    assert Tree.of([Path("/")]).contains("/etc/passwd")


def test_link_targets_resolve_exactly_as_realpath_does(tmp_path: Path) -> None:
    """The walk's cached resolution must agree with os.path.realpath on chains, '..' after links, '.'."""
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    write(tmp_path / "a" / "b" / "c" / "f.txt", "x")
    os.symlink("a/b", tmp_path / "ab")  # a directory link
    os.symlink(tmp_path / "ab" / "c", tmp_path / "abs_c")  # absolute, through a link
    os.symlink("ab/../b/c/f.txt", tmp_path / "a" / "dotdot")  # '..' after a link (not normalised away)
    os.symlink("../ab/c/./f.txt", tmp_path / "a" / "b" / "dot")
    os.symlink("chain2", tmp_path / "chain1")
    os.symlink("abs_c/f.txt", tmp_path / "chain2")
    os.symlink("..", tmp_path / "a" / "b" / "c" / "up")
    os.symlink("missing/x", tmp_path / "broken")
    walker = _walker(tmp_path, [])
    links = [p for p in tmp_path.rglob("*") if p.is_symlink()]
    assert len(links) == 8
    for link in links:
        got = walker._resolve_link(os.path.realpath(link.parent), os.readlink(link))
        assert got == os.path.realpath(link), link
        assert walker._resolve_link(os.path.realpath(link.parent), os.readlink(link)) == got  # from the cache


def test_listing_by_path_where_descriptors_cannot_list_gives_the_same_walk(tmp_path: Path, monkeypatch) -> None:
    """Windows lists directories by path: the same files, links judged the same way."""
    import detectors.repo.walk as walk_module
    proj, outside = tmp_path / "proj", tmp_path / "outside"
    write(proj / "a" / "k.env", "X=1\n")
    write(proj / "dist" / "b.js", "x\n")
    write(outside / "o.env", "X=2\n")
    os.symlink("a", proj / "link_in")
    os.symlink(outside, proj / "link_out")
    os.symlink("..", proj / "a" / "loop")

    def run() -> tuple[list[tuple[str, str | None, bool]], list[tuple[str, str]]]:
        seen: list[tuple[str, str]] = []
        items = [(i.rel, i.real, i.keys_only) for i in _walker(proj, seen).walk(proj)]
        return items, seen

    by_fd = run()
    monkeypatch.setattr(walk_module, "BY_FD", False)
    assert run() == by_fd
    assert by_fd[0] == [("a/k.env", None, False), ("dist/b.js", None, True)]
    assert by_fd[1] == [(str(proj / "link_out"), f"symbolic link to {outside}, {OUTSIDE}: not followed "
                                                 "(follow_symlinks allows it)"),
                        (str(proj / "a" / "loop"), "symbolic link loop")]
