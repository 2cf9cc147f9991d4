"""Everything the repo detector matches, compiled once from the provider catalogue.

Nothing here names a provider, hostname, key shape, env var or package: it is all
read from :class:`~scanner.catalog.Catalog`. The object is picklable so worker
processes get the same rules as the parent.

Speed comes from literal prefilters: Python's regex engine is fast only when a
pattern starts with a literal, so the key scan first looks for each key prefix
with ``bytes in``/``find`` (memchr speed) and runs the full key regex only at the
few positions that start with one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

try:  # optional accelerator: one Aho-Corasick pass finds every anchor literal (~7x faster than one find each)
    import ahocorasick_rs
except ImportError:  # pragma: no cover - depends on the installation
    ahocorasick_rs = None

from scanner.catalog import Catalog, KeyFormat

# SDK keyword arguments / object keys that take an API key (language conventions, not provider data);
# a provider's own ones (Azure's subscription_key=) are its catalogue ``key_arguments``.
API_KEY_ARGS = ("api_key", "apiKey", "api-key", "apikey")
# How a name is joined to its value (language conventions): NAME=, NAME:, :=, ::=, ?=, .= (Make, PHP),
# => (Perl, Ruby, Logstash), <NAME>value (XML), os.environ["NAME"] = …, setProperty("NAME", "…").
# A declared string type may sit between (Go ``var k string = …``, Python ``k: str = …``, TS ``k: string =``).
ASSIGN = r"""(?:[\"'\]]{1,2}\s*,|[\"'\]]{0,2}(?:\s{0,8}:?\s{0,8}(?i:str|string)(?=\s{0,8}=))?\s*(?::{0,3}=|\?=|\.=|=>|:|>))"""
# A formatless key's name other than its catalogue variables: the provider's own word (the stem of
# its key variables, MISTRAL_API_KEY -> mistral), up to two of these qualifiers, then a key word:
# mistralToken, cohere_api_token, azure_openai_secret, "cohere secret key =".
KEY_QUALIFIERS = ("api", "access", "secret", "private", "auth", "service")
KEY_WORDS = ("key", "token", "secret", "pat")
_STEM_TAIL = re.compile(r"(?:_(?:API|ACCESS|SECRET|AUTH|SERVICE))*_(?:KEY|TOKEN|SECRET|PAT|CREDENTIAL)$")
MIN_STEM = 3  # NGC; CO (CO_API_KEY) is too short to name a provider


def _minimal_literals(prefixes: set[str]) -> list[str]:
    """Drop every prefix that starts with a shorter one: ``sk-`` covers ``sk-proj-``."""
    out: list[str] = []
    for p in sorted(prefixes, key=len):
        if not any(p.startswith(q) for q in out):
            out.append(p)
    return sorted(out)


def python_import_names(dist: str) -> set[str]:
    """Likely import names of a Python distribution: ``google-genai`` → ``google.genai``, ``google_genai``."""
    base = dist.lower()
    names = {base.replace("-", "_"), base.replace("-", ".")}
    for suffix in ("-ai", "-python", "-sdk", "-client", "-py"):
        if base.endswith(suffix) and len(base) > len(suffix) + 2:
            names.add(base[: -len(suffix)].replace("-", "_"))
    return names


# The tails of model=, Model: and MODEL = (the first letter is checked by the caller).
MODEL_ANCHORS = (b"odel", b"ODEL")
URL_MARK = b"://"  # where a URL's scheme ends (the endpoints family starts there)
Positions = list[tuple[int, bytes]]
Anchors = tuple[Positions, Positions, Positions, Positions]  # keys, contexts, models, URLs


@dataclass(frozen=True)
class Target:
    """What a package, import or model name points at: a provider and/or a framework."""

    provider: str | None
    framework: str | None
    name: str


@dataclass
class Rules:
    catalog: Catalog
    literals: list[bytes] = field(default_factory=list)
    formats_by_literal: dict[bytes, list[tuple[re.Pattern[bytes], KeyFormat]]] = field(default_factory=dict)
    key_env_names: dict[str, str] = field(default_factory=dict)  # UPPER name -> provider
    key_stems: dict[str, str] = field(default_factory=dict)  # lower stem, no separators -> provider
    endpoint_env_names: frozenset[str] = frozenset()  # UPPER names of catalogue base-URL variables
    context_anchors: list[bytes] = field(default_factory=list)
    context_rx: re.Pattern[bytes] | None = None
    context_name_reach: int = 0  # how far before an anchor in it a name of context_rx can start
    # right after an anchor: an assignment of a long enough value, or a k8s ``value:`` on the next line
    # Bounded, and the rest of the name is taken whole (an atomic group: lookahead + backreference),
    # so one anchor costs a few dozen steps; group ``rest`` says where the name ended.
    # It always matches; group ``assign`` is set when an assignment follows.
    context_quick: re.Pattern[bytes] = re.compile(
        rb"(?=(?P<rest>[A-Za-z0-9_-]{0,64}))(?P=rest)(?P<assign>\\?[\"'\]]{0,2}(?:\s{0,8}:?\s{0,8}(?i:str|string)(?=\s{0,8}=))?\s{0,64}"
        rb"(?:(?:,|:{0,3}=|\?=|\.=|=>|:|>)\s{0,64}\\?[\"'`]?[A-Za-z0-9+/=._:-]{12}|\n\s{0,64}(?:-\s{0,8})?value:))?")
    py_imports: dict[str, Target] = field(default_factory=dict)
    js_imports: dict[str, Target] = field(default_factory=dict)
    js_prefixes: list[tuple[str, Target]] = field(default_factory=list)
    rust_crates: dict[str, Target] = field(default_factory=dict)  # crate name as Rust code spells it -> target
    packages: dict[str, dict[str, Target]] = field(default_factory=dict)  # ecosystem -> name -> target
    client_names: dict[str, str] = field(default_factory=dict)  # boto3.client("<name>") -> provider
    client_modules: frozenset[str] = frozenset()  # the cloud SDKs whose client factories name those
    model_rx: re.Pattern[str] | None = None
    model_groups: dict[str, str] = field(default_factory=dict)
    provider_tokens: dict[str, list[str]] = field(default_factory=dict)

    _automaton: Any = field(default=None, repr=False)
    _memo: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)  # kind -> key -> value

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_automaton": None, "_memo": {}}  # rebuilt in each process

    def _cached(self, kind: str, key: str, compute):  # type: ignore[no-untyped-def]
        """Source trees repeat the same imports and hosts thousands of times: look each up once."""
        memo = self._memo.get(kind)
        if memo is None:
            memo = self._memo[kind] = {}
        try:
            return memo[key]
        except KeyError:
            if len(memo) > 50_000:
                memo.clear()
            value = memo[key] = compute(key)
            return value

    def provider_for_host(self, host: str) -> str | None:
        return self._cached("host", host, self.catalog.provider_for_host)

    def llm_api_path(self, path: str) -> bool:
        return self._cached("api-path", path, self.catalog.is_llm_api_path)

    def anchor_positions(self, data: bytes) -> Anchors:
        """Sorted (offset, literal) of key-prefix literals, of context anchors, of model-name keys and
        of URL schemes' ``://``.

        One Aho-Corasick pass finds all four, so ``model=``/``MODEL =`` lookups and URLs cost no
        extra scan of the file.
        """
        if ahocorasick_rs is not None:
            if self._automaton is None:
                self._automaton = ahocorasick_rs.BytesAhoCorasick(
                    self.literals + self.context_anchors + list(MODEL_ANCHORS) + [URL_MARK])
            n, c = len(self.literals), len(self.literals) + len(self.context_anchors)
            m = c + len(MODEL_ANCHORS)
            keys, context, models, urls = [], [], [], []
            for idx, start, _ in self._automaton.find_matches_as_indexes(data, overlapping=True):
                if idx < n:
                    keys.append((start, self.literals[idx]))
                elif idx < c:
                    context.append((start, self.context_anchors[idx - n]))
                elif idx < m:
                    models.append((start, MODEL_ANCHORS[idx - c]))
                else:
                    urls.append((start, URL_MARK))
            keys.sort()
            context.sort()
            models.sort()
            urls.sort()
            return keys, context, models, urls
        return (_find_all(data, self.literals), _find_all(data, self.context_anchors), _find_all(data, MODEL_ANCHORS),
                _find_all(data, [URL_MARK]))

    @classmethod
    def build(cls, catalog: Catalog) -> "Rules":
        r = cls(catalog)
        r._build_keys()
        r._build_context()
        r._build_imports()
        r._build_models()
        return r

    # ---- credentials -------------------------------------------------------------

    def _build_keys(self) -> None:
        formats = [k for k in self.catalog.key_formats if not k.context_only and k.prefixes]
        self.literals = [p.encode() for p in _minimal_literals({p for k in formats for p in k.prefixes})]
        for lit in self.literals:
            matching = [k for k in formats if any(p.encode().startswith(lit) for p in k.prefixes)]
            self.formats_by_literal[lit] = [(re.compile(k.regex.pattern.encode()), k) for k in matching]

    def _build_context(self) -> None:
        """Assignments of a value to a catalogue key variable, a name made of a provider's word and a key
        word, or an SDK ``api_key`` argument."""
        self.key_env_names = {v.name.upper(): v.provider for v in self.catalog.env_vars.values() if v.role == "key"}
        self.endpoint_env_names = frozenset(v.name.upper() for v in self.catalog.env_vars.values()
                                            if v.role == "endpoint")
        names = sorted(self.key_env_names, key=len, reverse=True)
        formatless = {k.provider for k in self.catalog.key_formats if k.context_only}
        stems: dict[str, str] = {}
        for name, provider in self.key_env_names.items():
            stem = _STEM_TAIL.sub("", name)
            if provider in formatless and stem != name and len(stem.replace("_", "")) >= MIN_STEM:
                stems.setdefault(stem.lower(), provider)
        self.key_stems = {s.replace("_", ""): p for s, p in stems.items()}
        # Every key variable ends in _KEY, _TOKEN, …, every other key name in a key word: those (any
        # case) find the candidate lines.
        args = sorted({*API_KEY_ARGS, *self.catalog.key_arguments}, key=len, reverse=True)
        tails = {"_" + n.rsplit("_", 1)[-1] for n in [*names, *args] if "_" in n}
        words = {w for k in KEY_WORDS if k != "pat" for w in (k, k.upper(), k.capitalize())}  # PATH: too common
        anchors = {t.upper() for t in tails} | {t.lower() for t in tails} | {a for a in args if "_" not in a}
        anchors = {a for a in anchors if not any(w in a for w in words)} | words
        self.context_anchors = sorted(a.encode() for a in anchors)
        # The longest name: a catalogue variable, an argument, or a stem with two qualifiers, a key
        # word and two digits, a separator between each.
        self.context_name_reach = max([len(n) for n in [*names, *args]]
                                      + [len(s) + 2 * (1 + max(map(len, KEY_QUALIFIERS))) + 1
                                         + max(map(len, KEY_WORDS)) + 2 for s in stems])
        name_alt = caseless_trie([list(n) for n in names])
        stem_alt = caseless_trie([_with_separators(s) for s in stems])
        arg_alt = caseless_trie([list(a) for a in args])
        value = r"\\?[\"'`]?(?P<value>[A-Za-z0-9+/=._:-]{12,300})"  # \\" is a quote escaped inside JSON
        stem_name = (rf"(?P<stem>{stem_alt})(?i:(?:[ _.-]?(?:{'|'.join(KEY_QUALIFIERS)})){{0,2}}"
                     rf"[ _.-]?(?:{'|'.join(KEY_WORDS)}))[0-9]{{0,2}}{ASSIGN}\s*{value.replace('value>', 'svalue>')}")
        # One look-behind for the three that start at a word boundary: most positions are inside a word.
        self.context_rx = re.compile(
            (
                rf"(?:(?<![A-Za-z0-9])(?:(?<!_)(?P<name>{name_alt}){ASSIGN}\s*{value}"
                + (rf"|{stem_name}" if stems else "")
                + rf"|(?<!_)(?P<arg>{arg_alt})[\"'\]]{{0,2}}\s*(?:=|:|=>)\s*\\?[\"'`](?P<argvalue>[A-Za-z0-9+/=._:-]{{12,300}})\\?[\"'`])"
                rf"|name:\s*[\"']?(?P<kname>{name_alt})[\"']?\s*\n\s*(?:-\s*)?value:\s*{value.replace('value>', 'kvalue>')})"
            ).encode()
        )
        for p in self.catalog.providers.values():
            tokens = {p.id.split("-")[0].lower(), p.name.split()[0].lower()}
            self.provider_tokens[p.id] = sorted(t for t in tokens if len(t) >= 4)

    # ---- imports and packages ------------------------------------------------------

    def _build_imports(self) -> None:
        eco_alias = {"python": "python", "javascript": "javascript", "go": "go", "rust": "rust"}
        self.packages = {eco: {} for eco in eco_alias.values()}
        for p in self.catalog.providers.values():
            for eco, names in p.packages.items():
                for name in names:
                    t = Target(p.id, None, name)
                    self.packages.setdefault(eco, {}).setdefault(_norm(eco, name), t)
                    if eco == "python":
                        for imp in python_import_names(name):
                            self.py_imports.setdefault(imp, t)
                    elif eco == "javascript":
                        self.js_imports.setdefault(name, t)
        for f in self.catalog.frameworks.values():
            provider = f.providers[0] if len(f.providers) == 1 else None
            for eco, names in f.packages.items():
                for name in names:
                    self.packages.setdefault(eco, {}).setdefault(_norm(eco, name), Target(provider, f.id, name))
            for imp in f.imports.get("python", []):
                self.py_imports[imp] = Target(provider, f.id, imp)
            for imp in f.imports.get("javascript", []):
                if imp.endswith("/"):
                    self.js_prefixes.append((imp, Target(provider, f.id, imp)))
                else:
                    self.js_imports[imp] = Target(provider, f.id, imp)
            for imp in f.imports.get("rust", []):  # a library name that differs from the package's: rig-core -> rig
                self.rust_crates[imp] = Target(provider, f.id, imp)
        for tool in self.catalog.tools.values():
            provider = tool.providers[0] if len(tool.providers) == 1 else None
            for eco, names in tool.packages.items():
                for name in names:
                    self.packages.setdefault(eco, {}).setdefault(_norm(eco, name), Target(provider, tool.id, name))
        self.js_prefixes.sort(key=lambda x: -len(x[0]))
        for name, t in self.packages.get("rust", {}).items():
            self.rust_crates.setdefault(name.replace("-", "_"), t)  # Rust code writes async-openai as async_openai
        self.client_names = {n: p.id for p in self.catalog.providers.values() for n in p.client_names}
        self.client_modules = frozenset(m for p in self.catalog.providers.values() if p.client_names
                                        for m in p.client_modules)

    def python_target(self, module: str) -> Target | None:
        """Longest dotted prefix of ``module`` the catalogue knows."""
        return self._cached("py", module, self._python_target)

    def _python_target(self, module: str) -> Target | None:
        parts = module.split(".")
        for n in range(len(parts), 0, -1):
            t = self.py_imports.get(".".join(parts[:n]))
            if t:
                return t
        return None

    def js_target(self, spec: str) -> Target | None:
        if spec in self.js_imports:
            return self.js_imports[spec]
        parts = spec.split("/")
        base = "/".join(parts[:2]) if spec.startswith("@") else parts[0]
        if base in self.js_imports:
            return self.js_imports[base]
        for prefix, t in self.js_prefixes:
            if spec.startswith(prefix):
                return t
        return None

    def package_target(self, ecosystem: str, name: str) -> Target | None:
        table = self.packages.get(ecosystem, {})
        t = table.get(_norm(ecosystem, name))
        if t is None and ecosystem == "go":
            for mod, target in table.items():
                if name.startswith(mod + "/"):
                    return target
        return t

    # ---- models ----------------------------------------------------------------

    def _build_models(self) -> None:
        alts = []
        for i, (p, pat) in enumerate((p, pat) for p in self.catalog.providers.values() for pat in p.models):
            alts.append(f"(?P<m{i}>{pat})")
            self.model_groups[f"m{i}"] = p.id
        if alts:
            self.model_rx = re.compile("(?:" + "|".join(alts) + ")")

    def model_provider_cached(self, name: str) -> str | None:
        return self._cached("model", name, self.model_provider)

    def model_provider(self, name: str) -> str | None:
        if self.model_rx is None:
            return None
        m = self.model_rx.fullmatch(name)
        return self.model_groups.get(m.lastgroup or "") if m else None


SEPARATOR = r"[ _.-]?"  # between the words of a provider's stem: mistral_api, mistral-api, mistralApi


def _with_separators(stem: str) -> list[str]:
    """``azure_openai`` -> the characters of ``azure``, a separator, those of ``openai``."""
    out: list[str] = []
    for i, word in enumerate(stem.split("_")):
        out += ([SEPARATOR] if i else []) + list(word)
    return out


def caseless_trie(words: list[list[str]]) -> str:
    """A case-insensitive alternation of ``words`` (each a list of characters or :data:`SEPARATOR`) as a trie.

    ``(?i:OPENAI_API_KEY|OPENROUTER_API_KEY|…)`` makes the regex engine try every word at every
    position, character by character with case folding; a trie of ``[Oo][Pp][Ee][Nn](?:[Aa]…|[Rr]…)``
    lets it reject a position on its first character (the engine checks a branch's leading
    character class before entering it). Longer words are preferred, as in a longest-first alternation.
    """
    tree: dict[str, dict] = {}
    for word in words:
        node = tree
        for atom in word:
            node = node.setdefault(atom if atom == SEPARATOR else atom.lower(), {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        alts = [_caseless(atom) + emit(sub) for atom, sub in sorted(node.items()) if atom]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(tree)


def _caseless(atom: str) -> str:
    if atom == SEPARATOR:
        return atom
    return f"[{atom.upper()}{atom}]" if atom.upper() != atom else re.escape(atom)


def _find_all(data: bytes, literals: list[bytes]) -> list[tuple[int, bytes]]:
    out = []
    for lit in literals:
        if lit not in data:
            continue
        pos = data.find(lit)
        while pos >= 0:
            out.append((pos, lit))
            pos = data.find(lit, pos + 1)
    out.sort()
    return out


def _norm(ecosystem: str, name: str) -> str:
    if ecosystem == "python":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name.lower() if ecosystem != "go" else name
