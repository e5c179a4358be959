"""The pipeline stack: keys, storage, ingest and delivery, wired together, with its outputs."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from .config import PipelineConfig
from .delivery import Delivery
from .ingest import Ingest
from .keys import Keys
from .nag import acknowledge_findings
from .pseudonymisation import Pseudonymisation
from .storage import Storage


class PiiScrubbingPipelineStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, *, config: PipelineConfig, **kwargs):
        super().__init__(scope, id, description="Consent-aware PII scrubbing: Kinesis -> Firehose + Lambda -> S3", **kwargs)
        self.config = config
        removal = cdk.RemovalPolicy.DESTROY if config.storage.removal_policy == "DESTROY" else cdk.RemovalPolicy.RETAIN

        self.keys = Keys(self, "Keys", config=config, removal_policy=removal)
        self.storage = Storage(self, "Storage", config=config, lake_key=self.keys.lake_key, removal_policy=removal)
        self.ingest = Ingest(self, "Ingest", config=config, stream_key=self.keys.stream_key, removal_policy=removal)
        self.pseudonymisation = Pseudonymisation(self, "Pseudonymisation", config=config, removal_policy=removal)
        self.delivery = Delivery(
            self,
            "Delivery",
            config=config,
            stream=self.ingest.stream,
            bucket=self.storage.bucket,
            lake_key=self.keys.lake_key,
            keyring=self.pseudonymisation.secret,
            removal_policy=removal,
        )
        # Only the scrubber (and the break-glass role) may read the keyring: explicit denies.
        self.pseudonymisation.fence(self.delivery.scrubber.role)

        cdk.CfnOutput(self, "StreamName", value=self.ingest.stream.stream_name)
        cdk.CfnOutput(self, "ProducerFunctionName", value=self.ingest.producer.function.function_name)
        cdk.CfnOutput(self, "DeliveryStreamName", value=self.delivery.delivery_stream.delivery_stream_name)
        cdk.CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name)
        cdk.CfnOutput(self, "DataPrefix", value=config.delivery.data_root)
        cdk.CfnOutput(self, "QuarantinePrefix", value=config.delivery.quarantine_root)
        cdk.CfnOutput(self, "QuarantineReaderRoleArn", value=self.storage.quarantine_reader.role_arn)
        cdk.CfnOutput(self, "PseudonymKeyringSecretArn", value=self.pseudonymisation.secret.secret_arn)
        cdk.CfnOutput(self, "KeyringBreakGlassRoleArn", value=self.pseudonymisation.break_glass.role_arn)

        acknowledge_findings(self)
