"""Identity keys: the strings that say "this is the same agent".

A key is ``<type>:<value>``. Strong keys merge findings into one agent; weak keys
(owner, host) describe an agent but never merge two on their own — every program
on a host shares the host, and one person owns many agents.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from scanner.catalog import Catalog


WEAK_TYPES = frozenset({"owner", "host", "parent"})

# Order used to pick the key an agent is named and identified after: where the
# program lives is more stable across runs than the credential it currently holds
# (keys are rotated; the repository or service stays).
ANCHOR_ORDER = ("repo", "proc", "container", "cloud", "shell", "net", "cred", "keyid")


def key_type(key: str) -> str:
    return key.split(":", 1)[0]


def is_weak(key: str) -> bool:
    return key_type(key) in WEAK_TYPES


def anchor_rank(key: str) -> int:
    t = key_type(key)
    return ANCHOR_ORDER.index(t) if t in ANCHOR_ORDER else len(ANCHOR_ORDER) + (1 if t in WEAK_TYPES else 0)


def cred(fingerprint: str) -> str:
    return f"cred:{fingerprint}"


def keyid(provider: str, key_id: str) -> str:
    return f"keyid:{provider}:{key_id}"


def proc(host: str, user: str | None, program: str) -> str:
    return f"proc:{host}:{user or '?'}:{program}"


def shell(host: str, user: str | None) -> str:
    """The interactive environment of a user on a host (env vars, shell profile files)."""
    return f"shell:{host}:{user or '?'}"


def container(container_id: str) -> str:
    """Every process of one container is one workload."""
    return f"container:{container_id[:12]}"


def net(client: str, fingerprint: str) -> str:
    """A network client: host (IP, or DHCP/DNS name) plus its TLS/HTTP client fingerprint."""
    return f"net:{client}:{fingerprint}"


def host(name: str) -> str:
    return f"host:{name}"


def parent(key: str) -> str:
    """Started by the agent whose key this is (an MCP server by its coding agent): a link, never a merge."""
    return f"parent:{key}"


def owner(name: str) -> str:
    return f"owner:{name}"


def repo(root: str, directory: str) -> str:
    return f"repo:{root}:{directory or '.'}"


# ---- cloud resources (billing) and the endpoints that name them ----------------------------------


def cloud(provider: str, account: str, resource: str) -> str:
    """A billed cloud resource: ``cloud:aws:123456789012:arn:aws:iam::…:role/bot``.

    ``account`` is the AWS account, Azure subscription or GCP project; ``resource`` the
    finest unit the bill names (caller, resource id, else the service).
    """
    return f"cloud:{provider}:{account}:{resource}"


def azure_openai_account(name: str) -> str:
    """An Azure OpenAI / AI services account, by its name: ``azure-openai:myaoai``.

    The name is the first label of its endpoint (``myaoai.openai.azure.com``) and the last
    segment of its resource id, so a repository, process or network finding of the endpoint
    and the billed (or inventoried) account share this key. Azure names are case-insensitive.
    """
    return f"azure-openai:{name.strip().lower()}"


def endpoint_keys(catalog: "Catalog", hostname: str | None) -> list[str]:
    """Identity keys a provider endpoint's hostname carries on its own (empty for most hosts).

    Today: the Azure OpenAI account of ``<name>.openai.azure.com`` and the other hostname
    patterns the catalogue marks as naming the account (``billing.azure.account_host_patterns``).
    Every detector that reports an endpoint (env, process, repo, network) calls this one helper.
    """
    name = catalog.azure_account_for_host(hostname) if hostname else None
    return [azure_openai_account(name)] if name else []


_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?([\w.-]+):(?!//)(.+)$")


def normalise_remote(url: str) -> str:
    """``git@github.com:acme/bot.git`` and ``https://u:p@github.com/acme/bot`` → ``github.com/acme/bot``."""
    url = url.strip()
    m = _SCP_LIKE.match(url)
    if m and "://" not in url:
        hostpart, path = m.group(1), m.group(2)
    else:
        rest = url.split("://", 1)[-1]
        rest = rest.rsplit("@", 1)[-1] if "@" in rest.split("/", 1)[0] else rest
        hostpart, _, path = rest.partition("/")
        hostpart = hostpart.split(":", 1)[0] if not hostpart.startswith("[") else hostpart
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{hostpart.lower()}/{path}" if path else hostpart.lower()


def find_repo_root(path: Path) -> Path | None:
    """Nearest ancestor directory (or ``path`` itself) that holds a ``.git`` entry."""
    path = path.resolve()
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def repo_remote(root: Path) -> str | None:
    """The ``origin`` remote (else the first remote) of a work tree, read from its git config."""
    import configparser  # here, not at the top: only repositories need them, and start-up time counts

    from scanner import git
    lay = git.layout(root)
    data = git.read_small(lay.common_dir / "config", git.CONFIG_LIMIT) if lay else None
    if data is None:
        return None
    parser = configparser.RawConfigParser(strict=False)
    try:  # read as data: nothing in it is ever run or passed to git
        parser.read_string(data.decode("utf-8", "replace"))
    except configparser.Error:
        return None
    remotes = [s for s in parser.sections() if s.startswith('remote "')]
    remotes.sort(key=lambda s: (s != 'remote "origin"', s))
    for section in remotes:
        url = parser.get(section, "url", fallback=None)
        if url:
            return normalise_remote(url)
    return None


def repo_for_path(path: Path) -> tuple[str, str]:
    """(repository id, directory inside it) for a file or directory path.

    The repository id is the normalised remote URL when there is one, else the
    absolute path of the work tree (or of ``path`` when it is not in a repository).
    """
    path = path.resolve()
    directory = path if path.is_dir() else path.parent
    root = find_repo_root(directory)
    if root is None:
        return str(directory), "."
    rel = os.path.relpath(directory, root)
    return repo_remote(root) or str(root), "." if rel == "." else rel.replace(os.sep, "/")


def describe(key: str) -> str:
    """A short human name for the thing a key identifies."""
    t, _, rest = key.partition(":")
    if t == "repo":
        root, _, directory = rest.rpartition(":")
        name = root.rstrip("/").rsplit("/", 1)[-1] or root
        return name if directory in ("", ".") else f"{name}/{directory}"
    if t == "proc":
        parts = rest.split(":", 2)
        program = parts[-1].rstrip("/").rsplit("/", 1)[-1]
        return f"{program} ({parts[1]}@{parts[0]})" if len(parts) == 3 else program
    if t == "shell":
        hostname, _, user = rest.partition(":")
        return f"shell environment of {user}@{hostname}"
    if t == "net":
        client, _, fp = rest.rpartition(":")
        what = ("HTTP client" if fp.startswith("ua-") else "unidentified client" if fp == "unknown"
                else f"TLS client {fp[:10]}")
        return f"{client} ({what})"
    if t == "cred":
        return f"credential {rest[:8]}"
    if t == "keyid":
        return f"{rest.replace(':', ' key ', 1)}"
    if t == "azure-openai":
        return f"Azure OpenAI account {rest}"
    return rest or key
