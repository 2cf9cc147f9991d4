"""A scanned repository's git configuration never runs anything: one real repository per attack vector.

Every vector's program is a trap script that writes a marker file when it runs. Each
vector is first shown to be live — plain git on a copy runs the trap — and then the
installed ``shadow-agents`` scans all vector repositories, with and without
``--history`` and ``--respect-gitignore``, so every git subcommand the scanner uses
(``log`` for owners, ``log -p`` for history, ``ls-files`` for ignores, ``config --file``
for the repository format) meets every vector. No marker may appear, and the planted
keys must still be found, so a scan that skipped git could not pass either.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scanner.redact import fingerprint
from tests.keys import make_key

AUTHOR = "dev@example.com"
ATTRIBUTES = "* diff=evil filter=evil merge=evil\n"
HOOKS = ("applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit",
         "prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout", "post-merge",
         "pre-push", "pre-receive", "update", "proc-receive", "post-receive", "post-update",
         "reference-transaction", "push-to-checkout", "pre-auto-gc", "post-rewrite", "post-index-change",
         "fsmonitor-watchman")
SIGNATURES = {  # git picks the verifying program from the signature's armour
    "openpgp": "-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n-----END PGP SIGNATURE-----",
    "ssh": "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----",
    "x509": "-----BEGIN SIGNED MESSAGE-----\nMIIBxjCCAW2gAwIBAgIU\n-----END SIGNED MESSAGE-----",
}
FLAG_SETS = ([], ["--history"], ["--respect-gitignore"], ["--history", "--respect-gitignore"])
CREDENTIAL_QUERY = "protocol=https\nhost=example.invalid\n\n"
TRAP = "{trap}"
MARKERS_VAR = "GIT_SAFETY_TEST_MARKERS"
SIGNATURE_TRAPS = {"log.showSignature": "true", "gpg.program": TRAP}


def _git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "SSH_")) and k not in ("EDITOR", "VISUAL", "PAGER")}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
               GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL=AUTHOR, GIT_COMMITTER_NAME="Dev",
               GIT_COMMITTER_EMAIL=AUTHOR, GIT_AUTHOR_DATE="2025-01-02T03:04:05+00:00",
               GIT_COMMITTER_DATE="2025-01-02T03:04:05+00:00")
    return env


def git(repo: Path, *args: str, stdin: str | None = None, check: bool = True,
        markers: Path | None = None) -> subprocess.CompletedProcess:
    """Plain git; traps it runs write their markers into ``markers`` when given (the controls)."""
    env = _git_env(repo.parent) | ({MARKERS_VAR: str(markers)} if markers else {})
    return subprocess.run(["git", "-C", str(repo), *args], env=env, input=stdin, text=True,
                          capture_output=True, check=check, timeout=60)


def git_on_terminal(repo: Path, *args: str, markers: Path) -> None:
    """Plain git with its stdout on a pseudo-terminal (git pages only then)."""
    controller, terminal = pty.openpty()
    env = _git_env(repo.parent) | {MARKERS_VAR: str(markers)}
    try:
        subprocess.run(["git", "-C", str(repo), *args], env=env, stdin=subprocess.DEVNULL,
                       stdout=terminal, stderr=subprocess.DEVNULL, timeout=60, check=False)
    finally:
        os.close(terminal)
        os.close(controller)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make_trap(traps: Path, markers: Path, name: str) -> str:
    """A program that records that it ran (in ``markers/<name>``, or under ``$MARKERS_VAR`` for the
    controls: the scanner's git gets no variable of ours, so a trap it ran writes to ``markers``) and fails."""
    markers.mkdir(parents=True, exist_ok=True)
    script = write(traps / name, f"#!/bin/sh\necho \"$0 $*\" >> \"${{{MARKERS_VAR}:-{markers}}}/{name}\"\nexit 1\n")
    script.chmod(0o755)
    return str(script)


@dataclass
class Planted:
    current: str  # committed and in the tree: every scan finds it
    history: str  # added, then removed: only --history finds it
    ignored: str  # untracked, in a .gitignore'd file: --respect-gitignore skips it


def build_repo(path: Path, seed: int, object_format: str | None = None) -> Planted:
    """A repository with three planted keys and three commits signed with each kind of signature."""
    keys = Planted(*(make_key("anthropic-api", seed=seed * 10 + i) for i in range(3)))
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main", *([f"--object-format={object_format}"] if object_format else []))
    write(path / "app.py", f"import anthropic\nKEY = '{keys.current}'\n")
    write(path / "old.py", f"import anthropic\nOLD = '{keys.history}'\n")
    write(path / ".gitignore", "local_settings.py\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "start")
    git(path, "rm", "-q", "old.py")
    git(path, "commit", "-q", "-m", "drop the old key")
    write(path / "local_settings.py", f"import anthropic\nLOCAL = '{keys.ignored}'\n")
    header = "gpgsig-sha256" if object_format == "sha256" else "gpgsig"
    for kind, signature in SIGNATURES.items():
        tree = git(path, "rev-parse", "HEAD^{tree}").stdout.strip()
        parent = git(path, "rev-parse", "HEAD").stdout.strip()
        body = (f"tree {tree}\nparent {parent}\nauthor Dev <{AUTHOR}> 1735787045 +0000\n"
                f"committer Dev <{AUTHOR}> 1735787045 +0000\n{header} " + signature.replace("\n", "\n ")
                + f"\n\nsigned ({kind})\n")
        sha = git(path, "hash-object", "-t", "commit", "-w", "--stdin", stdin=body).stdout.strip()
        git(path, "update-ref", "HEAD", sha)
    return keys


@dataclass
class Vector:
    name: str
    config: dict[str, str] = field(default_factory=dict)  # {trap}, {git_dir}, {worktree} are filled in
    trigger: tuple[str, ...] = ("log", "-n5")  # plain git running this shows the vector is live
    stdin: str | None = None
    attributes: bool = False  # name the ``evil`` drivers for every file (.git/info/attributes)
    hooks: str | None = None  # "dotgit": every hook in .git/hooks; "path": in a core.hooksPath directory
    include: dict[str, str] | None = None  # config in .git/hostile.inc, pulled in by ``raw``
    raw: str = ""  # appended to .git/config as text
    object_format: str | None = None
    linked_worktree: bool = False  # scan a ``git worktree add`` checkout; the config is in the main repository
    terminal: bool = False  # the trigger needs a terminal


VECTORS = [
    Vector("gpg-openpgp", dict(SIGNATURE_TRAPS)),
    Vector("gpg-openpgp-format", {"log.showSignature": "true", "gpg.openpgp.program": TRAP}),
    Vector("gpg-ssh", {"log.showSignature": "true", "gpg.ssh.program": TRAP,
                       "gpg.ssh.allowedSignersFile": "{git_dir}/allowed_signers"}),
    Vector("gpg-x509", {"log.showSignature": "true", "gpg.x509.program": TRAP}),
    Vector("fsmonitor", {"core.fsmonitor": TRAP}, ("ls-files", "-o", "-i", "--exclude-standard", "--directory")),
    Vector("hooks", {}, ("commit", "-q", "--allow-empty", "-m", "x"), hooks="dotgit"),
    Vector("hooks-path", {"core.hooksPath": "{git_dir}/evil-hooks"}, ("commit", "-q", "--allow-empty", "-m", "x"),
           hooks="path"),
    Vector("core-pager", {"core.pager": TRAP}, ("log", "-n1"), terminal=True),
    Vector("pager-per-command", {"pager.log": TRAP, "pager.ls-files": TRAP}, ("log", "-n1"), terminal=True),
    Vector("diff-external", {"diff.external": TRAP}, ("log", "-p", "--ext-diff")),
    Vector("diff-driver-command", {"diff.evil.command": TRAP}, ("log", "-p", "--ext-diff"), attributes=True),
    Vector("textconv", {"diff.evil.textconv": TRAP}, ("log", "-p", "--textconv"), attributes=True),
    Vector("filter-process", {"filter.evil.process": TRAP}, ("add", "--renormalize", "."), attributes=True),
    Vector("filter-clean-smudge", {"filter.evil.clean": TRAP, "filter.evil.smudge": TRAP},
           ("add", "--renormalize", "."), attributes=True),
    Vector("credential-helper", {"credential.helper": "!" + TRAP}, ("credential", "fill"), stdin=CREDENTIAL_QUERY),
    Vector("askpass", {"core.askPass": TRAP}, ("credential", "fill"), stdin=CREDENTIAL_QUERY),
    Vector("editor", {"core.editor": TRAP, "sequence.editor": TRAP}, ("commit", "--allow-empty")),
    Vector("ssh-command", {"core.sshCommand": TRAP, "remote.origin.url": "ssh://attacker.invalid/r.git"},
           ("ls-remote", "origin")),
    Vector("upload-pack", {"remote.origin.url": "{worktree}", "remote.origin.uploadpack": TRAP},
           ("ls-remote", "origin")),
    Vector("ext-protocol", {"protocol.allow": "always", "remote.origin.url": "ext::" + TRAP}, ("ls-remote", "origin")),
    Vector("git-proxy", {"core.gitProxy": TRAP, "remote.origin.url": "git://attacker.invalid/r.git"},
           ("ls-remote", "origin")),
    Vector("include", raw="[include]\n\tpath = hostile.inc\n",
           include={**SIGNATURE_TRAPS, "core.fsmonitor": TRAP}),
    Vector("include-if", raw='[includeIf "gitdir:**/.git"]\n\tpath = hostile.inc\n',
           include={**SIGNATURE_TRAPS, "core.fsmonitor": TRAP}),
    Vector("sha256-repository", {**SIGNATURE_TRAPS, "core.fsmonitor": TRAP}, object_format="sha256"),
    Vector("linked-worktree", {**SIGNATURE_TRAPS, "core.fsmonitor": TRAP}, linked_worktree=True),
]


@dataclass
class Built:
    vector: Vector
    repo: Path  # where git is run for the control (the repository holding the config)
    scan_path: Path  # what the scanner is given
    keys: Planted


def build_vector(base: Path, vector: Vector, seed: int) -> Built:
    markers, traps = base / "markers", base / "traps"
    trap = make_trap(traps, markers, vector.name)
    repo = base / vector.name / "main"
    keys = build_repo(repo, seed, vector.object_format)
    scan_path = repo
    if vector.linked_worktree:
        scan_path = base / vector.name / "linked"
        git(repo, "worktree", "add", "-q", str(scan_path))
        write(scan_path / "local_settings.py", (repo / "local_settings.py").read_text())
        (repo / "local_settings.py").unlink()
    git_dir = repo / ".git"
    fill = {"trap": trap, "git_dir": str(git_dir), "worktree": str(repo)}
    write(git_dir / "allowed_signers", "dev@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG\n")
    for key, value in vector.config.items():
        git(repo, "config", key, value.format(**fill))
    if vector.include:
        write(git_dir / "hostile.inc", "".join(f"[{k.rsplit('.', 1)[0]}]\n\t{k.rsplit('.', 1)[1]} = "
                                               f"{v.format(**fill)}\n" for k, v in vector.include.items()))
    if vector.raw:
        with open(git_dir / "config", "a", encoding="utf-8") as f:
            f.write(vector.raw.format(**fill))
    if vector.attributes:
        write(git_dir / "info" / "attributes", ATTRIBUTES)
    if vector.hooks:
        hooks_dir = git_dir / ("hooks" if vector.hooks == "dotgit" else "evil-hooks")
        hooks_dir.mkdir(exist_ok=True)
        for hook in HOOKS:
            shutil.copy(trap, hooks_dir / hook)
    if vector.linked_worktree:  # the worktree's own config.worktree, too
        git(repo, "config", "core.repositoryformatversion", "1")
        git(repo, "config", "extensions.worktreeConfig", "true")
        git(scan_path, "config", "--worktree", "core.fsmonitor", trap)
    return Built(vector, repo, scan_path, keys)


def markers_of(base: Path) -> dict[str, str]:
    markers = base / "markers"
    return {p.name: p.read_text()[:200] for p in sorted(markers.iterdir())} if markers.is_dir() else {}


def found(report: dict) -> dict[str, dict]:
    """credential fingerprint → finding (live tree and history alike)."""
    return {f["credential"]["fingerprint"]: f for f in report["findings"] if f.get("credential")}


def check_keys(report: dict, keys: Planted, flags: list[str], name: str) -> None:
    by_fp = found(report)
    current = by_fp.get(fingerprint(keys.current))
    assert current is not None, f"{name}: the committed key was not found"
    assert f"owner:{AUTHOR}" in current["identity"], f"{name}: no owner from git log"
    assert (fingerprint(keys.history) in by_fp) == ("--history" in flags), f"{name}: history key"
    assert (fingerprint(keys.ignored) in by_fp) == ("--respect-gitignore" not in flags), f"{name}: ignored key"


@pytest.fixture(scope="module")
def vectors(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Built]]:
    base = tmp_path_factory.mktemp("vectors")
    return base, [build_vector(base, v, seed) for seed, v in enumerate(VECTORS, start=1)]


def test_every_vector_runs_its_program_under_plain_git(vectors, tmp_path: Path) -> None:
    """The control: each hostile repository really makes plain git run the trap (on a copy)."""
    base, built = vectors
    markers = tmp_path / "markers"
    markers.mkdir()
    for b in built:
        copy = tmp_path / b.vector.name
        shutil.copytree(b.repo, copy, symlinks=True)
        if b.vector.terminal:
            git_on_terminal(copy, *b.vector.trigger, markers=markers)
        else:
            git(copy, *b.vector.trigger, stdin=b.vector.stdin, check=False, markers=markers)
        assert b.vector.name in markers_of(tmp_path), f"{b.vector.name}: plain `git {' '.join(b.vector.trigger)}` " \
                                                      "did not run the trap; the vector is not live"
    assert markers_of(base) == {}


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: " ".join(f) or "plain")
def test_no_vector_runs_through_a_scan_and_the_keys_are_still_found(vectors, run_cli, flags: list[str]) -> None:
    base, built = vectors
    args = [a for b in built for a in ("-p", str(b.scan_path))]
    r = run_cli("scan", "-d", "repo", *args, *flags, "-f", "json", "--no-progress", "--fail-on", "none")
    assert r.code == 0, r.err
    assert markers_of(base) == {}
    report = r.json()
    assert [c["status"] for c in report["coverage"]] == ["ran"], report["coverage"]
    for b in built:
        check_keys(report, b.keys, flags, b.vector.name)


def test_hostile_environment_does_not_reach_git(tmp_path: Path, run_cli) -> None:
    """Variables the scanner inherits (GIT_*, SSH_*, pagers, a global config) are not passed to git."""
    traps, markers = tmp_path / "traps", tmp_path / "markers"
    keys = build_repo(tmp_path / "repo", 1)
    other = tmp_path / "other"
    build_repo(other, 2)
    t = {name: make_trap(traps, markers, name) for name in
         ("GIT_EXTERNAL_DIFF", "GIT_PAGER", "PAGER", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS", "SSH_ASKPASS",
          "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME", "HOME")}
    hostile_config = "[log]\n\tshowSignature = true\n[gpg]\n\tprogram = {}\n[core]\n\tfsmonitor = {}\n"
    write(tmp_path / "global.gitconfig", hostile_config.format(t["GIT_CONFIG_GLOBAL"], t["GIT_CONFIG_GLOBAL"]))
    write(tmp_path / "xdg" / "git" / "config", hostile_config.format(t["XDG_CONFIG_HOME"], t["XDG_CONFIG_HOME"]))
    env = {k: t[k] for k in ("GIT_EXTERNAL_DIFF", "GIT_PAGER", "PAGER", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS",
                             "SSH_ASKPASS")}
    env.update(GIT_DIR=str(other / ".git"), GIT_WORK_TREE=str(other), GIT_INDEX_FILE=str(other / ".git" / "index"),
               GIT_CONFIG_PARAMETERS=f"'core.fsmonitor'='{t['GIT_CONFIG_PARAMETERS']}'",
               GIT_CONFIG_COUNT="2", GIT_CONFIG_KEY_0="log.showSignature", GIT_CONFIG_VALUE_0="true",
               GIT_CONFIG_KEY_1="gpg.program", GIT_CONFIG_VALUE_1=t["GIT_CONFIG_COUNT"],
               GIT_CONFIG_GLOBAL=str(tmp_path / "global.gitconfig"), XDG_CONFIG_HOME=str(tmp_path / "xdg"),
               GIT_TRACE=str(tmp_path / "trace"), GIT_TRACE2_EVENT=str(tmp_path / "trace2"),
               GIT_NO_REPLACE_OBJECTS="", GIT_OBJECT_DIRECTORY=str(other / ".git" / "objects"))
    write(tmp_path / "home" / ".gitconfig", hostile_config.format(t["HOME"], t["HOME"]))
    r = run_cli("scan", "-d", "repo", "-p", str(tmp_path / "repo"), "--history", "--respect-gitignore",
                "-f", "json", "--no-progress", "--fail-on", "none", env=env)
    assert r.code == 0, r.err
    assert markers_of(tmp_path) == {}
    assert not (tmp_path / "trace").exists() and not (tmp_path / "trace2").exists()
    check_keys(r.json(), keys, ["--history", "--respect-gitignore"], "hostile environment")


PROMISOR_ATTACKS = {
    "ssh-command": {"remote.origin.url": "ssh://attacker.invalid/r.git", "core.sshCommand": TRAP},
    "upload-pack": {"remote.origin.uploadpack": TRAP},
    "ext-protocol": {"remote.origin.url": "ext::" + TRAP, "protocol.allow": "always"},
}


def test_partial_clone_never_fetches_and_history_says_why(tmp_path: Path, run_cli) -> None:
    """A blob:none clone per hostile promisor remote: plain ``git log -p`` fetches through it, a scan never."""
    src = tmp_path / "src"
    keys = build_repo(src, 7)
    git(src, "config", "uploadpack.allowFilter", "true")
    clones = {}
    for attack, settings in PROMISOR_ATTACKS.items():
        clone = clones[attack] = tmp_path / attack
        git(tmp_path, "clone", "-q", "--filter=blob:none", f"file://{src}", str(clone))
        missing = git(clone, "rev-list", "--objects", "--all", "--missing=print").stdout
        assert re.search(r"(?m)^\?", missing), "the clone is not partial: no missing object"
        write(clone / "local_settings.py", (src / "local_settings.py").read_text())
        trap = make_trap(tmp_path / "traps", tmp_path / "markers", attack)
        for key, value in settings.items():
            git(clone, "config", key, value.format(trap=trap))
        control = tmp_path / "control" / attack
        shutil.copytree(clone, control, symlinks=True)
        git(control, "log", "-p", "--all", check=False, markers=tmp_path / "control")
        assert (tmp_path / "control" / attack).exists(), f"{attack}: plain git log -p did not fetch"

    paths = [a for c in clones.values() for a in ("-p", str(c))]
    for flags in (["--respect-gitignore"], ["--history", "--respect-gitignore"]):
        r = run_cli("scan", "-d", "repo", *paths, *flags, "-f", "json", "--no-progress", "--fail-on", "none")
        assert r.code == 0, r.err
        assert markers_of(tmp_path) == {}
        report = r.json()
        by_fp = found(report)
        current = by_fp[fingerprint(keys.current)]
        assert f"owner:{AUTHOR}" in current["identity"]
        assert fingerprint(keys.ignored) not in by_fp
        assert fingerprint(keys.history) not in by_fp  # its blob is only on the remote
        coverage = report["coverage"][0]
        gaps = {g["what"]: g["reason"] for g in coverage.get("gaps", [])}
        if "--history" in flags:
            assert coverage["status"] == "partial"
            assert sorted(gaps) == sorted(str(c) for c in clones.values())
            assert all("partial clone" in reason for reason in gaps.values()), gaps
        else:
            assert coverage["status"] == "ran" and not gaps, coverage


def test_promisor_pack_alone_is_not_a_partial_clone_and_a_missing_object_is_a_gap(tmp_path: Path, run_cli) -> None:
    """Git's definition of a partial clone is its config. A complete repository with a leftover
    ``.promisor`` pack (seen in the wild) gets its history scanned; a clone whose partial-clone config
    was removed while objects are missing gets a gap saying history is incomplete, and nothing is fetched."""
    src = tmp_path / "src"
    keys = build_repo(src, 17)
    git(src, "config", "uploadpack.allowFilter", "true")
    complete = tmp_path / "complete"
    git(tmp_path, "clone", "-q", f"file://{src}", str(complete))
    pack = next((complete / ".git" / "objects" / "pack").glob("*.pack"))
    write(pack.with_suffix(".promisor"), "")
    stripped = tmp_path / "stripped"
    git(tmp_path, "clone", "-q", "--filter=blob:none", f"file://{src}", str(stripped))
    trap = make_trap(tmp_path / "traps", tmp_path / "markers", "upload-pack")
    git(stripped, "config", "remote.origin.uploadpack", trap)
    for key in ("remote.origin.promisor", "remote.origin.partialclonefilter", "extensions.partialClone"):
        git(stripped, "config", "--unset", key, check=False)
    config_keys = git(stripped, "config", "--list", "--name-only").stdout
    assert "promisor" not in config_keys and "partialclone" not in config_keys, config_keys
    for clone in (complete, stripped):
        write(clone / "local_settings.py", (src / "local_settings.py").read_text())
    r = run_cli("scan", "-d", "repo", "-p", str(complete), "-p", str(stripped), "--history", "-f", "json",
                "--no-progress", "--fail-on", "none")
    assert r.code == 0, r.err
    assert markers_of(tmp_path) == {}
    report = r.json()
    assert fingerprint(keys.history) in found(report)  # from the complete repository
    gaps = {g["what"]: g["reason"] for g in report["coverage"][0].get("gaps", [])}
    assert list(gaps) == [str(stripped)] and "history is incomplete" in gaps[str(stripped)], gaps


def test_repository_owned_by_another_user_is_scanned(tmp_path: Path, run_cli) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")
    repo = tmp_path / "theirs"
    keys = build_repo(repo, 9)
    os.chown(repo, 54321, 54321)
    for dirpath, dirnames, filenames in os.walk(repo):
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), 54321, 54321)
    plain = git(repo, "log", "-n1", check=False)
    assert plain.returncode != 0 and "dubious ownership" in plain.stderr  # what a bare `git` does here
    r = run_cli("scan", "-d", "repo", "-p", str(repo), "--history", "--respect-gitignore", "-f", "json",
                "--no-progress", "--fail-on", "none")
    assert r.code == 0, r.err
    assert r.json()["coverage"][0]["status"] == "ran"
    check_keys(r.json(), keys, ["--history", "--respect-gitignore"], "other owner")


def test_repository_config_cannot_hide_history(tmp_path: Path, run_cli) -> None:
    """Settings that change what git prints (no diff prefix, no root diff, everything binary, replaced
    commits) come from the repository's config and refs; none of them hides a key from --history."""
    repo = tmp_path / "r"
    keys = build_repo(repo, 11)
    root = git(repo, "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    clean_tree = git(repo, "mktree", stdin="").stdout.strip()
    clean_root = git(repo, "commit-tree", clean_tree, "-m", "start", stdin="").stdout.strip()
    git(repo, "replace", root, clean_root)
    for key, value in {"diff.noprefix": "true", "log.showRoot": "false", "core.bigFileThreshold": "1"}.items():
        git(repo, "config", key, value)
    plain = git(repo, "log", "-p", "--all").stdout
    assert keys.history not in plain  # plain git no longer shows the key
    r = run_cli("scan", "-d", "repo", "-p", str(repo), "--history", "-f", "json", "--no-progress",
                "--fail-on", "none")
    assert r.code == 0, r.err
    assert fingerprint(keys.history) in found(r.json())


def test_verbose_git_log_lines_leak_nothing(tmp_path: Path, run_cli) -> None:
    """--verbose names each git command; no key, no URL password and no config value reaches stderr."""
    dir_key = make_key("groq", seed=5)
    repo = tmp_path / f"bot-{dir_key}"
    keys = build_repo(repo, 13)
    password = "hunter2-correct-horse-battery"
    git(repo, "config", "remote.origin.url", f"https://deploy:{password}@git.example.com/acme/bot.git")
    trap = make_trap(tmp_path / "traps", tmp_path / "markers", "gpg")
    git(repo, "config", "log.showSignature", "true")
    git(repo, "config", "gpg.program", trap)
    r = run_cli("scan", "-d", "repo", "-p", str(repo), "--history", "--respect-gitignore", "-v", "-f", "json",
                "--no-progress", "--fail-on", "none")
    assert r.code == 0, r.err
    for command in ("DEBUG git ls-files", "DEBUG git log -n500", "DEBUG git log -p"):
        assert command in r.err, r.err
    for secret in (dir_key, password, keys.current, keys.history, trap):
        assert secret not in r.err
    assert markers_of(tmp_path) == {}
