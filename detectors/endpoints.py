"""Where a detector that calls an API may send a credential."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_url(url: str | None) -> bool:
    """Whether ``url``'s host is this machine (``localhost`` or a loopback address).

    Plain http carries a bearer token or admin key in clear, so the cloud and admin
    detectors accept it only for such a host: an emulator, a local proxy, a test server.
    """
    host = urlsplit(url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
