"""Formatless keys (Mistral, Cohere, Azure OpenAI) are keys only where a name says whose they are.

Each case plants a generated key in a real file of a tmp tree and runs the repo detector:
the names users write (``mistralToken``, ``os.environ["…"] = …``, a trailing comment, an
OpenAI-style name next to an Azure endpoint) are found at the value's line, with the right
provider; the same value under a name that says nothing, or an OpenAI name with no Azure host
in the file, is not a key.
"""

from __future__ import annotations

import pytest

from scanner.redact import fingerprint
from tests.keys import make_key
from tests.test_repo_support import credentials, scan, write

AZURE_HOST = "contoso-eu.openai.azure.com"


@pytest.mark.parametrize("name,text", [
    ("camel-case", 'mistralToken = "{k}"\n'),
    ("provider-word-and-key-word", 'export MISTRAL_SECRET={k}\n'),
    ("os-environ-item", 'import os\nos.environ["MISTRAL_API_KEY"] = "{k}"\n'),
    ("typed-go-var", 'package main\n\nvar mistralToken string = "{k}"\n'),
    ("python-annotation", 'mistral_key: str = "{k}"\n'),
    ("make-operator", 'MISTRAL_TOKEN ?= {k}\n'),
    ("set-property", 'System.setProperty("MISTRAL_API_KEY", "{k}");\n'),
    ("trailing-comment", 'API_KEY = "{k}"  # MISTRAL_API_KEY\n'),
    ("xml-element", '<config>\n  <mistralToken>\n    {k}\n  </mistralToken>\n</config>\n'),
])
def test_a_mistral_key_under_the_names_users_write(tmp_path, name: str, text: str) -> None:
    key = make_key("mistral", seed=len(name))
    ext = {"typed-go-var": "go", "xml-element": "xml", "make-operator": "mk", "set-property": "java",
           "provider-word-and-key-word": "sh"}.get(name, "py")
    f = write(tmp_path / f"app/config.{ext}", text.replace("{k}", key))
    found = credentials(scan(tmp_path)[0])
    assert fingerprint(key) in found, name
    finding = found[fingerprint(key)]
    assert finding.provider == "mistral"
    line = next(n for n, ln in enumerate(f.read_text().splitlines(), 1) if key in ln)
    assert finding.location.line == line


@pytest.mark.parametrize("text", [
    'build_token = "{k}"\n',  # a key word with no provider's word
    'mistral_model_name = "{k}"\n',  # the provider's word with no key word
    'API_KEY = "{k}"  # rotated monthly\n',  # a trailing comment naming no provider
    'mistral_key_id = "{k}"\n',  # a key's id is no key
])
def test_a_formatless_value_under_a_name_that_does_not_say_whose_is_no_key(tmp_path, text: str) -> None:
    key = make_key("mistral", seed=3)
    write(tmp_path / "app/config.py", text.replace("{k}", key))
    assert fingerprint(key) not in credentials(scan(tmp_path)[0])


@pytest.mark.parametrize("text", [
    'import openai\nopenai.api_key = "{k}"\nopenai.api_base = "https://{h}/"\n',
    'export OPENAI_API_BASE=https://{h}/\nexport OPENAI_API_KEY={k}\n',
    'const client = new OpenAI({{ apiKey: "{k}", baseURL: "https://{h}/openai/deployments/chat" }});\n',
])
def test_an_openai_style_name_next_to_an_azure_endpoint_holds_an_azure_key(tmp_path, text: str) -> None:
    key = make_key("azure-openai", seed=5)
    write(tmp_path / "app/client.py", text.format(k=key, h=AZURE_HOST))
    finding = credentials(scan(tmp_path)[0])[fingerprint(key)]
    assert finding.provider == "azure-openai" and finding.credential.key_type == "azure-openai-key"


def test_the_same_value_without_an_azure_host_in_the_file_is_no_key(tmp_path) -> None:
    key = make_key("azure-openai", seed=6)
    write(tmp_path / "app/client.py", f'import openai\nopenai.api_key = "{key}"\n')
    write(tmp_path / "app/other.py", f'BASE = "https://{AZURE_HOST}/"\n')  # another file's host says nothing
    assert fingerprint(key) not in credentials(scan(tmp_path)[0])


def test_a_kubernetes_env_pair_is_reported_at_the_value_line(tmp_path) -> None:
    key = make_key("azure-openai", seed=7)
    write(tmp_path / "deploy/app.yaml",
          f'env:\n  - name: AZURE_OPENAI_API_KEY\n    value: "{key}"\n')
    finding = credentials(scan(tmp_path)[0])[fingerprint(key)]
    assert finding.provider == "azure-openai" and finding.location.line == 3


def test_name_tries_match_what_the_case_insensitive_alternation_matches() -> None:
    """The context pattern's names are tries of case classes: same matches as ``(?i:a|b|…)`` longest first."""
    import re

    from detectors.repo.rules import SEPARATOR, caseless_trie

    names = ["OPENAI_API_KEY", "OPENAI_KEY", "OPENROUTER_API_KEY", "CO_API_KEY", "COHERE_API_KEY"]
    trie = re.compile(caseless_trie([list(n) for n in names]))
    alternation = re.compile("(?i:" + "|".join(sorted(names, key=len, reverse=True)) + ")")
    for text in ["OPENAI_API_KEY", "openai_key", "OpenRouter_Api_Key", "co_api_key", "cohere_api_keys", "OPENAI_",
                 "xOPENAI_KEY", "COHERE_API_KE", "openai_api_keyopenai_key"]:
        got, want = trie.match(text), alternation.match(text)
        assert (got and got.group()) == (want and want.group()), text
    stems = re.compile(caseless_trie([["a", "z", "u", "r", "e", SEPARATOR, "o", "a", "i"], ["a", "z", "u", "r", "e"]]))
    assert [stems.match(t).group() for t in ("azure_oai", "Azure-OAI", "azureoai", "azure.x")] == \
        ["azure_oai", "Azure-OAI", "azureoai", "azure"]
