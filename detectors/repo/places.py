"""Where in a source tree a piece of evidence sits: code, example, config, CI, test, docs or comment.

Call-capable evidence in tests, docs and comments only describes an agent (see
``scanner.model.FINDING_KINDS``); examples still form one but weigh less. The path says
test/docs/example by its folders and file name; a hit on a comment line, in a Python
docstring or other multi-line string, or in a notebook's Markdown cell is a comment.
"""

from __future__ import annotations

import posixpath
import re
from bisect import bisect_right

TEST_DIRS = frozenset({"test", "tests", "__tests__", "testing", "spec", "specs", "e2e", "__mocks__", "fixtures",
                       "testdata", "test-data", "test_data", "cypress", "playwright"})
DOCS_DIRS = frozenset({"docs", "doc", "documentation", "docs_src", "website"})
EXAMPLE_DIRS = frozenset({"examples", "example", "samples", "sample", "demo", "demos", "cookbook", "cookbooks",
                          "tutorials", "tutorial"})
_TEST_FILE = re.compile(r"(?:test_.*\.py|.*_test\.(?:py|go|rs|rb|exs)|conftest\.py|.*\.(?:test|spec)\.[cm]?[jt]sx?"
                        r"|.*_spec\.rb|.*Tests?\.(?:java|kt|cs|swift))\Z")
DOC_EXT = frozenset({".md", ".mdx", ".rst", ".adoc", ".txt", ".html", ".htm"})
_DOC_KEEP = re.compile(r"(?:requirements.*|constraints)\.txt\Z")  # .txt files that are manifests, not prose


CI_FILES = (".gitlab-ci.yml", "azure-pipelines.yml", "bitbucket-pipelines.yml", "Jenkinsfile")


def is_ci(rel: str) -> bool:
    """GitHub Actions workflows, CircleCI config and the usual single-file CI definitions."""
    github = (rel.startswith(".github/workflows/") or "/.github/workflows/" in rel) and rel.endswith((".yml", ".yaml"))
    return github or rel.startswith(".circleci/") or posixpath.basename(rel) in CI_FILES


def path_place(rel: str, code: bool, ci: bool) -> str:
    """The place of a whole file: test, docs, example, ci, code or config (in that order of precedence)."""
    if ci:
        return "ci"
    parts = rel.lower().split("/")
    dirs, name = set(parts[:-1]), rel.rsplit("/", 1)[-1]
    if dirs & TEST_DIRS or _TEST_FILE.match(name):
        return "test"
    ext = posixpath.splitext(name)[1].lower()
    if dirs & DOCS_DIRS or (ext in DOC_EXT and not _DOC_KEEP.match(name)):
        return "docs"
    if dirs & EXAMPLE_DIRS:
        return "example"
    return "code" if code else "config"


def in_tests_or_docs(rel_dir: str) -> bool:
    """Is this folder inside a tests or docs tree (never a program of its own)?"""
    return any(d.lower() in TEST_DIRS or d.lower() in DOCS_DIRS for d in rel_dir.split("/") if d not in ("", "."))


HASH_COMMENTS = frozenset({".py", ".pyi", ".sh", ".bash", ".zsh", ".rb", ".yaml", ".yml", ".toml", ".ps1", ".conf",
                           ".cfg", ".ini", ".r", ".pl", ".tf", ".hcl", ".env", ".properties", ""})
SLASH_COMMENTS = frozenset({".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx", ".vue", ".svelte", ".go",
                            ".rs", ".java", ".kt", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".swift", ".scala",
                            ".php", ".tf", ".hcl", ".dart", ".groovy"})
_HASH_LINE = re.compile(rb"[ \t]*#")
_SLASH_LINE = re.compile(rb"[ \t]*(?://|/\*|\*(?!\*?/?[\w$]))")  # //, /*, and the * lines of a /** … */ block
_NOTEBOOK_LINE = re.compile(rb"[ \t]*\"[ \t]*#")  # a code cell's source line, JSON-quoted, that is a comment
_TRIPLE = re.compile(rb"\"\"\"|'''")
_CELL_TYPE = re.compile(rb"\"cell_type\"\s*:\s*\"(\w+)\"")


class Comments:
    """Which offsets of one file sit in comment (or string, or Markdown) text rather than code."""

    def __init__(self, data: bytes, ext: str, line_start):  # type: ignore[no-untyped-def]
        self.data = data
        self.ext = ext
        self.line_start = line_start  # offset -> start of its line (Lines.start)
        self._starts: list[int] | None = None  # sorted, disjoint [start, end) byte spans of non-code text
        self._ends: list[int] = []
        self.line_rx = (_NOTEBOOK_LINE if ext == ".ipynb" else _HASH_LINE if ext in HASH_COMMENTS
                        else _SLASH_LINE if ext in SLASH_COMMENTS else None)

    def at(self, pos: int) -> bool:
        """Is the text at ``pos`` on a comment line, in a docstring or multi-line string, or in Markdown?"""
        if self.line_rx is not None and self.line_rx.match(self.data, self.line_start(pos)):
            return True
        if self._starts is None:
            spans = list(self._triple_quoted() if self.ext in (".py", ".pyi") else
                         self._markdown_cells() if self.ext == ".ipynb" else ())
            self._starts, self._ends = [a for a, _ in spans], [b for _, b in spans]
        i = bisect_right(self._starts, pos) - 1
        return i >= 0 and pos < self._ends[i]

    def _triple_quoted(self):  # type: ignore[no-untyped-def]
        """Multi-line triple-quoted strings (docstrings, prompt texts): not code. A one-line string is
        text only when it stands alone on its line (a docstring)."""
        pos, data = 0, self.data
        while True:
            m = _TRIPLE.search(data, pos)
            if not m:
                return
            end = data.find(m.group(0), m.end())
            if end < 0:
                return
            start = self.line_start(m.start())
            if b"\n" in data[m.end():end] or not data[start:m.start()].strip():
                yield m.start(), end + 3
            pos = end + 3

    def _markdown_cells(self):  # type: ignore[no-untyped-def]
        """A notebook's non-code cells (nbformat writes ``cell_type`` before ``source``)."""
        marks = [(m.start(), m.group(1)) for m in _CELL_TYPE.finditer(self.data)]
        for i, (start, kind) in enumerate(marks):
            if kind != b"code":
                yield start, marks[i + 1][0] if i + 1 < len(marks) else len(self.data)
