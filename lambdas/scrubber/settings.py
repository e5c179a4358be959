"""Adapter: everything the scrubber reads from its environment, and the one AWS call it makes.

* ``CONTRACTS_FILE``: the compiled contract bundle shipped in the asset (JSON).
* ``CONTRACT_SELECTOR``: how an event names its contract (type/version fields, defaults, token).
* ``PSEUDONYM_SECRET_ARN``: the Secrets Manager secret holding the HMAC keyring, read through
  Powertools parameters (cached ``max_age`` seconds, so a rotation reaches warm containers).
* ``SUBJECT_KEYS_TABLE``, ``SUBJECT_KEYS_ROOT_KEY``: the per-subject key table (DynamoDB) and the
  KMS key of its root (``keystore.dynamo``); required when a contract encrypts. The subjects'
  keys are cached ``SUBJECT_KEYS_CACHE_TTL_S`` seconds (default 300), at most
  ``SUBJECT_KEYS_CACHE_SIZE`` subjects (default 100,000).

The keyring's source is a port (``SecretSource``): the deployed function reads Secrets Manager
(``SecretsManagerSecret``); the benchmark and the tests hand in their own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from privacy.contract import load_bundle
from privacy.engine import ContractSet
from privacy.keys import KeyPort, Keyring
from privacy.scrub import Scrubber
from privacy.subjects import DEFAULT_CACHE_SIZE, DEFAULT_TTL_S, KeyStore, SubjectKeys

SECRET_MAX_AGE_S = 300


class SecretSource(Protocol):
    """The keyring secret's current text (``{"current": "v1", "v1": "<key>"}``). Called for every
    batch, so a rotation is seen: a source that fetches it remotely caches it itself."""

    def __call__(self) -> str: ...


class SecretsManagerSecret:
    """The deployed source: the secret ``arn`` names, through Powertools parameters, cached
    ``SECRET_MAX_AGE_S`` seconds."""

    def __init__(self, arn: str):
        self.arn = arn

    def __call__(self) -> str:
        from aws_lambda_powertools.utilities import parameters

        return parameters.get_secret(self.arn, max_age=SECRET_MAX_AGE_S)


class Settings:
    """The contracts and selector (read now, from ``env``) and the keyring (from ``secret`` at
    each batch; by default the secret ``PSEUDONYM_SECRET_ARN`` names)."""

    def __init__(self, env: Mapping[str, str] = os.environ, secret: SecretSource | None = None,
                 store: KeyStore | None = None):
        """``store``: the per-subject key store (default: DynamoDB, as ``SUBJECT_KEYS_TABLE`` names,
        when a contract encrypts)."""
        required = ["CONTRACT_SELECTOR"] + (["PSEUDONYM_SECRET_ARN"] if secret is None else [])
        missing = [k for k in required if not env.get(k)]
        if not missing:
            path = env.get("CONTRACTS_FILE") or str(Path(__file__).resolve().parent.parent / "contracts.json")
            self.contracts = load_bundle(Path(path).read_text(encoding="utf-8"))
            if store is None and any(f.pii is not None and "encrypt" in (f.pii.action, f.pii.always)
                                     for c in self.contracts for f in c.fields):
                missing = [k for k in ("SUBJECT_KEYS_TABLE", "SUBJECT_KEYS_ROOT_KEY") if not env.get(k)]
        if missing:
            # Fail the whole invocation: Firehose retries it and then quarantines the batch.
            raise RuntimeError(f"missing configuration: {', '.join(missing)}; refusing to process records")
        self.selector = json.loads(env["CONTRACT_SELECTOR"])
        self.secret: SecretSource = secret if secret is not None else SecretsManagerSecret(env["PSEUDONYM_SECRET_ARN"])
        if store is None and env.get("SUBJECT_KEYS_TABLE"):
            from keystore.dynamo import from_env  # boto3 and the table only where keys are per subject

            store = from_env(env)
        self.store = store
        self.cache_ttl_s = float(env.get("SUBJECT_KEYS_CACHE_TTL_S") or DEFAULT_TTL_S)
        self.cache_size = int(env.get("SUBJECT_KEYS_CACHE_SIZE") or DEFAULT_CACHE_SIZE)
        self.retention_days = {c.retention_days for c in self.contracts if c.retention_days}
        self._secret_text: str | None = None
        self._scrubber: Scrubber | None = None
        self._subject_keys: SubjectKeys | None = None

    def scrubber(self) -> Scrubber:
        """The compiled contracts, built once; a new keyring secret swaps the key port and
        recompiles nothing."""
        text = self.secret()
        if self._scrubber is None:
            s = self.selector
            self._scrubber = Scrubber(ContractSet(
                self.contracts,
                type_field=s["type_field"],
                version_field=s["version_field"],
                default_contract=s.get("default_contract"),
                default_versions=s.get("default_versions") or {},
                token=s["redaction_token"],
            ))
        if text != self._secret_text:
            self._scrubber.rotate(self._port(Keyring.from_secret(text)))
            self._secret_text = text
        return self._scrubber

    def _port(self, keyring: Keyring) -> KeyPort:
        """The key port: the keyring alone, or with per-subject keys from the store (one port for
        the container's life: a new keyring keeps the subjects' cache)."""
        if self.store is None:
            return keyring
        if self._subject_keys is None:
            self._subject_keys = SubjectKeys(keyring, self.store, ttl_s=self.cache_ttl_s, size=self.cache_size,
                                             retention_days=self.retention_days)
        else:
            self._subject_keys.use(keyring)
        return self._subject_keys
