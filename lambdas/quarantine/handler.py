"""The redrive function: quarantined records back through the pipeline, invoked directly
(``aws lambda invoke``; offline, ``make redrive``).

    {"since": "2026-01-15", "until": "2026-01-16T06:00:00Z"}
        both optional (an open end); each a UTC day (its midnight) or an ISO-8601 time with its zone;
        the error objects whose oldest record arrived in [since, until) are redriven
    -> {"complete": true, "since": ..., "until": ..., "objects": n, "objects_redriven": n, "objects_split": n,
        "objects_kept": n, "objects_skipped": n, "objects_finished": n, "objects_not_reached": n,
        "records_read": n, "records_reput": n, "records_failed": n, "skipped": [{"key", "reason"}],
        "error": null, "moved_to": "<quarantine root>redriven/...", "put_records": {"calls": n, "retried": n}}

What the counts mean is in ``quarantine.redrive``. ``complete`` is false when the run stopped
before the end of the range: ``TIME_MARGIN_MS`` before the function's timeout (invoke it again
with the same range: what was moved aside is not redriven twice), or at an AWS failure (``error``
names the object and the error code). A bad payload gets ``{"error": "...", "field": "..."}``
naming the field, never a value. Logs carry keys, counts, outcomes and reason codes: never a
record's content.

``make_handler`` takes the dependencies (store, stream, layout, logger); the ones left out are
built from the environment (``LAKE_BUCKET``, ``QUARANTINE_PREFIX``, ``STREAM_NAME``,
``MAX_ATTEMPTS``) at the first invocation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from .layout import Layout, RangeError, parse_range
from .ports import ObjectStore, Stream
from .redrive import Redrive

SERVICE = "pii-quarantine-redrive"
TIME_MARGIN_MS = 60_000  # no new object is started this close to the timeout
FIELDS = ("since", "until")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,31}", re.ASCII)
# botocore's standard retry mode for each call; the sink retries the entries Kinesis refused
BOTO_CONFIG = {"retries": {"max_attempts": 5, "mode": "standard"}, "connect_timeout": 5, "read_timeout": 30}

Handler = Callable[[dict, Any], dict]


class BadRequest(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field

    def response(self) -> dict:
        return {"error": str(self), "field": self.field}


def parse(payload: Any) -> tuple[int | None, int | None]:
    """[since, until) in epoch milliseconds from the payload; raises ``BadRequest``."""
    if type(payload) is not dict:
        raise BadRequest(None, 'the payload must be a JSON object: {"since": ..., "until": ...} (both optional)')
    unexpected = [k for k in payload if k not in FIELDS]
    if unexpected:
        named = sorted(k for k in unexpected if type(k) is str and _NAME.fullmatch(k))
        others = len(unexpected) - len(named)
        what = ", ".join(named + ([f"{others} key(s) that are not plain names"] if others else []))
        raise BadRequest(None, f"unexpected key(s): {what} (expected: since, until)")
    try:
        return parse_range(payload.get("since"), payload.get("until"))
    except RangeError as exc:
        raise BadRequest(exc.field, str(exc).split(": ", 1)[1]) from None


def _deployed_ports() -> tuple[ObjectStore, Stream, Layout]:
    import boto3
    from botocore.config import Config

    from .aws import KinesisStream, S3Store

    config = Config(**BOTO_CONFIG)
    store = S3Store(boto3.client("s3", config=config), os.environ["LAKE_BUCKET"])
    stream = KinesisStream(boto3.client("kinesis", config=config), os.environ["STREAM_NAME"],
                           max_attempts=int(os.environ.get("MAX_ATTEMPTS", "5")))
    return store, stream, Layout(os.environ["QUARANTINE_PREFIX"])


def make_handler(store: ObjectStore | None = None, stream: Stream | None = None, layout: Layout | None = None,
                 logger: Logger | None = None, time_margin_ms: int = TIME_MARGIN_MS) -> Handler:
    if store is None or stream is None or layout is None:
        d_store, d_stream, d_layout = _deployed_ports()
        store, stream, layout = store or d_store, stream or d_stream, layout or d_layout
    logger = logger if logger is not None else Logger(service=SERVICE)

    def log(key: str, outcome: str, detail: dict) -> None:
        logger.info("error object", extra={"key": key, "outcome": outcome, **detail})

    redrive = Redrive(store, stream, layout, on_object=log)

    @logger.inject_lambda_context(log_event=False, clear_state=True)
    def handler(event: dict, context) -> dict:
        try:
            since, until = parse(event)
        except BadRequest as exc:
            logger.info("request refused", extra={"field": exc.field})
            return exc.response()
        stop = None
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            stop = lambda: context.get_remaining_time_in_millis() < time_margin_ms  # noqa: E731
        totals = getattr(stream, "totals", None)
        calls, retried = (totals.batches, totals.retried) if totals is not None else (0, 0)
        counts = redrive.run(since, until, stop=stop)
        out = {**counts.as_dict(), "moved_to": layout.redriven_listing}
        if totals is not None:
            out["put_records"] = {"calls": totals.batches - calls, "retried": totals.retried - retried}
        logger.info("redrive done", extra={k: v for k, v in out.items() if k != "skipped"})
        return out

    return handler


@cache
def deployed_handler() -> Handler:
    """Built from the environment once per container (a failure is not kept: the next call retries)."""
    return make_handler()


def lambda_handler(event: dict, context) -> dict:
    """The function's entry point (``quarantine.handler.lambda_handler``)."""
    return deployed_handler()(event, context)
