"""What the three billing detectors share: options, the catalogue match, and bill lines → findings.

A detector turns its source (an API, an export file, a pushed-down query) into :class:`Line`
aggregates; :func:`findings` matches them against the catalogue's ``billing`` rules and sums
them into one finding per (account, resource or service, model, currency).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Iterator

from scanner import identity, redact
from scanner.catalog import BillingRule, Catalog, glob_regex
from scanner.detector import Check, Detector, ScanContext
from scanner.model import Confidence, Finding, Location
from scanner.options import Option

KIND = "billing-line"
DAY = 86400.0
MAX_USAGE_SHOWN = 12  # usage lines (usage type / meter / SKU) listed in a finding's details

# Declared by all three detectors: the CLI maps one flag to every detector that declares it.

SINCE = Option("since", "duration", 30 * DAY, "How far back to read the bill (export files: back from their newest "
               "LLM line).", flag="--since")
MIN_SPEND = Option("min_spend", "float", 0.0, "Leave out resources that cost less than this over the period "
                   "(in the bill's currency).", flag="--min-spend", minimum=0)


def missing_packages(modules: Iterable[str], extra: str) -> tuple[bool, str]:
    """``available()`` for a detector whose SDKs are an optional extra: names what to install."""
    missing = [m for m in modules if _no_spec(m)]
    if not missing:
        return True, ""
    return False, (f"needs {', '.join(missing)}: pip install 'shadow-agent-scanner[{extra}]'")


def _no_spec(module: str) -> bool:
    """Whether ``module`` is missing, found without importing it (only its parent packages)."""
    try:
        return importlib.util.find_spec(module) is None
    except (ModuleNotFoundError, ValueError):
        return True


# What each SDK's credential chain would find, judged from the environment and local files only
# (``doctor`` must not call a cloud): (environment variables, files under HOME, what to do otherwise).
CREDENTIAL_HINTS = {
    "aws": (("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), (".aws/credentials", ".aws/config"),
            "aws configure sso (or set AWS_PROFILE); an instance or container role also works; "
            "or give CUR files with --aws-export"),
    "azure": (("AZURE_CLIENT_ID", "IDENTITY_ENDPOINT", "MSI_ENDPOINT", "AZURE_FEDERATED_TOKEN_FILE"),
              (".azure/azureProfile.json",), "az login (or a service principal in AZURE_CLIENT_ID, AZURE_TENANT_ID, "
              "AZURE_CLIENT_SECRET, or a managed identity); or give cost-details files with --azure-export"),
    "gcp": (("GOOGLE_APPLICATION_CREDENTIALS",), (".config/gcloud/application_default_credentials.json",),
            "gcloud auth application-default login (or GOOGLE_APPLICATION_CREDENTIALS=service-account.json); "
            "or give exported rows with --gcp-export"),
}


def credential_check(cloud: str) -> Check:
    """Whether the cloud's credential chain has something to start from here (not whether it is allowed)."""
    names, files, fix = CREDENTIAL_HINTS[cloud]
    found = [n for n in names if os.environ.get(n)]
    found += [f"~/{f}" for f in files if (Path.home() / f).is_file()]
    return Check("credentials", bool(found), f"found {', '.join(found)}" if found else
                 "none in the environment or the usual files (a role or metadata server may still provide them)",
                 "" if found else fix)


@dataclass
class Line:
    """One aggregated row of a bill, as a source returned it, before the catalogue match."""

    account: str
    service: str
    cost: float
    item: str = ""  # AWS usage type, Azure meter, GCP SKU
    subcategory: str = ""  # Azure meter subcategory
    product: str = ""  # Azure product name
    resource: str = ""
    principal: str = ""  # AWS IAM caller
    quantity: float | None = None
    unit: str = ""
    currency: str = "USD"
    account_name: str = ""
    day: str | None = None  # YYYY-MM-DD of the usage, when the source groups by day
    tags: dict[str, str] = field(default_factory=dict)
    owners: list[str] = field(default_factory=list)  # owner tag values a source found another way


@dataclass
class Window:
    """The period a run reads: ``start`` inclusive, ``end`` exclusive (dates)."""

    start: dt.date
    end: dt.date

    @classmethod
    def back_from(cls, end: dt.date, since_seconds: float) -> "Window":
        days = max(1, int(round(since_seconds / DAY)))
        return cls(end - dt.timedelta(days=days), end)

    @classmethod
    def until_today(cls, since_seconds: float) -> "Window":
        return cls.back_from(dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1), since_seconds)

    @property
    def text(self) -> str:
        """``2025-01-01/2025-01-30``: first and last day, both included."""
        return f"{self.start.isoformat()}/{(self.end - dt.timedelta(days=1)).isoformat()}"


def export_window(lines: list[Line], matcher: "Matcher", since: float) -> Window:
    """For files: ``since`` back from the newest LLM line in them, so an old export still reads."""
    days = [line.day for line in lines if line.day and matcher.match(line)]
    newest = dt.date.fromisoformat(max(days)) if days else dt.datetime.now(dt.timezone.utc).date()
    return Window.back_from(newest + dt.timedelta(days=1), since)


class Matcher:
    """The catalogue's billing rules for one cloud, compiled: which provider a line is, which model."""

    def __init__(self, catalog: Catalog, cloud: str):
        self.cloud = cloud
        self.rules = catalog.billing_rules.get(cloud, [])
        self._compiled = [(r, [glob_regex(s) for s in r.services], [glob_regex(s) for s in r.scoped_services],
                           [glob_regex(p) for p in r.item_patterns], [glob_regex(p) for p in r.all_items])
                          for r in self.rules]
        self.owner_keys = frozenset(_norm_tag(k) for k in catalog.owner_tags)

    # ---- what the SQL and API filters push down (over-matching is fine: match() decides) ----

    @property
    def services(self) -> list[str]:
        return sorted({s for r in self.rules for s in r.services})

    @property
    def scoped(self) -> list[tuple[str, list[str]]]:
        """(scoped service, item patterns that make its lines count)."""
        return [(s, [*r.item_patterns, *r.all_items]) for r in self.rules for s in r.scoped_services]

    def match(self, line: Line) -> BillingRule | None:
        service = line.service or ""
        for rule, services, scoped, items, all_items in self._compiled:
            if any(rx.fullmatch(service) for rx in services):
                return rule
            if any(rx.fullmatch(service) for rx in scoped):
                if any(rx.fullmatch(line.subcategory) for rx in all_items):
                    return rule
                if any(rx.fullmatch(text) for rx in items for text in (line.item, line.product, line.subcategory) if text):
                    return rule
        return None

    def matches_service(self, service: str) -> bool:
        """Whether any line of ``service`` can count (its name is listed, plain or scoped)."""
        return any(rx.fullmatch(service) for _, services, scoped, _, _ in self._compiled for rx in (*services, *scoped))

    @staticmethod
    def model(rule: BillingRule, line: Line) -> str | None:
        for text in (line.item, line.product, line.service):
            for rx in rule.model_patterns:
                m = rx.search(text or "")
                if m and m.group("model").strip():
                    return m.group("model").strip()
        return None

    def is_owner_tag(self, key: str) -> bool:
        return _norm_tag(key) in self.owner_keys

    def owners(self, tags: dict[str, str]) -> list[str]:
        return sorted({v.strip() for k, v in tags.items() if _norm_tag(k) in self.owner_keys and v and v.strip()})


_TAG_PREFIX = re.compile(r"^(?:user[:_]|iamprincipal/|aws[:_])", re.IGNORECASE)


def _norm_tag(key: str) -> str:
    return re.sub(r"[-:. /]", "_", _TAG_PREFIX.sub("", key.strip()).lower())


def parse_tags(value: Any) -> dict[str, str]:
    """Tags as exports write them: a JSON object, a list of ``{key, value}``, or Azure's brace-less JSON."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return {}
        for candidate in (text, "{" + text + "}"):
            try:
                value = json.loads(candidate)
                break
            except ValueError:
                continue
        else:
            return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        out = {}
        for item in value:
            if isinstance(item, dict) and "key" in item:
                out[str(item["key"])] = str(item.get("value") or "")
            elif isinstance(item, dict):  # several tag columns, each a JSON object
                out.update({str(k): str(v) for k, v in item.items() if v is not None})
        return out
    return {}


@dataclass
class _Group:
    rule: BillingRule
    account: str
    resource: str
    model: str | None
    currency: str
    cost: float = 0.0
    quantities: dict[str, float] = field(default_factory=dict)
    usage: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    services: set[str] = field(default_factory=set)
    owners: set[str] = field(default_factory=set)
    account_name: str = ""
    resource_id: str = ""
    principal: str = ""
    first: str | None = None
    last: str | None = None


def findings(detector: str, ctx: ScanContext, cloud: str, lines: Iterable[Line], window: Window,
             source: str) -> list[Finding]:
    """Match ``lines`` against the catalogue and sum them per (account, resource, model, currency).

    The resource is the finest unit the bill names: the IAM caller (AWS, when the export has it),
    the resource id, else the provider (all of that provider's spend in the account is one unit).
    """
    matcher = Matcher(ctx.catalog, cloud)
    groups: dict[tuple[str, str, str, str], _Group] = {}
    seen = unmatched = 0
    for line in lines:
        seen += 1
        _scrub(line)  # a bill is user data: a key pasted into a tag or a name must not reach the report
        rule = matcher.match(line)
        if rule is None:
            unmatched += 1
            continue
        if line.day and not (window.start.isoformat() <= line.day < window.end.isoformat()):
            continue
        resource = line.principal or line.resource or rule.provider
        if cloud == "azure" and resource.startswith("/"):
            resource = resource.lower()
        model = matcher.model(rule, line)
        key = (line.account, resource, model or "", line.currency or "USD")
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(rule, line.account, resource, model, line.currency or "USD")
        g.cost += line.cost
        if line.quantity is not None:
            g.quantities[line.unit] = g.quantities.get(line.unit, 0.0) + line.quantity
        u = g.usage.setdefault((line.item or line.service, line.unit), [0.0, 0.0])
        u[0] += line.cost
        u[1] += line.quantity or 0.0
        g.services.add(line.service)
        g.owners.update(matcher.owners(line.tags))
        g.owners.update(line.owners)
        g.account_name = g.account_name or line.account_name
        g.resource_id = g.resource_id or line.resource
        g.principal = g.principal or line.principal
        if line.day:
            g.first = min(g.first or line.day, line.day)
            g.last = max(g.last or line.day, line.day)
    ctx.coverage.count("bill_lines", seen)
    ctx.coverage.count("bill_lines_not_llm", unmatched)
    min_spend = float(ctx.option("min_spend", 0.0))
    out = []
    below = 0
    for key in sorted(groups):
        g = groups[key]
        if round(g.cost, 6) < min_spend:
            below += 1
            continue
        out.append(_finding(detector, cloud, g, window, source))
    if below:
        ctx.coverage.count("resources_below_min_spend", below)
    ctx.coverage.count("accounts", len({g.account for g in groups.values()}))
    return out


def _scrub(line: Line) -> None:
    for name in ("account", "service", "item", "subcategory", "product", "resource", "principal", "unit",
                 "account_name"):
        value = getattr(line, name)
        if value:
            setattr(line, name, redact.scrub(value))
    line.tags = {redact.scrub(k): redact.scrub(v) for k, v in line.tags.items()}
    line.owners = [redact.scrub(o) for o in line.owners]


def short_error(exc: BaseException, limit: int = 240) -> str:
    """First line of an SDK error, scrubbed, for a coverage reason."""
    text = str(exc).strip()
    return redact.scrub(text.splitlines()[0][:limit]) if text else type(exc).__name__


def _finding(detector: str, cloud: str, g: _Group, window: Window, source: str) -> Finding:
    keys = [identity.cloud(cloud, g.account, g.resource)]
    if cloud == "azure":
        name = azure_account_name(g.resource_id)
        if name:
            keys.append(identity.azure_openai_account(name))
    keys += [identity.owner(o) for o in sorted(g.owners)]
    quantity, unit = (None, None)
    if len(g.quantities) == 1 and next(iter(g.quantities)):  # one named unit: the total means something
        unit, quantity = next(iter(g.quantities.items()))
        quantity = round(quantity, 6)
    usage = sorted(g.usage.items(), key=lambda kv: (-kv[1][0], kv[0]))
    details: dict[str, Any] = {
        "source": source,
        "services": sorted(s for s in g.services if s),
        "usage": [{"item": item, "unit": u or None, "cost": round(c, 6), "quantity": round(q, 6)}
                  for (item, u), (c, q) in usage[:MAX_USAGE_SHOWN]],
    }
    if len(usage) > MAX_USAGE_SHOWN:
        details["usage_lines_not_shown"] = len(usage) - MAX_USAGE_SHOWN
    for name, value in (("account_name", g.account_name), ("resource_id", g.resource_id),
                        ("principal", g.principal), ("first_day", g.first), ("last_day", g.last)):
        if value:
            details[name] = value
    if g.owners:
        details["owner_tags"] = sorted(g.owners)
    what = g.model or ", ".join(details["services"][:2]) or g.rule.provider
    where = g.resource if g.resource != g.rule.provider else "the account"
    evidence = f"{g.cost:,.2f} {g.currency} billed for {what} by {where} in {cloud} account {g.account} ({window.text})"
    return Finding(
        detector=detector, kind=KIND, provider=g.rule.provider, model=g.model,
        location=Location(cloud=cloud, account=g.account, resource=g.resource),
        identity=keys, evidence=evidence,
        # a scoped service (SageMaker hosting) may bill models that are not LLMs unless a model is named
        confidence=Confidence.MEDIUM if g.model is None and g.rule.scoped_services and not g.rule.services
        else Confidence.HIGH,
        details=details, observed_at=g.last or (window.end - dt.timedelta(days=1)).isoformat(),
        cost=round(g.cost, 6), currency=g.currency, period=window.text, quantity=quantity, unit=unit or None,
    )


_ACCOUNT_ID = re.compile(r"/providers/microsoft\.cognitiveservices/accounts/([^/]+)$", re.IGNORECASE)


def azure_account_name(resource_id: str) -> str | None:
    """``myaoai`` from ``/subscriptions/…/providers/Microsoft.CognitiveServices/accounts/myaoai``."""
    m = _ACCOUNT_ID.search(resource_id.strip().rstrip("/")) if resource_id else None
    return m.group(1).lower() if m else None


class BillingDetector(Detector):
    """What the three cloud billing detectors share: their packages, the credential check, export files.

    Not offline: Cost Explorer, Athena, the Cost Management API and BigQuery are cloud calls
    (export files alone make none, but a scanned repository's config must not switch cloud
    calls on, so the detector as a whole is not offline).
    """

    default = False
    offline = False
    cloud: ClassVar[str] = ""
    packages: ClassVar[tuple[str, ...]] = ()  # import names, checked without importing them
    permissions: ClassVar[str] = ""  # what the credentials need, for doctor
    export_schema: ClassVar[str] = ""  # catalogue billing_exports id of the export files
    export_source: ClassVar[str] = ""  # how findings from export files name their source

    def available(self) -> tuple[bool, str]:
        return missing_packages(self.packages, self.cloud)

    def diagnose(self) -> list[Check]:
        """Packages (required) and whether credentials are there to start from; no cloud call."""
        check = credential_check(self.cloud)
        return [*super().diagnose(), Check(check.name, check.ok, f"{check.detail}; needs {self.permissions}", check.fix)]

    def export_findings(self, ctx: ScanContext, matcher: "Matcher", since: float,
                        window: "Window | None" = None) -> Iterator[Finding]:
        """Findings from the export files of the ``export`` option, aggregated in DuckDB."""
        from detectors.billing.files import read_exports
        lines = list(read_exports(ctx, ctx.option("export"), ctx.catalog.billing_exports[self.export_schema],
                                  matcher.services, matcher.scoped))
        yield from findings(self.name, ctx, self.cloud, lines, window or export_window(lines, matcher, since),
                            self.export_source)
