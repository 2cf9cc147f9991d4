"""ScanConfig: command-line options, ``SHADOW_AGENTS_*`` environment variables and a TOML file, merged.

Precedence: command line > environment > config file > defaults. The file is
``shadow-agents.toml`` in the current directory, ``[tool.shadow-agents]`` in its
``pyproject.toml``, or whatever ``--config`` names. Relative paths in a file are
relative to that file.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from scanner.errors import InputError, UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ENV_PREFIX = "SHADOW_AGENTS_"
CONFIG_FILE = "shadow-agents.toml"
FAIL_ON_EXTRA = ("new", "none")
DEFAULT_TIMEOUT = 600.0


@dataclass
class ScanConfig:
    paths: list[str] = field(default_factory=lambda: ["."])
    detectors: list[str] = field(default_factory=list)
    exclude_detectors: list[str] = field(default_factory=list)
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
    source: str | None = None  # the config file used, if any

    def digest_view(self) -> dict[str, Any]:
        """What defines the scan's meaning (not how it is displayed), for the metadata digest."""
        d = asdict(self)
        for k in ("format", "output", "quiet", "verbose", "progress", "source"):
            d.pop(k)
        return d


_LIST_KEYS = {"paths", "detectors", "exclude_detectors", "catalog"}
_BOOL_KEYS = {"strict", "quiet", "verbose", "progress"}
_PATH_KEYS = {"registry", "output", "baseline"}
_KEYS = {f for f in ScanConfig.__dataclass_fields__ if f not in ("detector_options", "source")}
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
        try:
            t = float(value)
        except (TypeError, ValueError):
            raise UserError(f"{where}: 'timeout' must be a number of seconds, got {value!r}") from None
        if t <= 0:
            raise UserError(f"{where}: 'timeout' must be positive")
        return t
    if not isinstance(value, str):
        raise UserError(f"{where}: '{key}' must be a string")
    return value


def find_config_file(cwd: Path) -> tuple[Path, dict[str, Any]] | None:
    own = cwd / CONFIG_FILE
    if own.is_file():
        return own, read_toml(own)
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        data = read_toml(pyproject)
        section = data.get("tool", {}).get("shadow-agents")
        if isinstance(section, dict):
            return pyproject, section
    return None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise InputError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None


def _from_file(path: Path, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    values: dict[str, Any] = {}
    options: dict[str, dict[str, Any]] = {}
    base = path.parent
    for raw_key, value in data.items():
        if raw_key == "detector-options" or raw_key == "detector_options" or (raw_key == "detectors" and isinstance(value, dict)):
            for name, opts in value.items():
                if not isinstance(opts, dict):
                    raise UserError(f"{path}: [detectors.{name}] must be a table of options")
                options[name] = {k.replace("-", "_"): v for k, v in opts.items()}
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
    return values, options


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = _norm_key(name[len(ENV_PREFIX):])
        if key in _KEYS:
            values[key] = _coerce(key, value, f"environment variable {name}")
    return values


def resolve(cli: Mapping[str, Any], env: Mapping[str, str] | None = None, cwd: Path | None = None,
            config_path: str | None = None) -> ScanConfig:
    """Merge the layers. ``cli`` holds only options the user gave (None means not given)."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    config_path = config_path or env.get(ENV_PREFIX + "CONFIG")
    file_values: dict[str, Any] = {}
    options: dict[str, dict[str, Any]] = {}
    source = None
    if config_path:
        p = Path(config_path)
        if not p.is_file():
            raise UserError(f"config file not found: {config_path}")
        data = read_toml(p)
        if p.name == "pyproject.toml":
            data = data.get("tool", {}).get("shadow-agents", {})
        file_values, options = _from_file(p, data)
        source = str(p)
    else:
        found = find_config_file(cwd)
        if found:
            file_values, options = _from_file(*found)
            source = str(found[0])
    merged: dict[str, Any] = {**file_values, **_from_env(env)}
    for key, value in cli.items():
        if key == "detector_options":
            for name, opts in (value or {}).items():
                options.setdefault(name, {}).update(opts)
            continue
        if value is None or (key in _LIST_KEYS and value == []):
            continue
        merged[_norm_key(key)] = _coerce(_norm_key(key), value, f"option --{key.replace('_', '-')}")
    for det, opts in options.items():
        for key, value in opts.items():
            if key.endswith("_size"):
                opts[key] = parse_size(value, f"{det}.{key}")
            elif key in ("duration", "timeout") or key.endswith("_seconds"):
                opts[key] = parse_duration(value, f"{det}.{key}")
    return ScanConfig(**merged, detector_options=options, source=source)


_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
               "g": 1000**3, "gb": 1000**3, "gib": 1024**3}
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _number_with_unit(value: Any, units: dict[str, int], what: str, example: str) -> float:
    if isinstance(value, bool):
        raise UserError(f"{what}: expected a number like {example}, got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
        if not m or m.group(2).lower() not in units:
            raise UserError(f"{what}: expected a number like {example}, got {value!r}")
        number, unit = float(m.group(1)), m.group(2).lower()
    if number <= 0:
        raise UserError(f"{what}: must be positive, got {value!r}")
    return number * units[unit]


def parse_size(value: Any, what: str = "size") -> int:
    """``10MB`` / ``512KiB`` / ``1000000`` → bytes."""
    return int(_number_with_unit(value, _SIZE_UNITS, what, "10MB"))


def parse_duration(value: Any, what: str = "duration") -> float:
    """``30s`` / ``5m`` / ``1h`` / ``7d`` / ``90`` → seconds."""
    return _number_with_unit(value, _TIME_UNITS, what, "5m")


def parse_set_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--set repo.max_file_size=5000000`` → {"repo": {"max_file_size": 5000000}}."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        det, dot, opt = name.partition(".")
        if not sep or not dot or not det or not opt:
            raise UserError(f"--set expects DETECTOR.OPTION=VALUE, got {item!r}")
        out.setdefault(det, {})[opt.replace("-", "_")] = _parse_scalar(value)
    return out


def _parse_scalar(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value
