"""The detector contract lives in :mod:`scanner.detector`; this name stays for plugins written against it."""

from scanner.detector import (Cancelled, Check, Detector, DetectorError, ProgressCallback, ScanContext, current_host,
                              current_user)
from scanner.options import Option

__all__ = ["Cancelled", "Check", "Detector", "DetectorError", "Option", "ProgressCallback", "ScanContext", "current_host",
           "current_user"]
