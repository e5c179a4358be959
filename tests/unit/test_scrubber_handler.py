"""The deployed entry point, with Firehose events shaped like real ones and the keyring in
Secrets Manager (moto)."""

import base64
import json

import boto3
import orjson
import pytest
from moto import mock_aws

from tests.conftest import CONFIG, TEST_KEYRING_SECRET, V1_TYPES, firehose_event


@pytest.fixture
def handler(monkeypatch, tmp_path):
    import importlib

    from privacy.contract import bundle_json
    from stacks.config import load_contracts

    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="pii-scrub/pseudonymisation-keys", SecretString=TEST_KEYRING_SECRET
        )["ARN"]
        bundle = tmp_path / "contracts.json"
        bundle.write_text(bundle_json(load_contracts(CONFIG.contracts)))
        monkeypatch.setenv("CONTRACTS_FILE", str(bundle))
        monkeypatch.setenv("CONTRACT_SELECTOR", CONFIG.contracts.selector_json())
        monkeypatch.setenv("PSEUDONYM_SECRET_ARN", arn)
        monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
        monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
        import scrubber.handler as h

        h = importlib.reload(h)  # module state as a fresh Lambda container would have it
        # Powertools keeps a named logger's first configuration for the process; pin the level.
        h.logger.setLevel("INFO")
        yield h


def _events(n):
    from producer.events import EventFactory, encode

    f = EventFactory(seed=3, consent_ratio=0.5, subjects=20, event_types=V1_TYPES)
    return [f.next_event() for _ in range(n)], encode


def test_handler_scrubs_a_producer_batch(handler, lambda_context):
    events, encode = _events(200)
    ev = firehose_event([encode(e) for e in events] + [b"{broken"])
    resp = handler.lambda_handler(ev, lambda_context)
    recs = resp["records"]
    assert [r["recordId"] for r in recs] == [r["recordId"] for r in ev["records"]]
    assert recs[-1]["result"] == "ProcessingFailed"
    for src, out in zip(events, recs[:-1]):
        assert out["result"] == "Ok"
        got = orjson.loads(base64.b64decode(out["data"]))
        assert got["subject_id"].startswith("v1:") and got["event_id"] == src["event_id"]
        if src["data_share_consent"] is True:
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
    handler.lambda_handler(ev, lambda_context)
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


def test_a_rotated_key_reaches_a_warm_container(handler, lambda_context, monkeypatch):
    import scrubber.settings as settings

    events, encode = _events(1)
    first = orjson.loads(base64.b64decode(handler.lambda_handler(firehose_event([encode(events[0])]), lambda_context)["records"][0]["data"]))
    rotated = '{"current": "v2", "v1": "test-key-0123456789abcdef0123456789abcdef", "v2": "rotated-key-0123456789abcdef0123456789ab"}'
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(SecretId=handler.SETTINGS.secret_arn, SecretString=rotated)
    monkeypatch.setattr(settings, "SECRET_MAX_AGE_S", 0)
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    second = orjson.loads(base64.b64decode(handler.lambda_handler(firehose_event([encode(events[0])]), lambda_context)["records"][0]["data"]))
    assert first["subject_id"].startswith("v1:") and second["subject_id"].startswith("v2:")


def test_missing_configuration_fails_the_invocation_not_a_record(monkeypatch):
    from scrubber.settings import Settings

    monkeypatch.delenv("PSEUDONYM_SECRET_ARN", raising=False)
    with pytest.raises(RuntimeError, match="missing configuration: PSEUDONYM_SECRET_ARN"):
        Settings({"CONTRACT_SELECTOR": "{}"})
