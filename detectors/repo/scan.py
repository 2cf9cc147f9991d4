"""The work of the ``repo`` detector (declared in :mod:`detectors.repo`): walk, scan, findings."""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from detectors.base import ScanContext
from detectors.repo import (DEFAULT_FILE_TIMEOUT, DEFAULT_MAX_FILE_SIZE, DEFAULT_PARALLEL_MIN_BYTES,
                            DEFAULT_PARALLEL_MIN_FILES, RepoDetector)
from detectors.repo.content import Hit
from detectors.repo.history import scan_history
from detectors.repo.layout import Layout, LocalUses, without_own_imports
from detectors.repo.owners import Owners
from detectors.repo.rules import Rules
from detectors.repo.walk import FileItem, Repo, Walker
from detectors.repo.pool import WorkerPool
from detectors.repo.worker import FileResult, Watchdog, scan_file
from detectors.usage_gate import UsageGate
from scanner import identity, redact
from scanner.model import Confidence, Finding, ItemKind, Location, stable_hash

CHUNK_FILES = 128
# Findings are handed over in batches: every new secret invalidates redact's scrub pattern,
# so registering a batch of keys before the pipeline scrubs their evidence rebuilds it once, not per key.
FINDINGS_BATCH = 1000
FLUSH_SECONDS = 1.0  # and at least this often, so a stop (timeout) loses no finding made before it


@dataclass
class Options:
    history: bool
    max_file_size: int
    include_vendored: bool
    respect_gitignore: bool
    follow_symlinks: bool
    file_timeout: float
    workers: int
    parallel_min_files: int
    parallel_min_bytes: int

    @classmethod
    def from_ctx(cls, ctx: ScanContext) -> "Options":
        return cls(
            history=ctx.option("history", False),
            max_file_size=ctx.option("max_file_size", DEFAULT_MAX_FILE_SIZE),
            include_vendored=ctx.option("include_vendored", False),
            respect_gitignore=ctx.option("respect_gitignore", False),
            follow_symlinks=ctx.option("follow_symlinks", False),
            file_timeout=ctx.option("file_timeout", DEFAULT_FILE_TIMEOUT),
            workers=ctx.option("workers", os.cpu_count() or 1),
            parallel_min_files=ctx.option("parallel_min_files", DEFAULT_PARALLEL_MIN_FILES),
            parallel_min_bytes=ctx.option("parallel_min_bytes", DEFAULT_PARALLEL_MIN_BYTES),
        )


class RepoScan(RepoDetector):
    """:class:`~detectors.repo.RepoDetector` at work, imported when it runs."""

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        opts = Options.from_ctx(ctx)
        rules = Rules.build(ctx.catalog)
        walker = Walker(opts.include_vendored, opts.respect_gitignore, lambda what, why: _gap(ctx, what, why),
                        ctx.coverage.count, paths=list(ctx.paths), follow_symlinks=opts.follow_symlinks,
                        check=ctx.check_cancelled)
        owners: dict[Path, Owners] = {}
        layouts: dict[Path, Layout] = {}  # program boundaries and own packages, per repository
        local_uses = LocalUses()
        gate = UsageGate(ctx.catalog)  # AWS keys count only in a repository that uses Bedrock
        files = walker.walk(*ctx.paths)
        done = 0
        batch: list[Finding] = []
        flushed = time.monotonic()
        for item, result in self._scan(ctx, rules, opts, files):
            done += 1
            if done % 200 == 0:
                ctx.progress(done, None, item.rel)
            if result.gap:
                _gap(ctx, item.path, result.gap)
                continue
            if result.binary:
                ctx.coverage.count("binary_files_skipped")
                continue
            ctx.coverage.count("files")
            ctx.coverage.count("bytes", result.size)
            hits: list[Hit] = []
            if result.hits:  # most files have none: no layout look-ups for them
                layout = _layout(layouts, item.repo)
                hits, modules = without_own_imports(layout, item.rel_dir, result.hits)
                own = {top: line for top, line in modules.items() if layout.own_module_path(item.rel_dir, top)}
                if hits or own:
                    programs = layout.programs_of(item.rel, runs_tool=any(h.details.get("tools") for h in hits))
                    local_uses.note(layout, item, item.rel_dir, programs, own)
            for hit in hits:
                for program, h in _per_program(programs, hit):
                    finding = gate.offer(item.repo.id, self._finding(item, h, owners, program))
                    if finding is not None:
                        local_uses.saw(str(item.repo.root), item.rel, program, finding.forms == ItemKind.AGENT,
                                       finding.provider)
                        batch.append(finding)
            if batch and (len(batch) >= FINDINGS_BATCH or time.monotonic() - flushed >= FLUSH_SECONDS):
                yield from batch
                batch.clear()
                flushed = time.monotonic()
        yield from batch
        for item, program, hit in local_uses.hits():  # programs that reach LLMs through the repository's own code
            yield self._finding(item, hit, owners, program)  # type: ignore[arg-type]
        ctx.progress(done, done, None)
        if opts.history:
            yield from self._history(ctx, rules, opts, list(walker.repos.values()), gate, layouts)
        yield from gate.release()
        if gate.dropped:
            ctx.coverage.count("keys_not_next_to_provider_use", gate.dropped)

    # ---- working tree -------------------------------------------------------------

    def _scan(self, ctx: ScanContext, rules: Rules, opts: Options,
              files: Iterable[FileItem]) -> Iterator[tuple[FileItem, FileResult]]:
        """Scan in-process until there is enough data to pay for worker processes, then fan out.

        The pool starts (in the background) once ``parallel_min_files`` files or
        ``parallel_min_bytes`` bytes have been scanned here; this thread goes on scanning
        until every worker is up, then sends the rest in chunks (with both thresholds 0, every
        file goes to the workers). Results come back in walk order.
        """
        seen_files = seen_bytes = 0
        pool: WorkerPool | None = None
        watchdog = Watchdog(opts.file_timeout)
        try:
            for chunk in _chunks(files):
                ctx.check_cancelled()
                if pool is None and opts.workers > 1 and (seen_files >= opts.parallel_min_files
                                                          or seen_bytes >= opts.parallel_min_bytes):
                    pool = WorkerPool(rules, opts.workers, opts.file_timeout, opts.max_file_size)
                if pool is None or (seen_files and not pool.ready):  # this thread's turn, also while workers start
                    for i, item in chunk.items():
                        result = watchdog.scan(i, lambda: scan_file(
                            rules, i, item.open_path, item.rel, opts.max_file_size, item.keys_only))
                        seen_files += 1
                        seen_bytes += result.size
                        yield item, result
                    continue
                pool.submit([(i, item.open_path, item.rel, item.keys_only) for i, item in chunk.items()], chunk)
                while pool.full:
                    yield from _collect(*pool.next_results())
                    ctx.check_cancelled()
            for results, chunk in pool.drain() if pool is not None else ():
                yield from _collect(results, chunk)
                ctx.check_cancelled()
        finally:
            watchdog.close()
            if pool is not None:
                pool.close()

    def _finding(self, item: FileItem, hit: Hit, owners: dict[Path, Owners], agent_dir: str) -> Finding:
        repo = item.repo
        keys = [identity.repo(repo.id, agent_dir)]
        owner = _owners(owners, repo).for_file(item.rel, agent_dir)
        if owner:
            keys.append(identity.owner(owner))
        return self._make(hit, Location(path=item.path, line=hit.line or None), keys, repo.id, item.rel, agent_dir)

    def _make(self, hit: Hit, location: Location, keys: list[str], repo_id: str, rel: str, agent_dir: str,
              observed_at: str | None = None) -> Finding:
        details = dict(hit.details)
        details["agent_dir"] = agent_dir
        keys = [*keys, *hit.keys]
        credential = None
        evidence = f"{hit.label} in {rel}" if hit.label else rel
        if hit.secret is not None:
            credential = redact.credential(hit.secret, hit.key_type, hit.admin)
            hit.secret = None
            keys = [*keys, identity.cred(credential.fingerprint)]
            assigned = details.get("assigned_to")
            evidence = f"{hit.label} {credential.preview} in {rel}" + (f" (assigned to {assigned})" if assigned else "")
        # The id names the place inside the repository, not on this disk: two clones of one
        # repository (a laptop and a CI runner) give the same finding ids, so baselines carry over.
        finding_id = stable_hash(self.name, hit.kind, repo_id, rel, str(location.line or ""), location.commit or "",
                                 *sorted(set(keys)), hit.provider or "", hit.model or "")
        return Finding(detector=self.name, kind=hit.kind, location=location, identity=keys, evidence=evidence,
                       provider=hit.provider, model=hit.model, confidence=Confidence(hit.confidence),
                       credential=credential, details=details, observed_at=observed_at, id=finding_id,
                       place=hit.place, endpoint=hit.endpoint)

    # ---- history ----------------------------------------------------------------

    def _history(self, ctx: ScanContext, rules: Rules, opts: Options, repos: list[Repo],
                 gate: UsageGate, layouts: dict[Path, Layout]) -> Iterator[Finding]:
        git_repos = [r for r in repos if r.is_git]
        if not git_repos:
            for r in repos:
                ctx.coverage.add_gap(str(r.root), "not a git repository: no history to scan (--history)")
            return
        for repo in git_repos:
            oldest: dict[tuple[str, str], Finding] = {}
            commits = [0]

            def on_commit(n: int, name: str = repo.root.name) -> None:
                commits[0] = n
                ctx.progress(None, None, f"{name}: {n} commits")

            try:
                for hh in scan_history(rules, repo.root, opts.max_file_size, ctx.check_cancelled, on_commit):
                    agent_dir = _layout(layouts, repo).programs_of(hh.path)[0]
                    keys = [identity.repo(repo.id, agent_dir)]
                    if hh.email:
                        keys.append(identity.owner(hh.email))
                    hh.hit.details.update({"author": hh.author, "commit": hh.commit})
                    location = Location(path=str(repo.root / hh.path), line=hh.hit.line or None, commit=hh.commit)
                    f = self._make(hh.hit, location, keys, repo.id, hh.path, agent_dir, observed_at=hh.date)
                    f.add_risk("in-history")  # history yields keys only
                    oldest[(f.credential.fingerprint if f.credential else "", hh.path)] = f  # git log: newest first
            except (OSError, RuntimeError) as exc:
                ctx.coverage.add_gap(str(repo.root), f"git history not readable: {exc}")
            ctx.coverage.count("repositories_history")
            ctx.coverage.count("commits", commits[0])
            for finding in oldest.values():
                if gate.offer(repo.id, finding) is not None:
                    yield finding


def _gap(ctx: ScanContext, what: str, why: str) -> None:
    """Reasons can name paths outside the tree (a link's target): no key-shaped name in them leaves raw."""
    ctx.coverage.add_gap(what, redact.scrub(why))


def _owners(cache: dict[Path, Owners], repo: Repo) -> Owners:
    if repo.root not in cache:
        cache[repo.root] = Owners(repo)
    return cache[repo.root]


def _layout(cache: dict[Path, Layout], repo: Repo) -> Layout:
    if repo.root not in cache:
        cache[repo.root] = Layout(repo.root)
    return cache[repo.root]


def _per_program(programs: list[str], hit: Hit) -> Iterator[tuple[str, Hit]]:
    """The hit once per program it belongs to (a module shared by several entry programs is in each);
    a copy for all but the last, since making a finding takes the hit's secret."""
    for i, program in enumerate(programs):
        yield program, hit if i == len(programs) - 1 else copy.copy(hit)


def _chunks(files: Iterable[FileItem]) -> Iterator[dict[int, FileItem]]:
    chunk: dict[int, FileItem] = {}
    for i, item in enumerate(files):
        chunk[i] = item
        if len(chunk) >= CHUNK_FILES:
            yield chunk
            chunk = {}
    if chunk:
        yield chunk


def _collect(results: list[FileResult], chunk: dict[int, FileItem]) -> Iterator[tuple[FileItem, FileResult]]:
    for result in results:
        yield chunk[result.index], result
