"""A CloudWatch dashboard and the pipeline's alarms, all notifying one KMS-encrypted SNS topic.

cdk-monitoring-constructs builds the dashboard and the alarms it has: Kinesis iterator age and
write throttling, Firehose ThrottledRecords, Lambda errors, throttles and longest duration. It has
no alarm on Firehose's DeliveryToS3.DataFreshness, DeliveryToS3.Success or ExecuteProcessing.*,
nor on the scrubber's EMF metrics, so those are plain ``aws_cloudwatch`` alarms here, added to the
same dashboard. Every threshold comes from ``config.monitoring`` (stacks/config_monitoring.py).

Key-store failures (DynamoDB, KMS) make the scrubber fail the whole invocation (fail closed: Firehose
retries, then quarantines), so they surface as the scrubber's Errors; the subject-rights function,
the other key-store user, has its own errors alarm.
"""

from __future__ import annotations

import aws_cdk as cdk
import cdk_monitoring_constructs as mc
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from .config import PipelineConfig
from .config_monitoring import freshness_threshold
from .keys import rotating_key

PERIOD = cdk.Duration.minutes(5)
EMF_NAMESPACE = "PiiScrubbing"  # the scrubber's Powertools Metrics namespace (stacks/lambda_function.py)
EMF_SERVICE = "pii-scrubber"  # its ``service`` dimension (lambdas/scrubber/handler.py SERVICE)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        stream: kinesis.IStream,
        delivery_stream_name: str,
        scrubber: lambda_.IFunction,
        rights: lambda_.IFunction,
        removal_policy: cdk.RemovalPolicy,
        operations: dict[str, tuple[lambda_.IFunction, str]] | None = None,
    ):
        """``operations``: the functions operators run (redrive, backfill), by alarm name: each
        gets its section and an errors alarm, as the subject-rights function does."""
        super().__init__(scope, id)
        m = config.monitoring
        self._prefix = prefix = config.name_prefix
        self.key = rotating_key(
            self,
            "AlarmTopicKey",
            alias=f"alias/{prefix}/alarms",
            description="Encrypts the alarm topic (SNS server-side encryption)",
            removal_policy=removal_policy,
        )
        # CloudWatch publishes to an encrypted topic with the key itself (AWS docs, "Using Amazon
        # SNS topics with server-side encryption for CloudWatch alarms").
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self, "AlarmTopic", topic_name=f"{prefix}-alarms", master_key=self.key, enforce_ssl=True,
            display_name=f"{prefix} pipeline alarms",
        )
        if m.alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(m.alarm_email))
        self.action = cw_actions.SnsAction(self.topic)
        # a stack output (not this construct's), to subscribe other endpoints to
        cdk.CfnOutput(cdk.Stack.of(self), "AlarmTopicArn", value=self.topic.topic_arn)

        self.facade = mc.MonitoringFacade(
            self,
            "Facade",
            alarm_factory_defaults=mc.AlarmFactoryDefaults(
                alarm_name_prefix=prefix,
                actions_enabled=True,
                # one 5-minute period, as the plain alarms below: the thresholds carry the tolerance
                evaluation_periods=1,
                datapoints_to_alarm=1,
                action=mc.SnsAlarmActionStrategy(on_alarm_topic=self.topic),
            ),
            dashboard_factory=mc.DefaultDashboardFactory(
                self, "Dashboards", dashboard_name_prefix=prefix, create_dashboard=True,
                create_summary_dashboard=False, create_alarm_dashboard=False,
            ),
        )
        throttled = {"Warning": mc.RecordsThrottledThreshold(max_records_throttled_threshold=m.throttled_records, period=PERIOD)}
        self.facade.monitor_kinesis_data_stream(
            stream_name=stream.stream_name,
            alarm_friendly_name="Stream",
            human_readable_name="Kinesis event stream",
            add_iterator_max_age_alarm={
                "Warning": mc.MaxIteratorAgeThreshold(max_age_in_millis=m.iterator_age_seconds * 1000, period=PERIOD)
            },
            add_write_provisioned_throughput_exceeded_alarm=throttled,
        )
        self.facade.monitor_kinesis_firehose(
            delivery_stream_name=delivery_stream_name,
            alarm_friendly_name="Delivery",
            human_readable_name="Firehose delivery stream",
            add_records_throttled_alarm=throttled,
        )
        errors = {"Critical": mc.ErrorCountThreshold(max_error_count=m.error_count, period=PERIOD)}
        scrubber_timeout = config.scrubber.timeout_seconds
        self.facade.monitor_lambda_function(
            lambda_function=scrubber,
            alarm_friendly_name="Scrubber",
            human_readable_name="Scrubbing Lambda (errors include key-store failures)",
            add_fault_count_alarm=errors,
            add_throttles_count_alarm={"Warning": mc.ErrorCountThreshold(max_error_count=m.error_count, period=PERIOD)},
            add_max_latency_alarm={
                "Warning": mc.LatencyThreshold(
                    max_latency=cdk.Duration.millis(round(scrubber_timeout * 1000 * m.duration_timeout_ratio)), period=PERIOD
                )
            },
        )
        self.facade.monitor_lambda_function(
            lambda_function=rights,
            alarm_friendly_name="Rights",
            human_readable_name="Subject-rights Lambda",
            add_fault_count_alarm=errors,
        )
        for name, (function, human) in (operations or {}).items():
            self.facade.monitor_lambda_function(
                lambda_function=function, alarm_friendly_name=name, human_readable_name=human, add_fault_count_alarm=errors,
            )
        self.alarms = self._firehose_and_quarantine_alarms(config, delivery_stream_name)
        self.facade.add_large_header("Firehose delivery and quarantine (plain CloudWatch alarms)")
        for alarm in self.alarms.values():
            self.facade.add_widget(cw.AlarmWidget(alarm=alarm, title=alarm.alarm_name, width=8, height=6))

    def _alarm(self, id: str, *, metric: cw.IMetric, threshold: float, below: bool, description: str) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            id,
            alarm_name=f"{self._prefix}-{id}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=(
                cw.ComparisonOperator.LESS_THAN_THRESHOLD if below else cw.ComparisonOperator.GREATER_THAN_THRESHOLD
            ),
            # no traffic is not a failure (each alarm here reads a metric that only exists with traffic)
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self.action)
        return alarm

    def _firehose_and_quarantine_alarms(self, config: PipelineConfig, name: str) -> dict[str, cw.Alarm]:
        m, d = config.monitoring, config.delivery
        freshness = freshness_threshold(
            m, d.buffering_interval_seconds, d.processor_buffer_interval_seconds, config.scrubber.timeout_seconds
        )

        def firehose(metric: str, statistic: str) -> cw.Metric:
            return cw.Metric(
                namespace="AWS/Firehose", metric_name=metric, dimensions_map={"DeliveryStreamName": name},
                statistic=statistic, period=PERIOD,
            )

        def emf(metric: str) -> cw.Metric:
            return cw.Metric(
                namespace=EMF_NAMESPACE, metric_name=metric, dimensions_map={"service": EMF_SERVICE},
                statistic="Sum", period=PERIOD,
            )

        return {
            "DataFreshness": self._alarm(
                "DeliveryDataFreshness", metric=firehose("DeliveryToS3.DataFreshness", "Maximum"), threshold=freshness,
                below=False, description=f"Oldest undelivered record older than {freshness} s: delivery to S3 is stuck or slow",
            ),
            "DeliveryToS3Success": self._alarm(
                "DeliveryToS3Success", metric=firehose("DeliveryToS3.Success", "Average"), threshold=m.success_ratio,
                below=True,
                description=f"Share of successful S3 puts below {m.success_ratio}: check the lake bucket, its key, the destination role",
            ),
            "ExecuteProcessingSuccess": self._alarm(
                "ExecuteProcessingSuccess", metric=firehose("ExecuteProcessing.Success", "Average"), threshold=m.success_ratio,
                below=True, description=f"Share of successful scrubber invocations below {m.success_ratio}: see the scrubber's errors",
            ),
            "ExecuteProcessingDuration": self._alarm(
                "ExecuteProcessingDuration", metric=firehose("ExecuteProcessing.Duration", "Maximum"),
                threshold=round(config.scrubber.timeout_seconds * 1000 * m.duration_timeout_ratio), below=False,
                description=f"A scrubber invocation took over {m.duration_timeout_ratio:.0%} of its timeout, as Firehose saw it",
            ),
            "QuarantineRatio": self._alarm(
                "QuarantineRatio",
                metric=cw.MathExpression(
                    expression="IF(records_in > 0, failed / records_in, 0)",
                    using_metrics={"failed": emf("RecordsFailed"), "records_in": emf("RecordsIn")},
                    label="Quarantined share of records", period=PERIOD,
                ),
                threshold=m.quarantine_ratio, below=False,
                description=f"Over {m.quarantine_ratio:.2%} of records quarantined: see RecordsFailed_<reason> for the cause",
            ),
        }
