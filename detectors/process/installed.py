"""What a process's interpreter has installed (and loaded), and which container a process runs in.

A Python process's environment is found from ``VIRTUAL_ENV``, its argv0 (a venv's
``bin/python`` is a symlink, so ``/proc/<pid>/exe`` would name the base interpreter)
or its executable; a Node process's from the nearest ``node_modules`` above its
script. Directory listings are cached: a thousand workers of one service cost one
listing. Package names come from the catalogue.

The paths belong to other users as often as not: every probe treats "permission
denied" as "not readable" (counted for coverage), never as an error.
"""

from __future__ import annotations

import csv
import errno
import functools
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from scanner import identity
from scanner.catalog import Catalog

_NORMALISE = re.compile(r"[-_.]+")
MAX_NODE_LEVELS = 12
MAX_PACKAGE_JSON_BYTES = 1 << 20
NPM_NAME = re.compile(r"(?:@[\w.~-]{1,100}/)?[\w.~-]{1,114}")  # what npm accepts as a package name
CONTAINER_ID = re.compile(r"(?:docker|cri-containerd|crio|libpod|containerd|conmon)[-/:]([0-9a-f]{64})"
                          r"|/([0-9a-f]{64})(?:\.scope)?$")
POD_ID = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
RUNTIME = re.compile(r"docker|cri-containerd|crio|libpod|containerd")


def normalise_dist(name: str) -> str:
    """PEP 503 name: ``Google_GenAI`` and ``google-genai`` are the same distribution."""
    return _NORMALISE.sub("-", name).lower()


@dataclass(frozen=True)
class Package:
    """A catalogue package seen installed: which provider or framework it means."""

    name: str
    kind: str  # "sdk-usage" (provider SDK) | "framework"
    ref: str  # provider id or framework id
    provider: str | None


@dataclass(frozen=True)
class Installed:
    """The catalogue packages of one interpreter environment."""

    environment: str
    isolated: bool  # a venv or a project's node_modules, not a system-wide install
    packages: tuple[Package, ...]
    # package name -> where its metadata is (a dist-info directory, a node_modules package): a
    # file of the process mapped or open under the package's code directories means it is loaded.
    homes: dict[str, str] = field(default_factory=dict, compare=False)

    def loaded(self, files: set[str]) -> set[str]:
        """Names of the packages one of ``files`` (a process's mapped or open files) belongs to."""
        if not files:
            return set()
        out = set()
        for name, home in self.homes.items():
            dirs = code_dirs(home)
            if any(f.startswith(d + os.sep) for d in dirs for f in files):
                out.add(name)
        return out


class PackageIndex:
    """Looks up (and caches) the catalogue packages installed for a Python or Node process."""

    def __init__(self, catalog: Catalog) -> None:
        self.python: dict[str, Package] = {}
        self.javascript: dict[str, Package] = {}
        for p in catalog.providers.values():
            for name in p.packages.get("python", []):
                self.python.setdefault(normalise_dist(name), Package(name, "sdk-usage", p.id, p.id))
            for name in p.packages.get("javascript", []):
                self.javascript.setdefault(name, Package(name, "sdk-usage", p.id, p.id))
        for f in catalog.frameworks.values():
            provider = f.providers[0] if len(f.providers) == 1 else None
            for name in f.packages.get("python", []):
                self.python.setdefault(normalise_dist(name), Package(name, "framework", f.id, provider))
            for name in f.packages.get("javascript", []):
                self.javascript.setdefault(name, Package(name, "framework", f.id, provider))
        self._python_roots: dict[str, Installed | None] = {}
        self._node_dirs: dict[str, Installed | None] = {}
        self._node_lookup: dict[str, str | None] = {}
        self.unreadable: set[str] = set()

    # ---- Python -------------------------------------------------------------------

    def for_python(self, argv0: str, exe: str | None, environ: dict[str, str] | None) -> Installed | None:
        root = python_root(argv0, exe, environ)
        if root is None:
            return None
        if root not in self._python_roots:
            self._python_roots[root] = self._scan_python(Path(root))
        return self._python_roots[root]

    def _scan_python(self, root: Path) -> Installed | None:
        found: dict[str, Package] = {}
        homes: dict[str, str] = {}
        for site in self._site_dirs(root):
            for entry in self._listdir(site):
                if entry.endswith((".dist-info", ".egg-info")):
                    dist = normalise_dist(entry.rsplit(".", 1)[0].split("-", 1)[0])
                    if dist in self.python and dist not in found:
                        found[dist] = self.python[dist]
                        homes[self.python[dist].name] = str(site / entry)
        isolated = self._probe(root / "pyvenv.cfg") is True
        return Installed(str(root), isolated, tuple(sorted(found.values(), key=lambda p: p.name)), homes)

    def _site_dirs(self, root: Path) -> list[Path]:
        dirs = [root / "Lib" / "site-packages", root / "lib" / "python3" / "dist-packages"]
        for lib in (root / "lib", root / "local" / "lib", root / "lib64"):
            dirs += [lib / d / sub for d in sorted(self._listdir(lib)) if d.startswith(("python", "pypy"))
                     for sub in ("site-packages", "dist-packages")]
        return [d for d in dict.fromkeys(dirs) if self._probe(d, directory=True)]

    def _probe(self, path: Path, directory: bool = False) -> bool | None:
        """Whether ``path`` is a (regular file | directory); None, and noted, when it is not readable."""
        readable = probe(path, directory)
        if readable is None:
            self.unreadable.add(str(path))
        return readable

    # ---- Node ---------------------------------------------------------------------

    def for_node(self, script: str | None, cwd: str | None) -> Installed | None:
        if not script or script.startswith("-"):
            return None
        path = script if os.path.isabs(script) else (os.path.join(cwd, script) if cwd else None)
        if path is None:
            return None
        start = os.path.dirname(os.path.normpath(path))
        if start not in self._node_lookup:
            self._node_lookup[start] = _nearest_node_modules(start)
        modules = self._node_lookup[start]
        if modules is None:
            return None
        if modules not in self._node_dirs:
            self._node_dirs[modules] = self._scan_node(modules)
        return self._node_dirs[modules]

    def _scan_node(self, modules: str) -> Installed:
        found: dict[str, Package] = {}
        for entry in self._listdir(modules):
            names = [f"{entry}/{sub}" for sub in self._listdir(os.path.join(modules, entry))] \
                if entry.startswith("@") else [entry]
            for name in names:
                if name in self.javascript:
                    found.setdefault(name, self.javascript[name])
        homes = {p.name: os.path.join(modules, p.name) for p in found.values()}
        return Installed(modules, True, tuple(sorted(found.values(), key=lambda p: p.name)), homes)

    def _listdir(self, path: str | Path) -> list[str]:
        try:
            return os.listdir(path)
        except FileNotFoundError:
            return []
        except OSError:
            self.unreadable.add(str(path))
            return []


def python_root(argv0: str, exe: str | None, environ: dict[str, str] | None) -> str | None:
    """The prefix of the Python environment a process runs in (a venv root when it is one)."""
    env = environ or {}
    if env.get("VIRTUAL_ENV"):
        return env["VIRTUAL_ENV"]
    launcher = argv0 if os.path.isabs(argv0) else (shutil.which(argv0, path=env["PATH"])
                                                    if argv0 and "PATH" in env and os.sep not in argv0 else None)
    for candidate in (launcher, exe):
        if candidate:
            bindir = os.path.dirname(candidate)
            if os.path.basename(bindir) in ("bin", "Scripts"):
                return os.path.dirname(bindir)
    return None


def probe(path: str | Path, directory: bool = False) -> bool | None:
    """``path`` is a directory (or a regular file): True / False, None when permission is denied.

    ``Path.is_dir()`` raises on EACCES (a 0700 home of another user); this never does.
    """
    try:
        mode = os.stat(path).st_mode
    except PermissionError:
        return None
    except OSError as exc:
        return None if exc.errno == errno.EACCES else False
    return (mode & 0o170000) == (0o040000 if directory else 0o100000)


@functools.lru_cache(maxsize=1024)
def code_dirs(home: str) -> tuple[str, ...]:
    """The directories a package's code is in: a Node package is its directory; a Python
    distribution (its ``*.dist-info``) the import packages it installs."""
    if not home.endswith((".dist-info", ".egg-info")):
        return (home,)
    site = os.path.dirname(home)
    guess = normalise_dist(os.path.basename(home).rsplit(".", 1)[0].split("-", 1)[0]).replace("-", "_")
    if probe(os.path.join(site, guess), directory=True):
        return (os.path.join(site, guess),)  # the usual case: no metadata file to read
    return tuple(os.path.join(site, top) for top in _top_level(Path(home)))


def _top_level(dist_info: Path) -> list[str]:
    """The import names a distribution installs: ``top_level.txt``, else the first path parts in ``RECORD``."""
    try:
        text = (dist_info / "top_level.txt").read_text(encoding="utf-8", errors="replace")
        return sorted({line.strip() for line in text.splitlines() if line.strip()})
    except OSError:
        pass
    try:
        with open(dist_info / "RECORD", encoding="utf-8", errors="replace", newline="") as fh:
            tops = {row[0].split("/", 1)[0] for row in csv.reader(fh) if row and "/" in row[0]}
    except (OSError, csv.Error):
        return []
    return sorted(t.removesuffix(".py") for t in tops if not t.endswith((".dist-info", ".data")) and t not in ("..", "__pycache__"))


def package_json_above(path: str) -> tuple[str, str] | None:
    """(path, name) of the nearest ``package.json`` with a name above a script, within its package.

    ``dist/package.json`` files that only say ``{"type": "module"}`` are skipped; the walk
    stops at a ``node_modules`` directory (never names a script after the tree it sits in).
    """
    current = os.path.dirname(path)
    for _ in range(MAX_NODE_LEVELS):
        if os.path.basename(current) == "node_modules":
            return None
        candidate = os.path.join(current, "package.json")
        name = _package_name(candidate)
        if name:
            return candidate, name
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    return None


def _package_name(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(MAX_PACKAGE_JSON_BYTES))
    except (OSError, ValueError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and NPM_NAME.fullmatch(name) else None


def _nearest_node_modules(start: str) -> str | None:
    """The node_modules a script is inside of, or the nearest one above its directory."""
    current = start
    for _ in range(MAX_NODE_LEVELS):
        if os.path.basename(current) == "node_modules":
            return current
        candidate = os.path.join(current, "node_modules")
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return None


@dataclass(frozen=True)
class Container:
    id: str
    runtime: str | None
    pod: str | None

    @property
    def key(self) -> str:
        return identity.container(self.id)

    def to_dict(self) -> dict[str, str]:
        d = {"id": self.id[:12], "runtime": self.runtime, "pod": self.pod}
        return {k: v for k, v in d.items() if v}


def container_of(pid: int | str) -> Container | None:
    """The container (and Kubernetes pod) a process belongs to, from its cgroup file (Linux)."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    return parse_cgroup(text)


def parse_cgroup(text: str) -> Container | None:
    """Container id, runtime and pod from the text of a cgroup file (v1 or v2; Docker, containerd, CRI-O, Podman)."""
    for line in text.splitlines():
        m = CONTAINER_ID.search(line)
        if m:
            runtime = RUNTIME.search(line)
            pod = POD_ID.search(line)
            return Container(m.group(1) or m.group(2), runtime.group(0) if runtime else None,
                             pod.group(1).replace("_", "-") if pod else None)
    return None
