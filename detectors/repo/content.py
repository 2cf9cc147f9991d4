"""What one file's bytes say: keys, imports, dependencies, endpoints, model names, agent configs.

:func:`scan_bytes` is a pure function of (rules, file name, bytes) so it runs the
same in the parent and in worker processes. It returns :class:`Hit` tuples; raw
secrets travel only inside ``Hit.secret`` to the parent, which turns them into a
:class:`~scanner.model.Credential` at once and drops the value.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlsplit

import yaml

from detectors.repo.rules import Anchors, Rules
from scanner import identity
from scanner.secrets import is_placeholder

try:
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11
    tomllib = None  # type: ignore[assignment]

PY_EXT = {".py", ".pyi", ".ipynb"}
JS_EXT = {".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx", ".vue", ".svelte"}
CODE_EXT = PY_EXT | JS_EXT | {".go", ".rs", ".java", ".kt", ".rb", ".php", ".cs", ".swift", ".scala", ".sh",
                              ".bash", ".zsh", ".ps1"}
CONFIG_EXT = {".yaml", ".yml", ".json", ".toml", ".ini", ".cfg", ".conf", ".tfvars", ".tf", ".hcl", ".env",
              ".properties", ".xml"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]", "host.docker.internal"}
MANIFEST_NAMES = {"pyproject.toml", "setup.py", "setup.cfg", "package.json", "go.mod", "Cargo.toml", "Pipfile"}
MCP_FILES = {".mcp.json", "claude_desktop_config.json", "mcp.json", "mcp_config.json"}
AGENT_DOCS = {"AGENTS.md", "CLAUDE.md", "GEMINI.md"}
BINARY_SNIFF = 8192
MAX_PARSED_YAML = 1 << 20  # Secret manifests are small; never build a huge (or alias-bombed) YAML tree

_PY_IMPORT = re.compile(
    rb"[ \t]*\"?[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b|import[ \t]+([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*))",
    re.M)
_JS_IMPORT = re.compile(rb"(?:from[ \t]*|require\([ \t]*|import\([ \t]*|import[ \t]+)[\"']([^\"'\n]{1,200})[\"']")
_GO_IMPORT = re.compile(rb"\"([a-z0-9-]+(?:\.[a-z0-9-]+)+/[^\"\s]{1,200})\"")  # "host.tld/path" module paths
# use x::…; pub(crate) use ::x; use {x::a, y::b}; extern crate x;  (group 1: crate or {…} list, group 2: extern)
_RUST_USE = re.compile(rb"[ \t]*(?:#\[[^\]\n]*\][ \t]*)?(?:pub(?:\([^)\n]*\))?[ \t]+)?"
                       rb"(?:use[ \t]+(?:::)?(\{[^;]{0,2000}|[A-Za-z_]\w*)|extern[ \t]+crate[ \t]+([A-Za-z_]\w*))")
_RUST_LIST_ITEM = re.compile(rb"[{,]\s*(?:::)?([A-Za-z_]\w*)")
_URL = re.compile(rb"(https?|wss?)://(?:[^/@\s\"'<>]{1,100}@)?([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?(/[A-Za-z0-9._~/%-]*)?")
_BASE_URL_BEFORE = re.compile(rb"(?i)(?:base_?url|api_?base|endpoint|api_?host)[\"']?\s*(?:=|:|=>)\s*[\"'`]?\Z")
_QUOTED = re.compile(rb"[\"'`]([A-Za-z0-9][A-Za-z0-9._:/@-]{1,120})[\"'`]")
_MODEL_KEY = re.compile(rb"(?i:model(?:_name|_id|name|id)?)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9][A-Za-z0-9._:/@-]{1,120})")
# model=, Model: (C#, YAML) and MODEL = (constants): the letter before each rules.MODEL_ANCHORS tail
_MODEL_HEADS = {b"odel": b"mM", b"ODEL": b"M"}
_K8S_SECRET = re.compile(rb"[\"']?kind[\"']?\s*:\s*[\"']?Secret\b")  # YAML and JSON manifests
_WORKFLOW_SECRET = re.compile(rb"secrets\.([A-Za-z_][A-Za-z0-9_]*)")
# a cloud SDK's generic client factory: boto3.client("bedrock-runtime"), session.client(service_name='…')
_SDK_CLIENT = re.compile(rb"\bclient\(\s*(?:service_name\s*=\s*)?[\"']([a-z0-9-]{2,60})[\"']")


@dataclass
class Hit:
    """One thing found in a file; ``secret`` is the raw value of a credential (parent redacts it)."""

    kind: str
    line: int
    provider: str | None = None
    model: str | None = None
    secret: str | None = None
    key_type: str | None = None
    admin: bool = False
    label: str = ""
    confidence: str = "medium"
    details: dict[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = ()  # identity keys the evidence carries itself (an Azure OpenAI account's endpoint)


class Lines:
    """Offset → line number, built only when the first hit needs it."""

    def __init__(self, data: bytes):
        self.data = data
        self._starts: list[int] | None = None

    def of(self, pos: int) -> int:
        if self._starts is None:
            self._starts = [m.end() for m in re.finditer(rb"\n", self.data)]
        return bisect_right(self._starts, pos) + 1


def is_binary(head: bytes) -> bool:
    return b"\x00" in head[:BINARY_SNIFF]


def scan_bytes(rules: Rules, rel: str, data: bytes) -> list[Hit]:
    """All hits in one file. ``rel`` is the path inside its repository (posix separators)."""
    name = posixpath.basename(rel)
    ext = posixpath.splitext(name)[1].lower()
    lines = Lines(data)
    anchors = rules.anchor_positions(data)
    hits = list(find_credentials(rules, data, lines, anchors))
    if ext in (".yaml", ".yml", ".json") and len(data) <= MAX_PARSED_YAML and b"Secret" in data \
            and _K8S_SECRET.search(data):
        hits += kubernetes_secret_keys(rules, data, lines)
    if ext in PY_EXT:
        hits += python_imports(rules, data, lines)
        if rules.client_names and b"client(" in data:
            hits += sdk_clients(rules, data, lines)
    elif ext in JS_EXT:
        hits += js_imports(rules, data, lines)
    elif ext == ".go":
        hits += go_imports(rules, data, lines)
    elif ext == ".rs":
        hits += rust_imports(rules, data, lines)
    manifest = manifest_hits(rules, name, data, lines)
    hits += manifest
    code_or_config = ext in CODE_EXT or ext in CONFIG_EXT or name.startswith(".env")
    if code_or_config or name in ("Dockerfile", "Makefile"):
        hits += endpoints(rules, data, lines)
    if _is_agent_settings(rel, name, ext):
        hits += agent_config(rules, rel, name, data)
    if name in AGENT_DOCS:
        hits.append(Hit("agent-config", 1, provider=_doc_provider(rules, name), confidence="medium",
                        label=f"{name} agent instructions", details={"file": name}))
    if _is_workflow(rel):
        hits += workflow(rules, rel, data, lines)
    if code_or_config and not manifest:
        hits += model_literals(rules, data, lines, anchors[2], all_quoted=bool(hits))
    return merge_same_place(hits)


def _is_agent_settings(rel: str, name: str, ext: str) -> bool:
    """MCP server lists and ``.claude/settings*.json``."""
    return name in MCP_FILES or ("/.claude/" in f"/{rel}" and name.startswith("settings") and ext == ".json")


def merge_same_place(hits: list[Hit]) -> list[Hit]:
    """Hits a finding id cannot tell apart (same kind, line, provider, model, key) become one."""
    out: dict[tuple, Hit] = {}
    for hit in hits:
        key = (hit.kind, hit.line, hit.provider, hit.model, hit.secret)
        first = out.get(key)
        if first is None:
            out[key] = hit
        elif hit.label and hit.label != first.label:
            first.details.setdefault("also", []).append(hit.label)
    for hit in out.values():
        if hit.details.get("also"):
            hit.label += f" (+{len(hit.details['also'])} more on this line)"
    return list(out.values())


# ---- credentials ------------------------------------------------------------------------------------


def find_credentials(rules: Rules, data: bytes, lines: Lines, anchors: Anchors | None = None) -> Iterator[Hit]:
    """Self-identifying keys (prefix prefilter + full regex), then context-only keys by assignment."""
    key_positions, context_positions, _ = anchors or rules.anchor_positions(data)
    covered = -1  # end of the last key found: a prefix inside a key is not another key
    for pos, lit in key_positions:
        if pos < covered:
            continue
        for rx, fmt in rules.formats_by_literal[lit]:
            m = rx.match(data, pos)
            if not m:
                continue
            value = m.group(0).decode("ascii", "replace")
            if _glued(data, m.end()) or _glued_before(data, pos) or \
                    is_placeholder(value, fmt.prefixes[0] if fmt.prefixes else ""):
                break
            covered = m.end()
            yield Hit("credential", lines.of(pos), provider=fmt.provider, secret=value, key_type=fmt.id,
                      admin=fmt.admin, label=fmt.label, confidence="high")
            break
    if context_positions:
        yield from context_credentials(rules, data, lines, context_positions)


def _glued(data: bytes, end: int) -> bool:
    """A key regex that stopped inside a longer token matched a truncation, not a key."""
    return end < len(data) and (chr(data[end]).isalnum() if data[end] < 128 else False)


def _glued_before(data: bytes, pos: int) -> bool:
    """A prefix in the middle of a word or base64 blob (``xAIza…``) is not the start of a key.

    JSON string escapes (``\\nsk-…`` in notebook outputs) still count as a boundary.
    """
    if pos == 0 or data[pos - 1] >= 128 or not chr(data[pos - 1]).isalnum():
        return False
    return not (pos >= 2 and data[pos - 2] == 0x5C)  # backslash escape: \n, \t, \r


def context_credentials(rules: Rules, data: bytes, lines: Lines,
                        positions: list[tuple[int, bytes]]) -> Iterator[Hit]:
    """Formatless keys are keys only where the code says so: ``MISTRAL_API_KEY=…``, ``api_key="…"``."""
    done: set[int] = set()
    quick = rules.context_quick
    for pos, anchor in positions:
        if not quick.match(data, pos + len(anchor)):
            continue
        line_start = data.rfind(b"\n", 0, pos) + 1
        if line_start in done:
            continue
        done.add(line_start)
        prev_start = data.rfind(b"\n", 0, line_start - 1) + 1 if line_start else 0
        line_end = data.find(b"\n", pos)
        next_end = data.find(b"\n", line_end + 1) if line_end >= 0 else -1
        window_end = len(data) if next_end < 0 else next_end
        for m in rules.context_rx.finditer(data, prev_start, window_end):  # type: ignore[union-attr]
            if m.end() <= line_start:
                continue
            hit = _context_hit(rules, data, m, lines)
            if hit:
                yield hit


def _context_hit(rules: Rules, data: bytes, m: re.Match[bytes], lines: Lines) -> Hit | None:
    name = m.group("name") or m.group("kname")
    value_b = m.group("value") or m.group("kvalue") or m.group("argvalue")
    if value_b is None:
        return None
    value = value_b.decode("ascii", "replace").rstrip(".:")
    if name:
        var = name.decode("ascii").upper()
        providers = [rules.key_env_names.get(var)]
        how = var
    else:
        providers = _providers_near(rules, data, m.start())
        how = m.group("arg").decode("ascii")
    for provider in providers:
        if provider is None:
            continue
        fmt = rules.catalog.classify_secret(value, provider)
        if fmt is None or fmt.provider != provider:
            continue
        if is_placeholder(value, fmt.prefixes[0] if fmt.prefixes else ""):
            return None
        return Hit("credential", lines.of(m.start()), provider=provider, secret=value, key_type=fmt.id,
                   admin=fmt.admin, label=fmt.label, confidence="high" if not fmt.context_only else "medium",
                   details={"assigned_to": how})
    return None


def _providers_near(rules: Rules, data: bytes, pos: int) -> list[str]:
    """Providers named just before an ``api_key=`` argument: ``Mistral(api_key=…)``, ``AzureOpenAI(``."""
    window = data[max(0, pos - 200):pos].decode("ascii", "replace").lower()
    found = []
    for pid, tokens in rules.provider_tokens.items():
        best = max((window.rfind(t) for t in tokens), default=-1)
        if best >= 0:
            found.append((best, pid))
    return [pid for _, pid in sorted(found, reverse=True)]


def kubernetes_secret_keys(rules: Rules, data: bytes, lines: Lines) -> Iterator[Hit]:
    """``kind: Secret`` manifests keep values base64-encoded under ``data:``; decode and look again."""
    try:
        docs = list(yaml.load_all(data, Loader=_YamlLoader))
    except yaml.YAMLError:
        return
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "Secret" or not isinstance(doc.get("data"), dict):
            continue
        for key, encoded in doc["data"].items():
            if isinstance(encoded, str):
                yield from decoded_secret_hits(rules, str(key), encoded, _line_of_key(data, str(key), lines))


def decoded_secret_hits(rules: Rules, key: str, encoded: str, line: int) -> Iterator[Hit]:
    """Keys inside one base64 value of a Secret; the entry's name is context (``MISTRAL_API_KEY``)."""
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return
    probe = decoded + b"\n" + key.encode("utf-8", "replace") + b"=" + decoded.strip()
    for hit in find_credentials(rules, probe, Lines(probe)):
        hit.line = line
        hit.details["base64"] = True
        yield hit


def _line_of_key(data: bytes, key: str, lines: Lines) -> int:
    m = re.search(rb"(?m)^\s*[\"']?" + re.escape(key.encode()) + rb"[\"']?\s*:", data)
    return lines.of(m.start()) if m else 1


# ---- code -----------------------------------------------------------------------------------------


def _keyword_lines(data: bytes, keyword: bytes) -> Iterator[int]:
    """Start offsets of the distinct lines that contain ``keyword`` (literal search: fast)."""
    last = -1
    pos = data.find(keyword)
    while pos >= 0:
        line_start = data.rfind(b"\n", 0, pos) + 1
        if line_start != last:
            last = line_start
            yield line_start
        pos = data.find(keyword, pos + len(keyword))


def python_imports(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    out: dict[str, Hit] = {}
    for line_start in _keyword_lines(data, b"import"):
        m = _PY_IMPORT.match(data, line_start)
        if not m:
            continue
        mods = [m.group(1)] if m.group(1) else [x.strip() for x in m.group(2).split(b",")]
        for mod in mods:
            name = mod.decode("ascii", "replace")
            t = rules.python_target(name)
            if t and t.name not in out:
                out[t.name] = _usage_hit(t, lines.of(m.start()), "python", name)
    return list(out.values())


def js_imports(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    out: dict[str, Hit] = {}
    for keyword in (b"from", b"require", b"import"):
        pos = data.find(keyword)
        while pos >= 0:
            m = _JS_IMPORT.match(data, pos)
            pos = data.find(keyword, pos + len(keyword))
            if not m:
                continue
            spec = m.group(1).decode("utf-8", "replace")
            t = rules.js_target(spec)
            if t and t.name not in out:
                out[t.name] = _usage_hit(t, lines.of(m.start()), "javascript", spec)
    return list(out.values())


def go_imports(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    """Quoted module paths in Go source (single imports and ``import ( … )`` blocks alike)."""
    out: dict[str, Hit] = {}
    if b"import" not in data:
        return []
    for m in _GO_IMPORT.finditer(data):
        spec = m.group(1).decode("utf-8", "replace")
        t = rules.package_target("go", spec)
        if t and t.name not in out:
            out[t.name] = _usage_hit(t, lines.of(m.start()), "go", spec)
    return list(out.values())


def sdk_clients(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    """Provider services reached through a generic cloud client: ``boto3.client("bedrock-runtime")``."""
    out: dict[str, Hit] = {}
    for m in _SDK_CLIENT.finditer(data):
        name = m.group(1).decode("ascii")
        provider = rules.client_names.get(name)
        if provider and name not in out:
            out[name] = Hit("sdk-usage", lines.of(m.start()), provider=provider, confidence="high",
                            label=f'creates a "{name}" client', details={"client": name, "language": "python"})
    return list(out.values())


def rust_imports(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    """Catalogue crates in ``use`` and ``extern crate`` lines, else in qualified paths (``async_openai::Client``)."""
    if not rules.rust_crates:
        return []
    out: dict[str, Hit] = {}
    for keyword in (b"use", b"extern"):
        for line_start in _keyword_lines(data, keyword):
            m = _RUST_USE.match(data, line_start)
            if not m:
                continue
            listed = m.group(1) or m.group(2)
            for name in _RUST_LIST_ITEM.findall(listed) if listed.startswith(b"{") else [listed]:
                crate = name.decode("ascii")
                t = rules.rust_crates.get(crate)
                if t and t.name not in out:
                    out[t.name] = _usage_hit(t, lines.of(m.start()), "rust", crate)
    for crate, t in rules.rust_crates.items():
        if t.name not in out:
            pos = _rust_path(data, crate.encode("ascii"))
            if pos >= 0:
                out[t.name] = _usage_hit(t, lines.of(pos), "rust", crate)
    return list(out.values())


def _rust_path(data: bytes, crate: bytes) -> int:
    """Offset of the first ``crate::…`` path outside a ``//`` comment; -1 if none or the file has a ``mod crate``."""
    pos = data.find(crate + b"::")
    while pos >= 0:
        before = data[pos - 1:pos]
        line_start = data.rfind(b"\n", 0, pos) + 1
        if not (before.isalnum() or before in (b"_", b":")) and not data[line_start:pos].lstrip().startswith(b"//"):
            return -1 if re.search(rb"\bmod\s+" + re.escape(crate) + rb"\b", data) else pos
        pos = data.find(crate + b"::", pos + 1)
    return -1


def _usage_hit(t, line: int, language: str, imported: str) -> Hit:
    kind = "framework" if t.framework else "sdk-usage"
    return Hit(kind, line, provider=t.provider, confidence="high", label=f"imports {imported}",
               details={"import": imported, "language": language, **({"framework": t.framework} if t.framework else {})})


def endpoints(rules: Rules, data: bytes, lines: Lines) -> list[Hit]:
    """Catalogue hostnames, local model-server ports and ``base_url=`` overrides in URL literals."""
    catalog = rules.catalog
    out: dict[tuple[str, str], Hit] = {}
    pos = data.find(b"://")
    while pos >= 0:
        start = pos
        pos = data.find(b"://", pos + 3)
        m = None
        for back in (5, 4, 3, 2):  # https, http/wss, ws
            m = _URL.match(data, start - back) if start >= back else None
            if m and m.end(1) == start:
                break
            m = None
        if m is None:
            continue
        host = m.group(2).decode("ascii").lower().strip("[]")
        port = int(m.group(3)) if m.group(3) else None
        provider = rules.provider_for_host(host)
        local = host in LOCAL_HOSTS
        if provider is None and local and port:
            candidates = catalog.providers_for_port(port)
            if not candidates:
                continue
            provider = candidates[0] if len(candidates) == 1 else None
        override = bool(_BASE_URL_BEFORE.search(data, max(0, m.start() - 60), m.start()))
        if provider is None and not override:
            continue
        url = f"{m.group(1).decode()}://{host}{f':{port}' if port else ''}{(m.group(4) or b'').decode()}"
        key = (provider or "", url)
        if key in out:
            continue
        details: dict[str, Any] = {"url": url, "host": host}
        if local:
            details["local"] = True
        if override:
            details["base_url_override"] = True
        if local and provider is None:
            details["candidates"] = catalog.providers_for_port(port or 0)
        out[key] = Hit("endpoint", lines.of(m.start()), provider=provider, confidence="medium",
                       label=("base_url override " if override else "") + url, details=details,
                       keys=tuple(identity.endpoint_keys(catalog, host)))
    return list(out.values())


def model_literals(rules: Rules, data: bytes, lines: Lines, anchors: list[tuple[int, bytes]],
                   all_quoted: bool) -> list[Hit]:
    """Model names given to a ``model…=``/``model…:`` key, and — in files that already show LLM use —
    any quoted literal that is a catalogue model name."""
    out: dict[str, Hit] = {}

    def add(m: re.Match[bytes]) -> None:
        name = m.group(1).decode("ascii", "replace")
        if name not in out:
            provider = rules.model_provider_cached(name)
            if provider:
                out[name] = Hit("model-reference", lines.of(m.start()), provider=provider, model=name,
                                confidence="medium", label=f"model {name}", details={"model": name})

    for pos, tail in anchors:  # "odel"/"ODEL" found with the key prefixes
        if pos and data[pos - 1] in _MODEL_HEADS[tail]:
            m = _MODEL_KEY.match(data, pos - 1)
            if m:
                add(m)
    if all_quoted:
        for m in _QUOTED.finditer(data):
            add(m)
    return list(out.values())


# ---- manifests and lock files -------------------------------------------------------------------------

_REQ_LINE = re.compile(rb"(?m)^[ \t]*([A-Za-z0-9][A-Za-z0-9._-]*)")
_TOML_NAME = re.compile(rb"(?m)^name\s*=\s*\"([^\"]+)\"")
_QUOTED_NAME = re.compile(rb"[\"']([A-Za-z0-9@][A-Za-z0-9._/@-]*)")
_NPM_LOCK = re.compile(rb"\"node_modules/((?:@[^/\"]+/)?[^/\"]+)\"")
_PNPM = re.compile(rb"(?m)^\s+['\"]?/?((?:@[\w.-]+/)?[\w.-]+)@\d")
_YARN = re.compile(rb"(?m)^\"?((?:@[\w.-]+/)?[\w.-]+)@")
_GO_REQ = re.compile(rb"(?m)^\s*(?:require\s+)?([a-z0-9.-]+\.[a-z]+/[\w.\-/]+)\s+v\d")
_CARGO_DEP = re.compile(rb"(?m)^([A-Za-z0-9_-]+)\s*=")
_JSON_KEY = re.compile(rb"\"((?:@[\w.-]+/)?[\w.-]+)\"\s*:")


def manifest_kind(name: str) -> tuple[str, str, re.Pattern[bytes], bool] | None:
    """(ecosystem, label, name regex, is lock file) for a dependency manifest file name."""
    if name.startswith("requirements") and name.endswith((".txt", ".in")) or name == "constraints.txt":
        return "python", name, _REQ_LINE, False
    table = {
        "pyproject.toml": ("python", _QUOTED_NAME, False), "Pipfile": ("python", _CARGO_DEP, False),
        "setup.py": ("python", _QUOTED_NAME, False), "setup.cfg": ("python", _REQ_LINE, False),
        "poetry.lock": ("python", _TOML_NAME, True), "uv.lock": ("python", _TOML_NAME, True),
        "Pipfile.lock": ("python", _JSON_KEY, True), "package.json": ("javascript", _JSON_KEY, False),
        "package-lock.json": ("javascript", _NPM_LOCK, True), "pnpm-lock.yaml": ("javascript", _PNPM, True),
        "yarn.lock": ("javascript", _YARN, True), "go.mod": ("go", _GO_REQ, False),
        "go.sum": ("go", _GO_REQ, True), "Cargo.toml": ("rust", _CARGO_DEP, False),
        "Cargo.lock": ("rust", _TOML_NAME, True),
    }
    if name in table:
        eco, rx, lock = table[name]
        return eco, name, rx, lock
    return None


def manifest_hits(rules: Rules, name: str, data: bytes, lines: Lines) -> list[Hit]:
    kind = manifest_kind(name)
    if kind is None:
        return []
    eco, label, rx, lock = kind
    out: dict[str, Hit] = {}
    for m in rx.finditer(data):
        raw = m.group(1).decode("utf-8", "replace")
        pkg = re.split(r"[\[<>=!~;\s]", raw, maxsplit=1)[0] if eco == "python" else raw
        t = rules.package_target(eco, pkg)
        if t is None or t.name in out:
            continue
        details: dict[str, Any] = {"package": t.name, "ecosystem": eco, "manifest": label}
        if t.framework:
            details["framework"] = t.framework
        if lock:
            details["lockfile"] = True
        out[t.name] = Hit("dependency", lines.of(m.start()), provider=t.provider,
                          confidence="low" if lock else "high", label=f"depends on {t.name}", details=details)
    return list(out.values())


# ---- agent configuration ---------------------------------------------------------------------------


def agent_config(rules: Rules, rel: str, name: str, data: bytes) -> list[Hit]:
    """MCP server lists and coding-agent settings: server names and commands, never env values."""
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
    except ValueError as exc:
        return [Hit("agent-config", 1, label=f"{name} (not valid JSON)",
                    details={"file": name, "error": f"not valid JSON: {str(exc)[:80]}"}, confidence="low")]
    if not isinstance(doc, dict):
        return []
    hits: list[Hit] = []
    servers = doc.get("mcpServers") or doc.get("servers") or {}
    if isinstance(doc.get("mcp"), dict):
        servers = doc["mcp"].get("servers") or servers
    if isinstance(servers, dict):
        for server, spec in sorted(servers.items()):
            if isinstance(spec, dict):
                hit = _mcp_server_hit(rules, name, str(server), spec)
                m = re.search(rb'"' + re.escape(str(server).encode("utf-8", "replace")) + rb'"\s*:', data)
                hit.line = data.count(b"\n", 0, m.start()) + 1 if m else 1
                hits.append(hit)
    if "/.claude/" in f"/{rel}" or name == "claude_desktop_config.json":
        env = doc.get("env") if isinstance(doc.get("env"), dict) else {}
        details: dict[str, Any] = {"file": name, "tool": _tool_for(rules, "claude")}
        if env:
            details["env"] = sorted(str(k) for k in env)
        for field_name in ("enabledMcpjsonServers", "permissions", "hooks", "model"):
            if field_name in doc:
                details.setdefault("settings", []).append(field_name)
        if isinstance(doc.get("model"), str):
            details["model"] = doc["model"]
        tool = rules.catalog.tools.get(details["tool"] or "")
        provider = tool.providers[0] if tool and len(tool.providers) == 1 else None
        hits.append(Hit("agent-config", 1, provider=provider, label=f"{name} agent settings", details=details,
                        confidence="high"))
    return hits


def _mcp_server_hit(rules: Rules, file: str, server: str, spec: dict[str, Any]) -> Hit:
    details: dict[str, Any] = {"server": server, "file": file}
    command = spec.get("command")
    args = [str(a) for a in spec.get("args") or [] if isinstance(a, (str, int, float))]
    if isinstance(command, str):
        details["command"] = command
    if args:
        details["args"] = [_mask_keys(rules, a) for a in args][:20]
    url = spec.get("url") or spec.get("serverUrl")
    if isinstance(url, str):
        parts = urlsplit(url)
        details["url"] = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if _port(parts) else ''}{parts.path}"
    env = spec.get("env") if isinstance(spec.get("env"), dict) else {}
    headers = spec.get("headers") if isinstance(spec.get("headers"), dict) else {}
    if env:
        details["env"] = sorted(str(k) for k in env)
    if headers:
        details["headers"] = sorted(str(k) for k in headers)
    provider = None
    for var in env:
        provider = provider or rules.key_env_names.get(str(var).upper())
    return Hit("mcp-server", 1, provider=provider, confidence="high", label=f"MCP server {server}", details=details)


def _port(parts) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _mask_keys(rules: Rules, text: str) -> str:
    """An argument that holds a key keeps its shape, not its value."""
    data = text.encode("utf-8", "replace")
    for hit in find_credentials(rules, data, Lines(data)):
        if hit.secret:
            text = text.replace(hit.secret, "<redacted>")
    return text


def _tool_for(rules: Rules, executable: str) -> str | None:
    for tool in rules.catalog.tools.values():
        if executable in tool.executables:
            return tool.id
    return None


def _doc_provider(rules: Rules, name: str) -> str | None:
    tool = rules.catalog.tools.get(_tool_for(rules, name.split(".")[0].lower()) or "")
    return tool.providers[0] if tool and len(tool.providers) == 1 else None


CI_FILES = (".gitlab-ci.yml", "azure-pipelines.yml", "bitbucket-pipelines.yml", "Jenkinsfile")


def _is_workflow(rel: str) -> bool:
    """GitHub Actions workflows, CircleCI config and the usual single-file CI definitions."""
    github = (rel.startswith(".github/workflows/") or "/.github/workflows/" in rel) and rel.endswith((".yml", ".yaml"))
    return github or rel.startswith(".circleci/") or posixpath.basename(rel) in CI_FILES


def workflow(rules: Rules, rel: str, data: bytes, lines: Lines) -> list[Hit]:
    """CI jobs handed LLM secrets (``${{ secrets.OPENAI_API_KEY }}``) or running coding-agent tools."""
    by_provider: dict[str | None, Hit] = {}
    for m in _WORKFLOW_SECRET.finditer(data):
        var = m.group(1).decode("ascii").upper()
        provider = rules.key_env_names.get(var)
        if provider is None:
            continue
        hit = by_provider.setdefault(provider, Hit("ci-workflow", lines.of(m.start()), provider=provider,
                                                   confidence="high", label=f"CI workflow uses {var}",
                                                   details={"workflow": rel, "secrets": []}))
        if var not in hit.details["secrets"]:
            hit.details["secrets"].append(var)
    text = data.decode("utf-8", "replace")
    for tool in rules.catalog.tools.values():
        needles = [p for p in tool.packages.get("javascript", []) + tool.packages.get("python", []) if len(p) > 3]
        needles += [p for p in tool.script_patterns if len(p) > 5 and "/" in p]
        used = next((n for n in needles if n in text), None)
        if used:
            provider = tool.providers[0] if len(tool.providers) == 1 else None
            hit = by_provider.setdefault(provider, Hit("ci-workflow", lines.of(data.find(used.encode())),
                                                       provider=provider, confidence="high",
                                                       label=f"CI workflow runs {tool.name}",
                                                       details={"workflow": rel, "secrets": []}))
            hit.details.setdefault("tools", []).append(tool.id)
    for hit in by_provider.values():
        if not hit.details["secrets"]:
            del hit.details["secrets"]
    return list(by_provider.values())
