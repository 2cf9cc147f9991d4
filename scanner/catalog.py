"""The provider catalogue: the one list of hostnames, key formats, env vars and packages.

``scanner/data/providers.yaml`` ships with the tool; ``--catalog FILE`` adds or
replaces entries (same schema, matched by ``id``). Every detector asks this
module, so a new provider is one YAML entry, never a code change.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from scanner.errors import InputError

try:  # the C loader is ~10x faster; fall back when PyYAML was built without libyaml
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

PROVIDER_KINDS = ("provider", "cloud", "gateway", "observability", "local")
TOOL_KINDS = ("coding-agent", "agent-runner", "mcp-server")

_PROVIDER_FIELDS = {
    "id": str, "name": str, "kind": str, "hostnames": list, "host_patterns": list, "keys": list,
    "env_vars": dict, "packages": dict, "models": list, "billing": dict, "ports": list,
    "ip_ranges": list, "paths": list, "process_names": list, "cmdline_patterns": list,
    "admin_api": (str, dict, type(None)), "client_names": list,
}
# ``admin_api:`` of a provider: where its organisation admin API is and what it lists.
_ADMIN_API_FIELDS = {
    "base_url": (str, type(None)), "base_url_env": (str, type(None)), "key_env": list,
    "lists_key_formats": list, "account_kinds": list, "console_url": (str, type(None)),
}
_KEY_FIELDS = {
    "id": str, "label": str, "regex": str, "prefixes": list, "admin": bool,
    "context_only": bool, "console_url": (str, type(None)), "requires_usage": bool,
}
_FRAMEWORK_FIELDS = {"id": str, "name": str, "packages": dict, "imports": dict, "providers": list}
_TOOL_FIELDS = {
    "id": str, "name": str, "kind": str, "executables": list, "script_patterns": list,
    "packages": dict, "providers": list, "env_vars": list,
}
_REQUIRED = {"id", "name"}


@dataclass(frozen=True)
class KeyFormat:
    id: str
    provider: str
    label: str
    regex: re.Pattern[str]
    prefixes: tuple[str, ...]
    admin: bool
    context_only: bool
    console_url: str | None
    # Not the provider's own key (an AWS access key next to Bedrock use): a detector reports it
    # only where the same unit — repository, environment, process — also shows this provider.
    requires_usage: bool = False


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
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class Framework:
    id: str
    name: str
    packages: dict[str, list[str]]
    imports: dict[str, list[str]]
    providers: list[str]


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


def _compile(pattern: str, where: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise InputError(f"{where}: invalid regex {pattern!r}: {exc}") from None


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


def host_pattern_regex(pattern: str) -> str:
    """``*.openai.azure.com`` → regex where ``*`` is one or more DNS labels."""
    parts = [re.escape(p) for p in pattern.lower().split("*")]
    return r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*".join(parts)


class Catalog:
    """Parsed, validated catalogue with the lookups detectors need, compiled once."""

    def __init__(self, providers: Sequence[Provider], frameworks: Sequence[Framework], tools: Sequence[AgentTool]):
        self.providers = {p.id: p for p in providers}
        self.frameworks = {f.id: f for f in frameworks}
        self.tools = {t.id: t for t in tools}

    # ---- loading -----------------------------------------------------------------

    @classmethod
    def load(cls, extra: Iterable[str | Path] = ()) -> "Catalog":
        text = resources.files("scanner.data").joinpath("providers.yaml").read_text(encoding="utf-8")
        docs = [("providers.yaml", text)]
        for path in extra:
            try:
                docs.append((str(path), Path(path).read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read catalogue {path}: {exc}") from None
        providers: dict[str, Provider] = {}
        frameworks: dict[str, Framework] = {}
        tools: dict[str, AgentTool] = {}
        for name, doc in docs:
            data = cls._parse(name, doc)
            for i, entry in enumerate(data.get("providers") or []):
                p = cls._provider(entry, f"{name}: providers[{i}]")
                providers[p.id] = p
            for i, entry in enumerate(data.get("frameworks") or []):
                f = cls._framework(entry, f"{name}: frameworks[{i}]")
                frameworks[f.id] = f
            for i, entry in enumerate(data.get("agent_tools") or []):
                t = cls._tool(entry, f"{name}: agent_tools[{i}]")
                tools[t.id] = t
        return cls(list(providers.values()), list(frameworks.values()), list(tools.values()))

    @staticmethod
    def _parse(name: str, text: str) -> dict[str, Any]:
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark else ""
            raise InputError(f"{name}:{line} invalid YAML: {getattr(exc, 'problem', exc)}") from None
        if not isinstance(data, dict):
            raise InputError(f"{name}: expected a mapping with 'providers', 'frameworks' or 'agent_tools'")
        unknown = set(data) - {"schema_version", "providers", "frameworks", "agent_tools"}
        if unknown:
            raise InputError(f"{name}: unknown top-level field '{sorted(unknown)[0]}'")
        return data

    @staticmethod
    def _provider(entry: Any, where: str) -> Provider:
        e = _check_fields(entry, _PROVIDER_FIELDS, where)
        pid = e["id"]
        where = f"{where} ({pid})"
        kind = e.get("kind", "provider")
        if kind not in PROVIDER_KINDS:
            raise InputError(f"{where}: kind must be one of {', '.join(PROVIDER_KINDS)}")
        keys = []
        for j, k in enumerate(e.get("keys") or []):
            k = _check_fields(k, _KEY_FIELDS, f"{where}: keys[{j}]")
            if "regex" not in k:
                raise InputError(f"{where}: keys[{j}]: missing required field 'regex'")
            keys.append(KeyFormat(
                id=k["id"], provider=pid, label=k.get("label", k["id"]),
                regex=_compile(k["regex"], f"{where}: keys[{j}]"),
                prefixes=tuple(k.get("prefixes") or ()), admin=bool(k.get("admin", False)),
                context_only=bool(k.get("context_only", False)), console_url=k.get("console_url"),
                requires_usage=bool(k.get("requires_usage", False)),
            ))
        env = e.get("env_vars") or {}
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
            client_names=list(e.get("client_names") or []), raw=e,
        )

    @staticmethod
    def _framework(entry: Any, where: str) -> Framework:
        e = _check_fields(entry, _FRAMEWORK_FIELDS, where)
        return Framework(
            id=e["id"], name=e["name"],
            packages={k: list(v or []) for k, v in (e.get("packages") or {}).items()},
            imports={k: list(v or []) for k, v in (e.get("imports") or {}).items()},
            providers=list(e.get("providers") or []),
        )

    @staticmethod
    def _tool(entry: Any, where: str) -> AgentTool:
        e = _check_fields(entry, _TOOL_FIELDS, where)
        if e.get("kind", "coding-agent") not in TOOL_KINDS:
            raise InputError(f"{where}: kind must be one of {', '.join(TOOL_KINDS)}")
        return AgentTool(
            id=e["id"], name=e["name"], kind=e.get("kind", "coding-agent"),
            executables=list(e.get("executables") or []), script_patterns=list(e.get("script_patterns") or []),
            packages={k: list(v or []) for k, v in (e.get("packages") or {}).items()},
            providers=list(e.get("providers") or []), env_vars=list(e.get("env_vars") or []),
        )

    # ---- lookups -------------------------------------------------------------------

    @cached_property
    def key_formats(self) -> list[KeyFormat]:
        """All key formats, longest prefix first so specific shapes win over generic ones."""
        keys = [k for p in self.providers.values() for k in p.keys]
        return sorted(keys, key=lambda k: (-max((len(x) for x in k.prefixes), default=0), k.id))

    @cached_property
    def key_regex(self) -> re.Pattern[str]:
        """One alternation of every self-identifying key format; ``lastgroup`` names the format."""
        alts = [f"(?P<k{i}>{k.regex.pattern})" for i, k in enumerate(self.key_formats) if not k.context_only]
        return re.compile("|".join(alts) if alts else r"(?!x)x")

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
