"""The export's Athena path: the subject's objects found by their key link with one parameterised
query, then only those read. It returns exactly what the scan returns, reads fewer objects, never
puts the link in the SQL (a link with quotes matches itself and nothing else), and fails with a
message naming the query, never the link or Athena's reason, when the query fails, is cancelled,
outlives its wait, or answers outside the lake."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacy.subjects import Root
from rights.athena import AthenaFinder
from rights.core import Rights
from rights.finder import DayParts, FinderError, SubjectPath, athena_query
from rights.handler import make_handler
from rights.ports import MemoryLake, memory_root
from rights.records import to_line
from rights.settings import Settings
from stacks.catalog_columns import subject_paths
from tests.conftest import LambdaContext
from tests.unit.rights.fake_athena import DuckAthena, write_lake
from tests.unit.rights.lakes import at, data_key, lake_object
from tests.unit.rights.test_core import World, events

BUCKET = "pii-scrub-lake-123456789012-us-east-1"
PREFIX = "data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"


def _finder(athena, contracts, **kw) -> AthenaFinder:
    return AthenaFinder(athena, workgroup="pii-scrub", database="pii_scrub", table="events", bucket=BUCKET,
                        data_prefix=PREFIX, paths=subject_paths(contracts, PREFIX), sleep=lambda s: None, **kw)


def _searching(world: World, tmp_path, **kw) -> tuple[Rights, DuckAthena, MemoryLake]:
    """The world's rights, exporting through Athena (DuckDB) over a copy of its lake, read from a
    lake of its own (so its reads are counted apart)."""
    write_lake(tmp_path, BUCKET, world.lake.objects)
    athena = DuckAthena(tmp_path, BUCKET, world.contracts, PREFIX, **kw)
    lake = MemoryLake(world.lake.objects)
    rights = Rights(world.store, memory_root(world.store), lake, world.receipts, world.contracts, lake_prefix=PREFIX,
                    finder=_finder(athena, world.contracts), now=lambda: world.now)
    return rights, athena, lake


def _lines(export) -> list[bytes]:
    return [to_line(o) for o in export.records]


def _link(world: World, subject) -> str:
    return world.store.items[Root(world.store.roots[1]).lookup_id(subject)].link


def test_athena_path_returns_exactly_the_scans_records_and_reads_only_the_subjects_objects(tmp_path):
    # 8 objects over 4 days; a subject's events together, so that they are in one or two objects
    w = World(sorted(events(80, subjects=8), key=lambda e: e["subject_id"]), objects=8)
    searching, athena, lake = _searching(w, tmp_path)
    for subject in sorted({e["subject_id"] for e in w.events}):
        scan = w.rights.export(subject)
        reads = lake.reads
        found = searching.export(subject)
        assert _lines(found) == _lines(scan) and found.status == scan.status == "found"
        holding = {k for k, body in w.lake.objects.items() if _link(w, subject).encode() in lake.read(k)}
        lake.reads -= len(w.lake.objects)  # the check's own reads
        assert lake.reads - reads == len(holding) < len(w.lake.objects)
        assert found.scan.complete and found.scan.objects_total == len(holding) == found.scan.search["objects_found"]
        assert found.scan.search == {"finder": "athena", "query_id": found.scan.search["query_id"], "bytes_scanned": 1234,
                                     "engine_ms": 5, "objects_found": len(holding)}
        assert scan.scan.search == {"finder": "scan"}
    assert all(s["WorkGroup"] == "pii-scrub" for s in athena.started)


def test_a_date_range_is_in_the_query_and_gives_the_scans_records(tmp_path):
    w = World(events(60, subjects=3), objects=6)  # January 15, 15, 16, 16, 17, 17
    searching, athena, _ = _searching(w, tmp_path)
    subject = w.events[0]["subject_id"]
    for start, end in ((15, 15), (16, 17), (17, 20), (18, 20)):
        a, b = at(start).date(), at(end).date()
        assert _lines(searching.export(subject, a, b)) == _lines(w.rights.export(subject, a, b))
    sql = athena.started[-1]["QueryString"]
    assert '"year" BETWEEN ? AND ?' in sql and '"year" * 10000 + "month" * 100 + "day" BETWEEN ? AND ?' in sql
    assert athena.started[-1]["ExecutionParameters"][-4:] == ["2026", "2026", "20260118", "20260120"]


# -- parameters, never SQL text ---------------------------------------------------------------------

def _unquote(param: str) -> str:
    """The value of a SQL string literal; fails unless it is one (quotes inside doubled)."""
    assert len(param) >= 2 and param[0] == param[-1] == "'"
    inner = param[1:-1]
    assert "'" not in inner.replace("''", ""), "an undoubled quote would end the literal"
    return inner.replace("''", "'")


@settings(max_examples=300)
@given(st.text(min_size=1), st.text(min_size=1))
def test_the_sql_never_holds_the_link_and_each_parameter_is_its_exact_literal(a, b):
    paths = [SubjectPath(("subject_id",)), SubjectPath(("customer", "id")), SubjectPath(("meta", "who"), json_from=1)]
    parts = DayParts.of_prefix(PREFIX)
    sql_a, params_a = athena_query("pii_scrub", "events", paths, parts, a, date(2026, 1, 1), date(2026, 3, 1))
    sql_b, params_b = athena_query("pii_scrub", "events", paths, parts, b, date(2026, 1, 1), date(2026, 3, 1))
    assert sql_a == sql_b  # the link does not reach the text
    assert sql_a.count("?") == len(params_a) == 7
    assert [_unquote(p) for p in params_a[:3]] == [a] * 3 and [_unquote(p) for p in params_b[:3]] == [b] * 3
    assert params_a[3:] == ["2026", "2026", "20260101", "20260301"]


def _quoted_world(subjects):
    """A lake whose records' subject fields hold ``subjects`` as they are (one object each), and
    one record of an ordinary link."""
    objects = {}
    for i, s in enumerate([*subjects, "k:AAAAAAAAAAAAAAAAAAAAAA"]):
        record = {"event_type": "customer_signed_up", "schema_version": "1", "subject_id": s,
                  "_privacy": {"contract": "customer_signed_up/1", "applied": {}}}
        objects[data_key(at(15), i)] = lake_object([record])
    return objects


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet="k:'\"\\;-= OR1a", min_size=1, max_size=12), min_size=1, max_size=4, unique=True))
def test_a_link_with_quotes_matches_itself_and_nothing_else(tmp_path_factory, subjects):
    from tests.unit.rights.lakes import encrypting_contracts

    tmp = tmp_path_factory.mktemp("lake")
    objects = _quoted_world(subjects)
    write_lake(tmp, BUCKET, objects)
    contracts = encrypting_contracts()
    finder = _finder(DuckAthena(tmp, BUCKET, contracts, PREFIX), contracts)
    for i, s in enumerate(subjects):
        assert finder.find(s, None, None).keys == [data_key(at(15), i)]
    for probe in ("' OR '1'='1", "x' OR subject_id IS NOT NULL OR 'y", "'", "''"):
        want = [data_key(at(15), i) for i, s in enumerate(subjects) if s == probe]
        assert finder.find(probe, None, None).keys == want


# -- failures ---------------------------------------------------------------------------------------

SECRET_REASON = "HIVE_BAD_DATA: Error parsing field value 'subject-4711@example.com'"


class Scripted:
    """An Athena client whose executions end as told."""

    def __init__(self, status: dict, rows=(), clock=None):
        self.status, self.rows = status, list(rows)
        self.stopped, self.clock = [], clock

    def start_query_execution(self, **kw):
        self.kw = kw
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId):  # noqa: N803 - boto3\'s keywords
        if self.clock is not None:
            self.clock[0] += 1.0
        return {"QueryExecution": {"Status": self.status, "Statistics": {"DataScannedInBytes": 10_485_760}}}

    def get_query_results(self, QueryExecutionId, MaxResults, NextToken=None):  # noqa: N803 - boto3\'s keywords
        return {"ResultSet": {"Rows": [{"Data": [{"VarCharValue": v}]} for v in self.rows]}}

    def stop_query_execution(self, QueryExecutionId):  # noqa: N803 - boto3\'s keywords
        self.stopped.append(QueryExecutionId)


LINK = "k:xxxxxxxxxxxxxxxxxxxxxx"


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
def test_a_failed_or_cancelled_query_fails_the_export_naming_it_and_not_its_reason(state):
    status = {"State": state, "StateChangeReason": SECRET_REASON, "AthenaError": {"ErrorCategory": 2, "ErrorType": 1001}}
    with pytest.raises(FinderError) as e:
        _finder(Scripted(status), World([]).contracts).find(LINK, None, None)
    msg = str(e.value)
    assert f"q-1 {state.lower()}" in msg and "ErrorCategory 2, ErrorType 1001" in msg and "10,485,760 bytes" in msg
    assert "bytes_scanned_cutoff_mb" in msg and "nothing was exported" in msg
    assert "4711" not in msg and "HIVE" not in msg and LINK not in msg


def test_a_query_that_outlives_its_wait_is_stopped_and_fails_the_export():
    clock = [0.0]
    athena = Scripted({"State": "RUNNING"}, clock=clock)
    finder = _finder(athena, World([]).contracts, timeout_s=30, clock=lambda: clock[0])
    with pytest.raises(FinderError, match=r"q-1 did not finish within 30 s .*stopped"):
        finder.find(LINK, None, None)
    assert athena.stopped == ["q-1"] and 29 <= clock[0] <= 32
    athena = Scripted({"State": "QUEUED"})  # the function's own time runs out first
    with pytest.raises(FinderError, match="before the function's time ran out"):
        _finder(athena, World([]).contracts).find(LINK, None, None, stop=lambda: True)
    assert athena.stopped == ["q-1"]


@pytest.mark.parametrize("row, what", [
    ("s3://another-bucket/data/x.gz", "not an object of the lake bucket"),
    (f"s3://{BUCKET}/quarantine/x.gz", "outside the data prefix"),
    (None, "not an object of the lake bucket"),
])
def test_an_answer_outside_the_lake_fails_the_export(row, what):
    athena = Scripted({"State": "SUCCEEDED"}, rows=["lake_object", f"s3://{BUCKET}/data/year=2026/a.gz", row])
    with pytest.raises(FinderError, match=what):
        _finder(athena, World([]).contracts).find(LINK, None, None)


def test_keys_outside_the_requested_days_fail_the_export():
    w = World(events(20, subjects=2), objects=4)
    athena = Scripted({"State": "SUCCEEDED"}, rows=["lake_object", *(f"s3://{BUCKET}/{k}" for k in w.lake.objects)])
    rights = Rights(w.store, memory_root(w.store), w.lake, w.receipts, w.contracts, finder=_finder(athena, w.contracts))
    day = at(15).date()
    with pytest.raises(FinderError, match="day=16/.*outside the requested partitions"):
        rights.export(w.events[0]["subject_id"], day, day)
    assert w.lake.reads == 0


def test_results_are_read_page_by_page_and_the_header_skipped_once(tmp_path):
    w = World(events(80, subjects=2), objects=8)
    searching, athena, _ = _searching(w, tmp_path, page_size=3)
    subject = w.events[0]["subject_id"]
    got = searching.export(subject)
    assert _lines(got) == _lines(w.rights.export(subject)) and got.scan.objects_total >= 4  # several pages


def test_the_handler_fails_the_invocation_and_logs_neither_the_subject_nor_the_link(capfd):
    from aws_lambda_powertools import Logger

    w = World(events(10, subjects=1))
    subject = w.events[0]["subject_id"]
    status = {"State": "FAILED", "StateChangeReason": SECRET_REASON}
    settings_ = Settings({}, store=w.store, root=w.rights.root_reader, lake=w.lake, receipts=w.receipts,
                         contracts=w.contracts, finder=_finder(Scripted(status), w.contracts))
    handler = make_handler(settings_, Logger(service="t"))
    with pytest.raises(FinderError) as e:
        handler({"action": "export", "subject_id": subject}, LambdaContext())
    out = capfd.readouterr()
    said = out.out + out.err + str(e.value)
    assert "search_failed" in out.out
    assert subject not in said and _link(w, subject) not in said and "4711" not in said
    assert json.dumps(subject) not in said
