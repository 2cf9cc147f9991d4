"""Benchmark: agents reported on real public repositories, scored against a truth file we wrote.

    python benchmarks/real_repos.py                       # every repository of the truth file in /work/realrepos
    python benchmarks/real_repos.py --repos DIR --only llm,mods --tools ours
    python benchmarks/real_repos.py --list                # URL and pinned commit of each repository
    python benchmarks/real_repos.py --print-checkout DIR  # shell commands that recreate the checkouts in DIR
    python benchmarks/real_repos.py --smoke               # two tiny synthetic repositories, ours only

The truth (benchmarks/real_repos_truth.yaml) lists, per repository, the programs that call an LLM
API, read from the code at a pinned commit; its header gives what counts and the program boundary
rules. The repositories are not in this tree: the script reads a directory of checkouts, one
folder per truth entry, and never runs anything from them.

Each tool runs as its own process, one repository after the other (wall time per run):
  ours            shadow-agents scan -d repo -p REPO -f json   (the CLI installed next to this Python)
  nexusshadowscan shadowscan code REPO -f json                 (its findings, grouped by `resource`)
  ai-bom          ai-bom scan REPO -f json --no-telemetry      (CycloneDX components; see below)
  agentdiscover   agent-discover scan-all REPO --skip-layers 2,3,4   (code layer only; agent_inventory.json)

Peers are installed apart from the project, one venv each (nexusshadowscan needs rich>=15,
ai-bom rich<15):
    for p in nexusshadowscan ai-bom agentdiscover; do
        python3 -m venv /work/peers-venv/$p && /work/peers-venv/$p/bin/pip install $p; done
and found with --peers-venv DIR (DIR/<tool>/bin/<exe>, or DIR/bin/<exe>), else on PATH.

Matching rule (the same for every tool):
  * A reported agent is a set of file locations (path inside the repository; a line is ignored).
  * A location belongs to the most specific truth program that holds it: a program with `files:`
    holds only those files; otherwise a program holds every file under its `dir` except under
    its `exclude:` folders (nested projects that call no LLM). Deeper wins, and a `files:`
    program beats a plain one. A location may belong to no program.
  * An agent is assigned to the program that holds the most of its locations (ties: the most
    specific). An agent none of whose locations belongs to a program is a FALSE agent.
  * A program is FOUND when at least one agent is assigned to it, MISSED otherwise; each further
    agent assigned to it is a SPLIT agent (the user sees one program as several).
  * A non-LLM repository (empty truth) is FLAGGED when any agent is reported in it.
  * precision = found / agents reported (false and split agents both count against it);
    recall = found / programs.
Agents are what each tool calls its unit: ours, an inventory agent (an item whose `kind` says it
is not an agent, e.g. an MCP server, is counted apart as "other"); nexusshadowscan, its findings
grouped by `resource`, with `mcp-server` findings counted apart; agentdiscover, the entries of its
agent inventory. ai-bom has no notion of agent, only components with a location, so it gets the
most generous reading: its located components are grouped by the truth program that holds them
(it cannot split by construction), and those outside every program by the nearest directory with
a manifest (each such group one false agent); components without a file location are counted
apart. A tool that cannot run, or reports no locations, prints why instead of a number.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

import yaml

ROOT = Path(__file__).resolve().parents[1]
TRUTH = ROOT / "benchmarks" / "real_repos_truth.yaml"
TOOLS = ("ours", "nexusshadowscan", "ai-bom", "agentdiscover")
MANIFESTS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "package.json", "go.mod",
             "Cargo.toml", "Dockerfile")
TIMEOUT_S = 900


# ---- truth -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    dir: str
    files: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    why: str = ""

    @property
    def label(self) -> str:
        return f"{self.dir}[{self.files[0]}]" if self.files else self.dir

    def holds(self, path: str) -> bool:
        if self.files:
            return any(fnmatch(path, pattern) for pattern in self.files)
        return _under(path, self.dir) and not any(_under(path, d) for d in self.exclude)

    def specificity(self) -> tuple[int, int]:
        return (1 if self.files else 0, 0 if self.dir == "." else self.dir.count("/") + 1)


def _under(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass
class Repo:
    name: str
    url: str
    commit: str
    kind: str
    programs: list[Program]
    absent: list[str] = field(default_factory=list)


def load_truth(path: Path) -> list[Repo]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    repos = []
    for name, r in sorted(data["repos"].items()):
        programs = [Program(p["dir"], tuple(p.get("files", ())), tuple(p.get("exclude", ())),
                            tuple(p.get("providers", ())), p.get("why", ""))
                    for p in r.get("programs") or []]
        repos.append(Repo(name, r["url"], r["commit"], r.get("kind", ""), programs, list(r.get("absent") or [])))
    return repos


def program_of(repo: Repo, path: str) -> Program | None:
    """The most specific truth program that holds ``path`` (relative, POSIX), or None."""
    holders = [p for p in repo.programs if p.holds(path)]
    return max(holders, key=Program.specificity) if holders else None


# ---- scoring ---------------------------------------------------------------------------------


@dataclass
class Reported:
    """What one tool said about one repository."""

    agents: list[list[str]] = field(default_factory=list)  # each agent: its locations (relative paths)
    other: int = 0  # items the tool reports that are not agents (MCP servers, unlocated components)
    seconds: float = 0.0
    error: str | None = None  # the tool could not be run or read: printed instead of numbers
    grouped_by_truth: bool = False  # ai-bom: items grouped by the truth program (cannot split)


def assign(repo: Repo, locations: list[str]) -> Program | None:
    votes: dict[Program, int] = {}
    for loc in locations:
        prog = program_of(repo, loc)
        if prog is not None:
            votes[prog] = votes.get(prog, 0) + 1
    if not votes:
        return None
    return max(votes, key=lambda p: (votes[p], p.specificity(), p.label))


def score(repo: Repo, reported: Reported) -> dict:
    per_program: dict[str, int] = {p.label: 0 for p in repo.programs}
    false_agents = []
    for locations in reported.agents:
        prog = assign(repo, locations)
        if prog is None:
            false_agents.append(sorted(set(locations))[:3])
        else:
            per_program[prog.label] += 1
    found = sorted(k for k, n in per_program.items() if n)
    return {
        "programs": len(repo.programs),
        "agents": len(reported.agents),
        "found": len(found),
        "missed": sorted(k for k, n in per_program.items() if not n),
        "false": len(false_agents),
        "false_examples": false_agents[:5],
        "split": sum(n - 1 for n in per_program.values() if n > 1),
        "flagged": bool(reported.agents) and not repo.programs,
        "other": reported.other,
        "seconds": round(reported.seconds, 2),
    }


def totals(rows: list[dict]) -> dict:
    t = {k: sum(r[k] for r in rows) for k in ("programs", "agents", "found", "false", "split", "other")}
    t["missed"] = sum(len(r["missed"]) for r in rows)
    t["flagged"] = sum(1 for r in rows if r["flagged"])
    t["non_llm"] = sum(1 for r in rows if r["programs"] == 0)
    t["seconds"] = round(sum(r["seconds"] for r in rows), 1)
    t["precision"] = round(t["found"] / t["agents"], 3) if t["agents"] else None
    t["recall"] = round(t["found"] / t["programs"], 3) if t["programs"] else None
    return t


# ---- running the tools -----------------------------------------------------------------------


def relative(repo_dir: Path, location: str) -> str | None:
    """Path inside the repository of a tool's location ("path", "path:12", absolute or relative)."""
    path = re.sub(r":\d+(?::\d+)?$", "", location.strip())
    if not path:
        return None
    p = PurePosixPath(path)
    if p.is_absolute():
        try:
            p = p.relative_to(PurePosixPath(str(repo_dir)))
        except ValueError:
            return None
    text = str(p)
    text = "." if text in ("", ".") else text.removeprefix("./")
    return text if os.path.lexists(repo_dir / text) else None  # "dependency files" and the like are no place


def find_exe(tool: str, exe: str, peers: Path | None) -> str | None:
    if tool == "ours":
        local = Path(sys.executable).parent / exe
        return str(local) if local.exists() else shutil.which(exe)
    for base in ([peers / tool, peers] if peers else []):
        if (base / "bin" / exe).exists():
            return str(base / "bin" / exe)
    return shutil.which(exe)


EXES = {"ours": "shadow-agents", "nexusshadowscan": "shadowscan", "ai-bom": "ai-bom", "agentdiscover": "agent-discover"}


def run_tool(tool: str, exe: str, repo: Repo, repo_dir: Path, work: Path) -> Reported:
    out = work / "out.json"
    env = dict(os.environ, AI_BOM_TELEMETRY="false", NO_COLOR="1", COLUMNS="200")
    cmd = {
        "ours": [exe, "scan", "-d", "repo", "-p", str(repo_dir), "-f", "json", "-o", str(out), "-q",
                 "--no-progress", "--fail-on", "none"],
        "nexusshadowscan": [exe, "-q", "code", str(repo_dir), "-f", "json", "-o", str(out)],
        "ai-bom": [exe, "scan", str(repo_dir), "-f", "json", "-o", str(out), "-q", "--no-telemetry"],
        "agentdiscover": [exe, "scan-all", str(repo_dir), "--skip-layers", "2,3,4", "-o", str(work / "ad"),
                          "-f", "json"],
    }[tool]
    start = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Reported(seconds=TIMEOUT_S, error=f"timed out after {TIMEOUT_S} s")
    seconds = time.perf_counter() - start
    if tool == "agentdiscover":
        out = work / "ad" / "agent_inventory.json"
    if not out.exists():
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        return Reported(seconds=seconds, error=f"exit {p.returncode}, no report: {err[-1][:120] if err else ''}")
    try:
        data = json.loads(out.read_text(encoding="utf-8"))
        reported = READERS[tool](data, repo_dir, repo)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return Reported(seconds=seconds, error=f"unreadable report: {type(exc).__name__}: {exc}"[:160])
    reported.seconds = seconds
    return reported


def read_ours(data: dict, repo_dir: Path, repo: Repo) -> Reported:
    r = Reported()
    for agent in data["agents"]:
        if agent.get("kind", "agent") != "agent":
            r.other += 1
            continue
        r.agents.append([x for x in (relative(repo_dir, loc) for loc in agent.get("locations", [])) if x])
    return r


def read_nexus(data: dict, repo_dir: Path, repo: Repo) -> Reported:
    r = Reported()
    groups: dict[str, list[str]] = {}
    for f in data.get("findings", []):
        if f.get("kind") == "mcp-server":
            r.other += 1
            continue
        locs = [e.get("location") for e in f.get("evidence", []) if e.get("location")]
        if not locs and (f.get("metadata") or {}).get("path"):
            locs = [f["metadata"]["path"]]
        rel = [x for x in (relative(repo_dir, loc) for loc in locs) if x]
        groups.setdefault(str(f.get("resource")), []).extend(rel)
    r.agents = list(groups.values())
    return r


def nearest_manifest_dir(repo_dir: Path, rel: str) -> str:
    parts = PurePosixPath(rel).parts[:-1]
    for i in range(len(parts), 0, -1):
        d = "/".join(parts[:i])
        if any((repo_dir / d / m).is_file() for m in MANIFESTS):
            return d
    return "."


def read_aibom(data: dict, repo_dir: Path, repo: Repo) -> Reported:
    r = Reported(grouped_by_truth=True)
    located = []
    for c in data.get("components", []):
        props = {p.get("name", "").split(":")[-1]: p.get("value", "") for p in c.get("properties", [])}
        rel = relative(repo_dir, props.get("source_location", ""))
        if rel and rel != ".":
            located.append(rel)
        else:
            r.other += 1
    groups: dict[str, list[str]] = {}
    for rel in located:
        prog = program_of(repo, rel)
        key = f"truth:{prog.label}" if prog else f"dir:{nearest_manifest_dir(repo_dir, rel)}"
        groups.setdefault(key, []).append(rel)
    r.agents = list(groups.values())
    return r


def read_agentdiscover(data: dict, repo_dir: Path, repo: Repo) -> Reported:
    r = Reported()
    for items in data.get("inventory", {}).values():
        for a in items:
            loc = a.get("code_file") or a.get("agent_id") or ""
            rel = relative(repo_dir, loc)
            r.agents.append([rel] if rel else [])
    return r


READERS = {"ours": read_ours, "nexusshadowscan": read_nexus, "ai-bom": read_aibom, "agentdiscover": read_agentdiscover}


# ---- checkouts -------------------------------------------------------------------------------


def checkout_commands(repos: list[Repo], dest: str) -> str:
    """Shell lines that recreate the checkouts: clone, check out the pinned commit without hooks,
    drop the files the benchmark's own snapshot lacked, and drop .git (the tools see a plain tree)."""
    lines = [f"mkdir -p {shlex.quote(dest)}"]
    for r in repos:
        d = shlex.quote(f"{dest}/{r.name}")
        lines.append(f"git clone -q --no-checkout {shlex.quote(r.url)} {d} && "
                     f"git -C {d} -c core.hooksPath=/dev/null -c core.fsmonitor=false checkout -q {r.commit}"
                     + "".join(f" && rm -f {d}/{shlex.quote(a)}" for a in r.absent)
                     + f" && rm -rf {d}/.git")
    return "\n".join(lines)


# ---- smoke -----------------------------------------------------------------------------------


SMOKE_TRUTH = """\
repos:
  svc:
    url: https://example.invalid/svc
    commit: "0000000000000000000000000000000000000000"
    kind: llm-app-python
    programs:
      - {dir: ".", providers: [openai], why: "app.py OpenAI()"}
      - {dir: worker, providers: [anthropic], why: "worker/run.py anthropic.Anthropic()"}
  plain:
    url: https://example.invalid/plain
    commit: "0000000000000000000000000000000000000000"
    kind: no-llm
    programs: []
"""


def build_smoke(base: Path) -> tuple[Path, Path]:
    """Two tiny repositories: one with two LLM programs, one that calls no LLM."""
    svc, plain = base / "repos" / "svc", base / "repos" / "plain"
    (svc / "worker").mkdir(parents=True)
    (svc / "pyproject.toml").write_text('[project]\nname = "svc"\ndependencies = ["openai>=1"]\n')
    (svc / "app.py").write_text('from openai import OpenAI\n\nclient = OpenAI()\n'
                                'print(client.chat.completions.create(model="gpt-4o-mini", messages=[]))\n')
    (svc / "worker" / "requirements.txt").write_text("anthropic>=0.30\n")
    (svc / "worker" / "run.py").write_text('import anthropic\n\nclient = anthropic.Anthropic()\n'
                                           'client.messages.create(model="claude-3-5-haiku-latest", max_tokens=8, messages=[])\n')
    plain.mkdir(parents=True)
    (plain / "pyproject.toml").write_text('[project]\nname = "plain"\ndependencies = ["click>=8"]\n')
    (plain / "cli.py").write_text('import click\n\n\n@click.command()\ndef main():\n    click.echo("hello")\n')
    truth = base / "truth.yaml"
    truth.write_text(SMOKE_TRUTH)
    return base / "repos", truth


# ---- report ----------------------------------------------------------------------------------


COLUMNS = ("programs", "agents", "found", "missed", "false", "split", "flagged", "other", "seconds")


def print_tool_table(tool: str, rows: dict[str, dict | str]) -> None:
    print(f"\n### {tool}\n")
    print("| repository | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, row in rows.items():
        if isinstance(row, str):
            print(f"| {name} | {row} |")
            continue
        cells = [str(len(row["missed"]) if c == "missed" else ("yes" if row[c] else "") if c == "flagged" else row[c])
                 for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name, row in rows.items():
        if isinstance(row, dict) and (row["missed"] or row["false_examples"]):
            bits = []
            if row["missed"]:
                bits.append("missed " + ", ".join(row["missed"]))
            if row["false_examples"]:
                bits.append("false e.g. " + "; ".join(",".join(x) or "(no location)" for x in row["false_examples"][:3]))
            print(f"- {name}: " + " / ".join(bits))


def print_summary(results: dict[str, dict]) -> None:
    print("\n### total\n")
    print("| tool | programs | found | missed | false agents | split agents | non-LLM flagged | precision | recall | time s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for tool, res in results.items():
        t = res.get("total")
        if not t:
            print(f"| {tool} | {res.get('error', 'no result')} |")
            continue
        pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
        note = f" (+{res['errors']} not run)" if res.get("errors") else ""
        print(f"| {tool}{note} | {t['programs']} | {t['found']} | {t['missed']} | {t['false']} | {t['split']} | "
              f"{t['flagged']}/{t['non_llm']} | {pct(t['precision'])} | {pct(t['recall'])} | {t['seconds']} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repos", type=Path, default=Path("/work/realrepos"), help="directory of checkouts")
    ap.add_argument("--truth", type=Path, default=TRUTH)
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma list of " + ", ".join(TOOLS))
    ap.add_argument("--peers-venv", type=Path, default=Path("/work/peers-venv"))
    ap.add_argument("--only", default="", help="comma list of repository names")
    ap.add_argument("--json", type=Path, help="write all numbers here")
    ap.add_argument("--list", action="store_true", help="print each repository's URL and commit, then stop")
    ap.add_argument("--print-checkout", metavar="DIR", help="print commands that recreate the checkouts in DIR")
    ap.add_argument("--smoke", action="store_true", help="two tiny synthetic repositories, ours only")
    args = ap.parse_args()

    tmp = None
    if args.smoke:
        tmp = Path(tempfile.mkdtemp(prefix="real-repos-smoke-"))
        args.repos, args.truth = build_smoke(tmp)
        if args.tools == ",".join(TOOLS):
            args.tools = "ours"
    repos = load_truth(args.truth)
    if args.only:
        wanted = set(args.only.split(","))
        repos = [r for r in repos if r.name in wanted]
    if args.list:
        for r in repos:
            print(f"{r.name:24} {r.url:56} {r.commit} {r.kind:16} programs={len(r.programs)}")
        return 0
    if args.print_checkout:
        print(checkout_commands(repos, args.print_checkout))
        return 0

    print(f"# real repositories: {len(repos)} ({sum(1 for r in repos if not r.programs)} call no LLM), "
          f"{sum(len(r.programs) for r in repos)} programs; checkouts in {args.repos}")
    for r in repos:
        print(f"- {r.name}: {r.url} @ {r.commit[:12]} ({r.kind})")
    results: dict[str, dict] = {}
    for tool in [t for t in args.tools.split(",") if t]:
        if tool not in TOOLS:
            print(f"unknown tool {tool}", file=sys.stderr)
            return 2
        exe = find_exe(tool, EXES[tool], args.peers_venv)
        if not exe:
            results[tool] = {"error": f"not installed ({EXES[tool]} not found; see the docstring)"}
            continue
        rows: dict[str, dict | str] = {}
        errors = 0
        for r in repos:
            repo_dir = args.repos / r.name
            if not repo_dir.is_dir():
                rows[r.name] = f"no checkout at {repo_dir}"
                errors += 1
                continue
            with tempfile.TemporaryDirectory(prefix=f"rr-{tool}-") as work:
                reported = run_tool(tool, exe, r, repo_dir.resolve(), Path(work))
            if reported.error:
                rows[r.name] = f"not scored: {reported.error}"
                errors += 1
            elif reported.agents and not any(reported.agents):
                rows[r.name] = f"not scored: {len(reported.agents)} agents reported without any file location"
                errors += 1
            else:
                rows[r.name] = score(r, reported)
        print_tool_table(tool, rows)
        scored = [row for row in rows.values() if isinstance(row, dict)]
        results[tool] = {"repos": rows, "total": totals(scored) if scored else None, "errors": errors}
        if not scored:
            results[tool]["error"] = "no repository could be scored"
    print_summary(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
