"""The twin's summary: counts add up only when every record read was delivered, dropped or
quarantined, and every record read was sent by this command, left pending by an earlier one, or
put back on the stream by the scrubber (answered Dropped, read again)."""

from __future__ import annotations

import pytest

from twin.summary import Summary


def _summary(**over) -> Summary:
    base = dict(
        command="run", endpoint="http://127.0.0.1:1", server_pid=1, server_started=False, resources_created=[],
        produced=10, sent=10, producer_failed=0, producer_batches=1, producer_retried=0, producer_invocations=1,
        max_producer_request_bytes=100, nonconforming=0, refused={}, throttled_entries=0, malformed_injected=1,
        pending_before=0, read=11, invocations=1, delivered=9, redacted=4, consented=3, dropped=1, quarantined=1,
        objects_written=1, quarantine_objects=1, max_lambda_request_bytes=1, max_lambda_response_bytes=1,
        elapsed_seconds=0.1, lake={"bucket": "b", "data_objects": 1, "quarantine_objects": 1, "events": 8, "quarantined": 1},
    )
    s = Summary(**{**base, **over})
    s.check()
    return s


@pytest.mark.parametrize("over, adds_up", [
    ({}, True),
    ({"pending_before": 3, "read": 14, "delivered": 12}, True),  # an earlier command's records, delivered now
    ({"read": 10, "delivered": 8}, False),  # a record sent and never read
    ({"read": 12, "delivered": 10}, False),  # a record read that nobody sent: delivered twice?
    ({"delivered": 8}, False),  # a record read and neither delivered, dropped nor quarantined
    ({"read": 10, "delivered": 8, "dropped": 1}, False),  # put back and never read again: lost
    ({"produced": 12, "producer_failed": 1}, False),  # an event neither sent nor refused
    ({"produced": 12, "producer_failed": 2, "nonconforming": 2, "refused": {"validation_failed": 2}}, True),
])
def test_counts_add_up_only_when_every_record_is_accounted_for(over, adds_up):
    s = _summary(**over)
    assert s.counts_add_up is adds_up
    assert ("counts add up       yes" in s.report()) is adds_up


def test_the_report_says_what_was_pending_refused_and_what_the_lake_holds():
    s = _summary(pending_before=3, read=14, delivered=12, produced=12, producer_failed=2, nonconforming=2,
                 refused={"validation_failed": 1, "unknown_contract": 1}, command="push",
                 input={"file": "e.jsonl", "lines": 15, "events": 12, "blank": 1,
                        "refused_lines": [[2, "not JSON (column 1)"], [5, "not a JSON object (it is an array)"]],
                        "producer_refused_lines": [[7, "validation_failed"], [9, "unknown_contract"]]})
    text = s.report()
    assert text.startswith("Events pushed through the offline pipeline (local cloud http://127.0.0.1:1, moto server pid 1, "
                           "already running)")
    for line in ("  input                       15  lines of e.jsonl: 12 events, 2 refused, 1 blank",
                 "                      line 2: not JSON (column 1)",
                 "  refused                      2  by the producer, not sent: unknown_contract 1, validation_failed 1",
                 "                      line 9: unknown_contract",
                 "3 left pending by an earlier command",
                 "counts add up       yes  (sent 10 + pending 3 + put back 1 = read 14 = delivered 12 + dropped 1 + quarantined 1)",
                 "put back on the stream by the scrubber",
                 "  local lake          s3://b/ holds 1 data object (8 events) and 1 quarantine object (1 record)"):
        assert line in text, line


def test_a_long_list_of_refused_lines_is_cut_in_the_report():
    refused = [[n, "not JSON (column 1)"] for n in range(1, 31)]
    s = _summary(input={"file": "e", "lines": 30, "events": 0, "blank": 0, "refused_lines": refused,
                        "producer_refused_lines": []})
    text = s.report()
    assert "line 20: not JSON" in text and "line 21:" not in text and "... and 10 more (summary.json lists them)" in text


def test_a_redrive_reports_the_redrive_function_in_place_of_the_producer():
    answer = {"since": "2026-01-15T00:00:00Z", "until": None, "complete": False, "objects": 4, "objects_redriven": 1,
              "objects_split": 1, "objects_kept": 0, "objects_skipped": 1, "objects_finished": 0, "objects_not_reached": 1,
              "records_read": 10, "records_reput": 9, "records_failed": 1,
              "skipped": [{"key": "quarantine/processing-failed/x.txt", "reason": "not_a_firehose_name"}],
              "error": "quarantine/processing-failed/y.gz: SlowDown", "moved_to": "quarantine/redriven/processing-failed/"}
    s = _summary(command="redrive", redrive=answer, produced=10, sent=9, producer_failed=1, read=9, delivered=8,
                 dropped=0, quarantined=1, malformed_injected=0)
    text = s.report()
    assert s.counts_add_up
    assert text.startswith("Quarantined records redriven through the offline pipeline")
    for line in ("  redriven                     9  records put back on the stream, of 10 read from 4 error objects in "
                 "[2026-01-15T00:00:00Z, now); 1 still refused by Kinesis (left in quarantine)",
                 "  error objects                1  moved aside to s3://b/quarantine/redriven/processing-failed/, 1 split, "
                 "0 kept, 1 skipped, 0 finished, 1 not reached",
                 "                      skipped quarantine/processing-failed/x.txt: not_a_firehose_name",
                 "  INCOMPLETE          quarantine/processing-failed/y.gz: SlowDown: run it again",
                 "  quarantined                  1  (again)",
                 "counts add up       yes  (put back 9 = delivered 8 + dropped 0 + quarantined 1)"):
        assert line in text, line
    assert "produced" not in text and "producer" not in text


def _push(**over) -> Summary:
    given = {"file": "e.jsonl", "lines": 0, "events": 0, "blank": 0, "refused_lines": [], "producer_refused_lines": []}
    return _summary(command="push", input=given, **over)


def test_only_a_direct_push_says_the_events_went_on_the_stream_as_they_are():
    empty = dict(produced=0, sent=0, producer_invocations=0, producer_batches=0, read=0, delivered=0, dropped=0,
                 quarantined=0)
    direct, plain = _push(direct=True, **empty).report(), _push(**empty).report()
    assert "put on the stream as they are (--direct)" in direct
    assert "--direct" not in plain and "  producer                     0  invocations (no events to send)" in plain
    assert "invocation (largest request 100 bytes" in _push().report()


def test_events_the_producer_refused_are_not_reported_as_produced():
    text = _push(produced=3, sent=0, producer_failed=3, nonconforming=3, refused={"validation_failed": 3},
                 read=0, delivered=0, dropped=0, quarantined=0).report()
    assert "  events given                 3  (sent 0, refused by the producer 3, failed to put 0, " in text
    assert "produced" not in text
    run = _summary(produced=12, sent=9, producer_failed=3, nonconforming=2, refused={"validation_failed": 2},
                   read=10, delivered=8).report()
    assert "  produced                    12  (sent 9, refused by the producer 2, failed to put 1, " in run
