"""``python -m twin redrive``: quarantined records back through the offline pipeline.

The deployed redrive function's handler (``quarantine.handler``) runs in this process, as the twin
runs every Lambda, against the local cloud: it reads the error objects of the range from the lake,
puts their records back on the stream (through the twin's Kinesis limits, so refused entries are
retried offline as on AWS), and moves the objects aside. The command then delivers everything
pending, as ``run`` and ``push`` do (``twin.pipeline``): the summary shows what became of the
redriven records (delivered, or quarantined again), and ``./out`` holds the lake after it.
"""

from __future__ import annotations

import json


class RedriveRefused(ValueError):
    """The function refused its payload (the message names the field, never a value)."""


def payload(since: str | None, until: str | None) -> dict:
    """The function's payload: only the bounds given (an open end is left out)."""
    return {k: v for k, v in (("since", since), ("until", until)) if v is not None}


def invoke_redrive(config, cloud, bucket: str, request: dict, throughput_limits: bool):
    """One invocation of the redrive handler; returns its totals in the producer's terms (what the
    summary counts as sent), the Kinesis limits' stats, and the function's answer."""
    from quarantine.aws import KinesisStream, S3Store
    from quarantine.handler import make_handler
    from quarantine.layout import Layout
    from twin.kinesis_limits import KinesisLimits
    from twin.lambdas import FakeLambdaContext, invoke

    kinesis = cloud.client("kinesis")
    limits = KinesisLimits(kinesis.list_shards(StreamName=config.stream_name)["Shards"], throughput=throughput_limits)
    limits.install(kinesis)
    rd = config.redrive
    handler = make_handler(store=S3Store(cloud.client("s3"), bucket),
                           stream=KinesisStream(kinesis, config.stream_name, max_attempts=rd.max_attempts),
                           layout=Layout(config.delivery.quarantine_prefix))
    body = json.dumps(request).encode("utf-8")
    ctx = FakeLambdaContext(rd.function_name(config.name_prefix), rd.timeout_seconds, rd.memory_mb)
    answer = invoke(handler, body, ctx)
    if "field" in answer:
        raise RedriveRefused(f"the redrive function refused its payload: {answer['error']}")
    calls = answer.get("put_records", {})
    totals = {
        "produced": answer["records_read"], "sent": answer["records_reput"], "failed": answer["records_failed"],
        "batches": calls.get("calls", 0), "retried": calls.get("retried", 0), "malformed": 0, "nonconforming": 0,
        "refused": {}, "refused_lines": [], "invocations": 1, "max_request": len(body),
    }
    return totals, limits.stats, answer


def report_lines(answer: dict, bucket: str) -> list[str]:
    """The summary's lines about the redrive itself (counts, keys and reason codes only)."""
    a = answer
    span = f"[{a['since'] or 'the start'}, {a['until'] or 'now'})"
    lines = [
        f"  redriven            {a['records_reput']:>10,}  records put back on the stream, of {a['records_read']:,} read "
        f"from {a['objects']:,} error object{'' if a['objects'] == 1 else 's'} in {span}; "
        f"{a['records_failed']:,} still refused by Kinesis (left in quarantine)",
        f"  error objects       {a['objects_redriven']:>10,}  moved aside to s3://{bucket}/{a['moved_to']}, "
        f"{a['objects_split']:,} split, {a['objects_kept']:,} kept, {a['objects_skipped']:,} skipped, "
        f"{a['objects_finished']:,} finished, {a['objects_not_reached']:,} not reached",
    ]
    lines += [f"                      skipped {s['key']}: {s['reason']}" for s in a["skipped"]]
    if not a["complete"]:
        lines.append(f"  INCOMPLETE          {a.get('error') or 'stopped before the end of the range'}: "
                     "run it again (nothing moved aside is redriven twice)")
    return lines
