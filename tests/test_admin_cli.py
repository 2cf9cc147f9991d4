"""End to end through the installed console script: a key in a repository joins the key OpenAI lists.

Also the leak test: the admin key appears in no output, log or file, ``--verbose`` included, even
when the server echoes it back in an error.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.fixtures.admin_fakes import OpenAIOrg, Server
from tests.keys import make_key

NOW = int(time.time())
ADMIN = make_key("openai-admin", 7)


def repo_with_key(root: Path, key: str) -> Path:
    repo = root / "bot"
    repo.mkdir()
    (repo / "requirements.txt").write_text("openai==1.40.0\n")
    (repo / "app.py").write_text(f'from openai import OpenAI\nclient = OpenAI(api_key="{key}")\n'
                                 'client.chat.completions.create(model="gpt-4o", messages=[])\n')
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def org_listing(held: str, unheld: str) -> OpenAIOrg:
    org = OpenAIOrg(admin_key=ADMIN)
    org.projects = [{"object": "organization.project", "id": "proj_a", "name": "Prod", "created_at": NOW - 9000,
                     "status": "active"}]
    owner = {"type": "user", "user": {"id": "u1", "email": "alice@example.com", "name": "Alice", "role": "owner",
                                      "created_at": NOW - 9000}}
    org.keys = {"proj_a": [
        {"object": "organization.project.api_key", "id": "key_bot", "name": "bot", "owner": owner,
         "redacted_value": f"sk-proj-...{held[-4:]}", "created_at": NOW - 9000, "last_used_at": NOW - 60,
         "owner_project_access": "active"},
        {"object": "organization.project.api_key", "id": "key_ghost", "name": "ghost", "owner": owner,
         "redacted_value": f"sk-proj-...{unheld[-4:]}", "created_at": NOW - 9000, "last_used_at": NOW - 120,
         "owner_project_access": "inactive"},
    ]}
    org.usage = {"completions": [
        {"input_tokens": 400, "output_tokens": 40, "num_model_requests": 4, "api_key_id": "key_bot",
         "project_id": "proj_a", "model": "gpt-4.1"},
        {"input_tokens": 9000, "output_tokens": 900, "num_model_requests": 90, "api_key_id": "key_ghost",
         "project_id": "proj_a", "model": "gpt-4o"},
    ]}
    org.costs = [{"amount": {"value": 7.5, "currency": "usd"}, "project_id": "proj_a", "api_key_id": "key_ghost"}]
    return org


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]


def assert_absent(secret: str, texts: list[str], root: Path) -> None:
    middle = secret[8:-4]  # more than any preview shows
    for text in texts:
        assert secret not in text and middle not in text
    for path in files_under(root):
        data = path.read_bytes()
        assert secret.encode() not in data and middle.encode() not in data, path


def test_repo_key_joins_the_listed_key_and_an_unheld_live_key_is_shadow(run_cli, workdir, tmp_path):
    held, unheld = make_key("openai-project", 21), make_key("openai-project", 22)
    repo = repo_with_key(workdir, held)
    org = org_listing(held, unheld)
    out = workdir / "scan.json"
    with Server(None) as server:  # type: ignore[arg-type]
        server.handle = org.handle(server)
        r = run_cli("scan", "-d", "repo", "-d", "openai-admin", "-p", str(repo), "-f", "json", "-o", str(out), "--verbose",
                    "--set", f"openai-admin.endpoint={server.url}/v1", "--set", "openai-admin.since=7d",
                    env={"OPENAI_ADMIN_KEY": ADMIN})
    assert r.code == 1, r.err  # a shadow agent: fails --fail-on shadow
    assert server.violations == []
    inv = json.loads(out.read_text())
    findings = {f["id"]: f for f in inv["findings"]}
    key_in_code = next(f for f in inv["findings"] if f["detector"] == "repo" and f.get("credential"))
    assert key_in_code["details"]["listed_key"]["status"] == "matched"
    assert key_in_code["details"]["listed_key"]["key"] == "keyid:openai:key_bot"
    assert key_in_code["details"]["listed_key"]["strength"] == "partial"
    bot = next(a for a in inv["agents"] if key_in_code["id"] in a["findings"])
    kinds = sorted(findings[f]["kind"] for f in bot["findings"])
    assert "listed-api-key" in kinds and "provider-usage" in kinds
    assert "keyid:openai:key_bot" in bot["identity"] and "gpt-4.1" in bot["models"]  # the provider saw gpt-4.1
    ghost = next(a for a in inv["agents"] if "keyid:openai:key_ghost" in a["identity"])
    assert ghost["status"] == "shadow" and ghost["spend"] == {"USD": 7.5}
    reason = next(x["message"] for x in ghost["reasons"] if x["code"] == "key-in-use-no-holder")
    assert "key in use, no known holder" in reason and "90 requests" in reason and "7.50 USD" in reason
    cov = next(c for c in inv["coverage"] if c["detector"] == "openai-admin")
    assert cov["status"] == "ran" and cov["scanned"]["requests"] == len(server.requests)
    start = int(next(q for q in server.requests if q.path.endswith("/usage/completions")).one("start_time"))
    assert abs(start - (NOW - 7 * 86400)) < 300  # --set openai-admin.since=7d
    assert_absent(ADMIN, [r.out, r.err], tmp_path)


def test_admin_key_echoed_by_a_refusing_server_is_in_no_output_log_or_file(run_cli, workdir, tmp_path):
    wrong = make_key("openai-admin", 8)  # the fake answers 401 and echoes the key it was given, whole
    repo = repo_with_key(workdir, make_key("openai-project", 23))
    with Server(None) as server:  # type: ignore[arg-type]
        server.handle = org_listing(ADMIN, ADMIN).handle(server)
        r = run_cli("scan", "-d", "repo", "-d", "openai-admin", "-p", str(repo), "-f", "json", "--verbose",
                    "-o", str(workdir / "report.json"), "--set", f"openai-admin.endpoint={server.url}/v1",
                    env={"OPENAI_ADMIN_KEY": wrong})
    assert r.code == 2, r.err  # the key was refused: an input error; the report is still written
    inv = json.loads((workdir / "report.json").read_text())
    cov = next(c for c in inv["coverage"] if c["detector"] == "openai-admin")
    assert cov["status"] == "failed" and "OPENAI_ADMIN_KEY must be an admin key" in cov["reason"]
    assert any(f["detector"] == "repo" for f in inv["findings"])  # nothing found is lost
    assert "refused" in r.err
    assert_absent(wrong, [r.out, r.err], tmp_path)
