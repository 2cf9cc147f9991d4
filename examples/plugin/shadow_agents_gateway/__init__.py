"""An example plugin: one detector with options and one report format.

``gateway-log`` reads the JSON-lines access log of an in-house LLM gateway (one object
per request: ``app``, ``user``, ``provider``, ``model``) and reports each calling app
as an agent. ``tsv`` renders the inventory as tab-separated lines. Both register
through entry points (see pyproject.toml); shadow-agents needs no change to use them.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import IO, Iterator

from scanner.detector import Detector, DetectorError, ScanContext
from scanner.model import Confidence, Finding, Inventory, Location
from scanner.options import Option


class GatewayLogDetector(Detector):
    name = "gateway-log"
    description = "Apps calling LLMs through the in-house gateway (JSON-lines access log)"
    default = False  # runs only when asked for: -d gateway-log
    options = (
        Option("log", "paths", None, "Gateway access log to read (repeatable).", flag="--gateway-log"),
        Option("min_requests", "int", 1, "Report an app only from this many requests on.", minimum=1),
    )

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        logs = ctx.option("log")
        if not logs:
            raise DetectorError("no gateway log: give --gateway-log FILE")
        requests: Counter[tuple[str, str, str, str]] = Counter()
        for path in logs:
            try:
                with open(path, encoding="utf-8") as fh:
                    for n, line in enumerate(fh, 1):
                        try:
                            rec = json.loads(line)
                            requests[(rec["app"], rec.get("user", ""), rec["provider"], rec.get("model", ""))] += 1
                        except (ValueError, KeyError, TypeError):
                            ctx.coverage.add_gap(f"{path}:{n}", "not a gateway log record")
            except OSError as exc:
                ctx.coverage.add_gap(str(path), f"cannot read: {exc.strerror or exc}")
        for (app, user, provider, model), count in sorted(requests.items()):
            if count < ctx.option("min_requests"):
                continue
            yield Finding(detector=self.name, kind="http-request", location=Location(resource=app, user=user or None),
                          identity=[f"gateway:{app}"] + ([f"owner:{user}"] if user else []),
                          evidence=f"{count} requests to {provider}" + (f" ({model})" if model else ""),
                          provider=provider, model=model or None, confidence=Confidence.HIGH,
                          details={"requests": count})


class TsvFormat:
    name = "tsv"
    description = "Tab-separated agents: id, status, severity, name, providers"
    extensions = (".tsv",)

    def render(self, inventory: Inventory, stream: IO[str]) -> None:
        stream.write("id\tstatus\tseverity\tname\tproviders\n")
        for a in inventory.agents:
            cells = [a.id, a.status.value, a.severity.value, a.name, ",".join(a.providers)]
            stream.write("\t".join(c.replace("\t", " ").replace("\n", " ") for c in cells) + "\n")
