"""Billing export files (CUR 2.0, Azure cost details, GCP billing rows) read in place with DuckDB.

Files are found under the given paths (a directory is walked without following symbolic links),
grouped by format, and each group is read by one aggregate query (``sql.aggregate_query``):
rows never come into Python, only a few sums per (account, service, item, resource, day).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator

from detectors.billing.common import Line, short_error
from detectors.billing.sql import DUCKDB, Columns, SchemaError, aggregate_query, literal, row_to_line
from scanner.catalog import ExportSchema
from scanner.detector import DetectorError, ScanContext

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


def _reader(fmt: str, files: list[Path]) -> str:
    names = "[" + ", ".join(literal(str(f)) for f in files) + "]"
    if fmt == "parquet":
        return f"read_parquet({names}, union_by_name = true)"
    if fmt == "csv":
        return f"read_csv({names}, header = true, all_varchar = true, union_by_name = true)"
    return f"read_json_auto({names}, union_by_name = true)"


def connect():  # -> duckdb.DuckDBPyConnection
    import duckdb
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "memory_limit": MEMORY_LIMIT,
                                 "preserve_insertion_order": False})
    # Pushed down, the LLM filter would repeat the (map) column lookups once per LIKE: 10x slower on CUR 2.0.
    con.execute("SET disabled_optimizers = 'filter_pushdown'")
    return con


def read_exports(ctx: ScanContext, paths: list[str], schema: ExportSchema, services: list[str],
                 scoped: list[tuple[str, list[str]]]) -> Iterator[Line]:
    """Aggregate lines of every export file under ``paths`` (one query per file format)."""
    import duckdb

    groups = find_files(ctx, paths)
    if not groups:
        raise DetectorError(f"no billing export files (.parquet, .csv, .csv.gz, .json) under {', '.join(paths)}")
    con = connect()
    stop = threading.Event()
    watcher = threading.Thread(target=_interrupt_on_cancel, args=(ctx, con, stop), daemon=True)
    watcher.start()
    try:
        for fmt, candidates in sorted(groups.items()):
            ctx.check_cancelled()
            files = [f for f in candidates if _is_export(ctx, con, fmt, f, schema)]
            if not files:
                continue
            ctx.progress(None, None, f"{len(files)} {fmt} file(s)")
            source = _reader(fmt, files)
            try:
                described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
                query = aggregate_query(source, schema, Columns((r[0], r[1]) for r in described), DUCKDB,
                                        services, scoped)
                cursor = con.execute(query)
                names = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
            except SchemaError as exc:
                _gap(ctx, files, f"not a {schema.name} file: {exc}")
                continue
            except duckdb.InterruptException:
                ctx.check_cancelled()
                raise
            except duckdb.Error as exc:
                _gap(ctx, files, f"cannot read as {fmt}: {_first_line(exc)}")
                continue
            ctx.coverage.count("export_files", len(files))
            for row in rows:
                yield row_to_line(dict(zip(names, row)))
    finally:
        stop.set()
        con.close()


def _is_export(ctx: ScanContext, con, fmt: str, path: Path, schema: ExportSchema) -> bool:
    """Whether one file has the schema's required columns (its header or footer only is read)."""
    import duckdb
    try:
        columns = Columns((r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {_reader(fmt, [path])}").fetchall())
    except duckdb.Error as exc:
        _gap(ctx, [path], f"cannot read as {fmt}: {_first_line(exc)}")
        return False
    for required in ("account", "service", "cost"):
        if not any(columns.candidate(DUCKDB, c) for c in schema.columns[required]):
            _gap(ctx, [path], f"not a {schema.name} file: no {required} column "
                              f"(looked for {', '.join(schema.columns[required])})")
            return False
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
