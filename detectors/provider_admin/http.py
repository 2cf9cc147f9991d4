"""One HTTP client for the admin APIs: bounded retries with backoff, pagination to the end, counts.

Transient answers (429, 5xx, timeouts, dropped connections) are retried at most
:data:`MAX_RETRIES` times, waiting what ``Retry-After`` / ``retry-after-ms`` says (capped at
:data:`MAX_WAIT` seconds) or an exponential backoff; the wait ends early when the scan is
cancelled. Errors carry the provider's own message, scrubbed of every remembered secret. The
admin key is only ever a request header: never in a URL, a message or a log line.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import httpx

from scanner import redact
from scanner.detector import Cancelled, Check, ScanContext

MAX_RETRIES = 4
MAX_WAIT = 60.0
MAX_PAGES = 1000  # per listing: a server whose cursor never ends cannot hold the scan
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
log = logging.getLogger("shadow_agents")


class ApiError(Exception):
    """A refused or failed call: the HTTP status (None for a transport error) and the provider's message."""

    def __init__(self, status: int | None, message: str, path: str):
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.path = path


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    pages: dict[str, int] = field(default_factory=dict)


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    ms = response.headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def _message(response: httpx.Response) -> str:
    """The provider's error message (OpenAI ``error.message``, Anthropic ``error.message``), scrubbed, short."""
    try:
        body = response.json()
        err = body.get("error") if isinstance(body, dict) else None
        text = (err.get("message") or err.get("type") or "") if isinstance(err, dict) else str(err or "")
    except ValueError:
        text = response.text[:200]
    return redact.scrub(" ".join(str(text).split()))[:300] or response.reason_phrase


class AdminClient:
    """GET-only JSON client on one base URL, with the given headers (the admin key among them)."""

    def __init__(self, ctx: ScanContext | None, base_url: str, headers: dict[str, str],
                 max_retries: int = MAX_RETRIES, timeout: httpx.Timeout = TIMEOUT):
        self.ctx = ctx
        self.max_retries = max_retries
        self.stats = Stats()
        self._http = httpx.Client(base_url=base_url + "/", headers=headers, timeout=timeout, follow_redirects=False)

    def __enter__(self) -> "AdminClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._http.close()

    def _wait(self, seconds: float) -> None:
        if self.ctx is None:
            time.sleep(seconds)
        elif self.ctx.cancel_event.wait(seconds):
            raise Cancelled(self.ctx.detector)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON body of ``GET path``; retries transient failures, raises :class:`ApiError` otherwise."""
        for attempt in range(self.max_retries + 1):
            if self.ctx is not None:
                self.ctx.check_cancelled()
            response: httpx.Response | None = None
            try:
                response = self._http.get(path.lstrip("/"), params=params)
                self.stats.requests += 1
            except httpx.TransportError as exc:
                self.stats.requests += 1
                failure = ApiError(None, f"{type(exc).__name__}: {redact.scrub(str(exc))}"[:300], path)
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise ApiError(response.status_code, "the answer is not JSON", path) from None
                failure = ApiError(response.status_code, _message(response), path)
                if response.status_code not in RETRY_STATUS:
                    raise failure
            if attempt == self.max_retries:
                raise failure
            hinted = _retry_after(response)
            wait = min(MAX_WAIT, hinted if hinted is not None else 0.5 * 2 ** attempt * (1 + random.random() / 4))
            self.stats.retries += 1
            log.debug("%s: %s, retry %d in %.1fs", path, failure, attempt + 1, wait)
            self._wait(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _page(self, kind: str) -> None:
        self.stats.pages[kind] = self.stats.pages.get(kind, 0) + 1

    def listing(self, path: str, params: dict[str, Any], cursor: str, kind: str) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paged list: ``has_more`` + ``last_id`` (or the last item's id) → ``cursor``."""
        params = dict(params)
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body = _object(self.get(path, params))
            self._page(kind)
            items = [d for d in body.get("data") or [] if isinstance(d, dict)]
            yield from items
            after = body.get("last_id") or (items[-1].get("id") if items else None)
            if not body.get("has_more") or not after or after in seen:
                return
            seen.add(after)
            params[cursor] = after
        raise ApiError(None, f"more than {MAX_PAGES} pages; the rest was not read", path)

    def report(self, path: str, params: dict[str, Any], kind: str) -> Iterator[dict[str, Any]]:
        """Every time bucket of a usage or cost report: ``has_more`` + ``next_page`` → ``page``."""
        params = dict(params)
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body = _object(self.get(path, params))
            self._page(kind)
            yield from (b for b in body.get("data") or [] if isinstance(b, dict))
            token = body.get("next_page")
            if not body.get("has_more") or not token or token in seen:
                return
            seen.add(token)
            params["page"] = token
        raise ApiError(None, f"more than {MAX_PAGES} pages; the rest was not read", path)


def _object(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


def identity_check(detector: str, api: Any, base: str, key: str, path: str, headers: dict[str, str]) -> Check:
    """The doctor's one cheap call: is the admin key accepted? (no retries, short timeout)."""
    variable = next(iter(api.key_env), "the admin key")
    try:
        with AdminClient(None, base, headers, max_retries=0, timeout=httpx.Timeout(10.0)) as client:
            body = client.get(path)
    except ApiError as exc:
        fix = (f"{variable} must be an organisation admin key ({api.console_url})" if exc.status in (401, 403)
               else "check the network path to the endpoint")
        return Check("admin key accepted", False, f"{detector}: {exc}", fix, required=True)
    name = body.get("name") if isinstance(body, dict) else None
    return Check("admin key accepted", True, f"accepted by {base}" + (f" (organisation {name})" if name else ""))
