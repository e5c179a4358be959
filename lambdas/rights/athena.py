"""Adapter: the lake objects that hold a key link, found by Athena (``rights.finder.LinkFinder``).

One query in the catalog's workgroup (its settings enforced: results encrypted in its results
bucket, the bytes-scanned cutoff), over the ``events`` table: ``SELECT DISTINCT "$path" ... WHERE
<subject column> = ? ...`` with the link and the range as execution parameters. Then
``GetQueryExecution`` until it ends, with a bounded wait (the query is stopped when the wait runs
out), and ``GetQueryResults`` page by page. Every path must be an object of the lake bucket under
its data prefix, or the search fails: an answer we cannot place is not trusted to be complete.

Athena reads JSON text whole: the query scans every object of the range's partitions (their
compressed bytes are billed), on Athena's side and in parallel; the function then reads only the
objects named. A failed, cancelled or timed-out query fails the export with the state, the
error category and type codes and the query id: Athena's own reason is not repeated, as it can
quote a value from the lake (it is in the console, under the query id).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date

from .finder import RESULT_COLUMN, DayParts, FinderError, Found, Stop, SubjectPath, athena_query
from .lake import static_folder, template_of

CATALOG = "AwsDataCatalog"
PAGE_SIZE = 1000  # GetQueryResults' largest page
FIRST_POLL_S, MAX_POLL_S = 0.25, 2.0
_ENDED = ("FAILED", "CANCELLED")


class AthenaFinder:
    def __init__(self, athena, *, workgroup: str, database: str, table: str, bucket: str, data_prefix: str,
                 paths: Sequence[SubjectPath], timeout_s: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, page_size: int = PAGE_SIZE):
        self.athena = athena
        self.workgroup, self.database, self.table = workgroup, database, table
        self.bucket = bucket
        self.root = static_folder(template_of(data_prefix))
        self.parts = DayParts.of_prefix(template_of(data_prefix))
        self.paths = list(paths)
        self.timeout_s = timeout_s
        self.clock, self.sleep = clock, sleep
        self.page_size = page_size

    def find(self, link: str, start: date | None, end: date | None, stop: Stop | None = None) -> Found:
        if not self.paths:  # no column of the table can hold a link: no record names one
            return Found([], {"finder": "athena", "query_id": None, "bytes_scanned": 0, "objects_found": 0})
        sql, params = athena_query(self.database, self.table, self.paths, self.parts, link, start, end)
        qid = self.athena.start_query_execution(
            QueryString=sql, ExecutionParameters=params, WorkGroup=self.workgroup,
            QueryExecutionContext={"Catalog": CATALOG, "Database": self.database},
        )["QueryExecutionId"]
        execution = self._wait(qid, stop)
        keys = self._keys(qid)
        stats = execution.get("Statistics") or {}
        return Found(keys, {"finder": "athena", "query_id": qid, "bytes_scanned": stats.get("DataScannedInBytes"),
                            "engine_ms": stats.get("EngineExecutionTimeInMillis"), "objects_found": len(keys)})

    def _wait(self, qid: str, stop: Stop | None) -> dict:
        deadline = self.clock() + self.timeout_s
        delay = FIRST_POLL_S
        while True:
            execution = self.athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            status = execution.get("Status") or {}
            state = status.get("State")
            if state == "SUCCEEDED":
                return execution
            if state in _ENDED:
                raise FinderError(self._ended(qid, state, status, execution))
            left = deadline - self.clock()
            if left <= 0 or (stop is not None and stop()):
                self._stop(qid)
                why = f"within {self.timeout_s:g} s" if left <= 0 else "before the function's time ran out"
                raise FinderError(f"export: the Athena query {qid} did not finish {why} (it was {state or 'in an unknown state'}"
                                  "; it has been stopped): nothing was exported. Narrow from/to and export the rest "
                                  "separately, or raise query.export_query_timeout_seconds")
            self.sleep(min(delay, left))
            delay = min(delay * 1.5, MAX_POLL_S)

    def _stop(self, qid: str) -> None:
        try:
            self.athena.stop_query_execution(QueryExecutionId=qid)
        except Exception:  # noqa: BLE001 - best effort: the timeout is what is reported
            pass

    def _ended(self, qid: str, state: str, status: dict, execution: dict) -> str:
        err = status.get("AthenaError") or {}
        codes = ", ".join(f"{k} {err[k]}" for k in ("ErrorCategory", "ErrorType") if k in err)
        scanned = (execution.get("Statistics") or {}).get("DataScannedInBytes")
        return (f"export: the Athena query {qid} {state.lower()}" + (f" ({codes})" if codes else "")
                + (f" after scanning {scanned:,} bytes" if isinstance(scanned, int) else "")
                + ": nothing was exported. A query that would scan more than the workgroup's bytes-scanned cutoff "
                "(query.bytes_scanned_cutoff_mb) is cancelled: narrow from/to. Athena's reason is in its console under "
                "the query id (not repeated here: it can quote a value from the lake)")

    def _keys(self, qid: str) -> list[str]:
        """The lake keys of the result's paths, checked to be under the data prefix."""
        prefix = f"s3://{self.bucket}/"
        found: dict[str, None] = {}
        token, first = None, True
        while True:
            kw = {"QueryExecutionId": qid, "MaxResults": self.page_size}
            if token:
                kw["NextToken"] = token
            page = self.athena.get_query_results(**kw)
            for i, row in enumerate(page.get("ResultSet", {}).get("Rows", ())):
                data = row.get("Data") or [{}]
                value = data[0].get("VarCharValue")
                if first and i == 0 and value == RESULT_COLUMN:
                    continue  # the header row
                if type(value) is not str or not value.startswith(prefix):
                    raise FinderError(f"export: the Athena query {qid} answered a row that is not an object of the lake "
                                      f"bucket {self.bucket}: nothing was exported")
                key = value[len(prefix):]
                if not key.startswith(self.root):
                    raise FinderError(f"export: the Athena query {qid} named {key}, outside the data prefix "
                                      f"{self.root}: nothing was exported")
                found.setdefault(key)
            first = False
            token = page.get("NextToken")
            if not token:
                return sorted(found)
