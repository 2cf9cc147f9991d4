"""Provider admin detectors: what OpenAI, Anthropic and Azure know of the organisation's keys.

``openai-admin`` and ``anthropic-admin`` read the organisation admin APIs (projects or
workspaces, every API key with its redacted value or hint, usage per key and model, cost)
with an admin key from the environment; ``azure-openai-inventory`` lists Azure OpenAI / AI
services accounts and their model deployments through Azure Resource Manager. None runs by
default. The HTTP and cloud SDK machinery is imported only inside ``run`` and ``diagnose``:
every ``scan`` imports this module to learn the options.
"""

from __future__ import annotations

from typing import Iterator

from detectors.provider_admin.common import (ENDPOINT_HELP, SINCE, admin_key, missing_packages, resolve_base,
                                             provider_api)
from scanner.detector import Check, Detector, DetectorError, ScanContext
from scanner.model import Finding
from scanner.options import Option


class _AdminApiDetector(Detector):
    """Shared by the OpenAI and Anthropic admin detectors: the key, the endpoint, the doctor checks."""

    provider = ""
    default = False
    offline = False
    packages = ("httpx",)
    extra = "admin"

    def available(self) -> tuple[bool, str]:
        return missing_packages(self.packages, self.extra)

    def diagnose(self) -> list[Check]:
        ok, why = self.available()
        checks = [Check("packages", ok, "httpx is installed" if ok else why,
                        "" if ok else f"pip install 'shadow-agent-scanner[{self.extra}]'", required=True)]
        api, _ = provider_api(self.provider)
        name, key = admin_key(api)
        wanted = " or ".join(api.key_env) or "an admin key variable"
        checks.append(Check("admin key", key is not None,
                            f"{name} is set" if key else f"{wanted} is not set",
                            "" if key else f"create an admin key at {api.console_url} and export {api.key_env[0]}",
                            required=True))
        try:
            base, source = resolve_base(None, api)
            checks.append(Check("endpoint", True, f"{base} ({source})"))
        except DetectorError as exc:
            checks.append(Check("endpoint", False, str(exc), "use https, or plain http only to a loopback address",
                                required=True))
            return checks
        if ok and key:
            from detectors.provider_admin.http import identity_check
            checks.append(identity_check(self.name, api, base, key, self._identity_path(), self._headers(key)))
        return checks

    def _identity_path(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def _headers(self, key: str) -> dict[str, str]:  # pragma: no cover - interface
        raise NotImplementedError


class OpenAIAdminDetector(_AdminApiDetector):
    name = "openai-admin"
    description = ("OpenAI organisation (admin key): projects, every API key and service account, admin keys, "
                   "usage per key and model, costs")
    provider = "openai"
    options = (
        SINCE,
        Option("endpoint", "str", None, ENDPOINT_HELP),
    )

    def _identity_path(self) -> str:
        return "/organization/projects?limit=1"

    def _headers(self, key: str) -> dict[str, str]:
        from detectors.provider_admin.openai import headers
        return headers(key)

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        from detectors.provider_admin.openai import scan
        yield from scan(self.name, ctx)


class AnthropicAdminDetector(_AdminApiDetector):
    name = "anthropic-admin"
    description = ("Anthropic organisation (admin key): workspaces, every API key with its hint and status, "
                   "usage per key and model, costs")
    provider = "anthropic"
    options = (
        SINCE,
        Option("endpoint", "str", None, ENDPOINT_HELP),
    )

    def _identity_path(self) -> str:
        return "/v1/organizations/me"

    def _headers(self, key: str) -> dict[str, str]:
        from detectors.provider_admin.anthropic import headers
        return headers(key)

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        from detectors.provider_admin.anthropic import scan
        yield from scan(self.name, ctx)


class AzureOpenAIInventoryDetector(Detector):
    name = "azure-openai-inventory"
    description = ("Azure OpenAI / AI services accounts and their model deployments (Azure Resource Manager, "
                   "DefaultAzureCredential)")
    default = False
    offline = False
    options = (
        Option("subscription", "list", None, "Subscription id(s) to list (default: every subscription the "
               "credential can see)."),
        Option("endpoint", "str", None, "Azure Resource Manager base URL (sovereign clouds, a test server; "
               "default: the SDK's public cloud)."),
    )

    def available(self) -> tuple[bool, str]:
        return missing_packages(("azure.identity", "azure.mgmt.cognitiveservices"), "azure")

    def diagnose(self) -> list[Check]:
        ok, why = self.available()
        checks = [Check("packages", ok, "azure-identity and azure-mgmt-cognitiveservices are installed" if ok else why,
                        "" if ok else "pip install 'shadow-agent-scanner[azure]'", required=True)]
        if ok:
            from detectors.provider_admin.azure import credential_check
            checks.append(credential_check())
        return checks

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        from detectors.provider_admin.azure import scan
        yield from scan(self.name, ctx)
