"""The provider catalogue: the one list of hostnames, key formats, env vars and packages.

``scanner/data/providers.yaml`` ships with the tool; ``--catalog FILE`` adds or
replaces entries (same schema, matched by ``id``). Every detector asks this
module, so a new provider is one YAML entry, never a code change.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Sequence

from scanner.errors import InputError

PROVIDER_KINDS = ("provider", "cloud", "gateway", "observability", "local")
TOOL_KINDS = ("coding-agent", "agent-runner", "mcp-server")

_PROVIDER_FIELDS = {
    "id": str, "name": str, "kind": str, "hostnames": list, "host_patterns": list, "keys": list,
    "env_vars": dict, "packages": dict, "models": list, "billing": dict, "ports": list,
    "ip_ranges": list, "paths": list, "process_names": list, "cmdline_patterns": list,
    "admin_api": (str, dict, type(None)), "client_names": list, "auth_headers": list, "key_arguments": list,
    "client_modules": list,
}
# ``admin_api:`` of a provider: where its organisation admin API is and what it lists.
_ADMIN_API_FIELDS = {
    "base_url": (str, type(None)), "base_url_env": (str, type(None)), "key_env": list,
    "lists_key_formats": list, "account_kinds": list, "console_url": (str, type(None)),
}
_KEY_FIELDS = {
    "id": str, "label": str, "regex": str, "prefixes": list, "admin": bool,
    "context_only": bool, "console_url": (str, type(None)), "requires_usage": bool,
    "examples": list, "non_examples": list, "published_examples": list,
}
_FRAMEWORK_FIELDS = {"id": str, "name": str, "packages": dict, "imports": dict, "providers": list,
                     "calls_llm": bool, "client_imports": dict, "server_imports": dict}
_TOOL_FIELDS = {
    "id": str, "name": str, "kind": str, "executables": list, "script_patterns": list,
    "packages": dict, "providers": list, "env_vars": list, "child_env": list, "runtime": (str, type(None)),
}
TOOL_RUNTIMES = ("python", "node")
_REQUIRED = {"id", "name"}
_AGENT_FILES_FIELDS = {"mcp_server_keys": list, "files": list}
_AGENT_FILE_FIELDS = {"match": str, "roles": list, "tool": (str, type(None)), "provider": (str, type(None))}
AGENT_FILE_ROLES = ("mcp-servers", "settings", "instructions", "runner")

# ``billing:`` of a provider: one block per cloud, each with the fields below (all lists).
# ``services``/``service_names``: every line of these services is this provider's spend;
# ``scoped_services``/``meter_categories``: their lines count only when the line's item
# (AWS usage type; Azure meter, meter subcategory or product; GCP SKU) matches the item
# patterns; ``model_patterns``: regexes with a ``(?P<model>…)`` group over item, then service.
BILLING_FIELDS = {
    "aws": {"services", "scoped_services", "usage_type_patterns", "model_patterns"},
    "azure": {"service_names", "meter_categories", "meter_subcategories", "meter_patterns", "model_patterns",
              "account_host_patterns"},
    "gcp": {"services", "scoped_services", "sku_patterns", "model_patterns"},
}
BUILTIN = Path(__file__).with_name("data") / "providers.yaml"
# Catalogues built in this process, by cache key (the contents of their files): built once, shared.
_LOADED: dict[str, "Catalog"] = {}
_LOADED_LOCK = threading.Lock()
# Set while building from a cache entry, which is written only after the same files passed every
# check: the structure is checked again, regex compiling and example matching are not repeated.
_VERIFIED = threading.local()

# Logical fields an export schema (top-level ``billing_exports:``) maps to column candidates.
EXPORT_FIELDS = ("account", "account_name", "service", "subcategory", "item", "product", "resource", "principal",
                 "cost", "credits", "quantity", "unit", "currency", "start", "end", "tags", "line_type")


@dataclass(frozen=True)
class KeyFormat:
    id: str
    provider: str
    label: str
    pattern: str
    prefixes: tuple[str, ...]
    admin: bool
    context_only: bool
    console_url: str | None
    # Not the provider's own key (an AWS access key next to Bedrock use): a detector reports it
    # only where the same unit — repository, environment, process — also shows this provider.
    requires_usage: bool = False
    # Synthetic keys of this format and look-alikes that are not (tests/test_key_format_examples.py runs
    # both through every detector). Checked when the catalogue loads, never used for detection.
    examples: tuple[str, ...] = ()
    non_examples: tuple[str, ...] = ()
    # sha256 (hex) of keys of this shape published in documentation or SDK samples: never a live key.
    published: frozenset[str] = frozenset()

    def is_published(self, value: str) -> bool:
        return bool(self.published) and hashlib.sha256(value.encode("utf-8", "replace")).hexdigest() in self.published

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """Compiled on first use: most runs need few of them one by one (start-up time)."""
        return re.compile(self.pattern)


@dataclass(frozen=True)
class AdminApi:
    """A provider's organisation admin API, for the provider-admin detectors.

    ``base_url`` is the public base the official SDK uses (``base_url_env`` overrides it, as
    in the SDK); ``key_env`` names the variables that hold the admin key, first wins;
    ``lists_key_formats`` are the key formats its key listing covers (a key of such a format
    that the listing lacks is not in the organisation); ``account_kinds`` are the resource
    kinds an inventory API reports (Azure Cognitive Services accounts).
    """

    base_url: str | None = None
    base_url_env: str | None = None
    key_env: tuple[str, ...] = ()
    lists_key_formats: tuple[str, ...] = ()
    account_kinds: tuple[str, ...] = ()
    console_url: str | None = None


@dataclass
class Provider:
    id: str
    name: str
    kind: str
    hostnames: list[str]
    host_patterns: list[str]
    keys: list[KeyFormat]
    env_keys: list[str]
    env_endpoints: list[str]
    env_other: list[str]
    packages: dict[str, list[str]]
    models: list[str]
    billing: dict[str, Any]
    ports: list[int]
    ip_ranges: list[str]
    paths: list[str]
    process_names: list[str]
    cmdline_patterns: list[str]
    admin_api: AdminApi | None
    client_names: list[str] = field(default_factory=list)  # boto3.client("bedrock-runtime")
    auth_headers: list[str] = field(default_factory=list)  # lower-case request headers that carry the key
    client_modules: list[str] = field(default_factory=list)  # Python modules whose client() takes client_names
    key_arguments: list[str] = field(default_factory=list)  # SDK keyword arguments that take the key
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class BillingRule:
    """One provider's billing match rule for one cloud (see ``BILLING_FIELDS``)."""

    provider: str
    cloud: str
    services: tuple[str, ...]
    scoped_services: tuple[str, ...]
    item_patterns: tuple[str, ...]
    all_items: tuple[str, ...]  # Azure meter subcategories whose lines all count
    model_patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class ExportSchema:
    """Column candidates of one billing export format, per logical field (``EXPORT_FIELDS``)."""

    id: str
    cloud: str
    name: str
    columns: dict[str, tuple[str, ...]]
    line_types: tuple[str, ...] = ()  # keep only these line types (when the export has the column)


@dataclass
class Framework:
    id: str
    name: str
    packages: dict[str, list[str]]
    imports: dict[str, list[str]]
    providers: list[str]
    calls_llm: bool = False  # using what it exports calls a model
    client_imports: dict[str, list[str]] = field(default_factory=dict)  # only these modules' names do
    server_imports: dict[str, list[str]] = field(default_factory=dict)  # these names build an MCP server

    def calls_model(self, language: str, module: str) -> bool:
        """Does using a name imported from ``module`` call a model?"""
        return self.calls_llm or _under_any(module, self.client_imports.get(language, ()), language)

    def serves_mcp(self, language: str, module: str) -> bool:
        """Does using a name imported from ``module`` build an MCP server?"""
        return _under_any(module, self.server_imports.get(language, ()), language)


def _under_any(module: str, prefixes: Iterable[str], language: str) -> bool:
    """``module`` is one of ``prefixes`` or inside one (``a.b`` covers ``a.b.c``; JS ``x/`` covers ``x/y``)."""
    sep = "." if language == "python" else "/"
    return any(module == p or module.startswith(p if p.endswith(sep) else p + sep) for p in prefixes)


@dataclass
class AgentTool:
    id: str
    name: str
    kind: str
    executables: list[str]
    script_patterns: list[str]
    packages: dict[str, list[str]]
    providers: list[str]
    env_vars: list[str]
    # Variables the tool sets for every process it starts (CLAUDECODE=1): the process
    # detector reads them as "started by this tool" when the parent chain is not visible.
    child_env: list[str] = field(default_factory=list)
    # The interpreter family the tool's scripts run on ("python" | "node"; None: any or a native
    # binary): `node /usr/local/bin/mcp-server-x` is never the Python MCP server.
    runtime: str | None = None


@dataclass(frozen=True)
class AgentFile:
    """A repository file that configures, lists MCP servers for, or instructs coding agents."""

    match: str  # a file name, or a path tail when it holds '/'; '*' matches within one segment
    roles: tuple[str, ...]
    tool: str | None = None
    provider: str | None = None

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return re.compile("(?:^|/)" + "[^/]*".join(re.escape(p) for p in self.match.split("*")) + r"\Z")

    @cached_property
    def _literal(self) -> str:
        return max(self.match.split("*"), key=len)

    def matches(self, rel: str) -> bool:
        """Does the repository-relative posix path ``rel`` name this file?"""
        return self._literal in rel and bool(self._regex.search(rel))


@dataclass(frozen=True)
class EnvVar:
    """What a catalogue env var name means: whose it is and whether its value is a secret."""

    name: str
    provider: str
    role: str  # "key" | "endpoint" | "other"


def _check_fields(entry: Any, spec: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected a mapping, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(spec))
    if unknown:
        raise InputError(f"{where}: unknown field '{unknown[0]}' (known: {', '.join(spec)})")
    missing = sorted(_REQUIRED & set(spec) - set(entry))
    if missing:
        raise InputError(f"{where}: missing required field '{missing[0]}'")
    for name, typ in spec.items():
        if name in entry and entry[name] is not None and not isinstance(entry[name], typ):
            want = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
            raise InputError(f"{where}: field '{name}' must be {want}")
    return entry


def _examples(key: dict[str, Any], regex: re.Pattern[str] | None, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A key format's ``examples`` (each must be a whole match of its regex) and ``non_examples``.

    Each value is a string or a list of pieces joined here: the built-in catalogue writes them in
    pieces of at most 8 characters, because the repo detector reads that file like any other and
    this project's own checkout must hold no key-shaped string.
    """
    out = []
    for field_name in ("examples", "non_examples"):
        values = [v if isinstance(v, str) else "".join(v) if isinstance(v, list)
                  and all(isinstance(p, str) for p in v) else None for v in key.get(field_name) or []]
        if not all(isinstance(v, str) and v for v in values):
            raise InputError(f"{where}: {field_name} must be a list of non-empty strings (or lists of pieces)")
        out.append(tuple(values))  # type: ignore[arg-type]
    for i, example in enumerate(out[0] if regex is not None else ()):
        if not regex.fullmatch(example):  # the value itself is not echoed: it could be a real key
            raise InputError(f"{where}: examples[{i}] does not match the format's regex")
    return out[0], out[1]


def _published(key: dict[str, Any], where: str) -> frozenset[str]:
    """``published_examples: [{sha256: <64 hex>, source: <where it is published>}]`` of a key format."""
    out = set()
    for i, entry in enumerate(key.get("published_examples") or []):
        e = _check_fields(entry, {"sha256": str, "source": str}, f"{where}: published_examples[{i}]")
        if not re.fullmatch(r"[0-9a-f]{64}", e.get("sha256", "")) or not e.get("source"):
            raise InputError(f"{where}: published_examples[{i}] needs a sha256 (64 hex) and a source")
        out.add(e["sha256"])
    return frozenset(out)


def _strings(value: Any, where: str) -> list[str]:
    """A list of non-empty strings (None is an empty list)."""
    items = list(value or [])
    if not all(isinstance(v, str) and v for v in items):
        raise InputError(f"{where}: every entry must be a non-empty string")
    return items


def _compile(pattern: str, where: str, flags: int = 0) -> re.Pattern[str] | None:
    """``pattern`` compiled, or an error naming ``where``; None when the catalogue is one already
    checked (``_VERIFIED``): then the regexes a lookup needs are compiled when first used."""
    if getattr(_VERIFIED, "on", False):
        return None
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise InputError(f"{where}: invalid regex {pattern!r}: {exc}") from None


# ---- the values of an entry (a ``--catalog`` file is outside input: every mistake is named) ----

_PATTERN_LISTS = {"provider": ("models", "cmdline_patterns")}
_STRING_LISTS = {
    "provider": ("hostnames", "host_patterns", "ip_ranges", "paths", "process_names", "client_names"),
    "framework": ("providers",),
    "tool": ("executables", "script_patterns", "providers", "env_vars", "child_env"),
}
_LIST_MAPS = {"provider": ("packages", "env_vars"), "framework": ("packages", "imports"), "tool": ("packages",)}
_ENV_ROLES = ("keys", "endpoints", "other")
# Strings a pattern is tried on: one that matches nothing in them (an empty match) would match
# everywhere — and a key format that does makes redaction cut every message into pieces.
_EMPTY_PROBES = ("", "x", "sk-Ab1_ key=\"v\" /x.y\n\t")
_BACKREF = re.compile(r"(?<!\\)(?:\\\\)*\\(?:[1-9]|g<)|\(\?P=")


def check_pattern(pattern: Any, where: str) -> re.Pattern[str] | None:
    """A catalogue regex that can be embedded in the larger patterns the detectors build (model
    names between word boundaries, one alternation of every key format): no global inline flag
    (``(?i)``; a scoped ``(?i:…)`` is fine), no named group or back-reference (the alternation
    names its own groups and numbers them anew), and no empty match. None, unchecked, for a
    catalogue rebuilt from the cache (``_compile``): its files passed these checks when it was written."""
    regex = _compile(_string(pattern, where), where)
    if regex is None:
        return None
    if regex.groupindex:
        raise InputError(f"{where}: regex {pattern!r} has a named group ({sorted(regex.groupindex)[0]}); "
                         "use (?:...)")
    if _BACKREF.search(pattern):
        raise InputError(f"{where}: regex {pattern!r} has a back-reference")
    try:
        re.compile(f"(?P<embedded>{pattern})|x")
    except re.error as exc:
        hint = "; write a flag for part of it, as (?i:...)" if "flags" in str(exc) else ""
        raise InputError(f"{where}: regex {pattern!r} cannot be embedded in a larger pattern ({exc}){hint}") from None
    if any(m.start() == m.end() for probe in _EMPTY_PROBES for m in regex.finditer(probe)):
        raise InputError(f"{where}: regex {pattern!r} matches the empty string")
    return regex


def check_values(e: dict[str, Any], kind: str, where: str) -> None:
    """The values of a provider, framework or tool entry (whose field types ``_check_fields`` checked):
    lists of non-empty strings, mappings of lists, ports, address ranges and regexes each detector
    can use as they are, so that a mistake is a load error naming the entry, not a detector's
    failure (or worse, a pattern that matches everything) during the scan."""
    for name in _STRING_LISTS.get(kind, ()) + _PATTERN_LISTS.get(kind, ()):
        if name in e and not (kind == "provider" and name == "env_vars"):
            _strings(e[name], f"{where}: {name}")
    for name in _LIST_MAPS.get(kind, ()):
        if not isinstance(e.get(name), dict):
            continue
        for sub, values in e[name].items():
            if kind == "provider" and name == "env_vars" and sub not in _ENV_ROLES:
                raise InputError(f"{where}: env_vars: unknown role {sub!r} (known: {', '.join(_ENV_ROLES)})")
            if values is not None and not isinstance(values, list):
                raise InputError(f"{where}: {name}.{sub} must be a list")
            _strings(values, f"{where}: {name}.{sub}")
    for name in _PATTERN_LISTS.get(kind, ()):
        for i, pattern in enumerate(e.get(name) or []):
            check_pattern(pattern, f"{where}: {name}[{i}]")
    for i, port in enumerate(e.get("ports") or [] if kind == "provider" else []):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InputError(f"{where}: ports[{i}]: expected a port number 1-65535, got {port!r}")
    for i, net in enumerate(e.get("ip_ranges") or [] if kind == "provider" else []):
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise InputError(f"{where}: ip_ranges[{i}]: {net!r} is not an address range") from None


def _admin_api(value: Any, keys: list[KeyFormat], env_keys: list[str], where: str) -> AdminApi | None:
    """``admin_api:`` checked against the provider's own key formats and key env vars.

    A plain string (older catalogues) is the base URL alone.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = {"base_url": value}
    e = _check_fields(value, _ADMIN_API_FIELDS, where)
    base = e.get("base_url")
    if base is not None and not re.match(r"https?://[^/\s]+", base):
        raise InputError(f"{where}: base_url must be an http(s) URL, got {base!r}")
    for name in e.get("key_env") or []:
        if name not in env_keys:
            raise InputError(f"{where}: key_env '{name}' is not in this provider's env_vars.keys")
    known = {k.id for k in keys}
    for fmt in e.get("lists_key_formats") or []:
        if fmt not in known:
            raise InputError(f"{where}: lists_key_formats '{fmt}' is not one of this provider's keys "
                             f"({', '.join(sorted(known)) or 'none'})")
    for field_name in ("key_env", "lists_key_formats", "account_kinds"):
        if not all(isinstance(v, str) and v for v in e.get(field_name) or []):
            raise InputError(f"{where}: {field_name} must be a list of non-empty strings")
    return AdminApi(base, e.get("base_url_env"), tuple(e.get("key_env") or ()),
                    tuple(e.get("lists_key_formats") or ()), tuple(e.get("account_kinds") or ()),
                    e.get("console_url"))

def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _check_billing(billing: dict[str, Any], where: str) -> None:
    for cloud, block in billing.items():
        if cloud not in BILLING_FIELDS:
            raise InputError(f"{where}: unknown cloud '{cloud}' (known: {', '.join(BILLING_FIELDS)})")
        if not isinstance(block, dict):
            raise InputError(f"{where}.{cloud}: expected a mapping")
        for name, values in block.items():
            if name not in BILLING_FIELDS[cloud]:
                raise InputError(f"{where}.{cloud}: unknown field '{name}' (known: {', '.join(sorted(BILLING_FIELDS[cloud]))})")
            if not isinstance(values, list):
                raise InputError(f"{where}.{cloud}.{name}: expected a list")
            for v in values:
                _string(v, f"{where}.{cloud}.{name}")
                if name == "model_patterns":
                    _compile(v, f"{where}.{cloud}.{name}")
                    if "(?P<model>" not in v:
                        raise InputError(f"{where}.{cloud}.{name}: {v!r} needs a (?P<model>...) group")
                if name == "account_host_patterns" and not v.startswith("*."):
                    raise InputError(f"{where}.{cloud}.{name}: {v!r} must start with '*.' (the account name label)")


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A billing glob (``*`` = any run of characters, nothing else special), case-insensitive, whole string."""
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.IGNORECASE | re.DOTALL)


def host_pattern_regex(pattern: str) -> str:
    """``*.openai.azure.com`` → regex where ``*`` is one or more DNS labels."""
    parts = [re.escape(p) for p in pattern.lower().split("*")]
    return r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*".join(parts)


class Catalog:
    """Parsed, validated catalogue with the lookups detectors need, compiled once."""

    def __init__(self, providers: Sequence[Provider], frameworks: Sequence[Framework], tools: Sequence[AgentTool],
                 agent_files: Sequence[AgentFile] = (), mcp_server_keys: Sequence[str] = (),
                 llm_api_paths: Sequence[str] = (), ci_actions: dict[str, str] | None = None,
                 billing: dict[str, Any] | None = None):
        self.providers = {p.id: p for p in providers}
        self.frameworks = {f.id: f for f in frameworks}
        self.tools = {t.id: t for t in tools}
        self.agent_files = list(agent_files)
        self.mcp_server_keys = tuple(mcp_server_keys)
        self.llm_api_paths = tuple(llm_api_paths)
        self.ci_actions = dict(ci_actions or {})  # GitHub Actions `uses:` name -> agent_tools id it runs
        billing = billing or {}
        self.billing_exports: dict[str, ExportSchema] = billing.get("exports", {})
        self.owner_tags: tuple[str, ...] = tuple(billing.get("owner_tags", ()))

    # ---- loading -----------------------------------------------------------------

    @classmethod
    def load(cls, extra: Iterable[str | Path] = ()) -> "Catalog":
        """The built-in catalogue plus ``extra`` files, validated and compiled.

        Built once per process for the same file contents (every caller shares it: read-only),
        and the parsed YAML is kept in the user cache (:mod:`scanner.cache`), keyed by the
        files' contents and the tool's version; a cached value goes through the same
        validation as the YAML it stands for.
        """
        text = BUILTIN.read_text(encoding="utf-8")
        docs = [("providers.yaml", text)]
        for path in extra:
            try:
                docs.append((str(path), Path(path).read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read catalogue {path}: {exc}") from None
        from scanner import __version__, cache
        name = cache.key("catalog", __version__, [doc for _, doc in docs])
        with _LOADED_LOCK:
            if name in _LOADED:
                return _LOADED[name]
        parsed = cache.read(name)
        catalog = None
        if isinstance(parsed, list) and len(parsed) == len(docs):
            _VERIFIED.on = True
            try:
                catalog = cls._build([(n, cls._top_level(n, data)) for (n, _), data in zip(docs, parsed)])
            except (InputError, TypeError, ValueError, AttributeError, KeyError):  # not what was written: rebuild
                catalog = None
            finally:
                _VERIFIED.on = False
        if catalog is None:
            parsed = [cls._parse(n, doc) for n, doc in docs]
            catalog = cls._build(list(zip((n for n, _ in docs), parsed)))
            if json.loads(json.dumps(parsed)) == parsed:  # only plain data round-trips
                cache.write(name, parsed)
        with _LOADED_LOCK:
            return _LOADED.setdefault(name, catalog)

    @classmethod
    def _build(cls, docs: list[tuple[str, dict[str, Any]]]) -> "Catalog":
        providers: dict[str, Provider] = {}
        frameworks: dict[str, Framework] = {}
        tools: dict[str, AgentTool] = {}
        billing: dict[str, Any] = {"exports": {}, "owner_tags": []}
        agent_files: dict[str, AgentFile] = {}
        server_keys: list[str] = []
        api_paths: list[str] = []
        ci_actions: dict[str, str] = {}
        for name, data in docs:
            for i, entry in enumerate(data.get("ci_actions") or []):
                e = _check_fields(entry, {"uses": str, "tool": str}, f"{name}: ci_actions[{i}]")
                if not e.get("uses") or not e.get("tool"):
                    raise InputError(f"{name}: ci_actions[{i}]: needs 'uses' and 'tool'")
                ci_actions[e["uses"]] = e["tool"]
            paths = _strings(data.get("llm_api_paths"), f"{name}: llm_api_paths")
            if any(not p.startswith("/") for p in paths):
                raise InputError(f"{name}: llm_api_paths: every path must start with '/'")
            api_paths += [p for p in paths if p not in api_paths]
            for i, entry in enumerate(data.get("providers") or []):
                p = cls._provider(entry, f"{name}: providers[{i}]")
                providers[p.id] = p
            for i, entry in enumerate(data.get("frameworks") or []):
                f = cls._framework(entry, f"{name}: frameworks[{i}]")
                frameworks[f.id] = f
            for i, entry in enumerate(data.get("agent_tools") or []):
                t = cls._tool(entry, f"{name}: agent_tools[{i}]")
                tools[t.id] = t
            if data.get("billing_exports") is not None:
                cls._billing_exports(data["billing_exports"], f"{name}: billing_exports", billing)
            if data.get("agent_files") is not None:
                keys, files = cls._agent_files(data["agent_files"], f"{name}: agent_files")
                server_keys = keys or server_keys
                for f in files:  # an entry with the same match replaces the earlier one
                    agent_files[f.match] = f
        for uses, tool in ci_actions.items():
            if tool not in tools:
                raise InputError(f"ci_actions ({uses}): unknown tool '{tool}' (not an agent_tools id)")
        for where, f in agent_files.items():
            if f.tool is not None and f.tool not in tools:
                raise InputError(f"agent_files ({where}): unknown tool '{f.tool}' (not an agent_tools id)")
            if f.provider is not None and f.provider not in providers:
                raise InputError(f"agent_files ({where}): unknown provider '{f.provider}'")
        return cls(list(providers.values()), list(frameworks.values()), list(tools.values()),
                   list(agent_files.values()), server_keys, api_paths, ci_actions, billing)

    @classmethod
    def _parse(cls, name: str, text: str) -> dict[str, Any]:
        import yaml  # here: a cached catalogue needs no YAML
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~10x faster
        try:
            data = yaml.load(text, Loader=loader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark else ""
            problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]  # not the reader's "in <string>"
            raise InputError(f"{name}:{line} invalid YAML: {problem}") from None
        return cls._top_level(name, data)

    @staticmethod
    def _top_level(name: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise InputError(f"{name}: expected a mapping with 'providers', 'frameworks' or 'agent_tools'")
        unknown = set(data) - {"schema_version", "providers", "frameworks", "agent_tools", "agent_files", "llm_api_paths",
                               "ci_actions", "billing_exports"}
        if unknown:
            raise InputError(f"{name}: unknown top-level field '{sorted(unknown)[0]}'")
        return data

    @staticmethod
    def _provider(entry: Any, where: str) -> Provider:
        e = _check_fields(entry, _PROVIDER_FIELDS, where)
        pid = e["id"]
        where = f"{where} ({pid})"
        check_values(e, "provider", where)
        kind = e.get("kind", "provider")
        if kind not in PROVIDER_KINDS:
            raise InputError(f"{where}: kind must be one of {', '.join(PROVIDER_KINDS)}")
        keys = []
        for j, k in enumerate(e.get("keys") or []):
            k = _check_fields(k, _KEY_FIELDS, f"{where}: keys[{j}]")
            if "regex" not in k:
                raise InputError(f"{where}: keys[{j}]: missing required field 'regex'")
            regex = check_pattern(k["regex"], f"{where}: keys[{j}] ({k['id']})")
            examples, non_examples = _examples(k, regex, f"{where}: keys[{j}] ({k['id']})")
            keys.append(KeyFormat(
                id=k["id"], provider=pid, label=k.get("label", k["id"]),
                pattern=k["regex"],
                prefixes=tuple(k.get("prefixes") or ()), admin=bool(k.get("admin", False)),
                context_only=bool(k.get("context_only", False)), console_url=k.get("console_url"),
                requires_usage=bool(k.get("requires_usage", False)),
                examples=examples, non_examples=non_examples,
                published=_published(k, f"{where}: keys[{j}] ({k['id']})"),
            ))
        env = e.get("env_vars") or {}
        _check_billing(e.get("billing") or {}, f"{where}: billing")
        for pat in e.get("models") or []:
            _compile(pat, f"{where}: models")
        for pat in e.get("cmdline_patterns") or []:
            _compile(pat, f"{where}: cmdline_patterns")
        return Provider(
            id=pid, name=e["name"], kind=kind,
            hostnames=[h.lower() for h in e.get("hostnames") or []],
            host_patterns=[h.lower() for h in e.get("host_patterns") or []],
            keys=keys,
            env_keys=list(env.get("keys") or []), env_endpoints=list(env.get("endpoints") or []),
            env_other=list(env.get("other") or []),
            packages={lang: list(v or []) for lang, v in (e.get("packages") or {}).items()},
            models=list(e.get("models") or []), billing=dict(e.get("billing") or {}),
            ports=[int(p) for p in e.get("ports") or []], ip_ranges=list(e.get("ip_ranges") or []),
            paths=list(e.get("paths") or []), process_names=list(e.get("process_names") or []),
            cmdline_patterns=list(e.get("cmdline_patterns") or []),
            admin_api=_admin_api(e.get("admin_api"), keys, list(env.get("keys") or []), f"{where}: admin_api"),
            client_names=list(e.get("client_names") or []),
            client_modules=_strings(e.get("client_modules"), f"{where}: client_modules"),
            auth_headers=[str(h).lower() for h in _strings(e.get("auth_headers"), f"{where}: auth_headers")],
            key_arguments=_strings(e.get("key_arguments"), f"{where}: key_arguments"), raw=e,
        )

    @staticmethod
    def _billing_exports(data: Any, where: str, into: dict[str, Any]) -> None:
        """``billing_exports: {owner_tags: [...], schemas: [{id, cloud, name, columns, line_types}]}``."""
        e = _check_fields(data, {"owner_tags": list, "schemas": list}, where)
        if "owner_tags" in e:
            into["owner_tags"] = [_string(t, f"{where}: owner_tags") for t in e["owner_tags"]]
        for i, s in enumerate(e.get("schemas") or []):
            at = f"{where}: schemas[{i}]"
            s = _check_fields(s, {"id": str, "cloud": str, "name": str, "columns": dict, "line_types": list}, at)
            if s.get("cloud") not in BILLING_FIELDS:
                raise InputError(f"{at}: cloud must be one of {', '.join(BILLING_FIELDS)}")
            columns: dict[str, tuple[str, ...]] = {}
            for field_name, candidates in (s.get("columns") or {}).items():
                if field_name not in EXPORT_FIELDS:
                    raise InputError(f"{at}: unknown column field '{field_name}' (known: {', '.join(EXPORT_FIELDS)})")
                if not isinstance(candidates, list) or not candidates:
                    raise InputError(f"{at}: columns.{field_name} must be a non-empty list of column names")
                columns[field_name] = tuple(_string(c, f"{at}: columns.{field_name}") for c in candidates)
            for required in ("account", "service", "cost"):
                if required not in columns:
                    raise InputError(f"{at}: columns.{required} is required")
            into["exports"][s["id"]] = ExportSchema(
                s["id"], s["cloud"], s["name"], columns,
                tuple(_string(t, f"{at}: line_types") for t in s.get("line_types") or ()))

    @staticmethod
    def _framework(entry: Any, where: str) -> Framework:
        e = _check_fields(entry, _FRAMEWORK_FIELDS, where)
        check_values(e, "framework", f"{where} ({e['id']})")
        return Framework(
            id=e["id"], name=e["name"],
            packages={k: list(v or []) for k, v in (e.get("packages") or {}).items()},
            imports={k: list(v or []) for k, v in (e.get("imports") or {}).items()},
            providers=list(e.get("providers") or []),
            calls_llm=bool(e.get("calls_llm", False)),
            client_imports={k: _strings(v, f"{where}: client_imports.{k}")
                            for k, v in (e.get("client_imports") or {}).items()},
            server_imports={k: _strings(v, f"{where}: server_imports.{k}")
                            for k, v in (e.get("server_imports") or {}).items()},
        )

    @staticmethod
    def _tool(entry: Any, where: str) -> AgentTool:
        e = _check_fields(entry, _TOOL_FIELDS, where)
        check_values(e, "tool", f"{where} ({e['id']})")
        if e.get("kind", "coding-agent") not in TOOL_KINDS:
            raise InputError(f"{where}: kind must be one of {', '.join(TOOL_KINDS)}")
        if e.get("runtime") not in (None, *TOOL_RUNTIMES):
            raise InputError(f"{where}: runtime must be one of {', '.join(TOOL_RUNTIMES)}")
        return AgentTool(
            id=e["id"], name=e["name"], kind=e.get("kind", "coding-agent"),
            executables=list(e.get("executables") or []), script_patterns=list(e.get("script_patterns") or []),
            packages={k: list(v or []) for k, v in (e.get("packages") or {}).items()},
            providers=list(e.get("providers") or []), env_vars=list(e.get("env_vars") or []),
            child_env=list(e.get("child_env") or []), runtime=e.get("runtime"),
        )

    @staticmethod
    def _agent_files(entry: Any, where: str) -> tuple[list[str], list[AgentFile]]:
        e = _check_fields(entry, _AGENT_FILES_FIELDS, where)
        keys = _strings(e.get("mcp_server_keys"), f"{where}: mcp_server_keys")
        files = []
        for i, f in enumerate(e.get("files") or []):
            at = f"{where}: files[{i}]"
            f = _check_fields(f, _AGENT_FILE_FIELDS, at)
            if not f.get("match"):
                raise InputError(f"{at}: missing required field 'match'")
            roles = _strings(f.get("roles"), f"{at}: roles")
            bad = sorted(set(roles) - set(AGENT_FILE_ROLES))
            if not roles or bad:
                raise InputError(f"{at}: roles must be some of {', '.join(AGENT_FILE_ROLES)}")
            files.append(AgentFile(f["match"], tuple(roles), f.get("tool"), f.get("provider")))
        return keys, files

    # ---- lookups -------------------------------------------------------------------

    @cached_property
    def billing_rules(self) -> dict[str, list[BillingRule]]:
        """cloud → the providers' billing rules, in catalogue order (the first match wins)."""
        out: dict[str, list[BillingRule]] = {c: [] for c in BILLING_FIELDS}
        for p in self.providers.values():
            for cloud, b in p.billing.items():
                services = b.get("services", []) + b.get("service_names", [])
                scoped = b.get("scoped_services", []) + b.get("meter_categories", [])
                items = b.get("usage_type_patterns", []) + b.get("meter_patterns", []) + b.get("sku_patterns", [])
                models = tuple(re.compile(m) for m in b.get("model_patterns", []))
                rule = BillingRule(p.id, cloud, tuple(services), tuple(scoped), tuple(items),
                                   tuple(b.get("meter_subcategories", [])), models)
                if rule.services or rule.scoped_services or rule.all_items:
                    out[cloud].append(rule)
        return out

    @cached_property
    def _azure_account_suffixes(self) -> tuple[str, ...]:
        return tuple(pat[1:].lower() for p in self.providers.values()
                     for pat in (p.billing.get("azure") or {}).get("account_host_patterns", []))

    def azure_account_for_host(self, hostname: str) -> str | None:
        """``myaoai`` for ``myaoai.openai.azure.com`` (and the catalogue's other account hostnames), else None."""
        h = hostname.lower().rstrip(".")
        for suffix in self._azure_account_suffixes:
            if h.endswith(suffix):
                name = h[: -len(suffix)]
                if name and re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?", name):
                    return name
        return None

    @cached_property
    def key_formats(self) -> list[KeyFormat]:
        """All key formats, longest prefix first so specific shapes win over generic ones."""
        keys = [k for p in self.providers.values() for k in p.keys]
        return sorted(keys, key=lambda k: (-max((len(x) for x in k.prefixes), default=0), k.id))

    @cached_property
    def console_urls(self) -> dict[str, set[str]]:
        """The console URLs given for each key format id (where a key of that format is rotated)."""
        urls: dict[str, set[str]] = {}
        for fmt in self.key_formats:
            if fmt.console_url:
                urls.setdefault(fmt.id, set()).add(fmt.console_url)
        return urls

    @cached_property
    def key_regex_source(self) -> str:
        """The text of :attr:`key_regex` (known without compiling it)."""
        alts = [f"(?P<k{i}>{k.pattern})" for i, k in enumerate(self.key_formats) if not k.context_only]
        return "|".join(alts) if alts else r"(?!x)x"

    @cached_property
    def key_regex(self) -> re.Pattern[str]:
        """One alternation of every self-identifying key format; ``lastgroup`` names the format."""
        return re.compile(self.key_regex_source)

    @cached_property
    def _key_prefixes(self) -> tuple[str, ...] | None:
        """Every literal a self-identifying key starts with, or None when some format has none."""
        formats = [k for k in self.key_formats if not k.context_only]
        if any(not k.prefixes for k in formats):
            return None
        return tuple(sorted({p for k in formats for p in k.prefixes}))

    def may_hold_key(self, text: str) -> bool:
        """Can ``key_regex`` match anywhere in ``text``? A substring check for the key prefixes,
        far cheaper than the alternation (always True when some format has no prefix)."""
        prefixes = self._key_prefixes
        return prefixes is None or any(p in text for p in prefixes)

    def search_key(self, text: str) -> re.Match[str] | None:
        """``key_regex.search(text)``, compiled only once some text holds one of the key prefixes: a
        short command that sees no key-shaped value (most environments) never pays for compiling it."""
        return self.key_regex.search(text) if self.may_hold_key(text) else None

    @cached_property
    def _usage_gated(self) -> frozenset[str]:
        return frozenset(k.id for k in self.key_formats if k.requires_usage)

    def requires_usage(self, key_type: str | None) -> bool:
        """Is a key of this type reported only next to its provider's use (see ``KeyFormat``)?"""
        return key_type in self._usage_gated

    def key_format_of_match(self, m: re.Match[str]) -> KeyFormat:
        return self.key_formats[int(m.lastgroup[1:])]  # type: ignore[index]

    def classify_secret(self, value: str, provider: str | None = None) -> KeyFormat | None:
        """The key format ``value`` has in full, preferring ``provider``'s own formats."""
        candidates = self.key_formats
        if provider:
            candidates = sorted(candidates, key=lambda k: k.provider != provider)
        for k in candidates:
            if k.context_only and k.provider != provider:
                continue
            if k.regex.fullmatch(value):
                return k
        return None

    @cached_property
    def env_vars(self) -> dict[str, EnvVar]:
        out: dict[str, EnvVar] = {}
        for p in self.providers.values():
            for role, names in (("key", p.env_keys), ("endpoint", p.env_endpoints), ("other", p.env_other)):
                for name in names:
                    out.setdefault(name, EnvVar(name, p.id, role))
        return out

    @cached_property
    def auth_headers(self) -> tuple[str, ...]:
        """Every request header that carries a provider key (lower case, sorted)."""
        return tuple(sorted({h for p in self.providers.values() for h in p.auth_headers}))

    @cached_property
    def key_arguments(self) -> tuple[str, ...]:
        """SDK keyword arguments, beyond the usual ``api_key``, that take a provider key."""
        return tuple(sorted({a for p in self.providers.values() for a in p.key_arguments}))

    def is_llm_api_path(self, path: str) -> bool:
        """Does a URL path ask a model for output (``/v1/chat/completions``, ``/api/generate``, …)?"""
        return any(path == p or path.startswith(p + "/") or path.endswith(p) for p in self.llm_api_paths)

    def agent_files_for(self, rel: str) -> list[AgentFile]:
        """The ``agent_files`` entries that name the repository path ``rel``."""
        by_name, globbed = self._agent_file_index
        base = rel.rsplit("/", 1)[-1]
        return [f for f in by_name.get(base, []) + globbed if f.matches(rel)]

    @cached_property
    def _agent_file_index(self) -> tuple[dict[str, list[AgentFile]], list[AgentFile]]:
        """Entries by their file name (checked first: every scanned file asks), and those with a glob in it."""
        by_name: dict[str, list[AgentFile]] = {}
        globbed = []
        for f in self.agent_files:
            last = f.match.rsplit("/", 1)[-1]
            if "*" in last:
                globbed.append(f)
            else:
                by_name.setdefault(last, []).append(f)
        return by_name, globbed

    @cached_property
    def _host_exact(self) -> dict[str, str]:
        return {h: p.id for p in self.providers.values() for h in p.hostnames}

    @cached_property
    def _host_patterns(self) -> list[tuple[re.Pattern[str], str]]:
        return [(re.compile(host_pattern_regex(pat)), p.id)
                for p in self.providers.values() for pat in p.host_patterns]

    def provider_for_host(self, hostname: str) -> str | None:
        """Provider id for an API hostname (exact, then patterns), or None."""
        h = hostname.lower().rstrip(".")
        if h in self._host_exact:
            return self._host_exact[h]
        for rx, pid in self._host_patterns:
            if rx.fullmatch(h):
                return pid
        return None

    @cached_property
    def _port_providers(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for p in self.providers.values():
            for port in p.ports:
                out.setdefault(port, []).append(p.id)
        return out

    def providers_for_port(self, port: int) -> list[str]:
        return self._port_providers.get(port, [])

    @cached_property
    def _model_regexes(self) -> list[tuple[re.Pattern[str], str]]:
        return [(re.compile(rf"(?<![\w.-])(?:{pat})(?![\w.-])"), p.id)
                for p in self.providers.values() for pat in p.models]

    def provider_for_model(self, model: str) -> str | None:
        for rx, pid in self._model_regexes:
            if rx.fullmatch(model):
                return pid
        return None

    @cached_property
    def _ip_networks(self) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
        return [(ipaddress.ip_network(r, strict=False), p.id) for p in self.providers.values() for r in p.ip_ranges]

    def provider_for_address(self, address: str | bytes) -> tuple[str, str] | None:
        """(provider id, published range) holding an IP address (text or packed bytes), or None.

        IPv4-mapped IPv6 addresses are looked up as IPv4.
        """
        if not self._ip_networks:
            return None
        try:
            addr = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
        except ValueError:
            return None
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        for net, pid in self._ip_networks:
            if addr.version == net.version and addr in net:
                return pid, str(net)
        return None
