"""ScanConfig: command-line options, ``SHADOW_AGENTS_*`` environment variables and TOML files, merged.

Precedence: command line > environment > ``--config FILE`` (or ``SHADOW_AGENTS_CONFIG``)
> the user's own ``~/.config/shadow-agents/config.toml`` > defaults. Those are trusted.

A config found *implicitly* — ``shadow-agents.toml`` or ``[tool.shadow-agents]`` in
``pyproject.toml`` of the current directory, used when no ``--config`` is given — usually
belongs to the repository being scanned, which may be hostile. It may only add to what
is scanned: more paths inside its own directory, more offline detectors, bool options
declared ``widens`` turned on, a stricter ``fail-on``, ``strict = true``. Everything else in
it (turning detectors off, registry, baseline, catalogue, output, format, timeouts, other
detector options) is refused, and each refusal is listed in ``ScanConfig.refused``, which
the CLI prints and the report's metadata keeps. Relative paths in a file are relative to
that file.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from scanner.errors import InputError, UserError
from scanner.model import Status
from scanner.options import Option, convert_all, parse_duration, parse_set, parse_size  # noqa: F401 (re-exported)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ENV_PREFIX = "SHADOW_AGENTS_"
CONFIG_FILE = "shadow-agents.toml"
USER_CONFIG = Path("shadow-agents") / "config.toml"
FAIL_ON_EXTRA = ("new", "none")
DEFAULT_TIMEOUT = 600.0
MAX_TIMEOUT = 7 * 86400.0  # longer waits overflow the thread timer; a week is already no timeout

# name → its declared options, for every installed detector that could be loaded
Declared = Mapping[str, Mapping[str, Option]]


@dataclass
class ScanConfig:
    paths: list[str] = field(default_factory=lambda: ["."])
    detectors: list[str] = field(default_factory=list)
    exclude_detectors: list[str] = field(default_factory=list)
    # offline detectors added to the default selection by an implicit config
    extra_detectors: list[str] = field(default_factory=list)
    registry: str | None = None
    format: str | None = None
    output: str | None = None
    fail_on: str = "shadow"
    baseline: str | None = None
    strict: bool = False
    quiet: bool = False
    verbose: bool = False
    progress: bool = True
    catalog: list[str] = field(default_factory=list)
    timeout: float = DEFAULT_TIMEOUT
    detector_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str | None = None  # the config file that was used, if any (the most specific one)
    config_files: list[dict[str, str]] = field(default_factory=list)  # every file read: path and trust
    refused: list[str] = field(default_factory=list)  # what an implicit config asked for and did not get

    def digest_view(self) -> dict[str, Any]:
        """What defines the scan's meaning (not how it is displayed), for the metadata digest."""
        d = asdict(self)
        for k in ("format", "output", "quiet", "verbose", "progress", "source", "config_files", "refused"):
            d.pop(k)
        return d


_LIST_KEYS = {"paths", "detectors", "exclude_detectors", "catalog"}
_BOOL_KEYS = {"strict", "quiet", "verbose", "progress"}
_PATH_KEYS = {"registry", "output", "baseline"}
_KEYS = {f for f in ScanConfig.__dataclass_fields__
         if f not in ("detector_options", "source", "config_files", "refused", "extra_detectors")}
_ALIASES = {"path": "paths", "detector": "detectors", "exclude_detector": "exclude_detectors"}


def _norm_key(key: str) -> str:
    key = key.replace("-", "_").lower()
    return _ALIASES.get(key, key)


def _coerce(key: str, value: Any, where: str) -> Any:
    if key in _LIST_KEYS:
        if isinstance(value, str):
            return [v.strip() for v in value.replace(os.pathsep if key == "paths" else ",", ",").split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise UserError(f"{where}: '{key}' must be a list of strings")
    if key in _BOOL_KEYS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            return value.lower() in ("1", "true", "yes", "on")
        raise UserError(f"{where}: '{key}' must be true or false, got {value!r}")
    if key == "timeout":
        seconds = parse_duration(value, f"{where}: 'timeout'")
        if seconds > MAX_TIMEOUT:
            raise UserError(f"{where}: 'timeout' must be at most {MAX_TIMEOUT // 86400:g} days, got {value!r}")
        return seconds
    if not isinstance(value, str):
        raise UserError(f"{where}: '{key}' must be a string")
    return value


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise InputError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: invalid TOML: nested too deeply") from None


def _section(path: Path, data: dict[str, Any]) -> dict[str, Any] | None:
    """The shadow-agents table of a config file (``[tool.shadow-agents]`` in a pyproject.toml)."""
    if path.name != "pyproject.toml":
        return data
    tool = data.get("tool", {})
    section = tool.get("shadow-agents") if isinstance(tool, dict) else None
    if section is None:
        return None
    if not isinstance(section, dict):
        raise UserError(f"{path}: [tool.shadow-agents] must be a table")
    return section


@dataclass
class _FileLayer:
    path: Path
    values: dict[str, Any]
    options: dict[str, dict[str, Any]]  # converted detector options


def _from_file(path: Path, data: Mapping[str, Any], declared: Declared | None) -> _FileLayer:
    values: dict[str, Any] = {}
    options: dict[str, dict[str, Any]] = {}
    base = path.parent
    for raw_key, value in data.items():
        if raw_key in ("detector-options", "detector_options") or (raw_key == "detectors" and isinstance(value, dict)):
            if not isinstance(value, dict):
                raise UserError(f"{path}: '{raw_key}' must be a table of detector tables")
            for name, opts in value.items():
                if not isinstance(opts, dict):
                    raise UserError(f"{path}: [detectors.{name}] must be a table of options")
                options[name] = _convert_options(name, opts, declared, str(path), base)
            continue
        key = _norm_key(raw_key)
        if key not in _KEYS:
            hint = difflib.get_close_matches(key, sorted(_KEYS), n=1)
            raise UserError(f"{path}: unknown key '{raw_key}'" + (f" (did you mean '{hint[0]}'?)" if hint else ""))
        v = _coerce(key, value, str(path))
        if key in _PATH_KEYS:
            v = str((base / v)) if not Path(v).is_absolute() and v != "-" else v
        elif key in ("paths", "catalog"):
            v = [str(base / p) if not Path(p).is_absolute() else p for p in v]
        values[key] = v
    return _FileLayer(path, values, options)


def _convert_options(detector: str, given: Mapping[str, Any], declared: Declared | None, where: str,
                     base: Path | None = None) -> dict[str, Any]:
    if declared is None:  # nothing to check against (a caller that loaded no detectors)
        return {k.replace("-", "_"): v for k, v in given.items()}
    if detector not in declared:
        valid = sorted(declared)
        hint = difflib.get_close_matches(detector, valid, n=1)
        raise UserError(f"{where}: options for unknown detector '{detector}'"
                        + (f" (did you mean '{hint[0]}'?)" if hint else "") + f"; detectors: {', '.join(valid)}")
    return convert_all(detector, given, declared[detector], where, base)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = _norm_key(name[len(ENV_PREFIX):])
        if key in _KEYS:
            values[key] = _coerce(key, value, f"environment variable {name}")
    return values


def user_config_path(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/shadow-agents/config.toml``, else ``~/.config/shadow-agents/config.toml``."""
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / USER_CONFIG


def _load(path: Path, declared: Declared | None) -> _FileLayer | None:
    section = _section(path, read_toml(path))
    return None if section is None else _from_file(path, section, declared)


def find_config_file(cwd: Path) -> Path | None:
    """The implicit config of the current directory, if it has one."""
    own = cwd / CONFIG_FILE
    if own.is_file():
        return own
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file() and _section(pyproject, read_toml(pyproject)) is not None:
        return pyproject
    return None


def resolve(cli: Mapping[str, Any], env: Mapping[str, str] | None = None, cwd: Path | None = None,
            config_path: str | None = None, declared: Declared | None = None,
            offline: frozenset[str] | set[str] = frozenset()) -> ScanConfig:
    """Merge the layers. ``cli`` holds only options the user gave (None means not given).

    ``declared`` is every installed detector's options (values are converted and checked
    against them); ``offline`` names the detectors an implicit config may add.
    """
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    config_path = config_path or env.get(ENV_PREFIX + "CONFIG")
    trusted: list[_FileLayer] = []
    files: list[dict[str, str]] = []
    user_file = user_config_path(env)
    if user_file.is_file():
        layer = _load(user_file, declared)
        if layer:
            trusted.append(layer)
            files.append({"path": str(user_file), "trust": "user"})
    implicit: _FileLayer | None = None
    implicit_error: str | None = None
    if config_path:
        p = Path(config_path)
        if not p.is_file():
            raise UserError(f"config file not found: {config_path}")
        layer = _load(p, declared) or _FileLayer(p, {}, {})
        trusted.append(layer)
        files.append({"path": str(p), "trust": "explicit"})
    else:
        # A scanned repository's own config: a mistake in it must not stop the scan either.
        try:
            found = find_config_file(cwd)
            if found:
                files.append({"path": str(found), "trust": "implicit"})
                implicit = _load(found, declared)
        except UserError as exc:
            implicit_error = f"ignored: {exc}"
    merged: dict[str, Any] = {}
    options: dict[str, dict[str, Any]] = {}
    for layer in trusted:
        merged.update(layer.values)
        _merge_options(options, layer.options)
    merged.update(_from_env(env))
    for key, value in cli.items():
        if key == "detector_options":
            for name, opts in (value or {}).items():
                options.setdefault(name, {}).update(_convert_options(name, opts, declared, "command line"))
            continue
        if value is None or (key in _LIST_KEYS and value == []):
            continue
        merged[_norm_key(key)] = _coerce(_norm_key(key), value, f"option --{key.replace('_', '-')}")
    config = ScanConfig(**merged, detector_options=options, config_files=files,
                        source=files[-1]["path"] if files else None)
    if implicit is not None:
        _apply_implicit(config, implicit, declared, offline)
    if implicit_error:
        config.refused.append(implicit_error)
    return config


def _merge_options(into: dict[str, dict[str, Any]], layer: Mapping[str, Mapping[str, Any]]) -> None:
    for name, opts in layer.items():
        into.setdefault(name, {}).update(opts)


# ---- implicit config: it may only widen the scan ----------------------------------------------

_REFUSED_WHY = {
    "exclude_detectors": "cannot turn detectors off",
    "registry": "cannot choose the registry (it would decide what is approved)",
    "baseline": "cannot choose the baseline (it would decide what is new)",
    "catalog": "cannot change the provider catalogue",
    "output": "cannot choose where the report is written",
    "format": "cannot choose the report format",
    "timeout": "cannot change timeouts",
    "quiet": "cannot silence output",
    "verbose": "cannot change logging",
    "progress": "cannot change the display",
}


def _apply_implicit(config: ScanConfig, layer: _FileLayer, declared: Declared | None,
                    offline: frozenset[str] | set[str]) -> None:
    where = str(layer.path)

    def refuse(what: str, why: str) -> None:
        config.refused.append(f"{where}: {what}: an implicit config {why}")

    root = layer.path.parent.resolve()
    for key, value in layer.values.items():
        if key == "paths":
            for p in value:
                if _inside(Path(p), root):
                    if p not in config.paths:
                        config.paths.append(p)
                else:
                    refuse(f"paths '{p}'", "can only add paths inside its own directory")
        elif key == "detectors":
            for name in value:
                if name in config.detectors or name in config.extra_detectors:
                    continue
                if name in offline:
                    if config.detectors:
                        config.detectors.append(name)
                    else:
                        config.extra_detectors.append(name)
                else:
                    refuse(f"detectors '{name}'", "can only add offline detectors")
        elif key == "fail_on":
            if not _stricter(value, config.fail_on):
                refuse(f"fail-on '{value}'", f"can only make fail-on stricter than '{config.fail_on}'")
            else:
                config.fail_on = value
        elif key == "strict":
            if value:
                config.strict = True
            elif config.strict:
                refuse("strict = false", "cannot turn strict mode off")
        else:
            refuse(key.replace("_", "-"), _REFUSED_WHY.get(key, "cannot set it"))
    for det, opts in layer.options.items():
        decl = (declared or {}).get(det, {})
        for name, value in opts.items():
            opt = decl.get(name)
            if opt is not None and opt.widens and value is True:
                config.detector_options.setdefault(det, {}).setdefault(name, True)
            elif opt is not None and opt.widens and value is False:
                continue  # the default already; nothing to refuse
            else:
                refuse(f"[detectors.{det}] {name}", "can only turn on options that widen the scan")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.expanduser().resolve().relative_to(root)
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def _stricter(value: str, current: str) -> bool:
    """Whether ``fail-on value`` fails on at least everything ``current`` fails on.

    ``none`` and ``new`` are choices the user made on purpose; a scanned repository cannot overrule them.
    """
    statuses = {s.value: s.rank for s in Status}
    if value not in statuses or current not in statuses:
        return value == current
    return statuses[value] <= statuses[current]


def parse_set_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--set repo.max_file_size=5MB`` → ``{"repo": {"max_file_size": "5MB"}}``; converted when resolved."""
    return parse_set(items)
