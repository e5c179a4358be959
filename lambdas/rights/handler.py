"""The subject-rights function: ``forget`` and ``export``, invoked directly (``aws lambda invoke``).

    {"action": "forget", "subject_id": "..."}
        -> {"action": "forget", "outcome": "forgotten" | "no_key" | "already_forgotten",
            "receipt": {"id", "bucket", "key"}, "summary": "...", ...}
    {"action": "export", "subject_id": "...", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}
        -> {"action": "export", "status": "found", "records": n, "lines": "<JSON lines>", "scan": {...}}
           or, past ``INLINE_LIMIT`` bytes of response, the lines written to the receipts bucket:
           {..., "lines": null, "export": {"bucket", "key": "exports/<random id>.jsonl", "bytes"}}
           a forgotten subject: {"status": "forgotten", "records": 0, "receipt": {...}}

A bad payload gets ``{"error": "...", "field": "..."}`` naming the field, never a value of it.
Logs carry the action, outcomes, counts and receipt ids: never a subject id, nor any record's
content. A failure of AWS fails the invocation (nothing is reported done that was not); so does a
search for the subject's objects that did not answer (``rights.finder.FinderError``: an Athena
query failed, was cancelled or ran out of time), with a message that names its state and id.
``scan.search`` says how the objects were chosen: ``{"finder": "scan"}``, or Athena's query id,
bytes scanned and objects found.

``make_handler`` takes the dependencies (settings: key store, root reader, lake, receipts,
contracts; logger); ``lambda_handler`` builds them from the environment at its first invocation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from .core import NoKeys
from .finder import FinderError
from .records import to_line
from .request import BadRequest, parse
from .settings import Settings

SERVICE = "pii-subject-rights"
INLINE_LIMIT = 5_000_000  # bytes of the response's "lines" as JSON text (Lambda returns at most 6 MB)
TIME_MARGIN_MS = 60_000  # an export stops reading this long before the timeout, to write its answer
EXPORTS_PREFIX = "exports/"

Handler = Callable[[dict, Any], dict]


def _json_size(line: bytes) -> int:
    """The bytes a JSON line takes inside the response's JSON string (escapes, non-ASCII as \\u)."""
    return len(json.dumps(line.decode("utf-8", "surrogatepass"))) - 2


def make_handler(settings: Settings | None = None, logger: Logger | None = None,
                 inline_limit: int = INLINE_LIMIT) -> Handler:
    settings = settings if settings is not None else Settings()
    logger = logger if logger is not None else Logger(service=SERVICE)
    rights = settings.rights()

    def forget(request) -> dict:
        try:
            done = rights.forget(request.subject_id)
        except NoKeys as exc:
            logger.info("forget refused", extra={"reason": "no_keys"})
            return {"action": "forget", "error": str(exc), "reason": "no_keys"}
        logger.info("forget done", extra={"outcome": done.outcome, "receipt": done.receipt_id})
        return {"action": "forget", "outcome": done.outcome,
                "receipt": {"id": done.receipt_id, "bucket": getattr(settings.receipts, "bucket", None),
                            "key": done.receipt_key},
                "summary": done.receipt["summary"], "destroyed": done.receipt["destroyed"],
                "caches": done.receipt["caches"]["statement"], "backups": done.receipt["backups"]["statement"]}

    def export(request, context) -> dict:
        stop = None
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            stop = lambda: context.get_remaining_time_in_millis() < TIME_MARGIN_MS  # noqa: E731
        try:
            result = rights.export(request.subject_id, request.start, request.end, stop=stop)
        except FinderError:
            logger.info("export failed", extra={"reason": "search_failed"})
            raise
        out: dict[str, Any] = {"action": "export", "status": result.status}
        if result.status != "found":
            logger.info("export done", extra={"status": result.status})
            out.update(records=0, lines="")
            if result.receipt is not None:
                out["receipt"] = {**result.receipt, "bucket": getattr(settings.receipts, "bucket", None)}
            if result.status == "no_keys":
                out["note"] = "the key table has no root: no subject was ever keyed"
            return out
        chunks: list[bytes] = []
        size = records = 0
        for item in result.records:
            line = to_line(item)
            chunks.append(line)
            size += _json_size(line)
            records += 1
        body = b"".join(chunks)
        scan = result.scan.report()
        out.update(records=records, scan=scan)
        if size <= inline_limit:
            out["lines"] = body.decode("utf-8", "surrogatepass")
        else:
            key = f"{EXPORTS_PREFIX}{uuid.uuid4()}.jsonl"
            settings.receipts.put(key, body, "application/x-ndjson")
            out["lines"] = None
            out["export"] = {"bucket": getattr(settings.receipts, "bucket", None), "key": key, "bytes": len(body)}
        if not scan["complete"]:
            out["incomplete"] = "; ".join(scan["gaps"])
        logger.info("export done", extra={"status": "found", "records": records, "inline": out["lines"] is not None,
                                          "objects": scan["objects"], "objects_total": scan["objects_total"],
                                          "unopened": scan["tokens_unopened"], "unknown_contract": scan["unknown_contract"],
                                          "search": scan.get("search")})
        return out

    @logger.inject_lambda_context(log_event=False, clear_state=True)
    def handler(event: dict, context) -> dict:
        try:
            request = parse(event)
        except BadRequest as exc:
            logger.info("request refused", extra={"field": exc.field})
            return exc.response()
        if request.action == "forget":
            return forget(request)
        return export(request, context)

    return handler


@cache
def deployed_handler() -> Handler:
    """Built from the environment once per container (a failure is not kept: the next call retries)."""
    return make_handler()


def lambda_handler(event: dict, context) -> dict:
    """The function's entry point (``rights.handler.lambda_handler``)."""
    return deployed_handler()(event, context)
