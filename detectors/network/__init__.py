"""The ``network`` detector: its declaration, cheap to import (``scan`` reads every detector's
options at start-up); the work is in :mod:`detectors.network.detector`, imported when it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from detectors.base import Check, Detector, Option, ScanContext

if TYPE_CHECKING:
    from scanner.model import Finding

__all__ = ["NetworkDetector"]


class NetworkDetector(Detector):
    name = "network"
    description = "LLM API traffic in pcap/pcapng captures, Zeek/Squid/dnsmasq logs, or a live interface"
    default = False
    offline = True
    options = (
        Option("inputs", "paths", None, "Capture or log file to read (repeatable; files given with -p are recognised "
               "too).", flag="--capture"),
        Option("interface", "str", None, "Capture live on this interface.", flag="--interface"),
        Option("duration", "duration", None, "Live capture length (e.g. 30s, 5m; default 60s).", flag="--duration"),
        Option("bpf", "str", None, "Capture filter for live capture (default: tcp or udp port 53 or udp port 443).",
               flag="--bpf"),
        Option("csv_columns", "list", None, "Time, client and host column names of CSV logs (default: timestamp,client,host)."),
        Option("log_year", "int", None, "Year of syslog-style timestamps without one (default: the file's mtime)."),
    )

    def diagnose(self) -> list[Check]:
        import ctypes.util
        from scanner.privileges import has_capability, is_root
        checks = super().diagnose()
        capture = is_root() or has_capability("CAP_NET_RAW")
        checks.append(Check("live capture", capture, "may open a packet socket" if capture else
                            "cannot open a packet socket: captures and logs can still be read",
                            "" if capture else "run as root, or grant it: sudo setcap cap_net_raw,cap_net_admin+eip "
                            "$(readlink -f $(which python3))"))
        pcap = ctypes.util.find_library("pcap")
        checks.append(Check("libpcap", bool(pcap), f"{pcap} compiles capture filters" if pcap else
                            "not found: live capture runs unfiltered (more CPU), --bpf cannot be used",
                            "" if pcap else "install libpcap (Debian/Ubuntu: apt-get install libpcap0.8)"))
        from detectors.network import compressed
        zstd = compressed.ZSTD_AVAILABLE
        checks.append(Check("zstandard", zstd, "reads zstd-compressed captures and logs" if zstd else
                            "not installed: zstd-compressed inputs are skipped (a coverage gap says so)",
                            "" if zstd else "pip install 'shadow-agent-scanner[zstd]'"))
        return checks

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        from detectors.network.detector import NetworkScan
        return NetworkScan().run(ctx)
