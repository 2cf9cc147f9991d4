"""Kubernetes Secret manifests: values under ``data:`` are base64; decode them and look for keys again."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Iterator

import yaml

from detectors.repo.filetypes.base import FileView, Hit, Lines
from detectors.repo.filetypes.keys import find_credentials
from detectors.repo.rules import Rules

try:
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]

MAX_PARSED_YAML = 1 << 20  # Secret manifests are small; never build a huge (or alias-bombed) YAML tree
# YAML and JSON manifests (``kind: Secret``, ``"kind": "Secret"``); it starts with a literal, so the
# search runs at memchr speed, and a quote before ``kind`` changes no answer of ``search``.
_K8S_SECRET = re.compile(rb"kind[\"']?\s*:\s*[\"']?Secret\b")


def applies(f: FileView) -> bool:
    return f.ext in (".yaml", ".yml", ".json") and len(f.data) <= MAX_PARSED_YAML and b"Secret" in f.data \
        and bool(_K8S_SECRET.search(f.data))


def scan(f: FileView) -> list[Hit]:
    return list(kubernetes_secret_keys(f.rules, f.data, f.lines))


def kubernetes_secret_keys(rules: Rules, data: bytes, lines: Lines) -> Iterator[Hit]:
    """``kind: Secret`` manifests keep values base64-encoded under ``data:``; decode and look again.

    The YAML is composed into nodes, not loaded, so each entry's line comes from the parser.
    """
    try:
        docs = list(yaml.compose_all(data, Loader=_YamlLoader))
    except yaml.YAMLError:
        return
    for doc in docs:
        fields = _mapping(doc)
        if _scalar(fields.get("kind")) != "Secret" or not isinstance(fields.get("data"), yaml.MappingNode):
            continue
        for key_node, value_node in fields["data"].value:
            key, encoded = _scalar(key_node), _scalar(value_node)
            if key is not None and encoded is not None:
                yield from decoded_secret_hits(rules, key, encoded, key_node.start_mark.line + 1)


def _mapping(node: yaml.Node | None) -> dict[str, yaml.Node]:
    """A mapping node's entries by scalar key (the first of duplicates, as the API server keeps)."""
    out: dict[str, yaml.Node] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = _scalar(k)
            if key is not None:
                out.setdefault(key, v)
    return out


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) else None


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
