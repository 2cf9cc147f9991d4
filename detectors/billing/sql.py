"""The one aggregate query over a billing export: columns resolved from the catalogue schema.

The query filters to the catalogue's LLM services, groups by account, service, item, resource,
caller, unit, currency, tags and day, and sums cost and usage: only aggregates ever leave the
engine (DuckDB over files, Athena over CUR in S3). Column names come from the export's own
header (case-insensitive); values from the catalogue are quoted as SQL literals, never spliced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from detectors.billing.common import Line, parse_tags
from scanner.catalog import ExportSchema

# Fields grouped by (text) and summed (numbers); "tags" adds one group column per tag column found.
GROUPED = ("account", "account_name", "service", "subcategory", "item", "product", "resource", "principal",
           "unit", "currency")
SUMMED = ("cost", "credits", "quantity")


class SchemaError(ValueError):
    """The source lacks a column the schema requires (it is not that kind of export)."""


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def like(glob: str) -> str:
    """A catalogue glob as a lower-case LIKE pattern (``_`` and ``%`` may over-match; Python re-checks)."""
    return literal(glob.lower().replace("*", "%"))


@dataclass(frozen=True)
class Dialect:
    """The few expressions that differ between DuckDB and Athena (Trino)."""

    name: str

    def map_get(self, col: str, key: str) -> str:
        # map_extract_value: the value itself, half the cost of map_extract(...)[1]'s one-element list
        return f"map_extract_value({col}, {literal(key)})" if self.name == "duckdb" else f"element_at({col}, {literal(key)})"

    def struct_get(self, col: str, key: str) -> str:
        return f"{col}.{ident(key)}"

    def json_get(self, col: str, key: str) -> str:
        fn = "json_extract_string" if self.name == "duckdb" else "json_extract_scalar"
        return f"{fn}({col}, {literal('$.' + key)})"

    def to_json(self, col: str, typ: str) -> str:
        if _is_text(typ):
            return col
        return f"to_json({col})" if self.name == "duckdb" else f"json_format(CAST({col} AS JSON))"

    def to_text(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def to_double(self, expr: str) -> str:
        return f"TRY_CAST({expr} AS DOUBLE)"

    def to_day(self, col: str, typ: str) -> str:
        """The usage day as ``YYYY-MM-DD`` text; ISO text, timestamps and Azure's ``MM/DD/YYYY`` are read."""
        if self.name == "duckdb":
            if not _is_text(typ):
                return f"strftime(CAST({col} AS DATE), '%Y-%m-%d')"
            return (f"strftime(coalesce(TRY_CAST(TRY_CAST({col} AS TIMESTAMPTZ) AS DATE), TRY_CAST({col} AS DATE), "
                    f"CAST(try_strptime({col}, '%m/%d/%Y') AS DATE)), '%Y-%m-%d')")
        if not _is_text(typ):
            return f"date_format({col}, '%Y-%m-%d')"
        return f"substr({col}, 1, 10)"


DUCKDB = Dialect("duckdb")
ATHENA = Dialect("athena")


def _is_text(typ: str) -> bool:
    t = typ.upper()
    return t.startswith(("VARCHAR", "STRING", "JSON", "CHAR", "TEXT"))


def _is_map(typ: str) -> bool:
    return typ.upper().startswith("MAP")


def _struct_has(typ: str, key: str) -> bool:
    t = typ.upper()
    if not (t.startswith("STRUCT") or t.startswith("ROW")):
        return False
    return re.search(rf'[(,]\s*"?{re.escape(key.upper())}"?\s', t) is not None


def _is_list(typ: str) -> bool:
    t = typ.upper()
    return t.endswith("[]") or t.startswith(("ARRAY", "LIST"))


class Columns:
    """The source's columns (name → type), looked up case-insensitively."""

    def __init__(self, columns: Iterable[tuple[str, str]]):
        self._by_lower = {}
        for name, typ in columns:
            self._by_lower.setdefault(name.lower(), (name, typ))

    def get(self, name: str) -> tuple[str, str] | None:
        return self._by_lower.get(name.lower())

    def candidate(self, dialect: Dialect, candidate: str) -> tuple[str, str] | None:
        """(expression, type) for one catalogue candidate: a column, ``a.b`` (map/struct/JSON key), or ``a_b``."""
        exact = self.get(candidate)
        if exact:
            return ident(exact[0]), exact[1]
        if "." not in candidate:
            return None
        head, key = candidate.split(".", 1)
        flat = self.get(f"{head}_{key}")
        if flat:
            return ident(flat[0]), flat[1]
        col = self.get(head)
        if not col:
            return None
        name, typ = ident(col[0]), col[1]
        if _is_map(typ):
            return dialect.map_get(name, key), "VARCHAR"
        if _struct_has(typ, key):
            field_type = _struct_field_type(typ, key)
            return dialect.struct_get(name, key), field_type
        if _is_text(typ):
            return dialect.json_get(name, key), "VARCHAR"
        return None


def _struct_field_type(typ: str, key: str) -> str:
    m = re.search(rf'[(,]\s*"?{re.escape(key)}"?\s+([A-Z]+[^,)]*)', typ, re.IGNORECASE)
    return m.group(1) if m else "VARCHAR"


def aggregate_query(source: str, schema: ExportSchema, columns: Columns, dialect: Dialect,
                    services: list[str], scoped: list[tuple[str, list[str]]], where: Iterable[str] = ()) -> str:
    """The aggregate SQL over ``source`` (a table name or a DuckDB table function call).

    ``services`` count whole; a ``scoped`` service counts when its item, product or subcategory
    matches one of its patterns. Raises :class:`SchemaError` when a required column is missing.
    Three levels: the matched names (lower-cased once), the LLM filter on them, then the other
    expressions (tags as JSON, the day, numbers) for the lines that passed only. DuckDB runs it
    with filter pushdown off (``files.connect``), or it would inline the map lookups into every
    ``LIKE`` of the filter again.
    """
    resolved: dict[str, list[tuple[str, str]]] = {}
    for field_name, candidates in schema.columns.items():
        found = [c for c in (columns.candidate(dialect, cand) for cand in candidates) if c]
        if found:
            resolved[field_name] = found
    for required in ("account", "service", "cost"):
        if required not in resolved:
            raise SchemaError(f"no {required} column (looked for {', '.join(schema.columns[required])})")

    def text(f: str) -> str:
        exprs = [dialect.to_text(e) for e, _ in resolved.get(f, [])]
        return exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})" if exprs else "CAST(NULL AS VARCHAR)"

    matched = [f for f in ("service", "item", "product", "subcategory") if f in resolved]
    names = [f"{text(f)} AS _sa_{f}" for f in matched] + ["lower(_sa_service) AS _sa_service_lc"]
    filters = list(where)
    if schema.line_types and "line_type" in resolved:
        expr = dialect.to_text(resolved["line_type"][0][0])
        filters.append(f"lower({expr}) IN ({', '.join(literal(t.lower()) for t in schema.line_types)})")
    lines = f"SELECT *, {', '.join(names)} FROM {source}" + (f" WHERE {' AND '.join(filters)}" if filters else "")
    # lower-cased inside the filter: computed only for the lines of a scoped service, not all of them
    items = tuple(f"lower(_sa_{f})" for f in ("item", "product", "subcategory") if f in resolved)
    llm = f"SELECT * FROM ({lines}) AS lines WHERE {llm_filter(services, scoped, '_sa_service_lc', items, lowered=True)}"

    select = [f"{f'_sa_{f}' if f in matched else text(f)} AS {f}" for f in GROUPED]
    for f in SUMMED:
        found = resolved.get(f, [])
        if f == "credits":
            value = _credits(dialect, found)
        else:
            nums = [dialect.to_double(e) for e, _ in found]
            value = nums[0] if len(nums) == 1 else f"coalesce({', '.join(nums)})" if nums else "CAST(NULL AS DOUBLE)"
        select.append(f"{value} AS {f}")
    tag_cols = [f"tags{i}" for i in range(len(resolved.get("tags", [])))]
    for name, (expr, typ) in zip(tag_cols, resolved.get("tags", [])):
        select.append(f"{dialect.to_json(expr, typ)} AS {name}")
    start = resolved.get("start")
    select.append(f"{dialect.to_day(*start[0])} AS day" if start else "CAST(NULL AS VARCHAR) AS day")
    group = [*GROUPED, *tag_cols, "day"]
    return (f"SELECT {', '.join(group)}, SUM(cost) AS cost, SUM(credits) AS credits, SUM(quantity) AS quantity "
            f"FROM (SELECT {', '.join(select)} FROM ({llm}) AS llm) AS bill GROUP BY {', '.join(group)}")


def _credits(dialect: Dialect, found: list[tuple[str, str]]) -> str:
    for expr, typ in found:
        if _is_list(typ) and dialect.name == "duckdb":
            return f"coalesce(list_sum(list_transform({expr}, lambda c: TRY_CAST(c.amount AS DOUBLE))), 0)"
        if not _is_list(typ) and not _is_text(typ):
            return dialect.to_double(expr)
    return "CAST(0 AS DOUBLE)"


def llm_filter(services: list[str], scoped: list[tuple[str, list[str]]], service: str = "service",
               items: tuple[str, ...] = ("item", "product", "subcategory"), lowered: bool = False) -> str:
    """``lower(service) LIKE …`` for every listed service, plus scoped services with their item patterns.

    ``lowered``: the columns are lower-cased already (computed once, not once per ``LIKE``).
    """
    def low(col: str) -> str:
        return col if lowered else f"lower({col})"

    alts = [f"{low(service)} LIKE {like(s)}" for s in services]
    for name, patterns in scoped:
        item_alts = [f"{low(col)} LIKE {like(p)}" for p in patterns for col in items]
        if item_alts:
            alts.append(f"({low(service)} LIKE {like(name)} AND ({' OR '.join(item_alts)}))")
    return "(" + " OR ".join(alts) + ")" if alts else "FALSE"


def row_to_line(row: Mapping[str, object]) -> Line:
    """One aggregate row (column name → value) as a :class:`~detectors.billing.common.Line`."""
    tags: dict[str, str] = {}
    for k in sorted(row):
        if k.startswith("tags"):
            tags.update(parse_tags(row[k]))

    def text(name: str) -> str:
        v = row.get(name)
        return "" if v is None else str(v).strip()

    cost = float(row.get("cost") or 0.0) + float(row.get("credits") or 0.0)
    quantity = row.get("quantity")
    return Line(account=text("account"), service=text("service"), cost=cost, item=text("item"),
                subcategory=text("subcategory"), product=text("product"), resource=text("resource"),
                principal=text("principal"), quantity=None if quantity is None else float(quantity),  # type: ignore[arg-type]
                unit=text("unit"), currency=text("currency").upper() or "USD", account_name=text("account_name"),
                day=text("day") or None, tags=tags)
