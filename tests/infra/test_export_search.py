"""The subject export's Athena search on the synthesised template: the rights function is told the
catalog's workgroup, database, table and subject columns, and may run queries in that workgroup
only, read that database and table only, and write and read the results under the workgroup's
results prefix only; with ``query.export_finder: scan`` it gets none of it."""

from __future__ import annotations

import json

import pytest

from rights.finder import SubjectPath, load_paths
from stacks.catalog_columns import subject_paths
from stacks.config import load_contracts, load_from_cdk_json
from tests.infra.conftest import ROOT, actions, policies_of, ref_id, synth

ATHENA = ["athena:GetQueryExecution", "athena:GetQueryResults", "athena:StartQueryExecution", "athena:StopQueryExecution"]


def _arn(service: str, resource: list) -> dict:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":{service}:", {"Ref": "AWS::Region"}, ":",
                              {"Ref": "AWS::AccountId"}, *resource]]}


def export_search_statements(template) -> list[tuple[list[str], dict, dict | None]]:
    """(actions, resource, condition) the search adds to the rights function's role."""
    wg = ref_id(template, "AWS::Athena::WorkGroup", "CatalogWorkGroup")
    db = ref_id(template, "AWS::Glue::Database", "CatalogDatabase")
    table = ref_id(template, "AWS::Glue::Table", "CatalogEvents")
    results = {"Fn::GetAtt": [ref_id(template, "AWS::S3::Bucket", "CatalogResults"), "Arn"]}
    results_key = {"Fn::GetAtt": [ref_id(template, "AWS::KMS::Key", "CatalogResultsKey"), "Arn"]}
    lake = {"Fn::GetAtt": [ref_id(template, "AWS::S3::Bucket", "StorageLake"), "Arn"]}
    glue = ["glue:GetDatabase", "glue:GetTable"]
    return [
        (ATHENA, _arn("athena", [":workgroup/", {"Ref": wg}]), None),
        (glue, _arn("glue", [":catalog"]), None),
        (glue, _arn("glue", [":database/", {"Ref": db}]), None),
        (glue, _arn("glue", [":table/", {"Ref": db}, "/", {"Ref": table}]), None),
        (["s3:GetBucketLocation"], lake, None),
        (["s3:GetBucketLocation"], results, None),
        (["s3:ListBucket"], results, {"StringLike": {"s3:prefix": ["athena/*"]}}),
        (["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
         {"Fn::Join": ["", [results, "/athena/*"]]}, None),
        (["kms:Decrypt", "kms:GenerateDataKey"], results_key, None),
    ]


def _env(template) -> dict:
    [fn] = [r for r in template.find_resources("AWS::Lambda::Function").values()
            if r["Properties"].get("FunctionName") == "pii-scrub-subject-rights"]
    return fn["Properties"]["Environment"]["Variables"]


def _granted(stmts) -> set[tuple[str, str, str]]:
    return {(a, json.dumps(r), json.dumps(s.get("Condition"))) for s in stmts for a in actions(s)
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])}


def test_the_function_is_told_the_workgroup_the_table_and_the_subject_columns(template):
    env = _env(template)
    wg = ref_id(template, "AWS::Athena::WorkGroup", "CatalogWorkGroup")
    assert template.find_resources("AWS::Athena::WorkGroup")[wg]["Properties"]["Name"] == "pii-scrub"
    assert env["EXPORT_FINDER"] == "athena" and env["ATHENA_WORKGROUP"] == {"Ref": wg}
    assert env["GLUE_DATABASE"] == {"Ref": ref_id(template, "AWS::Glue::Database", "CatalogDatabase")}
    assert env["GLUE_TABLE"] == {"Ref": ref_id(template, "AWS::Glue::Table", "CatalogEvents")}
    assert env["EXPORT_QUERY_TIMEOUT_S"] == "300"
    # the shipped contracts' subject fields, as the table's string columns
    assert load_paths(env["EXPORT_SUBJECT_PATHS"]) == [SubjectPath(("subject_id",)), SubjectPath(("name",))]
    config = load_from_cdk_json(ROOT / "cdk.json")
    assert load_paths(env["EXPORT_SUBJECT_PATHS"]) == subject_paths(load_contracts(config.contracts),
                                                                    config.delivery.data_prefix)


def test_the_search_is_granted_on_the_catalogs_resources_only(template):
    _, stmts = policies_of(template, "RightsFunctionRole")
    granted = _granted(stmts)
    want = {(a, json.dumps(r), json.dumps(c)) for acts, r, c in export_search_statements(template) for a in acts}
    assert want <= granted
    # no other Athena, Glue or results-bucket permission, and no wildcard action
    results = ref_id(template, "AWS::S3::Bucket", "CatalogResults")
    results_key = ref_id(template, "AWS::KMS::Key", "CatalogResultsKey")
    near = {g for g in granted if g[0].split(":")[0] in ("athena", "glue") or results in g[1] or results_key in g[1]}
    assert near <= want
    assert not any("*" in a for s in stmts for a in actions(s))


@pytest.fixture(scope="module")
def scanning():
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]["pipeline"]
    ctx["query"]["export_finder"] = "scan"
    return synth(ctx)[1]


def test_an_export_that_scans_gets_no_query_permission_nor_its_settings(scanning):
    env = _env(scanning)
    assert env["EXPORT_FINDER"] == "scan"
    assert not {"ATHENA_WORKGROUP", "GLUE_DATABASE", "GLUE_TABLE", "EXPORT_SUBJECT_PATHS"} & set(env)
    _, stmts = policies_of(scanning, "RightsFunctionRole")
    results = ref_id(scanning, "AWS::S3::Bucket", "CatalogResults")
    results_key = ref_id(scanning, "AWS::KMS::Key", "CatalogResultsKey")
    for a, r, _ in _granted(stmts):
        assert a.split(":")[0] not in ("athena", "glue") and a != "s3:GetBucketLocation", a
        assert results not in r and results_key not in r, (a, r)
