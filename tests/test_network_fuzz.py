"""Random and mutated packets never raise out of the parser, and damaged files never crash the detector."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from detectors.base import DetectorError
from detectors.network import dns, http, quic, tls
from detectors.network.engine import Engine
from detectors.network.packet import SUPPORTED_LINKTYPES
from scanner.catalog import Catalog
from tests.fixtures.network_util import DATA, frames, scan, write_pcap

CATALOG = Catalog.load()
SEED_FRAMES = frames(DATA / "loopback.pcap") + frames(DATA / "any-sll2.pcap")


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        if not b:
            b = bytearray(rng.randbytes(rng.randint(1, 64)))
        elif op < 0.5:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.7:
            del b[rng.randrange(len(b)):]
        elif op < 0.85:
            i = rng.randrange(len(b))
            b[i:i] = rng.randbytes(rng.randint(1, 16))
        else:
            i = rng.randrange(len(b))
            b[i:i + 2] = b"\xff\xff"
    return bytes(b)


def test_engine_survives_mutated_and_random_frames() -> None:
    rng = random.Random(20261123)
    engine = Engine(CATALOG, "fuzz")
    linktypes = sorted(SUPPORTED_LINKTYPES) + [147, 9999]
    for i in range(12000):
        ts, lt, frame = SEED_FRAMES[rng.randrange(len(SEED_FRAMES))]
        if i % 5 == 0:
            engine.packet(ts, rng.choice(linktypes), rng.randbytes(rng.randint(0, 1600)))
        else:
            engine.packet(ts + rng.random(), lt, mutate(rng, frame))
        if i % 1000 == 0:
            engine.expire()
    engine.finish()
    assert engine.packets == 12000


def test_parsers_survive_mutations() -> None:
    rng = random.Random(7)
    payloads = [f[54:] for _, lt, f in SEED_FRAMES if lt == 1 and len(f) > 60]
    keys = lambda v, d: quic.client_initial_keys(v, d)  # noqa: E731
    for _ in range(6000):
        data = mutate(rng, rng.choice(payloads))
        tls.handshake_from_records(data)
        tls.parse_client_hello(data)
        tls.parse_client_hello(b"\x01" + data)
        dns.parse_dns(data)
        http.parse_request(data)
        http.parse_request(b"POST / HTTP/1.1\r\n" + data, final=True)
        if len(data) > 20:
            quic.crypto_frames(bytes([0xC0]) + b"\x00\x00\x00\x01" + data, keys)


def test_detector_survives_damaged_files(tmp_path: Path) -> None:
    rng = random.Random(11)
    originals = [(DATA / n).read_bytes() for n in ("loopback.pcap", "loopback.pcapng")]
    for i in range(40):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 30)):
            pos = rng.randrange(len(data))
            data[pos:pos + rng.randint(1, 8)] = rng.randbytes(rng.randint(0, 8))
        path = tmp_path / f"damaged{i}.pcap"
        path.write_bytes(bytes(data[: rng.randint(24, len(data))]))
        try:
            scan(inputs=[str(path)])
        except DetectorError:
            pass  # a clear "not a capture" error is an acceptable outcome for a ruined header


def test_hypothesis_frames() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    engine = Engine(CATALOG, "hyp")

    @hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
    @hypothesis.given(st.sampled_from(sorted(SUPPORTED_LINKTYPES)), st.binary(max_size=2000))
    def feed(linktype: int, frame: bytes) -> None:
        engine.packet(1.0, linktype, frame)

    feed()
    engine.finish()


def _zero_ipv4_length(frame: bytes) -> bytes:
    """As TSO captures show large segments: IPv4 total length 0."""
    return frame[:16] + b"\x00\x00" + frame[18:] if frame[12:14] == b"\x08\x00" else frame


def _break_ipv6_version(frame: bytes) -> bytes:
    """An IPv6 ethertype over a header that is not IPv6: no IP packet at all."""
    return frame[:14] + bytes([0x40 | (frame[14] & 0x0F)]) + frame[15:] if frame[12:14] == b"\x86\xdd" else frame


def test_fast_path_agrees_with_the_general_path() -> None:
    """feed() reads common Ethernet frames itself; what it finds and counts equals packet() frame by frame.

    The fixture also goes through with shapes the fast path must leave to the general decoder.
    """
    records = frames(DATA / "loopback.pcap")
    assert any(f[12:14] == b"\x86\xdd" for _, _, f in records)
    for variant in (records, [(ts, lt, _zero_ipv4_length(f)) for ts, lt, f in records],
                    [(ts, lt, _break_ipv6_version(f) if i % 2 else f) for i, (ts, lt, f) in enumerate(records)]):
        fast, general = Engine(CATALOG, "same"), Engine(CATALOG, "same")
        fast.feed(variant)
        for ts, lt, frame in variant:
            general.packet(ts, lt, frame)
        fast.finish()
        general.finish()
        assert fast.agg.records and fast.agg.records == general.agg.records
        assert (fast.packets, fast.ip_packets, fast.flow_count) == (
            general.packets, general.ip_packets, general.flow_count)


@pytest.mark.parametrize("chunk", [1 << 20, 300])
def test_pcap_records_read_in_place_match_the_reader(tmp_path: Path, monkeypatch, chunk: int) -> None:
    """feed() walks a classic pcap file's records inside the reader's windows; the result equals
    feeding the reader's records one by one, with windows so small that most records cross an end,
    an empty record, and a file cut short in its last record."""
    from detectors.network import reader
    monkeypatch.setattr(reader, "CHUNK", chunk)
    records = [(ts, f) for ts, _, f in frames(DATA / "loopback.pcap")]
    records.insert(5, (records[5][0], b""))
    data = write_pcap(tmp_path / "in-place.pcap", 1, records).read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-7])
    one_by_one = reader.CaptureReader(str(path))
    expected = Engine(CATALOG, "same")
    expected.feed(list(one_by_one))
    in_place = reader.CaptureReader(str(path))
    got = Engine(CATALOG, "same")
    got.feed(in_place)
    expected.finish()
    got.finish()
    assert got.agg.records and got.agg.records == expected.agg.records
    assert (got.packets, got.ip_packets, got.flow_count) == (expected.packets, expected.ip_packets, expected.flow_count)
    assert got.packets == len(records) - 2  # the empty record is no packet; the last one is cut
    assert (in_place.records, in_place.problem, in_place.bytes_read) == (
        one_by_one.records, one_by_one.problem, one_by_one.bytes_read)
    assert "truncated record" in in_place.problem
