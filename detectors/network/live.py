"""Live capture: raw frames from scapy's listening socket into the same packet engine.

Only the raw bytes are used (no scapy dissection), so the parser keeps up with a
busy link. Capturing needs root or CAP_NET_RAW; without it the detector stops with
:class:`LiveCaptureError` (a :class:`DetectorError`) that says so. On Linux the
loopback interface hands every frame over twice, once leaving and once arriving;
the leaving copy is dropped (:func:`loopback_echo`) so counts are not doubled.
"""

from __future__ import annotations

import socket
import time
from typing import Iterable, Iterator

from detectors.base import DetectorError, ScanContext
from detectors.network.aggregate import Aggregator
from detectors.network.detector import count_engine
from detectors.network.engine import Engine

DEFAULT_DURATION = 60.0
# Every TCP segment (HTTP to local servers needs the request line, a split
# ClientHello's second half does not start with a TLS header), DNS and UDP/443.
DEFAULT_BPF = "tcp or udp port 53 or udp port 443"
POLL_SECONDS = 0.25
SNAPLEN = 65535
PACKET_OUTGOING = 4  # Linux packet socket address: a frame this host sent (linux/if_packet.h)
ARPHRD_LOOPBACK = 772  # Linux hardware type of the loopback device (linux/if_arp.h)

# one received frame: (bytes, capture time or None, Linux packet socket address or None)
Received = tuple[bytes, float | None, tuple | None]


class LiveCaptureError(DetectorError):
    """Live capture cannot start: no privilege, no such interface, bad filter, scapy missing."""


def open_socket(interface: str, bpf: str):
    """A scapy L2 listening socket on ``interface`` with a kernel BPF filter.

    scapy compiles filters with libpcap; without it the default filter is left out
    (the engine reads every frame anyway, only more of them), a filter the user
    chose is an error that says what is missing.
    """
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
        if "libpcap" in str(exc):
            if bpf == DEFAULT_BPF:
                return open_socket(interface, "")
            raise LiveCaptureError(f"cannot apply the capture filter {bpf!r} on {interface}: compiling it needs "
                                   "libpcap, which is not installed (install it, or leave the bpf option unset)"
                                   ) from None
        raise LiveCaptureError(f"cannot capture on {interface}: {exc}") from None


def linktype_of(sock) -> int:
    from scapy.config import conf
    return conf.l2types.layer2num.get(sock.LL, 1)


def loopback_echo(address: tuple | None) -> bool:
    """The leaving copy of a loopback frame (Linux packet socket address: name, protocol,
    packet type, hardware type, ...); its arriving copy is the one kept. Frames this
    host sends on any other interface are real traffic and kept."""
    return (address is not None and len(address) >= 4 and address[2] == PACKET_OUTGOING
            and (address[3] == ARPHRD_LOOPBACK or address[0] == "lo"))


def receive(sock) -> Received:
    """One frame, its capture time and, on a Linux packet socket, its address (packet type)."""
    ins = getattr(sock, "ins", None)
    if (hasattr(socket, "AF_PACKET") and isinstance(ins, socket.socket) and ins.family == socket.AF_PACKET
            and hasattr(sock, "_recv_raw")):
        frame, address, ts = sock._recv_raw(ins, SNAPLEN)  # recv_raw drops the address scapy reads
        return frame, ts, address
    _cls, frame, ts = sock.recv_raw(SNAPLEN)
    return frame, ts, None


def feed(engine: Engine, linktype: int, received: Iterable[Received]) -> None:
    """Received frames into the engine, loopback echoes left out."""
    for frame, ts, address in received:
        if not frame or loopback_echo(address):
            continue
        engine.packet(float(ts or time.time()), linktype, frame)
        engine.sweep()  # idle flows by capture time


def _frames(ctx: ScanContext, sock, interface: str, duration: float) -> Iterator[Received]:
    """Frames until ``duration`` seconds passed or the scan is cancelled."""
    deadline = time.monotonic() + duration
    while not ctx.cancelled:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        ctx.progress(int(duration - left), int(duration), f"capturing on {interface}")
        if sock.select([sock], min(POLL_SECONDS, left)):
            yield receive(sock)


def capture(ctx: ScanContext, interface: str, agg: Aggregator) -> Engine:
    """Capture for ``ctx.option('duration')`` seconds (or until cancelled) and feed the engine."""
    duration = float(ctx.option("duration") or DEFAULT_DURATION)
    sock = open_socket(interface, ctx.option("bpf") or DEFAULT_BPF)
    engine = Engine(ctx.catalog, f"live:{interface}", agg, ctx.coverage.add_gap)
    try:
        feed(engine, linktype_of(sock), _frames(ctx, sock, interface, duration))
    finally:
        sock.close()
        engine.finish()
    count_engine(ctx, engine)
    return engine
