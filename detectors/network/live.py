"""Live capture: raw frames from scapy's listening socket into the same packet engine.

Only the raw bytes are used (no scapy dissection), so the parser keeps up with a
busy link. Capturing needs root or CAP_NET_RAW; without it the detector stops with
:class:`LiveCaptureError` (a :class:`DetectorError`) that says so.
"""

from __future__ import annotations

import time

from detectors.base import DetectorError, ScanContext
from detectors.network.aggregate import Aggregator
from detectors.network.engine import SWEEP_EVERY, Engine

DEFAULT_DURATION = 60.0
# Every TCP segment (HTTP to local servers needs the request line, a split
# ClientHello's second half does not start with a TLS header), DNS and UDP/443.
DEFAULT_BPF = "tcp or udp port 53 or udp port 443"
POLL_SECONDS = 0.25


class LiveCaptureError(DetectorError):
    """Live capture cannot start: no privilege, no such interface, bad filter, scapy missing."""


def open_socket(interface: str, bpf: str):
    """A scapy L2 listening socket on ``interface`` with a kernel BPF filter."""
    try:
        from scapy.config import conf
        import scapy.layers.l2  # noqa: F401  (registers link-layer types)
        import scapy.layers.inet  # noqa: F401
    except ImportError as exc:
        raise LiveCaptureError(f"live capture needs scapy (pip install scapy): {exc}") from None
    try:
        return conf.L2listen(iface=interface, filter=bpf or None)
    except PermissionError:
        raise LiveCaptureError(
            f"live capture on {interface} needs packet-capture privilege (run as root or grant CAP_NET_RAW)"
        ) from None
    except OSError as exc:
        if exc.errno in (1, 13):
            raise LiveCaptureError(
                f"live capture on {interface} needs packet-capture privilege (run as root or grant CAP_NET_RAW)"
            ) from None
        raise LiveCaptureError(f"cannot capture on {interface}: {exc.strerror or exc}") from None
    except Exception as exc:  # scapy raises its own types for bad filters and unknown interfaces
        raise LiveCaptureError(f"cannot capture on {interface}: {exc}") from None


def linktype_of(sock) -> int:
    from scapy.config import conf
    return conf.l2types.layer2num.get(sock.LL, 1)


def capture(ctx: ScanContext, interface: str, agg: Aggregator) -> Engine:
    """Capture for ``ctx.option('duration')`` seconds (or until cancelled) and feed the engine."""
    duration = float(ctx.option("duration") or DEFAULT_DURATION)
    sock = open_socket(interface, ctx.option("bpf") or DEFAULT_BPF)
    engine = Engine(ctx.catalog, f"live:{interface}", agg, ctx.coverage.add_gap)
    linktype = linktype_of(sock)
    deadline = time.monotonic() + duration
    previous = b""
    try:
        while not ctx.cancelled:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ctx.progress(int(duration - left), int(duration), f"capturing on {interface}")
            if not sock.select([sock], min(POLL_SECONDS, left)):
                continue
            _cls, frame, ts = sock.recv_raw(65535)
            if not frame or frame == previous:  # loopback shows each frame leaving and arriving
                continue
            previous = frame
            engine.packet(float(ts or time.time()), linktype, frame)
            if engine.packets % SWEEP_EVERY == 0:
                engine.expire()
    finally:
        sock.close()
        engine.finish()
    ctx.coverage.count("packets", engine.packets)
    ctx.coverage.count("flows", engine.flow_count)
    return engine
