"""Shared fixtures: the configured policy, and Firehose events shaped like the real ones."""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import os
import uuid
from pathlib import Path

import pytest

from stacks.config import load_from_cdk_json


def _packages_of_another_checkout() -> dict[str, str]:
    """First-party packages that would be imported from outside this checkout. The project is
    installed editable (``make venv``), and an editable install maps each package to one checkout:
    a venv shared with another clone or worktree imports the code of whichever installed it last."""
    root = Path(__file__).resolve().parent.parent
    wrong = {}
    for name in ("privacy", "scrubber", "producer", "keystore", "rights", "backfill", "quarantine", "stacks", "twin", "tools", "bench"):
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin is None or root not in origin.parents:
            wrong[name] = str(origin)
    return wrong


if _wrong := _packages_of_another_checkout():
    pytest.exit(f"these packages are not imported from this checkout: {_wrong}; install it in this venv: "
                f"`make venv`, or `.venv/bin/python -m pip install -e .`", returncode=pytest.ExitCode.USAGE_ERROR)

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.setdefault(_k, "testing")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "PiiScrubbingTest")
os.environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"

CONFIG = load_from_cdk_json()
TEST_KEYRING_SECRET = '{"current": "v1", "v1": "test-key-0123456789abcdef0123456789abcdef"}'

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/pii-scrub-events"
# The producer's contracts with consent as a flag only (order_placed/2 carries purposes instead)
V1_TYPES = ("customer_signed_up", "order_placed/1", "health_form_submitted", "tax_form_submitted")

DELIVERY_ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/pii-scrub-delivery"


def firehose_event(payloads: list[bytes], *, start_seq: int = 49_600_000_000_000_000_000) -> dict:
    """A Firehose transformation event for a Kinesis source, as Firehose sends it."""
    records = []
    for i, data in enumerate(payloads):
        seq = str(start_seq + i)
        records.append(
            {
                "recordId": f"{seq}{i:06d}",
                "approximateArrivalTimestamp": 1_768_469_400_000 + i,
                "data": base64.b64encode(data).decode("ascii"),
                "kinesisRecordMetadata": {
                    "sequenceNumber": seq,
                    "subsequenceNumber": "",
                    "partitionKey": f"subject-{i % 7}",
                    "shardId": f"shardId-00000000000{i % 4}",
                    "approximateArrivalTimestamp": 1_768_469_400_000 + i,
                },
            }
        )
    return {
        "invocationId": str(uuid.uuid4()),
        "deliveryStreamArn": DELIVERY_ARN,
        "sourceKinesisStreamArn": STREAM_ARN,
        "region": "us-east-1",
        "records": records,
    }


def string_values(v):
    """Every string inside a JSON value, recursively."""
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from string_values(x)
    elif isinstance(v, list):
        for x in v:
            yield from string_values(x)


class LambdaContext:
    function_name = "pii-scrub-scrubber"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pii-scrub-scrubber"
    memory_limit_in_mb = 1024
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/pii-scrub-scrubber"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 120_000


@pytest.fixture(scope="session")
def config():
    return CONFIG


def _memory_store():
    from privacy.memory_store import MemoryKeyStore

    return MemoryKeyStore()


# The per-subject key store of the tests' scrubbers (in memory; keystore.dynamo is tested on moto)
TEST_STORE = _memory_store()


def subject_keys(store=TEST_STORE, config=CONFIG):
    """The key port of the tests: the test keyring, and per-subject keys in ``store``."""
    from privacy.keys import Keyring
    from privacy.subjects import SubjectKeys
    from stacks.config import load_contracts

    retention = {c.retention_days for c in load_contracts(config.contracts) if c.retention_days}
    return SubjectKeys(Keyring.from_secret(TEST_KEYRING_SECRET), store, retention_days=retention)


@functools.cache
def _opener(store):
    from privacy.subjects import Opener

    return Opener(store)


def opened(record: dict, store=TEST_STORE) -> dict:
    """A scrubbed record with its encrypted fields opened (as export would), for assertions;
    a token that does not open fails the test."""
    from privacy.sealed import open_record

    out = json.loads(json.dumps(record))
    contract = _contracts_by_ref()[out["_privacy"]["contract"]]
    problems = open_record(out, contract, _opener(store))
    assert problems == [], problems
    return out


@functools.cache
def _contracts_by_ref():
    from stacks.config import load_contracts

    return {c.ref: c for c in load_contracts(CONFIG.contracts)}


def contract_set(config=CONFIG, keys=None):
    """The configured contracts, with the tests' key port (per-subject keys in TEST_STORE)."""
    from privacy.engine import ContractSet
    from stacks.config import load_contracts

    c = config.contracts
    return ContractSet(
        load_contracts(c),
        type_field=c.type_field,
        version_field=c.version_field,
        default_contract=c.default_contract,
        default_versions=dict(c.default_versions),
        token=c.redaction_token,
        keyring=keys if keys is not None else subject_keys(config=config),
    )


@pytest.fixture(scope="session")
def contracts():
    return contract_set()


@pytest.fixture(scope="session")
def scrubber(contracts):
    from privacy.scrub import Scrubber

    return Scrubber(contracts)


@pytest.fixture(scope="session")
def policy(contracts):  # the batch tests' name for "whatever decides what a record keeps"
    return contracts


@pytest.fixture
def lambda_context():
    return LambdaContext()


def _reset_module_state() -> None:
    """What a test can leave behind in module-level state, put back as a new Lambda container
    would have it.

    * Powertools ``Metrics`` keeps its metric, dimension and metadata sets in class attributes
      shared by every instance, and only clears them on a flush that actually prints: with
      ``POWERTOOLS_METRICS_DISABLED`` (the twin) every ``add_metric`` accumulates, and the next
      test that flushes prints the earlier tests' values with its own.
    * Powertools parameters keep providers and their cached values (the keyring) module-wide.
    * ``scrubber.handler.lambda_handler`` builds its handler from the environment at its first
      invocation and keeps it (``deployed_handler``): cleared, the next call is a cold start.
      (Tests that want their own dependencies make a handler with ``make_handler``.)
    * ``producer.handler`` caches its Kinesis client and the loaded contracts in globals, and
      its deployed handler's ``metrics`` instance keeps its own dimension sets.
    """
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.utilities import parameters

    from backfill.handler import deployed_handler as deployed_backfill
    from producer import handler as producer
    from scrubber.handler import deployed_handler

    producer.metrics.clear_metrics()  # also the instance's own dimension sets
    producer.metrics.provider.timestamp = None
    for shared in (Metrics._metrics, Metrics._dimensions, Metrics._metadata, Metrics._default_dimensions):
        shared.clear()
    parameters.clear_caches()
    deployed_handler.cache_clear()
    deployed_backfill.cache_clear()
    producer._client = producer._conformance = producer._contracts = None


@pytest.fixture(autouse=True)
def fresh_module_state():
    _reset_module_state()
    yield
    _reset_module_state()


@pytest.fixture(scope="module")
def zero_nonce():
    """A fixed AES-GCM nonce for the module's tests (the two engines' tokens compared byte for
    byte, see privacy.tokens), put back after them: never for tests run after."""
    from privacy import tokens

    saved = tokens._nonce
    tokens._nonce = lambda: b"\0" * 12
    yield
    tokens._nonce = saved
