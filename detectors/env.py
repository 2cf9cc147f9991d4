"""The ``env`` detector: provider credentials and endpoints in the user's environment.

Looks at the environment of the scanning process, the user's shell profile files
and the ``.env*`` files at the top of each scanned path. Variable names come from
the catalogue; values are fingerprinted, never kept, so the same key found later
in a repository, a process or a provider's admin API joins the same agent.
AWS keys (catalogue ``requires_usage``) count only in an environment — the shell,
or one directory's ``.env`` files — that also sets a Bedrock variable.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import urlsplit

from detectors.base import Detector, ScanContext
from detectors.usage_gate import UsageGate
from scanner import identity, redact
from scanner.catalog import Catalog
from scanner.model import Confidence, Finding, Location
from scanner.secrets import not_a_key

PROFILE_FILES = (
    ".bashrc", ".bash_profile", ".bash_login", ".profile", ".zshrc", ".zshenv", ".zprofile",
    ".config/fish/config.fish", ".cshrc", ".tcshrc",
)
MAX_ENV_FILE_BYTES = 1 << 20

_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_SET = re.compile(r"^\s*(?:set\s+-[a-zA-Z]*x[a-zA-Z]*|setenv)\s+([A-Za-z_][A-Za-z0-9_]*)\s+(.*?)\s*$")


def parse_assignment(line: str) -> tuple[str, str] | None:
    """``export NAME="value" # c`` (sh, .env), ``set -gx NAME value`` (fish), ``setenv NAME value`` (csh)."""
    m = _ASSIGN.match(line) or _SET.match(line)
    if not m:
        return None
    name, raw = m.group(1), m.group(2)
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        value = raw[1:end] if end > 0 else raw[1:]
    else:
        value = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
    return name, value


def endpoint_provider(catalog: Catalog, value: str, fallback: str) -> tuple[str, str]:
    """(provider, URL without credentials) for an endpoint variable's value."""
    parts = urlsplit(value if "://" in value else f"http://{value}")
    hostname = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    safe = f"{parts.scheme}://{hostname}{f':{port}' if port else ''}{parts.path}" if hostname else ""
    provider = catalog.provider_for_host(hostname) if hostname else None
    if provider is None and port and hostname in ("localhost", "127.0.0.1", "::1", "0.0.0.0"):
        local = catalog.providers_for_port(port)
        provider = local[0] if len(local) == 1 else None
    return provider or fallback, safe or "(unparsed value)"


class EnvDetector(Detector):
    name = "env"
    description = "Provider keys and endpoints in this process's environment, shell profiles and .env files"

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        home = Path.home()
        shell_keys = [identity.shell(ctx.hostname, ctx.username), identity.host(ctx.hostname),
                      identity.owner(ctx.username)]
        sources: list[tuple[str, Path | None]] = [("process-environment", None)]
        sources += [("shell-profile", home / name) for name in PROFILE_FILES]
        for root in ctx.paths:
            if root.is_dir():
                try:
                    sources += [("dotenv", p) for p in sorted(root.glob(".env*")) if p.is_file()]
                except OSError as exc:
                    ctx.coverage.add_gap(str(root), f"cannot list directory: {exc.strerror}")
            elif root.name.startswith(".env") and root.is_file():
                sources.append(("dotenv", root))
        gate = UsageGate(ctx.catalog)  # AWS keys count only in an environment that also sets up Bedrock
        for done, (source, path) in enumerate(sources):
            ctx.check_cancelled()
            ctx.progress(done, len(sources), path.name if path else "environment")
            if path is None:
                items: Iterable[tuple[int | None, str, str]] = ((None, k, v) for k, v in sorted(os.environ.items()))
                loc_keys = shell_keys
            else:
                lines = self._read(ctx, path, required=source == "dotenv")
                if lines is None:
                    continue
                items = self._assignments(lines)
                if source == "dotenv":
                    root_id, directory = identity.repo_for_path(path)
                    loc_keys = [identity.repo(root_id, directory), identity.host(ctx.hostname)]
                    file_owner = _file_owner(path)
                    if file_owner:
                        loc_keys.append(identity.owner(file_owner))
                else:
                    loc_keys = shell_keys
            ctx.coverage.count("sources")
            for line, name, value in items:
                finding = self._finding(ctx, source, path, line, name, value, loc_keys)
                if finding:
                    if path is not None and _world_readable(path):
                        finding.add_risk("world-readable")
                    if gate.offer(tuple(loc_keys), finding) is not None:
                        yield finding
        yield from gate.release()
        if gate.dropped:
            ctx.coverage.count("keys_not_next_to_provider_use", gate.dropped)
        ctx.progress(len(sources), len(sources), None)

    @staticmethod
    def _assignments(lines: list[str]) -> Iterator[tuple[int | None, str, str]]:
        for n, text in enumerate(lines, 1):
            parsed = parse_assignment(text)
            if parsed:
                yield n, parsed[0], parsed[1]

    @staticmethod
    def _read(ctx: ScanContext, path: Path, required: bool) -> list[str] | None:
        try:
            if path.stat().st_size > MAX_ENV_FILE_BYTES:
                ctx.coverage.add_gap(str(path), f"larger than {MAX_ENV_FILE_BYTES} bytes; left to the repo detector")
                return None
            return path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return None
        except OSError as exc:
            ctx.coverage.add_gap(str(path), f"unreadable: {exc.strerror or exc}")
            return None

    def _finding(self, ctx: ScanContext, source: str, path: Path | None, line: int | None,
                 name: str, value: str, loc_keys: list[str]) -> Finding | None:
        catalog = ctx.catalog
        var = catalog.env_vars.get(name)
        location = Location(path=str(path) if path else None, line=line, host=ctx.hostname, user=ctx.username)
        where = "" if path else " in the environment of the scanning process"
        details = {"variable": name, "source": source}
        if var is None or var.role == "key":
            if var is None:  # any variable whose value has a known key shape
                m = catalog.search_key(value)
                if not m:
                    return None
                fmt, value = catalog.key_format_of_match(m), m.group(0)
            else:
                fmt = catalog.classify_secret(value, var.provider)
            if not value or not_a_key(value, fmt):
                return None
            provider = fmt.provider if fmt else var.provider  # type: ignore[union-attr]
            cred = redact.credential(value, fmt.id if fmt else None, bool(fmt and fmt.admin))
            label = fmt.label if fmt else f"value of {name}"
            return Finding(
                detector=self.name, kind="credential", location=location, provider=provider,
                identity=[identity.cred(cred.fingerprint), *loc_keys], credential=cred,
                confidence=Confidence.HIGH if fmt else Confidence.MEDIUM, details=details,
                evidence=f"{name}={cred.preview} ({label}){where}",
            )
        if not value or value.startswith("$"):
            return None
        if var.role == "endpoint":
            provider, safe = endpoint_provider(catalog, value, var.provider)
            return Finding(
                detector=self.name, kind="endpoint-config", location=location, provider=provider, endpoint=safe,
                identity=[*loc_keys, *identity.endpoint_keys(catalog, urlsplit(safe).hostname)],
                confidence=Confidence.MEDIUM, details=details,
                evidence=f"{name} points at {safe}{where}",
            )
        return Finding(
            detector=self.name, kind="provider-config", location=location, provider=var.provider,
            identity=list(loc_keys), confidence=Confidence.LOW, details=details,
            evidence=f"{name} is set{where}",
        )


def _world_readable(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def _file_owner(path: Path) -> str | None:
    """The user who owns the file: the best owner guess this detector has for a project's .env."""
    try:
        return path.owner()
    except (OSError, KeyError, NotImplementedError):
        return None
