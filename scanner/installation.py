"""Is this installation whole? The three import packages must all be this distribution's.

The import names ``scanner``, ``detectors`` and ``reports`` are generic, and other
distributions on PyPI use them too. Installed into one environment, one overwrites the
other's files; a directory of that name earlier on ``sys.path`` (the current directory
under ``python -m``) shadows ours. Either way the scanner would run code that is not its
own, so the command refuses to start and says which package is the wrong one.
"""

from __future__ import annotations

import importlib
from pathlib import Path

DISTRIBUTION = "shadow-agent-scanner"
PACKAGES = ("scanner", "detectors", "reports")


def foreign_packages() -> list[str]:
    """One line per import package that is not this distribution's (empty when all is well)."""
    problems = []
    homes: dict[str, Path] = {}
    for name in PACKAGES:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # a broken foreign package
            problems.append(f"'{name}' cannot be imported ({type(exc).__name__}: {exc})")
            continue
        where = Path(getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", [])), "?"))
        homes[name] = where.parent.parent
        if getattr(module, "__distribution__", None) != DISTRIBUTION:
            problems.append(f"'{name}' at {where.parent} belongs to another distribution")
    if len(set(homes.values())) > 1:
        problems.append("the packages come from different places: "
                        + ", ".join(f"{n} from {h}" for n, h in sorted(homes.items())))
    return problems
