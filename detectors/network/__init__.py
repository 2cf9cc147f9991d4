"""The ``network`` detector package (see :mod:`detectors.network.detector`)."""

from detectors.network.detector import NetworkDetector

__all__ = ["NetworkDetector"]
