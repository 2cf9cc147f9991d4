"""The scan: select detectors, run each isolated with a timeout, correlate, compare, assess.

A detector that raises, times out or cannot load is recorded in coverage and the
others go on; findings it yielded before it stopped are kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from scanner import __version__, redact
from scanner.catalog import Catalog
from scanner.compare import compare, detectors_run
from scanner.config import ScanConfig
from scanner.correlate import correlate
from scanner.detector import Cancelled, Detector, DetectorError, ScanContext, current_host, current_user
from scanner.errors import UserError
from scanner.model import Coverage, CoverageStatus, Finding, Inventory
from scanner.options import Option, declared, defaults
from scanner.plugins import detector_entry_points, unknown_name
from scanner.progress import NoProgress, ProgressSink
from scanner.risk import assess

if TYPE_CHECKING:  # the registry loader (YAML) is imported only when a registry is given
    from scanner.registry import Registry

log = logging.getLogger("shadow_agents")


def load_inventory(path: str, **kwargs: Any) -> Inventory:
    """A saved inventory (``scanner/inventory_file.py``, imported only when one is read)."""
    from scanner.inventory_file import load_inventory as load
    return load(path, **kwargs)


@dataclass
class DetectorInfo:
    name: str
    description: str
    default: bool
    offline: bool
    available: bool
    why_not: str
    cls: type[Detector] | None = None
    load_error: str | None = None

    @property
    def options(self) -> dict[str, Option]:
        """Declared options plus the common ones (none when the plugin could not be loaded)."""
        return declared(getattr(self.cls, "options", ())) if self.cls is not None else {}


def list_detectors(only: list[str] | None = None, probe: bool = True) -> list[DetectorInfo]:
    """Installed detectors (all, or just ``only``), loaded, with whether each can run here and why not
    (``probe=False``: only their declarations are read; ``available`` is then left True)."""
    out = []
    for name, ep in detector_entry_points().items():
        if only is not None and name not in only:
            continue
        try:
            cls = ep.load()
            ok, why = cls().available() if probe else (True, "")
            out.append(DetectorInfo(name, cls.description, cls.default, cls.offline, ok, why, cls))
        except Exception as exc:  # a broken plugin is listed, not fatal
            msg = f"cannot load: {type(exc).__name__}: {redact.scrub(str(exc))}"
            out.append(DetectorInfo(name, "", False, True, False, msg, None, msg))
    return out


def select_detectors(config: ScanConfig) -> list[DetectorInfo]:
    """The detectors to run. Only those are imported (each costs start-up time); the others are known by
    their cached declarations."""
    names = list(detector_entry_points())
    for n in [*config.detectors, *config.exclude_detectors]:
        if n not in names:
            raise unknown_name("detector", n, names)
    for n in config.extra_detectors:
        if n not in names:
            raise unknown_name("detector", n, names)
    if config.detectors:
        wanted = [n for n in dict.fromkeys(config.detectors) if n not in config.exclude_detectors]
        by_name = {i.name: i for i in list_detectors(wanted)}
        return [by_name[n] for n in wanted]
    from scanner.declarations import detector_declarations
    by_default = {d.name for d in detector_declarations() if d.default and d.offline}
    wanted = [n for n in names if (n in by_default or n in config.extra_detectors) and n not in config.exclude_detectors]
    return [i for i in list_detectors(wanted) if (i.default and i.offline) or i.name in config.extra_detectors]


@dataclass
class _Run:
    info: DetectorInfo
    ctx: ScanContext
    findings: list[Finding] = field(default_factory=list)
    thread: threading.Thread | None = None
    started: float = 0.0
    duration: float = 0.0


def _worker(run: _Run, detector: Detector) -> None:
    cov = run.ctx.coverage
    try:
        for finding in detector.run(run.ctx):
            finding.evidence = redact.scrub(finding.evidence)
            run.findings.append(finding)
            cov.findings += 1
            if run.ctx.cancelled:
                break
    except Cancelled:
        pass
    except DetectorError as exc:
        cov.status = CoverageStatus.FAILED
        cov.reason = redact.scrub(str(exc))
        cov.input_error = True
    except Exception as exc:  # isolation: one detector's bug must not end the scan
        cov.status = CoverageStatus.FAILED
        cov.reason = f"{type(exc).__name__}: {redact.scrub(str(exc))}"
        log.debug("detector %s failed:\n%s", run.info.name, redact.scrub(traceback.format_exc()))
    finally:
        run.duration = time.monotonic() - run.started


def run_detectors(config: ScanConfig, catalog: Catalog, infos: list[DetectorInfo],
                  progress: ProgressSink) -> tuple[list[Finding], list[Coverage], dict[str, float]]:
    paths = [Path(p).expanduser().resolve() for p in config.paths]
    host = current_host()
    runs: list[_Run] = []
    coverages: list[Coverage] = []
    for info in infos:
        cov = Coverage(detector=info.name, host=host)
        coverages.append(cov)
        if info.cls is None:
            cov.status, cov.reason = CoverageStatus.FAILED, info.load_error
            continue
        if not info.available:
            cov.status, cov.reason = CoverageStatus.SKIPPED, info.why_not
            continue
        ctx = ScanContext(
            detector=info.name, catalog=catalog, paths=paths, coverage=cov,
            options={**defaults(info.options), **config.detector_options.get(info.name, {})},
            progress_callback=progress.update, hostname=host, username=current_user(),
        )
        runs.append(_Run(info, ctx))
    for run in runs:
        progress.start(run.info.name)
        try:
            detector = run.info.cls()  # type: ignore[misc]
        except Exception as exc:
            run.ctx.coverage.status = CoverageStatus.FAILED
            run.ctx.coverage.reason = f"cannot start: {type(exc).__name__}: {redact.scrub(str(exc))}"
            continue
        run.started = time.monotonic()
        run.thread = threading.Thread(target=_worker, args=(run, detector), name=f"detector-{run.info.name}", daemon=True)
        run.thread.start()
    for run in runs:
        if run.thread is None:
            progress.finish(run.info.name, run.ctx.coverage)
            continue
        timeout = float(run.ctx.option("timeout", config.timeout))
        remaining = run.started + timeout - time.monotonic()
        run.thread.join(max(0.0, remaining))
        if run.thread.is_alive():
            run.ctx.cancel_event.set()
            run.thread.join(1.0)
            cov = run.ctx.coverage
            cov.status = CoverageStatus.FAILED
            cov.reason = f"timed out after {timeout:g}s; the {len(run.findings)} findings made until then are kept"
            run.duration = timeout
        progress.finish(run.info.name, run.ctx.coverage)
    findings: dict[str, Finding] = {}
    for run in runs:
        for f in list(run.findings):
            findings.setdefault(f.id, f)
    timings = {run.info.name: round(run.duration, 3) for run in runs}
    return list(findings.values()), coverages, timings


def build_inventory(findings: list[Finding], coverages: list[Coverage], catalog: Catalog,
                    registry: Registry | None, today: dt.date, metadata: dict[str, Any]) -> Inventory:
    """Findings → agents with statuses, severities and remediation: everything after detection.

    Findings are scrubbed first (ids kept), so agents are correlated, named and matched
    against the registry on exactly the strings every output shows."""
    redact.use_catalog(catalog)
    redact.scrub_findings(findings)
    fmap = {f.id: f for f in findings}
    agents = correlate(findings)
    compare(agents, fmap, registry, today, detectors_run(coverages))
    assess(agents, fmap, catalog)
    return redact.scrub_inventory(Inventory(agents=agents, findings=findings, coverage=coverages,
                                            metadata=metadata)).sorted()


def scan(config: ScanConfig, progress: ProgressSink | None = None,
         today: dt.date | None = None, clock: Callable[[], dt.datetime] | None = None) -> Inventory:
    """Run a whole scan. Inputs (registry, baseline, catalogue) are checked before any detector runs."""
    clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
    started = clock()
    today = today or started.date()
    catalog = Catalog.load(config.catalog)
    redact.use_catalog(catalog)
    registry = None
    if config.registry:
        from scanner.registry import load_registry
        registry = load_registry(config.registry)
    baseline = load_inventory(config.baseline) if config.baseline else None  # before any detector runs
    for p in config.paths:
        if not Path(p).expanduser().exists():
            raise UserError(f"path does not exist: {p}")
    infos = select_detectors(config)
    with progress or NoProgress() as sink:
        findings, coverages, timings = run_detectors(config, catalog, infos, sink)
    digest = hashlib.sha256(json.dumps(config.digest_view(), sort_keys=True, default=str).encode()).hexdigest()[:16]
    metadata = {
        "tool": "shadow-agents",
        "version": __version__,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": clock().isoformat(timespec="seconds"),
        "host": current_host(),
        "user": current_user(),
        "config_digest": digest,
        "config_file": config.source,
        "config_files": config.config_files,
        "config_refused": config.refused,
        "detectors": [i.name for i in infos],
        "paths": [str(Path(p).expanduser().resolve()) for p in config.paths],
        "registry": config.registry,
        "baseline": config.baseline,
        "timings_s": timings,
    }
    inventory = build_inventory(findings, coverages, catalog, registry, today, metadata)
    if baseline is not None:
        from scanner.baseline import apply_baseline
        apply_baseline(inventory, baseline)
        inventory.sorted()
    return inventory
