"""Firehose transformation handler: a thin shell over ``batch.process_records``.

Logs and metrics carry counts and reason codes only, never record content.

The handler is made by ``make_handler`` from its dependencies (settings with the keyring's source,
Powertools logger and metrics), so the benchmark and the tests inject theirs instead of patching
this module. ``lambda_handler``, the function's configured entry point, builds them from the
environment at its first invocation and keeps them for the container's life: importing this
module reads no configuration.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent

from .batch import process_records
from .redrive import redrive_for
from .settings import Settings

SERVICE = "pii-scrubber"

Handler = Callable[[dict, Any], dict]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_handler(settings: Settings | None = None, logger: Logger | None = None, metrics: Metrics | None = None) -> Handler:
    """The handler over ``settings`` (contracts, selector, keyring source), logging to ``logger`` and
    emitting EMF metrics through ``metrics``. Each one left out is built from the environment, now."""
    settings = settings if settings is not None else Settings()
    logger = logger if logger is not None else Logger(service=SERVICE)
    if metrics is None:
        metrics = Metrics(namespace=os.environ.get("METRICS_NAMESPACE", "PiiScrubbing"), service=SERVICE)

    @metrics.log_metrics
    @logger.inject_lambda_context(log_event=False, clear_state=True)
    def handler(event: dict, _context) -> dict:  # the context is for inject_lambda_context
        fh_event = KinesisFirehoseEvent(event)
        result = process_records(fh_event["records"], settings.scrubber(), utc_now(), redrive=redrive_for(event))

        metrics.add_metric(name="RecordsIn", unit=MetricUnit.Count, value=result.records_in)
        metrics.add_metric(name="RecordsOk", unit=MetricUnit.Count, value=result.ok)
        metrics.add_metric(name="RecordsRedacted", unit=MetricUnit.Count, value=result.redacted)
        metrics.add_metric(name="RecordsDropped", unit=MetricUnit.Count, value=result.dropped)
        # put back on the stream for want of room in the response (read again in a later batch)
        metrics.add_metric(name="RecordsRedriven", unit=MetricUnit.Count, value=result.redriven)
        metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=result.failed_total)
        for reason, n in result.failed.items():
            # Reasons are a closed set of codes defined in this package, never record content.
            metrics.add_metric(name=f"RecordsFailed_{reason}", unit=MetricUnit.Count, value=n)
        metrics.add_metric(name="BytesIn", unit=MetricUnit.Bytes, value=result.bytes_in)
        # records outside the fast path (malformed, undeclared fields, ...): a rise means slower batches
        metrics.add_metric(name="RecordsReferencePath", unit=MetricUnit.Count, value=result.reference_path)

        for seq, arrival, reason in result.failures:
            # one line per quarantined record: where it sits in the stream, and why; never its content
            logger.info("record quarantined", extra={"sequence_number": seq, "arrival_ms": arrival, "reason": reason,
                                                        "invocation_id": fh_event.invocation_id})
        logger.info(
            "batch processed",
            extra={
                "invocation_id": fh_event.invocation_id,
                "records_in": result.records_in,
                "ok": result.ok,
                "redacted": result.redacted,
                "failed": dict(result.failed),
            },
        )
        return {"records": result.records}

    handler.settings = settings  # type: ignore[attr-defined] - what it was built with (for inspection)
    return handler


@cache
def deployed_handler() -> Handler:
    """The handler built from the environment, once per container. A failure (configuration
    missing) is not kept: the invocation fails, Firehose retries it, and the retry builds anew."""
    return make_handler()


def lambda_handler(event: dict, context) -> dict:
    """The function's entry point (``scrubber.handler.lambda_handler``)."""
    return deployed_handler()(event, context)
