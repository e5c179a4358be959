"""Outages: an error DynamoDB or KMS answers (injected into botocore's HTTP layer, so botocore's own
retry mode parses and retries it as it would AWS's) makes ``SubjectKeys.resolve`` raise once the
retries are spent, so the scrubber emits nothing. The error names no subject, lookup id or link,
every attempt is counted, and the next invocation works once the service is back."""

from __future__ import annotations

import json
import traceback
import types

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError
from moto.core.botocore_stubber import MockRawResponse

from .conftest import Wrapper

SUBJECTS = [f"person-{i}@example.com" for i in range(120)]


@pytest.fixture(autouse=True)
def no_botocore_sleep(monkeypatch):
    """botocore's backoff between attempts, skipped (the attempts still happen)."""
    monkeypatch.setattr("botocore.endpoint.time", types.SimpleNamespace(sleep=lambda s: None))


def failing(client, operation: str, code: str, status: int = 400, times: int | None = None) -> list:
    """Answers ``operation`` on ``client`` with the error ``code`` (``times`` times, or always),
    as the service would: a JSON error body. Returns the list of attempts it answered. (moto
    still processes the request: botocore calls every before-send handler and keeps the first
    answer. A write then happened and its answer was lost.)"""
    service = client.meta.service_model.endpoint_prefix
    error_type = f"com.amazonaws.dynamodb.v20120810#{code}" if service == "dynamodb" else code
    answered: list[int] = []

    def answer(request, **kwargs):
        if times is not None and len(answered) >= times:
            return None  # moto answers
        answered.append(1)
        body = json.dumps({"__type": error_type, "message": "injected fault"}).encode()
        return AWSResponse(request.url, status, {"x-amzn-errortype": code, "content-type": "application/x-amz-json-1.1"},
                           MockRawResponse(body))

    client.meta.events.register(f"before-send.{service}.{operation}", answer)
    return answered


def secrets_of(cloud, port) -> list[str]:
    """What an error must never show: the subjects, their lookup ids and their links."""
    healthy = cloud.port()
    return [*SUBJECTS, *(healthy.lookup_id(s) for s in SUBJECTS),
            *(k.link for k in healthy.resolve(SUBJECTS[:5]).values() if k.link)]


def assert_clean(exc: BaseException, secrets: list[str]) -> None:
    text = "".join(traceback.format_exception(exc))
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{len(leaked)} identifiers in the error"


@pytest.mark.parametrize("operation, code, status, attempts", [
    ("BatchGetItem", "ProvisionedThroughputExceededException", 400, 5),  # throttled: retried to the limit
    ("BatchGetItem", "InternalServerError", 500, 5),
    ("TransactWriteItems", "InternalServerError", 500, 5),
    ("TransactWriteItems", "ThrottlingException", 400, 5),
    ("GetItem", "AccessDeniedException", 400, 1),  # the root's read: not retried
    ("BatchGetItem", "ResourceNotFoundException", 400, 1),
])
def test_dynamodb_errors_fail_the_batch(cloud, operation, code, status, attempts):
    secrets = secrets_of(cloud, cloud.port())
    dynamodb = cloud.client("dynamodb")
    answered = failing(dynamodb, operation, code, status)
    store = cloud.store(dynamodb=dynamodb)
    port = cloud.port(store)
    with pytest.raises(ClientError) as raised:
        port.resolve(SUBJECTS)
    assert raised.value.response["Error"]["Code"] == code
    assert len(answered) == attempts
    assert store.calls[operation] == attempts
    assert_clean(raised.value, secrets)


def test_a_write_whose_answer_was_lost_is_retried_and_finds_its_own_items(cloud):
    """An injected answer replaces moto's, but moto still applies the request (botocore calls
    every before-send handler): a 500 after a committed write, as AWS can give. botocore's retry
    is then cancelled by our own items, which come back as the winners: the same keys."""
    cloud.port().root  # noqa: B018 - the root exists
    dynamodb = cloud.client("dynamodb")
    failing(dynamodb, "TransactWriteItems", "InternalServerError", 500, times=1)
    store = cloud.store(dynamodb=dynamodb)
    port = cloud.port(store)
    resolved = port.resolve(SUBJECTS)
    assert store.calls["TransactWriteItems"] == 3  # the first chunk twice (the retry cancelled), the second once
    fresh = cloud.port().resolve(SUBJECTS)
    assert all(fresh.of(s).link == resolved.of(s).link for s in SUBJECTS)
    assert all(fresh.of(s).cipher._key == resolved.of(s).cipher._key for s in SUBJECTS)


def test_transient_errors_are_retried_and_counted(cloud):
    cloud.port().resolve(SUBJECTS)
    dynamodb, kms = cloud.client("dynamodb"), cloud.client("kms")
    failing(dynamodb, "BatchGetItem", "InternalServerError", 500, times=2)
    failing(kms, "Decrypt", "ThrottlingException", 400, times=1)
    store = cloud.store(dynamodb=dynamodb, kms=kms)
    resolved = cloud.port(store).resolve(SUBJECTS)
    assert len(resolved) == len(SUBJECTS)
    assert store.calls == {"GetItem": 1, "kms:Decrypt": 2, "BatchGetItem": 2 + 2}  # 2 chunks, the first tried 3 times


@pytest.mark.parametrize("operation, code", [
    ("Decrypt", "KMSInvalidStateException"),  # the root CMK pending deletion
    ("Decrypt", "DisabledException"),
    ("Decrypt", "AccessDeniedException"),
    ("GenerateDataKey", "DisabledException"),  # the first container of all cannot make the root
    ("GenerateDataKey", "KMSInvalidStateException"),
])
def test_kms_errors_fail_the_batch_and_the_next_invocation_recovers(cloud, operation, code):
    secrets = secrets_of(cloud, cloud.port()) if operation == "Decrypt" else SUBJECTS
    kms = cloud.client("kms")
    answered = failing(kms, operation, code, times=1)
    store = cloud.store(kms=kms)
    port = cloud.port(store)
    with pytest.raises(ClientError) as raised:
        port.resolve(SUBJECTS)
    assert raised.value.response["Error"]["Code"] == code
    assert len(answered) == 1 and store.calls[f"kms:{operation}"] == 1  # not retried
    assert_clean(raised.value, secrets)
    if operation == "GenerateDataKey":
        assert cloud.raw_item("root#1") is None
    resolved = port.resolve(SUBJECTS)  # KMS is back: the next invocation works (nothing cached broken)
    assert all(resolved.of(s).link for s in SUBJECTS)


def test_a_connection_failure_propagates(cloud):
    cloud.port().resolve(SUBJECTS)
    real = cloud.client("dynamodb")

    def batch_get_item(**kw):
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    store = cloud.store(dynamodb=Wrapper(real, batch_get_item=batch_get_item))
    with pytest.raises(EndpointConnectionError):
        cloud.port(store).resolve(SUBJECTS)
    assert store.calls["BatchGetItem"] == 1
