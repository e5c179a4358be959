"""Athena, as far as the export's search uses it, run by DuckDB: the lake written to disk, the
catalog's ``events`` table a view over it with the columns ``make query`` and the Glue table
declare, ``"$path"`` the object's S3 URI, the partitions from the keys. Each execution parameter
is put in place of its ``?`` *as the SQL text it is*, as Athena takes it (a literal): so a
parameter quoted wrongly changes the query here as it would there.

States, statistics and pages are scripted: ``states`` the ``GetQueryExecution`` answers in turn
(the last one repeats), ``page_size`` rows per ``GetQueryResults`` page, a header row first."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import duckdb

from rights.finder import RESULT_COLUMN
from rights.ports import gunzip
from tools.lake_schema import Partitions, lake_columns, read_json_sql


def write_lake(root: Path, bucket: str, objects: dict[str, bytes]) -> Path:
    """The objects under ``root/bucket/<key>``, GZIP as in S3."""
    for key, body in objects.items():
        p = root / bucket / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(gunzip(body), mtime=0))
    return root / bucket


def substitute(sql: str, params: list[str]) -> str:
    """The query with each ``?`` replaced by its parameter's text (our SQL has no other ``?``)."""
    pieces = sql.split("?")
    assert len(pieces) == len(params) + 1, "one parameter per placeholder"
    return "".join(p + (params[i] if i < len(params) else "") for i, p in enumerate(pieces))


class DuckAthena:
    def __init__(self, root: Path, bucket: str, contracts, data_prefix: str, *, database="pii_scrub", table="events",
                 states=("RUNNING", "SUCCEEDED"), page_size=2, scanned=1234):
        self.root, self.bucket = root, bucket
        self.contracts, self.data_prefix = contracts, data_prefix
        self.database, self.table = database, table
        self.states, self.page_size, self.scanned = list(states), page_size, scanned
        self.started: list[dict] = []
        self.stopped: list[str] = []
        self.polls = 0
        self.results: dict[str, list[str]] = {}

    def _connect(self):
        files = sorted(str(p) for p in (self.root / self.bucket).rglob("*.gz"))
        parts = Partitions.of_prefix(self.data_prefix)
        cols = lake_columns(self.contracts, parts)
        source = read_json_sql(files, cols, parts)[:-1] + ", filename='lake file')"
        base = f"s3://{self.bucket}/"
        skip = len(str(self.root / self.bucket)) + 2
        con = duckdb.connect()
        con.execute(f'CREATE SCHEMA "{self.database}"')
        con.execute(f'CREATE VIEW "{self.database}"."{self.table}" AS SELECT *, \'{base}\' || substr("lake file", {skip}) '
                    f'AS "$path" FROM {source}')
        return con

    def start_query_execution(self, **kw):
        self.started.append(kw)
        assert kw["WorkGroup"] and kw["QueryExecutionContext"]["Database"] == self.database
        qid = str(uuid.uuid4())
        rows = self._connect().execute(substitute(kw["QueryString"], kw["ExecutionParameters"])).fetchall()
        self.results[qid] = [r[0] for r in rows]
        return {"QueryExecutionId": qid}

    def get_query_execution(self, QueryExecutionId):  # noqa: N803 - boto3\'s keywords
        state = self.states[min(self.polls, len(self.states) - 1)]
        self.polls += 1
        return {"QueryExecution": {"QueryExecutionId": QueryExecutionId, "Status": {"State": state},
                                   "Statistics": {"DataScannedInBytes": self.scanned, "EngineExecutionTimeInMillis": 5}}}

    def get_query_results(self, QueryExecutionId, MaxResults, NextToken=None):  # noqa: N803 - boto3\'s keywords
        rows = [RESULT_COLUMN, *self.results[QueryExecutionId]]
        start = int(NextToken or 0)
        size = min(self.page_size, MaxResults)
        page = {"ResultSet": {"Rows": [{"Data": [{"VarCharValue": v}]} for v in rows[start:start + size]]}}
        if start + size < len(rows):
            page["NextToken"] = str(start + size)
        return page

    def stop_query_execution(self, QueryExecutionId):  # noqa: N803 - boto3\'s keywords
        self.stopped.append(QueryExecutionId)
