"""The offline twin: the whole pipeline on a local cloud (a moto server), with no AWS account and no
Docker.

Resources are created on the local cloud (``twin.server``) under the same names and configuration
as the CDK app (read from the same ``cdk.json`` context), or found there from an earlier command
(``twin.resources``). The producer and scrubbing handlers are the real Lambda handlers, run in this
process (``twin.lambdas``); ``FirehoseEmulator`` stands in for the Firehose service that moto
lacks. Each command that produces (``run_pipeline``, ``push_file``) then delivers everything
pending on the stream, from where the last delivery stopped, and records where it stopped.
"""

from __future__ import annotations

import gzip
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from twin.resources import ACCOUNT, ON_DEMAND_INITIAL_SHARDS, REGION  # noqa: E402, F401  (the twin's account and region)

DEFAULT_EVENTS_PER_SECOND = 100.0  # the cost estimate's assumed rate (stream-hours, batches, objects)


class ProducerError(ValueError):
    """The producer refused a payload (its message names a payload key, never a value)."""


def read_objects(s3, bucket: str, prefix: str, keys=None) -> dict[str, bytes]:
    """Objects under ``prefix`` (only ``keys``, if given), decompressed."""
    if keys is None:
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for o in page.get("Contents", [])]
    out = {}
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        out[key] = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    return out


def run_pipeline(
    *,
    cloud,
    config=None,
    events: int = 10_000,
    seed: int = 7,
    consent_ratio: float = 0.5,
    consent_noise: float = 0.02,
    malformed_ratio: float = 0.005,
    subjects: int | None = None,
    out_dir=None,
    throughput_limits: bool = True,
    producer_payload_extra: dict | None = None,
    inspect=None,
    events_per_second: float = DEFAULT_EVENTS_PER_SECOND,
    prices=None,
):
    """Generate ``events`` with the producer and deliver everything pending, on ``cloud`` (a
    ``twin.server.LocalCloud``). ``inspect(s3, bucket)`` runs at the end.

    ``out_dir`` (a path, or a prepared ``twin.outdir.OutDir``): a folder that receives a copy of
    the local lake and ``summary.json``; it is emptied of an earlier command's output first, and
    refused (``OutDirError``, before anything runs) if it holds anything else (``twin.outdir``).

    ``events_per_second`` and ``prices`` (a ``twin.prices.PriceTable``; default: the table in
    ``twin/prices_us-east-1.yaml``): the assumed rate and the prices of the cost estimate
    (``twin.cost``) the summary ends with."""
    import json

    payload = {
        "count": events,
        "seed": seed,
        "consent_ratio": consent_ratio,
        "consent_noise": consent_noise,
        "malformed_ratio": malformed_ratio,
        "subjects": subjects or max(1, events // 5),
        "start_time": "2026-01-15T09:30:00Z",
        **(producer_payload_extra or {}),
    }
    summary = _command("run", cloud, config, [json.dumps(payload).encode("utf-8")], out_dir, throughput_limits, inspect,
                       seed=seed, cost=(events_per_second, prices))
    return summary


def push_file(path, *, cloud, config=None, out_dir=None, throughput_limits: bool = True, inspect=None,
              payload_limit: int | None = None, events_per_second: float = DEFAULT_EVENTS_PER_SECOND, prices=None,
              direct: bool = False):
    """Send the events of a JSON-lines file (a path, or a ``twin.push.InputFile`` already read)
    through the producer (``{"events": [...]}``, split into requests within Lambda's limit) and
    deliver everything pending; see ``twin.push``. Raises OSError if the file cannot be read.

    ``direct``: put each event on the stream as it is (partition key: its line number), as your
    own applications would, without the producer and its contract check: events of the default
    contract (no event type) can be sent so, and the scrubber quarantines what it cannot process."""
    from twin.lambdas import LAMBDA_PAYLOAD_LIMIT
    from twin.push import InputFile, read_events, split_payloads, too_large_for_direct

    limit = payload_limit or LAMBDA_PAYLOAD_LIMIT
    out = _prepared(out_dir)
    given = path if isinstance(path, InputFile) else read_events(path, limit)
    if direct and (refusal := too_large_for_direct(given)) is not None:
        raise ProducerError(refusal)
    chunks = [] if direct else split_payloads(given.events, limit)
    summary = _command("push", cloud, config, [c for _, _, c in chunks], out, throughput_limits, inspect,
                       lines=[given.line_of[a:b] for a, b, _ in chunks], given=given, cost=(events_per_second, prices),
                       direct=direct)
    return summary


def _prepared(out_dir):
    from twin.outdir import OutDir, prepare

    return out_dir if out_dir is None or isinstance(out_dir, OutDir) else prepare(out_dir)


def _contract_set(config, contracts):
    """The contracts as the scrubber runs them, to read consent from delivered lines (with a
    throwaway keyring: counting never pseudonymises)."""
    from privacy.engine import ContractSet
    from privacy.keys import Keyring

    c = config.contracts
    return ContractSet(contracts, type_field=c.type_field, version_field=c.version_field,
                       default_contract=c.default_contract, default_versions=dict(c.default_versions),
                       token=c.redaction_token, keyring=Keyring({"count": b"\0" * 32}, "count"))


def redrive_quarantine(*, cloud, config=None, since: str | None = None, until: str | None = None, out_dir=None,
                       throughput_limits: bool = True, inspect=None, events_per_second: float = DEFAULT_EVENTS_PER_SECOND,
                       prices=None):
    """Run the quarantine redrive function over the error objects of [since, until) (``twin.redrive``)
    and deliver everything pending, as ``run`` and ``push`` do."""
    from twin.redrive import payload

    return _command("redrive", cloud, config, [], _prepared(out_dir), throughput_limits, inspect,
                    cost=(events_per_second, prices), redrive=payload(since, until))


def _command(kind, cloud, config, requests, out_dir, throughput_limits, inspect, lines=None, given=None, seed=None,
             cost=(None, None), direct=False, redrive=None):
    import tempfile

    from privacy.contract import bundle_json
    from stacks.config import load_contracts, load_from_cdk_json
    from twin.lambdas import twin_environment

    config = config or load_from_cdk_json(ROOT / "cdk.json")
    out = _prepared(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        # The same compiled bundle the CDK app ships in the scrubber's asset.
        contracts = load_contracts(config.contracts)
        bundle = Path(tmp) / "contracts.json"
        bundle.write_text(bundle_json(contracts), encoding="utf-8")
        env = {
            "STREAM_NAME": config.stream_name,
            "CONTRACT_SELECTOR": config.contracts.selector_json(),
            "CONTRACTS_FILE": str(bundle),
        }
        with twin_environment(cloud.endpoint, env):
            return _run(kind, cloud, config, contracts, requests, out, throughput_limits, inspect, lines, given, seed, cost,
                        given.events if direct else None, redrive)


def _produce(config, cloud, requests, throughput_limits, lines, direct=None):
    """Invoke the producer once per request (or put the ``direct`` events on the stream, with no
    producer); returns its responses summed, and the limits' stats."""
    from botocore.config import Config

    from producer import handler as producer_handler
    from twin.kinesis_limits import KinesisLimits
    from twin.lambdas import FakeLambdaContext, invoke

    producer_client = cloud.client("kinesis", config=producer_handler.BOTO_CONFIG.merge(Config()))
    limits = KinesisLimits(producer_client.list_shards(StreamName=config.stream_name)["Shards"], throughput=throughput_limits)
    limits.install(producer_client)
    producer_handler._client = producer_client
    total = {k: 0 for k in ("produced", "sent", "failed", "batches", "retried", "malformed", "nonconforming")}
    total.update(refused={}, refused_lines=[], invocations=0, max_request=0)
    if direct is not None:
        from streams.kinesis_sink import KinesisSink

        sent = KinesisSink(producer_client, config.stream_name).send((str(i + 1), e) for i, e in enumerate(direct))
        if sent.failed:  # still refused after the sink's retries: said, never counted as if all went
            raise ProducerError(f"push --direct: {sent.failed:,} of {len(direct):,} events could not be put on the stream "
                                f"(still refused after retries); the {sent.sent:,} sent are delivered by the next command")
        total.update(produced=len(direct), **sent.as_dict())
        return total, limits.stats
    try:
        for i, request in enumerate(requests):
            ctx = FakeLambdaContext(config.producer_function_name, config.producer.timeout_seconds, config.producer.memory_mb)
            prod = invoke(producer_handler.lambda_handler, request, ctx)
            if "error" in prod:
                raise ProducerError(f"the producer refused its payload: {prod['error']}")
            total["invocations"] += 1
            total["max_request"] = max(total["max_request"], len(request))
            for k in ("produced", "sent", "failed", "batches", "retried", "malformed", "nonconforming"):
                total[k] += prod[k]
            for reason, n in prod.get("refused", {}).items():
                total["refused"][reason] = total["refused"].get(reason, 0) + n
            if lines is not None:
                total["refused_lines"] += [[lines[i][index], reason] for index, reason in prod.get("refused_at", [])]
    finally:
        producer_handler._client = None
    return total, limits.stats


def _run(kind, cloud, config, contracts, requests, out, throughput_limits, inspect, lines, given, seed, cost, direct,
         redrive=None):
    import importlib
    import os

    from aws_lambda_powertools.utilities import parameters

    from twin.counts import count_delivered
    from twin.firehose import FirehoseEmulator
    from twin.lambdas import FakeLambdaContext
    from twin.resources import ensure_resources
    from twin.summary import Summary

    started = time.perf_counter()
    res = ensure_resources(config, cloud)
    kinesis, s3 = cloud.client("kinesis"), cloud.client("s3")

    os.environ["PSEUDONYM_SECRET_ARN"] = res.secret_arn
    os.environ.update(res.scrubber_environment(config))  # the per-subject key store (issue 11)
    parameters.clear_caches()
    import scrubber.handler as scrubber_handler

    scrubber_handler = importlib.reload(scrubber_handler)  # a cold start: settings read from this environment
    emulator = FirehoseEmulator(
        kinesis=kinesis,
        s3=s3,
        config=config,
        handler=scrubber_handler.lambda_handler,
        context_factory=lambda: FakeLambdaContext(
            config.scrubber_function_name, config.scrubber.timeout_seconds, config.scrubber.memory_mb
        ),
        bucket=res.bucket,
        kms_key_arn=res.keys["lake"],
        region=REGION,
        account=ACCOUNT,
        lambda_arn=res.scrubber_arn,
        positions=cloud.delivered(config.delivery_stream_name),
        keystore_probe=_keystore_probe(scrubber_handler),
    )
    pending_before = emulator.source.count_pending()
    redriven = None
    if redrive is None:
        prod, limit_stats = _produce(config, cloud, requests, throughput_limits, lines, direct)
    else:  # the redrive function puts quarantined records back on the stream, instead of the producer
        from twin.redrive import invoke_redrive

        prod, limit_stats, redriven = invoke_redrive(config, cloud, res.bucket, redrive, throughput_limits)
    stats = emulator.run()
    cloud.save_delivered(config.delivery_stream_name, emulator.checkpoint)

    # Count from what actually landed in S3, not from what the emulator believes it wrote.
    data = read_objects(s3, res.bucket, "", stats.data_objects)
    quarantine = read_objects(s3, res.bucket, "", stats.error_objects)
    counts = count_delivered(data.values(), _contract_set(config, contracts))
    lake_data = read_objects(s3, res.bucket, config.delivery.data_root)
    # the quarantine as it stands: what a redrive moved aside (quarantine.layout) is not quarantined any more
    from quarantine.layout import Layout

    redriven_root = Layout(config.delivery.quarantine_prefix).redriven_root
    lake_quarantine = {k: v for k, v in read_objects(s3, res.bucket, config.delivery.quarantine_root).items()
                       if not k.startswith(redriven_root)}
    if out is not None:
        out.write_objects(res.bucket, lake_data, quarantine=False)
        out.write_objects(res.bucket, lake_quarantine, quarantine=True)
    if inspect is not None:
        inspect(s3, res.bucket)

    summary = Summary(
        command=kind,
        seed=seed,
        direct=direct is not None,
        redrive=redriven,
        endpoint=cloud.endpoint,
        server_pid=cloud.pid,
        server_started=cloud.started_now,
        resources_created=res.created,
        produced=prod["produced"],
        sent=prod["sent"],
        producer_failed=prod["failed"],
        producer_batches=prod["batches"],
        producer_retried=prod["retried"],
        producer_invocations=prod["invocations"],
        max_producer_request_bytes=prod["max_request"],
        nonconforming=prod["nonconforming"],
        refused=prod["refused"],
        throttled_entries=limit_stats.throttled_entries,
        malformed_injected=prod["malformed"],
        pending_before=pending_before,
        read=stats.records_read,
        invocations=stats.invocations,
        delivered=counts.delivered,
        redacted=counts.redacted,
        consented=counts.consented,
        unreadable_delivered=counts.unreadable,
        dropped=stats.dropped,
        quarantined=sum(len(b.splitlines()) for b in quarantine.values()),
        objects_written=len(data),
        quarantine_objects=len(quarantine),
        max_lambda_request_bytes=stats.max_request_bytes,
        max_lambda_response_bytes=stats.max_response_bytes,
        elapsed_seconds=round(time.perf_counter() - started, 2),
        lake={
            "bucket": res.bucket,
            "data_objects": len(lake_data),
            "quarantine_objects": len(lake_quarantine),
            "events": sum(len(b.splitlines()) for b in lake_data.values()),
            "quarantined": sum(len(b.splitlines()) for b in lake_quarantine.values()),
        },
        out_dir=str(out.path) if out else None,
        out_holds=out.holds() if out else None,
        data_keys=sorted(data),
        quarantine_keys=sorted(quarantine),
        input=None if given is None else {
            "file": str(given.path), "lines": given.lines, "events": len(given.events), "blank": given.blank,
            "refused_lines": [list(r) for r in given.refused], "producer_refused_lines": prod["refused_lines"],
        },
    )
    summary.check()
    summary.cost = _cost(config, stats, scrubber_handler, *cost)
    if out is not None:
        out.write_summary({**asdict(summary), "complete": True})
    return summary


def _keystore(scrubber_handler):
    """The scrubber's key store, once its first invocation has built it (None before)."""
    cached = scrubber_handler.deployed_handler.cache_info().currsize
    return scrubber_handler.deployed_handler().settings.store if cached else None


def _keystore_probe(scrubber_handler):
    """The key store's calls and ms waited so far: the emulator reads it around each invocation."""
    def probe() -> tuple[int, float]:
        store = _keystore(scrubber_handler)
        return sum(getattr(store, "calls", {}).values()), sum(getattr(store, "waited_ms", {}).values())
    return probe


def _cost(config, stats, scrubber_handler, events_per_second, prices) -> dict | None:
    """The cost estimate (``twin.cost``) of what this command delivered; None if nothing went through."""
    from twin.cost import Deployment, Usage, estimate, render, split_timings
    from twin.prices import load_prices

    events = stats.records_read - stats.dropped  # a record put back and read again is one event
    if events <= 0:
        return None
    prices = prices or load_prices()
    store = _keystore(scrubber_handler)
    calls, usage = getattr(store, "calls", {}), getattr(store, "usage", {})
    cold, warm = split_timings(stats.handler_ms, stats.invocation_records, stats.invocation_keystore)
    measured = Usage(
        events=events, record_sizes=stats.record_sizes, cold=cold, warm=warm,
        request_overhead_bytes=stats.request_overhead_bytes, delivered_bytes=stats.bytes_delivered,
        data_bytes_gz=stats.data_bytes_gz, quarantined=stats.failed, error_bytes_gz=stats.error_bytes_gz,
        kms_requests=sum(n for name, n in calls.items() if name.startswith("kms:")),
        read_request_units=usage.get("read_request_units", 0), write_request_units=usage.get("write_request_units", 0),
        key_bytes_stored=usage.get("stored_bytes", 0),
    )
    deployment = Deployment.of(config)
    est = estimate(measured, deployment, prices, events_per_second or DEFAULT_EVENTS_PER_SECOND)
    return {**est.as_dict(), "events_measured": events, "handler_ms": sum(stats.handler_ms),
            "keystore_calls": dict(calls), "keystore_waited_ms": dict(getattr(store, "waited_ms", {})),
            "table": render(est, prices)}
