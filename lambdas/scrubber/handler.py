"""Firehose transformation handler: a thin shell over ``batch.process_records``.

Logs and metrics carry counts and reason codes only, never record content.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent

from .batch import process_records
from .redrive import redrive_for
from .settings import Settings

SERVICE = "pii-scrubber"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("METRICS_NAMESPACE", "PiiScrubbing"), service=SERVICE)

SETTINGS = Settings()  # contracts and selector at cold start; the keyring at first use


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    fh_event = KinesisFirehoseEvent(event)
    result = process_records(fh_event["records"], SETTINGS.scrubber(), _utc_now(), redrive=redrive_for(event))

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
