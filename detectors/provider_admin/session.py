"""One admin-API session, as every provider-admin detector runs it: the admin key, the base
URL, the usage window, one HTTP client, and the requests it took (counted in coverage)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, ClassVar, Iterator

from detectors.provider_admin import common
from detectors.provider_admin.common import Window
from detectors.provider_admin.http import AdminClient, ApiError
from scanner.detector import DetectorError, ScanContext
from scanner.model import CoverageStatus, Finding


class AdminScan:
    """What one detector reads in one session; subclasses implement :meth:`run`."""

    role: ClassVar[str] = ""  # the key the API wants, in the words of the provider's console

    def __init__(self, detector: str, ctx: ScanContext, client: AdminClient, variable: str, provider_name: str,
                 api: Any, window: Window):
        self.detector, self.ctx, self.client, self.variable = detector, ctx, client, variable
        self.provider_name, self.api, self.window = provider_name, api, window

    def refused(self, exc: ApiError, what: str) -> str:
        if exc.status in (401, 403):
            return (f"{what}: refused (HTTP {exc.status}: {exc.message}); {self.variable} must be {self.role} "
                    f"({self.api.console_url})")
        return f"{what}: {exc}"

    def required_listing(self, path: str, params: dict[str, Any], cursor: str, kind: str,
                         what: str) -> list[dict[str, Any]] | None:
        """The listing the whole scan depends on: refused credentials end the detector, another
        API error marks it failed (None); the count of items goes to coverage as ``kind``."""
        try:
            items = list(self.client.listing(path, params, cursor, kind))
        except ApiError as exc:
            if exc.status in (401, 403):
                raise DetectorError(self.refused(exc, f"{self.detector}: {what}")) from None
            self.ctx.coverage.status = CoverageStatus.FAILED
            self.ctx.coverage.reason = f"{what}: {exc}"
            return None
        self.ctx.coverage.count(kind, len(items))
        return items

    def run(self) -> Iterator[Finding]:  # pragma: no cover - interface
        raise NotImplementedError


def run_session(detector: str, ctx: ScanContext, provider: str, scan: type[AdminScan],
                headers: Callable[[str], dict[str, str]]) -> Iterator[Finding]:
    api, provider_name = common.provider_api(provider, ctx.catalog)
    variable, key = common.admin_key(api)
    if not key:
        raise DetectorError(f"{' or '.join(api.key_env)} is not set: {detector} needs {scan.role}, made at "
                            f"{api.console_url}")
    base, source = common.resolve_base(ctx.option("endpoint"), api)
    ctx.log.debug("%s: %s from the %s", detector, base, source)
    window = Window.back_from(dt.datetime.now(dt.timezone.utc), float(ctx.option("since")))
    with AdminClient(ctx, base, headers(key)) as client:
        try:
            yield from scan(detector, ctx, client, variable or "", provider_name, api, window).run()
        finally:
            cov = ctx.coverage
            cov.count("requests", client.stats.requests)
            cov.count("retries", client.stats.retries)
            for kind, n in client.stats.pages.items():
                cov.count(f"pages_{kind}", n)
