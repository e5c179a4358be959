"""The backfill handler's tests: a source bucket and a lake on moto (in-process), the handler made
with the tests' keyring and an in-memory key store, and S3 Batch Operations events of both schemas."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from urllib.parse import quote_plus

import boto3
import pytest
from moto import mock_aws

from backfill.handler import make_handler
from backfill.settings import BackfillSettings, environment
from privacy.memory_store import MemoryKeyStore
from scrubber.settings import Settings
from tests.conftest import CONFIG, TEST_KEYRING_SECRET, LambdaContext

SOURCE = "history-source"
LAKE = "pii-scrub-lake-123456789012-us-east-1"


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    from privacy.contract import bundle_json
    from stacks.config import load_contracts

    path = tmp_path_factory.mktemp("backfill-bundle") / "contracts.json"
    path.write_text(bundle_json(load_contracts(CONFIG.contracts)))
    return path


def env_for(bundle, lake_key: str = "", **over) -> dict[str, str]:
    """The function's environment as the stack sets it (the lake's prefixes from cdk.json)."""
    d = CONFIG.delivery
    return {"CONTRACTS_FILE": str(bundle), "CONTRACT_SELECTOR": CONFIG.contracts.selector_json(),
            **environment(lake_bucket=LAKE, lake_key=lake_key, data_prefix=d.data_prefix, quarantine_prefix=d.quarantine_prefix,
                          time_field=CONFIG.backfill.time_field, max_object_bytes=CONFIG.backfill.max_object_bytes),
            **over}


class Cloud:
    """The source bucket and the lake (versioned, as deployed), and handlers over them."""

    def __init__(self, bundle):
        self.bundle = bundle
        self.s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (SOURCE, LAKE):
            self.s3.create_bucket(Bucket=bucket)
            self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        self.store = MemoryKeyStore()
        self.lake_key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]

    def handler(self, store=None, s3=None, **env):
        e = env_for(self.bundle, self.lake_key, **env)
        scrubber = Settings(e, secret=lambda: TEST_KEYRING_SECRET, store=store if store is not None else self.store)
        return make_handler(BackfillSettings(e, scrubber=scrubber, s3=s3 if s3 is not None else self.s3))

    def put(self, key: str, lines: list[bytes], *, gz: bool = False, newline: bytes = b"\n") -> dict:
        body = newline.join(lines) + newline
        r = self.s3.put_object(Bucket=SOURCE, Key=key, Body=gzip.compress(body) if gz else body)
        return {"key": key, "version": r.get("VersionId"), "etag": r["ETag"]}

    def lake(self, prefix: str = "", name: str = "") -> dict[str, bytes]:
        """The lake's current objects under ``prefix`` (named ``name``, if given), decompressed."""
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=LAKE, Prefix=prefix):
            for o in page.get("Contents", []):
                if o["Key"].endswith(name):
                    out[o["Key"]] = gzip.decompress(self.s3.get_object(Bucket=LAKE, Key=o["Key"])["Body"].read())
        return out

    def data(self, name: str = "") -> dict[str, bytes]:
        return self.lake(CONFIG.delivery.data_root, name)

    def quarantine(self, name: str = "") -> dict[str, bytes]:
        return self.lake(CONFIG.delivery.quarantine_root, name)


@pytest.fixture
def cloud(bundle):
    with mock_aws():
        yield Cloud(bundle)


def event(key: str, *, schema: str = "2.0", bucket: str = SOURCE, version: str | None = None) -> dict:
    """An S3 Batch Operations invocation for one object, as the service sends it (the key
    URL-encoded; schema 1.0 names the bucket by ARN, 2.0 by name)."""
    task = {"taskId": base64.b64encode(uuid.uuid4().bytes).decode(), "s3Key": quote_plus(key, safe="/"), "s3VersionId": version}
    task.update({"s3BucketArn": f"arn:aws:s3:::{bucket}"} if schema == "1.0" else {"s3Bucket": bucket})
    job = {"id": str(uuid.uuid4()), **({"userArguments": {}} if schema == "2.0" else {})}
    return {"invocationSchemaVersion": schema, "invocationId": base64.b64encode(uuid.uuid4().bytes).decode(), "job": job,
            "tasks": [task]}


def invoke(handler, ev: dict, context=None) -> tuple[str, dict, dict]:
    """(result code, result string parsed, the whole response), after checking the envelope."""
    response = json.loads(json.dumps(handler(ev, context or LambdaContext())))  # across Lambda's JSON boundary
    assert response["invocationSchemaVersion"] == ev["invocationSchemaVersion"]
    assert response["invocationId"] == ev["invocationId"] and response["treatMissingKeysAs"] == "PermanentFailure"
    [result] = response["results"]
    assert result["taskId"] == ev["tasks"][0]["taskId"]
    return result["resultCode"], json.loads(result["resultString"]), response


@pytest.fixture(scope="session")
def pool():
    """Producer events (every producible contract), with their encoded lines."""
    from producer.events import EventFactory, encode

    factory = EventFactory(seed=11, consent_ratio=0.5, subjects=40)
    events = [factory.next_event() for _ in range(120)]
    return events, [encode(e) for e in events]
