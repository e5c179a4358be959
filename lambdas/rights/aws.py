"""Adapters: the lake and the receipts on S3, and the key table's existing root (DynamoDB + KMS).

Clients are passed in (boto3 clients are thread-safe: the lake is read a few objects ahead on
threads). Errors from AWS propagate: the command fails, and says nothing it did not do.
"""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import ClientError

from .ports import gunzip

ROOT_CONTEXT_PURPOSE = "pii-subject-keys-root"  # the root's KMS encryption context (with its version)


class S3Lake:
    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def keys(self, prefix: str) -> Iterator[str]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                yield obj["Key"]

    def read(self, key: str) -> bytes:
        return gunzip(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())


class S3Receipts:
    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def get(self, key: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise


class DynamoRoot:
    """The key table's root of a version, if it exists: one consistent GetItem of ``root#<v>`` and
    one KMS Decrypt of its blob (encryption context ``{"purpose": ..., "version": "<v>"}``), as
    the key store writes it; never created here."""

    def __init__(self, table: str, root_key_id: str | None, *, dynamodb, kms):
        self.table = table
        self.root_key_id = root_key_id
        self.dynamodb = dynamodb
        self.kms = kms

    def __call__(self, version: int) -> bytes | None:
        item = self.dynamodb.get_item(TableName=self.table, Key={"id": {"S": f"root#{version}"}},
                                      ConsistentRead=True).get("Item")
        if item is None:
            return None
        args = {"CiphertextBlob": item["blob"]["B"],
                "EncryptionContext": {"purpose": ROOT_CONTEXT_PURPOSE, "version": str(version)}}
        if self.root_key_id:
            args["KeyId"] = self.root_key_id
        return self.kms.decrypt(**args)["Plaintext"]
