"""What this process may do on this host: root, Linux capabilities. Read, never requested."""

from __future__ import annotations

import os

# bit numbers from linux/capability.h
CAPABILITIES = {"CAP_DAC_READ_SEARCH": 2, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_PTRACE": 19}


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def has_capability(name: str) -> bool:
    """Whether the effective capability set holds ``name`` (False where there are no capabilities)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAPABILITIES[name] & 1)
    except (OSError, ValueError, KeyError):
        pass
    return False
