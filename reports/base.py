"""The report contract, kept importable here for format plugins: it lives in :mod:`scanner.format`."""

from scanner.format import (AgentFormat, AgentWriter, Counts, FirstInOrder, Format, ProviderSpend,  # noqa: F401
                            agent_findings, evidence_lines, finding_endpoints, ordered_agents, printable, reading_order,
                            spend_by_provider, spend_text, summary_line, title)
