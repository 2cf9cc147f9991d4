"""The published JSON Schema of the inventory, used to check saved inventories when they are read.

``report``, ``diff``, ``merge`` and ``--baseline`` read JSON written earlier, perhaps
by another version, perhaps edited by hand. Checking it against the same schema that
``shadow-agents schema`` prints turns every malformed field into one message naming
the file and the field's path, before any code trips over it.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Callable

from scanner.errors import InputError


def schema_text() -> str:
    return resources.files("scanner.data").joinpath("inventory.schema.json").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _validator() -> Callable[[Any], Any]:
    import fastjsonschema  # compiled to Python once, only by the commands that read inventories
    return fastjsonschema.compile(json.loads(schema_text()))


def check_inventory(data: Any, source: str) -> None:
    """Raise InputError naming ``source`` and the first field that does not fit the schema."""
    import fastjsonschema
    try:
        _validator()(data)
    except fastjsonschema.JsonSchemaException as exc:
        where = getattr(exc, "name", "") or "data"
        message = exc.message.replace(where + " ", "", 1) if where != "data" else exc.message
        raise InputError(f"{source}: not a shadow-agents inventory: field {_path(where)}: {message}") from None
    except RecursionError:
        raise InputError(f"{source}: not a shadow-agents inventory: nested too deeply") from None


def _path(name: str) -> str:
    """``data.agents[0].name`` → ``agents[0].name``."""
    return name.removeprefix("data.").removeprefix("data") or "(the document)"
