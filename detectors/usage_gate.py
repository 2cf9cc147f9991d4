"""Keys that count only next to their provider's use (catalogue ``requires_usage``).

An AWS access key can call Bedrock, but most AWS keys have nothing to do with LLMs.
Each detector decides what a *unit* is — a repository, an environment, a program —
and offers every finding to a :class:`UsageGate` with that unit. Findings pass
through at once, except usage-gated keys whose unit has not shown the provider
yet: those are held, and :meth:`UsageGate.release` hands back the ones whose unit
showed it later. Held findings are few (keys, not files), so memory stays small.
"""

from __future__ import annotations

from typing import Hashable, Iterator

from scanner.catalog import Catalog
from scanner.model import Finding


class UsageGate:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._used: dict[tuple[Hashable, str], str] = {}  # (unit, provider) -> first evidence of use
        self._held: list[tuple[Hashable, Finding]] = []
        self.dropped = 0

    def gated(self, finding: Finding) -> bool:
        return finding.credential is not None and self.catalog.requires_usage(finding.credential.key_type)

    def offer(self, unit: Hashable, finding: Finding) -> Finding | None:
        """The finding if it may be reported now, else None (held until :meth:`release`)."""
        if not self.gated(finding):
            if finding.provider:
                self._used.setdefault((unit, finding.provider), finding.evidence)
            return finding
        if (unit, finding.provider) in self._used:
            return self._mark(unit, finding)
        self._held.append((unit, finding))
        return None

    def release(self) -> Iterator[Finding]:
        """Held findings whose unit showed their provider after all; the rest are counted as dropped."""
        held, self._held = self._held, []
        for unit, finding in held:
            if (unit, finding.provider) in self._used:
                yield self._mark(unit, finding)
            else:
                self.dropped += 1

    def _mark(self, unit: Hashable, finding: Finding) -> Finding:
        usage = self._used[(unit, finding.provider)]  # type: ignore[index]
        finding.details["next_to"] = usage
        finding.evidence += f"; next to: {usage}"
        return finding
