"""The dashboard, each alarm with its metric and its threshold from config, the encrypted alarm topic,
and the validation of the ``monitoring`` block."""

from __future__ import annotations

import json

import pytest

from stacks.config import ConfigError, load_config, load_from_cdk_json
from tests.infra.conftest import ROOT, ref_id, synth

CONFIG = load_from_cdk_json(ROOT / "cdk.json")


def _alarms(template) -> dict[str, dict]:
    """Every alarm's properties by alarm name."""
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()}


def _metric(props: dict) -> tuple[str, str, str, dict]:
    """(namespace, metric name, statistic, dimensions) of an alarm, whether a plain metric or a
    one-metric ``Metrics`` array (as cdk-monitoring-constructs emits)."""
    if "MetricName" in props:
        dims = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        return props["Namespace"], props["MetricName"], props["Statistic"], dims
    [m] = [m for m in props["Metrics"] if m.get("ReturnData", True)]
    stat = m["MetricStat"]
    dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
    return stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"], dims


def _expected(template, cfg) -> dict[str, tuple]:
    """alarm name -> (namespace, metric, statistic, dimensions, comparison, threshold), from ``cfg``."""
    m, p = cfg.monitoring, cfg.name_prefix
    stream = {"StreamName": {"Ref": ref_id(template, "AWS::Kinesis::Stream", "IngestStream")}}
    delivery = {"DeliveryStreamName": {"Ref": ref_id(template, "AWS::KinesisFirehose::DeliveryStream", "Delivery")}}
    scrubber = {"FunctionName": {"Ref": ref_id(template, "AWS::Lambda::Function", "DeliveryScrubberFunction")}}
    rights = {"FunctionName": {"Ref": ref_id(template, "AWS::Lambda::Function", "RightsFunction")}}
    redrive = {"FunctionName": {"Ref": ref_id(template, "AWS::Lambda::Function", "RedriveFunction")}}
    backfill = {"FunctionName": {"Ref": ref_id(template, "AWS::Lambda::Function", "BackfillFunction")}}
    duration_ms = round(cfg.scrubber.timeout_seconds * 1000 * m.duration_timeout_ratio)
    d = cfg.delivery
    freshness = m.freshness_seconds or 2 * d.buffering_interval_seconds + d.processor_buffer_interval_seconds + cfg.scrubber.timeout_seconds
    gt, lt = "GreaterThanThreshold", "LessThanThreshold"
    kinesis = "AWS/Kinesis"
    return {
        f"{p}-Stream-Iterator-Age-Max-Warning":
            (kinesis, "GetRecords.IteratorAgeMilliseconds", "Maximum", stream, gt, m.iterator_age_seconds * 1000),
        f"{p}-Stream-WriteThroughputExceeded-Warning":
            (kinesis, "WriteProvisionedThroughputExceeded", "Average", stream, gt, m.throttled_records),
        f"{p}-Delivery-PutRecordsThrottled-Warning": ("AWS/Firehose", "ThrottledRecords", "Sum", delivery, gt, m.throttled_records),
        f"{p}-DeliveryDataFreshness": ("AWS/Firehose", "DeliveryToS3.DataFreshness", "Maximum", delivery, gt, freshness),
        f"{p}-DeliveryToS3Success": ("AWS/Firehose", "DeliveryToS3.Success", "Average", delivery, lt, m.success_ratio),
        f"{p}-ExecuteProcessingSuccess": ("AWS/Firehose", "ExecuteProcessing.Success", "Average", delivery, lt, m.success_ratio),
        f"{p}-ExecuteProcessingDuration": ("AWS/Firehose", "ExecuteProcessing.Duration", "Maximum", delivery, gt, duration_ms),
        f"{p}-Scrubber-Fault-Count-Critical": ("AWS/Lambda", "Errors", "Sum", scrubber, gt, m.error_count),
        f"{p}-Scrubber-Throttled-Count-Warning": ("AWS/Lambda", "Throttles", "Sum", scrubber, gt, m.error_count),
        f"{p}-Scrubber-Latency-Maximum-Warning": ("AWS/Lambda", "Duration", "Maximum", scrubber, gt, duration_ms),
        f"{p}-Rights-Fault-Count-Critical": ("AWS/Lambda", "Errors", "Sum", rights, gt, m.error_count),
        f"{p}-Redrive-Fault-Count-Critical": ("AWS/Lambda", "Errors", "Sum", redrive, gt, m.error_count),
        f"{p}-Backfill-Fault-Count-Critical": ("AWS/Lambda", "Errors", "Sum", backfill, gt, m.error_count),
    }


def _check_alarms(template, cfg) -> None:
    alarms = _alarms(template)
    topic = ref_id(template, "AWS::SNS::Topic", "AlarmTopic")
    expected = _expected(template, cfg)
    quarantine = f"{cfg.name_prefix}-QuarantineRatio"
    assert set(alarms) == {*expected, quarantine}
    for name, (namespace, metric, stat, dims, comparison, threshold) in expected.items():
        props = alarms[name]
        assert _metric(props) == (namespace, metric, stat, dims), name
        assert (props["ComparisonOperator"], props["Threshold"]) == (comparison, threshold), name
        assert props["EvaluationPeriods"] == 1, name
    for name, props in alarms.items():
        assert props["AlarmActions"] == [{"Ref": topic}], name
    # RecordsFailed / RecordsIn from the scrubber's EMF metrics (namespace and service dimension
    # as lambdas/scrubber/handler.py emits them), guarded against batches with no records
    props = alarms[quarantine]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", cfg.monitoring.quarantine_ratio)
    by_id = {m["Id"]: m for m in props["Metrics"]}
    [expr] = [m for m in props["Metrics"] if "Expression" in m]
    assert expr["Expression"] == "IF(records_in > 0, failed / records_in, 0)" and expr["ReturnData"] is True
    for id_, metric in (("failed", "RecordsFailed"), ("records_in", "RecordsIn")):
        stat = by_id[id_]["MetricStat"]
        dims = [{"Name": "service", "Value": "pii-scrubber"}]
        assert stat["Metric"] == {"Namespace": "PiiScrubbing", "MetricName": metric, "Dimensions": dims}
        assert stat["Stat"] == "Sum" and by_id[id_]["ReturnData"] is False


def test_the_dashboard_exists_and_shows_every_resource_and_alarm(template):
    [dash] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    assert dash["Properties"]["DashboardName"] == "pii-scrub"
    body = json.dumps(dash["Properties"]["DashboardBody"])
    # cdk-monitoring-constructs' sections: graphs of each watched resource, its alarms as annotations
    for type_, pattern in (("AWS::Kinesis::Stream", "IngestStream"), ("AWS::KinesisFirehose::DeliveryStream", "Delivery"),
                           ("AWS::Lambda::Function", "DeliveryScrubberFunction"), ("AWS::Lambda::Function", "RightsFunction"),
                           ("AWS::Lambda::Function", "RedriveFunction"), ("AWS::Lambda::Function", "BackfillFunction")):
        assert json.dumps({"Ref": ref_id(template, type_, pattern)}) in body, pattern
    assert "Iterator Age > 300000 for 1 datapoints within 5 minutes" in body
    # the plain alarms, each as an alarm widget
    plain = [k for k, a in template.find_resources("AWS::CloudWatch::Alarm").items() if "Facade" not in k]
    assert len(plain) == 5
    for logical_id in plain:
        assert json.dumps({"Fn::GetAtt": [logical_id, "Arn"]}) in body, logical_id


def test_each_alarm_reads_its_metric_with_the_configured_threshold(template):
    _check_alarms(template, CONFIG)


def test_the_alarm_topic_is_encrypted_with_a_rotating_key_cloudwatch_may_use(template):
    key = ref_id(template, "AWS::KMS::Key", "AlarmTopicKey")
    topic = template.find_resources("AWS::SNS::Topic")
    assert len(topic) == 1
    [props] = [t["Properties"] for t in topic.values()]
    assert props["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    key_props = template.find_resources("AWS::KMS::Key")[key]["Properties"]
    assert key_props["EnableKeyRotation"] is True
    [cw] = [s for s in key_props["KeyPolicy"]["Statement"] if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"]
    assert sorted(cw["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"] and cw["Effect"] == "Allow"
    # publishers must use TLS
    [policy] = template.find_resources("AWS::SNS::TopicPolicy").values()
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in policy["Properties"]["PolicyDocument"]["Statement"])


def test_no_email_subscription_unless_configured(template):
    assert CONFIG.monitoring.alarm_email == ""
    assert template.find_resources("AWS::SNS::Subscription") == {}


def test_configured_thresholds_and_email_reach_the_template():
    override = json.loads((ROOT / "cdk.json").read_text())["context"]["pipeline"]
    override["monitoring"] = {
        "alarm_email": "oncall@example.org", "iterator_age_seconds": 900, "freshness_seconds": 1200,
        "quarantine_ratio": 0.05, "success_ratio": 0.95, "duration_timeout_ratio": 0.5, "error_count": 2,
        "throttled_records": 10,
    }
    cfg = load_config(override)
    _, t = synth(override)
    _check_alarms(t, cfg)
    subs = [s["Properties"] for s in t.find_resources("AWS::SNS::Subscription").values()]
    topic = {"Ref": ref_id(t, "AWS::SNS::Topic", "AlarmTopic")}
    assert subs == [{"Protocol": "email", "Endpoint": "oncall@example.org", "TopicArn": topic}]


def test_freshness_defaults_to_twice_the_buffer_interval_plus_processing():
    cfg = load_config({"delivery": {"buffering_interval_seconds": 120, "processor_buffer_interval_seconds": 30},
                       "scrubber": {"timeout_seconds": 60}})
    from stacks.config_monitoring import freshness_threshold

    assert cfg.monitoring.freshness_seconds == 0
    assert freshness_threshold(cfg.monitoring, 120, 30, 60) == 2 * 120 + 30 + 60


@pytest.mark.parametrize(
    ("monitoring", "key"),
    [
        ({"alarm_email": "not-an-address"}, "alarm_email"),
        ({"alarm_email": "a b@example.org"}, "alarm_email"),
        ({"alarm_email": 7}, "alarm_email"),
        ({"iterator_age_seconds": 59}, "iterator_age_seconds"),
        ({"iterator_age_seconds": 24 * 3600}, "iterator_age_seconds"),  # records expire before it fires
        ({"iterator_age_seconds": "300"}, "iterator_age_seconds"),
        ({"freshness_seconds": 480}, "freshness_seconds"),  # = 300 + 60 + 120: fires in healthy operation
        ({"freshness_seconds": 86_401}, "freshness_seconds"),
        ({"freshness_seconds": True}, "freshness_seconds"),
        ({"quarantine_ratio": 0}, "quarantine_ratio"),
        ({"quarantine_ratio": 1.5}, "quarantine_ratio"),
        ({"quarantine_ratio": "0.01"}, "quarantine_ratio"),
        ({"success_ratio": 0}, "success_ratio"),
        ({"duration_timeout_ratio": 1.01}, "duration_timeout_ratio"),
        ({"duration_timeout_ratio": False}, "duration_timeout_ratio"),
        ({"error_count": -1}, "error_count"),
        ({"throttled_records": 0.5}, "throttled_records"),
        ({"thresholds": {}}, "thresholds"),
    ],
)
def test_a_bad_monitoring_value_fails_naming_its_key(monitoring, key):
    with pytest.raises(ConfigError, match=rf"pipeline\.monitoring.*{key}"):
        load_config({"monitoring": monitoring})


def test_the_alarm_email_is_not_echoed_in_the_error():
    with pytest.raises(ConfigError) as exc:
        load_config({"monitoring": {"alarm_email": "someone.private@nowhere"}})
    assert "someone.private" not in str(exc.value)


def test_a_freshness_just_above_healthy_delivery_is_accepted():
    assert load_config({"monitoring": {"freshness_seconds": 481}}).monitoring.freshness_seconds == 481
