"""A byte-level line filter for CSV billing exports: only lines that can be LLM spend reach DuckDB.

Parsing quoted CSV is most of the cost of reading a bill (DuckDB spends ~6 s of CPU on 500 MB of
CUR 2.0 CSV), and LLM lines are a small part of most bills. A line whose service matches a
catalogue glob holds that glob's literal text in some letter case (CSV quoting only adds quote
characters; JSON escapes, the one other way to spell it, are kept by keeping every line with a
backslash). So every line that holds none of the literals is dropped before parsing: each chunk
is lower-cased (ASCII, so offsets stay) and searched once with Aho-Corasick (SIMD, GIL released),
files in parallel threads. The kept lines and the header go to a private temporary file that
the usual aggregate query reads; the catalogue rules still check every aggregate.

Kept lines are whole records: a line is kept only if it starts and ends outside quotes (an even
count of quote characters before it and in it). A file with a line break inside a quoted field
there, another quote, escape or comment character, no header, or where more than a quarter of
the bytes would be kept, is not filtered: it is read whole, as before.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

CHUNK = 4 << 20
MIN_LITERAL = 3  # a shorter literal would keep nearly every line: the file is read whole instead
MAX_KEPT_SHARE = 0.25  # past this share of the bytes read, filtering saves little: read whole
SHARE_CHECKED_AFTER = 16 << 20
MAX_LINE = 64 << 20  # a longer line is no bill line: read whole, without holding it here


class NotFiltered(Exception):
    """This file cannot be filtered exactly (or would gain nothing): read it whole."""


@dataclass(frozen=True)
class CsvDialect:
    """What DuckDB's sniffer says about a CSV file (``sniff_csv``), as far as the filter needs it."""

    delimiter: str
    quote: str
    escape: str
    comment: str
    newline: str
    skip_rows: int
    header: bool

    def filterable(self) -> bool:
        """RFC 4180 quoting (a quote is escaped by doubling it), a header first, lines ending in LF."""
        none = ("", "(empty)")
        return (self.quote == '"' and self.escape in ('"', *none) and self.comment in none
                and self.newline in ("\\n", "\\r\\n") and self.skip_rows == 0 and self.header
                and len(self.delimiter) == 1)


def literals(globs: Iterable[str]) -> list[str] | None:
    """The lower-case literal each glob must contain (its longest piece between ``*``), fewest
    that cover them all; None when some glob has no literal worth searching for."""
    found = set()
    for glob in globs:
        piece = max(glob.lower().split("*"), key=len)
        if len(piece) < MIN_LITERAL or not piece.isascii():
            return None
        found.add(piece)
    return sorted(p for p in found if not any(o != p and o in p for o in found))


class LineFilter:
    """Keeps the lines of CSV exports that hold one of the literals, in any case."""

    def __init__(self, pieces: list[str]):
        import ahocorasick_rs

        patterns = [p.encode() for p in pieces] + [b"\\"]
        self._search = ahocorasick_rs.BytesAhoCorasick(patterns).find_matches_as_indexes

    @classmethod
    def for_globs(cls, globs: Iterable[str]) -> "LineFilter | None":
        pieces = literals(globs)
        if not pieces:
            return None
        try:
            return cls(pieces)
        except ImportError:
            return None

    def filter_file(self, source: Path, target: Path, stop: Callable[[], bool] = lambda: False) -> int:
        """Write the header and the kept lines of ``source`` (gzipped if named ``*.gz``) to ``target``;
        the number of lines kept. Raises :class:`NotFiltered` when the file must be read whole."""
        with _open(source) as src, open(target, "xb") as out:
            rest = b""
            header = True
            quotes = kept = kept_bytes = read = 0
            while True:
                if stop():
                    raise NotFiltered("cancelled")
                raw = src.read(CHUNK)
                data = rest + raw
                if raw:
                    cut = data.rfind(b"\n") + 1
                    chunk, rest = data[:cut], data[cut:]
                else:
                    chunk, rest = data, b""
                read += len(raw)
                if len(rest) > MAX_LINE:
                    raise NotFiltered("a line longer than 64 MiB")
                last = 0
                if header and chunk:
                    last = chunk.find(b"\n") + 1 or len(chunk)
                    quotes = _header(chunk[:last])
                    out.write(chunk[:last])
                    header = False
                for _, start, _end in self._search(chunk.lower()):
                    if start < last:
                        continue  # in a line kept already
                    begin = chunk.rfind(b"\n", 0, start) + 1
                    end = chunk.find(b"\n", start) + 1 or len(chunk)
                    quotes += chunk.count(b'"', last, begin)
                    line_quotes = chunk.count(b'"', begin, end)
                    if quotes % 2 or line_quotes % 2:
                        raise NotFiltered("a quoted field holds a line break")
                    quotes += line_quotes
                    out.write(chunk[begin:end])
                    kept += 1
                    kept_bytes += end - begin
                    last = end
                quotes += chunk.count(b'"', last)
                if read >= SHARE_CHECKED_AFTER and kept_bytes > MAX_KEPT_SHARE * read:
                    raise NotFiltered("most lines would be kept")
                if not raw:
                    return kept


def _header(line: bytes) -> int:
    """The quote count of the header line; a header that is not UTF-8 text means another encoding."""
    if b"\0" in line:
        raise NotFiltered("not UTF-8 text")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        raise NotFiltered("not UTF-8 text") from None
    count = line.count(b'"')
    if count % 2:
        raise NotFiltered("a quoted header field holds a line break")
    return count


def _open(path: Path):
    if not path.name.lower().endswith(".gz"):
        return open(path, "rb")
    try:
        from isal import igzip  # ISA-L inflates 5-8x faster than zlib, and releases the GIL
        return igzip.open(path, "rb")
    except ImportError:
        return gzip.open(path, "rb")
