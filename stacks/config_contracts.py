"""The ``contracts`` block of the pipeline's configuration, and what every block is read with.

The data contracts the block names are loaded, compiled and trial-produced at synth time, so a
contract that cannot run fails there. ``stacks.config`` builds on this module and re-exports its
public names (import them from there). Free of ``aws_cdk`` imports, like ``stacks.config``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

CONTEXT_KEY = "pipeline"
_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")


class ConfigError(ValueError):
    """A configuration value is invalid. The message names the offending key."""


@dataclass(frozen=True)
class ContractsConfig:
    """Where the data contracts live and how an event names its contract."""

    dir: str = "contracts"
    type_field: str = "event_type"
    version_field: str = "schema_version"
    # Contract for events that carry no type field; None sends them to quarantine.
    default_contract: str | None = "legacy_consent/1"
    # Version to assume for a known type whose events carry no version field.
    default_versions: tuple[tuple[str, str], ...] = ()
    redaction_token: str = "REDACTED_CONTENT"
    refs: tuple[str, ...] = ()  # filled in by load_config: every contract found, as type/version

    def selector_json(self) -> str:
        """The compact form handed to the scrubbing Lambda through its environment."""
        return json.dumps(
            {
                "type_field": self.type_field,
                "version_field": self.version_field,
                "default_contract": self.default_contract,
                "default_versions": dict(self.default_versions),
                "redaction_token": self.redaction_token,
            },
            separators=(",", ":"),
            sort_keys=True,
        )


class _Reader:
    """Reads one mapping of the context, naming each key by its full path in errors."""

    def __init__(self, raw: Any, path: str):
        if not isinstance(raw, Mapping):  # a null too: it would silently mean every default
            raise ConfigError(f"{path} must be an object, got {'null' if raw is None else type(raw).__name__}")
        self.raw = dict(raw)
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def get(self, name: str, default: Any) -> Any:
        self.used.add(name)
        return self.raw.get(name, default)

    def int_in(self, name: str, default: int, lo: int, hi: int) -> int:
        v = self.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{self.key(name)} must be an integer, got {v!r}")
        if not lo <= v <= hi:
            raise ConfigError(f"{self.key(name)} must be between {lo} and {hi}, got {v}")
        return v

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        v = self.get(name, default)
        if v not in allowed:
            raise ConfigError(f"{self.key(name)} must be one of {', '.join(allowed)}, got {v!r}")
        return v

    def string(self, name: str, default: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        v = self.get(name, default)
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{self.key(name)} must be a non-empty string, got {v!r}")
        if pattern is not None and not pattern.match(v):
            raise ConfigError(f"{self.key(name)} {what or 'is malformed'}, got {v!r}")
        return v

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            raise ConfigError(f"{self.path} has unknown key(s): {', '.join(unknown)}")


def load_contracts(cfg: ContractsConfig, root: Path | None = None):
    """Load and validate every contract in the configured folder (raises ConfigError naming the file)."""
    from privacy.contract import ContractError
    from privacy.files import load_contract_dir

    folder = (root or REPO_ROOT) / cfg.dir
    try:
        contracts = load_contract_dir(folder)
    except ContractError as exc:
        raise ConfigError(f"{CONTEXT_KEY}.contracts: {exc}") from None
    check_contracts(contracts, cfg.redaction_token)
    return contracts


def check_contracts(contracts, redaction_token: str = "REDACTED_CONTENT") -> None:
    """What a contract must pass beyond parsing: both engines compile it, and the producer's
    events conform. No keys are needed: plans never hold any."""
    from privacy.engine import CompiledContract, ContractSet
    from privacy.fast import FastPlan
    from privacy.fast_types import Unsupported

    # Compile each one as the Lambdas will, so a contract that parses but cannot run fails here,
    # not at the first invocation.
    for c in contracts:
        try:
            cc = CompiledContract(c, redaction_token)
        except Exception as exc:  # noqa: BLE001 - report which contract, whatever went wrong
            raise ConfigError(f"{CONTEXT_KEY}.contracts: {c.source}: does not compile: {type(exc).__name__}: {exc}") from None
        if c.engine == "reference":
            continue
        try:
            FastPlan(cc)
        except Unsupported as exc:
            raise ConfigError(f"{CONTEXT_KEY}.contracts: {c.source}: the fast path cannot run it ({exc}); fix it, "
                              "or declare it reference-only with 'engine: reference'") from None
        except Exception as exc:  # noqa: BLE001 - a fast-path compiler bug must fail synth, not Lambda
            raise ConfigError(f"{CONTEXT_KEY}.contracts: {c.source}: the fast path does not compile it: "
                              f"{type(exc).__name__}: {exc}") from None
    ContractSet(contracts, token=redaction_token)  # and the set of them (selection, defaults)
    _trial_production(contracts)


def _trial_production(contracts) -> None:
    """The producer generates its events from the contracts: generate a few of each producible
    one here and validate them against it, so hints at odds with the field's own validations
    (a template its pattern refuses, a range beyond its maximum) fail synth, not the producer."""
    from producer.conformance import Conformance, NonConformingEvent, offending_field
    from producer.events import EventFactory

    conformance = Conformance(contracts) if any(c.producible for c in contracts) else None
    for c in contracts:
        if not c.producible:
            continue
        factory = EventFactory(seed=0, subjects=8, contracts=[c])
        for _ in range(25):
            event = factory.next_event()
            try:
                conformance.check(event)
            except NonConformingEvent as exc:
                where = offending_field(c, event)
                hint = f"fields.{where}.generate" if where else "the generate: hints"
                raise ConfigError(f"{CONTEXT_KEY}.contracts: {c.source}: the producer's events for it do not "
                                  f"conform to it ({exc.reason}): check {hint}") from None


def read_contracts(raw: Any, path: str) -> ContractsConfig:
    r = _Reader(raw, path)
    d = ContractsConfig()
    folder = r.string("dir", d.dir, re.compile(r"^[A-Za-z0-9_./-]+$"), "is not a folder name")
    type_field = r.string("type_field", d.type_field, _FIELD_RE, "is not a valid field name")
    version_field = r.string("version_field", d.version_field, _FIELD_RE, "is not a valid field name")
    default = r.get("default_contract", d.default_contract)
    dv = r.get("default_versions", {})
    token = r.string("redaction_token", d.redaction_token)
    r.done()
    if not isinstance(dv, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in dv.items()):
        raise ConfigError(f"{path}.default_versions must map event types to versions, got {dv!r}")
    if len(token) > 256:
        raise ConfigError(f"{path}.redaction_token is longer than 256 characters")
    cfg = ContractsConfig(
        dir=folder, type_field=type_field, version_field=version_field, default_contract=default,
        default_versions=tuple(sorted(dv.items())), redaction_token=token,
    )
    contracts = load_contracts(cfg)
    refs = {c.ref for c in contracts}
    if default is not None and default not in refs:
        raise ConfigError(f"{path}.default_contract names no contract in {folder}/: {default!r}")
    for t, v in dv.items():
        if f"{t}/{v}" not in refs:
            raise ConfigError(f"{path}.default_versions: {t}/{v} is not a contract in {folder}/")
    for c in contracts:
        for f in c.fields:
            if f.path in (type_field, version_field) and f.pii is not None:
                raise ConfigError(f"{c.source}: fields.{f.path}: the field that selects the contract cannot be transformed")
    return ContractsConfig(**{**cfg.__dict__, "refs": tuple(sorted(refs))})
