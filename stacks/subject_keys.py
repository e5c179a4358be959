"""Per-subject keys (crypto-shredding): the key table, its two KMS keys, and who may do what.

The table (schema in lambdas/privacy/subjects.py and lambdas/keystore/) holds, per subject, a key
link and a data key wrapped under a *root* secret; the root secrets are stored in the same table,
encrypted by the root CMK. Reading any subject's key therefore needs both the table and
``kms:Decrypt`` on the root CMK, so the root CMK is where reading is fenced: its key policy denies
decryption to every principal but the scrubber's and the subject-rights function's roles
(administrators included, as the pseudonymisation keyring is fenced).

Writes are split by role, and IAM says so: only the scrubber creates keys (``PutItem``, used only
with ``attribute_not_exists``, and ``GenerateDataKey`` to create a root), only the subject-rights
function forgets them (``UpdateItem`` to turn a subject's item into a tombstone; no role may delete an item).

Backups: point-in-time recovery would keep every forgotten key restorable for its window, so it
is off unless the configuration turns it on; the erasure receipt states the window either way.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from .config import PipelineConfig
from .keys import rotating_key
from .scan_skips import skip

INDEX = "by-link"
TTL_ATTRIBUTE = "ttl"
# The encryption context of every root secret (privacy/subjects.py, keystore/): the roles may use
# the root CMK for nothing else.
ROOT_CONTEXT = {"kms:EncryptionContext:purpose": "pii-subject-keys-root"}

# What DynamoDB needs from a caller of an SSE-KMS table that it reads and writes: the key actions
# CDK's table write grants add (kms:Decrypt, kms:DescribeKey, kms:Encrypt, kms:ReEncrypt*,
# kms:GenerateDataKey*), spelled out for a symmetric key (no wildcard), and only through DynamoDB.
_TABLE_KEY_ACTIONS = [
    "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
    "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
]


class SubjectKeys(Construct):
    def __init__(self, scope: Construct, id: str, *, config: PipelineConfig, removal_policy: cdk.RemovalPolicy):
        super().__init__(scope, id)
        self.config = config
        sk = config.subject_keys
        self.root_key = rotating_key(
            self,
            "RootKey",
            alias=config.subject_keys_alias,
            description="Encrypts the root secrets of the per-subject key table (crypto-shredding)",
            removal_policy=removal_policy,
        )
        self.table_key = rotating_key(
            self,
            "TableKey",
            alias=f"alias/{config.name_prefix}/subject-keys-table",
            description="Encrypts the per-subject key table at rest (DynamoDB SSE-KMS)",
            removal_policy=removal_policy,
        )
        pitr = sk.point_in_time_recovery_days
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=config.subject_keys_table_name,
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.table_key,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=pitr > 0, recovery_period_in_days=pitr or None
            ),
            deletion_protection=removal_policy == cdk.RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
        )
        if pitr == 0:
            skip(
                self.table,
                "CKV_AWS_28",
                "Point-in-time recovery would keep every forgotten subject key restorable for its window, "
                "undoing crypto-shredding; off unless subject_keys.point_in_time_recovery_days turns it on "
                "(each erasure receipt states the window).",
            )
        self.table.add_global_secondary_index(
            index_name=INDEX,
            partition_key=dynamodb.Attribute(name="link", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

    @property
    def index_arn(self) -> str:
        return f"{self.table.table_arn}/index/{INDEX}"

    def environment(self) -> dict[str, str]:
        """What the key store reads (the scrubber's, and the subject-rights function's too)."""
        sk = self.config.subject_keys
        return {
            "SUBJECT_KEYS_TABLE": self.table.table_name,
            "SUBJECT_KEYS_ROOT_KEY": self.root_key.key_arn,
            "SUBJECT_KEYS_CACHE_TTL_S": str(sk.cache_ttl_seconds),
            "SUBJECT_KEYS_CACHE_SIZE": str(sk.cache_size),
        }

    def grant_create_keys(self, role: iam.IRole) -> None:
        """The scrubber: read items, create missing ones (conditional puts, single or in a
        transaction), create a root (GenerateDataKey) and open it (Decrypt). No update, no
        delete, no query: it never forgets anyone nor looks a key up by its link."""
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"],
            resource_arns=[self.table.table_arn],
        )
        self._grant_root(role, "kms:Decrypt", "kms:GenerateDataKey")
        self._grant_table_key(role)

    def grant_forget(self, role: iam.IRole) -> None:
        """The subject-rights function: read items, find one by its key link (the index), turn a
        subject's item into a tombstone (UpdateItem, on subject items only: their ids start with
        ``s#``), and open a root (Decrypt). No put and no delete: it never creates a key nor a
        root (no GenerateDataKey), and cannot remove the root or a period key."""
        iam.Grant.add_to_principal(
            grantee=role,
            # and the table's point-in-time recovery as it is, which each erasure receipt states
            actions=["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:DescribeContinuousBackups"],
            resource_arns=[self.table.table_arn],
        )
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["dynamodb:UpdateItem"],
            resource_arns=[self.table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["s#*"]}},
        )
        iam.Grant.add_to_principal(grantee=role, actions=["dynamodb:Query"], resource_arns=[self.table.table_arn, self.index_arn])
        self._grant_root(role, "kms:Decrypt")
        self._grant_table_key(role)

    def _grant_root(self, role: iam.IRole, *actions: str) -> None:
        iam.Grant.add_to_principal(
            grantee=role,
            actions=list(actions),
            resource_arns=[self.root_key.key_arn],
            conditions={"StringEquals": ROOT_CONTEXT},
        )

    def _grant_table_key(self, role: iam.IRole) -> None:
        iam.Grant.add_to_principal(
            grantee=role,
            actions=_TABLE_KEY_ACTIONS,
            resource_arns=[self.table_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{cdk.Aws.REGION}.amazonaws.com"}},
        )

    def fence(self, *readers: iam.IRole) -> None:
        """Deny decrypting with the root CMK (and re-encrypting from it: the same plaintext by
        another route) to every principal but ``readers``. Nothing else is denied: the key stays
        administrable by the account."""
        self.root_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RootSecretsDecryptableOnlyByScrubberAndRights",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["kms:Decrypt", "kms:ReEncryptFrom"],
                resources=["*"],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": [r.role_arn for r in readers]}},
            )
        )
