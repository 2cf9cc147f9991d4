"""Python source: catalogue SDK and framework imports, whether this file calls them, and cloud clients.

An import says which SDK a file uses; a call of the imported name (``OpenAI()``,
``anthropic.Anthropic()``, ``litellm.completion(...)``, a subclass of an LLM client class)
says the file makes a client or a request. Only the second can call a model.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from detectors.repo.filetypes.base import (IMPORTS_NOTE, FileView, Hit, is_llm_client, may_be_client, record_calls,
                                           strongest_import_hit)
from detectors.repo.rules import Target

EXTENSIONS = (".py", ".pyi")
_AS = rb"(?:[ \t]+as[ \t]+[A-Za-z_]\w*)?"  # import x as y: y is the name bound
_PY_IMPORT = re.compile(
    rb"[ \t]*\"?[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b|import[ \t]+([A-Za-z_][\w.]*" + _AS
    + rb"(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*" + _AS + rb")*))",
    re.M)
_IMPORT_AS = re.compile(rb"([A-Za-z_][\w.]*)(?:[ \t]+as[ \t]+([A-Za-z_]\w*))?")
_NAMES_END = re.compile(rb"\\n|[\"#;\n]")  # where a ``from x import a, b`` list ends (notebook JSON: at \n or ")
# the first name of a call chain: name(…), name.attr.method(…)
_CALL = re.compile(rb"(?<![\w.])([A-Za-z_]\w*)(?:[ \t]*\.[ \t]*[A-Za-z_]\w*)*[ \t]*\(")
_CLASS = re.compile(rb"(?m)^[ \t]*\"?[ \t]*class[ \t]+([A-Za-z_]\w*)[ \t]*\(([^)\n]{0,500})\)")
# a cloud SDK's generic client factory: boto3.client("bedrock-runtime"), session.client(service_name='…')
_SDK_CLIENT = re.compile(rb"\bclient\(\s*(?:service_name\s*=\s*)?[\"']([a-z0-9-]{2,60})[\"']")
NAMES_REACH = 4000  # bytes of a parenthesised ``from x import (…)`` list
LINE_REACH = 512  # bytes searched back for a line's start before the file's line index is asked
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"__future__"}


@dataclass
class Import:
    module: str  # the dotted module named
    pos: int  # offset of the import statement
    names_at: int = -1  # for ``from x import …``: where the names begin
    bound: list[bytes] | None = None  # for ``import x``: the name it binds

    def names(self, data: bytes) -> tuple[list[bytes], bool]:
        """(the names this import binds, whether it is ``from x import *``), read when needed."""
        if self.bound is not None:
            return self.bound, False
        return _from_names(data, self.names_at)


def applies(f: FileView) -> bool:
    return f.ext in EXTENSIONS


def scan(f: FileView) -> list[Hit]:
    imports = parse_imports(f)
    hits = import_hits(f, imports, "python")
    cloud = f.rules.client_modules
    if cloud and any(imp.module.split(".")[0] in cloud for imp in imports) and b"client(" in f.data:
        hits += sdk_clients(f, imports)  # only a file importing a cloud SDK can make its clients
    tops: dict[str, int] = {}
    for imp in imports:
        top = imp.module.split(".")[0]
        if top not in tops and top not in _STDLIB:
            tops[top] = f.lines.of(imp.pos)
    if tops:
        hits.append(Hit(IMPORTS_NOTE, 0, details={"modules": tops}))
    return hits


def parse_imports(f: FileView) -> list[Import]:
    """Every ``import x``/``from x import a, b as c``/``from x import (…)`` with the names it binds.

    Each line holding ``import`` is read once, from its start (a file has thousands of them: the
    loop is kept to a few calls a line).
    """
    data, out = f.data, []
    find, rfind, match = data.find, data.rfind, _PY_IMPORT.match
    last = -1  # start of the last line read
    pos = find(b"import")
    while pos >= 0:
        nl = rfind(b"\n", max(0, pos - LINE_REACH), pos)
        line_start = nl + 1 if nl >= 0 or pos <= LINE_REACH else f.lines.start(pos)  # a long line: its index
        pos = find(b"import", pos + 6)
        if line_start == last:
            continue
        last = line_start
        m = match(data, line_start)
        if m is None:
            continue
        at = m.start()
        module = m.group(1)
        if module is not None:  # from x import …
            out.append(Import(module.decode("ascii", "replace"), at, names_at=m.end()))
            continue
        names = m.group(2)
        if b"," not in names and b" " not in names and b"\t" not in names:  # import x.y, the common case
            out.append(Import(names.decode("ascii", "replace"), at, bound=[names.split(b".")[0]]))
            continue
        for part in names.split(b","):
            mm = _IMPORT_AS.match(part.strip())
            if mm:
                out.append(Import(mm.group(1).decode("ascii", "replace"), at,
                                  bound=[mm.group(2) or mm.group(1).split(b".")[0]]))
    return out


def _from_names(data: bytes, pos: int) -> tuple[list[bytes], bool]:
    rest = data[pos:pos + NAMES_REACH].lstrip(b" \t")
    if rest.startswith(b"("):
        close = rest.find(b")")
        text = rest[1:close if close >= 0 else len(rest)]
    else:
        end = _NAMES_END.search(rest)
        text = rest[:end.start() if end else len(rest)]
    names = []
    for part in text.replace(b"\\n", b" ").replace(b'"', b" ").split(b","):
        bits = part.split()
        if bits and bits[0] == b"*":
            return names, True
        if len(bits) >= 3 and bits[1] == b"as":
            names.append(bits[2])
        elif bits and re.fullmatch(rb"[A-Za-z_]\w*", bits[0]):
            names.append(bits[0])
    return names, False


def import_hits(f: FileView, imports: list[Import], language: str) -> list[Hit]:
    """One hit per catalogue target imported, of the kind its calls in this file make it."""
    rules = f.rules
    by_target: dict[str, tuple[Target, list[tuple[Import, list[bytes], bool]]]] = {}
    names: dict[bytes, Target] = {}
    for imp in imports:
        t = rules.python_target(imp.module)
        if t is None:
            continue
        bound, star = imp.names(f.data)
        by_target.setdefault(t.name, (t, []))[1].append((imp, bound, star))
        for name in filter(may_be_client, bound):
            names[name] = t
            if is_llm_client(f, t, language, imp.module):
                f.llm_names[name.decode("ascii", "replace")] = t
    if not by_target:
        return []
    called = record_calls(f, _CALL, names)
    for m in _CLASS.finditer(f.data):  # class ChatLLM(ChatOpenAI): a subclass of an LLM client is one
        bases = {b.strip().split(b".")[0] for b in m.group(2).split(b",")}
        for base in bases & set(names):
            if not f.is_comment_at(m.start()):
                called.add(base)
    return [strongest_import_hit(f, t, [(i.module, i.pos, star or any(n in called for n in bound))
                                        for i, bound, star in imps], language)
            for t, imps in by_target.values()]


def sdk_clients(f: FileView, imports: list[Import]) -> list[Hit]:
    """Provider services reached through a generic cloud client: ``boto3.client("bedrock-runtime")``.

    Counts only in a file that imports that cloud's SDK (catalogue ``client_modules``).
    """
    rules = f.rules
    modules = {imp.module.split(".")[0] for imp in imports}
    out: dict[str, Hit] = {}
    for m in _SDK_CLIENT.finditer(f.data):
        name = m.group(1).decode("ascii")
        provider = rules.client_names.get(name)
        if provider is None or name in out:
            continue
        if not modules & set(rules.catalog.providers[provider].client_modules):
            continue
        if f.is_comment_at(m.start()):
            continue
        out[name] = Hit("sdk-usage", f.lines.of(m.start()), provider=provider, confidence="high",
                        label=f'creates a "{name}" client', details={"client": name, "language": "python"},
                        pos=m.start())
    return list(out.values())
