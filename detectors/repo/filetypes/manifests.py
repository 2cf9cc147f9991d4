"""Dependency manifests and lock files, read with their own parsers: only dependency tables count.

``authors = [{ name = "Anthropic, PBC." }]`` or the project's own ``name`` is not a
dependency; a package only a lock file names is recorded as not direct (pulled in by
something else). Each hit says ``direct`` and, where the manifest says it, the ``scope``
(dev, optional, build, peer). Dependencies only describe an agent.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import yaml
from packaging.requirements import InvalidRequirement, Requirement

from detectors.repo.filetypes.base import FileView, Hit

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

try:
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]

MANIFEST_NAMES = {"pyproject.toml", "setup.py", "setup.cfg", "package.json", "go.mod", "Cargo.toml", "Pipfile"}
MAX_LOOKUPS = 100  # catalogue packages located per file (each one regex search)


@dataclass(frozen=True)
class Dep:
    name: str
    direct: bool = True
    scope: str | None = None  # dev, optional, build, peer; None = runtime


Parser = Callable[[bytes], Iterator[Dep]]


def applies(f: FileView) -> bool:
    return manifest_kind(f.name) is not None


def scan(f: FileView) -> list[Hit]:
    kind = manifest_kind(f.name)
    if kind is None:
        return []
    eco, label, parse, lock = kind
    try:
        deps = list(parse(f.data))
    except (ValueError, TypeError, KeyError, AttributeError, SyntaxError, RecursionError, yaml.YAMLError,
            configparser.Error, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []  # not a manifest this parser can read: it names no dependency
    best: dict[str, tuple[Dep, Any]] = {}
    for dep in deps:
        t = f.rules.package_target(eco, dep.name)
        if t is None:
            continue
        seen = best.get(t.name)
        if seen is None or (dep.direct and not seen[0].direct) or (seen[0].scope and not dep.scope and dep.direct):
            best[t.name] = (dep, t)
    out = []
    for i, (dep, t) in enumerate(best.values()):
        details: dict[str, Any] = {"package": t.name, "ecosystem": eco, "manifest": label, "direct": dep.direct}
        if dep.scope:
            details["scope"] = dep.scope
        if t.framework:
            details["framework"] = t.framework
        if lock:
            details["lockfile"] = True
        line = _line_of(f, dep.name) if i < MAX_LOOKUPS else 1
        out.append(Hit("dependency", line, provider=t.provider, confidence="high" if dep.direct else "low",
                       label=f"depends on {t.name}" + ("" if dep.direct else " (not direct)"), details=details))
    return out


def _line_of(f: FileView, name: str) -> int:
    m = re.search(rb"(?<![\w@.-])" + re.escape(name.encode("utf-8", "replace")) + rb"(?![\w.-])", f.data, re.I)
    return f.lines.of(m.start()) if m else 1


# ---- Python -----------------------------------------------------------------------------------

def _req(spec: Any, direct: bool = True, scope: str | None = None) -> Iterator[Dep]:
    """A PEP 508 requirement string → its distribution name (nothing when it is not one)."""
    if not isinstance(spec, str):
        return
    try:
        yield Dep(Requirement(spec.strip()).name, direct, scope)
    except InvalidRequirement:
        return


_EGG = re.compile(r"#egg=([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirements(data: bytes, constraints: bool = False) -> Iterator[Dep]:
    """pip requirements syntax. pip-compile output marks what only something else needs
    (``# via litellm``): those are not direct; ``# via -r …in`` and unannotated lines are."""
    lines = re.sub(r"\\\r?\n", " ", data.decode("utf-8", "replace")).splitlines()
    pending: list[tuple[str, bool]] = []  # (name, has a '-r' via) of the last requirement, until its via block ends
    vias: list[str] = []

    def flush() -> Iterator[Dep]:
        for name, _ in pending:
            direct = not constraints and (not vias or any("-r" in v or ".in" in v or "pyproject" in v for v in vias))
            yield Dep(name, direct)
        pending.clear()
        vias.clear()

    in_via = False
    for raw in lines:
        stripped = raw.strip()
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            if text.startswith("via"):
                in_via = True
                rest = text[3:].strip()
                if rest:
                    vias.append(rest)
            elif in_via and pending:
                vias.append(text)
            continue
        in_via = False
        yield from flush()
        line = re.split(r"\s#", stripped, maxsplit=1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            egg = _EGG.search(raw)
            if egg:
                pending.append((egg.group(1), False))
            continue
        for dep in _req(line.split(" --hash", 1)[0]):
            pending.append((dep.name, False))
    yield from flush()


def pyproject(data: bytes) -> Iterator[Dep]:
    doc = tomllib.loads(data.decode("utf-8"))
    project = _table(doc, "project")
    for spec in _list(project.get("dependencies")):
        yield from _req(spec)
    for specs in _table(project, "optional-dependencies").values():
        for spec in _list(specs):
            yield from _req(spec, scope="optional")
    for group, specs in _table(doc, "dependency-groups").items():
        for spec in _list(specs):
            yield from _req(spec, scope="dev" if group == "dev" else group)
    tool = _table(doc, "tool")
    poetry = _table(tool, "poetry")
    yield from _names(_table(poetry, "dependencies"), skip=("python",))
    yield from _names(_table(poetry, "dev-dependencies"), scope="dev")
    for group, spec in _table(poetry, "group").items():
        yield from _names(_table(spec if isinstance(spec, dict) else {}, "dependencies"), scope=str(group))
    for spec in _list(_table(tool, "uv").get("dev-dependencies")):
        yield from _req(spec, scope="dev")
    for specs in _table(_table(tool, "pdm"), "dev-dependencies").values():
        for spec in _list(specs):
            yield from _req(spec, scope="dev")


def setup_py(data: bytes) -> Iterator[Dep]:
    """``setup(install_requires=[…], extras_require={…})``, read from the syntax tree (never run)."""
    tree = ast.parse(data)
    assigned: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned[node.targets[0].id] = node.value
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name != "setup":
            continue
        for kw in node.keywords:
            value = assigned.get(kw.value.id, kw.value) if isinstance(kw.value, ast.Name) else kw.value
            if kw.arg in ("install_requires", "requires"):
                for spec in _literal_strings(value):
                    yield from _req(spec)
            elif kw.arg == "extras_require" and isinstance(value, ast.Dict):
                for v in value.values:
                    for spec in _literal_strings(v):
                        yield from _req(spec, scope="optional")
            elif kw.arg in ("tests_require", "setup_requires"):
                for spec in _literal_strings(value):
                    yield from _req(spec, scope="dev" if kw.arg == "tests_require" else "build")


def _literal_strings(node: ast.AST | None) -> list[str]:
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def setup_cfg(data: bytes) -> Iterator[Dep]:
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.read_string(data.decode("utf-8", "replace"))
    if cp.has_option("options", "install_requires"):
        for spec in cp.get("options", "install_requires").splitlines():
            yield from _req(spec)
    if cp.has_section("options.extras_require"):
        for _, value in cp.items("options.extras_require"):
            for spec in value.splitlines():
                yield from _req(spec, scope="optional")


def pipfile(data: bytes) -> Iterator[Dep]:
    doc = tomllib.loads(data.decode("utf-8"))
    yield from _names(_table(doc, "packages"))
    yield from _names(_table(doc, "dev-packages"), scope="dev")


def pipfile_lock(data: bytes) -> Iterator[Dep]:
    doc = json.loads(data)
    for section, scope in (("default", None), ("develop", "dev")):
        yield from _names(_table(doc, section), direct=False, scope=scope)


def poetry_lock(data: bytes) -> Iterator[Dep]:
    for pkg in _list(tomllib.loads(data.decode("utf-8")).get("package")):
        if isinstance(pkg, dict) and isinstance(pkg.get("name"), str):
            yield Dep(pkg["name"], direct=False)


def uv_lock(data: bytes) -> Iterator[Dep]:
    """The project's own entries (``source = { editable/virtual = "." }``) list its direct dependencies."""
    packages = [p for p in _list(tomllib.loads(data.decode("utf-8")).get("package")) if isinstance(p, dict)]
    roots = [p for p in packages if isinstance(p.get("source"), dict) and
             ({"editable", "virtual"} & set(p["source"]))]
    own = {p.get("name") for p in roots}
    direct: set[str] = set()
    for root in roots:
        for dep in _list(root.get("dependencies")):
            if isinstance(dep, dict) and isinstance(dep.get("name"), str):
                direct.add(dep["name"])
        for table in ("optional-dependencies", "dev-dependencies"):
            for deps in _table(root, table).values():
                for dep in _list(deps):
                    if isinstance(dep, dict) and isinstance(dep.get("name"), str):
                        direct.add(dep["name"])
    for p in packages:
        name = p.get("name")
        if isinstance(name, str) and name not in own:
            yield Dep(name, direct=name in direct)


# ---- JavaScript -----------------------------------------------------------------------------

_NPM_TABLES = (("dependencies", None), ("devDependencies", "dev"), ("peerDependencies", "peer"),
               ("optionalDependencies", "optional"))


def package_json(data: bytes) -> Iterator[Dep]:
    doc = json.loads(data)
    for table, scope in _NPM_TABLES:
        yield from _names(_table(doc, table), scope=scope)


def package_lock(data: bytes) -> Iterator[Dep]:
    doc = json.loads(data)
    packages = _table(doc, "packages")
    root = _table(packages, "")
    direct = {str(n) for table, _ in _NPM_TABLES for n in _table(root, table)}
    names = {k.rsplit("node_modules/", 1)[-1] for k in packages if "node_modules/" in k}
    names |= set(_table(doc, "dependencies"))  # lockfileVersion 1
    for name in sorted(names):
        yield Dep(name, direct=name in direct)


_PNPM_KEY = re.compile(r"^/?((?:@[^/@]+/)?[^/@(]+)[@/]")


def pnpm_lock(data: bytes) -> Iterator[Dep]:
    doc = yaml.load(data, Loader=_YamlLoader)
    if not isinstance(doc, dict):
        return
    importers = _table(doc, "importers") or {".": doc}  # before lockfile v6 one project sat at the top
    direct: set[str] = set()
    for importer in importers.values():
        for table, scope in _NPM_TABLES:
            for name in _table(importer if isinstance(importer, dict) else {}, table):
                direct.add(str(name))
                yield Dep(str(name), True, scope)
    for key in list(_table(doc, "packages")) + list(_table(doc, "snapshots")):
        m = _PNPM_KEY.match(str(key))
        if m and m.group(1) not in direct:
            yield Dep(m.group(1), direct=False)


def yarn_lock(data: bytes) -> Iterator[Dep]:
    """Yarn v1 and Berry alike: top-level entry lines ``"name@range", name@npm:range:``."""
    for line in data.decode("utf-8", "replace").splitlines():
        if not line or line[0] in " \t#" or not line.rstrip().endswith(":"):
            continue
        for spec in line.rstrip()[:-1].split(","):
            spec = spec.strip().strip('"')
            at = spec.find("@", 1)
            if at > 0 and spec != "__metadata":
                yield Dep(spec[:at], direct=False)


# ---- Go and Rust ----------------------------------------------------------------------------

_GO_REQ = re.compile(r"^\s*(?:require\s+)?([a-z0-9.-]+\.[a-z]+/\S+)\s+v\S+(.*)$")


def go_mod(data: bytes) -> Iterator[Dep]:
    """``require`` lines and blocks; ``// indirect`` marks a module only something else needs."""
    block = None
    for line in data.decode("utf-8", "replace").splitlines():
        stripped = line.strip()
        if block is None:
            if re.match(r"(require|replace|exclude|retract)\s*\($", stripped):
                block = stripped.split()[0].rstrip("(")
                continue
            if not stripped.startswith("require "):
                continue
        elif stripped == ")":
            block = None
            continue
        elif block != "require":
            continue
        m = _GO_REQ.match(line)
        if m:
            yield Dep(m.group(1), direct="// indirect" not in m.group(2))


def go_sum(data: bytes) -> Iterator[Dep]:
    for line in data.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 3:
            yield Dep(parts[0], direct=False)


def cargo_toml(data: bytes) -> Iterator[Dep]:
    doc = tomllib.loads(data.decode("utf-8"))
    tables = [(doc, None), (_table(doc, "workspace"), None)]
    tables += [(t, None) for t in _table(doc, "target").values() if isinstance(t, dict)]
    for table, _ in tables:
        for key, scope in (("dependencies", None), ("dev-dependencies", "dev"), ("build-dependencies", "build")):
            for name, spec in _table(table, key).items():
                real = spec.get("package") if isinstance(spec, dict) and isinstance(spec.get("package"), str) else name
                yield Dep(str(real), True, scope)


def cargo_lock(data: bytes) -> Iterator[Dep]:
    """Crates from a registry or git; a package without ``source`` is the workspace's own."""
    for pkg in _list(tomllib.loads(data.decode("utf-8")).get("package")):
        if isinstance(pkg, dict) and isinstance(pkg.get("name"), str) and pkg.get("source"):
            yield Dep(pkg["name"], direct=False)


# ---- shared -----------------------------------------------------------------------------------

def _table(doc: Any, key: str) -> dict[str, Any]:
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _names(table: dict[str, Any], direct: bool = True, scope: str | None = None,
           skip: tuple[str, ...] = ()) -> Iterator[Dep]:
    for name in table:
        if isinstance(name, str) and name.lower() not in skip:
            yield Dep(name, direct, scope)


_EXACT: dict[str, tuple[str, Parser, bool]] = {
    "pyproject.toml": ("python", pyproject, False), "setup.py": ("python", setup_py, False),
    "setup.cfg": ("python", setup_cfg, False), "Pipfile": ("python", pipfile, False),
    "Pipfile.lock": ("python", pipfile_lock, True), "poetry.lock": ("python", poetry_lock, True),
    "uv.lock": ("python", uv_lock, True), "constraints.txt": ("python", lambda d: requirements(d, True), False),
    "package.json": ("javascript", package_json, False), "package-lock.json": ("javascript", package_lock, True),
    "pnpm-lock.yaml": ("javascript", pnpm_lock, True), "yarn.lock": ("javascript", yarn_lock, True),
    "go.mod": ("go", go_mod, False), "go.sum": ("go", go_sum, True),
    "Cargo.toml": ("rust", cargo_toml, False), "Cargo.lock": ("rust", cargo_lock, True),
}


def manifest_kind(name: str) -> tuple[str, str, Parser, bool] | None:
    """(ecosystem, label, parser, is lock file) for a dependency manifest file name."""
    if name.startswith("requirements") and name.endswith((".txt", ".in")):
        return "python", name, requirements, False
    if name in _EXACT:
        eco, parse, lock = _EXACT[name]
        return eco, name, parse, lock
    return None
