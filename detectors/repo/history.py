"""Keys in git history: every commit reachable from any ref, streamed from ``git log -p``.

Memory stays bounded: the diff is read line by line and only the added lines of
one file of one commit are held at a time (capped at ``max_bytes``). A key that was
added and later removed is still reported — it stays valid until it is revoked —
at the oldest commit that added it to that path, with that commit's author and date.

Kubernetes Secrets keep their values base64-encoded under ``data:``. The diff shows only
the added ``KEY: <base64>`` lines, rarely the ``kind: Secret`` above them, so for YAML and
JSON files that look like a Secret — the path names a secret, the added lines say
``kind: Secret``, or git's hunk heading is the ``data:`` block — each such value is
decoded and looked at again. Other files never pay for it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from detectors.repo.content import Hit, Lines, decoded_secret_hits, find_credentials
from detectors.repo.rules import Rules
from scanner import git

COMMIT_MARK = b"\x00commit "
SECRET_FILE_EXT = (".yaml", ".yml", ".json")
# git's hunk heading (the last unindented line above the hunk) inside a Secret's value map
_DATA_HEADING = re.compile(rb"@@ [^@]*@@ [\"']?data[\"']?\s*:")
_KIND_SECRET = re.compile(rb"(?m)^\s*[\"']?kind[\"']?\s*:\s*[\"']?Secret\b")
# one ``KEY: <base64>`` entry per line, YAML or JSON (``"KEY": "<base64>",``); 20+ characters hold a key
_B64_ENTRY = re.compile(rb"(?m)^[ \t]*[\"']?([A-Za-z0-9_.-]{1,253})[\"']?[ \t]*:"
                        rb"[ \t]*[\"']?([A-Za-z0-9+/]{20,}={0,2})[\"']?[ \t]*,?[ \t]*$")


@dataclass
class HistoryHit:
    hit: Hit
    path: str
    commit: str
    author: str
    email: str
    date: str


@dataclass
class _Commit:
    sha: str = ""
    author: str = ""
    email: str = ""
    date: str = ""


class _FileDiff:
    """Added lines of one file in one commit, with their line numbers in the new file."""

    def __init__(self, path: str):
        self.path = path
        self.chunks: list[bytes] = []
        self.line_numbers: list[int] = []
        self.size = 0
        self.may_be_secret = path.lower().endswith(SECRET_FILE_EXT)
        self.secret_hint = self.may_be_secret and "secret" in posixpath.basename(path).lower()

    def add(self, line_no: int, text: bytes) -> None:
        self.chunks.append(text)
        self.line_numbers.append(line_no)
        self.size += len(text) + 1


def scan_history(rules: Rules, root: Path, max_bytes: int, check: Callable[[], None],
                 on_commit: Callable[[int], None]) -> Iterator[HistoryHit]:
    """Yield credential hits from every added line of every commit (newest first, as git prints them).

    A partial clone is refused (:class:`scanner.git.PartialClone`): the objects it lacks would
    have to be fetched from its remote, and history without them would be silently incomplete.
    """
    if git.is_partial_clone(root):
        raise git.PartialClone("partial clone, history not scanned: the objects it lacks are only on its remote "
                               "and are never fetched (scan a full clone)")
    args = ["log", "-p", "--all", "--no-color", "--no-ext-diff", "--no-textconv", "--no-show-signature",
            "--no-renames", "-U0", "--full-history", "--format=%x00commit %H%x00%an%x00%ae%x00%cI"]
    commit = _Commit()
    current: _FileDiff | None = None
    new_line = 0
    commits = 0
    with git.stream(root, args) as proc:
        for raw in proc.stdout:
            if raw.startswith(COMMIT_MARK):
                yield from _flush(rules, current, commit)
                current = None
                parts = raw.rstrip(b"\n").split(b"\x00")
                commit = _Commit(*(p.decode("utf-8", "replace") for p in parts[1:5]))
                commit.sha = commit.sha.removeprefix("commit ")
                commits += 1
                if commits % 100 == 0:
                    check()
                    on_commit(commits)
                continue
            if raw.startswith(b"diff --git "):
                yield from _flush(rules, current, commit)
                current = None
                continue
            if raw.startswith(b"+++ "):
                target = raw[4:].rstrip(b"\n")
                path = target[2:] if target.startswith(b"b/") else None
                current = _FileDiff(path.decode("utf-8", "replace")) if path else None
                continue
            if raw.startswith(b"@@ "):
                new_line = _hunk_start(raw)
                if current is not None and current.may_be_secret and _DATA_HEADING.match(raw):
                    current.secret_hint = True
                continue
            if current is not None and raw.startswith(b"+"):
                current.add(new_line, raw[1:].rstrip(b"\n"))
                new_line += 1
                if current.size > max_bytes:
                    yield from _flush(rules, current, commit)
                    hint = current.secret_hint
                    current = _FileDiff(current.path)
                    current.secret_hint = hint
        yield from _flush(rules, current, commit)
    on_commit(commits)
    if proc.returncode != 0:  # e.g. a missing object: what was read is kept, the gap is reported
        raise git.GitError(f"git log stopped with status {proc.returncode} after {commits} commits, "
                           "history is incomplete")


def _hunk_start(raw: bytes) -> int:
    """``@@ -a,b +c,d @@`` → c."""
    try:
        plus = raw.split(b" +", 1)[1].split(b" ", 1)[0]
        return int(plus.split(b",", 1)[0])
    except (IndexError, ValueError):
        return 0


def _flush(rules: Rules, diff: _FileDiff | None, commit: _Commit) -> Iterator[HistoryHit]:
    if diff is None or not diff.chunks:
        return
    data = b"\n".join(diff.chunks)
    lines = Lines(data)
    hits = find_credentials(rules, data, lines)
    if diff.may_be_secret and (diff.secret_hint or _KIND_SECRET.search(data)):
        hits = [*hits, *secret_data_hits(rules, data, lines)]
    for hit in hits:
        idx = hit.line - 1
        hit.line = diff.line_numbers[idx] if 0 <= idx < len(diff.line_numbers) else 0
        yield HistoryHit(hit, diff.path, commit.sha, commit.author, commit.email, commit.date)


def secret_data_hits(rules: Rules, data: bytes, lines: Lines) -> Iterator[Hit]:
    """Keys inside the base64 values of added ``KEY: <base64>`` lines (line numbers of ``data``)."""
    for m in _B64_ENTRY.finditer(data):
        key = m.group(1).decode("ascii")
        yield from decoded_secret_hits(rules, key, m.group(2).decode("ascii"), lines.of(m.start()))
