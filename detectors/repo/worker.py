"""Reading and scanning files, in this process or in worker processes (same code, same results)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from detectors.repo.content import BINARY_SNIFF, Hit, is_binary, scan_bytes
from detectors.repo.rules import Rules

_RULES: Rules | None = None


@dataclass
class FileResult:
    index: int
    hits: list[Hit] = field(default_factory=list)
    gap: str | None = None  # why the file could not be read
    binary: bool = False
    size: int = 0


def scan_file(rules: Rules, index: int, path: str, rel: str, max_size: int) -> FileResult:
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > max_size:
                return FileResult(index, gap=f"larger than max_file_size ({max_size} bytes)")
            data = fh.read(BINARY_SNIFF)
            if is_binary(data):  # decided on the first block: binaries are never read whole
                return FileResult(index, binary=True)
            data += fh.read(max_size + 1 - len(data))
    except OSError as exc:
        return FileResult(index, gap=f"unreadable: {exc.strerror or type(exc).__name__}")
    if len(data) > max_size:
        return FileResult(index, gap=f"larger than max_file_size ({max_size} bytes)")
    try:
        hits = scan_bytes(rules, rel, data)
    except RecursionError:
        return FileResult(index, gap="too deeply nested to parse", size=len(data))
    return FileResult(index, hits=hits, size=len(data))


def init_worker(rules: Rules) -> None:
    global _RULES
    _RULES = rules


def scan_chunk(chunk: list[tuple[int, str, str]], max_size: int) -> list[FileResult]:
    """Worker entry point: scan a batch of (index, path, rel) with the rules given at start-up."""
    assert _RULES is not None
    return [scan_file(_RULES, i, path, rel, max_size) for i, path, rel in chunk]
