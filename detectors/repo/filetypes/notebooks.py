"""Jupyter notebooks: the Python in their cells (keys in outputs are the keys family's)."""

from __future__ import annotations

from detectors.repo.filetypes import python
from detectors.repo.filetypes.base import FileView, Hit


def applies(f: FileView) -> bool:
    return f.ext == ".ipynb"


def scan(f: FileView) -> list[Hit]:
    return python.scan(f)
