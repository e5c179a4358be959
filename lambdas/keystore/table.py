"""The key table as the CDK stack creates it, for the offline twin and the tests.

Partition key ``id`` (S), no sort key, on-demand; the ``by-link`` index (partition key ``link``,
all attributes projected: a reader finds a subject's key by the link stored in the lake); TTL on
``ttl`` (period keys); encrypted with the given customer-managed KMS key (without one, DynamoDB's
default encryption, with an AWS-owned key: tests only). Point-in-time recovery is the stack's
choice (``SubjectKeysConfig.point_in_time_recovery_days``), not made here.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from .items import GSI_BY_LINK, TTL_ATTRIBUTE, KeyStoreError, error_code

KEY_SCHEMA = [{"AttributeName": "id", "KeyType": "HASH"}]
INDEX_KEY_SCHEMA = [{"AttributeName": "link", "KeyType": "HASH"}]


def create_table(dynamodb, table_name: str, kms_key_id: str | None = None) -> dict:
    """Create the key table, or find it (idempotent); returns its description once ACTIVE, with
    TTL on. A table of that name with another key schema or without the index is refused."""
    request = {
        "TableName": table_name,
        "KeySchema": KEY_SCHEMA,
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"},
                                 {"AttributeName": "link", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [{"IndexName": GSI_BY_LINK, "KeySchema": INDEX_KEY_SCHEMA,
                                    "Projection": {"ProjectionType": "ALL"}}],
    }
    if kms_key_id:
        request["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key_id}
    try:
        dynamodb.create_table(**request)
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    _check(table)
    ttl = dynamodb.describe_time_to_live(TableName=table_name).get("TimeToLiveDescription", {})
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING") or ttl.get("AttributeName") != TTL_ATTRIBUTE:
        dynamodb.update_time_to_live(TableName=table_name,
                                     TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE})
    return table


def _check(table: dict) -> None:
    name = table.get("TableName")
    if table.get("KeySchema") != KEY_SCHEMA:
        raise KeyStoreError(f"table {name} exists with another key schema than the key table's (partition key id only)")
    indexes = {i.get("IndexName"): i for i in table.get("GlobalSecondaryIndexes", ())}
    index = indexes.get(GSI_BY_LINK)
    if index is None or index.get("KeySchema") != INDEX_KEY_SCHEMA or index.get("Projection", {}).get("ProjectionType") != "ALL":
        raise KeyStoreError(f"table {name} exists without the {GSI_BY_LINK} index (partition key link, all attributes)")
