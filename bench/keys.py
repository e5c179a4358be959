"""``python -m bench.keys``: what per-subject keys cost, on moto in-process (``mock_aws``).

* Key store (``keystore.dynamo.DynamoKeyStore`` under ``privacy.subjects.SubjectKeys``), a batch of
  ``--subjects`` subjects per ``resolve``, each scenario ``--rounds`` times with other subjects:
  new subjects (a warm container meets them first), known subjects in a cold container (its first
  batch: the root's one KMS call), known subjects whose cache entries expired (a warm container),
  cached subjects. Per batch: the AWS calls (counted by the adapter, retries included) and the
  time of ``resolve``, with the share moto itself spent answering (the rest is the client side:
  the port, the adapter, botocore's serialisation). On AWS each call is a network round trip
  instead (milliseconds): compare the calls, not moto's time.
* Value overhead and speed: ``privacy.tokens.Cipher.seal`` (AES-GCM, AES-SIV, GCM under a period
  key) against Powertools ``DataMasking.encrypt`` with its ``AWSEncryptionSDKProvider`` (AWS
  Encryption SDK, data keys cached as Powertools configures it) on moto's KMS, on the same values:
  names, e-mail addresses, SSNs and street addresses from Faker (seeded). Overhead: output bytes
  minus the value's UTF-8 bytes.

moto's TransactWriteItems deep-copies the whole table once per item of the transaction (its
rollback copy): a batch of new subjects would cost seconds of moto's own time, quadratic in the
table's size. The benchmark makes that copy once per transaction (the same state: moto's
behaviour is unchanged) so its run stays under a minute; moto's share is still reported.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import threading
import time
import types
from collections import Counter
from contextlib import contextmanager
from unittest import mock

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(_k, "bench")  # moto in-process: never a real account

TABLE = "bench-subject-keys"
KEYRING = '{"current": "v1", "v1": "bench-key-0123456789abcdef0123456789abcdef"}'
KINDS = ("name", "email", "ssn", "street")
TARGET_TOKEN_OVERHEAD = 64  # issue 11: at most 64 bytes per value


class Meter:
    """moto's own time and its requests by operation (every in-process AWS request goes through
    its botocore stubber)."""

    def __init__(self):
        self.seconds = 0.0
        self.requests: Counter = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def installed(self):
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.__call__
        meter = self

        def timed(stub, event_name, request, **kwargs):
            started = time.perf_counter()
            try:
                return original(stub, event_name, request, **kwargs)
            finally:
                with meter._lock:
                    meter.seconds += time.perf_counter() - started
                    target = request.headers.get("X-Amz-Target", b"")
                    target = target.decode() if isinstance(target, bytes) else target
                    meter.requests[target.rpartition(".")[2] or event_name] += 1

        with mock.patch.object(BotocoreStubber, "__call__", timed):
            yield self


@contextmanager
def one_table_copy_per_transaction():
    """moto's rollback copy of a table made once per TransactWriteItems, not once per item."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        snapshots = {}

        def deepcopy(obj, memo=None):
            if isinstance(obj, Table):
                if id(obj) not in snapshots:
                    snapshots[id(obj)] = copy.deepcopy(obj, memo)
                return snapshots[id(obj)]
            return copy.deepcopy(obj, memo)

        with mock.patch.object(models, "copy", types.SimpleNamespace(deepcopy=deepcopy)):
            return original(self, transact_items)

    with mock.patch.object(models.DynamoDBBackend, "transact_write_items", transact_write_items):
        yield


def _timed(meter: Meter, run):
    """(seconds, moto's seconds) of ``run()``."""
    moto_before = meter.seconds
    started = time.perf_counter()
    run()
    return time.perf_counter() - started, meter.seconds - moto_before


def key_store_scenarios(n: int, rounds: int, meter: Meter, root_key: str) -> dict:
    """The four scenarios, ``rounds`` times each with other subjects; calls per batch and times."""
    import boto3

    from keystore.dynamo import DynamoKeyStore
    from privacy.keys import Keyring
    from privacy.subjects import SubjectKeys

    keyring = Keyring.from_secret(KEYRING)

    def container(**kw):
        store = DynamoKeyStore(TABLE, root_key, dynamodb=boto3.client("dynamodb"), kms=boto3.client("kms"))
        return store, SubjectKeys(keyring, store, **kw)

    results: dict[str, dict] = {}

    def record(name: str, store, port, subjects, before=None):
        if before is not None:
            before()
        store.calls.clear()
        seconds, moto = _timed(meter, lambda: port.resolve(subjects))
        row = results.setdefault(name, {"calls": [], "seconds": [], "moto_seconds": []})
        row["calls"].append(dict(store.calls))
        row["seconds"].append(seconds)
        row["moto_seconds"].append(moto)

    writer, writer_port = container()
    writer_port.root  # noqa: B018 - the root exists before the rounds (one container made it)
    for r in range(rounds):
        subjects = [f"bench-{r}-{i}@example.com" for i in range(n)]
        record("new subjects (warm container)", writer, writer_port, subjects)
        cold, cold_port = container()
        record("known subjects, cold container (first batch)", cold, cold_port, subjects)
        expired, expired_port = container(ttl_s=0)  # every cache entry expired at once
        expired_port.resolve(subjects[:1])
        record("known subjects, warm container, cache expired", expired, expired_port, subjects)
        record("cached subjects (warm container)", cold, cold_port, subjects)
    out = {}
    for name, row in results.items():
        calls = row["calls"]
        if any(c != calls[0] for c in calls):
            raise AssertionError(f"{name}: the calls differ between rounds: {calls}")
        out[name] = {"calls": calls[0], "median_s": statistics.median(row["seconds"]),
                     "moto_s": statistics.median(row["moto_seconds"])}
    return out


def faker_values(per_kind: int, seed: int = 11) -> dict[str, list[str]]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    make = {"name": fake.name, "email": fake.email, "ssn": fake.ssn, "street": fake.street_address}
    return {kind: [make[kind]() for _ in range(per_kind)] for kind in KINDS}


def _overheads(pairs) -> dict:
    over = [len(out.encode()) - len(value.encode()) for value, out in pairs]
    return {"median": statistics.median(over), "max": max(over), "min": min(over)}


def token_costs(values: dict[str, list[str]], repeat: int = 5) -> dict:
    """Our tokens: overhead per value and values/s (median of ``repeat`` passes)."""
    from privacy.tokens import Cipher, site

    cipher = Cipher(os.urandom(32))
    link = b"k:AAAAAAAAAAAAAAAAAAAAAA"
    flat = [v for kind in KINDS for v in values[kind]]
    variants = {
        "token AES-GCM": (site("customer_signed_up", "email"), None),
        "token AES-SIV (deterministic)": (site("customer_signed_up", "email", deterministic=True), None),
        "token AES-GCM, period key": (site("customer_signed_up", "email", retention_days=30), 20_500),
    }
    out = {}
    for name, (where, period) in variants.items():
        seal = cipher.seal
        tokens = [seal(v, where, link, period) for v in flat]
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            for v in flat:
                seal(v, where, link, period)
            times.append(time.perf_counter() - started)
        out[name] = {**_overheads(zip(flat, tokens, strict=True)),
                     "by_kind": {k: _overheads((v, cipher.seal(v, where, link, period)) for v in values[k]) for k in KINDS},
                     "values_per_s": len(flat) / statistics.median(times)}
    return out


def datamasking_costs(values: dict[str, list[str]], key_arn: str, meter: Meter, decrypts: int) -> dict:
    """Powertools DataMasking.encrypt (AWS Encryption SDK provider) on the same values; KMS
    requests it made (moto's count), and a sample of decrypts."""
    from aws_lambda_powertools.utilities.data_masking import DataMasking
    from aws_lambda_powertools.utilities.data_masking.provider.kms.aws_encryption_sdk import AWSEncryptionSDKProvider

    masker = DataMasking(provider=AWSEncryptionSDKProvider(keys=[key_arn]))
    flat = [v for kind in KINDS for v in values[kind]]
    before = Counter(meter.requests)
    started = time.perf_counter()
    sealed = [masker.encrypt(v) for v in flat]
    seconds = time.perf_counter() - started
    kms_encrypt = sum((Counter(meter.requests) - before).values())
    before = Counter(meter.requests)
    started = time.perf_counter()
    for text, value in zip(sealed[:decrypts], flat[:decrypts], strict=True):
        if masker.decrypt(text) != value:
            raise AssertionError("DataMasking did not give back a value it encrypted")
    decrypt_seconds = time.perf_counter() - started
    kms_decrypt = sum((Counter(meter.requests) - before).values())
    by_kind, start = {}, 0
    for kind in KINDS:
        by_kind[kind] = _overheads(zip(values[kind], sealed[start:start + len(values[kind])], strict=True))
        start += len(values[kind])
    return {**_overheads(zip(flat, sealed, strict=True)), "by_kind": by_kind, "values_per_s": len(flat) / seconds,
            "kms_requests_per_1000_encrypts": 1000 * kms_encrypt / len(flat),
            "kms_requests_per_decrypt": kms_decrypt / decrypts, "decrypts_per_s": decrypts / decrypt_seconds}


def run(subjects: int, rounds: int, per_kind: int, dm_per_kind: int, decrypts: int) -> dict:
    import boto3
    from moto import mock_aws

    from keystore.table import create_table

    meter = Meter()
    with mock_aws(), one_table_copy_per_transaction(), meter.installed():
        kms = boto3.client("kms")
        root_key = kms.create_key(Description="bench root")["KeyMetadata"]["Arn"]
        table_key = kms.create_key(Description="bench table")["KeyMetadata"]["Arn"]
        create_table(boto3.client("dynamodb"), TABLE, table_key)
        stores = key_store_scenarios(subjects, rounds, meter, root_key)
        values = faker_values(per_kind)
        tokens = token_costs(values)
        dm_values = {k: v[:dm_per_kind] for k, v in values.items()}
        datamasking = datamasking_costs(dm_values, root_key, meter, decrypts)
    return {"subjects_per_batch": subjects, "rounds": rounds, "values": per_kind * len(KINDS),
            "datamasking_values": dm_per_kind * len(KINDS), "key_store": stores, "tokens": tokens,
            "datamasking": datamasking}


def _calls(calls: dict) -> str:
    ddb = sum(v for k, v in calls.items() if not k.startswith("kms:"))
    kms = sum(v for k, v in calls.items() if k.startswith("kms:"))
    detail = ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "none"
    return f"{ddb:>5}{kms:>5}   {detail}"


def report(r: dict) -> list[str]:
    n = r["subjects_per_batch"]
    lines = [f"Key store on moto (in-process): batches of {n:,} subjects, median of {r['rounds']} rounds",
             f"{'scenario':<48}{'resolve':>10}{'moto':>9}{'rest':>9}{'DDB':>5}{'KMS':>5}   calls per batch"]
    for name, row in r["key_store"].items():
        rest = row["median_s"] - row["moto_s"]
        lines.append(f"{name:<48}{row['median_s'] * 1000:>8.1f}ms{row['moto_s'] * 1000:>7.1f}ms{rest * 1000:>7.1f}ms"
                     f"{_calls(row['calls'])}")
    lines.append("(moto: the time moto spent answering; rest: the client side, i.e. the port, the adapter, botocore)")
    ks = r["key_store"]
    cold_kms = sum(v for k, v in ks["known subjects, cold container (first batch)"]["calls"].items() if k.startswith("kms:"))
    warm_kms = max(sum(v for k, v in row["calls"].items() if k.startswith("kms:"))
                   for name, row in ks.items() if "cold container" not in name)
    lines += [f"KMS calls per cold start: {cold_kms}; per warm invocation: {warm_kms}", "",
              f"Per value ({r['values']:,} Faker values: names, e-mails, SSNs, streets; "
              f"DataMasking on {r['datamasking_values']:,} of them)",
              f"{'':<40}{'overhead: median':>17}{'max':>7}{'values/s':>11}   median by kind (name/email/ssn/street)"]
    rows = {**r["tokens"], "Powertools DataMasking.encrypt (ESDK)": r["datamasking"]}
    for name, row in rows.items():
        kinds = "/".join(f"{row['by_kind'][k]['median']:g}" for k in KINDS)
        lines.append(f"{name:<40}{row['median']:>15g} B{row['max']:>5} B{row['values_per_s']:>11,.0f}   {kinds}")
    dm = r["datamasking"]
    lines.append(f"DataMasking: {dm['kms_requests_per_1000_encrypts']:.1f} KMS requests per 1,000 encrypts (data keys "
                 f"cached); {dm['kms_requests_per_decrypt']:.2f} per decrypt, {dm['decrypts_per_s']:,.0f} decrypts/s")
    worst = max(row["max"] for row in r["tokens"].values())
    lines.append(f"  [{'PASS' if worst <= TARGET_TOKEN_OVERHEAD else 'FAIL'}] token overhead <= "
                 f"{TARGET_TOKEN_OVERHEAD} bytes per value (max {worst})")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.keys")
    ap.add_argument("--subjects", type=int, default=2000, help="subjects per batch")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per scenario (other subjects each)")
    ap.add_argument("--values", type=int, default=500, help="values per kind for the tokens")
    ap.add_argument("--datamasking-values", type=int, default=100, help="values per kind for DataMasking")
    ap.add_argument("--decrypts", type=int, default=20, help="DataMasking decrypts sampled")
    ap.add_argument("--json", action="store_true", help="print machine-readable results")
    args = ap.parse_args(argv)
    results = run(args.subjects, args.rounds, args.values, args.datamasking_values, args.decrypts)
    print(json.dumps(results, indent=2) if args.json else "\n".join(report(results)))
    worst = max(row["max"] for row in results["tokens"].values())
    return 0 if worst <= TARGET_TOKEN_OVERHEAD else 1


if __name__ == "__main__":
    raise SystemExit(main())
