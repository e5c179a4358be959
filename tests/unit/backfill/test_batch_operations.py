"""The twin's S3 Batch Operations job: one schema 2.0 invocation per task, temporary failures
retried (a bounded number of times), answers checked as the service checks them, and a completion
report with one row per task."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from tests.conftest import LambdaContext
from twin.batch_operations import MAX_ATTEMPTS, Job, Task


def answering(*codes: str, seen: list | None = None):
    """A function answering each invocation with the next code (the last one repeats)."""
    calls = iter(codes)
    last = [codes[-1]]

    def handler(event, _context):
        if seen is not None:
            seen.append(event)
        code = next(calls, last[0])
        [task] = event["tasks"]
        return {"invocationSchemaVersion": event["invocationSchemaVersion"], "treatMissingKeysAs": "PermanentFailure",
                "invocationId": event["invocationId"],
                "results": [{"taskId": task["taskId"], "resultCode": code, "resultString": json.dumps({"code": code})}]}

    return handler


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bf-reports")
        yield client


def job(s3, handler) -> Job:
    return Job(s3=s3, handler=handler, context_factory=LambdaContext, bucket="bf-reports")


def test_each_task_is_one_schema_2_invocation_with_the_key_url_encoded(s3):
    seen: list = []
    j = job(s3, answering("Succeeded", seen=seen))
    tasks = [Task("src", "a b+c/ü.jsonl", "v1"), Task("src", "plain.jsonl")]
    results = j.run(tasks)
    assert [r.code for r in results] == ["Succeeded"] * 2 and [r.attempts for r in results] == [1, 1]
    assert [e["invocationSchemaVersion"] for e in seen] == ["2.0"] * 2 and len({e["invocationId"] for e in seen}) == 2
    assert [(t["s3Bucket"], unquote_plus(t["s3Key"]), t["s3VersionId"]) for e in seen for t in e["tasks"]] == [
        ("src", "a b+c/ü.jsonl", "v1"), ("src", "plain.jsonl", None)]
    assert all(e["job"]["id"] == j.job_id for e in seen)


def test_temporary_failures_are_retried_then_given_up(s3):
    assert job(s3, answering("TemporaryFailure", "Succeeded")).run_task(Task("src", "k")).attempts == 2
    gave_up = job(s3, answering("TemporaryFailure")).run_task(Task("src", "k"))
    assert (gave_up.code, gave_up.attempts) == ("TemporaryFailure", MAX_ATTEMPTS)


def test_answers_are_checked_as_the_service_checks_them(s3):
    def raises(_event, _context):
        raise RuntimeError("boom with a value in it")

    def forgets(event, _context):
        return {"invocationSchemaVersion": "2.0", "treatMissingKeysAs": "PermanentFailure", "invocationId": event["invocationId"],
                "results": []}

    def other(event, _context):
        return {**answering("Succeeded")(event, _context), "invocationId": "someone else's"}

    for handler, message in ((raises, "function error: RuntimeError"), (forgets, "missing"), (other, "another invocation")):
        r = job(s3, handler).run_task(Task("src", "k"))
        assert r.code == "PermanentFailure" and message in r.result and "value in it" not in r.result


def test_the_completion_report_has_one_row_per_task(s3):
    j = job(s3, answering("Succeeded", "PermanentFailure"))
    tasks = [Task("src", "one two.jsonl", "v1"), Task("src", "three.jsonl")]
    j.write_manifest(tasks)
    manifest = s3.get_object(Bucket="bf-reports", Key=f"manifests/job-{j.job_id}.csv")["Body"].read().decode()
    assert manifest == "src,one+two.jsonl,v1\nsrc,three.jsonl\n"
    key = j.write_report(j.run(tasks))
    assert key == f"reports/job-{j.job_id}/manifest.json"
    top = json.loads(s3.get_object(Bucket="bf-reports", Key=key)["Body"].read())
    assert top["Format"] == "Report_CSV_20180820" and top["Results"][0]["TaskExecutionStatus"] == "failed"
    body = s3.get_object(Bucket="bf-reports", Key=top["Results"][0]["Key"])["Body"].read().decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert [r[:6] for r in rows] == [["src", "one+two.jsonl", "v1", "succeeded", "200", ""],
                                     ["src", "three.jsonl", "", "failed", "200", "PermanentFailure"]]
    assert [json.loads(r[6]) for r in rows] == [{"code": "Succeeded"}, {"code": "PermanentFailure"}]
