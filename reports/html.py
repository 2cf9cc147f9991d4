"""``html``: one self-contained page to forward — charts, a sortable, filterable table, per-agent detail.

Nothing is fetched: CSS, script and SVG charts are inline, and a Content-Security-Policy
forbids any request. Without script the page is complete (the table in reading order,
details as ``<details>`` elements); the script only adds sorting and filtering, whose
state can be given in the query string (``?status=shadow&q=billing&sort=-spend``).
Every string from the scan goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import io
from typing import Any, Iterable

from scanner.format import (AgentFormat, AgentWriter, Counts, ProviderSpend, agent_findings, printable, reading_order,
                            spend_text)
from scanner.model import Agent, Change, Coverage, Finding, Inventory, Status

MAX_EVIDENCE = 100
STATUS_COLOUR = {
    "shadow": "#c62828", "expired": "#ad1457", "drift": "#e65100", "review-overdue": "#6a1b9a",
    "dormant": "#616161", "approved": "#2e7d32",
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
COLUMNS = (  # (key, header, numeric)
    ("status", "Status", True), ("severity", "Severity", True), ("name", "Agent", False),
    ("owner", "Owner", False), ("providers", "Providers / models", False), ("spend", "Spend", True),
    ("where", "Where seen", False), ("findings", "Findings", True),
)


def esc(value: object) -> str:
    return html.escape(printable(str(value)), quote=True)


STYLE = """
:root{--fg:#1b1b1b;--muted:#5f6368;--line:#dadce0;--bg:#fff;--head:#f1f3f4}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
margin:0 auto;max-width:1400px;padding:16px 24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:14px 0 6px}
.summary{font-weight:600;font-size:15px}.meta{color:var(--muted);margin-top:0}
.charts{display:flex;flex-wrap:wrap;gap:24px}.charts figure{margin:0;flex:1 1 420px}
figcaption{font-weight:600;margin-bottom:4px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:5px 8px;
text-align:left;vertical-align:top}
th{background:var(--head);position:sticky;top:0}th button{all:unset;cursor:pointer;font-weight:600}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
#agents-table td{overflow-wrap:anywhere}td.num{text-align:right;white-space:nowrap;overflow-wrap:normal}
tr.gone td{color:var(--muted);text-decoration:line-through}
.badge{display:inline-block;white-space:nowrap;padding:1px 7px;border-radius:10px;color:#fff;font-size:12px;
font-weight:600}
.change{font-size:12px;font-weight:600;color:#0b57d0;margin-left:4px}
.sev-critical{color:#b71c1c;font-weight:700}.sev-high{color:#c62828;font-weight:600}.sev-medium{color:#e65100}
.sev-low{color:#0277bd}.sev-info{color:var(--muted)}
#controls{display:flex;gap:12px;align-items:center;margin:8px 0}#controls[hidden]{display:none}
#controls input{padding:4px 8px;min-width:280px}
details.agent{border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:6px 12px}
details.agent summary{cursor:pointer;font-weight:600}details.agent:target{outline:2px solid #0b57d0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}dt{color:var(--muted)}dd{margin:0}
code,.evidence td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;
overflow-wrap:anywhere}
.coverage li{margin:2px 0}
@media print{#controls{display:none}details.agent{break-inside:avoid}}
"""

SCRIPT = """
(function(){
  var table=document.getElementById('agents-table');if(!table)return;
  var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  var q=document.getElementById('filter'),st=document.getElementById('status-filter'),
      shown=document.getElementById('shown'),controls=document.getElementById('controls');
  controls.hidden=false;
  function key(row,col){var c=row.cells[col];return c.getAttribute('data-sort')||c.textContent.trim().toLowerCase();}
  function sortBy(col,dir){
    var numeric=table.tHead.rows[0].cells[col].getAttribute('data-numeric')==='1';
    rows.sort(function(a,b){var x=key(a,col),y=key(b,col);
      var r=numeric?(parseFloat(x)||0)-(parseFloat(y)||0):(x<y?-1:x>y?1:0);
      return r*dir||(+a.getAttribute('data-order')-+b.getAttribute('data-order'));});
    rows.forEach(function(r){body.appendChild(r);});
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
      th.setAttribute('aria-sort',i===col?(dir>0?'ascending':'descending'):'none');});
  }
  function apply(){
    var text=q.value.trim().toLowerCase(),status=st.value,n=0;
    rows.forEach(function(r){
      var ok=(!status||r.getAttribute('data-status')===status)&&(!text||r.textContent.toLowerCase().indexOf(text)>=0);
      r.hidden=!ok;if(ok)n++;});
    shown.textContent=n+' of '+rows.length+' agents shown';
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
    var b=th.querySelector('button');if(!b)return;
    b.addEventListener('click',function(){sortBy(i,th.getAttribute('aria-sort')==='descending'?1:-1);});});
  q.addEventListener('input',apply);st.addEventListener('change',apply);
  var params=new URLSearchParams(location.search);
  if(params.get('q'))q.value=params.get('q');
  if(params.get('status'))st.value=params.get('status');
  var s=params.get('sort');
  if(s){var dir=s.charAt(0)==='-'?-1:1,name=s.replace(/^[-+]/,'');
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
      if(th.getAttribute('data-key')===name)sortBy(i,dir);});}
  apply();
  function openTarget(){var id=decodeURIComponent(location.hash.slice(1));var d=id&&document.getElementById(id);
    if(d&&d.tagName==='DETAILS')d.open=true;}
  window.addEventListener('hashchange',openTarget);openTarget();
  document.body.setAttribute('data-ready','1');
})();
"""


def bar_chart(title: str, bars: list[tuple[str, float, str, str]], width: int = 520) -> str:
    """A horizontal bar chart as inline SVG; each bar is (label, value, value text, colour)."""
    if not bars:
        return f'<figure><figcaption>{esc(title)}</figcaption><p class="meta">Nothing to chart.</p></figure>'
    row, label_w, top = 26, 190, 4
    top_value = max(v for _, v, _, _ in bars) or 1.0
    height = top + row * len(bars)
    parts = [f'<figure><figcaption>{esc(title)}</figcaption>'
             f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{esc(title)}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for i, (label, value, text, colour) in enumerate(bars):
        y = top + i * row
        bar_w = max(2.0, (width - label_w - 110) * value / top_value) if value else 0.0
        parts.append(
            f'<g><title>{esc(label)}: {esc(text)}</title>'
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="12" fill="#1b1b1b">'
            f'{esc(label if len(label) <= 28 else label[:27] + "…")}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w:.1f}" height="16" rx="2" fill="{esc(colour)}"/>'
            f'<text x="{label_w + bar_w + 6:.1f}" y="{y + 16}" font-size="12" fill="#1b1b1b">{esc(text)}</text></g>')
    return "".join(parts) + "</svg></figure>"


def status_chart(counts: dict[str, int]) -> str:
    bars = [(s.value, float(counts[s.value]), str(counts[s.value]), STATUS_COLOUR[s.value])
            for s in sorted(Status, key=lambda s: -s.rank) if counts[s.value]]
    return bar_chart("Agents by status", bars)


def spend_chart(spend: dict[str, dict[str, float]]) -> str:
    bars = []
    palette = ("#0b57d0", "#00897b", "#f9a825", "#6d4c41")
    for provider, per_currency in spend.items():
        for i, (cur, amount) in enumerate(sorted(per_currency.items())):
            bars.append((f"{provider} ({cur})", amount, f"{amount:,.2f} {cur}", palette[i % len(palette)]))
    bars.sort(key=lambda b: (-b[1], b[0]))
    return bar_chart("LLM spend by provider", bars)


def _cell(text: str, sort: object | None = None, numeric: bool = False, raw: bool = False) -> str:
    attrs = (f' data-sort="{esc(sort)}"' if sort is not None else "") + (' class="num"' if numeric else "")
    return f"<td{attrs}>{text if raw else esc(text)}</td>"


def agent_row(agent: Agent, order: int | str) -> str:
    gone = agent.change == Change.GONE
    badge = (f'<span class="badge" style="background:{STATUS_COLOUR[agent.status.value]}">'
             f'{esc(agent.status.value)}</span>')
    if agent.change and agent.change != Change.UNCHANGED:
        badge += f'<span class="change">{esc(agent.change.value)}</span>'
    name = esc(agent.name) if gone else f'<a href="#agent-{esc(agent.id)}">{esc(agent.name)}</a>'
    where = agent.locations[0] if agent.locations else ("registry only" if agent.approved_id else "-")
    if len(agent.locations) > 1:
        where += f" (+{len(agent.locations) - 1} more)"
    spend_total = sum(agent.spend.values())
    cells = [
        _cell(badge, agent.status.rank, raw=True),
        _cell(f'<span class="sev-{esc(agent.severity.value)}">{esc(agent.severity.value)}</span>',
              agent.severity.rank, raw=True),
        _cell(name, agent.name.lower(), raw=True),
        _cell(", ".join(agent.owners) or "-"),
        _cell(", ".join(agent.providers + agent.models) or "-"),
        _cell(spend_text(agent.spend) or "-", f"{spend_total:.2f}", numeric=True),
        _cell(where),
        _cell(str(len(agent.findings)), len(agent.findings), numeric=True),
    ]
    attrs = (f'id="row-{esc(agent.id)}" data-order="{order}" data-status="{esc(agent.status.value)}" '
             f'data-change="{esc(agent.change.value if agent.change else "")}"')
    if gone:
        attrs += ' class="gone"'
    return f"<tr {attrs}>" + "".join(cells) + "</tr>"


def agents_table_start() -> str:
    """The controls and the agents table up to its first row."""
    heads = "".join(f'<th data-key="{key}" data-numeric="{1 if numeric else 0}" aria-sort="none">'
                    f'<button type="button">{esc(label)}</button></th>' for key, label, numeric in COLUMNS)
    options = "".join(f'<option value="{s.value}">{s.value}</option>' for s in sorted(Status, key=lambda s: -s.rank))
    controls = ('<div id="controls" hidden><input type="search" id="filter" placeholder="Filter agents…" '
                'aria-label="Filter agents"><select id="status-filter" aria-label="Status">'
                f'<option value="">all statuses</option>{options}</select><span id="shown"></span></div>')
    return f'{controls}<table id="agents-table"><thead><tr>{heads}</tr></thead><tbody>\n'


def _definition_list(items: Iterable[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items if v) + "</dl>"


def evidence_table(findings: list[Finding], total: int) -> str:
    rows = []
    for f in findings[:MAX_EVIDENCE]:
        cred = f"{f.credential.preview} (fingerprint {f.credential.fingerprint})" if f.credential else ""
        rows.append("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in (
            f"{f.detector}/{f.kind}", f.evidence, f.location.describe(), cred, f.confidence.value)) + "</tr>")
    more = f'<p class="meta">… and {total - MAX_EVIDENCE} more findings</p>' if total > MAX_EVIDENCE else ""
    head = "".join(f"<th>{h}</th>" for h in ("Seen by", "Evidence", "Where", "Credential", "Confidence"))
    return f'<table class="evidence"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{more}'


def agent_detail(agent: Agent, fmap: dict[str, Finding]) -> str:
    findings = agent_findings(agent, fmap)
    change = f" · {agent.change.value}" if agent.change and agent.change != Change.UNCHANGED else ""
    facts = _definition_list([
        ("Status", agent.status.value + change), ("Severity", agent.severity.value),
        ("Owner (guess)", ", ".join(agent.owners) or "unknown"), ("Registry record", agent.approved_id or ""),
        ("Providers", ", ".join(agent.providers)), ("Models", ", ".join(agent.models)),
        ("Spend", spend_text(agent.spend)), ("First seen", agent.first_seen or ""),
        ("Last seen", agent.last_seen or ""), ("Seen by", ", ".join(agent.detectors)),
        ("Dedupe key", agent.dedupe_key),
    ])
    reasons = "".join(f"<li>{esc(r.message)} <code>{esc(r.code)}</code></li>" for r in agent.reasons)
    parts = [f'<details class="agent" id="agent-{esc(agent.id)}"><summary>'
             f'<span class="badge" style="background:{STATUS_COLOUR[agent.status.value]}">{esc(agent.status.value)}'
             f'</span> {esc(agent.name)} <span class="sev-{esc(agent.severity.value)}">'
             f'{esc(agent.severity.value)}</span></summary>', facts,
             f"<h3>Why</h3><ul>{reasons}</ul>" if reasons else "",
             f"<h3>What to do</h3><p>{esc(agent.remediation or '-')}</p>"]
    if findings:
        parts.append("<h3>Evidence</h3>" + evidence_table(findings, len(agent.findings)))
    return "".join(parts) + "</details>"


def coverage_section(coverage: list[Coverage]) -> str:
    items = []
    for c in coverage:
        scanned = ", ".join(f"{n:,} {what}" for what, n in sorted(c.scanned.items()))
        detail = c.reason or (f"{c.gaps_total} items not readable" if c.gaps_total else "")
        gaps = "".join(f"<li><code>{esc(g.what)}</code>: {esc(g.reason)}</li>" for g in c.gaps[:20])
        host = f" on {c.host}" if c.host else ""
        items.append(f"<li><strong>{esc(c.detector)}</strong>{esc(host)}: {esc(c.status.value)}"
                     f"{esc(f' ({scanned})') if scanned else ''}{esc(f' — {detail}') if detail else ''}"
                     f"{f'<ul>{gaps}</ul>' if gaps else ''}</li>")
    return f'<h2>Coverage</h2><ul class="coverage">{"".join(items)}</ul>' if items else ""


def render_html(inventory: Inventory) -> str:
    text = io.StringIO()
    HtmlFormat().render(inventory, text)
    return text.getvalue()


class HtmlFormat(AgentFormat):
    name = "html"
    description = "One self-contained HTML page: charts, sortable/filterable table, per-agent evidence"
    extensions = (".html", ".htm")

    def agent_key(self, agent: Agent) -> Any:
        return reading_order(agent)

    def writer(self, frame: Inventory) -> AgentWriter:
        return _PageWriter(frame)


_ORDER = "\0"  # in a row, where its place in the table goes (escaped text holds no NUL)


class _PageWriter(AgentWriter):
    """The page in two sections, each agent's table row and then its details; the header's summary
    and charts come from the counts and costs taken as the agents are given."""

    sections = 2

    def __init__(self, frame: Inventory) -> None:
        self.meta, self.coverage = frame.metadata, frame.coverage
        self.counts = Counts()
        self.spend = ProviderSpend()
        self.seen = self.details = 0
        self.written = [0, 0]  # pieces written so far, per section

    def agent(self, agent: Agent, findings: dict[str, Finding]) -> tuple[str, str]:
        self.counts.agent(agent)
        self.spend.agent(agent, agent_findings(agent, findings))
        self.seen += 1
        row = agent_row(agent, _ORDER)
        if agent.change == Change.GONE:
            return row, ""
        self.details += 1
        return row, agent_detail(agent, findings)

    def head(self) -> str:
        meta = self.meta
        when = str(meta.get("finished_at") or "")
        where = f"on {meta['host']}" if meta.get("host") else ""
        tool = f"shadow-agents {meta['version']}" if meta.get("version") else "shadow-agents"
        title = "LLM agent inventory" + (f" — {meta['host']}" if meta.get("host") else "")
        charts = status_chart(self.counts.summary()["by_status"]) + spend_chart(self.spend.totals())
        return "\n".join([
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            f"<header><h1>{esc(title)}</h1><p class=\"summary\">{esc(self.counts.line(self.coverage))}</p>"
            f"<p class=\"meta\">{esc(' '.join(b for b in ('Scanned', where, when, 'by', tool) if b))}</p></header>",
            f'<section class="charts">{charts}</section>',
            '<section id="agents"><h2>Agents</h2>',
            agents_table_start() if self.seen else '<p>No LLM agents were found.</p>',
        ])

    def piece(self, text: str, section: int = 0) -> str:
        if not text:
            return ""
        written, self.written[section] = self.written[section], self.written[section] + 1
        if section == 0:
            text = text.replace(_ORDER, str(written), 1)
        return text if not written else "\n" + text

    def between(self, section: int) -> str:
        return (("\n</tbody></table>" if self.seen else "") + "\n</section>"
                + ('\n<section id="details"><h2>Details</h2>' if self.details else ""))

    def tail(self) -> list[str]:
        return [("</section>" if self.details else "") + "\n" + coverage_section(self.coverage)
                + f"\n<script>{SCRIPT}</script>\n</body></html>\n"]
