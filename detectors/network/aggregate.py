"""Observations → one record per (capture, kind, client, fingerprint, provider, name, model).

A capture holds thousands of connections from the same program; reports want
one finding per client program and destination with counts and first/last seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scanner.model import Confidence, Credential

_RANK = {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}
MAX_LISTED = 10


@dataclass
class Record:
    capture: str
    kind: str
    client: str
    fingerprint: str
    provider: str
    name: str
    model: str | None
    first: float
    last: float
    confidence: Confidence
    connections: int = 0
    requests: int = 0
    bytes: int = 0
    dns_lookups: int = 0
    sets: dict[str, set[str]] = field(default_factory=dict)
    credential: Credential | None = None

    def note(self, key: str, value: str | None) -> None:
        """Remember a distinct value (server address, path, ALPN ...), at most MAX_LISTED of them."""
        if value:
            values = self.sets.setdefault(key, set())
            if len(values) < MAX_LISTED:
                values.add(value)


class Aggregator:
    def __init__(self) -> None:
        self.records: dict[tuple, Record] = {}

    def add(self, capture: str, kind: str, client: str, fingerprint: str, provider: str, name: str,
            first: float, last: float, confidence: Confidence, *, model: str | None = None,
            connections: int = 0, requests: int = 0, nbytes: int = 0,
            notes: dict[str, Any] | None = None, credential: Credential | None = None) -> Record:
        key = (capture, kind, client, fingerprint, provider, name, model)
        rec = self.records.get(key)
        if rec is None:
            rec = Record(capture, kind, client, fingerprint, provider, name, model, first, last, confidence)
            self.records[key] = rec
        else:
            if first < rec.first:
                rec.first = first
            if last > rec.last:
                rec.last = last
            # enum members hash in Python: compare identity before ranking
            if confidence is not rec.confidence and _RANK[confidence] > _RANK[rec.confidence]:
                rec.confidence = confidence
        rec.connections += connections
        rec.requests += requests
        rec.bytes += nbytes
        if credential and rec.credential is None:
            rec.credential = credential
        if notes:
            note = rec.note
            for k, v in notes.items():
                if isinstance(v, (list, tuple, set)):
                    for item in v:
                        note(k, item)
                elif v:
                    note(k, v)
        return rec

    def __len__(self) -> int:
        return len(self.records)
