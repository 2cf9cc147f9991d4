"""Everything the process writes goes through here: reports, stdout, stderr.

:class:`GuardedStream` is the last step before the operating system: every string written
to it is scrubbed of secrets (:func:`scanner.redact.scrub`) and neutralised for its reader
(:mod:`scanner.safetext`): ``json`` output gets ``\\uXXXX`` escapes (still valid UTF-8, and
it reads back to the same strings), ``text`` output gets visible escapes, ``terminal``
output leaves ESC to the library driving a real terminal and is ``text`` otherwise.
:func:`install_std_streams` puts guards in place of ``sys.stdout`` and ``sys.stderr`` at
start-up, so even a write nobody thought of is scrubbed.

Where a report goes (:func:`open_output`):

* ``None``, ``-`` and ``/dev/stdout``: standard output; ``/dev/stderr``: standard error;
* a regular file or a path that does not exist yet: a temp file in the same directory,
  fsynced and renamed over it, mode 0600, so the file appears only complete;
* a character device (``/dev/null``, a terminal) or a FIFO: opened and written in place,
  never replaced or created;
* anything else — a directory, a socket, a block device — and a symbolic link to anything
  but a character device or a FIFO: refused (exit 2). A link is never followed onto a file
  it might replace; links in the directories above the target are the user's own and are
  followed as usual.

A closed pipe (``| head``) ends the command quietly with 141 (128 + SIGPIPE); any other
write error (a full disk, ``/dev/full``) is a one-line error and exit code 2.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import re
import stat
import sys
import tempfile
from typing import IO, Any, Callable, Iterator

from scanner import redact, safetext
from scanner.errors import UserError

KINDS = ("json", "text", "terminal")
CHUNK = 1 << 16  # scrub and write in pieces this large, cut at line ends
MAX_LINE = 1 << 22  # a line longer than this is cut where no key can be running
EXIT_PIPE_CLOSED = 128 + 13
STDOUT_NAMES = (None, "-", "/dev/stdout")
# the characters of every key format: a cut inside a run of these could split a key in two
_KEY_RUN = re.compile(r"[A-Za-z0-9_+/=.-]*\Z")


def format_kind(formatter: object) -> str:
    """How output of ``formatter`` is neutralised: its ``output_kind`` if one of :data:`KINDS`, else text
    (a plugin's own value is never trusted to mean less escaping)."""
    kind = getattr(formatter, "output_kind", "text")
    return kind if kind in KINDS else "text"


class OutputClosed(Exception):
    """The reader of our output went away (EPIPE): stop quietly."""


class GuardedStream(io.TextIOBase):
    """A text stream that scrubs and neutralises everything on its way to ``target``.

    ``target`` is a text stream, or a callable returning one (so a guard can follow
    ``sys.stderr`` being replaced). ``interactive`` streams pass each complete line on at
    once; the others collect up to :data:`CHUNK` characters. Only complete lines are
    scrubbed, so a key can never be split between two scrub calls.
    """

    def __init__(self, target: IO[str] | Any, kind: str = "text", name: str = "output",
                 interactive: bool = False, quiet_errors: bool = False) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown output kind {kind!r}")
        self._target = target
        self.kind = kind
        self.name = name
        self.interactive = interactive
        self.quiet_errors = quiet_errors  # stderr: nowhere left to report a failure
        self._parts: list[str] = []
        self._size = 0
        self.dead = False

    # -- the stream protocol (no ``buffer``: nothing may bypass the guard with bytes) ---------

    @property
    def target(self) -> IO[str]:
        return self._target() if callable(self._target) else self._target

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "strict"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return bool(self.target.isatty())
        except (AttributeError, ValueError, OSError):
            return False

    def fileno(self) -> int:
        return self.target.fileno()

    def write(self, text: str) -> int:  # type: ignore[override]
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.dead or not text:
            return len(text)
        self._parts.append(text)
        self._size += len(text)
        if (self.interactive and "\n" in text) or self._size >= CHUNK:
            self._drain(final=False)
        return len(text)

    def write_scrubbed(self, data: bytes) -> None:
        """UTF-8 text that its writer has already scrubbed as :func:`redact.scrub` would (whole
        characters; lone surrogates as ``surrogatepass`` writes them): written as it is when it
        needs no neutralising and the target takes UTF-8 bytes, without a second scrub or a decode
        (a large report's text), else the way :meth:`write` writes text."""
        raw = getattr(self.target, "buffer", None)
        encoding = str(getattr(self.target, "encoding", "")).lower().replace("_", "-")
        try:
            as_is = raw is not None and encoding in ("utf-8", "utf8") and safetext.utf8_safe(data)
        except UnicodeDecodeError:  # not whole characters
            as_is = False
        if not as_is:
            self.write(data.decode("utf-8", "surrogatepass"))
            return
        self.flush()
        for start in range(0, len(data), CHUNK << 4):
            self._guard(lambda piece=data[start:start + (CHUNK << 4)]: raw.write(piece))
            self._guard(raw.flush)

    def discard(self) -> None:
        """Forget what is held back, unwritten (the output is being cut back)."""
        self._parts, self._size = [], 0

    def flush(self) -> None:
        self._drain(final=True)
        if not self.dead:
            self._guard(self.target.flush)

    def close(self) -> None:  # the target belongs to whoever opened it
        self.flush()

    # -- the guard ---------------------------------------------------------------------------

    def neutralise(self, text: str) -> str:
        if self.kind == "json":
            return safetext.json_safe(text)
        if self.kind == "terminal" and self.isatty():
            return safetext.printable_terminal(text)
        return safetext.printable(text)

    def _drain(self, final: bool) -> None:
        if not self._parts:
            return
        text = "".join(self._parts)
        cut = len(text)
        if not final:
            cut = text.rfind("\n") + 1
            if cut == 0:
                if len(text) < MAX_LINE:
                    return
                cut = len(text) - len(_KEY_RUN.search(text).group()) or len(text)  # type: ignore[union-attr]
        rest = text[cut:]
        self._parts, self._size = ([rest], len(rest)) if rest else ([], 0)
        out = self.neutralise(redact.scrub(text[:cut]))
        # In pieces, each flushed: a full disk or a closed pipe shows up now, not at exit (and a
        # single large write to a pipe can end in a partial write that CPython does not report).
        for start in range(0, len(out), CHUNK):
            self._guard(lambda piece=out[start:start + CHUNK]: self.target.write(piece))
            self._guard(self.target.flush)

    def _guard(self, op: Any) -> None:
        if self.dead:
            return
        try:
            op()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.dead = True
        self._parts, self._size = [], 0
        _silence(self.target)
        if self.quiet_errors:
            return
        if exc.errno == errno.EPIPE or isinstance(exc, BrokenPipeError):
            raise OutputClosed(self.name) from None
        raise UserError(f"cannot write to {self.name}: {exc.strerror or exc}") from None


def _silence(stream: IO[str]) -> None:
    """Point a failed standard stream at /dev/null so the interpreter's last flush finds
    nothing to complain about (and a broken pipe prints no "Exception ignored")."""
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, OSError):
        return
    if fd not in (1, 2):
        return
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


# ---- standard streams --------------------------------------------------------------------------


def _raw(stream: Any) -> Any:
    """The stream a guard writes to (a guard itself is unwrapped)."""
    while isinstance(stream, GuardedStream):
        stream = stream.target
    return stream


def install_std_streams() -> None:
    """Guard ``sys.stdout`` and ``sys.stderr`` for the rest of the process.

    stdout is a ``terminal`` stream (rich colours the help on a terminal; every command
    writes its data through :func:`open_output` with the right kind); stderr is ``text``
    (warnings, tracebacks, logs: nothing there needs ESC) — the command's own messages go
    through :func:`terminal_stderr`.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
            stream.reconfigure(errors="backslashreplace")  # never an exception for a character
    if not isinstance(sys.stdout, GuardedStream):
        sys.stdout = GuardedStream(sys.stdout, "terminal", "stdout")
    if not isinstance(sys.stderr, GuardedStream):
        sys.stderr = GuardedStream(sys.stderr, "text", "stderr", interactive=True, quiet_errors=True)


def terminal_stderr() -> GuardedStream:
    """stderr for the program's own messages and live progress: ESC allowed on a terminal."""
    return GuardedStream(lambda: _raw(sys.stderr), "terminal", "stderr", interactive=True, quiet_errors=True)


@contextlib.contextmanager
def _stdout(kind: str) -> Iterator[GuardedStream]:
    current = sys.stdout
    guard = current if isinstance(current, GuardedStream) else GuardedStream(current, kind, "stdout")
    guard.flush()
    previous, guard.kind = guard.kind, kind
    try:
        yield guard
    finally:
        try:
            guard.flush()
        finally:
            guard.kind = previous


# ---- report files ------------------------------------------------------------------------------

_REFUSED = {stat.S_IFDIR: "a directory", stat.S_IFSOCK: "a socket", stat.S_IFBLK: "a block device"}


def _kind_of_target(path: str) -> str:
    """``replace`` (regular file or nothing there yet) or ``direct`` (character device, FIFO)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "replace"
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.stat(path)
        except OSError:
            target = None
        if target is not None and (stat.S_ISCHR(target.st_mode) or stat.S_ISFIFO(target.st_mode)):
            return "direct"
        raise UserError(f"cannot write {path}: it is a symbolic link; give the file it points to, "
                        "or remove the link") from None
    if stat.S_ISREG(st.st_mode):
        return "replace"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "direct"
    what = _REFUSED.get(stat.S_IFMT(st.st_mode), "not a regular file")
    raise UserError(f"cannot write {path}: it is {what}")


def would_replace(path: str | None) -> bool:
    """Would writing to ``path`` replace an existing file (or a link to one)?"""
    if path in STDOUT_NAMES or path == "/dev/stderr":
        return False
    try:
        st = os.lstat(path)  # type: ignore[arg-type]
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)


def is_terminal(path: str | None) -> bool:
    """Whether ``path`` (None: stdout) is a terminal or another character device than the null
    device, before opening it."""
    if path in STDOUT_NAMES:
        try:
            return bool(sys.stdout.isatty())
        except (AttributeError, ValueError, OSError):
            return False
    try:
        return stat.S_ISCHR(os.stat(path).st_mode) and not os.path.samefile(path, os.devnull)  # type: ignore[arg-type]
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def open_output(path: str | None, kind: str = "text") -> Iterator[GuardedStream]:
    """Yield a guarded text stream of ``kind`` for ``path`` (see the module docstring)."""
    if path in STDOUT_NAMES:
        with _stdout(kind) as stream:
            yield stream
        return
    assert path is not None
    if path == "/dev/stderr":
        guard = GuardedStream(lambda: _raw(sys.stderr), kind, "stderr")
        yield guard
        guard.flush()
        return
    how = _kind_of_target(path)
    if how == "direct":
        with _direct(path, kind) as stream:
            yield stream
        return
    with _replace(path, kind) as stream:
        yield stream


def rewinder(stream: GuardedStream) -> Callable[[], None] | None:
    """For a guarded stream onto a regular file written at its end — a report file's temp file,
    or stdout redirected to a file — a function that cuts the file back to where it stands now:
    what a command that must write nothing for a bad input can do instead of holding a large
    output back in a spool and copying it. None for anything else (a pipe, a terminal, a file
    written in its middle: what went there cannot be taken back)."""
    stream.flush()
    target = stream.target
    try:
        fd = target.fileno()
        st = os.fstat(fd)
        start = os.lseek(fd, 0, os.SEEK_CUR)
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return None
    if not stat.S_ISREG(st.st_mode) or start != st.st_size or getattr(target, "buffer", None) is None:
        return None

    def rewind() -> None:
        stream.discard()
        with contextlib.suppress(OSError, ValueError):
            target.flush()
        with contextlib.suppress(OSError, ValueError):
            target.buffer.seek(start)
            os.ftruncate(fd, start)
    return rewind


def copy_spool(spool: IO[bytes], stream: IO[str], piece: int = 1 << 20, scrubbed: bool = False) -> None:
    """Write a private spool of UTF-8 text (lone surrogates kept, as ``surrogatepass`` wrote them)
    to ``stream`` from its start, a piece at a time; the guard escapes what it must. ``scrubbed``:
    everything in the spool was scrubbed (or found to need none) by its writer, so a guarded
    stream need not scrub it again."""
    spool.seek(0)
    if scrubbed and isinstance(stream, GuardedStream):
        carry = b""
        while data := spool.read(piece):
            data = carry + data
            cut = _whole_characters(data)
            carry = data[cut:]
            stream.write_scrubbed(data[:cut])
        stream.write_scrubbed(carry)
        return
    text = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    while data := spool.read(piece):
        stream.write(text.decode(data))
    stream.write(text.decode(b"", final=True))


def _whole_characters(data: bytes) -> int:
    """How much of the UTF-8 text ``data`` holds whole characters: up to a character cut short at
    its end, if one is."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # the first byte of a character of 2, 3 or 4 bytes
            size = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if size <= back else len(data) - back
    return len(data)


@contextlib.contextmanager
def _direct(path: str, kind: str) -> Iterator[GuardedStream]:
    """Write into a character device or a FIFO: no temp file, no rename, no truncation."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):  # swapped since we looked
        os.close(fd)
        raise UserError(f"cannot write {path}: it changed while it was being opened")
    fh = io.open(fd, "w", encoding="utf-8", errors="backslashreplace", newline="")
    try:
        guard = GuardedStream(fh, kind, path)
        yield guard
        guard.flush()
    finally:
        _close_quietly(fh)


@contextlib.contextmanager
def _replace(path: str, kind: str) -> Iterator[GuardedStream]:
    """Write a temp file next to ``path``, then rename it over ``path``: it appears only complete."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise UserError(f"cannot write {path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    fh = io.open(fd, "w", encoding="utf-8", errors="backslashreplace", newline="")
    try:
        with contextlib.suppress(AttributeError, OSError):
            os.fchmod(fd, 0o600)
        guard = GuardedStream(fh, kind, path)
        yield guard
        guard.flush()
        try:
            os.fsync(fd)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
        fh.close()
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _close_quietly(fh)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _close_quietly(fh: IO[str]) -> None:
    """Close a report file whose failure, if any, was already reported (the descriptor is
    closed even when the last flush fails)."""
    with contextlib.suppress(OSError, ValueError):
        fh.close()
