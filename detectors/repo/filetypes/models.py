"""Model names: given to a ``model…=`` key, or any quoted catalogue model name in a file that shows LLM use.

Runs last: whether every quoted literal counts depends on what the other families found.
"""

from __future__ import annotations

import re

from detectors.repo.filetypes.base import IMPORTS_NOTE, FileView, Hit, Lines
from detectors.repo.rules import Rules

_QUOTED = re.compile(rb"[\"'`]([A-Za-z0-9][A-Za-z0-9._:/@-]{1,120})[\"'`]")
_MODEL_KEY = re.compile(rb"(?i:model(?:_name|_id|name|id)?)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9][A-Za-z0-9._:/@-]{1,120})")
# model=, Model: (C#, YAML) and MODEL = (constants): the letter before each rules.MODEL_ANCHORS tail
_MODEL_HEADS = {b"odel": b"mM", b"ODEL": b"M"}


def applies(f: FileView) -> bool:
    return f.code_or_config and not any(h.kind == "dependency" for h in f.hits)  # manifests list packages


def scan(f: FileView) -> list[Hit]:
    shows_use = any(h.kind != IMPORTS_NOTE for h in f.hits)
    return model_literals(f.rules, f.data, f.lines, f.anchors[2], all_quoted=shows_use)


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
                                confidence="medium", label=f"model {name}", details={"model": name},
                                pos=m.start())

    for pos, tail in anchors:  # "odel"/"ODEL" found with the key prefixes
        if pos and data[pos - 1] in _MODEL_HEADS[tail]:
            m = _MODEL_KEY.match(data, pos - 1)
            if m:
                add(m)
    if all_quoted:
        for m in _QUOTED.finditer(data):
            add(m)
    return list(out.values())
