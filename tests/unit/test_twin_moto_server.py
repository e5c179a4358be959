"""The local cloud's server copies the key table once per transaction, not once per item (moto 5
does the latter: seconds per transaction from a few thousand subjects on), with moto's semantics:
a transaction whose condition fails writes nothing."""

from __future__ import annotations

import copy
import types

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from keystore.table import create_table
from twin import moto_server


@pytest.fixture
def table_copies(monkeypatch):
    """The server's transactions, counting the tables they deep-copy."""
    copies = []

    def deepcopy(obj, memo=None):
        if isinstance(obj, Table):
            copies.append(obj.name)
        return copy.deepcopy(obj, memo)

    monkeypatch.setattr(moto_server, "copy", types.SimpleNamespace(deepcopy=deepcopy))
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", moto_server.transact_write_items)
    with mock_aws():
        yield copies


def _puts(ids, condition=True):
    extra = {"ConditionExpression": "attribute_not_exists(#id)", "ExpressionAttributeNames": {"#id": "id"}} if condition else {}
    return [{"Put": {"TableName": "t", "Item": {"id": {"S": i}, "link": {"S": f"k:{i}"}}, **extra}} for i in ids]


def test_a_transaction_copies_the_table_once_and_keeps_its_semantics(table_copies):
    db = boto3.client("dynamodb", region_name="us-east-1")
    create_table(db, "t")
    db.transact_write_items(TransactItems=_puts([f"s#{i}" for i in range(100)]))
    assert table_copies == ["t"]  # moto's own: 100 copies
    table_copies.clear()
    with pytest.raises(ClientError, match="TransactionCanceled"):
        db.transact_write_items(TransactItems=_puts(["s#new", "s#5"]))  # s#5 exists: nothing is written
    assert table_copies == ["t"]
    assert "Item" not in db.get_item(TableName="t", Key={"id": {"S": "s#new"}})
    assert db.scan(TableName="t", Select="COUNT")["Count"] == 100


def test_the_server_holds_no_model_instance_beyond_its_state(monkeypatch):
    """moto tracks every model instance it makes, copies of the table included, forever; the
    server turns that off, or its memory grows from run to run without bound."""
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models.dynamo_type import Item

    monkeypatch.setattr(BaseModel, "__new__", BaseModel.__new__)  # restored after the test
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items)
    moto_server.install()
    with mock_aws():  # (leaving it resets moto's tracking: the counts are taken inside)
        before = len(Item.instances_tracked)
        c = boto3.client("dynamodb", region_name="us-east-1")
        c.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        for n in range(10):
            c.transact_write_items(TransactItems=_puts([f"s{n}-{j}" for j in range(100)]))
        assert c.scan(TableName="t", Select="COUNT")["Count"] == 1000
        assert len(Item.instances_tracked) == before
