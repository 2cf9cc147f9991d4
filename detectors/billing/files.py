"""Billing export files (CUR 2.0, Azure cost details, GCP billing rows) read in place with DuckDB.

Files are found under the given paths (a directory is walked without following symbolic links),
grouped by format, and each group is read by one aggregate query (``sql.aggregate_query``):
rows never come into Python, only a few sums per (account, service, item, resource, day).
CSV files are first cut down to the lines that can be LLM spend (``linefilter``), written to a
private temporary directory that is removed when the read ends.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from detectors.billing.common import Line, short_error
from detectors.billing.linefilter import CsvDialect, LineFilter, NotFiltered
from detectors.billing.sql import DUCKDB, Columns, SchemaError, aggregate_query, literal, row_to_line
from scanner.catalog import ExportSchema
from scanner.detector import DetectorError, ScanContext
from scanner.stopping import scratch_directory

# suffix → DuckDB reader; gzip is detected from the name by DuckDB itself
FORMATS = {
    ".parquet": "parquet", ".csv": "csv", ".csv.gz": "csv", ".tsv": "csv", ".json": "json",
    ".jsonl": "json", ".ndjson": "json", ".json.gz": "json", ".jsonl.gz": "json",
}
MEMORY_LIMIT = "384MB"  # DuckDB spills to disk past this; keeps a 10M-line export under ~500 MB RSS


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    if "manifest" in name:  # Data Exports write a *-Manifest.json beside the data
        return None
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return None


def find_files(ctx: ScanContext, paths: list[str]) -> dict[str, list[Path]]:
    """format → files under ``paths``; unreadable or unknown entries become coverage gaps."""
    out: dict[str, list[Path]] = {}
    for given in paths:
        root = Path(given).expanduser()
        if not root.exists():
            raise DetectorError(f"export path does not exist: {given}")
        if root.is_file():
            fmt = file_format(root)
            if fmt is None:
                raise DetectorError(f"{given}: not a billing export file (expected .parquet, .csv, .csv.gz or .json)")
            out.setdefault(fmt, []).append(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=lambda e: ctx.coverage.add_gap(
                str(e.filename), f"cannot list directory: {e.strerror}")):
            dirnames.sort()
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if p.is_symlink():
                    ctx.coverage.add_gap(str(p), "symbolic link: not followed")
                    continue
                fmt = file_format(p)
                if fmt is not None:
                    out.setdefault(fmt, []).append(p)
    return out


def _reader(fmt: str, files: list[Path], delimiter: str | None = None) -> str:
    names = "[" + ", ".join(literal(str(f)) for f in files) + "]"
    if fmt == "parquet":
        return f"read_parquet({names}, union_by_name = true)"
    if fmt == "csv":
        dialect = f", delim = {literal(delimiter)}, quote = '\"', escape = '\"'" if delimiter else ""
        return f"read_csv({names}, header = true, all_varchar = true, union_by_name = true{dialect})"
    return f"read_json_auto({names}, union_by_name = true)"


def connect():  # -> duckdb.DuckDBPyConnection
    import duckdb
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "memory_limit": MEMORY_LIMIT,
                                 "preserve_insertion_order": False})
    # Pushed down, the LLM filter would repeat the (map) column lookups once per LIKE: 10x slower on CUR 2.0.
    con.execute("SET disabled_optimizers = 'filter_pushdown'")
    return con


@dataclass
class _Batch:
    """Files one aggregate query reads: export files, or line-filtered copies of CSV ones."""

    files: list[Path]
    originals: list[Path]
    delimiter: str | None = None  # set for the copies: the dialect their originals were sniffed with


def read_exports(ctx: ScanContext, paths: list[str], schema: ExportSchema, services: list[str],
                 scoped: list[tuple[str, list[str]]]) -> Iterator[Line]:
    """Aggregate lines of every export file under ``paths`` (one query per file format).

    CSV files go through the line filter first (``linefilter``) where it can be exact: DuckDB
    then parses the few lines that can be LLM spend, not the whole bill.
    """
    groups = find_files(ctx, paths)
    if not groups:
        raise DetectorError(f"no billing export files (.parquet, .csv, .csv.gz, .json) under {', '.join(paths)}")
    con = connect()
    stop = threading.Event()
    watcher = threading.Thread(target=_interrupt_on_cancel, args=(ctx, con, stop), daemon=True)
    watcher.start()
    try:
        with scratch_directory("shadow-agents-bill-") as scratch:
            for fmt, candidates in sorted(groups.items()):
                ctx.check_cancelled()
                dialects: dict[Path, CsvDialect | None] = {}
                files = [f for f in candidates if _is_export(ctx, con, fmt, f, schema, dialects)]
                if not files:
                    continue
                ctx.progress(None, None, f"{len(files)} {fmt} file(s)")
                ctx.coverage.count("export_files", len(files))
                batches = [_Batch(files, files)]
                if fmt == "csv":
                    batches = _line_filtered(ctx, dialects, services, scoped, scratch)
                for batch in batches:
                    rows = _aggregate(ctx, con, fmt, batch, schema, services, scoped)
                    if rows is None and batch.delimiter:  # a copy DuckDB cannot read: the originals whole
                        rows = _aggregate(ctx, con, fmt, _Batch(batch.originals, batch.originals), schema,
                                          services, scoped)
                    yield from rows or []
    finally:
        stop.set()
        con.close()


def _aggregate(ctx: ScanContext, con, fmt: str, batch: _Batch, schema: ExportSchema, services: list[str],
               scoped: list[tuple[str, list[str]]]) -> list[Line] | None:
    """The aggregate lines of one batch; None when DuckDB cannot read it (a gap, for export files)."""
    import duckdb

    source = _reader(fmt, batch.files, batch.delimiter)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        query = aggregate_query(source, schema, Columns((r[0], r[1]) for r in described), DUCKDB, services, scoped)
        cursor = con.execute(query)
        names = [d[0] for d in cursor.description]
        return [row_to_line(dict(zip(names, row))) for row in cursor.fetchall()]
    except duckdb.InterruptException:
        ctx.check_cancelled()
        raise
    except SchemaError as exc:
        if not batch.delimiter:
            _gap(ctx, batch.files, f"not a {schema.name} file: {exc}")
    except duckdb.Error as exc:
        if not batch.delimiter:
            _gap(ctx, batch.files, f"cannot read as {fmt}: {_first_line(exc)}")
    return None


def _line_filtered(ctx: ScanContext, dialects: dict[Path, CsvDialect | None], services: list[str],
                   scoped: list[tuple[str, list[str]]], scratch: Path) -> list[_Batch]:
    """CSV files as batches: line-filtered copies (one batch per delimiter), then the files read whole.

    Files are filtered in parallel threads: inflating and searching release the GIL.
    """
    from concurrent.futures import ThreadPoolExecutor

    line_filter = LineFilter.for_globs([*services, *(name for name, _ in scoped)])
    able = [f for f, d in dialects.items() if line_filter and d and d.filterable()]
    whole = [f for f in dialects if f not in able]

    def copy(item: tuple[int, Path]) -> Path | None:
        i, path = item
        target = scratch / f"{i:06d}.csv"
        try:
            line_filter.filter_file(path, target, lambda: ctx.cancelled)  # type: ignore[union-attr]
        except (NotFiltered, OSError, EOFError, ValueError):  # read whole: DuckDB says what is wrong, if anything
            return None
        return target

    by_delimiter: dict[str, _Batch] = {}
    with ThreadPoolExecutor(max(1, min(len(able), os.cpu_count() or 1))) as pool:
        for path, target in zip(able, pool.map(copy, enumerate(able))):
            if target is None:
                whole.append(path)
                continue
            delimiter = dialects[path].delimiter  # type: ignore[union-attr]
            batch = by_delimiter.setdefault(delimiter, _Batch([], [], delimiter))
            batch.files.append(target)
            batch.originals.append(path)
    ctx.check_cancelled()
    if by_delimiter:
        ctx.coverage.count("export_files_line_filtered", sum(len(b.files) for b in by_delimiter.values()))
    rest = sorted(whole)
    return [*(by_delimiter[d] for d in sorted(by_delimiter)), *([_Batch(rest, rest)] if rest else [])]


def _is_export(ctx: ScanContext, con, fmt: str, path: Path, schema: ExportSchema,
               dialects: dict[Path, CsvDialect | None]) -> bool:
    """Whether one file has the schema's required columns (its header or footer only is read); an
    export is added to ``dialects``, with DuckDB's sniffed dialect for a CSV file."""
    import duckdb
    dialect = None
    try:
        if fmt == "csv":
            cursor = con.execute(f"SELECT Delimiter, Quote, Escape, Comment, NewLineDelimiter, SkipRows, HasHeader, "
                                 f"Columns FROM sniff_csv({literal(str(path))}, header = true, all_varchar = true)")
            *sniffed, found = cursor.fetchone()
            dialect = CsvDialect(*map(str, sniffed[:5]), int(sniffed[5]), bool(sniffed[6]))
            names = [(c["name"], c["type"]) for c in found]
        else:
            names = [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {_reader(fmt, [path])}").fetchall()]
    except duckdb.Error as exc:
        _gap(ctx, [path], f"cannot read as {fmt}: {_first_line(exc)}")
        return False
    columns = Columns(names)
    for required in ("account", "service", "cost"):
        if not any(columns.candidate(DUCKDB, c) for c in schema.columns[required]):
            _gap(ctx, [path], f"not a {schema.name} file: no {required} column "
                              f"(looked for {', '.join(schema.columns[required])})")
            return False
    dialects[path] = dialect
    return True


def _gap(ctx: ScanContext, files: list[Path], reason: str) -> None:
    what = str(files[0]) if len(files) == 1 else f"{files[0]} and {len(files) - 1} more"
    ctx.coverage.add_gap(what, reason)


def _first_line(exc: Exception) -> str:
    return short_error(exc, 300)


def _interrupt_on_cancel(ctx: ScanContext, con, stop: threading.Event) -> None:
    """A timeout sets the cancel event; a running DuckDB query only stops when interrupted."""
    while not stop.wait(0.2):
        if ctx.cancelled:
            con.interrupt()
            return
