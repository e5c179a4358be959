"""The Athena adapter against moto's Athena (which runs no SQL: its results are queued by the test,
as moto documents): the request botocore sends (the workgroup, the database, the link only as an
execution parameter), the polling until SUCCEEDED, and the answer parsed back into lake keys."""

from __future__ import annotations

from datetime import date

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.athena.models import QueryResults, athena_backends

from rights.athena import AthenaFinder
from rights.finder import RESULT_COLUMN, SubjectPath

ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET = "lake"
PREFIX = "data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
KEYS = [f"data/year=2026/month=01/day={d:02d}/hour=09/pii-scrub-delivery-1-{d}.gz" for d in (15, 16)]
LINK = "k:it's-a-link-with-a-quote"


def _row(value: str) -> dict:
    return {"Data": [{"VarCharValue": value}]}


@pytest.fixture
def athena():
    with mock_aws():
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(Name="pii-scrub", Configuration={"EnforceWorkGroupConfiguration": True})
        yield client


def _finder(client, **kw):
    return AthenaFinder(client, workgroup="pii-scrub", database="pii_scrub", table="events", bucket=BUCKET,
                        data_prefix=PREFIX, paths=[SubjectPath(("subject_id",)), SubjectPath(("name",))],
                        sleep=lambda s: None, **kw)


def test_the_query_runs_in_the_workgroup_with_the_link_as_a_parameter_and_its_paths_become_keys(athena):
    backend = athena_backends[ACCOUNT][REGION]
    backend.query_results_queue.append(QueryResults(
        rows=[_row(RESULT_COLUMN), *(_row(f"s3://{BUCKET}/{k}") for k in reversed(KEYS)), _row(f"s3://{BUCKET}/{KEYS[0]}")],
        column_info=[{"Name": RESULT_COLUMN, "Type": "varchar"}],
    ))
    found = _finder(athena).find(LINK, date(2026, 1, 15), date(2026, 1, 16))
    assert found.keys == KEYS  # in key order, each once
    assert found.report["finder"] == "athena" and found.report["objects_found"] == 2
    [execution] = backend.executions.values()
    assert found.report["query_id"] == execution.id
    assert execution.workgroup.name == "pii-scrub"
    assert execution.context == {"Catalog": "AwsDataCatalog", "Database": "pii_scrub"}
    assert "it's" not in execution.query and "link" not in execution.query
    assert execution.execution_parameters == ["'k:it''s-a-link-with-a-quote'"] * 2 + ["2026", "2026", "20260115", "20260116"]
    assert execution.query.startswith('SELECT DISTINCT "$path" AS lake_object FROM "pii_scrub"."events" WHERE ')


def test_no_result_is_no_object(athena):
    found = _finder(athena).find(LINK, None, None)
    assert found.keys == []
    [execution] = athena_backends[ACCOUNT][REGION].executions.values()
    assert execution.execution_parameters == ["'k:it''s-a-link-with-a-quote'"] * 2  # no range: no range parameters


def test_a_missing_workgroup_fails_the_search(athena):
    finder = AthenaFinder(athena, workgroup="elsewhere", database="pii_scrub", table="events", bucket=BUCKET,
                          data_prefix=PREFIX, paths=[SubjectPath(("subject_id",))])
    with pytest.raises(ClientError):
        finder.find(LINK, None, None)
