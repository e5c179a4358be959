"""The producer's handler with its dependencies injected (Kinesis client, contracts, stream), as
the twin or a local runner can make it, instead of patching the module's cached client."""

import orjson
import pytest

from producer.conformance import load_contracts
from producer.handler import make_handler


class RecordingKinesis:
    """Accepts every PutRecords entry, and keeps what it was sent, per stream."""

    def __init__(self):
        self.sent: dict[str, list[bytes]] = {}

    def put_records(self, StreamName, Records):  # noqa: N803 - boto3's parameter names
        kept = self.sent.setdefault(StreamName, [])
        out = []
        for r in Records:
            out.append({"SequenceNumber": str(len(kept)), "ShardId": "shardId-000000000000"})
            kept.append(r["Data"])
        return {"FailedRecordCount": 0, "Records": out}


@pytest.fixture
def order_v1():
    """One contract of the repository's: order_placed/1."""
    chosen = [c for c in load_contracts() if c.ref == "order_placed/1"]
    assert len(chosen) == 1 and chosen[0].producible
    return chosen


def test_events_go_to_the_injected_client_and_stream_and_follow_the_injected_contracts(order_v1, lambda_context, monkeypatch):
    monkeypatch.delenv("STREAM_NAME", raising=False)  # the deployed default is not read
    kinesis = RecordingKinesis()
    handler = make_handler(client=kinesis, contract_list=order_v1, stream_name="injected-stream")
    out = handler({"count": 120, "seed": 9, "subjects": 30}, lambda_context)
    assert out["sent"] == 120 and out["failed"] == 0 and out["nonconforming"] == 0
    assert list(kinesis.sent) == ["injected-stream"]
    events = [orjson.loads(d) for d in kinesis.sent["injected-stream"]]
    assert len(events) == 120
    assert {(e["event_type"], e["schema_version"]) for e in events} == {("order_placed", "1")}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # Powertools, on the refused payload
def test_event_types_are_checked_against_the_injected_contracts(order_v1, lambda_context):
    kinesis = RecordingKinesis()
    handler = make_handler(client=kinesis, contract_list=order_v1, stream_name="s")
    out = handler({"count": 1, "event_types": ["customer_signed_up"]}, lambda_context)
    assert out == {"error": "event_types must be a non-empty list of order_placed, order_placed/1"}
    assert kinesis.sent == {}
    assert handler({"count": 3, "event_types": ["order_placed/1"]}, lambda_context)["sent"] == 3
