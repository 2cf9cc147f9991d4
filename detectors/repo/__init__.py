"""The ``repo`` detector: agents in source trees — keys, SDKs, frameworks, endpoints, models, MCP configs.

What is an agent here: a program. Every finding in a file belongs to the program of
that file, as :mod:`.layout` decides it: the nearest folder with a project manifest
(or requirements, a Dockerfile or a compose file next to code of its own), else the
repository root; tests, docs, requirements-only and Dockerfile-only folders join the
program around them; Dockerfiles of one folder that run different entry files are one
program each (a module they share belongs to each); a CI workflow is a program of its
own. So a monorepo with ``services/bot/pyproject.toml`` and ``services/web/package.json``
yields two programs; a repository with notebooks and scripts but no manifest is one;
``.mcp.json`` and ``CLAUDE.md`` at the top belong to the root program. Whether a program
becomes an agent is the core's decision (call-capable evidence, ``scanner.model``). The identity key is
``repo:<remote URL, else work-tree path>:<program>``; credentials add
``cred:<fingerprint>`` so the same key elsewhere joins the same agent. A plain
directory that is not in a git work tree is treated as a repository whose id is
its path. The owner guess (a weak ``owner:`` key) comes from :mod:`.owners`: the
finding's own file's CODEOWNERS owner, else a guess for its agent directory.
AWS access keys (catalogue ``requires_usage``) are reported only in a repository
that also uses Bedrock somewhere (SDK, client, endpoint, model id, variable); the
rest are counted in coverage as ``keys_not_next_to_provider_use``.

Options (``ctx.option``): ``history`` (scan every commit of every ref),
``max_file_size`` (bytes, default 10 MB), ``include_vendored`` (also generated
trees, scanned whole), ``respect_gitignore``, ``follow_symlinks`` (follow links
that leave the scan paths; default: not followed, counted in coverage),
``file_timeout`` (seconds one file may take, default 30: a file over it is
abandoned alone, see :mod:`.worker`), ``workers`` (default: all
cores), ``parallel_min_files`` and ``parallel_min_bytes`` (the workers start, in the
background, once that many files or bytes were scanned in-process; smaller trees
stay in-process: worker start-up costs more than it saves there; see :mod:`.pool`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from detectors.base import Check, Detector, Option, ScanContext

if TYPE_CHECKING:
    from scanner.model import Finding

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
DEFAULT_PARALLEL_MIN_FILES = 2000
DEFAULT_PARALLEL_MIN_BYTES = 4 * 1024 * 1024
DEFAULT_FILE_TIMEOUT = 30.0

__all__ = ["RepoDetector"]


class RepoDetector(Detector):
    name = "repo"
    description = "LLM keys, SDK/framework use, endpoints, models and agent/MCP configs in source trees (+ git history)"
    options = (
        Option("history", "bool", False, "Also scan every commit of git history.", flag="--history", widens=True),
        Option("max_file_size", "size", DEFAULT_MAX_FILE_SIZE, "Skip files larger than this.",
               flag="--max-file-size", minimum=1),
        Option("include_vendored", "bool", False,
               "Also scan node_modules, virtualenvs, site-packages; and generated trees (dist, build) whole.",
               flag="--include-vendored", widens=True),
        Option("respect_gitignore", "bool", False, "Skip files .gitignore ignores (default: scan them for keys).",
               flag="--respect-gitignore"),
        # Not ``widens``: leaving the scanned tree is the user's call, never a config file's found in that tree.
        Option("follow_symlinks", "bool", False,
               "Follow symbolic links that lead out of the scanned paths (still loop-safe).", flag="--follow-symlinks"),
        Option("file_timeout", "duration", DEFAULT_FILE_TIMEOUT,
               "Seconds one file may take; a file over it is abandoned alone (a coverage gap)."),
        Option("workers", "int", None, "Worker processes (default: all cores).", flag="--workers", minimum=1),
        Option("parallel_min_files", "int", DEFAULT_PARALLEL_MIN_FILES,
               "Worker processes start once this many files were scanned in-process (or parallel_min_bytes).",
               minimum=0),
        Option("parallel_min_bytes", "size", DEFAULT_PARALLEL_MIN_BYTES,
               "Worker processes start once this much was scanned in-process (or parallel_min_files); "
               "smaller trees stay in-process: workers cost more than they save there.", minimum=0),
    )

    def diagnose(self) -> list[Check]:
        import shutil
        checks = super().diagnose()
        git = shutil.which("git")
        checks.append(Check("git", bool(git), f"{git}: history (--history), remotes and owner guesses" if git else
                            "not found: no --history, owners come from CODEOWNERS and file owners only",
                            "" if git else "install git"))
        return checks

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        from detectors.repo.scan import RepoScan  # here: the scanning modules are not needed to declare options
        return RepoScan().run(ctx)
