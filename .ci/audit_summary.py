"""Read pip-audit's JSON report: fail on a known vulnerability; say plainly when the
vulnerability service could not be asked about a dependency instead of calling it clean."""

import json
import sys

report = json.load(open(sys.argv[1]))
deps = report.get("dependencies", [])
skipped = [d for d in deps if d.get("skip_reason")]
audited = [d for d in deps if not d.get("skip_reason")]
vulnerable = [d for d in audited if d.get("vulns")]
for d in vulnerable:
    for v in d["vulns"]:
        fixes = ", ".join(v.get("fix_versions") or []) or "no fixed version"
        print(f"pip-audit: {d['name']} {d['version']}: {v['id']} (fixed in {fixes})")
if deps and not audited:
    print(f"pip-audit: skipped: the vulnerability service could not be reached for any of the {len(deps)} "
          f"installed packages (first: {skipped[0]['skip_reason']}); nothing was audited")
    sys.exit(0)
if skipped:
    print(f"pip-audit: {len(skipped)} of {len(deps)} packages could not be audited: "
          + ", ".join(d["name"] for d in skipped[:10]))
print(f"pip-audit: {len(audited)} packages audited, {len(vulnerable)} with known vulnerabilities")
sys.exit(1 if vulnerable else 0)
