"""``azure-openai-inventory``: Azure OpenAI / AI services accounts and their model deployments.

azure-mgmt-cognitiveservices over Azure Resource Manager with azure-identity's
``DefaultAzureCredential``: ``accounts.list()`` per subscription (the catalogue's account
kinds: OpenAI, AIServices), ``deployments.list()`` per account (model name and version, SKU,
capacity). Subscriptions are the ``subscription`` option's, else every one the credential sees
(``GET /subscriptions``). Reading needs the built-in **Reader** role; account keys are never
asked for. Each account carries ``azure-openai:<name>`` (and ``azure-openai:<custom subdomain>``
when its endpoint label differs), the key the billing detector and the findings of
``<name>.openai.azure.com`` carry, so deployments, bill and callers are one agent.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from typing import Any, Iterator
from urllib.parse import urlsplit

from detectors.endpoints import is_loopback_url
from scanner import identity, redact
from scanner.detector import Check, DetectorError, ScanContext
from scanner.model import Confidence, CoverageStatus, Finding, Location

PROVIDER = "azure-openai"
ROLE = "Reader"
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
MAX_PAGES = 200
RETRY = {"retry_total": 4, "retry_backoff_factor": 0.8, "retry_backoff_max": 60}
_RESOURCE_GROUP = re.compile(r"/resourceGroups/([^/]+)/", re.IGNORECASE)
_USABLE_STATES = {"enabled", "warned", "pastdue"}


def _settings(endpoint: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(client keyword arguments, per-call keyword arguments) for ``endpoint`` (None: the SDK's cloud)."""
    kwargs: dict[str, Any] = dict(RETRY)
    per_call: dict[str, Any] = {}
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DetectorError(f"azure-openai-inventory endpoint is not an http(s) URL: {redact.scrub(endpoint)}")
        if parts.scheme == "http":
            if not is_loopback_url(endpoint):
                raise DetectorError("azure-openai-inventory endpoint: plain http is accepted only to a loopback "
                                    "address (the bearer token would travel in clear)")
            per_call["enforce_https"] = False
        kwargs["credential_scopes"] = [endpoint.rstrip("/") + "/.default"]
    return kwargs, per_call


def _short(exc: Exception) -> str:
    text = getattr(getattr(exc, "error", None), "message", None) or getattr(exc, "message", None) or str(exc)
    return redact.scrub(" ".join(str(text).split()))[:300]


def _configured_sources() -> tuple[list[str], bool]:
    """(credential sources set up on this machine, whether one is a managed identity endpoint).

    Read from the environment and PATH only: doctor must not probe the instance metadata
    address to find out whether this is an Azure VM.
    """
    env = os.environ
    found = []
    if env.get("AZURE_CLIENT_ID") and env.get("AZURE_TENANT_ID") and (
            env.get("AZURE_CLIENT_SECRET") or env.get("AZURE_CLIENT_CERTIFICATE_PATH")):
        found.append("service principal in the environment")
    if env.get("AZURE_FEDERATED_TOKEN_FILE"):
        found.append("workload identity")
    managed = bool(env.get("IDENTITY_ENDPOINT") or env.get("MSI_ENDPOINT"))
    if managed:
        found.append("managed identity endpoint")
    for tool, label in (("az", "Azure CLI"), ("azd", "Azure Developer CLI")):
        if shutil.which(tool):
            found.append(label)
    return found, managed


def credential_check() -> Check:
    """The doctor's check: can ``DefaultAzureCredential`` get an ARM token here? (no ARM call).

    The instance metadata address is not probed (``exclude_managed_identity_credential``)
    unless a managed identity endpoint is configured; a VM's identity is tried by the scan.
    """
    from azure.core.exceptions import ClientAuthenticationError
    from azure.core.settings import settings
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.core.tools import get_arm_endpoints

    fix = "az login, a managed identity, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET"
    sources, managed = _configured_sources()
    if not sources:
        return Check("Azure credential", False, "no Azure credential is configured here (a VM's managed identity is "
                     "not probed by doctor; the scan tries it)", fix, required=True)
    scopes = get_arm_endpoints(settings.current.azure_cloud)["credential_scopes"]
    quiet = logging.getLogger("azure.identity")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its own failure warning would repeat the detail below on stderr
    try:
        with DefaultAzureCredential(exclude_managed_identity_credential=not managed) as credential:
            credential.get_token(*scopes)
    except ClientAuthenticationError as exc:
        first = redact.scrub(str(getattr(exc, "message", None) or exc).strip().splitlines()[0])[:200]
        return Check("Azure credential", False, f"{', '.join(sources)}: {first}", fix, required=True)
    finally:
        quiet.setLevel(level)
    return Check("Azure credential", True, f"a token for {scopes[0]} ({', '.join(sources)}); the scan needs the "
                 f"{ROLE} role on each subscription")


def scan(detector: str, ctx: ScanContext) -> Iterator[Finding]:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

    api = ctx.catalog.providers[PROVIDER].admin_api if PROVIDER in ctx.catalog.providers else None
    kinds = {k.lower() for k in (api.account_kinds if api else ())}
    endpoint = ctx.option("endpoint")
    kwargs, per_call = _settings(endpoint)
    credential = DefaultAzureCredential()

    def client(subscription: str) -> Any:
        return CognitiveServicesManagementClient(credential, subscription, base_url=endpoint or None, **kwargs)

    try:
        subscriptions = [s.strip() for s in ctx.option("subscription") or [] if s.strip()]
        if not subscriptions:
            subscriptions = _subscriptions(ctx, client("00000000-0000-0000-0000-000000000000"), per_call)
        ctx.coverage.count("subscriptions", len(subscriptions))
        failed = 0
        for n, sub in enumerate(subscriptions):
            ctx.check_cancelled()
            ctx.progress(n, len(subscriptions), f"subscription {sub}")
            mgmt = client(sub)
            try:
                accounts = list(mgmt.accounts.list(**per_call))
                ctx.coverage.count("list_calls")
            except HttpResponseError as exc:
                if isinstance(exc, ClientAuthenticationError):
                    raise
                failed += 1
                ctx.coverage.add_gap(f"subscription {sub}", _refusal(exc, f"subscription {sub}"))
                continue
            for account in sorted(accounts, key=lambda a: str(a.id)):
                if str(account.kind or "").lower() not in kinds:
                    ctx.coverage.count("other_cognitive_services_accounts")
                    continue
                ctx.coverage.count("accounts")
                yield from _account(detector, ctx, mgmt, per_call, sub, account)
        if subscriptions and failed == len(subscriptions):
            ctx.coverage.status = CoverageStatus.FAILED
            ctx.coverage.reason = ctx.coverage.gaps[0].reason if ctx.coverage.gaps else "every subscription failed"
    except ClientAuthenticationError as exc:
        raise DetectorError(f"no usable Azure credentials (az login, a managed identity, or AZURE_CLIENT_ID/"
                            f"AZURE_TENANT_ID/AZURE_CLIENT_SECRET): {_short(exc)}") from None
    finally:
        credential.close()


def _subscriptions(ctx: ScanContext, mgmt: Any, per_call: dict[str, Any]) -> list[str]:
    """Every subscription the credential can use (``GET /subscriptions``, following ``nextLink``)."""
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest

    out: list[str] = []
    url: str | None = f"/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}"
    for _ in range(MAX_PAGES):
        if not url:
            return sorted(set(out))
        response = mgmt._send_request(HttpRequest("GET", url), **per_call)  # the SDK's documented raw call
        ctx.coverage.count("list_calls")
        try:
            response.raise_for_status()
        except HttpResponseError as exc:
            raise DetectorError(f"cannot list subscriptions ({_refusal(exc, 'the tenant')}); name them with "
                                "--set azure-openai-inventory.subscription=ID") from None
        body = response.json()
        for s in body.get("value") or []:
            if str(s.get("state") or "Enabled").lower() in _USABLE_STATES and s.get("subscriptionId"):
                out.append(str(s["subscriptionId"]))
        url = body.get("nextLink")
    ctx.coverage.add_gap("subscriptions", f"more than {MAX_PAGES} pages; the rest was not read")
    return sorted(set(out))


def _refusal(exc: Any, scope: str) -> str:
    code = getattr(getattr(exc, "error", None), "code", None) or ""
    if exc.status_code in (401, 403) or code in ("AuthorizationFailed", "RBACAccessDenied"):
        return f"access denied: grant the {ROLE} role on {scope}"
    if exc.status_code == 429:
        return "still throttled after retries"
    return f"HTTP {exc.status_code} {code}: {_short(exc)}".strip()[:300]


def _account(detector: str, ctx: ScanContext, mgmt: Any, per_call: dict[str, Any], sub: str,
             account: Any) -> Iterator[Finding]:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    props = account.properties
    name = str(account.name or "")
    rid = str(account.id or "")
    m = _RESOURCE_GROUP.search(rid + "/")
    group = m.group(1) if m else ""
    subdomain = getattr(props, "custom_sub_domain_name", None) if props else None
    keys = sorted({identity.azure_openai_account(n) for n in (name, subdomain) if n})
    deployments: list[Any] = []
    try:
        deployments = list(mgmt.deployments.list(group, name, **per_call))
        ctx.coverage.count("list_calls")
    except HttpResponseError as exc:
        if isinstance(exc, ClientAuthenticationError):
            raise
        ctx.coverage.add_gap(f"deployments of {name}", _refusal(exc, rid))
    local_auth_disabled = bool(getattr(props, "disable_local_auth", False)) if props else False
    endpoint = getattr(props, "endpoint", None) if props else None
    location = Location(cloud="azure", account=sub, resource=rid)
    evidence = (f"Azure {account.kind} account {name} ({account.location}, resource group {group}): "
                f"{len(deployments)} deployment{'s' if len(deployments) != 1 else ''}, "
                f"key authentication {'disabled' if local_auth_disabled else 'enabled'}"
                + (f", endpoint {endpoint}" if endpoint else ""))
    yield Finding(
        detector=detector, kind="azure-openai-account", location=location, identity=keys, evidence=evidence,
        provider=PROVIDER, confidence=Confidence.HIGH, endpoint=endpoint, tags=_tags(account),
        details={k: v for k, v in {
            "name": name, "kind": account.kind, "region": account.location, "resource_group": group,
            "subscription": sub, "custom_subdomain": subdomain,
            "endpoints": dict(getattr(props, "endpoints", None) or {}) or None,
            "local_auth_disabled": local_auth_disabled,
            "public_network_access": getattr(props, "public_network_access", None) if props else None,
            "sku": account.sku.name if account.sku else None,
            "deployments": len(deployments),
        }.items() if v is not None},
    )
    for d in sorted(deployments, key=lambda d: str(d.id)):
        dprops = d.properties
        model = dprops.model if dprops else None
        model_name = str(model.name) if model and model.name else None
        sku = d.sku
        yield Finding(
            detector=detector, kind="azure-openai-deployment",
            location=Location(cloud="azure", account=sub, resource=str(d.id)), identity=keys,
            evidence=(f"deployment {d.name} of {name}: {model_name or 'no model'}"
                      + (f" version {model.version}" if model and model.version else "")
                      + (f", SKU {sku.name} capacity {sku.capacity}" if sku else "")),
            provider=PROVIDER, model=model_name, confidence=Confidence.HIGH, tags=_tags(d),
            details={k: v for k, v in {
                "account": name, "deployment": d.name, "model_format": model.format if model else None,
                "model_version": model.version if model else None, "sku": sku.name if sku else None,
                "capacity": sku.capacity if sku else None,
                "provisioning_state": getattr(dprops, "provisioning_state", None) if dprops else None,
                "rai_policy": getattr(dprops, "rai_policy_name", None) if dprops else None,
            }.items() if v is not None},
        )


def _tags(resource: Any) -> dict[str, str]:
    """A resource's tags as text (the registry's ``match.tags`` compares text)."""
    return {str(k): str(v) for k, v in (getattr(resource, "tags", None) or {}).items()}
