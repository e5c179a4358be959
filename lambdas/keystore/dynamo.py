"""The per-subject key store (``privacy.subjects.KeyStore``) on DynamoDB and KMS.

One table (``items`` says its schema), one KMS customer-managed key that encrypts the root
secrets. The calls per batch are the port's claims (issue 11), counted in ``calls``:

* ``root``: 1 GetItem and 1 kms:Decrypt per container and root version, then none (cached here);
  the first scrubber ever generates it (kms:GenerateDataKey + a conditional PutItem, first writer
  wins: a loser re-reads and decrypts the winner's);
* ``get_many``: ceil(n / 100) BatchGetItem (strongly consistent), unprocessed keys retried;
* ``create_many``: ceil(n / 100) TransactWriteItems of conditional Puts (attribute_not_exists),
  plus a retry of the items a conflict cancelled. An item that exists already comes back with the
  cancellation (ReturnValuesOnConditionCheckFailure=ALL_OLD): the winner's key, or a tombstone,
  without a re-read (a consistent re-read when a reason carries no item).

Retries: botocore's standard mode retries throttling and 5xx per request (and ``calls`` counts
every attempt); this adapter retries what DynamoDB answers only partially (unprocessed keys,
cancelled transaction items), with capped exponential backoff and full jitter, bounded in
attempts and in time. What it cannot retry propagates: the scrubber then fails the invocation
and emits nothing (Firehose retries, then quarantines).

``usage`` counts what the scrubber's calls bill on an on-demand table (the cost estimate,
``twin.cost``): ``read_request_units`` and ``write_request_units`` (a transactional Put two per
KB, and one more per KB for its copy in the ``by-link`` index, which DynamoDB writes after the
transaction), and ``stored_bytes``, what the items written add to the table and its index;
``waited_ms`` the time spent in each kind of call (a remote wait, not the handler's own work).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from privacy.subjects import PeriodKey, Stored, Tombstone

from . import items as it
from .items import KeyStoreError, RootLost, RootMissing

# Sized for a Lambda: DynamoDB answers in milliseconds, so a request that hangs is retried soon
# rather than eating the invocation's timeout; KMS gets a little longer. standard mode: throttling
# and 5xx retried with exponential backoff. total_max_attempts counts the first attempt (botocore's
# max_attempts would count retries only: 5 there means 6 requests).
DYNAMODB_CONFIG = {"retries": {"mode": "standard", "total_max_attempts": 5}, "connect_timeout": 2, "read_timeout": 5,
                   "tcp_keepalive": True}
KMS_CONFIG = {"retries": {"mode": "standard", "total_max_attempts": 4}, "connect_timeout": 2, "read_timeout": 10}
BATCH_GET = 100  # BatchGetItem's limit
TRANSACT = 100  # TransactWriteItems' limit
MAX_BACKOFFS = 8  # rounds of a partial answer waited for before giving up
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 1.0
RETRY_BUDGET_S = 10.0  # never wait longer than this in total for one call of the port
ENV_TABLE = "SUBJECT_KEYS_TABLE"
ENV_ROOT_KEY = "SUBJECT_KEYS_ROOT_KEY"


def _client(service: str, config: dict):
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(**config))


class DynamoKeyStore:
    """The key table ``table_name`` and the root CMK ``root_key_id`` (id, ARN or alias).

    ``create_root=False`` makes a reader (the rights function, which may not create keys): its
    ``root`` raises ``RootMissing`` instead of generating one. Clients are made on first use
    unless given (tests inject them); ``sleep`` and ``clock`` (monotonic) drive the backoff."""

    def __init__(self, table_name: str, root_key_id: str, *, dynamodb=None, kms=None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 create_root: bool = True):
        self.table_name = table_name
        self.root_key_id = root_key_id
        self.create_root = create_root
        self.calls: Counter = Counter()
        self.usage: Counter = Counter()
        self.waited_ms: Counter = Counter()
        self._dynamodb = dynamodb
        self._kms = kms
        self._clock = clock
        self._sleep = sleep
        self._roots: dict[int, bytes] = {}
        self._lock = threading.Lock()

    @property
    def dynamodb(self):
        if self._dynamodb is None:
            self._dynamodb = _client("dynamodb", DYNAMODB_CONFIG)
        return self._dynamodb

    @property
    def kms(self):
        if self._kms is None:
            self._kms = _client("kms", KMS_CONFIG)
        return self._kms

    def _call(self, name: str, method: Callable[..., dict], **kwargs: Any) -> dict:
        """One AWS call, counted with botocore's retries of it, and timed."""
        started = time.perf_counter()
        try:
            response = method(**kwargs)
        except ClientError as exc:
            self.calls[name] += 1 + it.retry_attempts(exc.response)
            raise
        except BotoCoreError:  # no answer (connection, timeout), after botocore's retries
            self.calls[name] += 1
            raise
        finally:
            self.waited_ms[name] += (time.perf_counter() - started) * 1000
        self.calls[name] += 1 + it.retry_attempts(response)
        return response

    def _backoff(self, attempt: int, started: float, what: str, left: int) -> None:
        """Wait before retry ``attempt`` (1, 2, ...), or raise once attempts or time run out."""
        delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt))
        if attempt > MAX_BACKOFFS or self._clock() - started + delay > RETRY_BUDGET_S:
            raise KeyStoreError(f"{what}: {left} keys still not done after {attempt} attempts")
        self._sleep(delay)

    # -- root ---------------------------------------------------------------------------------

    def root(self, version: int, *, create: bool | None = None) -> bytes:
        """The 64-byte root secret of ``version``: cached for the container's life (one KMS call
        per version); created if absent unless ``create`` (default: ``create_root``) is False."""
        secret = self._roots.get(version)
        if secret is None:
            with self._lock:
                secret = self._roots.get(version)
                if secret is None:
                    secret = self._roots[version] = self._load_root(version, self.create_root if create is None else create)
        return secret

    def _load_root(self, version: int, create: bool) -> bytes:
        item = self._get_item(it.root_id(version))
        if item is None:
            if not create:
                raise RootMissing(version)
            if self._get_item(it.keyed_id(version)) is not None:  # marked: another scrubber's root just now, or lost
                item = self._get_item(it.root_id(version))
                if item is None:
                    raise RootLost(version)
        if item is None:
            made = self._call("kms:GenerateDataKey", self.kms.generate_data_key, KeyId=self.root_key_id,
                              NumberOfBytes=it.ROOT_BYTES, EncryptionContext=it.root_context(version))
            item = {"id": {"S": it.root_id(version)}, "blob": {"B": made["CiphertextBlob"]}}
            try:
                self._call("PutItem", self.dynamodb.put_item, TableName=self.table_name, Item=item,
                           ConditionExpression=it.ABSENT, ExpressionAttributeNames=it.NAMES_ID)
                self._written(item, transactional=False)
                self._mark_keyed(version)
                return _root_secret(made["Plaintext"])
            except ClientError as exc:
                if it.error_code(exc) != "ConditionalCheckFailedException":
                    raise
            item = self._get_item(it.root_id(version))  # another scrubber's won: use it
            if item is None:
                raise KeyStoreError(f"the root item of version {version} vanished after a conflicting write")
        try:
            blob = item["blob"]["B"]
        except (KeyError, TypeError):
            raise KeyStoreError(f"the root item of version {version} has no blob") from None
        opened = self._call("kms:Decrypt", self.kms.decrypt, CiphertextBlob=blob, KeyId=self.root_key_id,
                            EncryptionContext=it.root_context(version))
        return _root_secret(opened["Plaintext"])

    def _mark_keyed(self, version: int) -> None:
        """The table's mark that a root of ``version`` was made (see ``items.keyed_id``); a second
        writer's loses."""
        item = {"id": {"S": it.keyed_id(version)}}
        try:
            self._call("PutItem", self.dynamodb.put_item, TableName=self.table_name, Item=item,
                       ConditionExpression=it.ABSENT, ExpressionAttributeNames=it.NAMES_ID)
            self._written(item, transactional=False)
        except ClientError as exc:
            if it.error_code(exc) != "ConditionalCheckFailedException":
                raise

    # -- subjects -----------------------------------------------------------------------------

    def get_many(self, ids: Sequence[str]) -> dict[str, Stored | Tombstone]:
        """The items of ``ids`` that exist: ceil(n / 100) consistent BatchGetItem, each one's
        unprocessed keys retried (bounded) until none is left."""
        out: dict[str, Stored | Tombstone] = {}
        unique = list(dict.fromkeys(ids))  # BatchGetItem refuses a key asked twice
        table = self.table_name
        started = self._clock()  # the time budget is the call's; the attempts are each chunk's
        for start in range(0, len(unique), BATCH_GET):
            request = {table: {"Keys": [it.key(i) for i in unique[start:start + BATCH_GET]], "ConsistentRead": True}}
            attempt = 0
            while True:
                asked = len(request[table]["Keys"])
                response = self._call("BatchGetItem", self.dynamodb.batch_get_item, RequestItems=request)
                items = response.get("Responses", {}).get(table, ())
                for item in items:
                    out[item["id"]["S"]] = it.subject(item)
                request = response.get("UnprocessedKeys") or {}
                missing = asked - len(items) - len(request.get(table, {}).get("Keys", ()))
                self._read(items, missing)
                if not request.get(table, {}).get("Keys"):
                    break
                attempt += 1
                self._backoff(attempt, started, "BatchGetItem", len(request[table]["Keys"]))
        return out

    def create_many(self, items: Mapping[str, Stored]) -> dict[str, Stored | Tombstone]:
        """Each item written unless its id exists (first writer wins); returns what the table
        holds for every id afterwards: ours, the winner's, or a tombstone."""
        out: dict[str, Stored | Tombstone] = {}
        pending = list(items.items())
        attempt = 0
        started = self._clock()
        while pending:
            retry: list[tuple[str, Stored]] = []
            reread: list[tuple[str, Stored]] = []
            progress = contended = False
            for start in range(0, len(pending), TRANSACT):
                chunk = pending[start:start + TRANSACT]
                reasons = self._transact(chunk)
                if reasons is None:
                    out.update(chunk)
                    progress = True
                    continue
                for (id, item), reason in zip(chunk, reasons, strict=True):
                    code = reason.get("Code")
                    if code == it.EXISTS:
                        old = reason.get("Item")
                        if old:
                            out[id] = it.subject(old)
                            progress = True
                        else:
                            reread.append((id, item))
                    elif code in it.RETRIED_REASONS:
                        retry.append((id, item))
                        contended = contended or code in it.CONTENDED_REASONS
                    else:
                        raise KeyStoreError(f"TransactWriteItems was cancelled: {code}")
            if reread:  # the reasons carried no item: read what won, consistently
                found = self.get_many([id for id, _ in reread])
                for id, item in reread:
                    if id in found:
                        out[id] = found[id]
                        progress = True
                    else:
                        retry.append((id, item))
            pending = retry
            if pending and (contended or not progress):
                attempt += 1
                self._backoff(attempt, started, "TransactWriteItems", len(pending))
        return out

    def _transact(self, chunk: list[tuple[str, Stored]]) -> list[dict] | None:
        """One transaction of conditional Puts: None if written, else a reason per item."""
        table = self.table_name
        puts = [{"Put": {"TableName": table, "Item": it.subject_item(id, item), "ConditionExpression": it.ABSENT,
                         "ExpressionAttributeNames": it.NAMES_ID, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
                for id, item in chunk]
        try:
            self._call("TransactWriteItems", self.dynamodb.transact_write_items, TransactItems=puts)
        except ClientError as exc:
            if it.error_code(exc) != "TransactionCanceledException":
                raise
            return it.cancellation_reasons(exc.response, len(chunk))
        for put in puts:
            self._written(put["Put"]["Item"], transactional=True)
        return None

    def by_link(self, link: str) -> tuple[str, Stored] | None:
        """(lookup id, item) of a key link, from the ``by-link`` index (eventually consistent: a
        key created a moment ago may not be there yet); None once forgotten."""
        request = {"TableName": self.table_name, "IndexName": it.GSI_BY_LINK, "KeyConditionExpression": "#link = :link",
                   "ExpressionAttributeNames": {"#link": "link"}, "ExpressionAttributeValues": {":link": {"S": link}}}
        while True:
            response = self._call("Query", self.dynamodb.query, **request)
            for item in response.get("Items", ()):
                found = it.stored(item)
                if found is not None:
                    return item["id"]["S"], found
            last = response.get("LastEvaluatedKey")
            if not last:
                return None
            request["ExclusiveStartKey"] = last

    def forget(self, id: str, tombstone: Tombstone) -> Stored | Tombstone | None:
        """The subject's item replaced by ``tombstone`` in one UpdateItem (link and data key
        removed); returns what was there. Also fences a subject never seen: its first event
        finds the tombstone. An existing tombstone is never rewritten (the update is conditional):
        of two forgets at once, the second gets the first's tombstone, which names its receipt."""
        try:
            response = self._call(
                "UpdateItem", self.dynamodb.update_item, TableName=self.table_name, Key=it.key(id),
                UpdateExpression="SET #tomb = :tomb, #receipt = :receipt, #at = :at REMOVE #link, #dk, #rv",
                ConditionExpression="attribute_not_exists(#tomb)",
                ExpressionAttributeNames={"#tomb": "tomb", "#receipt": "receipt", "#at": "at", "#link": "link", "#dk": "dk", "#rv": "rv"},
                ExpressionAttributeValues={":tomb": {"BOOL": True}, ":receipt": {"S": tombstone.receipt}, ":at": {"S": tombstone.at}},
                ReturnValues="ALL_OLD")
        except ClientError as exc:
            if it.error_code(exc) != "ConditionalCheckFailedException":
                raise
            held = self._get_item(id)
            found = it.subject(held) if held else None
            if not isinstance(found, Tombstone):
                raise KeyStoreError("a subject item changed while it was being forgotten; nothing was recorded") from None
            return found
        old = response.get("Attributes")
        return it.subject(old) if old else None

    # -- retention periods --------------------------------------------------------------------

    def period(self, days: int, day: int, new: PeriodKey | None = None) -> PeriodKey | None:
        """The period key of retention ``days`` for ``day``; with ``new``, written if absent
        (conditional PutItem with its ``ttl``; a loser re-reads the winner's)."""
        id = it.period_id(days, day)
        item = self._get_item(id)
        if item is None and new is not None:
            item = it.period_item(id, new)
            try:
                self._call("PutItem", self.dynamodb.put_item, TableName=self.table_name, Item=item,
                           ConditionExpression=it.ABSENT, ExpressionAttributeNames=it.NAMES_ID)
                self._written(item, transactional=False)
                return new
            except ClientError as exc:
                if it.error_code(exc) != "ConditionalCheckFailedException":
                    raise
            item = self._get_item(id)
            if item is None:
                raise KeyStoreError("a period item vanished after a conflicting write")
        return None if item is None else it.period_key(item)

    def _get_item(self, id: str) -> dict | None:
        response = self._call("GetItem", self.dynamodb.get_item, TableName=self.table_name, Key=it.key(id),
                              ConsistentRead=True)
        item = response.get("Item")
        self._read([item] if item else [], 0 if item else 1)
        return item

    # -- usage (the cost estimate) --------------------------------------------------------------

    def _read(self, items, missing: int) -> None:
        """Strongly consistent reads of ``items``, and of ``missing`` keys that had none."""
        self.usage["read_request_units"] += missing + sum(it.units(it.item_bytes(i), it.READ_UNIT_BYTES) for i in items)

    def _written(self, item: dict, *, transactional: bool) -> None:
        """A new item written: in the table, and (one with a link) in the by-link index."""
        size = it.item_bytes(item)
        write = it.units(size, it.WRITE_UNIT_BYTES)
        self.usage["write_request_units"] += 2 * write if transactional else write
        self.usage["stored_bytes"] += size + it.ITEM_OVERHEAD_BYTES
        if "link" in item:  # projected whole (ALL) into the index
            self.usage["write_request_units"] += write
            self.usage["stored_bytes"] += size + it.ITEM_OVERHEAD_BYTES


def _root_secret(plaintext: bytes) -> bytes:
    if len(plaintext) != it.ROOT_BYTES:
        raise KeyStoreError(f"KMS returned a root secret of {len(plaintext)} bytes, not {it.ROOT_BYTES}")
    return bytes(plaintext)


def from_env(env: Mapping[str, str] = os.environ, **kwargs: Any) -> DynamoKeyStore:
    """The store the deployed functions use: the table and root key named by ``SUBJECT_KEYS_TABLE``
    and ``SUBJECT_KEYS_ROOT_KEY``; ``kwargs`` go to DynamoKeyStore (``create_root=False`` for a
    reader)."""
    missing = [name for name in (ENV_TABLE, ENV_ROOT_KEY) if not env.get(name)]
    if missing:
        raise KeyStoreError(f"environment variable {' and '.join(missing)} not set: the per-subject key store needs both")
    return DynamoKeyStore(env[ENV_TABLE], env[ENV_ROOT_KEY], **kwargs)
