"""A tiny terminal for running real agent CLIs as users do: under a pseudo-terminal.

    python tests/pty_terminal.py SPEC.json

SPEC is ``{"argv": [...], "env": {...}, "cwd": "...", "log": "...", "keys": [[seconds, "text"], ...]}``.
The program gets the spec's environment, not this process's: the terminal is the
program's parent, as a terminal emulator is, and holds none of its keys. Full-screen
programs wait for answers to the queries they send (cursor position, device
attributes, colours), so those are answered; ``keys`` are typed after the given
delays (a dialog confirmed with Enter). Output goes to ``log``. The terminal stays
until the program exits or it is killed.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import sys
import termios
import time

ROWS, COLUMNS = 40, 120
# Queries a terminal answers: cursor position, primary/secondary device attributes,
# foreground/background colour, DEC private mode report, kitty keyboard flags.
ANSWERS = (
    (re.compile(rb"\x1b\[6n"), b"\x1b[1;1R"),
    (re.compile(rb"\x1b\[>[0-9]*c"), b"\x1b[>0;95;0c"),
    (re.compile(rb"\x1b\[0?c"), b"\x1b[?62;22c"),
    (re.compile(rb"\x1b\]10;\?(?:\x07|\x1b\\)"), b"\x1b]10;rgb:cccc/cccc/cccc\x1b\\"),
    (re.compile(rb"\x1b\]11;\?(?:\x07|\x1b\\)"), b"\x1b]11;rgb:0000/0000/0000\x1b\\"),
    (re.compile(rb"\x1b\[\?([0-9]+)\$p"), None),  # DECRQM: "mode not recognised"
    (re.compile(rb"\x1b\[\?u"), b"\x1b[?0u"),
)


def answer(chunk: bytes) -> bytes:
    """The replies to every query in ``chunk``, in the order the queries came."""
    found = []
    for rx, reply in ANSWERS:
        for m in rx.finditer(chunk):
            found.append((m.start(), reply if reply is not None else b"\x1b[?" + m.group(1) + b";0$y"))
    return b"".join(reply for _, reply in sorted(found))


def main(spec_path: str) -> int:
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    pid, fd = pty.fork()
    if pid == 0:  # the program: its own session, the pty as its terminal
        if spec.get("cwd"):
            os.chdir(spec["cwd"])
        os.execvpe(spec["argv"][0], spec["argv"], {"TERM": "xterm-256color", **spec["env"]})
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))  # a 0x0 screen draws nothing
    keys = sorted((float(t), k) for t, k in spec.get("keys", []))
    start = time.monotonic()
    with open(spec.get("log") or os.devnull, "ab") as log:
        while True:
            timeout = max(0.0, keys[0][0] - (time.monotonic() - start)) if keys else None
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                os.write(fd, keys.pop(0)[1].encode())
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the program closed the terminal
                break
            if not chunk:
                break
            log.write(chunk)
            log.flush()
            reply = answer(chunk)
            if reply:
                os.write(fd, reply)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
