"""URLs in code and configuration that point at a model API.

Three ways a URL counts: its host is a catalogue API host; it is a local server's URL with
an LLM API path (``/v1/chat/completions``, ``/api/generate``, …) or in a file that calls an
LLM client; or it overrides an LLM client's base URL: given inside the client's call
(``OpenAI(base_url=…)``, ``new OpenAI({ baseURL })``), assigned to a variable passed to
one, or assigned to a catalogue endpoint variable (``OPENAI_BASE_URL=…``). A port alone,
or a ``base_url`` of anything else (a test client, another web API), is not LLM use.
In code, a URL that does not start a string literal is text (a UI message, a placeholder's
example, prose): an ``endpoint-mention``, which only describes.
"""

from __future__ import annotations

import re
from typing import Any

from detectors.repo.filetypes.base import CODE_EXT, FileView, Hit
from scanner import identity

LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]", "host.docker.internal"}
_URL = re.compile(rb"(https?|wss?)://(?:[^/@\s\"'<>]{1,100}@)?([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?(/[A-Za-z0-9._~/%-]*)?")
_BASE_URL_BEFORE = re.compile(rb"(?i)(?:base_?url|api_?base|endpoint|api_?host)[\"']?\s*(?:=|:|=>)\s*[\"'`]?\Z")
_HOST_AFTER_SCHEME = re.compile(rb"//(?:[^/@\s\"'<>]{1,100}@)?([A-Za-z0-9.\-]{1,253})")
# NAME = "…", NAME: "…", const NAME = "…", "NAME": "…", NAME=… (.env)
_ASSIGNED_TO = re.compile(rb"([A-Za-z_$][\w$]*)[\"']?\s*(?::=|=|:|=>)\s*[\"'`]?\Z")


def url_hosts(data: bytes) -> set[str]:
    """The host (lower case) of every ``scheme://host`` in ``data``."""
    out = set()
    pos = data.find(b"://")
    while pos >= 0:
        m = _HOST_AFTER_SCHEME.match(data, pos + 1)
        if m:
            out.add(m.group(1).decode("ascii").lower())
        pos = data.find(b"://", pos + 3)
    return out


def _starts_literal(data: bytes, pos: int) -> bool:
    """Is the URL at ``pos`` the start of a string literal (``"https://…``, ``f'https://…``, a Go raw string)?"""
    return pos > 0 and data[pos - 1] in b"\"'`"


def _openai_style(path: str) -> bool:
    """The OpenAI-compatible wire paths: distinctive on any host."""
    return "/v1/" in path or path.rstrip("/").endswith(("/chat/completions", "/v1/messages"))


def _after_operator(data: bytes, pos: int, lo: int) -> bool:
    """Does ``=``, ``:`` or ``>`` (then blanks and at most one quote) come right before ``pos``? Both
    ``_ASSIGNED_TO`` and ``_BASE_URL_BEFORE`` end so: without it neither can match."""
    i = pos - 1
    if i >= lo and data[i] in b"\"'`":
        i -= 1
    while i >= lo and data[i] in b" \t\n\r\f\v":
        i -= 1
    return i >= lo and data[i] in b"=:>"


def _url(m: re.Match[bytes], host: str, port: int | None, path: str) -> str:
    return f"{m.group(1).decode()}://{host}{f':{port}' if port else ''}{path}"


def applies(f: FileView) -> bool:
    return f.code_or_config or f.name in ("Dockerfile", "Makefile")


def scan(f: FileView) -> list[Hit]:
    rules, data = f.rules, f.data
    catalog = rules.catalog
    endpoint_vars = rules.endpoint_env_names
    out: dict[tuple[str, str], Hit] = {}
    api_paths: dict[str, bool] = {}
    for start, _ in f.anchors[3]:  # every "://", found with the key prefixes
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
        path = (m.group(4) or b"").decode()
        provider = rules.provider_for_host(host)
        local = host in LOCAL_HOSTS
        guess = provider  # the provider the code below settles on, known before the costly part
        if provider is None and local:
            on_port = catalog.providers_for_port(port or 0)
            guess = on_port[0] if len(on_port) == 1 else None
        key = (guess or "", _url(m, host, port, path))
        if key in out:  # the first place of a URL is the one reported: a repeated one costs no more
            continue
        before = max(0, m.start() - 80)
        given = _after_operator(data, m.start(), before)  # both patterns below end in one: a cheap test first
        if provider is None and not local and not given and not _openai_style(path):
            continue  # most URLs (documentation, other services): no override without an operator, see below
        if path not in api_paths:
            api_paths[path] = rules.llm_api_path(path.rstrip("/")) if path else False
        api_path = api_paths[path]
        in_client = f.client_calls.holds(m.start())
        assigned = _ASSIGNED_TO.search(data, before, m.start()) if given else None
        var = assigned.group(1) if assigned else None
        fed = var is not None and (var.decode("ascii", "replace").upper() in endpoint_vars or var in f.client_args)
        override = (in_client and given and bool(_BASE_URL_BEFORE.search(data, before, m.start()))) or fed
        candidates: list[str] = []
        if provider is None and local:
            candidates = catalog.providers_for_port(port or 0)
            if not ((api_path and candidates) or f.calls_llm or override):
                continue  # a local port alone says nothing: dev servers live on 3000, 5000, 8000, 8080
            provider = candidates[0] if len(candidates) == 1 else None
        elif provider is None and not (override or (api_path and _openai_style(path))):
            continue  # /api/chat on some host is as likely that app's own backend
        url = key[1]
        details: dict[str, Any] = {"host": host}
        if local:
            details["local"] = True
        if override:
            details["base_url_override"] = True
            if var is not None:
                details["variable"] = var.decode("ascii", "replace")
        if api_path:
            details["llm_api_path"] = True
        if local and provider is None and candidates:
            details["candidates"] = candidates
        label = ("base_url override " if override else "") + url
        mention = f.ext in CODE_EXT and not _starts_literal(data, m.start())
        out[key] = Hit("endpoint-mention" if mention else "endpoint", f.lines.of(m.start()), provider=provider,
                       confidence="high" if provider and (api_path or in_client) else "medium",
                       label=label, details=details, pos=m.start(), endpoint=url,
                       keys=tuple(identity.endpoint_keys(rules.catalog, host)))
    return list(out.values())
