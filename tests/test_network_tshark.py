"""Differential test: the (client, server name) of every ClientHello tshark dissects in the committed fixtures,
against the detector's TLS/QUIC findings. Skipped where tshark is not installed (CI does not install it:
Wireshark's dissectors are a large install for one test; run ``apt-get install tshark`` to include it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scanner.catalog import Catalog
from tests.fixtures.network_util import DATA, scan

pytestmark = pytest.mark.skipif(not shutil.which("tshark"), reason="tshark is not installed (apt-get install tshark)")

FIXTURES = sorted(p.name for p in DATA.glob("*.pcap*"))
# what tshark reads and the detector deliberately does not: counted in coverage instead
NOT_DECODED = {"tunnels.pcap": {("127.3.0.12", "api.openai.com")}}  # five tunnels deep


def tshark_hellos(path: Path) -> set[tuple[str, str]]:
    """(innermost IP source, server name) of each ClientHello, TCP or QUIC."""
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "tls.handshake.type == 1", "-T", "fields",
                          "-e", "frame.protocols", "-e", "ip.src", "-e", "ipv6.src",
                          "-e", "tls.handshake.extensions_server_name"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    pairs = set()
    for line in out.splitlines():
        protocols, v4, v6, names = (line.split("\t") + ["", "", "", ""])[:4]
        layers = [p for p in protocols.split(":") if p in ("ip", "ipv6")]
        if not layers or not names:
            continue
        addresses = (v4 if layers[-1] == "ip" else v6).split(",")
        client = addresses[min(layers.count(layers[-1]) - 1, len(addresses) - 1)]
        pairs |= {(client, n.lower().rstrip(".")) for n in names.split(",")}
    return pairs


@pytest.mark.parametrize("name", FIXTURES)
def test_server_names_agree_with_tshark(name: str) -> None:
    catalog = Catalog.load()
    theirs = {(c, n) for c, n in tshark_hellos(DATA / name) if catalog.provider_for_host(n)}
    findings, _ = scan(DATA / name)
    ours = {(f.details["client"], f.details["sni"]) for f in findings if f.kind in ("tls-sni", "quic-sni")}
    assert theirs, "tshark found no ClientHello for a catalogue name"
    assert ours <= theirs, f"not in tshark's dissection: {ours - theirs}"
    assert theirs - ours == NOT_DECODED.get(name, set())
