"""The lake in Athena: the Glue database and ``events`` table (columns from the contracts,
partition projection over the data prefix), the enforced workgroup and its results bucket."""

from __future__ import annotations

import pytest

from stacks.catalog import projection
from stacks.catalog_columns import glue_columns, hive_type
from stacks.config import ConfigError, load_config, load_contracts, load_from_cdk_json
from tests.infra.conftest import ROOT, ref_id, synth

CONFIG = load_from_cdk_json(ROOT / "cdk.json")
CONTRACTS = load_contracts(CONFIG.contracts)


@pytest.fixture(scope="module")
def table(template):
    [t] = template.find_resources("AWS::Glue::Table").values()
    return t["Properties"]


def _columns(table) -> dict[str, str]:
    return {c["Name"]: c["Type"] for c in table["TableInput"]["StorageDescriptor"]["Columns"]}


def test_database_is_named_after_the_prefix_with_underscores(template):
    template.has_resource_properties("AWS::Glue::Database", {"DatabaseInput": {
        "Name": "pii_scrub", "Description": "The scrubbed data lake (tables generated from the data contracts)"}})
    db = ref_id(template, "AWS::Glue::Database", "CatalogDatabase")
    events = template.find_resources("AWS::Glue::Table")[ref_id(template, "AWS::Glue::Table", "CatalogEvents")]
    assert events["Properties"]["DatabaseName"] == {"Ref": db}


def test_events_table_reads_the_data_prefix_as_gzip_json_with_the_openx_serde(template, table):
    lake = ref_id(template, "AWS::S3::Bucket", "StorageLake")
    ti = table["TableInput"]
    sd = ti["StorageDescriptor"]
    assert ti["Name"] == "events" and ti["TableType"] == "EXTERNAL_TABLE"
    assert sd["Location"] == {"Fn::Join": ["", ["s3://", {"Ref": lake}, "/data/"]]}
    assert sd["SerdeInfo"] == {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                               "Parameters": {"ignore.malformed.json": "false", "case.insensitive": "true"}}
    assert sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    assert sd["Compressed"] is True
    assert ti["Parameters"]["has_encrypted_data"] is False  # SSE-KMS: S3 decrypts; true would mean client-side


def test_partitions_are_projected_from_the_firehose_prefix(template, table):
    lake = ref_id(template, "AWS::S3::Bucket", "StorageLake")
    ti = table["TableInput"]
    assert ti["PartitionKeys"] == [{"Name": n, "Type": "int"} for n in ("year", "month", "day", "hour")]
    p = ti["Parameters"]
    assert p["projection.enabled"] == "true"
    assert p["storage.location.template"] == {"Fn::Join": ["", [
        "s3://", {"Ref": lake}, "/data/year=${year}/month=${month}/day=${day}/hour=${hour}/"]]}
    assert {k: v for k, v in p.items() if k.startswith("projection.") and k != "projection.enabled"} == {
        "projection.year.type": "integer", "projection.year.range": "2020,2049",
        "projection.month.type": "integer", "projection.month.range": "1,12", "projection.month.digits": "2",
        "projection.day.type": "integer", "projection.day.range": "1,31", "projection.day.digits": "2",
        "projection.hour.type": "integer", "projection.hour.range": "0,23", "projection.hour.digits": "2",
    }
    # the template is Firehose's prefix with each expression in place of its value
    assert CONFIG.delivery.data_prefix.replace("!{timestamp:yyyy}", "${year}").replace("!{timestamp:MM}", "${month}") \
        .replace("!{timestamp:dd}", "${day}").replace("!{timestamp:HH}", "${hour}") == projection(CONFIG.delivery.data_prefix)[1]


def test_columns_are_every_contracts_fields_as_they_land(table):
    cols = _columns(table)
    top = {f.path.lower() for c in CONTRACTS for f in c.fields if "." not in f.path}
    assert set(cols) == top | {"_privacy", "data_redacted", "redacted_at"}
    # sealed (always: encrypt) fields hold a token, whatever their declared type: a date, a number
    dob = next(f for c in CONTRACTS for f in c.fields if f.path == "dob")
    assert dob.type == "date" and dob.pii.always == "encrypt"
    assert cols["dob"] == "string"
    assert cols["form"].split("gross_income:")[1].startswith("string")
    assert "tax_year:bigint" in cols["form"]  # a plain integer keeps its type
    assert cols["order"].startswith("struct<order_id:string,") and "items:array<struct<sku:string,qty:bigint,price:double" in cols["order"]
    assert cols["_privacy"] == "struct<contract:string,applied:map<string,string>>"
    assert cols["data_redacted"] == "boolean"
    assert cols == dict(glue_columns(CONTRACTS, CONFIG.delivery.data_prefix)[0])


def test_hive_types_of_lake_types():
    assert hive_type("TIMESTAMPTZ") == "string"  # no time zone type in a Hive table: ISO 8601 text as sent
    assert hive_type("JSON") == "string"
    assert hive_type(("LIST", ("STRUCT", (("A", "BIGINT"), ("b", "DATE"))))) == "array<struct<a:bigint,b:date>>"


@pytest.mark.parametrize("prefix", ["data/!{timestamp:yyyy}/", "data/year=!{timestamp:yyyy}/r=!{firehose:random-string}/",
                                    "data/ym=!{timestamp:yyyy-MM}/"])
def test_a_prefix_athena_cannot_project_fails_synth(prefix):
    with pytest.raises(ConfigError, match=r"^pipeline.delivery.data_prefix: every expression must be a Hive partition"):
        projection(prefix)


def test_workgroup_enforces_its_configuration_and_encrypts_results_with_its_own_key(template):
    results = ref_id(template, "AWS::S3::Bucket", "CatalogResults")
    key = ref_id(template, "AWS::KMS::Key", "CatalogResultsKey")
    [wg] = template.find_resources("AWS::Athena::WorkGroup").values()
    c = wg["Properties"]["WorkGroupConfiguration"]
    assert wg["Properties"]["Name"] == "pii-scrub"
    assert c["EnforceWorkGroupConfiguration"] is True
    assert c["BytesScannedCutoffPerQuery"] == 10240 * 1024 * 1024
    assert c["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_KMS", "KmsKey": {"Fn::GetAtt": [key, "Arn"]}}
    assert c["ResultConfiguration"]["OutputLocation"] == {"Fn::Join": ["", ["s3://", {"Ref": results}, "/athena/"]]}


def test_results_bucket_is_kms_encrypted_logged_private_and_expires(template):
    results = template.find_resources("AWS::S3::Bucket")[ref_id(template, "AWS::S3::Bucket", "CatalogResults")]["Properties"]
    key = ref_id(template, "AWS::KMS::Key", "CatalogResultsKey")
    logs = ref_id(template, "AWS::S3::Bucket", "StorageAccessLogs")
    [enc] = results["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert enc["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [key, "Arn"]}}
    assert enc["BucketKeyEnabled"] is True
    assert results["LoggingConfiguration"] == {"DestinationBucketName": {"Ref": logs}, "LogFilePrefix": "query-results/"}
    assert all(results["PublicAccessBlockConfiguration"].values())
    [rule] = results["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 7 and rule["Status"] == "Enabled"


def test_query_configuration_reaches_the_template():
    _, t = synth({"name_prefix": "lake-demo", "query": {"results_expiration_days": 3, "bytes_scanned_cutoff_mb": 100}})
    [wg] = t.find_resources("AWS::Athena::WorkGroup").values()
    assert wg["Properties"]["Name"] == "lake-demo"
    assert wg["Properties"]["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"] == 100 * 1024 * 1024
    t.has_resource_properties("AWS::Glue::Database", {"DatabaseInput": {"Name": "lake_demo"}})
    results = t.find_resources("AWS::S3::Bucket")[ref_id(t, "AWS::S3::Bucket", "CatalogResults")]["Properties"]
    assert results["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 3


@pytest.mark.parametrize("query, message", [
    ({"results_expiration_days": 0}, "pipeline.query.results_expiration_days must be between 1 and 365, got 0"),
    ({"results_expiration_days": 366}, "pipeline.query.results_expiration_days must be between 1 and 365, got 366"),
    ({"bytes_scanned_cutoff_mb": 9}, "pipeline.query.bytes_scanned_cutoff_mb must be between 10 and 10485760, got 9"),
    ({"bytes_scanned_cutoff_mb": "10"}, "pipeline.query.bytes_scanned_cutoff_mb must be an integer, got '10'"),
    ({"cutoff": 1}, "pipeline.query has unknown key(s): cutoff"),
    (None, "pipeline.query must be an object, got null"),
])
def test_query_configuration_is_validated_naming_the_key(query, message):
    with pytest.raises(ConfigError) as exc:
        load_config({"query": query})
    assert str(exc.value) == message


def test_query_defaults_match_cdk_json():
    assert load_config({}).query == CONFIG.query
    assert CONFIG.query.results_expiration_days == 7 and CONFIG.query.bytes_scanned_cutoff_mb == 10240
