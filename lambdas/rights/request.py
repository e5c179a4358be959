"""The subject-rights function's payload, checked. A bad payload is refused with a message naming
the field, never repeating a value of it (the subject id above all).

    {"action": "forget", "subject_id": "..."}
    {"action": "export", "subject_id": "...", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}

``from`` and ``to`` (UTC days, both included) are optional: without them the whole lake is read;
``from`` alone reads up to today.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from .lake import MAX_RANGE_DAYS

ACTIONS = ("forget", "export")
FIELDS = {"forget": ("action", "subject_id"), "export": ("action", "subject_id", "from", "to")}
MAX_SUBJECT_CHARS = 4096
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,31}", re.ASCII)


class BadRequest(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field

    def response(self) -> dict:
        return {"error": str(self), "field": self.field}


class Request(NamedTuple):
    action: str
    subject_id: str
    start: date | None = None
    end: date | None = None


def _today() -> date:
    return datetime.now(UTC).date()


def _date(payload: dict, name: str) -> date | None:
    v = payload.get(name)
    if v is None:
        return None
    if type(v) is not str or not _DATE.fullmatch(v):
        raise BadRequest(name, "must be a date written YYYY-MM-DD (UTC)")
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise BadRequest(name, "is not a calendar date (YYYY-MM-DD)") from None


def parse(payload: Any, today: Callable[[], date] = _today) -> Request:
    if type(payload) is not dict:
        raise BadRequest(None, "the payload must be a JSON object: {\"action\": \"forget\" or \"export\", \"subject_id\": ...}")
    action = payload.get("action")
    if action is None:
        raise BadRequest("action", "is required: forget or export")
    if action not in ACTIONS:  # never repeated: it could be anything, a subject id included
        raise BadRequest("action", "must be forget or export")
    unexpected = [k for k in payload if k not in FIELDS[action]]
    if unexpected:
        named = sorted(k for k in unexpected if type(k) is str and _NAME.fullmatch(k))
        others = len(unexpected) - len(named)
        what = ", ".join(named + ([f"{others} key(s) that are not plain names"] if others else []))
        raise BadRequest(None, f"unexpected key(s) for {action}: {what} (expected: {', '.join(FIELDS[action])})")
    subject = payload.get("subject_id")
    if subject is None:
        raise BadRequest("subject_id", "is required: the subject's id as their events carry it")
    if type(subject) is not str or not subject:
        raise BadRequest("subject_id", "must be a non-empty string (the subject's id as their events carry it; "
                                       "a numeric id is given as its digits)")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise BadRequest("subject_id", f"is longer than {MAX_SUBJECT_CHARS:,} characters")
    if subject[0].isspace() or subject[-1].isspace():
        raise BadRequest("subject_id", "starts or ends with a space: the scrubber refuses such ids (invalid_subject), so "
                                       "no subject has one; give the id without them")
    if action == "forget":
        return Request(action, subject)
    start, end = _date(payload, "from"), _date(payload, "to")
    if end is not None and start is None:
        raise BadRequest("from", "is required with to")
    if start is not None and end is None:
        end = max(start, today())
    if start is not None and start > end:
        raise BadRequest("from", "is after to")
    if start is not None and (end - start).days + 1 > MAX_RANGE_DAYS:
        raise BadRequest("to", f"the range spans more than {MAX_RANGE_DAYS:,} days (leave out from and to to read the "
                               "whole lake)")
    return Request(action, subject, start, end)
