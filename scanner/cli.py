"""The ``shadow-agents`` command line: parse options, call the pipeline, hand the result to a format.

Progress and logs go to stderr; stdout carries only the report, so
``shadow-agents scan -f json | jq`` always works. Exit codes: 0 no violation,
1 agents at or above ``--fail-on``, 2 usage/config/input error, 3 incomplete scan
with ``--strict``, 141 when the reader of stdout went away (``| head``).

Nothing leaves the process unguarded: reports are written through
:func:`scanner.output.open_output`, ``sys.stdout``/``sys.stderr`` are guarded streams
from :func:`main` on, and every message to people goes through :func:`_say` — one
scrubbed, printable line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner import __version__, redact, safetext
from scanner.config import FAIL_ON_EXTRA, ScanConfig, parse_set_options, resolve
from scanner.errors import UserError
from scanner.model import Change, Inventory, Status
from scanner.output import (EXIT_PIPE_CLOSED, KINDS, STDOUT_NAMES, OutputClosed, install_std_streams, open_output,
                            terminal_stderr, would_replace)
from scanner.plugins import format_for_extension, load_format, report_entry_points, unknown_name

EXIT_OK, EXIT_VIOLATION, EXIT_ERROR, EXIT_INCOMPLETE = 0, 1, 2, 3

app = typer.Typer(
    name="shadow-agents",
    help="Find every program that calls an LLM API and compare it with your approved-agent registry.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # rich tracebacks print local variables: they could hold secrets
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
registry_app = typer.Typer(help="Create and validate the approved-agent registry.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")

# soft_wrap: a message is one line however long; when stderr is not a terminal rich would
# otherwise wrap it at 80 columns
err = Console(file=terminal_stderr(), highlight=False, soft_wrap=True)
log = logging.getLogger("shadow_agents")


def _say(message: str, prefix: str = "", style: str = "") -> None:
    """The one printer of messages for people (errors, notes, the summary): scrubbed, printable,
    one line, never parsed as markup."""
    line = Text()
    if prefix:
        line.append(f"{prefix}:", style=style)
        line.append(" ")
    line.append(safetext.one_line(redact.scrub(str(message))))
    err.print(line)


class _SafeFormatter(logging.Formatter):
    """Log lines are scrubbed and printable, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return safetext.printable(redact.scrub(super().format(record)))


def _setup_logging(verbose: bool, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(levelname)s %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING)
    log.propagate = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shadow-agents {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Find every program that calls an LLM API and compare it with your approved-agent registry."""


def _choose_format(fmt: str | None, output: str | None) -> str:
    if fmt:
        return fmt
    if output and output != "-":
        return format_for_extension(output) or "json"
    return "table" if sys.stdout.isatty() else "json"


def _render(inventory: Inventory, fmt: str, path: str | None) -> None:
    formatter = load_format(fmt)  # validates the name before anything is written
    kind = getattr(formatter, "output_kind", "text")
    with open_output(path, kind if kind in KINDS else "text") as stream:
        formatter.render(redact.scrub_inventory(inventory), stream)


def _emit(text: str, kind: str = "text") -> None:
    """Command output that is not a report (diff, lists, schema): through the same guard."""
    with open_output(None, kind) as stream:
        stream.write(text if text.endswith("\n") or not text else text + "\n")


def _exit_code(inventory: Inventory, fail_on: str, strict: bool) -> int:
    if any(c.input_error for c in inventory.coverage):
        return EXIT_ERROR
    if strict and not inventory.complete:
        return EXIT_INCOMPLETE
    active = [a for a in inventory.agents if a.change != Change.GONE]
    if fail_on == "none":
        return EXIT_OK
    if fail_on == "new":
        bad = [a for a in active if a.change == Change.NEW and a.status not in (Status.APPROVED, Status.DORMANT)]
    else:
        threshold = Status(fail_on).rank
        bad = [a for a in active if a.status.rank >= threshold]
    return EXIT_VIOLATION if bad else EXIT_OK


def _check_fail_on(value: str, has_baseline: bool) -> None:
    valid = [s.value for s in Status] + list(FAIL_ON_EXTRA)
    if value not in valid:
        raise UserError(f"--fail-on must be one of {', '.join(valid)}; got '{value}'")
    if value == "new" and not has_baseline:
        raise UserError("--fail-on new needs --baseline PREVIOUS.json to know what is new")


def _guarded(fn: Callable[[], int]) -> None:
    """Run a command body: UserError → one line + exit 2; unexpected errors never print a traceback;
    a closed stdout ends quietly (141)."""
    raise typer.Exit(_run_guarded(fn))


def _run_guarded(fn: Callable[[], Any]) -> int:
    try:
        code = fn()
        sys.stdout.flush()  # a full disk or a closed pipe is reported here, not at exit
        return code if isinstance(code, int) else EXIT_OK
    except OutputClosed:
        return EXIT_PIPE_CLOSED
    except UserError as exc:
        _say(str(exc), "error", "red")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: say so briefly, details only with --verbose
        log.debug("internal error", exc_info=True)
        _say(f"{type(exc).__name__}: {exc} (rerun with --verbose for details)", "internal error", "red")
        return EXIT_ERROR


SCAN_EPILOG = """Examples:

  shadow-agents scan                                   # this machine and the current directory

  shadow-agents scan -p ~/src -d env --registry agents.yaml -f json -o scan.json

  shadow-agents scan --config shadow-agents.toml --baseline last.json --fail-on new -f jsonl

  shadow-agents scan -d network --capture office.pcap --capture zeek/ssl.log -f html -o net.html

  shadow-agents scan -d repo --history -p ~/src/bot
"""


@app.command(epilog=SCAN_EPILOG)
def scan(
    path: Optional[List[str]] = typer.Option(None, "--path", "-p", help="Directory or file to scan (repeatable; default: .)."),
    detector: Optional[List[str]] = typer.Option(None, "--detector", "-d", help="Detector to run (repeatable; default: the offline local ones)."),
    exclude_detector: Optional[List[str]] = typer.Option(None, "--exclude-detector", "-x", help="Detector to leave out (repeatable)."),
    registry: Optional[str] = typer.Option(None, "--registry", "-r", help="Approved-agent registry (YAML or JSON)."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="Report format (see `shadow-agents formats`)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report here (atomically, mode 0600) instead of stdout."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Exit 1 when an agent has this status or worse, or 'new' (with --baseline), or 'none'. Default: shadow."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="Previous JSON inventory: mark agents new / changed / unchanged / gone."),
    strict: Optional[bool] = typer.Option(None, "--strict", help="Exit 3 when any detector could not look everywhere."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="TOML config file (default: ./shadow-agents.toml or [tool.shadow-agents] in ./pyproject.toml)."),
    catalog: Optional[List[str]] = typer.Option(None, "--catalog", help="Extra provider catalogue YAML (repeatable; same schema as the built-in one)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds each detector may run before it is stopped (default 600)."),
    set_option: Optional[List[str]] = typer.Option(None, "--set", help="Detector option DETECTOR.OPTION=VALUE (repeatable)."),
    quiet: Optional[bool] = typer.Option(None, "--quiet", "-q", help="No progress or summary on stderr; errors only."),
    verbose: Optional[bool] = typer.Option(None, "--verbose", "-v", help="Debug logging on stderr (secrets are still redacted)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No live progress display."),
    history: Optional[bool] = typer.Option(None, "--history", help="repo: also scan every commit of git history.", rich_help_panel="Detector options"),
    max_file_size: Optional[str] = typer.Option(None, "--max-file-size", help="repo: skip files larger than this (e.g. 10MB; default 10MB).", rich_help_panel="Detector options"),
    include_vendored: Optional[bool] = typer.Option(None, "--include-vendored", help="repo: also scan node_modules, virtualenvs, site-packages.", rich_help_panel="Detector options"),
    respect_gitignore: Optional[bool] = typer.Option(None, "--respect-gitignore", help="repo: skip files .gitignore ignores (default: scan them for keys).", rich_help_panel="Detector options"),
    workers: Optional[int] = typer.Option(None, "--workers", help="repo: worker processes (default: all cores).", rich_help_panel="Detector options"),
    resolve_hosts: Optional[bool] = typer.Option(None, "--resolve", help="process: resolve catalogue hostnames to attribute connections (makes DNS queries).", rich_help_panel="Detector options"),
    interface: Optional[str] = typer.Option(None, "--interface", help="network: capture live on this interface.", rich_help_panel="Detector options"),
    duration: Optional[str] = typer.Option(None, "--duration", help="network: live capture length (e.g. 30s, 5m).", rich_help_panel="Detector options"),
    bpf: Optional[str] = typer.Option(None, "--bpf", help="network: capture filter for live capture (default: tcp or udp port 53 or udp port 443).", rich_help_panel="Detector options"),
    capture: Optional[List[str]] = typer.Option(None, "--capture", help="network: capture or log file to read (repeatable; files given with -p are recognised too).", rich_help_panel="Detector options"),
) -> None:
    """Scan this machine and the given paths for LLM agents and report them against the registry."""
    flags = {
        "repo": {"history": history, "max_file_size": max_file_size, "include_vendored": include_vendored,
                 "respect_gitignore": respect_gitignore, "workers": workers},
        "process": {"resolve": resolve_hosts},
        "network": {"interface": interface, "duration": duration, "bpf": bpf, "inputs": capture or None},
    }
    cli: dict[str, Any] = {
        "paths": path or [], "detectors": detector or [], "exclude_detectors": exclude_detector or [],
        "registry": registry, "format": format, "output": output, "fail_on": fail_on, "baseline": baseline,
        "strict": strict, "catalog": catalog or [], "timeout": timeout, "quiet": quiet, "verbose": verbose,
        "progress": False if no_progress else None,
    }

    def body() -> int:
        options = parse_set_options(set_option or [])
        for det, values in flags.items():
            for key, value in values.items():
                if value is not None:
                    options.setdefault(det, {})[key] = value
        cli["detector_options"] = options
        cfg = resolve(cli, config_path=config)
        _setup_logging(cfg.verbose, cfg.quiet)
        return _scan(cfg)

    _guarded(body)


def _scan(cfg: ScanConfig) -> int:
    from scanner.pipeline import scan as run_scan
    from scanner.progress import NoProgress, RichProgress

    _check_fail_on(cfg.fail_on, bool(cfg.baseline))
    fmt = _choose_format(cfg.format, cfg.output)
    load_format(fmt)  # an unknown format is an error before the scan, not after it
    live = cfg.progress and not cfg.quiet and err.is_terminal  # no redraw noise in CI logs
    progress = RichProgress(err) if live else NoProgress()
    inventory = run_scan(cfg, progress=progress)
    _render(inventory, fmt, cfg.output)
    if not cfg.quiet and not (fmt == "table" and cfg.output in STDOUT_NAMES):
        from reports.base import summary_line
        _say(summary_line(inventory))
    for c in inventory.coverage:
        if c.input_error:
            _say(f"{c.detector}: {c.reason}", "error", "red")
    return _exit_code(inventory, cfg.fail_on, cfg.strict)


@app.command(epilog="Example:\n\n  shadow-agents report scan.json -f jsonl -o tickets.jsonl")
def report(
    inventory: Path = typer.Argument(..., help="A JSON inventory saved by `scan -f json`."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="Report format."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Output file (default stdout)."),
) -> None:
    """Re-render a saved JSON inventory in another format."""

    def body() -> int:
        from scanner.pipeline import load_inventory
        inv = load_inventory(inventory)
        _render(inv, _choose_format(format, output), output)
        return EXIT_OK

    _guarded(body)


@app.command(epilog="Example:\n\n  shadow-agents diff last-week.json today.json")
def diff(
    old: Path = typer.Argument(..., help="The earlier JSON inventory."),
    new: Path = typer.Argument(..., help="The later JSON inventory."),
    format: str = typer.Option("text", "--format", "-f", help="text or json."),
    exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when anything is new, gone or changed."),
) -> None:
    """Compare two saved inventories: new, gone and changed agents."""

    def body() -> int:
        from scanner.baseline import diff as diff_inventories
        from scanner.pipeline import load_inventory
        if format not in ("text", "json"):
            raise unknown_name("diff format", format, ["text", "json"])
        d = diff_inventories(load_inventory(old), load_inventory(new))
        one = safetext.one_line  # a name with a line break must not forge a line of the diff
        if format == "json":
            doc = {
                "new": [{"id": a.id, "name": a.name, "status": a.status.value} for a in d.new],
                "gone": [{"id": a.id, "name": a.name, "status": a.status.value} for a in d.gone],
                "changed": [{"id": b.id, "previous_id": a.id, "name": b.name, "changes": what} for a, b, what in d.changed],
                "unchanged": [a.id for a in d.unchanged],
            }
            _emit(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False), "json")
        else:
            lines = [f"+ new      {one(a.name)} [{a.status.value}] {a.id}" for a in d.new]
            lines += [f"- gone     {one(a.name)} [{a.status.value}] {a.id}" for a in d.gone]
            lines += [f"~ changed  {one(b.name)} [{b.status.value}] {b.id}: {one('; '.join(what))}"
                      for _, b, what in d.changed]
            lines.append(f"{len(d.new)} new, {len(d.gone)} gone, {len(d.changed)} changed, "
                         f"{len(d.unchanged)} unchanged")
            _emit("\n".join(lines))
        return EXIT_VIOLATION if exit_code and (d.new or d.gone or d.changed) else EXIT_OK

    _guarded(body)


@app.command(epilog="Example:\n\n  shadow-agents merge hosts/*.json --registry agents.yaml -o fleet.json")
def merge(
    inventories: List[Path] = typer.Argument(..., help="JSON inventories from different hosts or runs."),
    registry: Optional[str] = typer.Option(None, "--registry", "-r", help="Registry to compare the merged agents with."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="Report format (default json)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Output file (default stdout)."),
    catalog: Optional[List[str]] = typer.Option(None, "--catalog", help="Extra provider catalogue YAML."),
) -> None:
    """Merge inventories from many hosts into one, re-correlated across hosts."""

    def body() -> int:
        from scanner.merge import merge_inventories
        from scanner.pipeline import load_inventory
        from scanner.registry import load_registry
        reg = load_registry(registry) if registry else None
        merged = merge_inventories([load_inventory(p) for p in inventories], reg, catalog or [],
                                   [str(p) for p in inventories])
        _render(merged, format or (format_for_extension(output) if output else None) or "json", output)
        return EXIT_OK

    _guarded(body)


@app.command(epilog="Example:\n\n  shadow-agents detectors --json")
def detectors(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List installed detectors, whether each runs by default, and whether it can run here."""

    def body() -> int:
        from scanner.pipeline import list_detectors
        infos = list_detectors()
        if as_json:
            _emit(json.dumps([{"name": i.name, "description": i.description, "default": i.default,
                               "offline": i.offline, "available": i.available, "why_not": i.why_not or None}
                              for i in infos], indent=2), "json")
            return EXIT_OK
        table = Table("Detector", "Default", "Available here", "Description")
        for i in infos:
            avail = "yes" if i.available else f"no: {i.why_not}"
            table.add_row(*(Text(safetext.printable(redact.scrub(cell))) for cell in
                            (i.name, "yes" if i.default and i.offline else "no", avail, i.description)))
        with open_output(None, "terminal") as stream:
            Console(file=stream).print(table)
        return EXIT_OK

    _guarded(body)


@app.command(epilog="Example:\n\n  shadow-agents formats")
def formats() -> None:
    """List report formats."""

    def body() -> int:
        lines = []
        for name, ep in report_entry_points().items():
            try:
                cls = ep.load()
                lines.append(f"{name:<10} {', '.join(cls.extensions):<16} {cls.description}")
            except Exception as exc:
                lines.append(f"{name:<10} {'':<16} cannot load: {type(exc).__name__}: {safetext.one_line(str(exc))}")
        _emit("\n".join(lines))
        return EXIT_OK

    _guarded(body)


@app.command(epilog="Example:\n\n  shadow-agents schema > inventory.schema.json")
def schema() -> None:
    """Print the JSON Schema of the JSON report."""

    def body() -> int:
        from importlib import resources
        _emit(resources.files("scanner.data").joinpath("inventory.schema.json").read_text(encoding="utf-8"), "json")
        return EXIT_OK

    _guarded(body)


@registry_app.command("init", epilog="Example:\n\n  shadow-agents scan -f json -o scan.json\n\n  shadow-agents registry init --from scan.json -o agents.yaml")
def registry_init(
    from_scan: Path = typer.Option(..., "--from", help="A JSON inventory saved by `scan -f json`."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Where to write the registry (default stdout)."),
    force: bool = typer.Option(False, "--force", help="Replace the output file if it exists."),
) -> None:
    """Write a starter registry with one commented record per agent found."""

    def body() -> int:
        from scanner.pipeline import load_inventory
        from scanner.registry_init import starter_registry
        if would_replace(output) and not force:
            raise UserError(f"{output} already exists; use --force to replace it, "
                            f"or `registry add` to append one agent to it")
        text = starter_registry(redact.scrub_inventory(load_inventory(from_scan)), dt.date.today())
        with open_output(output) as stream:
            stream.write(text)
        return EXIT_OK

    _guarded(body)


@registry_app.command("add", epilog="Example:\n\n  shadow-agents registry add 3f9a1c2b4d5e --from scan.json --registry agents.yaml --owner dana@example.com")
def registry_add(
    ref: str = typer.Argument(..., help="Agent id or finding id from the scan."),
    from_scan: Path = typer.Option(..., "--from", help="A JSON inventory saved by `scan -f json`."),
    registry: Path = typer.Option(..., "--registry", "-r", help="Registry file to append to (created if missing)."),
    owner: Optional[str] = typer.Option(None, "--owner", help="Owner of the agent (default: the scan's guess)."),
    purpose: Optional[str] = typer.Option(None, "--purpose", help="What the agent is for."),
) -> None:
    """Append a record for one agent of a scan to the registry."""

    def body() -> int:
        from scanner.pipeline import load_inventory
        from scanner.registry_init import add_record, find_agent
        agent = find_agent(load_inventory(from_scan), ref)
        text = add_record(registry, agent, dt.date.today(), owner, purpose)
        with open_output(str(registry)) as stream:
            stream.write(text)
        _say(f"added {agent.name} ({agent.id}) to {registry}")
        return EXIT_OK

    _guarded(body)


@registry_app.command("check", epilog="Example:\n\n  shadow-agents registry check agents.yaml")
def registry_check(file: Path = typer.Argument(..., help="Registry file to validate.")) -> None:
    """Validate a registry file; errors name the file, line and field."""

    def body() -> int:
        from scanner.compare import check_record
        from scanner.model import Agent
        from scanner.registry import load_registry
        reg = load_registry(file)
        today = dt.date.today()
        for record in reg.records:
            for r in check_record(record, Agent(id="", name=record.name, identity=[], findings=[]), today):
                _say(f"{record.where()}: {r.message}", "note")
            if not record.patterns and not record.tags:
                _say(f"{record.where()}: record {record.id} has no 'match' entries, so nothing can match it", "note")
        _emit(safetext.one_line(f"{file}: ok, {len(reg)} record{'s' if len(reg) != 1 else ''}"))
        return EXIT_OK

    _guarded(body)


def main() -> None:
    """Console-script entry point: every stream guarded, every way out one line and an exit code."""
    install_std_streams()
    sys.exit(_run_guarded(_run_app))


def _run_app() -> int:
    try:
        return app(standalone_mode=False) or EXIT_OK
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _say("aborted", "error", "red")
        return EXIT_ERROR
    except Exception as exc:
        if not (hasattr(exc, "exit_code") and hasattr(exc, "format_message")):  # not a usage error
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # typer has shown the help already
            return int(getattr(exc, "exit_code", EXIT_ERROR))
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _say(exc.format_message() + hint, "error", "red")
        return int(getattr(exc, "exit_code", EXIT_ERROR))

