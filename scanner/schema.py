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


# The arrays whose elements are checked one at a time (scanner.inventory_file), by their definition.
ELEMENTS = {"agents": "agent", "findings": "finding"}


@functools.lru_cache(maxsize=None)
def _element_validator(definition: str) -> Callable[[Any], Any]:
    """A validator of one element of ``agents`` or ``findings``: the schema's own definition."""
    import fastjsonschema
    schema = json.loads(schema_text())
    return fastjsonschema.compile({"$schema": schema["$schema"], "$id": schema["$id"], "$defs": schema["$defs"],
                                   "$ref": f"#/$defs/{definition}"})


def check_inventory(data: Any, source: str) -> None:
    """Raise InputError naming ``source`` and the first field that does not fit the schema."""
    _check(_validator(), data, source, "data")


def check_element(array: str, index: int, element: Any, source: str) -> None:
    """Like :func:`check_inventory` for ``data[array][index]`` alone (message and field path alike)."""
    _check(_element_validator(ELEMENTS[array]), element, source, f"data.{array}[{index}]")


def _check(validator: Callable[[Any], Any], data: Any, source: str, root: str) -> None:
    import fastjsonschema
    try:
        validator(data)
    except fastjsonschema.JsonSchemaException as exc:
        name = getattr(exc, "name", "") or "data"
        where = root + name.removeprefix("data")
        message = exc.message.replace(name + " ", "", 1) if where != "data" else exc.message
        raise InputError(f"{source}: not a shadow-agents inventory: field {_path(where)}: {message}") from None
    except RecursionError:
        raise InputError(f"{source}: not a shadow-agents inventory: nested too deeply") from None


def _path(name: str) -> str:
    """``data.agents[0].name`` → ``agents[0].name``."""
    return name.removeprefix("data.").removeprefix("data") or "(the document)"
