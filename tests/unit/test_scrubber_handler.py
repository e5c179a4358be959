"""The deployed entry point, called with Firehose events shaped like real ones."""

import base64
import json

import orjson
import pytest

from tests.conftest import firehose_event


@pytest.fixture
def handler(monkeypatch, config):
    import importlib

    import scrubber.handler as h

    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("SCRUB_POLICY", config.scrub_policy.to_json())
    h = importlib.reload(h)  # module state as a fresh Lambda container would have it
    # Powertools keeps a named logger's first configuration for the process; pin the level.
    h.logger.setLevel("INFO")
    return h


def _events(n):
    from producer.events import EventFactory, encode

    f = EventFactory(seed=3, consent_ratio=0.5, subjects=20)
    return [f.next_event() for _ in range(n)], encode


def test_handler_scrubs_a_producer_batch(handler, lambda_context, capsys):
    events, encode = _events(200)
    ev = firehose_event([encode(e) for e in events] + [b"{broken"])
    resp = handler.lambda_handler(ev, lambda_context)
    recs = resp["records"]
    assert [r["recordId"] for r in recs] == [r["recordId"] for r in ev["records"]]
    assert recs[-1]["result"] == "ProcessingFailed"
    for src, out in zip(events, recs[:-1]):
        assert out["result"] == "Ok"
        got = orjson.loads(base64.b64decode(out["data"]))
        if src["data_share_consent"] is True:
            assert got == src
        else:
            assert all(got[f] == "REDACTED_CONTENT" for f in ("name", "dob", "ssn", "email", "phone", "address", "note"))
            assert got["data_redacted"] is True and got["redacted_at"].endswith("Z")
            assert got["subject_id"] == src["subject_id"] and got["event_id"] == src["event_id"]
    # The response is valid JSON as Lambda will serialise it.
    json.dumps(resp)


def test_logs_and_metrics_carry_no_personal_data(handler, lambda_context, capfd, caplog, monkeypatch):
    events, encode = _events(50)
    bad = b'{"ssn": "987-65-4321", "email": "leak@example.com", "x": NaN}'
    ev = firehose_event([encode(e) for e in events] + [bad])
    handler.lambda_handler(ev, lambda_context)
    out = capfd.readouterr()
    logged = "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    text = out.out + out.err + logged
    assert "RecordsIn" in text and "RecordsFailed_invalid_json" in text  # metrics were emitted
    assert "batch processed" in text  # and a log line
    for e in events:
        for f in ("name", "ssn", "email", "phone", "dob"):
            assert e[f] not in text
    assert "987-65-4321" not in text and "leak@example.com" not in text


def test_reference_003_example_end_to_end(handler, lambda_context):
    ref = [
        b'{"name": "Gnoll", "dob": "2011-04-22", "gender": "M", "ssn_no": "807831104", "data_share_consent": false, "evnt_time": "2021-01-31T20:31:26.114917"}',
        b'{"name": "Kalashtar", "dob": "1942-09-05", "gender": "M", "ssn_no": "231793521", "data_share_consent": true, "evnt_time": "2021-01-31T22:09:45.591946"}',
    ]
    recs = handler.lambda_handler(firehose_event(ref), lambda_context)["records"]
    a, b = (orjson.loads(base64.b64decode(r["data"])) for r in recs)
    assert a["dob"] == a["ssn_no"] == "REDACTED_CONTENT" and a["name"] == "Gnoll" and a["data_redacted"] is True
    assert b == orjson.loads(ref[1])
