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
_K8S_SECRET = re.compile(rb"[\"']?kind[\"']?\s*:\s*[\"']?Secret\b")  # YAML and JSON manifests


def applies(f: FileView) -> bool:
    return f.ext in (".yaml", ".yml", ".json") and len(f.data) <= MAX_PARSED_YAML and b"Secret" in f.data \
        and bool(_K8S_SECRET.search(f.data))


def scan(f: FileView) -> list[Hit]:
    return list(kubernetes_secret_keys(f.rules, f.data, f.lines))


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
