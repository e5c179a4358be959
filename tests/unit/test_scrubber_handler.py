"""The deployed entry point, with Firehose events shaped like real ones and the keyring in
Secrets Manager (moto); and the handler made with injected dependencies (keyring source, logger,
metrics), as the benchmark makes it."""

import base64
import json
import os
import subprocess
import sys

import boto3
import orjson
import pytest
from aws_lambda_powertools import Logger, Metrics
from moto import mock_aws

from keystore.dynamo import DynamoKeyStore
from keystore.table import create_table
from privacy.memory_store import MemoryKeyStore
from scrubber import handler as scrubber_handler
from scrubber.settings import Settings
from tests.conftest import CONFIG, TEST_KEYRING_SECRET, V1_TYPES, firehose_event

ROTATED = '{"current": "v2", "v1": "test-key-0123456789abcdef0123456789abcdef", "v2": "rotated-key-0123456789abcdef0123456789ab"}'


@pytest.fixture
def bundle(tmp_path):
    from privacy.contract import bundle_json
    from stacks.config import load_contracts

    path = tmp_path / "contracts.json"
    path.write_text(bundle_json(load_contracts(CONFIG.contracts)))
    return path


@pytest.fixture
def secret_arn(monkeypatch, bundle):
    """The scrubber's environment as the stack sets it; the keyring in Secrets Manager (moto)."""
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="pii-scrub/pseudonymisation-keys", SecretString=TEST_KEYRING_SECRET
        )["ARN"]
        monkeypatch.setenv("CONTRACTS_FILE", str(bundle))
        monkeypatch.setenv("CONTRACT_SELECTOR", CONFIG.contracts.selector_json())
        monkeypatch.setenv("PSEUDONYM_SECRET_ARN", arn)
        monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
        monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
        # the per-subject key table and its root key, as the stack makes them
        root = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        create_table(boto3.client("dynamodb", region_name="us-east-1"), CONFIG.subject_keys_table_name)
        monkeypatch.setenv("SUBJECT_KEYS_TABLE", CONFIG.subject_keys_table_name)
        monkeypatch.setenv("SUBJECT_KEYS_ROOT_KEY", root)
        yield arn


def _opened(record: dict) -> dict:
    """The record with its sealed fields opened, as export opens them (a reader of the table)."""
    from privacy.sealed import open_record
    from privacy.subjects import Opener
    from stacks.config import load_contracts

    contract = {c.ref: c for c in load_contracts(CONFIG.contracts)}[record["_privacy"]["contract"]]
    store = DynamoKeyStore(os.environ["SUBJECT_KEYS_TABLE"], os.environ["SUBJECT_KEYS_ROOT_KEY"], create_root=False)
    out = json.loads(json.dumps(record))
    assert open_record(out, contract, Opener(store)) == []
    return out


def _info_logger(service=scrubber_handler.SERVICE) -> Logger:
    logger = Logger(service=service)
    logger.setLevel("INFO")  # Powertools keeps a named logger's first configuration for the process
    return logger


@pytest.fixture
def handler(secret_arn):
    """Built from the environment (settings and metrics), as the entry point builds it."""
    return scrubber_handler.make_handler(logger=_info_logger())


class FakeSecret:
    """A keyring source for tests: the text it holds, and how often it was asked."""

    def __init__(self, text: str):
        self.text, self.calls = text, 0

    def __call__(self) -> str:
        self.calls += 1
        return self.text


def _events(n):
    from producer.events import EventFactory, encode

    f = EventFactory(seed=3, consent_ratio=0.5, subjects=20, event_types=V1_TYPES)
    return [f.next_event() for _ in range(n)], encode


def _first_record(resp) -> dict:
    return orjson.loads(base64.b64decode(resp["records"][0]["data"]))


def test_handler_scrubs_a_producer_batch(handler, lambda_context):
    events, encode = _events(200)
    ev = firehose_event([encode(e) for e in events] + [b"{broken"])
    resp = handler(ev, lambda_context)
    recs = resp["records"]
    assert [r["recordId"] for r in recs] == [r["recordId"] for r in ev["records"]]
    assert recs[-1]["result"] == "ProcessingFailed"
    for src, out in zip(events, recs[:-1], strict=True):
        assert out["result"] == "Ok"
        got = orjson.loads(base64.b64decode(out["data"]))
        assert got["subject_id"].startswith("k:") and got["event_id"] == src["event_id"]
        if src["data_share_consent"] is True:
            text = base64.b64decode(out["data"]).decode()
            assert all(src[f] not in text for f in ("name", "ssn", "email", "phone", "dob"))  # sealed ...
            got = _opened(got)  # ... under the subject's key
            assert got["ssn"] == src["ssn"] and got["email"] == src["email"] and got["address"] == src["address"]
        else:
            assert got["ssn"] == "***-**-" + src["ssn"][-4:] and got["name"] == "REDACTED_CONTENT"
            assert got["dob"] == src["dob"][:4] and got["address"]["postcode"] == src["address"]["postcode"][:3]
            assert got["data_redacted"] is True and got["redacted_at"].endswith("Z")
    json.dumps(resp)


def test_logs_and_metrics_carry_no_personal_data(handler, lambda_context, capfd, caplog):
    events, encode = _events(50)
    bad = b'{"ssn": "987-65-4321", "email": "leak@example.com", "x": NaN}'
    ev = firehose_event([encode(e) for e in events] + [bad])
    handler(ev, lambda_context)
    out = capfd.readouterr()
    logged = "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    text = out.out + out.err + logged
    assert "RecordsIn" in text and "RecordsFailed_invalid_json" in text  # metrics were emitted
    assert "batch processed" in text  # and a log line
    emf = [json.loads(line) for line in out.out.splitlines() if '"_aws"' in line][-1]
    # the producer's records took the fast path; the broken one went to the reference engine
    assert emf["RecordsIn"] == [51.0] and emf["RecordsReferencePath"] == [1.0]
    for e in events:
        for f in ("name", "ssn", "email", "phone", "dob"):
            assert e[f] not in text
    assert "987-65-4321" not in text and "leak@example.com" not in text


def test_a_rotated_key_reaches_a_warm_container(handler, secret_arn, lambda_context, monkeypatch):
    import scrubber.settings as settings

    events, encode = _events(1)
    first = _first_record(handler(firehose_event([encode(events[0])]), lambda_context))
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(SecretId=secret_arn, SecretString=ROTATED)
    monkeypatch.setattr(settings, "SECRET_MAX_AGE_S", 0)
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    second = _first_record(handler(firehose_event([encode(events[0])]), lambda_context))
    assert handler.settings.scrubber().keys.keyring.current == "v2"  # the rotated keyring is in use
    # the subject's pseudonym is its key link: the HMAC keyring's rotation leaves it as it was
    assert first["subject_id"].startswith("k:") and second["subject_id"] == first["subject_id"]


def test_the_entry_point_is_built_from_the_environment_at_its_first_invocation(secret_arn, lambda_context, monkeypatch):
    events, encode = _events(3)
    ev = firehose_event([encode(e) for e in events])
    monkeypatch.delenv("CONTRACT_SELECTOR")
    # the module is imported and its entry point called with the configuration missing: the
    # invocation fails (Firehose retries it, then quarantines the batch); no record is returned
    with pytest.raises(RuntimeError, match="missing configuration: CONTRACT_SELECTOR"):
        scrubber_handler.lambda_handler(ev, lambda_context)
    monkeypatch.setenv("CONTRACT_SELECTOR", CONFIG.contracts.selector_json())
    resp = scrubber_handler.lambda_handler(ev, lambda_context)  # the failure was not kept
    assert [r["result"] for r in resp["records"]] == ["Ok"] * 3
    assert _first_record(resp)["subject_id"].startswith("k:")
    built = scrubber_handler.deployed_handler()
    scrubber_handler.lambda_handler(ev, lambda_context)
    assert scrubber_handler.deployed_handler() is built  # once per container


def test_importing_the_handler_reads_no_configuration():
    env = {k: v for k, v in os.environ.items() if k not in ("CONTRACT_SELECTOR", "PSEUDONYM_SECRET_ARN", "CONTRACTS_FILE")}
    code = "import scrubber.handler as h; assert callable(h.lambda_handler)"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr[-2000:]


def test_an_injected_keyring_source_is_read_at_every_batch(bundle, lambda_context):
    """No AWS: the keyring comes from the source handed in, and a new key in it is used at the next batch."""
    env = {"CONTRACT_SELECTOR": CONFIG.contracts.selector_json(), "CONTRACTS_FILE": str(bundle)}
    secret = FakeSecret(TEST_KEYRING_SECRET)
    settings = Settings(env, secret=secret, store=MemoryKeyStore())
    handler = scrubber_handler.make_handler(settings=settings)
    events, encode = _events(1)
    first = _first_record(handler(firehose_event([encode(events[0])]), lambda_context))
    port = settings.scrubber().keys
    assert port.keyring.current == "v1"
    secret.text = ROTATED
    second = _first_record(handler(firehose_event([encode(events[0])]), lambda_context))
    assert secret.calls == 3 and settings.scrubber().keys is port and port.keyring.current == "v2"
    # the subject's pseudonym is its key link: the HMAC keyring's rotation leaves it as it was
    assert first["subject_id"].startswith("k:") and second["subject_id"] == first["subject_id"]


def test_injected_logger_and_metrics_receive_the_output(bundle, lambda_context, capfd, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    env = {"CONTRACT_SELECTOR": CONFIG.contracts.selector_json(), "CONTRACTS_FILE": str(bundle)}
    handler = scrubber_handler.make_handler(
        settings=Settings(env, secret=FakeSecret(TEST_KEYRING_SECRET), store=MemoryKeyStore()),
        logger=_info_logger("scrubber-under-test"),
        metrics=Metrics(namespace="InjectedNamespace", service="scrubber-under-test"),
    )
    events, encode = _events(4)
    handler(firehose_event([encode(e) for e in events]), lambda_context)
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    emf = [x for x in lines if "_aws" in x][-1]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "InjectedNamespace" and emf["RecordsIn"] == [4.0]
    logged = [x for x in lines if x.get("message") == "batch processed"]
    assert logged and logged[-1]["service"] == "scrubber-under-test" and logged[-1]["records_in"] == 4
    assert logged[-1]["function_request_id"] == lambda_context.aws_request_id  # inject_lambda_context


def test_missing_configuration_fails_the_invocation_not_a_record(monkeypatch):
    monkeypatch.delenv("PSEUDONYM_SECRET_ARN", raising=False)
    with pytest.raises(RuntimeError, match="missing configuration: PSEUDONYM_SECRET_ARN"):
        Settings({"CONTRACT_SELECTOR": "{}"})
    with pytest.raises(RuntimeError, match="missing configuration: CONTRACT_SELECTOR; refusing"):
        Settings({}, secret=FakeSecret(TEST_KEYRING_SECRET))  # a keyring source handed in needs no ARN


def test_contracts_that_encrypt_refuse_to_run_without_the_key_table(bundle):
    """Fail closed: without per-subject keys the invocation fails (Firehose retries, then
    quarantines); it never runs with encrypted fields redacted, or worse, in clear."""
    env = {"CONTRACT_SELECTOR": CONFIG.contracts.selector_json(), "CONTRACTS_FILE": str(bundle)}
    with pytest.raises(RuntimeError, match="missing configuration: SUBJECT_KEYS_TABLE, SUBJECT_KEYS_ROOT_KEY; refusing"):
        Settings(env, secret=FakeSecret(TEST_KEYRING_SECRET))
    Settings(env, secret=FakeSecret(TEST_KEYRING_SECRET), store=MemoryKeyStore())  # a store handed in: no table needed


def test_each_quarantined_record_is_logged_with_its_place_in_the_stream_and_reason_only(handler, lambda_context, capfd, caplog):
    """An operator can tell why a quarantined record failed: its sequence number, arrival time and
    reason code are logged; its content never is."""
    events, encode = _events(3)
    bad = b'{"ssn": "987-65-4321", "email": "leak@example.com", "x": NaN}'
    ev = firehose_event([encode(events[0]), bad, encode(events[1])])
    handler(ev, lambda_context)
    cap = capfd.readouterr()
    out = cap.out + cap.err + "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    lines = [r.__dict__ for r in caplog.records if r.getMessage() == "record quarantined"]
    lines += [json.loads(line) for line in (cap.out + cap.err).splitlines()
              if line.startswith("{") and '"record quarantined"' in line]
    meta = ev["records"][1]["kinesisRecordMetadata"]
    assert sorted({(x["sequence_number"], x["arrival_ms"], x["reason"]) for x in lines}) == [
        (meta["sequenceNumber"], ev["records"][1]["approximateArrivalTimestamp"], "invalid_json")]
    assert "987-65-4321" not in out and "leak@example.com" not in out
