"""The catalogue's admin_api entries: checked against the provider's own keys and env vars."""

from __future__ import annotations

import pytest

from scanner.catalog import Catalog
from scanner.errors import InputError

ENTRY = """providers:
  - id: acme
    name: Acme
    keys:
      - {id: acme-key, regex: 'acme-[a-z0-9]{32}', prefixes: [acme-]}
    env_vars: {keys: [ACME_API_KEY, ACME_ADMIN_KEY]}
    admin_api: %s
"""


def load(tmp_path, admin_api: str) -> Catalog:
    path = tmp_path / "extra.yaml"
    path.write_text(ENTRY % admin_api)
    return Catalog.load([path])


def test_builtin_admin_apis_name_their_variables_and_listed_formats():
    c = Catalog.load()
    assert c.providers["openai"].admin_api.key_env == ("OPENAI_ADMIN_KEY",)
    assert c.providers["anthropic"].admin_api.key_env == ("ANTHROPIC_ADMIN_KEY",)
    assert "ANTHROPIC_ADMIN_KEY" in c.env_vars  # the env and process detectors fingerprint it too
    assert c.providers["azure-openai"].admin_api.account_kinds == ("OpenAI", "AIServices")


def test_admin_api_is_validated(tmp_path):
    good = load(tmp_path, "{base_url: 'https://admin.acme.test', key_env: [ACME_ADMIN_KEY], "
                          "lists_key_formats: [acme-key]}")
    assert good.providers["acme"].admin_api.lists_key_formats == ("acme-key",)
    assert load(tmp_path, "'https://admin.acme.test/v1'").providers["acme"].admin_api.base_url == \
        "https://admin.acme.test/v1"  # the older plain-string form
    for bad, message in (("{key_env: [ACME_TOKEN]}", "not in this provider's env_vars.keys"),
                         ("{lists_key_formats: [other-key]}", "is not one of this provider's keys"),
                         ("{base_url: 'ftp://x'}", "must be an http"),
                         ("{keys_env: [ACME_ADMIN_KEY]}", "unknown field 'keys_env'")):
        with pytest.raises(InputError, match=message):
            load(tmp_path, bad)
