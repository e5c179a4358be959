"""S3 Batch Operations "Invoke AWS Lambda function" handler: one historic object per task, through
the stream's ``Scrubber`` into the lake (``job.ObjectBackfill``).

Both invocation schemas are read (1.0: ``s3BucketArn``; 2.0: ``s3Bucket`` and ``userArguments``),
keys URL-decoded as S3 Batch Operations hands them over. Each task is answered:

* ``Succeeded``: every line of the object was delivered scrubbed or quarantined; the result string
  (in the completion report) holds the counts and reason codes, never content;
* ``TemporaryFailure``: throttling, or S3, Secrets Manager, DynamoDB or KMS (the key store)
  unavailable: nothing was written (or, during the uploads, keys a retry rewrites) and S3 Batch
  Operations retries the task;
* ``PermanentFailure``: the object is missing, unreadable, over the per-object limit, or the
  configuration is broken: nothing was written. The result string names the reason code.

``treatMissingKeysAs`` is ``PermanentFailure``: a task the answer left out never counts as done.
Logs and metrics carry counts, reason codes and object keys only.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError, ClientError

from keystore.items import KeyStoreError

from .job import Failure, ObjectBackfill, Outcome, Source
from .settings import BackfillSettings, ConfigurationError

SERVICE = "pii-backfill"
SUCCEEDED, TEMPORARY, PERMANENT = "Succeeded", "TemporaryFailure", "PermanentFailure"
# AWS error codes that mean "not now": S3 Batch Operations retries the task
_TEMPORARY_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "RequestTimeout", "RequestTimeoutException", "InternalError",
    "InternalFailure", "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException",
    "KMSInternalException", "KeyUnavailableException", "DependencyTimeoutException", "TransactionConflictException",
})
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404"})

Handler = Callable[[dict, Any], dict]


def classify(exc: BaseException) -> tuple[str, str, str]:
    """(result code, reason code, AWS error code or "") of an exception that ended a task."""
    if isinstance(exc, Failure):
        return (TEMPORARY if exc.temporary else PERMANENT), exc.reason, ""
    if isinstance(exc, ConfigurationError):
        return PERMANENT, "configuration", ""
    if isinstance(exc, KeyStoreError):
        return TEMPORARY, "key_store_unavailable", ""
    if isinstance(exc, GetParameterError):  # the keyring, from Secrets Manager
        return TEMPORARY, "keyring_unavailable", ""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in _TEMPORARY_CODES or status >= 500:
            return TEMPORARY, "aws_unavailable", code
        if code in _MISSING_CODES:
            return PERMANENT, "source_missing", code
        return PERMANENT, "aws_error", code
    if isinstance(exc, BotoCoreError):  # no answer: connection, timeout, a stream cut short
        return TEMPORARY, "aws_unavailable", type(exc).__name__
    return PERMANENT, "internal_error", ""


def _now() -> tuple[str, int]:
    now = datetime.now(UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z"), int(now.timestamp() * 1000)


def make_handler(settings: BackfillSettings | None = None, logger: Logger | None = None,
                 metrics: Metrics | None = None) -> Handler:
    """The handler over ``settings`` (built from the environment at the first task when None: a
    configuration that does not load fails each task permanently, and is read again next time)."""
    logger = logger if logger is not None else Logger(service=SERVICE)
    if metrics is None:
        metrics = Metrics(namespace=os.environ.get("METRICS_NAMESPACE", "PiiScrubbing"), service=SERVICE)
    built: list[BackfillSettings] = [settings] if settings is not None else []

    def current() -> BackfillSettings:
        if not built:
            built.append(BackfillSettings())
        return built[0]

    def task_result(task, job_id: str, context) -> dict:
        started = time.perf_counter()
        try:
            source = Source(task.s3_bucket, task.s3_key, task.s3_version_id)
        except (KeyError, TypeError, AttributeError):
            return _result(task, PERMANENT, {"error": "malformed_task"})
        try:
            s = current()
            redacted_at, now_ms = _now()
            out = ObjectBackfill(
                s.s3, s.scrubber.scrubber(), lake=s.lake_bucket, data_prefix=s.data_prefix,
                quarantine_prefix=s.quarantine_prefix, lake_key=s.lake_key, time_field=s.time_field,
                max_bytes=s.max_object_bytes, redacted_at=redacted_at, now_ms=now_ms,
                remaining_ms=context.get_remaining_time_in_millis, lambda_arn=getattr(context, "invoked_function_arn", ""),
            ).run(source)
        except Exception as exc:  # noqa: BLE001 - every task is answered; the code says whether S3 Batch retries it
            code, reason, aws = classify(exc)
            detail = str(exc) if isinstance(exc, (Failure, ConfigurationError)) else ""  # sizes, limits, names
            metrics.add_metric(name="ObjectsFailed", unit=MetricUnit.Count, value=1)
            logger.warning("object not backfilled", extra={"job_id": job_id, "bucket": source.bucket, "key": source.key,
                                                           "result": code, "reason": reason, "aws_error": aws,
                                                           "exception": type(exc).__name__})  # its class, never its message
            return _result(task, code, {"error": reason, **({"aws_error": aws} if aws else {}),
                                        **({"detail": detail} if detail else {})})
        _record(metrics, out)
        logger.info("object backfilled", extra={"job_id": job_id, "bucket": source.bucket, "key": source.key,
                                                "seconds": round(time.perf_counter() - started, 3), **out.report()})
        return _result(task, SUCCEEDED, out.report())

    @metrics.log_metrics
    @logger.inject_lambda_context(log_event=False, clear_state=True)
    def handler(event: dict, context) -> dict:
        batch = S3BatchOperationEvent(event)
        job_id = str((event.get("job") or {}).get("id", ""))
        return {
            "invocationSchemaVersion": batch.invocation_schema_version,
            "treatMissingKeysAs": PERMANENT,
            "invocationId": batch.invocation_id,
            "results": [task_result(task, job_id, context) for task in batch.tasks],
        }

    return handler


def _result(task, code: str, body: dict) -> dict:
    return {"taskId": task.task_id, "resultCode": code, "resultString": json.dumps(body, separators=(",", ":"))}


def _record(metrics: Metrics, out: Outcome) -> None:
    metrics.add_metric(name="ObjectsSucceeded", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RecordsIn", unit=MetricUnit.Count, value=out.records_in)
    metrics.add_metric(name="RecordsOk", unit=MetricUnit.Count, value=out.delivered)
    metrics.add_metric(name="RecordsRedacted", unit=MetricUnit.Count, value=out.redacted)
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=out.quarantined)
    for reason, n in out.reasons.items():  # a closed set of codes, never content
        metrics.add_metric(name=f"RecordsFailed_{reason}", unit=MetricUnit.Count, value=n)
    metrics.add_metric(name="BytesIn", unit=MetricUnit.Bytes, value=out.bytes_in)
    metrics.add_metric(name="RecordsReferencePath", unit=MetricUnit.Count, value=out.reference_path)


@cache
def deployed_handler() -> Handler:
    return make_handler()


def lambda_handler(event: dict, context) -> dict:
    """The function's entry point (``backfill.handler.lambda_handler``)."""
    return deployed_handler()(event, context)
