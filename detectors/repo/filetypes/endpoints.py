"""URLs in code and configuration: catalogue API hosts, local model-server ports, ``base_url=`` overrides."""

from __future__ import annotations

import re
from typing import Any

from detectors.repo.filetypes.base import FileView, Hit, Lines
from detectors.repo.rules import Rules

LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]", "host.docker.internal"}
_URL = re.compile(rb"(https?|wss?)://(?:[^/@\s\"'<>]{1,100}@)?([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?(/[A-Za-z0-9._~/%-]*)?")
_BASE_URL_BEFORE = re.compile(rb"(?i)(?:base_?url|api_?base|endpoint|api_?host)[\"']?\s*(?:=|:|=>)\s*[\"'`]?\Z")


def applies(f: FileView) -> bool:
    return f.code_or_config or f.name in ("Dockerfile", "Makefile")


def scan(f: FileView) -> list[Hit]:
    return endpoints(f.rules, f.data, f.lines)


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
                       label=("base_url override " if override else "") + url, details=details)
    return list(out.values())
