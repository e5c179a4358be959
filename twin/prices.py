"""The price table of the cost estimate (``twin/prices_us-east-1.yaml``), loaded typed.

Every price the estimate needs must be there, with a number of dollars, the billing unit the
estimate counts in (``per``: a price entered per another unit, per 10,000 requests instead of per
million, say, is refused rather than silently off by a factor), and an https source. A file that
is not so fails with ``PriceError``, whose message names the file and the key.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PRICES = Path(__file__).resolve().parent / "prices_us-east-1.yaml"

# price key -> (its billing unit as the file must spell it, how many units that is)
UNITS: dict[str, tuple[str, int]] = {
    "kinesis_on_demand_stream_hour": ("stream-hour", 1),
    "kinesis_on_demand_data_in": ("GB", 1),
    "kinesis_on_demand_data_out": ("GB", 1),
    "kinesis_provisioned_shard_hour": ("shard-hour", 1),
    "kinesis_provisioned_put_payload_units": ("1M PUT payload units", 1_000_000),
    "firehose_ingestion": ("GB", 1),
    "lambda_requests": ("1M requests", 1_000_000),
    "lambda_duration_x86_64": ("GB-second", 1),
    "lambda_duration_arm64": ("GB-second", 1),
    "dynamodb_read_request_units": ("1M read request units", 1_000_000),
    "dynamodb_write_request_units": ("1M write request units", 1_000_000),
    "dynamodb_storage": ("GB-month", 1),
    "dynamodb_pitr": ("GB-month", 1),
    "kms_requests": ("10K requests", 10_000),
    "s3_put_requests": ("1K requests", 1_000),
    "s3_standard_storage": ("GB-month", 1),
}
_TOP = ("region", "as_of", "currency", "prices")
_FIELDS = ("usd", "per", "source")


class PriceError(ValueError):
    """The price table cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Price:
    usd: float  # dollars per ``per``
    per: str
    source: str

    def of(self, quantity: float, key: str) -> float:
        """The dollars of ``quantity`` single units (requests, GB, hours) at this price."""
        return quantity / UNITS[key][1] * self.usd


@dataclass(frozen=True)
class PriceTable:
    region: str
    as_of: datetime.date
    currency: str
    prices: dict[str, Price]
    path: str = ""

    def dollars(self, key: str, quantity: float) -> float:
        """The dollars of ``quantity`` single units of what ``key`` prices."""
        return self.prices[key].of(quantity, key)


def load_prices(path: str | Path = DEFAULT_PRICES) -> PriceTable:
    """The table in ``path``, checked; raises PriceError naming the file and the key."""
    name = Path(path).name
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceError(f"{name}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PriceError(f"{name}: not valid YAML" + (f" (line {mark.line + 1})" if mark else "")) from None
    return parse_prices(doc, name)


def parse_prices(doc: Any, name: str = "prices") -> PriceTable:
    """A price table from its parsed YAML document."""
    if not isinstance(doc, dict):
        raise PriceError(f"{name}: must be a mapping of {', '.join(_TOP)}")
    _exact(doc, _TOP, name, "")
    region, currency, as_of, raw = doc["region"], doc["currency"], doc["as_of"], doc["prices"]
    if not isinstance(region, str) or not region:
        raise PriceError(f"{name}: region must be a region name, such as us-east-1")
    if currency != "USD":
        raise PriceError(f"{name}: currency must be USD (the estimate prints dollars)")
    if not isinstance(as_of, datetime.date) or isinstance(as_of, datetime.datetime):
        raise PriceError(f"{name}: as_of must be a date (YYYY-MM-DD): when the prices were read")
    if not isinstance(raw, dict):
        raise PriceError(f"{name}: prices must be a mapping of price keys")
    _exact(raw, tuple(UNITS), name, "prices.")
    prices = {}
    for key, (unit, _) in UNITS.items():
        entry, at = raw[key], f"prices.{key}"
        if not isinstance(entry, dict):
            raise PriceError(f"{name}: {at} must be a mapping of {', '.join(_FIELDS)}")
        _exact(entry, _FIELDS, name, at + ".")
        usd = entry["usd"]
        if isinstance(usd, bool) or not isinstance(usd, (int, float)) or not math.isfinite(usd) or usd < 0:
            raise PriceError(f"{name}: {at}.usd must be a number of dollars, 0 or more")
        if entry["per"] != unit:
            raise PriceError(f"{name}: {at}.per must be {unit!r}: the estimate counts {key} in that unit")
        source = entry["source"]
        if not isinstance(source, str) or not source.startswith("https://"):
            raise PriceError(f"{name}: {at}.source must be the https address of the AWS page the price comes from")
        prices[key] = Price(float(usd), unit, source)
    return PriceTable(region, as_of, currency, prices, name)


def _exact(mapping: dict, keys: tuple[str, ...], name: str, at: str) -> None:
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise PriceError(f"{name}: {at}{missing[0]} is missing" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    unknown = sorted(str(k) for k in mapping if k not in keys)
    if unknown:
        raise PriceError(f"{name}: {at}{unknown[0]} is not a key the estimate knows (known: {', '.join(keys)})")
