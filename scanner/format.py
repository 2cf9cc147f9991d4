"""The report contract (`Format`) and the small text helpers every format shares: core, so the CLI
and format plugins depend on it and never on `reports/`.

A format renders an :class:`~scanner.model.Inventory` to a text stream. It never
computes statuses or severities; it only chooses how to show them.
"""

from __future__ import annotations

from typing import IO, Any, Callable, ClassVar, Iterable, Iterator
from urllib.parse import urlsplit

from scanner.model import Agent, Change, Coverage, Finding, Inventory, Status, Tally, agent_order
from scanner.safetext import printable  # noqa: F401 - the helper formats use for scanned text


class Format:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    # How the output stream neutralises control characters (scanner.output): "json" (\uXXXX
    # escapes, for JSON documents), "text" (visible escapes; the safe default) or "terminal"
    # (a rich console that may colour a real terminal and neutralises its cells itself).
    output_kind: ClassVar[str] = "text"
    # True for a format whose output is the inventory's own JSON text (Inventory.json_pieces) and
    # nothing else: ``report`` may then write it from a saved inventory as it reads it.
    inventory_json: ClassVar[bool] = False

    def render(self, inventory: Inventory, stream: IO[str]) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class AgentWriter:
    """Writes a report an agent at a time: :meth:`agent` gives each agent's piece, the agents coming in
    any order; once every agent was given, :meth:`head` gives what goes before the pieces, :meth:`piece`
    each piece's final text, the pieces in the format's ``agent_key`` order, and then :meth:`tail`
    what goes after them. A report that shows every agent in more than one place (a table, then
    details) has ``sections`` parts to each piece, written section after section with
    :meth:`between` them. A writer whose head, tail and pieces do not depend on the agents seen
    sets ``waits`` False: its pieces are then written as they come. What it keeps between agents is
    its own (bounded) choice."""

    waits = True  # False: head(), tail() and piece() are the same whatever agents came
    sections = 1  # more: agent() gives a tuple of that many texts, one for each section

    def agent(self, agent: Agent, findings: dict[str, Finding]) -> Any:  # pragma: no cover - interface
        """The text of one agent (a tuple of texts, one per section), given (at least) its findings by id."""
        raise NotImplementedError

    def count_findings(self, total: int, unattached: int) -> None:
        """How many findings the inventory has, and how many no agent lists (before :meth:`head`)."""

    def head(self) -> str:
        return ""

    def piece(self, text: str, section: int = 0) -> str:
        return text

    def between(self, section: int) -> str:
        """What follows the pieces of ``section`` and precedes those of the next."""
        return ""

    def tail(self) -> Iterable[str]:
        """What follows the pieces, in parts (asked for once every piece went through :meth:`piece`)."""
        return ()

    def add(self, other: "AgentWriter") -> None:
        """Keep what ``other`` kept of its agents: ``other`` is a copy of this writer as it was
        made, given agents that follow all those given to this one. A writer that waits and
        defines this is given its agents on every core: each batch to a copy of its own, the
        copies added in order."""
        raise NotImplementedError

    @property
    def finishes_pieces(self) -> bool:
        """True when :meth:`piece` changes what :meth:`agent` gave."""
        return type(self).piece is not AgentWriter.piece

    @property
    def adds(self) -> bool:
        """True when copies of this writer can be added up (:meth:`add`)."""
        return type(self).add is not AgentWriter.add


ALL_FINDINGS, KEY_FINDINGS, NO_FINDINGS = "all", "keys", "none"  # all, those holding a key, none


class AgentFormat(Format):
    """A format whose output is a head, one piece per agent, each made from the agent and its findings
    alone, in the order of :meth:`agent_key`, and a tail (:class:`AgentWriter`): ``report`` writes it
    from a saved inventory an agent at a time, holding none (scanner/report_agents.py). Agents whose
    keys are equal keep the order they have after :meth:`Inventory.sorted`, so an ``agent_key`` must
    order at least as finely as :func:`~scanner.model.agent_order`."""

    # Of an agent's findings, those its writer looks at (ALL_FINDINGS; KEY_FINDINGS: those holding a
    # key; NO_FINDINGS): report may leave the others out, and only checks them against the schema.
    uses_findings = ALL_FINDINGS

    def agent_key(self, agent: Agent) -> Any:
        return agent_order(agent)

    def writer(self, frame: Inventory) -> AgentWriter:  # pragma: no cover - interface
        """A writer for one report of ``frame``, of which it may read the coverage and metadata only
        (written from a saved inventory, the frame holds no agents or findings)."""
        raise NotImplementedError

    def render(self, inventory: Inventory, stream: IO[str]) -> None:
        write_agents(inventory, stream, self.writer(inventory), self.agent_key)


def write_agents(inventory: Inventory, stream: IO[str], writer: AgentWriter, key: Callable[[Agent], Any]) -> None:
    """A whole inventory's report by ``writer``: its head, the agents' pieces in ``key`` order, its tail."""
    pieces: Iterable[Any] = give_agents(inventory, writer, key)
    if writer.waits or writer.sections > 1:
        pieces = list(pieces)
    stream.write(writer.head())
    if writer.sections == 1:
        for piece in pieces:
            stream.write(writer.piece(piece))
    else:
        for section in range(writer.sections):
            if section:
                stream.write(writer.between(section - 1))
            for piece in pieces:
                stream.write(writer.piece(piece[section], section))
    for text in writer.tail():
        stream.write(text)


def give_agents(inventory: Inventory, writer: AgentWriter, key: Callable[[Agent], Any]) -> Iterator[Any]:
    """Tell ``writer`` the counts of the inventory's findings, then give it each agent in ``key``
    order as it is asked for the next piece."""
    inventory.sorted()
    findings = inventory.finding_map()
    attached = {f for a in inventory.agents for f in a.findings}
    writer.count_findings(len(inventory.findings), sum(1 for f in inventory.findings if f.id not in attached))
    return (writer.agent(agent, findings) for agent in sorted(inventory.agents, key=key))


class Counts:
    """What the summary line and the counts by status say, counted an agent at a time in any order:
    spend is added up in :func:`~scanner.model.agent_order` at the end, as :meth:`Inventory.summary`
    adds it up in a sorted inventory (it is rounded as it is added, so the order shows in the cents)."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.new_by_status: dict[str, int] = {}
        self._spent: list[tuple[Any, int, Agent]] = []

    def agent(self, a: Agent) -> None:
        if self.tally.count(a) and a.spend:
            self._spent.append((agent_order(a), len(self._spent), a))
        if a.change == Change.NEW and a.is_agent:  # other items (MCP servers) are counted in the summary line
            self.new_by_status[a.status.value] = self.new_by_status.get(a.status.value, 0) + 1

    def add(self, other: "Counts") -> None:
        """The agents ``other`` counted, which follow those counted here."""
        self.tally.add(other.tally)
        for status, n in other.new_by_status.items():
            self.new_by_status[status] = self.new_by_status.get(status, 0) + n
        self._spent += [(key, len(self._spent) + seq, a) for seq, (key, _seq, a) in enumerate(other._spent)]

    def summary(self, findings: int = 0, unattached: int = 0, complete: bool = True) -> dict[str, Any]:
        """:meth:`Inventory.summary` of the agents counted (the findings' counts given)."""
        tally = self.tally
        tally.spend, tally.unexplained = {}, {}
        for _key, _seq, a in sorted(self._spent, key=lambda e: e[:2]):
            tally.add_spend(a)
        return tally.summary(findings, unattached, complete)

    def line(self, coverage: list[Coverage]) -> str:
        """``14 agents: 6 approved, 5 shadow (2 new), 1 drift · $3,412.00 spend ($1,020.00 unexplained)``."""
        s = self.summary()
        new_by_status = self.new_by_status
        parts = []
        for status in Status:
            n = s["by_status"][status.value]
            if n:
                extra = f" ({new_by_status[status.value]} new)" if new_by_status.get(status.value) else ""
                parts.append(f"{n} {status.value}{extra}")
        agents = s["agents"]
        line = f"{agents} agent{'s' if agents != 1 else ''}" + (f": {', '.join(parts)}" if parts else "")
        if s["changes"].get("gone"):
            line += f", {s['changes']['gone']} gone since baseline"
        if s.get("mcp_servers"):
            line += f" · {s['mcp_servers']} MCP server{'s' if s['mcp_servers'] != 1 else ''}"
        for cur, total in s["spend"].items():
            line += f" · {total:,.2f} {cur} LLM spend ({s['unexplained_spend'].get(cur, 0):,.2f} unexplained)"
        incomplete = [c.detector for c in coverage if not c.complete]
        if incomplete:
            line += f" · incomplete coverage: {', '.join(sorted(set(incomplete)))}"
        return line


def counts(inventory: Inventory) -> Counts:
    tally = Counts()
    for a in inventory.agents:
        tally.agent(a)
    return tally


class FirstInOrder:
    """The ``k`` items of smallest key among items given one at a time, holding at most ``2k``: what
    a report shows of the first agents in an order it writes before them. Keys must be unique (add a
    sequence number); a value is made only if its key may still be among the first."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.items: list[tuple[Any, Any]] = []
        self.bound: Any = None  # once pruned: the largest key kept; nothing from it on can be taken

    def add(self, key: Any, make: Callable[[], Any]) -> None:
        if self.k <= 0 or (self.bound is not None and not key < self.bound):
            return
        self.items.append((key, make()))
        if len(self.items) >= 2 * self.k:
            self._prune()

    def _prune(self) -> None:
        self.items.sort(key=lambda item: item[0])
        del self.items[self.k:]
        self.bound = self.items[-1][0]

    def extend(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        """Items already made, as (key, value): another's :meth:`pairs`, say."""
        for key, value in pairs:
            self.add(key, lambda value=value: value)

    def taken(self) -> list[Any]:
        """The values of the first ``k``, in key order."""
        return [value for _key, value in self.pairs()]

    def pairs(self) -> list[tuple[Any, Any]]:
        """The first ``k`` as (key, value), in key order."""
        if self.items:
            self._prune()
        return list(self.items)


def summary_line(inventory: Inventory) -> str:
    """``14 agents: 6 approved, 5 shadow (2 new), 1 drift · $3,412.00 spend ($1,020.00 unexplained)``."""
    return counts(inventory).line(inventory.coverage)


def agent_findings(agent: Agent, findings: dict[str, Finding]) -> list[Finding]:
    return [findings[f] for f in agent.findings if f in findings]


def evidence_lines(agent: Agent, findings: dict[str, Finding], limit: int | None = None) -> list[str]:
    """One redacted line per finding, strongest first (the agent's order):
    ``[detector/kind, confidence] evidence — location``; evidence that only describes says so."""
    lines = [f"[{f.detector}/{f.kind}, {f.confidence.value}{'' if f.forms else ', descriptive'}] "
             f"{f.evidence} — {f.location.describe()}" for f in agent_findings(agent, findings)]
    return lines if limit is None else lines[:limit]


_CHANGE_RANK = {Change.NEW: 0, Change.CHANGED: 1, None: 2, Change.UNCHANGED: 2, Change.GONE: 3}


def reading_order(agent: Agent) -> tuple[int, int, int, str, str]:
    """New agents first, then by severity and status, then name — the order people read in."""
    return (_CHANGE_RANK[agent.change], -agent.severity.rank, -agent.status.rank, agent.name, agent.id)


def ordered_agents(inventory: Inventory) -> list[Agent]:
    """The inventory's agents in :func:`reading_order`."""
    return sorted(inventory.agents, key=reading_order)


def title(agent: Agent) -> str:
    providers = ", ".join(agent.providers) or "unknown provider"
    what = "" if agent.is_agent else f" — {agent.kind.value.replace('-', ' ').replace('mcp', 'MCP')}"
    return f"[{agent.status.value}] {agent.name} ({providers}){what}"


def spend_text(spend: dict[str, float]) -> str:
    """``1,234.50 USD; 99.99 EUR`` (empty string when nothing was spent)."""
    return "; ".join(f"{amount:,.2f} {cur}" for cur, amount in sorted(spend.items()) if amount)


class ProviderSpend:
    """Billed cost per provider and currency over the findings of agents still present, taken an agent
    at a time in any order and added up in :func:`~scanner.model.agent_order` (rounded as it is added)."""

    def __init__(self) -> None:
        self._costs: list[tuple[Any, int, list[tuple[str, str, float]]]] = []

    def agent(self, agent: Agent, findings: list[Finding]) -> None:
        if agent.change == Change.GONE:
            return
        costs = [(f.provider or "unknown", f.currency or "USD", f.cost) for f in findings if f.cost]
        if costs:
            self._costs.append((agent_order(agent), len(self._costs), costs))  # type: ignore[arg-type]

    def totals(self) -> dict[str, dict[str, float]]:
        totals: dict[str, dict[str, float]] = {}
        for _key, _seq, costs in sorted(self._costs, key=lambda e: e[:2]):
            for provider, cur, cost in costs:
                per_cur = totals.setdefault(provider, {})
                per_cur[cur] = round(per_cur.get(cur, 0.0) + cost, 2)
        return dict(sorted(totals.items()))


def spend_by_provider(inventory: Inventory) -> dict[str, dict[str, float]]:
    """Billed cost per provider and currency, over the findings of agents still present."""
    fmap = inventory.finding_map()
    spend = ProviderSpend()
    for agent in inventory.agents:
        spend.agent(agent, agent_findings(agent, fmap))
    return spend.totals()


def finding_endpoints(finding: Finding) -> list[str]:
    """The network endpoint a finding names, as ``scheme://host[:port]/path`` (none or one).

    User info, query and fragment are dropped: they are where tokens hide in URLs.
    """
    endpoint = _safe_url(finding.endpoint.strip()) if finding.endpoint and finding.endpoint.strip() else None
    return [endpoint] if endpoint else []


def _safe_url(value: str) -> str | None:
    parts = urlsplit(value if "://" in value else f"https://{value}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or not parts.scheme:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}"
