"""``make deploy-local`` for real: the pinned CDK CLI bootstraps and deploys the stack on a moto
server of this test's own, next to the twin's resources (which it leaves alone), then deploys
again and finds nothing to change. About a minute and a half on 2 cores (bundling the Lambda
assets with pip is a third of it); ``-m "not deploy"`` leaves it out."""

from __future__ import annotations

import json

import pytest

import tools.deploy_local as dl
from stacks.config import load_from_cdk_json
from tests.integration.conftest import free_port, gone
from tools.deployed import taken_names
from twin import server
from twin.pipeline import ROOT
from twin.resources import ACCOUNT, REGION, ensure_resources, find_resources

pytestmark = pytest.mark.deploy

SKIPPED_AT_LEAST = ("AWS::KinesisFirehose::DeliveryStream", "AWS::Glue::Database", "AWS::Glue::Table",
                    "AWS::Athena::WorkGroup", "AWS::CloudWatch::Alarm")


def _line(text: str, start: str) -> str:
    return next(ln.strip() for ln in text.splitlines() if ln.strip().startswith(start))


def test_the_rehearsal_deploys_the_stack_on_moto_checks_it_and_deploys_again(tmp_path, capsys):
    state, asm, port = tmp_path / "state", tmp_path / "asm", free_port()
    cloud = server.ensure_running(state, port)
    try:
        twin_config = load_from_cdk_json(ROOT / "cdk.json")  # the twin's resources, under the configuration's prefix
        twin = ensure_resources(twin_config, cloud)
        argv = ["--state-dir", str(state), "--port", str(port), "--out", str(asm)]

        assert dl.main(argv) == 0, capsys.readouterr()
        first = capsys.readouterr().out
        assert _line(first, "cdk deploy").endswith("--method direct: stack created; assets in the staging bucket")
        skipped = _line(first, "moto skipped:")
        assert all(t in skipped for t in SKIPPED_AT_LEAST), skipped
        assert "not produced (each names a skipped resource): DeliveryStreamName" in first
        # five functions: producer, scrubber, rights, backfill, redrive
        assert _line(first, "Lambda code").startswith("Lambda code         5 function(s) run the asset the CLI uploaded")
        assert "PROBLEM" not in first and _line(first, "result") == "result              ok"

        # what the report says is there, is there, under the rehearsal's prefix
        assert cloud.client("kinesis").describe_stream_summary(StreamName="rehearsal-events")
        assert cloud.client("lambda").get_function(FunctionName="rehearsal-scrubber")["Configuration"]["MemorySize"] == 1024
        outputs = {o["OutputKey"]: o["OutputValue"] for o in
                   cloud.client("cloudformation").describe_stacks(StackName="PiiScrubbingPipeline")["Stacks"][0]["Outputs"]}
        assert outputs["BucketName"] == f"rehearsal-lake-{ACCOUNT}-{REGION}" and "DeliveryStreamName" not in outputs

        assert dl.main(argv) == 0, capsys.readouterr()
        second = capsys.readouterr().out
        assert "stack unchanged (the same template, applied again: nothing to change)" in _line(second, "cdk deploy")
        assert _line(second, "moto skipped:") == skipped and _line(second, "result") == "result              ok"

        # the twin's resources are still there, as they were
        found = find_resources(twin_config, cloud)
        assert (found.keys, found.bucket, found.subject_keys_table) == (
            {k: twin.keys[k] for k in ("stream", "lake", "subject-keys-root")}, twin.bucket, twin.subject_keys_table)
        assert cloud.client("kinesis").describe_stream_summary(StreamName=twin_config.stream_name)[
            "StreamDescriptionSummary"]["OpenShardCount"] == 4
        # and the stack under the twin's prefix would be refused: its names are taken, outside the stack
        template = json.loads((asm / "PiiScrubbingPipeline.template.json").read_text())
        as_twin = json.loads(json.dumps(template).replace("rehearsal", twin_config.name_prefix))
        taken = taken_names(cloud, as_twin, {}, ACCOUNT, REGION)
        assert {f"AWS::Kinesis::Stream {twin_config.stream_name}", f"AWS::S3::Bucket {twin.bucket}",
                f"AWS::DynamoDB::Table {twin.subject_keys_table}"} <= set(taken)
    finally:
        server.stop(state)
    assert not server.port_open(port) and gone(cloud.pid)
