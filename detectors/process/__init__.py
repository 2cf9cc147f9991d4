"""The ``process`` detector package; see :mod:`detectors.process.detector`."""

from detectors.process.detector import ProcessDetector

__all__ = ["ProcessDetector"]
