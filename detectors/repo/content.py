"""What one file's bytes say: keys, imports, dependencies, endpoints, model names, agent configs.

:func:`scan_bytes` is a pure function of (rules, file name, bytes) so it runs the
same in the parent and in worker processes. It runs every family of
:data:`~detectors.repo.filetypes.FILE_TYPES` that applies to the file and returns
:class:`Hit` records; raw secrets travel only inside ``Hit.secret`` to the parent,
which turns them into a :class:`~scanner.model.Credential` at once and drops the value.
"""

from __future__ import annotations

from detectors.repo.filetypes import FILE_TYPES
from detectors.repo.filetypes.base import IMPORTS_NOTE, FileView, Hit, Lines
from detectors.repo.filetypes.keys import find_credentials
from detectors.repo.filetypes.kubernetes import decoded_secret_hits
from detectors.repo.filetypes.manifests import MANIFEST_NAMES, manifest_kind
from detectors.repo.rules import Rules

BINARY_SNIFF = 8192

__all__ = ["BINARY_SNIFF", "Hit", "Lines", "MANIFEST_NAMES", "decoded_secret_hits", "find_credentials", "is_binary",
           "manifest_kind", "merge_same_place", "scan_bytes"]


def is_binary(head: bytes) -> bool:
    return b"\x00" in head[:BINARY_SNIFF]


def scan_bytes(rules: Rules, rel: str, data: bytes) -> list[Hit]:
    """All hits in one file. ``rel`` is the path inside its repository (posix separators)."""
    f = FileView(rules, rel, data)
    for family in FILE_TYPES:
        if family.applies(f):
            f.hits += family.scan(f)
    for hit in f.hits:  # where it sits: the file's place, or a comment in it (a note is no finding: none)
        if hit.kind != IMPORTS_NOTE:
            hit.place = "comment" if hit.pos >= 0 and f.is_comment_at(hit.pos) else f.place
    return merge_same_place(f.hits)


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
