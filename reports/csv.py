"""``csv``: one row per agent for spreadsheets, with stable columns.

Spreadsheet-safe: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return would be read as a formula by Excel, LibreOffice or Google Sheets,
so it gets a leading apostrophe (OWASP's advice for CSV injection). Lists are joined
with ``; `` inside one cell; reasons, being sentences, go one per line in their cell;
spend is ``1234.50 USD`` (no thousands separator, so spreadsheets can parse it).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from scanner.format import KEY_FINDINGS, AgentFormat, AgentWriter, agent_findings, printable, reading_order
from scanner.model import Agent, Finding, Inventory

COLUMNS = (
    "agent_id", "name", "status", "severity", "change", "approved_id", "owners", "providers", "models",
    "spend", "credentials", "first_seen", "last_seen", "locations", "detectors", "kinds", "findings", "reasons",
    "reason_codes", "remediation", "dedupe_key",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """Prefix formula-looking cells with an apostrophe so spreadsheets show them as text."""
    return "'" + value if value.startswith(FORMULA_START) else value


def credentials(agent: Agent, findings: dict[str, Finding]) -> str:
    """Previews and fingerprints of the keys an agent holds: enough to find and rotate them."""
    creds = sorted({(f.credential.preview, f.credential.fingerprint)
                    for f in agent_findings(agent, findings) if f.credential})
    return "; ".join(f"{preview} ({fp})" for preview, fp in creds)


def row(agent: Agent, findings: dict[str, Finding]) -> dict[str, Any]:
    """The agent's cells by column."""
    return dict(zip(COLUMNS, cells(agent, findings)))


def cells(agent: Agent, findings: dict[str, Finding]) -> list[str]:
    """The agent's cells in the order of :data:`COLUMNS`, printable and neutralised."""
    texts = [str(v) for v in values(agent, findings).values()]
    joined = "\n".join(texts)
    if printable(joined) != joined:  # one look at the whole row: its cells one by one only where it needs them
        texts = [printable(c) for c in texts]
    return ["'" + c if c.startswith(FORMULA_START) else c for c in texts]  # neutralise(), inlined: 21 cells a row


def values(agent: Agent, findings: dict[str, Finding]) -> dict[str, Any]:
    """The agent's values by column, in the order of :data:`COLUMNS`."""
    return {
        "agent_id": agent.id,
        "name": agent.name,
        "status": agent.status.value,
        "severity": agent.severity.value,
        "change": agent.change.value if agent.change else "",
        "approved_id": agent.approved_id or "",
        "owners": "; ".join(agent.owners),
        "providers": "; ".join(agent.providers),
        "models": "; ".join(agent.models),
        "spend": "; ".join(f"{amount:.2f} {cur}" for cur, amount in sorted(agent.spend.items()) if amount),
        "credentials": credentials(agent, findings),
        "first_seen": agent.first_seen or "",
        "last_seen": agent.last_seen or "",
        "locations": "; ".join(agent.locations),
        "detectors": "; ".join(agent.detectors),
        "kinds": "; ".join(agent.kinds),
        "findings": str(len(agent.findings)),
        "reasons": "\n".join(r.message for r in agent.reasons),
        "reason_codes": "; ".join(r.code for r in agent.reasons),
        "remediation": agent.remediation or "",
        "dedupe_key": agent.dedupe_key,
    }


class CsvFormat(AgentFormat):
    name = "csv"
    description = "One row per agent for spreadsheets (stable columns, formula injection neutralised)"
    extensions = (".csv",)

    uses_findings = KEY_FINDINGS  # of its findings a row shows only the keys' previews and fingerprints

    def agent_key(self, agent: Agent) -> Any:
        return reading_order(agent)

    def writer(self, frame: Inventory) -> AgentWriter:
        return _RowWriter()


class _RowWriter(AgentWriter):
    waits = False

    def __init__(self) -> None:
        self.text = io.StringIO()
        self.rows = csv.writer(self.text, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")

    def head(self) -> str:
        self.rows.writerow(COLUMNS)
        return self._take()

    def agent(self, agent: Agent, findings: dict[str, Finding]) -> str:
        self.rows.writerow(cells(agent, findings))
        return self._take()

    def _take(self) -> str:
        text = self.text.getvalue()
        self.text.seek(0)
        self.text.truncate()
        return text
