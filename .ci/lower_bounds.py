"""The requirements the lower-bounds job installs: every dependency of the package and of the
extras it names, plus the test tools its quick subset needs, as declared in pyproject.toml
(uv then resolves each direct one to the lowest version the declaration allows)."""

import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

EXTRAS = ("admin", "zstd")  # the cloud extras' minimums are left to their own run: large, and slow to install
TEST_TOOLS = ("pytest", "hypothesis", "jsonschema")

project = tomllib.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml").read_text())["project"]
extras = project["optional-dependencies"]
wanted = list(project["dependencies"]) + [d for e in EXTRAS for d in extras[e]]
wanted += [d for d in extras["test"] if d.split(">")[0].split("[")[0].strip() in TEST_TOOLS]
print("\n".join(d.split("#")[0].strip() for d in wanted))
