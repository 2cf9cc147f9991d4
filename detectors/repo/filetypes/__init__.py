"""The file-type families the repo detector reads, listed once, in the order they run.

Each family is a module with ``applies(f)`` — does it read this file? — and ``scan(f)``
— the hits it finds there — over a :class:`~detectors.repo.filetypes.base.FileView`.
A family sees in ``f.hits`` what the families before it found (model names count
everywhere in a file that already shows LLM use), so the order matters.
"""

from __future__ import annotations

from detectors.repo.filetypes import (agent_files, endpoints, go, javascript, keys, kubernetes, manifests, models,
                                      notebooks, python, rust, workflows)

FILE_TYPES = (
    keys,          # every text file: keys by format, formatless keys by assignment
    kubernetes,    # kind: Secret manifests (base64 values decoded)
    python,        # .py/.pyi imports, cloud clients
    notebooks,     # .ipynb
    javascript,    # .js/.ts/... imports
    go,            # .go imports
    rust,          # .rs use / extern crate / paths
    manifests,     # dependency manifests and lock files
    endpoints,     # URLs in code and configuration
    agent_files,   # MCP server lists, coding-agent settings and instructions (catalogue agent_files)
    workflows,     # CI definitions
    models,        # model names (last: depends on the hits above)
)

__all__ = ["FILE_TYPES"]
