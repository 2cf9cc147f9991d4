"""JavaScript and TypeScript: catalogue SDK and framework imports, and whether this file calls them.

``import OpenAI from 'openai'`` says the file uses the SDK; ``new OpenAI()`` or
``openai('gpt-4o')`` (an ``@ai-sdk/openai`` model) says it makes a client or a request.
Type-only imports bind nothing that runs.
"""

from __future__ import annotations

import re

from detectors.repo.filetypes.base import (JS_EXT, FileView, Hit, is_llm_client, may_be_client, record_calls,
                                           strongest_import_hit)
from detectors.repo.rules import Target

_JS_IMPORT = re.compile(rb"(?:from[ \t]*|require\([ \t]*|import\([ \t]*|import[ \t]+)[\"']([^\"'\n]{1,200})[\"']")
_CALL = re.compile(rb"(?<![\w$.])([A-Za-z_$][\w$]*)(?:\s*\??\.\s*[A-Za-z_$][\w$]*)*\s*\(")
_EXTENDS = re.compile(rb"\bclass\s+[A-Za-z_$][\w$]*\s+extends\s+([A-Za-z_$][\w$]*)")
_ASSIGNED = re.compile(rb"(?:const|let|var)\s+([A-Za-z_$][\w$]*|\{[^}]{0,500}\})\s*=\s*(?:await\s+)?\Z")
_IDENT = re.compile(rb"[A-Za-z_$][\w$]*")
CLAUSE_REACH = 2000  # bytes back from ``from '…'`` to its ``import``


def applies(f: FileView) -> bool:
    return f.ext in JS_EXT


def scan(f: FileView) -> list[Hit]:
    rules = f.rules
    found: dict[str, tuple[Target, list[tuple[str, int, list[bytes]]]]] = {}
    names: dict[bytes, Target] = {}
    for keyword in (b"from", b"require", b"import"):
        pos = f.data.find(keyword)
        while pos >= 0:
            m = _JS_IMPORT.match(f.data, pos)
            pos = f.data.find(keyword, pos + len(keyword))
            if not m:
                continue
            spec = m.group(1).decode("utf-8", "replace")
            t = rules.js_target(spec)
            if t is None:
                continue
            bound = _bound_names(f.data, m.start(), keyword)
            found.setdefault(t.name, (t, []))[1].append((spec, m.start(), bound))
            for name in filter(may_be_client, bound):
                names[name] = t
                if is_llm_client(f, t, "javascript", spec):
                    f.llm_names[name.decode("ascii", "replace")] = t
    if not found:
        return []
    called = record_calls(f, _CALL, names)
    for m in _EXTENDS.finditer(f.data):  # class X extends OpenAI: a subclass of an LLM client is one
        if m.group(1) in names and not f.is_comment_at(m.start()):
            called.add(m.group(1))
    return [strongest_import_hit(f, t, [(spec, pos, any(n in called for n in bound)) for spec, pos, bound in specs],
                                 "javascript")
            for t, specs in found.values()]


def _bound_names(data: bytes, at: int, keyword: bytes) -> list[bytes]:
    """The names an import binds: ``import D, { a, b as c } from``, ``import * as N from``,
    ``const { a } = require(…)``, ``const X = await import(…)``; none for ``import type`` or a bare import."""
    if keyword == b"from":
        start = data.rfind(b"import", max(0, at - CLAUSE_REACH), at)
        if start < 0:
            return []  # export … from: a re-export binds nothing here
        return _clause_names(data[start + len(b"import"):at])
    line_start = max(data.rfind(b"\n", max(0, at - 300), at) + 1, at - 300)
    m = _ASSIGNED.search(data, line_start, at)
    return _pattern_names(m.group(1)) if m else []


def _clause_names(clause: bytes) -> list[bytes]:
    clause = clause.strip()
    if clause.startswith(b"type ") or clause.startswith(b"typeof "):
        return []
    names: list[bytes] = []
    brace = clause.find(b"{")
    head = clause if brace < 0 else clause[:brace]
    star = re.search(rb"\*\s*as\s+([A-Za-z_$][\w$]*)", head)
    if star:
        names.append(star.group(1))
    default = re.match(rb"\s*([A-Za-z_$][\w$]*)\s*(?:,|$)", head)
    if default and default.group(1) not in (b"type",):
        names.append(default.group(1))
    if brace >= 0:
        names += _pattern_names(clause[brace:])
    return names


def _pattern_names(pattern: bytes) -> list[bytes]:
    """``{ a, b as c, d: e, type f }`` → a, c, e; a plain name → itself."""
    if not pattern.startswith(b"{"):
        return [pattern]
    names = []
    for part in pattern.strip(b"{} \t\n").split(b","):
        bits = part.replace(b":", b" as ").split()
        if not bits or bits[0] == b"type":
            continue
        names.append(bits[2] if len(bits) >= 3 and bits[1] == b"as" else bits[0])
    return [n for n in names if _IDENT.fullmatch(n)]
