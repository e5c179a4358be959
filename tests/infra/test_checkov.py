"""checkov on the synthesised template: no failed check, and every skip is one we made, with its reason.

The skips live in the resources' metadata (stacks/scan_skips.py). The same template with that
metadata stripped is scanned in the same run, and must fail exactly the skipped checks: proof
that the scan ran the checks and that each skip hides one real finding, nothing more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# (check, logical id prefix) of every skip the stack records; a new one must be added here, on review.
EXPECTED_SKIPS = {
    ("CKV_AWS_18", "StorageAccessLogs"),  # the access-log target bucket
    ("CKV_AWS_28", "SubjectKeysTable"),  # point-in-time recovery off by default (crypto-shredding)
    *{
        (check, fn)
        for fn in ("IngestProducerFunction", "DeliveryScrubberFunction", "RightsFunction", "BackfillFunction", "RedriveFunction")
        for check in ("CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173")
    },
}


def _key(check: dict) -> tuple[str, str]:
    logical_id = check["resource"].split(".", 1)[1]
    prefix = next((p for c, p in EXPECTED_SKIPS if c == check["check_id"] and logical_id.startswith(p)), logical_id)
    return check["check_id"], prefix


@pytest.fixture(scope="module")
def scan(template, tmp_path_factory):
    out = tmp_path_factory.mktemp("checkov")
    body = template.to_json()
    (out / "template.json").write_text(json.dumps(body))
    bare = json.loads(json.dumps(body))
    for resource in bare["Resources"].values():
        resource.get("Metadata", {}).pop("checkov", None)
    (out / "bare.json").write_text(json.dumps(bare))
    # BC_SKIP_MAPPING: no call to the vendor's guideline API (offline, and nothing leaves the machine)
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    cmd = [sys.executable, "-m", "checkov.main", "-f", "template.json", "-f", "bare.json",
           "--framework", "cloudformation", "-o", "json"]
    proc = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["results"]["parsing_errors"]
    by_file: dict[str, dict[str, list[dict]]] = {"/template.json": {}, "/bare.json": {}}
    for outcome in ("passed_checks", "failed_checks", "skipped_checks"):
        for check in report["results"][outcome]:
            by_file[check["file_path"]].setdefault(outcome, []).append(check)
    return by_file["/template.json"], by_file["/bare.json"]


def test_no_failed_check(scan):
    template, _ = scan
    failed = sorted((c["check_id"], c["resource"]) for c in template.get("failed_checks", []))
    assert failed == []
    assert len(template["passed_checks"]) > 100  # the scan ran its CloudFormation checks


def test_every_skip_is_expected_and_has_a_specific_reason(scan):
    template, _ = scan
    skipped = template.get("skipped_checks", [])
    assert {_key(c) for c in skipped} == EXPECTED_SKIPS
    assert len(skipped) == len(EXPECTED_SKIPS)
    for check in skipped:
        assert len(check["check_result"]["suppress_comment"].split()) >= 12, check["check_id"]


def test_each_skip_hides_exactly_one_real_finding(scan):
    template, bare = scan
    skipped = sorted((c["check_id"], c["resource"]) for c in template.get("skipped_checks", []))
    failed_without_metadata = sorted((c["check_id"], c["resource"]) for c in bare.get("failed_checks", []))
    assert failed_without_metadata == skipped


def test_log_groups_are_encrypted_with_the_log_key(template):
    from .conftest import ref_id

    key = ref_id(template, "AWS::KMS::Key", "LogKey")
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) == 6  # producer, scrubber, rights, backfill, redrive, Firehose
    for group in groups.values():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    statements = template.find_resources("AWS::KMS::Key")[key]["Properties"]["KeyPolicy"]["Statement"]
    for_logs = [s for s in statements if "Service" in s.get("Principal", {})]
    # one statement per log group, each scoped to that group's ARN by the encryption context
    assert len(for_logs) == len(groups)
    scoped = set()
    for s in for_logs:
        assert "logs." in json.dumps(s["Principal"]["Service"])
        assert list(s["Condition"]["ArnEquals"]) == ["kms:EncryptionContext:aws:logs:arn"]
        arn = json.dumps(s["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"])
        scoped |= {g["Properties"]["LogGroupName"] for g in groups.values() if f'log-group:{g["Properties"]["LogGroupName"]}"' in arn}
    assert scoped == {g["Properties"]["LogGroupName"] for g in groups.values()}
