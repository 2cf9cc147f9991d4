"""Benchmark of ``aws-billing`` on a CUR 2.0-shaped export, side by side with pandas and polars.

Generates (with DuckDB) an export of 10 million line items — ordinary services plus a known set
of planted LLM resources (Bedrock Marketplace models called by IAM roles, a first-party Bedrock
inference profile, a SageMaker endpoint, Amazon Q) and near misses (a SageMaker notebook, EC2) —
as Parquet (map columns, like Data Exports) and as gzipped CSV (maps as JSON text). Then, each in
its own process so peak RSS is its own: the detector through the real CLI, and pandas and polars
doing the same aggregation (read, product name out of the map, the catalogue's LLM filter, group
by account and resource, sum). Checks every planted resource with its cost exact to the cent.

    python benchmarks/billing_bench.py              # 10,000,000 lines in 4 files per format (~200 MB)
    python benchmarks/billing_bench.py --smoke      # 20,000 lines, seconds
    python benchmarks/billing_bench.py --lines N --keep DIR

Targets: every planted resource exact to the cent, at least 10x faster than pandas, peak RSS of
the detector under 500 MB. Results: benchmarks/results/billing.json (and stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO_TO_PANDAS = 10.0
TARGET_RSS_MB = 500.0
CYCLE = 1000  # every CYCLE lines: one line of each planted resource, the rest ordinary
COST_STEP = 7919  # line i costs ((i * COST_STEP) % 10000) / 10000 dollars: exact in 1e-4 units

# (account, product name, usage type, resource id, IAM principal, counts as LLM spend)
PLANTED = [
    ("111111111111", "Claude 3.5 Sonnet (Amazon Bedrock Edition)", "USE1-MP:USE1_InputTokenCount-Units", "",
     "arn:aws:iam::111111111111:role/support-bot", True),
    ("111111111111", "Claude 3.5 Sonnet (Amazon Bedrock Edition)", "USE1-MP:USE1_OutputTokenCount-Units", "",
     "arn:aws:iam::111111111111:role/support-bot", True),
    ("111111111111", "Claude 3 Haiku (Amazon Bedrock Edition)", "USW2-MP:USW2_InputTokenCount-Units", "",
     "arn:aws:iam::111111111111:role/triage-lambda", True),
    ("222222222222", "Amazon Bedrock", "USE1-Nova-Lite-input-tokens",
     "arn:aws:bedrock:us-east-1:222222222222:application-inference-profile/research", "", True),
    ("222222222222", "Amazon Bedrock", "USE1-Nova-Lite-output-tokens",
     "arn:aws:bedrock:us-east-1:222222222222:application-inference-profile/research", "", True),
    ("333333333333", "Amazon SageMaker", "USE1-Host:ml.g5.2xlarge",
     "arn:aws:sagemaker:us-east-1:333333333333:endpoint/llama-chat", "", True),
    ("444444444444", "Amazon Q", "USE1-QBusiness-Pro-User", "", "", True),
    ("333333333333", "Amazon SageMaker", "USE1-Notebk:ml.t3.medium",
     "arn:aws:sagemaker:us-east-1:333333333333:notebook-instance/scratch", "", False),
    ("333333333333", "Amazon Elastic Compute Cloud", "USE1-BoxUsage:g5.2xlarge", "i-0gpu", "", False),
]
ORDINARY = ["Amazon Elastic Compute Cloud", "Amazon Simple Storage Service", "Amazon Relational Database Service",
            "AWS Lambda", "Amazon CloudFront", "Amazon DynamoDB", "Amazon Virtual Private Cloud"]


# ---- the export -------------------------------------------------------------------------------


def generate(directory: Path, lines: int, parts: int) -> dict[str, Path]:
    """Write the same lines as Parquet and as gzipped CSV, each in ``parts`` files (Data Exports
    deliver one or more files per billing period); return the two data directories."""
    import duckdb

    out = {"parquet": directory / "cur2" / "data" / "BILLING_PERIOD=2025-03",
           "csv.gz": directory / "cur2-csv" / "data" / "BILLING_PERIOD=2025-03"}
    done = directory / f"generated-{lines}-{parts}"
    if done.exists():  # --keep DIR from an earlier run with the same size: reuse (generation takes minutes)
        return out
    for d in out.values():
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    con = duckdb.connect(config={"memory_limit": "1GB", "preserve_insertion_order": False})
    planted = ", ".join(
        f"({i}, '{a}', '{p}', '{u}', '{r}', '{pr}')" for i, (a, p, u, r, pr, _) in enumerate(PLANTED))
    ordinary = ", ".join(f"'{s}'" for s in ORDINARY)
    con.execute(f"CREATE TABLE planted(k INTEGER, account VARCHAR, product VARCHAR, usage VARCHAR, resource VARCHAR, "
                f"principal VARCHAR); INSERT INTO planted VALUES {planted}")
    for part in range(parts):
        lo, hi = lines * part // parts, lines * (part + 1) // parts
        query = f"""
            SELECT
              coalesce(p.account, lpad(CAST(100000000000 + (i % 37) AS VARCHAR), 12, '0')) AS line_item_usage_account_id,
              MAP {{'product_name': coalesce(p.product, ([{ordinary}])[1 + (i % {len(ORDINARY)})]),
                    'region': 'us-east-1'}} AS product,
              coalesce(p.usage, 'USE1-BoxUsage:m5.large') AS line_item_usage_type,
              coalesce(p.resource, 'i-' || CAST(i % 50000 AS VARCHAR)) AS line_item_resource_id,
              coalesce(p.principal, '') AS line_item_iam_principal,
              CAST(((i * {COST_STEP}) % 10000) AS DOUBLE) / 10000 AS line_item_unblended_cost,
              CAST(i % 97 AS DOUBLE) AS line_item_usage_amount,
              'Units' AS pricing_unit, 'USD' AS line_item_currency_code,
              TIMESTAMP '2025-03-01 00:00:00' + to_days(CAST(i % 30 AS INTEGER)) AS line_item_usage_start_date,
              'Usage' AS line_item_line_item_type,
              CASE WHEN p.k IS NULL THEN MAP {{'user_team': 'web'}} ELSE MAP {{'user_owner': 'owner-' || p.k}} END
                AS resource_tags
            FROM range({lo}, {hi}) AS t(i) LEFT JOIN planted AS p ON p.k = i % {CYCLE}
        """
        parquet = out["parquet"] / f"part-{part:05d}.snappy.parquet"
        con.execute(f"COPY ({query}) TO '{parquet}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)")
        con.execute(f"COPY (SELECT * REPLACE (to_json(product) AS product, to_json(resource_tags) AS resource_tags) "
                    f"FROM read_parquet('{parquet}')) TO '{out['csv.gz'] / f'part-{part:05d}.csv.gz'}' "
                    f"(FORMAT csv, HEADER, COMPRESSION gzip)")
    con.close()
    done.touch()
    return out


def expected(lines: int) -> dict[tuple[str, str], Decimal]:
    """Exact planted spend per (account, resource) that counts, computed from the generation formula."""
    out: dict[tuple[str, str], Decimal] = {}
    for k, (account, _, _, resource, principal, counts) in enumerate(PLANTED):
        if not counts:
            continue
        units = sum((i * COST_STEP) % 10000 for i in range(k, lines, CYCLE))
        key = (account, principal or resource or ("amazon-q" if "Amazon Q" in PLANTED[k][1] else "aws-bedrock"))
        out[key] = out.get(key, Decimal(0)) + Decimal(units) / Decimal(10000)
    return out


# ---- the three contenders, each in its own process ----------------------------------------------


def run_measured(argv: list[str]) -> tuple[float, float, str, str, float]:
    """(seconds, peak RSS in MB, stdout, stderr, CPU seconds) of one child process, reaped with wait4 for
    its own ru_maxrss and CPU time (steadier than wall time on a shared machine)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    streams: dict[str, str] = {}
    readers = [threading.Thread(target=lambda n=n, f=f: streams.__setitem__(n, f.read()))
               for n, f in (("out", proc.stdout), ("err", proc.stderr))]
    for t in readers:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    for t in readers:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{argv[:3]} failed ({proc.returncode}): {streams.get('err', '')[-2000:]}")
    return (elapsed, usage.ru_maxrss / 1024, streams.get("out", ""), streams.get("err", ""),
            usage.ru_utime + usage.ru_stime)


def detector(path: Path) -> tuple[float, float, dict[tuple[str, str], float], float]:
    cli = shutil.which("shadow-agents")
    argv = [cli] if cli else [sys.executable, "-m", "scanner"]
    argv += ["scan", "-q", "-d", "aws-billing", "--aws-export", str(path), "-f", "json", "--fail-on", "none",
             "-p", str(path)]
    seconds, rss, out, _, cpu = run_measured(argv)
    inv = json.loads(out)
    found = {(f["location"]["account"], f["location"]["resource"]): 0.0 for f in inv["findings"]}
    for f in inv["findings"]:
        found[(f["location"]["account"], f["location"]["resource"])] += f["cost"]
    return seconds, rss, found, cpu


PANDAS = r'''
import glob, json, re, sys
import pandas as pd
path, fmt, pattern = sys.argv[1], sys.argv[2], sys.argv[3]
cols = ["line_item_usage_account_id", "product", "line_item_usage_type", "line_item_resource_id",
        "line_item_iam_principal", "line_item_unblended_cost", "line_item_line_item_type"]
files = sorted(glob.glob(path + "/*.parquet" if fmt == "parquet" else path + "/*.csv.gz"))
if fmt == "parquet":
    df = pd.concat([pd.read_parquet(f, columns=cols) for f in files], ignore_index=True)
    df["service"] = df["product"].map(lambda m: dict(m).get("product_name"))
else:
    df = pd.concat([pd.read_csv(f, usecols=cols, dtype=str, keep_default_na=False) for f in files], ignore_index=True)
    df["line_item_unblended_cost"] = df["line_item_unblended_cost"].astype(float)
    df["service"] = df["product"].map(lambda s: json.loads(s).get("product_name"))
rx = re.compile(pattern, re.I)
keep = df["service"].str.fullmatch(rx.pattern, case=False) | (
    df["service"].str.lower().isin(["amazon sagemaker"]) & df["line_item_usage_type"].str.contains("Host:ml.", regex=False))
df = df[keep & (df["line_item_line_item_type"] == "Usage")]
df["resource"] = df["line_item_iam_principal"].where(df["line_item_iam_principal"].fillna("") != "", df["line_item_resource_id"])
out = df.groupby(["line_item_usage_account_id", "resource", "service", "line_item_usage_type"], dropna=False)["line_item_unblended_cost"].sum()
print(json.dumps([[a, r or "", s, u, c] for (a, r, s, u), c in out.items()]))
'''

POLARS = r'''
import json, sys
import polars as pl
path, fmt, pattern = sys.argv[1], sys.argv[2], sys.argv[3]
cols = ["line_item_usage_account_id", "product", "line_item_usage_type", "line_item_resource_id",
        "line_item_iam_principal", "line_item_unblended_cost", "line_item_line_item_type"]
if fmt == "parquet":
    lf = pl.scan_parquet(path + "/*.parquet").select(cols)
    product = lf.collect_schema()["product"]
    service = (pl.col("product").map.get("product_name") if product.__class__.__name__ == "Map" else
               pl.col("product").list.eval(pl.element().filter(pl.element().struct.field("key") == "product_name")
                                           .struct.field("value")).list.first())  # polars < 2 reads maps as lists
    lf = lf.with_columns(service.alias("service"))
else:
    lf = pl.scan_csv(path + "/*.csv.gz", infer_schema=False).select(cols).with_columns(
        pl.col("line_item_unblended_cost").cast(pl.Float64),
        pl.col("product").str.json_path_match("$.product_name").alias("service"))
keep = pl.col("service").str.contains("(?i)^(?:" + pattern + ")$") | (
    (pl.col("service").str.to_lowercase() == "amazon sagemaker") & pl.col("line_item_usage_type").str.contains("Host:ml.", literal=True))
out = (lf.filter(keep & (pl.col("line_item_line_item_type") == "Usage"))
       .with_columns(pl.when(pl.col("line_item_iam_principal").fill_null("") != "").then(pl.col("line_item_iam_principal"))
                     .otherwise(pl.col("line_item_resource_id")).alias("resource"))
       .group_by(["line_item_usage_account_id", "resource", "service", "line_item_usage_type"])
       .agg(pl.col("line_item_unblended_cost").sum()).collect())
print(json.dumps([list(r) for r in out.iter_rows()]))
'''


def llm_service_regex() -> str:
    """The catalogue's whole-service rules for AWS as one regex (what the detector's SQL filter keeps)."""
    from detectors.billing.common import Matcher
    from scanner.catalog import Catalog
    import re
    return "|".join(".*".join(re.escape(p) for p in s.split("*")) for s in Matcher(Catalog.load(), "aws").services)


def contender(code: str, path: Path, fmt: str) -> tuple[float, float, dict[tuple[str, str], float], float]:
    seconds, rss, out, _, cpu = run_measured([sys.executable, "-c", code, str(path), fmt, llm_service_regex()])
    found: dict[tuple[str, str], float] = {}
    for account, resource, service, _usage, cost in json.loads(out):
        key = (account, resource or ("amazon-q" if service == "Amazon Q" else "aws-bedrock"))
        found[key] = found.get(key, 0.0) + cost
    return seconds, rss, found, cpu


def installed(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def exact(found: dict[tuple[str, str], float], want: dict[tuple[str, str], Decimal]) -> tuple[int, int, list[str]]:
    """(planted resources found to the cent, false resources, what is wrong)."""
    wrong = []
    ok = 0
    for key, cost in sorted(want.items()):
        got = found.get(key)
        if got is None:
            wrong.append(f"missing {key}")
        elif abs(Decimal(str(round(got, 6))) - cost) >= Decimal("0.005"):
            wrong.append(f"{key}: {got:.6f} != {cost}")
        else:
            ok += 1
    extra = sorted(set(found) - set(want))
    wrong += [f"false {k}" for k in extra]
    return ok, len(extra), wrong


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="20,000 lines: checks everything runs, in seconds")
    ap.add_argument("--lines", type=int, default=None, help="line items to generate (default 10,000,000)")
    ap.add_argument("--keep", type=Path, help="generate into (and keep) this directory")
    ap.add_argument("--parts", type=int, default=4, help="files per format (default 4)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "billing.json")
    args = ap.parse_args()
    lines = args.lines or (20_000 if args.smoke else 10_000_000)
    work = args.keep or Path(tempfile.mkdtemp(prefix="billing-bench-"))
    try:
        t0 = time.perf_counter()
        files = generate(work, lines, 2 if args.smoke else args.parts)
        gen = time.perf_counter() - t0
        want = expected(lines)
        print(f"generated {lines:,} CUR 2.0 lines in {gen:.1f}s: " + ", ".join(
            f"{k} {sum(f.stat().st_size for f in p.iterdir()) / 1e6:.1f} MB in {len(list(p.iterdir()))} files"
            for k, p in files.items()))
        print(f"planted LLM resources: {len(want)}; near misses: {sum(1 for p in PLANTED if not p[-1])}")
        results: dict[str, Any] = {"lines": lines, "planted": len(want), "formats": {}}
        failed = False
        for fmt, path in files.items():
            row: dict[str, Any] = {}
            seconds, rss, found, cpu = detector(path)
            ok, false, wrong = exact(found, want)
            row["shadow-agents"] = {"seconds": round(seconds, 3), "cpu_s": round(cpu, 2), "rows_per_s": round(lines / seconds),
                                    "peak_rss_mb": round(rss, 1), "planted_exact": ok, "false": false}
            failed |= bool(wrong)
            print(f"\n[{fmt}] shadow-agents aws-billing: {seconds:.2f}s ({cpu:.1f} s CPU), {lines / seconds:,.0f} rows/s, "
                  f"peak RSS {rss:.0f} MB, planted exact to the cent: {ok}/{len(want)}, false: {false}")
            for w in wrong:
                print(f"  ! {w}")
            for name, code, module in (("pandas", PANDAS, "pandas"), ("polars", POLARS, "polars")):
                if not installed(module) or (module == "pandas" and not installed("pyarrow")):
                    print(f"[{fmt}] {name}: not installed (pip install '.[bench]')")
                    row[name] = None
                    continue
                s2, rss2, found2, cpu2 = contender(code, path, "parquet" if fmt == "parquet" else "csv")
                ok2, false2, wrong2 = exact(found2, want)
                row[name] = {"seconds": round(s2, 3), "cpu_s": round(cpu2, 2), "peak_rss_mb": round(rss2, 1),
                             "planted_exact": ok2, "false": false2, "detector_speedup": round(s2 / seconds, 2),
                             "detector_cpu_ratio": round(cpu2 / cpu, 2)}
                print(f"[{fmt}] {name}: {s2:.2f}s ({cpu2:.1f} s CPU), peak RSS {rss2:.0f} MB, planted exact "
                      f"{ok2}/{len(want)}; shadow-agents is {s2 / seconds:.1f}x {'faster' if s2 > seconds else 'slower'} "
                      f"(its CPU time {cpu2 / cpu:.1f}x ours)")
                for w in wrong2:
                    print(f"  ! {name}: {w}")
            results["formats"][fmt] = row
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        if not args.smoke:
            for fmt, row in results["formats"].items():
                det = row["shadow-agents"]
                pandas = row.get("pandas")
                if pandas and pandas["detector_speedup"] < TARGET_RATIO_TO_PANDAS:
                    print(f"below target: {fmt} is {pandas['detector_speedup']}x pandas (target {TARGET_RATIO_TO_PANDAS}x)")
                if det["peak_rss_mb"] > TARGET_RSS_MB:
                    print(f"above target: {fmt} peak RSS {det['peak_rss_mb']} MB (target {TARGET_RSS_MB:.0f} MB)")
        print(f"\nresults: {args.out}")
        return 1 if failed else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
