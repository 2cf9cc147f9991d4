"""Billing export files read by DuckDB (generated here), the catalogue's billing rules, and shared flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import jsonschema

from scanner.catalog import Catalog
from scanner.model import Inventory
from scanner.cli import shared_flags
from scanner.errors import InputError
from scanner.options import Option
from tests.keys import make_key

duckdb = pytest.importorskip("duckdb")

CLAUDE = "Claude 3.5 Sonnet (Amazon Bedrock Edition)"
ROLE = "arn:aws:iam::111111111111:role/support-bot"
CUR_COLUMNS = ("line_item_usage_account_id VARCHAR, product MAP(VARCHAR, VARCHAR), line_item_product_code VARCHAR, "
               "line_item_usage_type VARCHAR, line_item_resource_id VARCHAR, line_item_iam_principal VARCHAR, "
               "line_item_unblended_cost DOUBLE, line_item_usage_amount DOUBLE, pricing_unit VARCHAR, "
               "line_item_currency_code VARCHAR, line_item_usage_start_date TIMESTAMP, line_item_line_item_type VARCHAR, "
               "resource_tags MAP(VARCHAR, VARCHAR)")

ROWS = [  # account, product name, code, usage type, resource, principal, cost, qty, unit, day, line type, tags
    ("111111111111", CLAUDE, "abc123market", "USE1-MP:USE1_InputTokenCount-Units", "", ROLE, 0.1, 1000.0, "Units",
     "2025-03-30", "Usage", {"user_owner": "dana@example.com"}),
    ("111111111111", CLAUDE, "abc123market", "USE1-MP:USE1_OutputTokenCount-Units", "", ROLE, 0.2, 100.0, "Units",
     "2025-03-31", "Usage", {"user_owner": "dana@example.com"}),
    ("111111111111", CLAUDE, "abc123market", "USE1-MP:USE1_OutputTokenCount-Units", "", ROLE, 0.05, 0.0, "Units",
     "2025-03-31", "Tax", {}),  # tax is not usage
    ("111111111111", CLAUDE, "abc123market", "USE1-MP:USE1_InputTokenCount-Units", "", ROLE, 50.0, 1.0, "Units",
     "2024-12-01", "Usage", {}),  # outside --since 30d back from the newest line
    ("222222222222", "Amazon SageMaker", "AmazonSageMaker", "USE1-Host:ml.g5.2xlarge",
     "arn:aws:sagemaker:us-east-1:222222222222:endpoint/llm", "", 30.0, 24.0, "Hrs", "2025-03-15", "Usage",
     {"user_team": "research"}),
    ("222222222222", "Amazon SageMaker", "AmazonSageMaker", "USE1-Notebk:ml.t3.medium", "", "", 5.0, 24.0, "Hrs",
     "2025-03-15", "Usage", {}),  # a notebook is not inference
    ("222222222222", "Amazon Elastic Compute Cloud", "AmazonEC2", "BoxUsage:m5.large", "i-1", "", 99.0, 24.0, "Hrs",
     "2025-03-15", "Usage", {"user_owner": "ops"}),
]


def _values(rows) -> str:
    def sql(v):
        if isinstance(v, dict):
            return "MAP {" + ", ".join(f"'{k}': '{x}'" for k, x in v.items()) + "}" if v else "MAP {}::MAP(VARCHAR, VARCHAR)"
        return repr(v) if isinstance(v, float) else "'" + str(v).replace("'", "''") + "'"
    out = []
    for acct, name, code, usage, res, principal, cost, qty, unit, day, kind, tags in rows:
        out.append(f"({sql(acct)}, MAP {{'product_name': {sql(name)}}}, {sql(code)}, {sql(usage)}, {sql(res)}, "
                   f"{sql(principal)}, {cost!r}, {qty!r}, {sql(unit)}, 'USD', TIMESTAMP '{day} 00:00:00', {sql(kind)}, "
                   f"{sql(tags)})")
    return ", ".join(out)


def write_cur(directory: Path, rows=ROWS) -> tuple[Path, Path]:
    """The same lines as Parquet (maps) and as gzipped CSV (maps as JSON text), like Data Exports write them."""
    directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE cur ({CUR_COLUMNS})")
    con.execute(f"INSERT INTO cur VALUES {_values(rows)}")
    parquet, csv = directory / "part-00000.snappy.parquet", directory / "csv" / "part-00000.csv.gz"
    csv.parent.mkdir()
    con.execute(f"COPY cur TO '{parquet}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT * REPLACE (to_json(product) AS product, to_json(resource_tags) AS resource_tags) "
                f"FROM cur) TO '{csv}' (FORMAT csv, HEADER, COMPRESSION gzip)")
    return parquet, csv


@pytest.mark.parametrize("fmt", ["parquet", "csv.gz"])
def test_cur_export_sums_llm_lines_exactly(run_cli, tmp_path, fmt):
    parquet, csv = write_cur(tmp_path / "cur")
    r = run_cli("scan", "-d", "aws-billing", "--aws-export", str(parquet if fmt == "parquet" else csv), "-f", "json")
    assert r.code == 1, r.err
    inv = r.json()
    by_resource = {f["location"]["resource"]: f for f in inv["findings"]}
    assert set(by_resource) == {ROLE, "arn:aws:sagemaker:us-east-1:222222222222:endpoint/llm"}
    claude = by_resource[ROLE]
    assert claude["cost"] == pytest.approx(0.3, abs=1e-9)  # not the tax, not the December line
    assert claude["model"] == "Claude 3.5 Sonnet" and claude["quantity"] == 1100 and claude["unit"] == "Units"
    assert claude["period"] == "2025-03-02/2025-03-31" and claude["observed_at"] == "2025-03-31"
    assert f"cloud:aws:111111111111:{ROLE}" in claude["identity"] and "owner:dana@example.com" in claude["identity"]
    sagemaker = by_resource["arn:aws:sagemaker:us-east-1:222222222222:endpoint/llm"]
    assert sagemaker["provider"] == "aws-sagemaker" and sagemaker["confidence"] == "medium"
    assert inv["summary"]["spend"] == {"USD": 30.3}
    # the report is valid against the published schema, and quantity/unit survive a round trip
    schema = json.loads((Path(__file__).resolve().parent.parent / "scanner" / "data" / "inventory.schema.json")
                        .read_text())
    jsonschema.validate(inv, schema)
    assert Inventory.from_dict(inv).to_json() == r.out


def test_export_directory_walk_min_spend_and_gaps(run_cli, tmp_path):
    root = tmp_path / "exports"
    write_cur(root / "BILLING_PERIOD=2025-03")
    (root / "metadata").mkdir()
    (root / "metadata" / "export-Manifest.json").write_text("{}")  # Data Exports manifests are not data
    (root / "notes.csv").write_text("a,b\n1,2\n")  # not a CUR file: a gap, not a failure
    outside = tmp_path / "outside.parquet"
    outside.write_bytes((root / "BILLING_PERIOD=2025-03" / "part-00000.snappy.parquet").read_bytes())
    (root / "link.parquet").symlink_to(outside)
    r = run_cli("scan", "-d", "aws-billing", "--aws-export", str(root), "--min-spend", "1", "--since", "400d",
                "-f", "json")
    assert r.code == 1, r.err
    inv = r.json()
    # parquet and csv.gz copies of the same lines: the spend is seen twice, by design of this fixture
    (finding,) = [f for f in inv["findings"] if f["provider"] == "aws-sagemaker"]
    assert finding["cost"] == 60.0
    claude = [f for f in inv["findings"] if f["provider"] == "aws-bedrock"]
    assert len(claude) == 1 and claude[0]["cost"] == pytest.approx(100.6)  # --since 400d reaches December
    cov = inv["coverage"][0]
    reasons = {g["what"]: g["reason"] for g in cov["gaps"]}
    assert reasons[str(root / "link.parquet")] == "symbolic link: not followed"
    assert reasons[str(root / "notes.csv")].startswith("not a AWS CUR 2.0 / Data Exports file: no account column")
    assert cov["scanned"]["export_files"] == 2 and cov["status"] == "partial"


def test_azure_mca_headers_are_matched_case_insensitively(run_cli, tmp_path):
    export = tmp_path / "mca.csv"
    export.write_text(
        "subscriptionId,date,serviceName,meterCategory,meterSubCategory,meterName,productName,unitOfMeasure,quantity,"
        "costInBillingCurrency,billingCurrency,resourceId,tags\n"
        "sub-1,2025-02-01,Foundry Models,Foundry Models,,gpt-4.1 Inp glbl Tokens,Azure OpenAI,1K,5,1.25,USD,"
        "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/Lab1,\n"
        "sub-1,2025-02-01,Cognitive Services,Cognitive Services,Translator,S1 Characters,Translator,1M,1,8.00,USD,"
        "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/tr1,\n")
    r = run_cli("scan", "-d", "azure-billing", "--azure-export", str(export), "-f", "json")
    assert r.code == 1, r.err
    (finding,) = r.json()["findings"]
    assert finding["cost"] == 1.25 and finding["model"] == "gpt-4.1" and "azure-openai:lab1" in finding["identity"]


def test_gcp_rows_net_credits_and_scope_vertex(run_cli, tmp_path):
    rows = tmp_path / "billing.jsonl"
    base = {"currency": "USD", "cost_type": "regular", "usage_start_time": "2025-01-10 08:00:00 UTC",
            "project": {"id": "p1", "name": "One", "labels": []}, "labels": [{"key": "owner", "value": "ana"}]}
    lines = [
        {**base, "service": {"description": "Vertex AI"}, "sku": {"description": "Gemini 2.5 Pro Text Output"},
         "cost": 2.0, "credits": [{"amount": -0.25}], "usage": {"amount_in_pricing_units": 2, "pricing_unit": "k"}},
        {**base, "service": {"description": "Vertex AI"}, "sku": {"description": "Vertex AI Workbench Instance"},
         "cost": 7.0, "credits": [], "usage": {"amount_in_pricing_units": 1, "pricing_unit": "hour"}},
        {**base, "cost_type": "tax", "service": {"description": "Vertex AI"},
         "sku": {"description": "Gemini 2.5 Pro Text Output"}, "cost": 0.4, "credits": [],
         "usage": {"amount_in_pricing_units": 0, "pricing_unit": "k"}},
    ]
    rows.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = run_cli("scan", "-d", "gcp-billing", "--gcp-export", str(rows), "-f", "json")
    assert r.code == 1, r.err
    (finding,) = r.json()["findings"]
    assert finding["cost"] == 1.75 and finding["model"] == "Gemini 2.5 Pro" and "owner:ana" in finding["identity"]


def test_no_key_in_a_bill_reaches_the_report(run_cli, tmp_path):
    key = make_key("openai-project", 41)
    rows = [("111111111111", CLAUDE, "m", "USE1-MP:USE1_InputTokenCount-Units", f"res-{key}", "", 1.0, 1.0, "Units",
             "2025-03-30", "Usage", {"user_owner": key, "user_team": f"bots {key}"})]
    parquet, _ = write_cur(tmp_path / "cur", rows)
    for fmt in ("json", "html", "csv"):  # the detail-heavy formats; the others render the same fields
        r = run_cli("scan", "-d", "aws-billing", "--aws-export", str(parquet), "-f", fmt)
        assert r.code == 1, r.err
        assert key not in r.out and key not in r.err, fmt
        assert key[8:30] not in r.out, fmt


def test_catalogue_billing_rules_are_validated(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nproviders:\n  - id: x\n    name: X\n    billing:\n      aws: {servics: [a]}\n")
    with pytest.raises(InputError, match="unknown field 'servics'"):
        Catalog.load([bad])
    bad.write_text("schema_version: 1\nproviders:\n  - id: x\n    name: X\n    billing:\n"
                   "      gcp: {services: [a], model_patterns: ['(.+) Input']}\n")
    with pytest.raises(InputError, match=r"needs a \(\?P<model>"):
        Catalog.load([bad])
    good = tmp_path / "good.yaml"
    good.write_text("schema_version: 1\nproviders:\n  - id: in-house\n    name: In-house models\n    kind: cloud\n"
                    "    billing:\n      gcp: {services: ['My Model Service']}\n")
    rules = Catalog.load([good]).billing_rules["gcp"]
    assert [r.provider for r in rules][-1] == "in-house"


def test_one_flag_reaches_every_detector_that_declares_it():
    since = Option("since", "duration", 60, flag="--since")
    other = Option("since", "str", None, flag="--since")  # same flag, another type: stays with the first
    flags = shared_flags([("aws-billing", since), ("azure-billing", since), ("plugin", other),
                          ("core-clash", Option("x", "str", flag="--path"))], core={"--path"})
    assert [(opt.flag, owners) for opt, owners in flags] == [
        ("--since", [("aws-billing", "since"), ("azure-billing", "since")])]


def test_shared_since_flag_sets_all_billing_detectors(run_cli, tmp_path):
    parquet, _ = write_cur(tmp_path / "cur")
    gcp = tmp_path / "gcp.jsonl"
    gcp.write_text(json.dumps({"currency": "USD", "cost_type": "regular", "usage_start_time": "2025-03-31T00:00:00Z",
                               "project": {"id": "p1"}, "service": {"description": "Gemini API"},
                               "sku": {"description": "Gemini 2.0 Flash Input Tokens"}, "cost": 1.0}) + "\n")
    r = run_cli("scan", "-d", "aws-billing", "-d", "gcp-billing", "--aws-export", str(parquet), "--gcp-export",
                str(gcp), "--since", "2d", "-f", "json")
    assert r.code == 1, r.err
    periods = {f["detector"]: f["period"] for f in r.json()["findings"]}
    assert periods == {"aws-billing": "2025-03-30/2025-03-31", "gcp-billing": "2025-03-30/2025-03-31"}


# Meter, service and SKU names as published (Azure Retail Prices, AWS Marketplace service names, GCP SKUs),
# collected from public code that prices them: each must match its provider and name the model.
REAL_NAMES = [
    ("azure", "Cognitive Services", "o3 0416 Inp glbl Tokens", "azure-openai", "o3 0416"),
    ("azure", "Cognitive Services", "gpt 4o 1120 cached Inp glbl Tokens", "azure-openai", "gpt 4o 1120"),
    ("azure", "Foundry Models", "5.5 ShortCo opt Gl 1M Tokens", "azure-openai", "5.5"),
    ("azure", "Foundry Models", "Grok 4.1 Inp DZone Tokens", "azure-openai", "Grok 4.1"),
    ("azure", "Foundry Models", "Phi-4-Input Tokens", "azure-openai", "Phi-4"),
    ("azure", "Foundry Models", "GPT 5 Inpt Glbl 1M Tokens", "azure-openai", "GPT 5"),
    ("azure", "Cognitive Services", "gpt-oss-120B Inp glbl Tokens", "azure-openai", "gpt-oss-120B"),
    ("azure", "Cognitive Services", "gpt 4.1 nano cached Inp glbl Tokens", "azure-openai", "gpt 4.1 nano"),
    ("aws", "Claude Sonnet 4.5 (Amazon Bedrock Edition)", "USE1-MP:USE1_InputTokenCount-Units", "aws-bedrock",
     "Claude Sonnet 4.5"),
    ("aws", "TwelveLabs Pegasus 1.2 (Amazon Bedrock Edition)", "USW2-MP:USW2_output_tokens_standard-Units",
     "aws-bedrock", "TwelveLabs Pegasus 1.2"),
    ("gcp", "Vertex AI", "Gemini 2.5 Flash Text Input - Predictions", "google-vertex", "Gemini 2.5 Flash"),
    ("gcp", "Vertex AI", "Gemini 3.x Flash Global Text Output", "google-vertex", "Gemini 3.x Flash"),
]


@pytest.mark.parametrize("cloud,service,item,provider,model", REAL_NAMES)
def test_real_bill_names_match_and_name_the_model(cloud, service, item, provider, model):
    from detectors.billing.common import Line, Matcher
    matcher = Matcher(Catalog.load(), cloud)
    line = Line(account="a", service=service, item=item, cost=1.0)
    rule = matcher.match(line)
    assert rule is not None and rule.provider == provider
    assert matcher.model(rule, line) == model


@pytest.mark.parametrize("cloud,service,item", [
    ("azure", "Cognitive Services", "S1 Speech To Text"), ("azure", "Cognitive Services", "Standard Translator"),
    ("gcp", "Vertex AI", "Vertex AI Workbench Instance"), ("aws", "Amazon SageMaker", "USE1-Notebk:ml.t3.medium"),
    ("aws", "Amazon Elastic Compute Cloud - Compute", "USE1-BoxUsage:g5.2xlarge"),
])
def test_shared_services_other_lines_are_not_llm_spend(cloud, service, item):
    from detectors.billing.common import Line, Matcher
    assert Matcher(Catalog.load(), cloud).match(Line(account="a", service=service, item=item, cost=1.0)) is None


def test_legacy_cur_csv_headers(run_cli, tmp_path):
    export = tmp_path / "legacy-cur.csv"
    export.write_text(
        "identity/LineItemId,lineItem/UsageAccountId,lineItem/LineItemType,lineItem/UsageStartDate,lineItem/ProductCode,"
        "lineItem/UsageType,lineItem/ResourceId,lineItem/UsageAmount,lineItem/CurrencyCode,lineItem/UnblendedCost,"
        "product/ProductName,pricing/unit\n"
        "a1,333333333333,Usage,2025-02-03T00:00:00Z,AmazonBedrock,USE1-Llama3-70B-input-tokens,,10,USD,0.75,"
        "Amazon Bedrock,Units\n"
        "a2,333333333333,Usage,2025-02-03T00:00:00Z,AmazonEC2,BoxUsage:t3.micro,i-1,24,USD,0.25,"
        "Amazon Elastic Compute Cloud,Hrs\n")
    r = run_cli("scan", "-d", "aws-billing", "--aws-export", str(export), "-f", "json")
    assert r.code == 1, r.err
    (finding,) = r.json()["findings"]
    assert (finding["model"], finding["cost"], finding["location"]["resource"]) == ("Llama3-70B", 0.75, "aws-bedrock")
