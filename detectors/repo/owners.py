"""Owner guess for a file: its CODEOWNERS owner, else its agent directory's most frequent recent author,
else the repository's owner.

CODEOWNERS is read as GitHub reads it: the first file found of ``.github/``, the root and
``docs/``; per file, the last matching rule wins, and a matching rule without owners
leaves the file unowned (then the author guess stands in). Patterns are gitignore's
minus what GitHub documents as unsupported — ``!`` negation, ``[ ]`` ranges and ``\\#``
escapes; GitHub skips such lines and so do we. A pattern without a slash, or with only a
trailing one, matches at any depth; ``dir/`` owns everything below it; ``dir/*`` only the
files directly in ``dir``; ``**`` spans directories.

Each rule's regex is compiled once; a file is tested only against the rules that can
match it (see :class:`CodeOwners`), and answers are cached per file. Git is asked once per
repository for the recent authors (the last ``RECENT_COMMITS`` commits with their file
names), not once per agent, so the cost does not grow with the number of agents.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from detectors.repo.walk import Repo
from scanner import git

RECENT_COMMITS = 500
CODEOWNERS_PLACES = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")  # GitHub order
CODEOWNERS_MAX_BYTES = 3 * 1024 * 1024  # GitHub does not load a larger file
GIT_TIMEOUT = 60
MAX_CACHED = 100_000
_TOKEN = re.compile(r"(?:\\.|\S)+")  # a backslash keeps the next character, spaces included
_OWNER = re.compile(r"@[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)?|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class CodeOwners:
    """Parsed CODEOWNERS rules: ``owners_of(path)`` gives the owners of the last rule matching ``path``.

    A file is tested only against the rules that can match in its directory — rules
    anchored under a literal directory prefix the file's path starts with, plus rules that
    float (match at any depth) and contain a literal the path contains — newest rule first.
    The candidate list is built once per directory.
    """

    def __init__(self, rules: list[tuple[str, tuple[str, ...]]]):
        self.rules = rules  # (pattern, owners) in file order
        self._regexes = [re.compile(pattern_regex(pattern)) for pattern, _ in rules]
        self._floating: list[tuple[int, str]] = []  # (rule index, a literal every match contains)
        self._anchored: dict[tuple[str, ...], list[int]] = {}  # leading literal directory names -> rules
        for i, (pattern, _) in enumerate(rules):
            prefix = _literal_prefix(pattern)
            if prefix is None:
                self._floating.append((i, _required_literal(pattern)))
            else:
                self._anchored.setdefault(prefix, []).append(i)
        self._by_dir: dict[str, list[int]] = {}

    @classmethod
    def parse(cls, text: str) -> "CodeOwners":
        rules = []
        for line in text.splitlines():
            rule = _parse_line(line)
            if rule is not None:
                rules.append(rule)
        return cls(rules)

    def owners_of(self, path: str) -> tuple[str, ...] | None:
        """Owners of a repository-relative file path: None if no rule matches, () if the winning rule has none."""
        candidates = self._anchored_in(path.rpartition("/")[0])
        exact = self._anchored.get(tuple(path.split("/")))  # /README.md: the prefix is the whole path
        floating = [i for i, literal in self._floating if literal in path]
        if exact or floating:
            candidates = sorted([*candidates, *(exact or ()), *floating], reverse=True)
        for i in candidates:
            if self._regexes[i].fullmatch(path):
                return self.rules[i][1]
        return None

    def _anchored_in(self, directory: str) -> list[int]:
        """Anchored rules whose literal prefix the directory starts with, last rule first."""
        found = self._by_dir.get(directory)
        if found is None:
            parts = directory.split("/") if directory else []
            found = sorted((i for n in range(len(parts) + 1) for i in self._anchored.get(tuple(parts[:n]), ())),
                           reverse=True)
            if len(self._by_dir) >= MAX_CACHED:
                self._by_dir.clear()
            self._by_dir[directory] = found
        return found


def _parse_line(line: str) -> tuple[str, tuple[str, ...]] | None:
    """(pattern, owners) of one CODEOWNERS line; None for blanks, comments, sections and lines GitHub rejects."""
    line = line.strip()
    if not line or line.startswith(("#", "\\#", "[", "^[")):  # comment, unsupported escape, GitLab section
        return None
    pattern, *owners = _TOKEN.findall(line.split(" #", 1)[0].split("\t#", 1)[0])
    if pattern.startswith("!") or "[" in pattern or "]" in pattern or "***" in pattern:
        return None
    if not all(_OWNER.fullmatch(o) for o in owners):
        return None
    return pattern, tuple(o.lstrip("@") for o in owners)


def _segments(pattern: str) -> list[str]:
    """Pattern path segments, with the implied ``**`` made explicit."""
    segments = pattern.split("/")
    if segments[0] == "":
        segments = segments[1:]  # leading slash: relative to the root
    elif len(segments) == 1 or (len(segments) == 2 and segments[1] == ""):
        if segments[0] != "**":
            segments = ["**", *segments]  # a bare name matches at any depth
    if len(segments) > 1 and segments[-1] == "":
        segments[-1] = "**"  # trailing slash: everything inside the directory
    return segments


def _literal_prefix(pattern: str) -> tuple[str, ...] | None:
    """Leading literal names every matching path starts with; None for a pattern that floats to any depth."""
    segments = _segments(pattern)
    if segments[0] == "**":
        return None
    prefix = []
    for seg in segments:
        if seg == "**" or any(c in seg for c in "*?\\"):
            break
        prefix.append(seg)
    return tuple(prefix)


def _required_literal(pattern: str) -> str:
    """The longest run of plain characters every matching path contains ("" when escapes make it unclear)."""
    if "\\" in pattern:
        return ""
    return max((piece.strip("/") for piece in re.split(r"[*?]", pattern)), key=len)


def pattern_regex(pattern: str) -> str:
    """A CODEOWNERS pattern as a regex over a file's repository-relative path."""
    segments = _segments(pattern)
    out: list[str] = []
    need_slash = False
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if seg == "**":
            if i == 0:
                out.append(".+" if i == last else "(?:.+/)?")
                need_slash = False
            elif i == last:
                out.append("/.*")
            else:
                out.append("(?:/.+)?")
                need_slash = True
            continue
        if need_slash:
            out.append("/")
        if seg == "*":
            out.append("[^/]+")  # exactly one path segment: dir/* does not reach into subdirectories
        else:
            out.append(_glob(seg))
            if i == last:
                out.append("(?:/.*)?")  # a name also matches everything inside a directory of that name
        need_slash = True
    return "".join(out)


def _glob(segment: str) -> str:
    out, escaped = [], False
    for ch in segment:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


class Owners:
    def __init__(self, repo: Repo):
        self.repo = repo
        self._codeowners: CodeOwners | None = None
        self._authors: dict[str, Counter[str]] | None = None
        self._by_dir: dict[str, str | None] = {}
        self._by_file: dict[str, str | None] = {}

    def for_file(self, rel: str, agent_dir: str) -> str | None:
        """Owner of the file ``rel`` (repository-relative): its CODEOWNERS owner, else the agent directory's guess."""
        return self.codeowner(rel) or self.guess(agent_dir)

    def guess(self, agent_dir: str) -> str | None:
        """Most frequent recent author of the agent directory, else the repository's owner."""
        if agent_dir not in self._by_dir:
            self._by_dir[agent_dir] = self._top_author(agent_dir) or self._repo_owner()
        return self._by_dir[agent_dir]

    def codeowner(self, rel: str) -> str | None:
        """First owner of the last CODEOWNERS rule that matches ``rel`` (cached: a file has many findings)."""
        if rel not in self._by_file:
            owners = self._load_codeowners().owners_of(rel)
            if len(self._by_file) >= MAX_CACHED:
                self._by_file.clear()
            self._by_file[rel] = owners[0] if owners else None
        return self._by_file[rel]

    def _load_codeowners(self) -> CodeOwners:
        if self._codeowners is None:
            self._codeowners = CodeOwners([])
            for place in CODEOWNERS_PLACES:
                path = self.repo.root / place
                try:
                    if path.stat().st_size > CODEOWNERS_MAX_BYTES:
                        break
                    self._codeowners = CodeOwners.parse(path.read_text("utf-8", "replace"))
                    break
                except OSError:
                    continue
        return self._codeowners

    def _top_author(self, agent_dir: str) -> str | None:
        if not self.repo.is_git:
            return None
        if self._authors is None:
            self._authors = recent_authors(self.repo.root)
        d = agent_dir
        while True:
            counts = self._authors.get(d)
            if counts:
                return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            if d == ".":
                return None
            d = d.rsplit("/", 1)[0] if "/" in d else "."

    def _repo_owner(self) -> str | None:
        if "/" in self.repo.id and not self.repo.id.startswith("/"):
            parts = self.repo.id.split("/")
            return parts[1] if len(parts) >= 3 else None
        try:
            return self.repo.root.owner()
        except (OSError, KeyError, NotImplementedError):
            return None


def recent_authors(root: Path) -> dict[str, Counter[str]]:
    """Directory → author e-mail counts over the last commits (a file counts for all its directories)."""
    out: dict[str, Counter[str]] = {}
    author = None
    try:
        with git.stream(root, ["log", f"-n{RECENT_COMMITS}", "--no-renames", "--no-show-signature",
                               "--name-only", "--format=%x00%ae"], GIT_TIMEOUT) as proc:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith("\x00"):
                    author = line[1:].strip() or None
                    continue
                if not line or author is None:
                    continue
                d = line.rsplit("/", 1)[0] if "/" in line else "."
                while True:
                    out.setdefault(d, Counter())[author] += 1
                    if d == ".":
                        break
                    d = d.rsplit("/", 1)[0] if "/" in d else "."
    except git.GitError:
        pass
    return out
