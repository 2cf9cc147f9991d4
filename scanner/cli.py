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
import inspect
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

from typing import TYPE_CHECKING

import typer

from scanner import redact, safetext, stopping
from scanner.errors import UserError
from scanner.output import (EXIT_PIPE_CLOSED, STDOUT_NAMES, OutputClosed, format_kind, install_std_streams,
                            open_output, terminal_stderr, would_replace)
from scanner.stopping import Terminated

if TYPE_CHECKING:  # start-up time: rich, the model, config and plugins are imported where they are used
    from rich.console import Console
    from rich.text import Text

    from scanner.config import ScanConfig
    from scanner.model import Inventory

EXIT_OK, EXIT_VIOLATION, EXIT_ERROR, EXIT_INCOMPLETE = 0, 1, 2, 3

app = typer.Typer(
    name="shadow-agents",
    help="Find every program that calls an LLM API and compare it with your approved-agent registry.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # rich tracebacks print local variables: they could hold secrets
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    context_settings={"help_option_names": ["-h", "--help"]},
)
registry_app = typer.Typer(help="Create and validate the approved-agent registry.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")

log = logging.getLogger("shadow_agents")
_err: "Console | None" = None


def err_console() -> "Console":
    """The console of the CLI's own messages on stderr (made on first use: rich costs start-up time)."""
    global _err
    if _err is None:
        from rich.console import Console
        # soft_wrap: a message is one line however long; when stderr is not a terminal rich would
        # otherwise wrap it at 80 columns
        _err = Console(file=terminal_stderr(), highlight=False, soft_wrap=True)
    return _err


def _styled_stderr() -> bool:
    """Would rich style stderr (a terminal, or colour forced)? Otherwise plain lines need no rich."""
    if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") or os.environ.get("TTY_INTERACTIVE"):
        return True
    return _err.is_terminal if _err is not None else terminal_stderr().isatty()


def _say(message: str, prefix: str = "", style: str = "") -> None:
    """The one printer of messages for people (errors, notes, the summary): scrubbed, printable,
    one line, never parsed as markup."""
    text = safetext.one_line(redact.scrub(str(message)))
    if not _styled_stderr():  # what rich would print, without importing it
        stream = terminal_stderr()
        stream.write(f"{prefix}: {text}\n" if prefix else f"{text}\n")
        stream.flush()
        return
    from rich.text import Text
    line = Text()
    if prefix:
        line.append(f"{prefix}:", style=style)
        line.append(" ")
    line.append(text)
    err_console().print(line)


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
        from scanner.doctor import version_line
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
    no_color: bool = typer.Option(False, "--no-color", help="No colours (also: the NO_COLOR environment variable)."),
) -> None:
    """Find every program that calls an LLM API and compare it with your approved-agent registry."""
    if no_color:
        os.environ["NO_COLOR"] = "1"  # consoles made later (reports, messages) read it
        if _err is not None:
            _err.no_color = True


def _choose_format(fmt: str | None, output: str | None) -> str:
    from scanner.plugins import format_for_extension
    if fmt:
        return fmt
    if output and output != "-":
        return format_for_extension(output) or "json"
    return "table" if sys.stdout.isatty() else "json"


def _render(inventory: "Inventory", fmt: str, path: str | None) -> None:
    from scanner.plugins import load_format
    formatter = load_format(fmt)  # validates the name before anything is written
    with open_output(path, format_kind(formatter)) as stream:
        formatter.render(redact.scrub_inventory(inventory), stream)


def _emit(text: str, kind: str = "text") -> None:
    """Command output that is not a report (diff, lists, schema): through the same guard."""
    with open_output(None, kind) as stream:
        stream.write(text if text.endswith("\n") or not text else text + "\n")


def _exit_code(inventory: "Inventory", fail_on: str, strict: bool) -> int:
    from scanner.model import Change, Status
    if any(c.input_error for c in inventory.coverage):
        return EXIT_ERROR
    if strict and not inventory.complete:
        return EXIT_INCOMPLETE
    active = [a for a in inventory.agents if a.change != Change.GONE and a.is_agent]  # MCP servers: counted apart
    if fail_on == "none":
        return EXIT_OK
    if fail_on == "new":
        from scanner.baseline import fails_new
        bad = [a for a in active if fails_new(a)]  # new, or changed by a new key or provider
    else:
        threshold = Status(fail_on).rank
        bad = [a for a in active if a.status.rank >= threshold]
    return EXIT_VIOLATION if bad else EXIT_OK


def _check_fail_on(value: str, has_baseline: bool) -> None:
    from scanner.config import FAIL_ON_EXTRA
    from scanner.model import Status
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
    except Terminated as stop:
        _say(f"stopped by {stop.name}")
        return stop.exit_code
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
    config: Optional[str] = typer.Option(None, "--config", "-c", help="TOML config file, trusted (default: ~/.config/shadow-agents/config.toml, plus ./shadow-agents.toml or the tool.shadow-agents table of ./pyproject.toml, which may only widen the scan)."),
    catalog: Optional[List[str]] = typer.Option(None, "--catalog", help="Extra provider catalogue YAML (repeatable; same schema as the built-in one)."),
    timeout: Optional[str] = typer.Option(None, "--timeout", help="How long each detector may run before it is stopped (e.g. 90, 10m; default 600s)."),
    set_option: Optional[List[str]] = typer.Option(None, "--set", help="Detector option DETECTOR.OPTION=VALUE (repeatable; see `shadow-agents detectors`)."),
    quiet: Optional[bool] = typer.Option(None, "--quiet", "-q", help="No progress or summary on stderr; errors only."),
    verbose: Optional[bool] = typer.Option(None, "--verbose", "-v", help="Debug logging on stderr (secrets are still redacted)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No live progress display."),
    *,
    detector_flags: dict[tuple[str, str], Any] | None = None,
) -> None:
    """Scan this machine and the given paths for LLM agents and report them against the registry."""
    cli: dict[str, Any] = {
        "paths": path or [], "detectors": detector or [], "exclude_detectors": exclude_detector or [],
        "registry": registry, "format": format, "output": output, "fail_on": fail_on, "baseline": baseline,
        "strict": strict, "catalog": catalog or [], "timeout": timeout, "quiet": quiet, "verbose": verbose,
        "progress": False if no_progress else None,
    }

    def body() -> int:
        from scanner.config import parse_set_options, resolve
        from scanner.declarations import detector_declarations
        decls = detector_declarations()
        options = parse_set_options(set_option or [])
        for (det, name), value in (detector_flags or {}).items():
            if value is not None and value != ():
                options.setdefault(det, {})[name] = list(value) if isinstance(value, (list, tuple)) else value
        cli["detector_options"] = options
        cfg = resolve(cli, config_path=config, declared={d.name: d.options for d in decls},
                      offline={d.name for d in decls if d.offline})
        _setup_logging(cfg.verbose, cfg.quiet)
        _report_config(cfg)
        return _scan(cfg)

    _guarded(body)


_FLAG_TYPES: dict[str, Any] = {"bool": Optional[bool], "list": Optional[List[str]], "paths": Optional[List[str]]}


def shared_flags(declared: list[tuple[str, Any]], core: set[str]) -> list[tuple[Any, list[tuple[str, str]]]]:
    """(option, [(detector, option name), …]) per top-level flag, in declaration order.

    Detectors that declare the same flag with the same type share it (``--since 7d`` sets
    ``since`` of every billing detector); a flag the core or an earlier detector holds with
    another type stays theirs, and the later option is reachable through ``--set`` only.
    """
    out: dict[str, tuple[Any, list[tuple[str, str]]]] = {}
    for detector, opt in declared:
        if not opt.flag or opt.flag in core:
            continue
        if opt.flag in out:
            first, owners = out[opt.flag]
            if first.type == opt.type:
                owners.append((detector, opt.name))
            continue
        out[opt.flag] = (opt, [(detector, opt.name)])
    return list(out.values())


def _register_scan(with_detector_flags: bool) -> None:
    """Register ``scan`` with one flag per detector option that declares one.

    The flags are read from the installed detectors' declarations, so a plugin's
    flags appear like the built-ins'; those come from the user cache when it is current
    (``scanner/declarations.py``), so a scan imports only the detectors it runs.
    """
    params = list(inspect.signature(scan, eval_str=True).parameters.values())[:-1]  # all but detector_flags
    if with_detector_flags:
        from scanner.declarations import detector_declarations
        core = {name for p in params for name in getattr(p.default, "param_decls", ()) or ()}
        flags = shared_flags([(d.name, opt) for d in detector_declarations() for opt in d.options.values()], core)
    else:
        flags = []
    targets = {f"detector_flag_{i}": owners for i, (_, owners) in enumerate(flags)}
    for pname, (opt, owners) in zip(targets, flags):
        shown = opt.display_default()
        escape = "\\" if app.rich_markup_mode is not None else ""  # \[ : not rich markup
        text = f"{', '.join(d for d, _ in owners)}: {opt.help}" + (
            f" {escape}[default: {shown}]" if shown and opt.type != "bool" else "")
        default = typer.Option(None, opt.flag, help=text, rich_help_panel="Detector options",
                               show_default=False, metavar=None if opt.type == "bool" else opt.metavar)
        params.append(inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=_FLAG_TYPES.get(opt.type, Optional[str])))

    def command(**kwargs: Any) -> None:
        given = {k: kwargs.pop(k) for k in list(kwargs) if k in targets}
        scan(**kwargs, detector_flags={owner: value for k, value in given.items() for owner in targets[k]})

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = scan.__doc__
    app.command("scan", epilog=SCAN_EPILOG)(command)


def _report_config(cfg: "ScanConfig") -> None:
    """Say which implicit config was used and what was refused from it (the metadata keeps both)."""
    if cfg.quiet:
        return
    for f in cfg.config_files:
        if f["trust"] == "implicit":
            _say(f"using {f['path']} found in the current directory; it can only widen the scan "
                 "(pass --config to trust a file)", "note")
    for line in cfg.refused:
        _say(line, "warning", "yellow")


def _scan(cfg: "ScanConfig") -> int:
    from scanner.pipeline import scan as run_scan
    from scanner.plugins import load_format
    from scanner.progress import NoProgress, RichProgress

    _check_fail_on(cfg.fail_on, bool(cfg.baseline))
    fmt = _choose_format(cfg.format, cfg.output)
    load_format(fmt)  # an unknown format is an error before the scan, not after it
    live = cfg.progress and not cfg.quiet and _styled_stderr() and err_console().is_terminal  # no redraw noise in CI logs
    progress = RichProgress(err_console()) if live else NoProgress()
    inventory = run_scan(cfg, progress=progress)
    _render(inventory, fmt, cfg.output)
    if not cfg.quiet and not (fmt == "table" and cfg.output in STDOUT_NAMES):
        from scanner.format import summary_line
        _say(summary_line(inventory))
    for c in inventory.coverage:
        if c.input_error:
            _say(f"{c.detector}: {c.reason}", "error", "red")
    if not cfg.registry and not cfg.quiet and _styled_stderr() and err_console().is_terminal:
        err_console().print("hint: no registry given, so every agent is shadow. Start one from this scan:\n"
                  "  shadow-agents scan -f json -o scan.json && shadow-agents registry init --from scan.json -o agents.yaml",
                  highlight=False, markup=False)
    return _exit_code(inventory, cfg.fail_on, cfg.strict)


@app.command(epilog="Example:\n\n  shadow-agents report scan.json -f jsonl -o tickets.jsonl")
def report(
    inventory: Path = typer.Argument(..., help="A JSON inventory saved by `scan -f json`."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="Report format."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Output file (default stdout)."),
) -> None:
    """Re-render a saved JSON inventory in another format."""

    def body() -> int:
        _report_saved(inventory, _choose_format(format, output), output)
        return EXIT_OK

    _guarded(body)


def _report_saved(inventory: Path, fmt: str, output: str | None) -> None:
    """Write the saved inventory ``inventory`` in ``fmt``: streamed where the format allows, else read whole."""
    from scanner.inventory_file import load_inventory
    from scanner.plugins import load_format
    from scanner.format import AgentFormat
    try:
        formatter = load_format(fmt)
    except UserError:  # an unknown format: said after the input's own faults, as always
        formatter = None
    if getattr(formatter, "inventory_json", False) is True:
        from scanner.report_stream import write_json_report
        if write_json_report(inventory, output):  # one pass, nothing held
            return
    elif isinstance(formatter, AgentFormat):
        from scanner.report_agents import write_agent_report
        if write_agent_report(inventory, formatter, output):  # an agent at a time, none held
            return
    _render(load_inventory(inventory), fmt, output)


@app.command(epilog="Example:\n\n  shadow-agents diff last-week.json today.json")
def diff(
    old: Path = typer.Argument(..., help="The earlier JSON inventory."),
    new: Path = typer.Argument(..., help="The later JSON inventory."),
    format: str = typer.Option("text", "--format", "-f", help="text or json."),
    exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when anything is new, gone or changed."),
) -> None:
    """Compare two saved inventories: new, gone and changed agents."""

    def body() -> int:
        from scanner import jsontext
        from scanner.diff_stream import diff_saved
        from scanner.plugins import unknown_name
        if format not in ("text", "json"):
            raise unknown_name("diff format", format, ["text", "json"])
        d = diff_saved(old, new, keep_unchanged=format == "json")  # agent by agent: small per agent
        one = safetext.one_line  # a name with a line break must not forge a line of the diff
        if format == "json":
            doc = {
                "new": [{"id": i, "name": name, "status": status} for i, name, status in d.new],
                "gone": [{"id": i, "name": name, "status": status} for i, name, status in d.gone],
                "changed": [{"id": i, "previous_id": before, "name": name, "changes": what}
                            for i, before, name, _status, what in d.changed],
                "unchanged": d.unchanged,
            }
            _emit(jsontext.dumps(doc), "json")  # json.dumps(doc, indent=2, sort_keys=True)'s text, faster
        else:
            lines = [f"+ new      {one(name)} [{status}] {i}" for i, name, status in d.new]
            lines += [f"- gone     {one(name)} [{status}] {i}" for i, name, status in d.gone]
            lines += [f"~ changed  {one(name)} [{status}] {i}: {one('; '.join(what))}"
                      for i, _before, name, status, what in d.changed]
            lines.append(f"{len(d.new)} new, {len(d.gone)} gone, {len(d.changed)} changed, "
                         f"{d.unchanged_count} unchanged")
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
        from scanner.merge import merge_saved
        from scanner.merge_stream import streamed_merge
        from scanner.plugins import format_for_extension, load_format
        from scanner.registry import load_registry
        reg = load_registry(registry) if registry else None
        fmt = format or (format_for_extension(output) if output else None) or "json"
        # the agents are built anew, and every finding, coverage and metadata string is scrubbed there first
        built = streamed_merge(inventories, reg, catalog or [])  # on disk: neither input held whole
        if built is None:  # an input it does not merge: merged whole (the same text, or its message)
            _render(merge_saved(inventories, reg, catalog or []), fmt, output)
            return EXIT_OK
        with built:
            formatter = load_format(fmt)
            if getattr(formatter, "inventory_json", False) is True:
                with open_output(output, format_kind(formatter)) as stream:
                    built.write(stream.write_scrubbed)  # every string scrubbed or gated on the way in
            else:
                _report_saved(built.save(), fmt, output)
        return EXIT_OK

    _guarded(body)


@app.command(epilog="Example:\n\n  shadow-agents detectors --json")
def detectors(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List installed detectors, whether each runs by default, whether it can run here, and its options."""

    def body() -> int:
        from rich.console import Console
        from rich.table import Table

        from scanner.pipeline import list_detectors
        infos = list_detectors()
        if as_json:
            _emit(json.dumps([{"name": i.name, "description": i.description, "default": i.default,
                               "offline": i.offline, "available": i.available, "why_not": i.why_not or None,
                               "options": [_option_doc(o) for o in i.options.values()]}
                              for i in infos], indent=2), "json")
            return EXIT_OK
        table = Table("Detector", "Default", "Available here", "Description")
        for i in infos:
            avail = "yes" if i.available else f"no: {i.why_not}"
            table.add_row(*map(_cell, (i.name, "yes" if i.default and i.offline else "no", avail, i.description)))
        with open_output(None, "terminal") as stream:
            out = Console(file=stream)
            out.print(table)
            for i in infos:
                if not i.options:
                    continue
                out.print(_cell(f"\n{i.name} options (--set {i.name}.OPTION=VALUE, or [detectors.{i.name}] "
                                "in a config file):"))
                for o in i.options.values():
                    flag = f" {o.flag}" if o.flag else ""
                    default = "" if o.default is None else f", default {o.display_default()}"
                    out.print(_cell(f"  {o.name}{flag} ({o.describe_type()}{default}): {o.help}"))
        return EXIT_OK

    _guarded(body)


def _cell(value: object) -> "Text":
    """Text for a rich table or line on stdout: scrubbed, printable, never markup."""
    from rich.text import Text
    return Text(safetext.printable(redact.scrub(str(value))))


def _option_doc(opt: Any) -> dict[str, Any]:
    return {"name": opt.name, "type": opt.type, "default": opt.default, "flag": opt.flag, "help": opt.help,
            "choices": list(opt.choices) or None, "widens": opt.widens}


@app.command(epilog="Example:\n\n  shadow-agents formats")
def formats() -> None:
    """List report formats."""

    def body() -> int:
        from scanner.plugins import report_entry_points
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
        from scanner.inventory_file import load_inventory
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
        from scanner.inventory_file import load_inventory
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


@app.command("pre-commit", epilog="Example (.pre-commit-config.yaml):\n\n"
             "  - repo: https://github.com/shadow-agent-scanner/shadow-agent-scanner\n\n"
             "    rev: v0.1.0\n\n    hooks: [{id: shadow-agents}]\n\n"
             "By hand: shadow-agents pre-commit $(git diff --cached --name-only)")
def pre_commit(
    files: Optional[List[str]] = typer.Argument(None, help="Files about to be committed (pre-commit passes the staged ones)."),
    fail_on_agents: bool = typer.Option(False, "--fail-on-agents", help="Also fail on code that calls an LLM API with no key in it."),
    catalog: Optional[List[str]] = typer.Option(None, "--catalog", help="Extra provider catalogue YAML (repeatable)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds the scan may take."),
) -> None:
    """Check the files of a commit for LLM keys (and, with --fail-on-agents, LLM calls): the repo detector only."""

    def body() -> int:
        from scanner.precommit import describe, run_hook
        result = run_hook(files or [], catalog or [], timeout)
        cwd = Path.cwd()
        for line in describe(result):
            _say(_relative_to(line, cwd))
        if result.keys:
            _say(f"{len(result.keys)} LLM key{'s' if len(result.keys) != 1 else ''} in the files to commit: "
                 "remove them (and revoke them if they were ever pushed)")
        if fail_on_agents and result.agents:
            _say(f"{result.agents} unregistered LLM agent{'s' if result.agents != 1 else ''} in these files; "
                 "run `shadow-agents scan` for details")
        return EXIT_VIOLATION if result.failed(fail_on_agents) else EXIT_OK

    _guarded(body)


def _relative_to(line: str, cwd: Path) -> str:
    prefix = f"{cwd}/"
    return line[len(prefix):] if line.startswith(prefix) else line


@app.command(epilog="Example:\n\n  shadow-agents doctor --json")
def doctor(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Can each detector run here? Privileges, packages and credentials present or missing, and what to do.

    Exit 0 when every default detector can run fully, 1 otherwise."""

    def body() -> int:
        from rich.console import Console
        from rich.table import Table

        from scanner.doctor import detector_health, installation_checks, version_line
        core = installation_checks()
        health = detector_health()
        if as_json:
            _emit(json.dumps({
                "version": version_line(),
                "installation": [c.__dict__ for c in core],
                "detectors": [{"name": h.name, "default": h.default, "runs": h.runs, "full": h.full,
                               "checks": [c.__dict__ for c in h.checks]} for h in health],
            }, indent=2, sort_keys=True), "json")
        else:
            table = Table("Detector", "Check", "", "Detail", "What to do")
            for c in core:
                table.add_row(*map(_cell, ("-", c.name, "ok" if c.ok else "NO", c.detail, c.fix)))
            for h in health:
                for i, c in enumerate(h.checks):
                    name = (h.name + (" (default)" if h.default else "")) if i == 0 else ""
                    table.add_row(*map(_cell, (name, c.name, "ok" if c.ok else ("NO" if c.required else "limited"),
                                               c.detail, c.fix)))
            with open_output(None, "terminal") as stream:
                out = Console(file=stream)
                out.print(_cell(version_line()))
                out.print(table)
        fine = all(c.ok for c in core) and all(h.full for h in health if h.default)
        return EXIT_OK if fine else EXIT_VIOLATION

    _guarded(body)


def _invokes_scan(args: list[str]) -> bool:
    """Whether the command line runs (or the shell is completing) ``scan``: its first word that is not an option."""
    if "_SHADOW_AGENTS_COMPLETE" in os.environ:  # shell completion: the words typed so far
        args = os.environ.get("COMP_WORDS", "").split()[1:]
    words = [a for a in args if not a.startswith("-")]
    return bool(words) and words[0] == "scan"


def main() -> None:
    """Console-script entry point: every stream guarded, every way out one line and an exit code,
    and no worker process outliving the command (SIGTERM and SIGHUP end it like Ctrl-C)."""
    install_std_streams()
    stopping.install()
    code = _run_guarded(_start)
    try:
        stopping.leave(code)
    except (OutputClosed, UserError):  # its last flush of a stream that already failed
        pass
    sys.exit(code)


def _start() -> int:
    from scanner.installation import foreign_packages
    problems = foreign_packages()
    if problems and sys.argv[1:2] != ["doctor"]:
        raise UserError(f"this shadow-agents installation is not whole: {'; '.join(problems)}. Install it in its own "
                        "environment: pipx install shadow-agent-scanner")
    if not sys.stdout.isatty():  # plain help into a pipe: no box drawing, and rich's help costs start-up time
        app.rich_markup_mode = registry_app.rich_markup_mode = None
    _register_scan(with_detector_flags=_invokes_scan(sys.argv[1:]))
    return _run_app()


def _plain_coercion() -> None:
    """Give text, flag and text-list parameters a plain conversion instead of typer's (once per process).

    Recent typer converts every parameter of the command being run (its help option too) through
    a pydantic ``TypeAdapter``, built for each parameter whether it was given or not; importing
    pydantic and building some forty adapters is most of a short command's start-up. A value that
    is already a ``str`` (a ``bool`` for a flag, a sequence of ``str`` for a list of text) needs no
    conversion, so those pass as they are; any other value, and every other annotation, goes to
    typer's own conversion. Typer versions without this machinery are left alone.
    """
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer.core import _TyperParameter
    except ImportError:  # older typer: click types, no pydantic
        return
    if getattr(_TyperParameter, "_plain_coercion", False) or not hasattr(_TyperParameter, "get_runtime_param"):
        return
    import dataclasses
    import typing

    def plain_type(ann: Any) -> bool:
        return ann in (str, bool) or (typing.get_origin(ann) is list and typing.get_args(ann) == (str,))

    @dataclasses.dataclass(frozen=True)
    class Plain(RuntimeParam):  # type: ignore[misc]
        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            ann = self.annotation
            if ann is str and isinstance(value, str) or ann is bool and isinstance(value, bool):
                return value
            if ann not in (str, bool) and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return list(value)
            return build_runtime_param(self.descriptor)._coerce_value(value, param, ctx)

    typers_own = _TyperParameter.get_runtime_param

    def get_runtime_param(self: Any) -> Any:
        desc = getattr(self, "type_descriptor", None)
        if getattr(self, "_runtime_param", False) is None and desc is not None and desc.file_annotation is None \
                and plain_type(desc.annotation):
            self._runtime_param = Plain(parameter_info=desc.parameter_info, annotation=desc.annotation, descriptor=desc)
        return typers_own(self)

    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
    _TyperParameter._plain_coercion = True  # type: ignore[attr-defined]


def _run_app() -> int:
    try:
        _plain_coercion()
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

