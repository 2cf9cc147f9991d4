"""A repository's layout: which program each file belongs to, and which imports are its own packages.

Programs (what an agent is in a source tree):

* A folder is a program of its own when it holds a project manifest (pyproject.toml,
  setup.py, setup.cfg, package.json, go.mod, Cargo.toml, Pipfile), or requirements*.txt or
  a Dockerfile that builds it, with code of its own in it or below it. A file belongs to the
  nearest such folder above it; the repository root when there is none.
* Never a program of its own: a folder inside a tests or docs tree, a folder with only
  requirements files or only a Dockerfile (``requirements/``, ``docker/``: they serve the
  program around them), and a folder that a Dockerfile above it copies into its image
  (``COPY computer_use_demo/ …``: one image, one program).
* Several Dockerfiles in one folder, each running its own entry file (``bot.Dockerfile``
  runs ``bot.py``, ``api.Dockerfile`` runs ``uvicorn api:app``), are several programs: each
  entry file is one, and a module those entry files import (``chains.py``) belongs to every
  program that imports it, not to the folder.
* A CI workflow that runs an agent tool is a program of its own: it runs in CI, not inside
  the code around it (a workflow that only hands a key to the tests belongs to the program
  it tests).

The repository's own packages: ``import agents`` in a repository that has an ``agents/``
package (or ``agents.py``) next to the importing file or above it is that package, not the
OpenAI Agents SDK.

Only directory listings and small files (Dockerfiles, the entry files' imports) are read,
never a symbolic link, and every answer is cached.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from typing import Iterator

from detectors.repo.filetypes.base import IMPORTS_NOTE, Hit
from detectors.repo.places import in_tests_or_docs, is_ci, path_place

STRONG_MANIFESTS = frozenset({"pyproject.toml", "setup.py", "setup.cfg", "package.json", "go.mod", "Cargo.toml",
                              "Pipfile"})
CODE_SUFFIXES = frozenset({".py", ".ipynb", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx", ".go",
                           ".rs", ".java", ".kt", ".rb", ".php", ".cs", ".swift", ".scala", ".sh"})
MAX_SMALL_FILE = 1 << 20  # Dockerfiles and entry files read for their entries and imports
MAX_MODULES = 200  # local modules followed from one entry file
MAX_CACHE = 100_000
MAX_CODE_SEARCH = 2000  # directory entries looked at below a folder for code of its own


def is_dockerfile(name: str) -> bool:
    low = name.lower()
    return low == "dockerfile" or low.endswith(".dockerfile") or low.startswith("dockerfile.")


def _requirements(name: str) -> bool:
    return name.startswith("requirements") and name.endswith((".txt", ".in"))


_INSTRUCTION = re.compile(r"^\s*(COPY|ADD|CMD|ENTRYPOINT)\s+(.*)$", re.I)
_PY_IMPORT = re.compile(rb"(?m)^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([\w.]+))")
_JS_RELATIVE = re.compile(rb"(?:from|require\(|import\()\s*[\"'](\.{1,2}/[^\"'\n]{1,200})[\"']")
_UVICORN_APP = re.compile(r"^([A-Za-z_][\w.]*):[A-Za-z_]\w*$")


class Layout:
    """Program boundaries and own packages of the repository rooted at ``root``."""

    def __init__(self, root: Path):
        self.root = root
        self._listing: dict[str, list[tuple[str, bool]] | None] = {}
        self._boundary: dict[str, bool] = {}
        self._program: dict[str, str] = {}
        self._split: dict[str, dict[str, list[str]]] = {}
        self._copied: dict[str, set[str]] = {}
        self._local: dict[tuple[str, str], str | None] = {}  # (folder, module) -> found there
        self._kinds: dict[str, dict[str, bool]] = {}  # folder -> its listing as a dict
        self._own: dict[tuple[str, str], str | None] = {}  # (importing folder, module) -> where it is

    # ---- programs --------------------------------------------------------------------------

    def programs_of(self, rel: str, runs_tool: bool = False) -> list[str]:
        """The programs a file belongs to (usually one), as paths inside the repository.

        ``runs_tool``: the file is a CI workflow that runs an agent tool (a program of its own).
        """
        if runs_tool and is_ci(rel):
            return [rel]
        rel_dir = rel.rsplit("/", 1)[0] if "/" in rel else "."
        program = self.program_dir(rel_dir)
        split = self._entry_programs(program)
        return split.get(rel, [program]) if split else [program]

    def program_dir(self, rel_dir: str) -> str:
        """The nearest folder at or above ``rel_dir`` that is a program of its own, else ``"."``."""
        d = rel_dir or "."
        chain = []
        while d not in self._program:
            if d == "." or self._is_boundary(d):
                self._program[d] = d
                break
            chain.append(d)
            d = d.rsplit("/", 1)[0] if "/" in d else "."
        found = self._program[d]
        if len(self._program) < MAX_CACHE:
            for c in chain:
                self._program[c] = found
        return found

    def _is_boundary(self, d: str) -> bool:
        if d not in self._boundary:
            self._boundary[d] = self._decide_boundary(d)
        return self._boundary[d]

    def _decide_boundary(self, d: str) -> bool:
        if in_tests_or_docs(d):
            return False
        entries = self._list(d)
        if not entries:
            return False
        names = {n for n, is_dir in entries if not is_dir}
        if any(self._is_manifest(d, n) for n in names & STRONG_MANIFESTS):
            return not self._copied_from_above(d)
        weak = any(_requirements(n) for n in names) or any(self._builds_folder(d, n, names) for n in names
                                                           if is_dockerfile(n))
        return weak and self._has_code(d) and not self._copied_from_above(d)

    def _is_manifest(self, d: str, name: str) -> bool:
        """A project manifest; a ``setup.py`` only when it calls setuptools' ``setup`` (a module of that
        name inside a package is code, not a manifest)."""
        if name != "setup.py":
            return True
        data = self._read(d, name)
        return b"setup(" in data and (b"setuptools" in data or b"distutils" in data)

    def _builds_folder(self, d: str, dockerfile: str, names: set[str]) -> bool:
        """A plain ``Dockerfile`` builds its folder; another (``Dockerfile.jekyll``) only when it copies
        or runs a code file of the folder."""
        if dockerfile.lower() == "dockerfile":
            return True
        code = {n for n in names if os.path.splitext(n)[1] in CODE_SUFFIXES}
        for _, args in _instructions(self._read(d, dockerfile)):
            if any(t.removeprefix("./") in code for t in _tokens(args)):
                return True
        return False

    def _has_code(self, d: str) -> bool:
        """Is there a code file in ``d`` or below it (a look at the first entries only)?"""
        todo, seen = [d], 0
        while todo and seen < MAX_CODE_SEARCH:
            current = todo.pop()
            for name, is_dir in self._list(current) or []:
                seen += 1
                if is_dir:
                    if not name.startswith(".") and name not in ("node_modules", "__pycache__"):
                        todo.append(_join(current, name))
                elif os.path.splitext(name)[1] in CODE_SUFFIXES:
                    return True
        return False

    def _copied_from_above(self, d: str) -> bool:
        """Does a Dockerfile in a folder above ``d`` copy ``d`` itself into its image?"""
        parts = d.split("/")
        for i in range(len(parts) - 1, -1, -1):
            above = "/".join(parts[:i]) or "."
            inner = "/".join(parts[i:])
            if inner in self._copied_dirs(above):
                return True
        return False

    def _copied_dirs(self, d: str) -> set[str]:
        """Sub-folders (relative to ``d``) that ``d``'s Dockerfiles COPY or ADD as a whole."""
        if d not in self._copied:
            out: set[str] = set()
            for name, is_dir in self._list(d) or []:
                if is_dir or not is_dockerfile(name):
                    continue
                for op, args in _instructions(self._read(d, name)):
                    if op in ("COPY", "ADD"):
                        for src in _sources(args):
                            src = src.removeprefix("./").rstrip("/")
                            if src and src not in (".", "*") and "*" not in src and self._is_dir(d, src):
                                out.add(src)
            self._copied[d] = out
        return self._copied[d]

    def _entry_programs(self, d: str) -> dict[str, list[str]]:
        """For a folder whose Dockerfiles run different entry files: file → the programs it belongs to."""
        if d in self._split:
            return self._split[d]
        entries: dict[str, str] = {}  # entry file (rel) -> its Dockerfile (rel)
        listing = self._list(d) or []
        files = {n for n, is_dir in listing if not is_dir}
        for name in sorted(n for n in files if is_dockerfile(n)):
            entry = self._entry_file(d, name, files)
            if entry is not None and entry not in entries:
                entries[entry] = name
        split: dict[str, list[str]] = {}
        if len(entries) >= 2:
            for entry, dockerfile in sorted(entries.items()):
                program = _join(d, entry)
                for rel in [_join(d, dockerfile), *self._local_closure(d, entry)]:
                    split.setdefault(rel, [])
                    if program not in split[rel]:
                        split[rel].append(program)
        self._split[d] = split
        return split

    def _entry_file(self, d: str, dockerfile: str, files: set[str]) -> str | None:
        """The code file a Dockerfile runs: named in CMD/ENTRYPOINT (``bot.py``, ``uvicorn api:app``)."""
        for op, args in _instructions(self._read(d, dockerfile)):
            if op not in ("CMD", "ENTRYPOINT"):
                continue
            for token in _tokens(args):
                token = token.removeprefix("./")
                if token in files and os.path.splitext(token)[1] in CODE_SUFFIXES:
                    return token
                app = _UVICORN_APP.match(token)
                if app and app.group(1).replace(".", "/") + ".py" in files:
                    return app.group(1).replace(".", "/") + ".py"
        return None

    def _local_closure(self, d: str, entry: str) -> list[str]:
        """``entry`` and the modules of folder ``d`` it imports, directly or not (paths inside the repository)."""
        seen: list[str] = []
        todo = [entry]
        while todo and len(seen) < MAX_MODULES:
            name = todo.pop()
            if name in seen:
                continue
            seen.append(name)
            data = self._read(d, name)
            if name.endswith(".py"):
                for m in _PY_IMPORT.finditer(data):
                    mod = (m.group(1) or m.group(2)).decode("ascii", "replace")
                    for cand in (mod.replace(".", "/") + ".py", mod.split(".")[0] + ".py"):
                        if cand not in seen and self._is_file(d, cand):
                            todo.append(cand)
                            break
            else:
                for m in _JS_RELATIVE.finditer(data):
                    base = os.path.normpath(os.path.join(os.path.dirname(name), m.group(1).decode("utf-8", "replace")))
                    for ext in ("", ".js", ".ts", ".mjs", ".tsx", ".jsx"):
                        if not base.startswith("..") and self._is_file(d, base + ext):
                            todo.append(base + ext)
                            break
        return [_join(d, n) for n in seen]

    # ---- the repository's own packages ---------------------------------------------------------

    def is_own_module(self, rel_dir: str, module: str) -> bool:
        """Is the top-level Python module ``module``, imported from a file in ``rel_dir``, this
        repository's own (a package or module of that name next to the file or in a folder above it,
        or in a ``src/`` there)?"""
        return self.own_module_path(rel_dir, module) is not None

    def own_module_path(self, rel_dir: str, module: str) -> str | None:
        """Where this repository's own ``module`` (its top level) is: ``pkg`` (a folder) or ``mod.py``.

        Looked for in the importing folder (and its ``src``), then in each folder above; what each
        folder on the way answers is kept, so the folders of one tree share their ancestors' answers.
        """
        top = module.split(".", 1)[0]
        d = rel_dir or "."
        chain: list[str] = []  # folders whose answer is not known yet, nearest first
        found: str | None = None
        while True:
            key = (d, top)
            if key in self._own:
                found = self._own[key]
                break
            chain.append(d)
            found = self._module_in(d, top)
            if found is None:
                found = self._module_in(_join(d, "src"), top)
            if found is not None or d == ".":
                break
            d = d.rsplit("/", 1)[0] if "/" in d else "."
        if len(self._own) + len(chain) >= MAX_CACHE:
            self._own.clear()
        for c in chain:
            self._own[(c, top)] = found
        return found

    def _module_in(self, d: str, top: str) -> str | None:
        """``d/top`` (a folder with Python files) or ``d/top.py``, from the (cached) listing of ``d``."""
        key = (d, top)
        if key not in self._local:
            entries = self._entry_kinds(d)
            found = None
            if entries.get(top + ".py") is False:
                found = _join(d, top + ".py")
            elif entries.get(top) is True and any(n.endswith(".py") and not is_dir
                                                  for n, is_dir in self._list(_join(d, top)) or []):
                found = _join(d, top)
            if len(self._local) >= MAX_CACHE:
                self._local.clear()
            self._local[key] = found
        return self._local[key]

    # ---- the file system, read carefully -----------------------------------------------------

    def _path(self, d: str, name: str = "") -> str:
        rel = _join(d, name) if name else d
        return str(self.root) if rel == "." else os.path.join(str(self.root), *rel.split("/"))

    def _entry_kinds(self, d: str) -> dict[str, bool]:
        """``d``'s listing as name -> is a directory (asked once per imported module: kept)."""
        kinds = self._kinds.get(d)
        if kinds is None:
            if len(self._kinds) >= MAX_CACHE:
                self._kinds.clear()
            kinds = self._kinds[d] = dict(self._list(d) or [])
        return kinds

    def _list(self, d: str) -> list[tuple[str, bool]] | None:
        """(name, is a real directory) of ``d``'s entries; None when unreadable. Links are neither."""
        if d not in self._listing:
            try:
                with os.scandir(self._path(d)) as it:
                    listing = [(e.name, e.is_dir(follow_symlinks=False)) for e in it
                               if not e.is_symlink()]
            except OSError:
                listing = None
            if len(self._listing) >= MAX_CACHE:
                self._listing.clear()
            self._listing[d] = listing
        return self._listing[d]

    def _lstat_mode(self, d: str, name: str) -> int:
        try:
            return os.lstat(self._path(d, name)).st_mode
        except (OSError, ValueError):
            return 0

    def _is_file(self, d: str, name: str) -> bool:
        return stat.S_ISREG(self._lstat_mode(d, name))

    def _is_dir(self, d: str, name: str) -> bool:
        return stat.S_ISDIR(self._lstat_mode(d, name))

    def _read(self, d: str, name: str) -> bytes:
        """A small regular file's bytes (empty when it is anything else)."""
        path = self._path(d, name)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return b""
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SMALL_FILE:
                return b""
            with os.fdopen(fd, "rb") as fh:
                fd = -1
                return fh.read(MAX_SMALL_FILE)
        except OSError:
            return b""
        finally:
            if fd >= 0:
                os.close(fd)


def _join(d: str, name: str) -> str:
    return name if d in ("", ".") else f"{d}/{name}"


def _instructions(data: bytes):  # type: ignore[no-untyped-def]
    """(instruction, arguments) of a Dockerfile's COPY/ADD/CMD/ENTRYPOINT lines (continuations joined)."""
    text = re.sub(r"\\\r?\n", " ", data.decode("utf-8", "replace"))
    for line in text.splitlines():
        m = _INSTRUCTION.match(line)
        if m:
            yield m.group(1).upper(), m.group(2).strip()


def _tokens(args: str) -> list[str]:
    """Exec form (``["a", "b"]``) or shell form, split into words."""
    if args.startswith("["):
        try:
            value = json.loads(args)
            return [str(v) for v in value] if isinstance(value, list) else []
        except ValueError:
            pass
    return args.replace('"', " ").replace("'", " ").split()


def _sources(args: str) -> list[str]:
    """The sources of a COPY/ADD: every word but the flags and the last (the destination)."""
    words = [w for w in _tokens(args) if not w.startswith("--")]
    if any(w.startswith("--from") for w in _tokens(args)):
        return []  # from another build stage, not from this folder
    return words[:-1]


def without_own_imports(layout: Layout, rel_dir: str, hits: list[Hit]) -> tuple[list[Hit], dict[str, int]]:
    """(``hits`` minus Python imports of this repository's own packages — a local ``agents/`` is not an
    SDK — and minus the file's note of its imports, the modules that note names)."""
    modules: dict[str, int] = {}
    kept = []
    for h in hits:
        if h.kind == IMPORTS_NOTE:
            modules.update(h.details.get("modules") or {})
        elif not (h.details.get("language") == "python" and isinstance(h.details.get("import"), str)
                  and h.kind in _IMPORT_KINDS and layout.is_own_module(rel_dir, h.details["import"])):
            kept.append(h)
    return kept, modules


_IMPORT_KINDS = frozenset({"sdk-usage", "sdk-import", "framework", "framework-import", "mcp-server"})
MAX_NOTES = 200_000


class LocalUses:
    """Code that reaches LLMs through this repository's own packages (``from chains import load_llm``,
    ``from gpt_researcher import GPTResearcher``): one ``local-llm-use`` hit per program and package,
    in a program that shows no call of its own, or in the entry file of an entry program.
    """

    def __init__(self) -> None:
        self._notes: dict[tuple[str, str, str], tuple[object, str, int, str]] = {}  # (root, program, module path)
        self._formed_files: set[tuple[str, str]] = set()
        self._formed_paths: dict[tuple[str, str], set[str]] = {}  # (root, path or folder) -> providers
        self._formed_programs: set[tuple[str, str]] = set()

    def note(self, layout: Layout, item: object, rel_dir: str, programs: list[str],
             modules: dict[str, int]) -> None:
        """The top-level modules a file imports (``modules``: name → line); only own ones are kept."""
        root = str(layout.root)
        for top, line in sorted(modules.items()):
            path = layout.own_module_path(rel_dir, top)
            if path is None:
                continue
            for program in programs:
                key = (root, program, path)
                rel = getattr(item, "rel", "")
                entry = program == rel
                if len(self._notes) < MAX_NOTES and (key not in self._notes or entry):
                    self._notes[key] = (item, top, line, rel)

    def saw(self, root: str, rel: str, program: str, forms_agent: bool, provider: str | None) -> None:
        """A finding was made in ``rel`` for ``program``; remember where LLM calls are."""
        if not forms_agent:
            return
        self._formed_files.add((root, rel))
        self._formed_programs.add((root, program))
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            providers = self._formed_paths.setdefault((root, "/".join(parts[:i])), set())
            if provider and len(providers) < 10:
                providers.add(provider)

    def hits(self) -> Iterator[tuple[object, str, Hit]]:
        """(file item, program, hit) for each program that reaches LLM code of this repository's own."""
        for (root, program, path), (item, top, line, rel) in sorted(self._notes.items(), key=lambda kv: kv[0]):
            providers = self._formed_paths.get((root, path))
            if providers is None or (root, rel) in self._formed_files:
                continue
            if (root, program) in self._formed_programs and program != rel:
                continue  # the program calls LLMs itself; its own calls say enough
            hit = Hit("local-llm-use", line, provider=next(iter(providers)) if len(providers) == 1 else None,
                      confidence="medium", label=f"imports {top}, this repository's own code that calls LLMs ({path})",
                      details={"module": top, "path": path, "providers": sorted(providers)})
            hit.place = path_place(rel, code=True, ci=False)
            yield item, program, hit
