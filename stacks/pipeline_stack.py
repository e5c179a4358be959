"""The pipeline stack: keys, storage, ingest, delivery and subject rights, wired together, with
its outputs."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from .backfill import Backfill
from .catalog import Catalog
from .config import PipelineConfig
from .delivery import Delivery
from .ingest import Ingest
from .keys import Keys
from .monitoring import Monitoring
from .nag import acknowledge_findings
from .pseudonymisation import Pseudonymisation
from .redrive import Redrive
from .rights import Rights
from .storage import Storage
from .subject_keys import SubjectKeys


class PiiScrubbingPipelineStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, *, config: PipelineConfig, **kwargs):
        super().__init__(scope, id, description="Consent-aware PII scrubbing: Kinesis -> Firehose + Lambda -> S3", **kwargs)
        self.config = config
        removal = cdk.RemovalPolicy.DESTROY if config.storage.removal_policy == "DESTROY" else cdk.RemovalPolicy.RETAIN

        self.keys = Keys(self, "Keys", config=config, removal_policy=removal)
        self.storage = Storage(self, "Storage", config=config, lake_key=self.keys.lake_key, removal_policy=removal)
        self.ingest = Ingest(self, "Ingest", config=config, stream_key=self.keys.stream_key,
                             log_key=self.keys.log_key, removal_policy=removal)
        self.pseudonymisation = Pseudonymisation(self, "Pseudonymisation", config=config, removal_policy=removal)
        self.subject_keys = SubjectKeys(self, "SubjectKeys", config=config, removal_policy=removal)
        self.delivery = Delivery(
            self,
            "Delivery",
            config=config,
            stream=self.ingest.stream,
            bucket=self.storage.bucket,
            lake_key=self.keys.lake_key,
            log_key=self.keys.log_key,
            keyring=self.pseudonymisation.secret,
            subject_keys=self.subject_keys,
            removal_policy=removal,
        )
        self.catalog = Catalog(self, "Catalog", config=config, contracts=self.delivery.contracts,
                               lake=self.storage.bucket, access_logs=self.storage.access_logs, removal_policy=removal)
        self.rights = Rights(
            self,
            "Rights",
            config=config,
            lake=self.storage.bucket,
            lake_key=self.keys.lake_key,
            log_key=self.keys.log_key,
            access_logs=self.storage.access_logs,
            subject_keys=self.subject_keys,
            contracts_json=self.delivery.contracts_json,
            catalog=self.catalog,
            removal_policy=removal,
        )
        # Quarantined records back on the stream, once their cause is fixed (make redrive offline)
        self.redrive = Redrive(self, "Redrive", config=config, stream=self.ingest.stream, stream_key=self.keys.stream_key,
                               storage=self.storage, lake_key=self.keys.lake_key, log_key=self.keys.log_key,
                               removal_policy=removal)
        self.backfill = Backfill(
            self, "Backfill", config=config, lake=self.storage.bucket, lake_key=self.keys.lake_key, log_key=self.keys.log_key,
            access_logs=self.storage.access_logs, keyring=self.pseudonymisation.secret, subject_keys=self.subject_keys,
            contracts_json=self.delivery.contracts_json, removal_policy=removal,
        )
        # Only the scrubbers (the stream's and the backfill's, and the break-glass role) may read the keyring: explicit denies.
        self.pseudonymisation.fence(self.delivery.scrubber.role, self.backfill.function.role)
        # Only the scrubbers and the subject-rights function may open the subjects' keys.
        self.subject_keys.fence(self.delivery.scrubber.role, self.rights.function.role, self.backfill.function.role)
        self.monitoring = Monitoring(
            self, "Monitoring", config=config, stream=self.ingest.stream,
            delivery_stream_name=self.delivery.delivery_stream.delivery_stream_name,
            scrubber=self.delivery.scrubber.function, rights=self.rights.function.function, removal_policy=removal,
            operations={"Redrive": (self.redrive.function.function, "Quarantine redrive Lambda"),
                        "Backfill": (self.backfill.function.function, "Backfill Lambda (S3 Batch Operations' task)")},
        )

        cdk.CfnOutput(self, "StreamName", value=self.ingest.stream.stream_name)
        cdk.CfnOutput(self, "ProducerFunctionName", value=self.ingest.producer.function.function_name)
        cdk.CfnOutput(self, "DeliveryStreamName", value=self.delivery.delivery_stream.delivery_stream_name)
        cdk.CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name)
        cdk.CfnOutput(self, "DataPrefix", value=config.delivery.data_root)
        cdk.CfnOutput(self, "QuarantinePrefix", value=config.delivery.quarantine_root)
        cdk.CfnOutput(self, "QuarantineReaderRoleArn", value=self.storage.quarantine_reader.role_arn)
        cdk.CfnOutput(self, "PseudonymKeyringSecretArn", value=self.pseudonymisation.secret.secret_arn)
        cdk.CfnOutput(self, "KeyringBreakGlassRoleArn", value=self.pseudonymisation.break_glass.role_arn)
        cdk.CfnOutput(self, "RightsFunctionName", value=self.rights.function.function.function_name)
        cdk.CfnOutput(self, "SubjectKeysTableName", value=self.subject_keys.table.table_name)
        cdk.CfnOutput(self, "ReceiptsBucketName", value=self.rights.receipts.bucket_name)
        cdk.CfnOutput(self, "GlueDatabaseName", value=self.catalog.database.database_name)
        cdk.CfnOutput(self, "AthenaWorkGroup", value=self.catalog.workgroup.ref)
        cdk.CfnOutput(self, "QueryResultsBucketName", value=self.catalog.results.bucket_name)
        cdk.CfnOutput(self, "BackfillFunctionArn", value=self.backfill.function.function.function_arn)
        cdk.CfnOutput(self, "BackfillJobRoleArn", value=self.backfill.job_role.role_arn)
        cdk.CfnOutput(self, "BackfillBucketName", value=self.backfill.bucket.bucket_name)
        cdk.CfnOutput(self, "RedriveFunctionName", value=self.redrive.function.function.function_name)

        acknowledge_findings(self)
