"""Producer Lambda: pushes realistic, reproducible events about people onto the Kinesis stream.

Payload: either generation keys (all optional), to generate events:
    {"count": 1000}            how many events (default 1000), or
    {"duration_seconds": 60}   produce until this much time has passed (bounded by the timeout)
    "consent_ratio": 0.5       share of subjects who consented
    "seed": 42                 same seed, same events
    "subjects": 1000           size of the subject pool
    "consent_noise": 0.0       share of events whose consent value is ambiguous (must be no consent)
    "malformed_ratio": 0.0     share of records that are not scrubbable (to prove quarantine)
    "event_types": [...]       event types ("order_placed") or contracts ("order_placed/2") to
                               produce; default: every contract that says how to generate events
    "start_time": ISO-8601     time of the first event (default: now)
or, to send events of your own (with none of the generation keys):
    {"events": [{...}, ...]}   at most one Lambda request (6 MB) of JSON objects

Events are generated from the data contracts (``events.py``: each field's ``generate:`` hint),
and every event, generated or given, is validated against its contract before it is sent
(``conformance.py``); one that does not conform is refused: counted in ``failed`` and
``nonconforming``, with its reason code in ``refused``, and never sent. A given event is checked
as it will be sent (its JSON encoding, read back), against any contract the scrubber knows; its
partition key is its subject (the contract's ``subject`` field), as for generated events.

Returns ``{sent, failed, batches, retried, produced, malformed, nonconforming, refused, seed}``;
``refused`` counts the refused events by reason code. For ``events``, ``produced`` counts the
events received, and ``refused_at`` lists ``[index, reason]`` of the first refused ones (indexes
into ``events``), so the sender can name them; no value of an event is ever returned or logged.

``make_handler`` takes the handler's dependencies (Kinesis client, contracts, stream, logger,
metrics); the ones left out are the deployed defaults, resolved at the first invocation.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import boto3
import orjson
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from streams.kinesis_sink import MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES, KinesisSink, SendResult

from .conformance import Conformance, NonConformingEvent, load_contracts
from .events import MALFORMED_SAMPLES, EventFactory, encode, producible

SERVICE = "pii-producer"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("METRICS_NAMESPACE", "PiiScrubbing"), service=SERVICE)

MAX_COUNT = 1_000_000
GENERATION_KEYS = ("count", "duration_seconds", "consent_ratio", "seed", "subjects", "consent_noise",
                   "malformed_ratio", "event_types", "start_time")
_KEY_LIKE = re.compile(r"[a-z][a-z_]{0,31}", re.ASCII)
MAX_REFUSED_AT = 100  # refused events named by index in the response (the counts are complete)
CHUNK = 2000  # events generated and sent per round in duration mode
_SAFETY_MS = 10_000

BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)
_client = None
_conformance: Conformance | None = None
_contracts: list | None = None


def contracts() -> list:
    global _contracts
    if _contracts is None:
        _contracts = load_contracts()
    return _contracts


def conformance() -> Conformance:
    """Checks events of every contract: generated events come from the producible ones only, and
    given events may be of any contract the scrubber knows."""
    global _conformance
    if _conformance is None:
        _conformance = Conformance(contracts(), every_contract=True)
    return _conformance


def kinesis_client():
    global _client
    if _client is None:
        _client = boto3.client("kinesis", config=BOTO_CONFIG)
    return _client


class PayloadError(ValueError):
    pass


def _num(payload: dict, key: str, default, lo, hi, kind=float):
    v = payload.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)):
        raise PayloadError(f"{key} must be a {'whole ' if kind is int else ''}number")
    if not lo <= v <= hi:
        raise PayloadError(f"{key} must be between {lo} and {hi}")
    return kind(v)


def parse_payload(payload: dict | None, contract_list: list | None = None) -> dict[str, Any]:
    payload = payload or {}
    if not isinstance(payload, dict):
        raise PayloadError("payload must be a JSON object")
    unknown = sorted(set(payload) - {*GENERATION_KEYS, "events"})
    if unknown:
        # a key is text the caller chose (it could be anything, personal data included): named
        # only when it looks like a payload key, counted otherwise
        named = [k for k in unknown if _KEY_LIKE.fullmatch(k)]
        rest = len(unknown) - len(named)
        raise PayloadError("unknown payload key(s): " + ", ".join(named + ([f"{rest} other(s), not shown"] if rest else []))
                           + f" (known: {', '.join((*GENERATION_KEYS, 'events'))})")
    if "events" in payload:
        mixed = [k for k in GENERATION_KEYS if k in payload]
        if mixed:
            raise PayloadError(f"events cannot be combined with generation keys ({', '.join(mixed)}): "
                               "give events to send them, or generation keys to generate events")
        events = payload["events"]
        if not isinstance(events, list):
            raise PayloadError("events must be a list of event objects")
        if len(events) > MAX_COUNT:
            raise PayloadError(f"events must hold at most {MAX_COUNT} events")
        return {"events": events}
    if "count" in payload and "duration_seconds" in payload:
        raise PayloadError("give count or duration_seconds, not both")
    opts: dict[str, Any] = {
        "count": _num(payload, "count", 1000, 0, MAX_COUNT, int) if "duration_seconds" not in payload else None,
        "duration_seconds": _num(payload, "duration_seconds", 0, 1, 900) if "duration_seconds" in payload else None,
        "consent_ratio": _num(payload, "consent_ratio", 0.5, 0.0, 1.0),
        "seed": _num(payload, "seed", random.SystemRandom().randrange(2**31), 0, 2**63 - 1, int),
        "subjects": _num(payload, "subjects", 1000, 1, 100_000, int),
        "consent_noise": _num(payload, "consent_noise", 0.0, 0.0, 1.0),
        "malformed_ratio": _num(payload, "malformed_ratio", 0.0, 0.0, 1.0),
    }
    if "event_types" in payload:
        types, known = payload["event_types"], producible(contracts() if contract_list is None else contract_list)
        if not isinstance(types, list) or not types or not all(isinstance(t, str) and t in known for t in types):
            raise PayloadError(f"event_types must be a non-empty list of {', '.join(known)}")
        opts["event_types"] = tuple(types)
    else:
        opts["event_types"] = None
    st = payload.get("start_time")
    if st is not None:
        try:
            opts["start_time"] = datetime.fromisoformat(str(st).replace("Z", "+00:00"))
        except ValueError:
            raise PayloadError("start_time must be an ISO-8601 timestamp") from None
        if opts["start_time"].tzinfo is None:
            raise PayloadError("start_time must carry a time zone")
    else:
        opts["start_time"] = None
    return opts


class Production:
    """Generates the records to send: events (partition key = subject id), plus any probes."""

    def __init__(self, opts: dict[str, Any], check=None, contract_list: list | None = None):
        self.check = check
        self.nonconforming = 0
        self.refused: dict[str, int] = {}
        self.factory = EventFactory(
            seed=opts["seed"],
            consent_ratio=opts["consent_ratio"],
            subjects=opts["subjects"],
            start_time=opts["start_time"],
            consent_noise=opts["consent_noise"],
            event_types=opts["event_types"],
            contracts=contracts() if contract_list is None else contract_list,
        )
        self.malformed_ratio = opts["malformed_ratio"]
        self.rng = random.Random(opts["seed"] ^ 0xBAD)
        self.produced = 0
        self.malformed = 0

    def records(self, n: int) -> Iterator[tuple[str, bytes]]:
        for _ in range(n):
            self.produced += 1
            if self.malformed_ratio and self.rng.random() < self.malformed_ratio:
                self.malformed += 1
                yield f"malformed-{self.produced}", self.rng.choice(MALFORMED_SAMPLES)
            else:
                ev = self.factory.next_event()
                if self.check is not None:
                    try:
                        self.check(ev)
                    except NonConformingEvent as exc:
                        self.nonconforming += 1  # never sent: the contract is the source of truth
                        self.refused[exc.reason] = self.refused.get(exc.reason, 0) + 1
                        continue
                yield ev["subject_id"], encode(ev)


class GivenEvents:
    """The records of an ``events`` payload. Each event is encoded, read back, and checked against
    its contract as it will be sent; one that cannot be sent is refused with a reason code."""

    def __init__(self, events: list, check):
        self.events = events
        self.check = check
        self.produced = 0
        self.refused: dict[str, int] = {}
        self.refused_at: list[list] = []

    def _refuse(self, index: int, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        if len(self.refused_at) < MAX_REFUSED_AT:
            self.refused_at.append([index, reason])

    def records(self) -> Iterator[tuple[str, bytes]]:
        for i, event in enumerate(self.events):
            self.produced += 1
            if type(event) is not dict:
                self._refuse(i, "not_an_object")
                continue
            try:
                data = encode(event)
                sent = orjson.loads(data)  # what the stream will carry (a NaN, for one, becomes null)
            except (orjson.JSONEncodeError, orjson.JSONDecodeError):
                self._refuse(i, "not_encodable")  # e.g. an integer beyond 64 bits
                continue
            try:
                contract = self.check(sent)
            except NonConformingEvent as exc:
                self._refuse(i, exc.reason)
                continue
            subject = _subject(sent, contract.subject)
            if not 1 <= len(subject) <= MAX_PARTITION_KEY_CHARS:
                self._refuse(i, "subject_length")  # the partition key: 1 to 256 characters
            elif len(data) + len(subject.encode("utf-8")) > MAX_RECORD_BYTES:
                self._refuse(i, "too_large")  # a Kinesis record holds at most 1 MiB
            else:
                yield subject, data


def _subject(event: dict, path: str) -> str:
    """The value of the contract's subject field (a required scalar), as a partition key."""
    v: Any = event
    for part in path.split("."):
        v = v[part]
    return v if type(v) is str else orjson.dumps(v).decode("utf-8")


def send_given(events: list, sink: KinesisSink, check) -> dict[str, Any]:
    given = GivenEvents(events, check)
    out = sink.send(given.records()).as_dict()
    refused = sum(given.refused.values())
    out["failed"] += refused
    out.update(produced=given.produced, malformed=0, nonconforming=refused, refused=given.refused,
               refused_at=given.refused_at, seed=None)
    return out


def produce(opts: dict[str, Any], sink: KinesisSink, remaining_ms=lambda: 900_000, check=None,
            contract_list: list | None = None) -> dict[str, Any]:
    prod = Production(opts, check, contract_list)
    total = SendResult()
    if opts["count"] is not None:
        total.add(sink.send(prod.records(opts["count"])))
    else:
        deadline = time.monotonic() + opts["duration_seconds"]
        while time.monotonic() < deadline and remaining_ms() > _SAFETY_MS:
            total.add(sink.send(prod.records(CHUNK)))
    out = total.as_dict()
    out["failed"] += prod.nonconforming
    out.update(produced=prod.produced, malformed=prod.malformed, nonconforming=prod.nonconforming,
               refused=prod.refused, seed=opts["seed"])
    return out


def make_handler(*, client=None, contract_list: list | None = None, stream_name: str | None = None,
                 logger: Logger = logger, metrics: Metrics = metrics) -> Callable[[dict, Any], dict]:
    """The handler, sending with ``client`` to ``stream_name`` events of ``contract_list``; left out,
    they are the deployed ones: ``kinesis_client()``, ``STREAM_NAME``, the ``CONTRACTS_FILE`` bundle."""
    checker = Conformance(contract_list, every_contract=True) if contract_list is not None else None

    @metrics.log_metrics
    @logger.inject_lambda_context(log_event=False, clear_state=True)
    def handler(event: dict, context) -> dict:
        try:
            opts = parse_payload(event, contract_list)
        except PayloadError as exc:
            # The message names a payload key, never a value.
            logger.warning("invalid payload", extra={"error": str(exc)})
            return {"error": str(exc)}
        sink = KinesisSink(kinesis_client() if client is None else client,
                           os.environ["STREAM_NAME"] if stream_name is None else stream_name)
        check = (conformance() if checker is None else checker).check
        if "events" in opts:  # events of the sender's own: each checked against its contract
            out = send_given(opts["events"], sink, check)
        else:
            remaining = getattr(context, "get_remaining_time_in_millis", lambda: 900_000)
            out = produce(opts, sink, remaining, check, contract_list)
        for key in ("sent", "failed", "retried", "batches"):
            metrics.add_metric(name=f"Producer{key.capitalize()}", unit=MetricUnit.Count, value=out[key])
        logger.info("production finished", extra=out)
        return out

    return handler


lambda_handler = make_handler()  # the client and contracts are made at its first invocation
