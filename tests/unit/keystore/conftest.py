"""The key store's tests on moto 5 in-process (``mock_aws``): a KMS key with an alias, the key
table as the stack creates it, and stores over them with their own clients (as separate
containers would have)."""

from __future__ import annotations

import copy
import threading
import types
from collections.abc import Callable
from contextlib import contextmanager
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from keystore.dynamo import DYNAMODB_CONFIG, KMS_CONFIG, DynamoKeyStore
from keystore.table import create_table
from privacy.keys import Keyring
from privacy.subjects import SubjectKeys
from tests.conftest import TEST_KEYRING_SECRET

TABLE = "t-subject-keys"
ALIAS = "alias/t-subject-keys-root"
KEYRING = Keyring.from_secret(TEST_KEYRING_SECRET)


class Cloud:
    """One moto account: the root CMK (by alias), the table's own CMK, the table."""

    def __init__(self):
        self.dynamodb = boto3.client("dynamodb")
        self.kms = boto3.client("kms")
        self.root_key = self.kms.create_key(Description="root")["KeyMetadata"]["KeyId"]
        self.kms.create_alias(AliasName=ALIAS, TargetKeyId=self.root_key)
        self.table_key = self.kms.create_key(Description="table")["KeyMetadata"]["Arn"]
        create_table(self.dynamodb, TABLE, self.table_key)

    @staticmethod
    def client(service: str):
        """A client as the adapter makes its own (its retry mode, attempts and timeouts)."""
        return boto3.client(service, config=Config(**(DYNAMODB_CONFIG if service == "dynamodb" else KMS_CONFIG)))

    def store(self, dynamodb=None, kms=None, **kw) -> DynamoKeyStore:
        """A store with clients of its own (a container's), no waiting between its retries."""
        kw.setdefault("sleep", lambda s: None)
        return DynamoKeyStore(TABLE, ALIAS, dynamodb=dynamodb or self.client("dynamodb"),
                              kms=kms or self.client("kms"), **kw)

    def port(self, store: DynamoKeyStore | None = None, **kw) -> SubjectKeys:
        return SubjectKeys(KEYRING, store or self.store(), **kw)

    def raw_item(self, id: str) -> dict | None:
        return self.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": id}}, ConsistentRead=True).get("Item")


@contextmanager
def one_table_copy_per_transaction():
    """moto 5's TransactWriteItems deep-copies the table once per item of the transaction (for
    its rollback), before it applies any: a 100-item transaction on a table of n items costs 100
    copies of n items (seconds at a few thousand). The copies are all of the same state: one
    serves them all, and moto's semantics stay the same."""
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        snapshots: dict[int, Table] = {}

        def deepcopy(obj, memo=None):
            if isinstance(obj, Table):
                if id(obj) not in snapshots:
                    snapshots[id(obj)] = copy.deepcopy(obj, memo)
                return snapshots[id(obj)]
            return copy.deepcopy(obj, memo)

        with mock.patch.object(dynamodb_models, "copy", types.SimpleNamespace(deepcopy=deepcopy)):
            return original(self, transact_items)

    with mock.patch.object(DynamoDBBackend, "transact_write_items", transact_write_items):
        yield


@pytest.fixture
def cloud():
    with mock_aws(), one_table_copy_per_transaction():
        yield Cloud()


@contextmanager
def atomic_requests():
    """moto 5 in-process is not thread-safe: a TransactWriteItems deep-copies the table while
    another thread writes to it ("dictionary changed size during iteration"), and a cancelled one
    restores its copy over writes made meanwhile. DynamoDB serialises each request on an item;
    here each request is processed whole under one lock (threads still interleave between
    requests, where the adapter's races are)."""
    lock = threading.Lock()
    original = BotocoreStubber.__call__

    def locked(self, *args, **kwargs):
        with lock:
            return original(self, *args, **kwargs)

    with mock.patch.object(BotocoreStubber, "__call__", locked):
        yield


class Wrapper:
    """A client whose methods can be replaced one by one (the rest go to the real client)."""

    def __init__(self, client, **methods: Callable):
        self._client = client
        self.__dict__.update(methods)

    def __getattr__(self, name):
        return getattr(self._client, name)


def client_error(code: str, operation: str, message: str = "injected", status: int = 400, **extra) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0}, **extra}, operation)
