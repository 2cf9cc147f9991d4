"""Benchmark: the commands that read saved inventories and registries, on very large ones.

    python benchmarks/large_inventories.py                  # 1,000,000 agents, 200,000 registry records
    python benchmarks/large_inventories.py --agents 100000 --records 20000
    python benchmarks/large_inventories.py --smoke          # 300 agents, 60 records (tests/test_bench_smoke_large.py)
    python benchmarks/large_inventories.py --only report-json,diff --profile /tmp/prof   # cProfile per command
    python benchmarks/large_inventories.py --work /tmp/big --reuse --only merge   # inputs built once, kept

The inputs are built from one real scan (a repository whose program holds a key and calls the
SDK): its agent and findings are repeated with their own ids, paths and key fingerprints, so
every agent is one a scan could have written. The second inventory (for ``diff``) drops 5% of
the agents, adds as many new ones and changes the models of 5%. The registry holds one record
per agent for the first ``--records`` agents, each matching its repository.

Each command runs as its own process, one after the other; wall time is the whole process,
CPU seconds (user + system) and peak RSS are the kernel's (``wait4``) for that process — on a
shared machine the CPU time is the steadier figure. The inputs are built by a process of their
own (a command started from one that held their text would be charged with its peak RSS);
``--reuse`` keeps those already in ``--work`` when they were built for the same sizes (a million
agents take minutes to build and 4.4 GB of disk).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.keys import make_key  # noqa: E402

CLI = str(Path(sys.executable).with_name("shadow-agents"))


def _template(work: Path) -> dict:
    """A real inventory of one agent: a repository with a key and an SDK call."""
    repo = work / "template" / "svc-000000"
    repo.mkdir(parents=True, exist_ok=True)
    sdk = "openai"  # the program is written here, not run: named apart so that this file is no program calling it
    (repo / "app.py").write_text(
        f"import {sdk}\n"
        f'client = {sdk}.OpenAI(api_key="{make_key("openai-project", 1)}")\n'
        f'client.chat.completions.create(model="gpt-4o", messages=[])\n')
    out = subprocess.run([CLI, "scan", "-d", "repo", "-p", str(repo), "-f", "json", "--fail-on", "none"],
                         capture_output=True, text=True, check=True, cwd=work,
                         env={**os.environ, "HOME": str(work)})
    inv = json.loads(out.stdout)
    assert len(inv["agents"]) == 1 and inv["findings"], out.stderr
    return inv


def _hexid(i: int, width: int, salt: int = 0) -> str:
    return f"{(i * 2654435761 + salt * 40503) % (1 << (4 * width)):0{width}x}"


def _replace(text: str, pairs: dict[str, str]) -> str:
    for old, new in pairs.items():
        text = text.replace(old, new)
    return text


def write_inventory(template: dict, path: Path, n: int, variant: int = 0) -> None:
    """``n`` agents like the template's, written piece by piece (the file is larger than we want in memory)."""
    agent = json.dumps(template["agents"][0], sort_keys=True, ensure_ascii=False)
    finding_texts = [json.dumps(f, sort_keys=True, ensure_ascii=False) for f in template["findings"]]
    old_id = template["agents"][0]["id"]
    old_fids = [f["id"] for f in template["findings"]]
    place = "svc-000000"
    fingerprint = next(k for k in template["agents"][0]["identity"] if k.startswith("cred:"))[5:]

    def numbers():
        lost = n // 20 if variant else 0
        yield from range(lost, n)  # variant 1: the first 5% are gone ...
        yield from range(n, n + lost)  # ... and as many new ones appear

    agents, findings = [], []
    for i in numbers():
        aid = _hexid(i, 12)
        own = {place: f"svc-{i:06d}", fingerprint: _hexid(i, 16, 2)}  # each its own repository and key
        text = _replace(agent.replace(old_id, aid), own)
        if variant and i % 20 == 1:
            text = text.replace('"gpt-4o"', '"gpt-4.1"')
        for j, fid in enumerate(old_fids):
            new = _hexid(i * 8 + j, 16, 1)
            text = text.replace(fid, new)
        agents.append(text)
        for j, (fid, ftext) in enumerate(zip(old_fids, finding_texts)):
            findings.append((_hexid(i * 8 + j, 16, 1), _replace(ftext.replace(fid, _hexid(i * 8 + j, 16, 1)), own)))
    findings.sort()
    summary = dict(template["summary"], agents=len(agents), findings=len(findings))
    summary["by_status"] = dict(summary["by_status"], shadow=len(agents))
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"agents": [\n')
        fh.write(",\n".join(agents))
        fh.write('],\n"coverage": ' + json.dumps(template["coverage"]) + ',\n"findings": [\n')
        fh.write(",\n".join(t for _, t in findings))
        fh.write('],\n"metadata": ' + json.dumps(template["metadata"]) + ',\n"schema_version": '
                 + json.dumps(template["schema_version"]) + ',\n"summary": ' + json.dumps(summary) + "}\n")


def write_registry(template: dict, path: Path, n: int) -> None:
    repo = next(k for k in template["agents"][0]["identity"] if k.startswith("repo:"))
    lines = ["version: 1", "agents:"]
    for i in range(n):
        lines += [f"  - id: agent-{i:06d}", f"    owner: team-{i % 997}@example.com", "    provider: openai",
                  "    models: [gpt-4o]", "    created: 2026-01-10", "    last_reviewed: 2026-10-01",
                  "    match:", f"      keys: [\"{repo.replace('svc-000000', f'svc-{i:06d}')}\"]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(name: str, args: list[str], work: Path, profile: Path | None) -> dict:
    cmd = [CLI, *args]
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "cProfile", "-o", str(profile / f"{name}.prof"), "-m", "scanner", *args]
    start = time.monotonic()
    with open(work / f"{name}.out", "wb") as out, open(work / f"{name}.err", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=work, stdout=out, stderr=err, env={**os.environ, "HOME": str(work)})
        _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    result = {"command": name, "seconds": round(seconds, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
              "peak_rss_mib": usage.ru_maxrss // 1024,
              "exit": code, "output_bytes": (work / f"{name}.out").stat().st_size}
    if code not in (0, 1):
        result["error"] = (work / f"{name}.err").read_text(errors="replace")[-500:]
    return result


COMMANDS = {
    "report-json": ["report", "a.json", "-f", "json"],
    "report-table": ["report", "a.json", "-f", "table"],
    "report-jsonl": ["report", "a.json", "-f", "jsonl"],
    "report-csv": ["report", "a.json", "-f", "csv"],
    "report-markdown": ["report", "a.json", "-f", "markdown"],
    "report-html": ["report", "a.json", "-f", "html"],
    "report-sarif": ["report", "a.json", "-f", "sarif"],
    "report-cyclonedx": ["report", "a.json", "-f", "cyclonedx"],
    "diff": ["diff", "a.json", "b.json"],
    "merge": ["merge", "a.json", "b.json", "-f", "json"],
    "registry-check": ["registry", "check", "r.yaml"],
    "merge-registry": ["merge", "a.json", "--registry", "r.yaml", "-f", "json"],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--smoke", action="store_true", help="300 agents and 60 records: a check that it all runs")
    ap.add_argument("--only", help="comma-separated commands: " + ", ".join(COMMANDS))
    ap.add_argument("--work", type=Path, help="directory for the inputs and outputs (default: a temporary one)")
    ap.add_argument("--profile", type=Path, help="write a cProfile of each command into this directory")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--reuse", action="store_true",
                    help="keep the inputs already in --work when they were built for the same sizes")
    opts = ap.parse_args(argv)
    if opts.smoke:
        opts.agents, opts.records = 300, 60
    work = opts.work or Path(tempfile.mkdtemp(prefix="large-inventories-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    built = work / "inputs.json"
    wanted = {"agents": opts.agents, "records": opts.records}
    if opts.build_only:
        template = _template(work)
        write_inventory(template, work / "a.json", opts.agents)
        write_inventory(template, work / "b.json", opts.agents, variant=1)
        write_registry(template, work / "r.yaml", opts.records)
        built.write_text(json.dumps(wanted))
        return 0
    if not (opts.reuse and built.exists() and json.loads(built.read_text()) == wanted):
        built.unlink(missing_ok=True)
        # in a process of their own: a child forked from a process that held the inputs' text would
        # start with its pages, and the kernel's peak RSS of every command would count them
        subprocess.run([sys.executable, __file__, "--build-only", "--agents", str(opts.agents),
                        "--records", str(opts.records), "--work", str(work)], check=True)
    sizes = {p: round((work / p).stat().st_size / 1e6, 1) for p in ("a.json", "b.json", "r.yaml")}
    print(f"inputs ready in {time.monotonic() - start:.1f}s: {opts.agents:,} agents, {opts.records:,} records, "
          f"MB {sizes}", flush=True)
    names = opts.only.split(",") if opts.only else list(COMMANDS)
    results = []
    print("| command | seconds | CPU seconds | peak RSS MiB | exit | output MB |\n|---|---|---|---|---|---|")
    for name in names:
        r = run(name, COMMANDS[name], work, opts.profile)
        results.append(r)
        print(f"| {name} | {r['seconds']} | {r['cpu_seconds']} | {r['peak_rss_mib']} | {r['exit']} | "
              f"{r['output_bytes'] / 1e6:.1f} |",
              flush=True)
        if "error" in r:
            print("  " + r["error"].strip().replace("\n", "\n  "))
    if opts.json:
        opts.json.write_text(json.dumps({"agents": opts.agents, "records": opts.records, "inputs_mb": sizes,
                                         "results": results}, indent=2))
    return 0 if all(r["exit"] in (0, 1) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
