"""Declared detector options: one place converts and validates them, wherever they come from.

A detector lists its options as data (``Detector.options``). The ``scan`` command's
top-level flags, ``--set DETECTOR.OPTION=VALUE``, the config file's
``[detectors.<name>]`` tables and ``shadow-agents detectors`` are all derived from
those declarations, so a plugin's options behave exactly like the built-ins' and a
typo or a bad value is an error that names the option, never a silent default.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from scanner.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TYPES = ("bool", "int", "float", "str", "choice", "size", "duration", "list", "path", "paths")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Option:
    """One detector option.

    ``type`` is one of :data:`TYPES`: ``size`` takes ``10MB``/``512KiB``/bytes, ``duration``
    takes ``30s``/``5m``/``7d``/seconds (converted to seconds), ``list`` is strings
    (repeatable flag, or comma-separated), ``path``/``paths`` are like ``str``/``list``
    but relative to the config file that names them. ``flag`` makes it a top-level
    ``scan`` flag (``"--history"``). ``widens`` marks a bool option that only adds to
    what is scanned when turned on, so a config file found implicitly (in the current
    directory) may set it to true.
    """

    name: str
    type: str
    default: Any = None
    help: str = ""
    flag: str | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    widens: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"option {self.name!r}: unknown type {self.type!r} (one of {', '.join(TYPES)})")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"option {self.name!r}: a choice needs choices")
        if self.widens and self.type != "bool":
            raise ValueError(f"option {self.name!r}: only bool options can be marked widens")

    @property
    def repeatable(self) -> bool:
        return self.type in ("list", "paths")

    def describe_type(self) -> str:
        if self.type == "choice":
            return "|".join(self.choices)
        return {"size": "size, e.g. 10MB", "duration": "duration, e.g. 5m", "list": "comma-separated list",
                "paths": "paths"}.get(
            self.type, self.type)

    def display_default(self) -> str | None:
        """The default as a user would type it (``10MiB``, ``5s``, ``false``), or None."""
        d = self.default
        if d is None:
            return None
        if isinstance(d, bool):
            return str(d).lower()
        if self.type == "size":
            for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
                if d % size == 0:
                    return f"{d // size}{unit}"
        if self.type == "duration":
            for unit, seconds in (("d", 86400), ("h", 3600), ("m", 60)):
                if d >= seconds and d % seconds == 0:
                    return f"{d / seconds:g}{unit}"
            return f"{d:g}s"
        if isinstance(d, (list, tuple)):
            return ",".join(map(str, d))
        return str(d)

    @property
    def metavar(self) -> str:
        return {"int": "N", "float": "NUMBER", "size": "SIZE", "duration": "DURATION", "path": "PATH",
                "paths": "PATH", "list": "TEXT", "choice": "|".join(self.choices)}.get(self.type, "TEXT")

    def convert(self, value: Any, where: str, base: Path | None = None) -> Any:
        """``value`` (from TOML, a flag or ``--set``) as this option's type, or a UserError naming ``where``."""
        try:
            out = _CONVERT[self.type](self, value)
        except (TypeError, ValueError) as exc:
            raise UserError(f"{where}: {exc}") from None
        if self.minimum is not None and isinstance(out, (int, float)) and out < self.minimum:
            raise UserError(f"{where}: must be at least {self.minimum:g}, got {value!r}")
        if base is not None and self.type == "path":
            out = _relative_to(base, out)
        elif base is not None and self.type == "paths":
            out = [_relative_to(base, p) for p in out]
        return out


def _relative_to(base: Path, value: str) -> str:
    return value if value == "-" or Path(value).expanduser().is_absolute() else str(base / value)


def _to_bool(opt: Option, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {value!r}")


def _to_int(opt: Option, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected a whole number, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected a whole number, got {value!r}") from None


def _to_float(opt: Option, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        out = float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"expected a finite number, got {value!r}")
    return out


def _to_str(opt: Option, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a string, got {value!r}")
    return str(value)


def _to_choice(opt: Option, value: Any) -> str:
    text = _to_str(opt, value)
    if text not in opt.choices:
        hint = difflib.get_close_matches(text, opt.choices, n=1)
        raise ValueError(f"expected one of {', '.join(opt.choices)}, got {text!r}"
                         + (f" (did you mean '{hint[0]}'?)" if hint else ""))
    return text


def _to_list(opt: Option, value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [v for item in value for v in _to_list(opt, item)]
    raise ValueError(f"expected a list of strings, got {value!r}")


_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
               "g": 1000**3, "gb": 1000**3, "gib": 1024**3}
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _number_with_unit(value: Any, units: dict[str, int], example: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number like {example}, got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
        if not m or m.group(2).lower() not in units:
            raise ValueError(f"expected a number like {example}, got {value!r}")
        number, unit = float(m.group(1)), m.group(2).lower()
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"must be positive, got {value!r}")
    return number * units[unit]


def parse_size(value: Any, what: str = "size") -> int:
    """``10MB`` / ``512KiB`` / ``1000000`` → bytes."""
    try:
        return int(_number_with_unit(value, _SIZE_UNITS, "10MB"))
    except ValueError as exc:
        raise UserError(f"{what}: {exc}") from None


MAX_DURATION = 3650 * 86400.0  # ten years: past that, timers overflow and no answer is wanted


def _duration(value: Any) -> float:
    seconds = _number_with_unit(value, _TIME_UNITS, "5m")
    if seconds > MAX_DURATION:
        raise ValueError(f"must be at most 3650d, got {value!r}")
    return seconds


def parse_duration(value: Any, what: str = "duration") -> float:
    """``30s`` / ``5m`` / ``1h`` / ``7d`` / ``90`` → seconds."""
    try:
        return _duration(value)
    except ValueError as exc:
        raise UserError(f"{what}: {exc}") from None


_CONVERT = {
    "bool": _to_bool, "int": _to_int, "float": _to_float, "str": _to_str, "choice": _to_choice,
    "size": lambda opt, v: int(_number_with_unit(v, _SIZE_UNITS, "10MB")),
    "duration": lambda opt, v: _duration(v),
    "list": _to_list, "path": _to_str, "paths": _to_list,
}

# Every detector has these; the pipeline reads them, the detector never needs to.
COMMON = (
    Option("timeout", "duration", None, "Seconds this detector may run before it is stopped (default: --timeout)."),
)


def declared(options: Iterable[Option]) -> dict[str, Option]:
    """A detector's own options plus the common ones, by name."""
    out = {o.name: o for o in COMMON}
    for o in options:
        out[o.name] = o
    return out


def defaults(options: Mapping[str, Option]) -> dict[str, Any]:
    return {name: opt.default for name, opt in options.items()}


def unknown_option(detector: str, name: str, options: Mapping[str, Option], where: str) -> UserError:
    valid = sorted(options)
    hint = difflib.get_close_matches(name, valid, n=1)
    return UserError(f"{where}: unknown option '{name}' for detector '{detector}'"
                     + (f" (did you mean '{hint[0]}'?)" if hint else "")
                     + f"; its options: {', '.join(valid)}")


def convert_all(detector: str, given: Mapping[str, Any], options: Mapping[str, Option], where: str,
                base: Path | None = None) -> dict[str, Any]:
    """Convert every given value of one detector; unknown names and bad values are UserErrors."""
    out: dict[str, Any] = {}
    for raw_name, value in given.items():
        name = raw_name.replace("-", "_")
        opt = options.get(name)
        if opt is None:
            raise unknown_option(detector, raw_name, options, where)
        out[name] = opt.convert(value, f"{where}: {detector}.{name}", base)
    return out


def parse_set(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set repo.max_file_size=5MB`` → ``{"repo": {"max_file_size": "5MB"}}`` (converted later, by type).

    A value written as a TOML array (``["a.pcap", "b.pcap"]``) or a quoted TOML string is
    unpacked; everything else stays the text given.
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        det, dot, opt = name.partition(".")
        if not sep or not dot or not det.strip() or not opt.strip():
            raise UserError(f"--set expects DETECTOR.OPTION=VALUE, got '{item}'")
        out.setdefault(det.strip(), {})[opt.strip().replace("-", "_")] = _unquote(value.strip())
    return out


def _unquote(value: str) -> Any:
    if value[:1] in ('[', '"', "'"):
        try:
            return tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            return value
    return value
