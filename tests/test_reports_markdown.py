"""Markdown: counts, new agents first, an unbreakable table, collapsible evidence, nothing executable."""

from __future__ import annotations

import re
import string

from hypothesis import given, settings, strategies as st

import html

from reports.markdown import WORD_JOINER, md, render_markdown
from scanner.safetext import printable
from scanner.model import Change
from tests.fixtures.inventory_samples import SCRIPT, XSS_DIR, empty_inventory, full_inventory, unregistered_inventory


def _table_rows(text: str) -> list[list[str]]:
    """Rows of the agents table, split on unescaped pipes as GitHub does."""
    table = text.split("### Agents", 1)[1].split("###", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_escape_neutralises_markup():
    assert md("a|b `c` *d* _e_ [f](g) #h") == r"a\|b \`c\` \*d\* \_e\_ \[f\](g) \#h"
    assert md("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert md("two\nlines") == "two lines"
    assert md("\\|") == "\\\\\\|"


def test_escape_drops_mentions_but_keeps_addresses():
    assert md("@anthropic-ai/sdk") == "@\u2060anthropic-ai/sdk"
    assert md("alice@example.com") == "alice@example.com"
    text = render_markdown(full_inventory())
    assert "@\u2060import" in text
    assert re.search(r"(?<!\w)@\w", text) is None


def test_summary_counts_and_new_agents_first():
    inv = full_inventory()
    text = render_markdown(inv)
    assert text.startswith("## LLM agent inventory\n\n**12 agents: 2 approved, 1 dormant")
    assert " · 1 MCP server · " in text.split("\n", 3)[2]  # an MCP server is an item of its own, counted apart
    assert "| shadow | 6 | 6 |" in text and "| approved | 2 | 0 |" in text
    assert "(MCP server) · shadow, low" in text
    new = [a for a in inv.agents if a.change == Change.NEW]
    section = text.split("### New since the baseline (7)", 1)[1].split("###", 1)[0]
    assert all(md(a.name) in section for a in new)
    statuses = [row[0] for row in _table_rows(text)]
    firsts = [s for s in statuses if s.endswith("(new)")]
    assert statuses[: len(firsts)] == firsts and len(firsts) == len(new)
    assert statuses[-1:] == ["gone (was shadow)"]  # dormant records found since are "changed", not gone


def test_table_has_every_agent_with_seven_cells_despite_hostile_names():
    inv = full_inventory()
    rows = _table_rows(render_markdown(inv))
    assert len(rows) == len(inv.agents)
    assert all(len(r) == 7 for r in rows)
    hostile = next(r for r in rows if r[2].startswith("=SUM"))
    assert hostile[2] == r"=SUM(1+1)\|calc"
    assert hostile[5] == "-" and hostile[6].endswith("bot.py:1")
    spend = {r[2]: r[5] for r in rows}
    assert spend["aws:123456789012:bedrock/anthropic.claude-3-5-sonnet"] == "1,234.50 USD"


def test_no_raw_html_or_code_spans_from_scanned_strings():
    text = render_markdown(full_inventory())
    assert SCRIPT not in text and XSS_DIR not in text
    assert "&lt;script&gt;" in text
    assert re.search(r"(?<!\\)`", text) is None  # every backtick from the evidence is escaped
    tags = set(re.findall(r"</?([a-zA-Z]+)", text))
    assert tags <= {"details", "summary"}


def test_details_are_collapsible_and_carry_reasons_and_remediation():
    text = render_markdown(full_inventory())
    blocks = re.findall(r"<details>\n<summary>(.*?)</summary>\n\n(.*?)\n</details>", text, re.S)
    assert len(blocks) == 13  # every agent still present
    summary, body = next(b for b in blocks if "support-bot" in b[0])
    assert summary == "[drift (changed)] support-bot · high"
    assert "(key-in-history)" in body and "**What to do:**" in body
    assert "OPENAI\\_API\\_KEY=sk-proj-" in body
    tools = next(b for b in blocks if "tools/" in b[0])
    assert "&lt;img src=x onerror=alert(1)&gt;" in tools[0]


def test_empty_and_unregistered_inventories():
    assert render_markdown(empty_inventory()) == "## LLM agent inventory\n\n**0 agents**\n\nNo LLM agents were found.\n"
    text = render_markdown(unregistered_inventory())
    assert "New since the baseline" not in text and "| shadow | 4 | 0 |" in text
    assert "What this scan could not see" not in text


def _md_as_regexes_write_it(text: str) -> str:
    """md() as it was first written: entities, then a regex putting a backslash before each special."""
    one_line = " ".join(printable(text).split())
    escaped = re.sub(r"([\\`*_\[\]|#~!])", r"\\\1", html.escape(one_line, quote=False))
    return re.sub(r"(?<!\w)@(?=\w)", "@" + WORD_JOINER, escaped)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(string.printable) + ["é", "…", "\x00", "\x1b", "\u202e", "\u2060"]),
               max_size=24) | st.text(max_size=40))
def test_md_its_fast_path_and_its_one_pass_escape_as_the_regexes_did(text: str) -> None:
    assert md(text) == _md_as_regexes_write_it(text)
