"""The price table: one file, with its region and date, a source for each price, loaded typed; a
malformed one is refused with a message that names the file and the key."""

from __future__ import annotations

import copy
import datetime

import pytest
import yaml

from twin.prices import DEFAULT_PRICES, UNITS, PriceError, load_prices, parse_prices


@pytest.fixture
def doc() -> dict:
    return yaml.safe_load(DEFAULT_PRICES.read_text(encoding="utf-8"))


def test_the_table_holds_every_price_with_its_unit_and_an_aws_source():
    table = load_prices()
    assert (table.region, table.currency, table.path) == ("us-east-1", "USD", "prices_us-east-1.yaml")
    assert isinstance(table.as_of, datetime.date)
    assert set(table.prices) == set(UNITS)
    for key, price in table.prices.items():
        assert price.per == UNITS[key][0] and price.usd > 0
        assert price.source.startswith("https://aws.amazon.com/"), key


def test_dollars_are_per_the_unit_the_price_is_quoted_in():
    table = load_prices()
    assert table.dollars("kms_requests", 10_000) == pytest.approx(table.prices["kms_requests"].usd)
    assert table.dollars("lambda_requests", 1_000_000) == pytest.approx(table.prices["lambda_requests"].usd)
    assert table.dollars("s3_put_requests", 1_000) == pytest.approx(table.prices["s3_put_requests"].usd)
    assert table.dollars("firehose_ingestion", 2.0) == pytest.approx(2 * table.prices["firehose_ingestion"].usd)


def _edit(doc, path, value):
    d = copy.deepcopy(doc)
    node = d
    for part in path[:-1]:
        node = node[part]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return d


@pytest.mark.parametrize("path, value, message", [
    (("prices", "kms_requests", "per"), "1M requests", "prices.kms_requests.per must be '10K requests'"),
    (("prices", "lambda_requests", "per"), "request", "prices.lambda_requests.per must be '1M requests'"),
    (("prices", "firehose_ingestion", "usd"), -0.029, "prices.firehose_ingestion.usd must be a number"),
    (("prices", "firehose_ingestion", "usd"), "0.029", "prices.firehose_ingestion.usd must be a number"),
    (("prices", "firehose_ingestion", "usd"), True, "prices.firehose_ingestion.usd must be a number"),
    (("prices", "firehose_ingestion", "usd"), float("nan"), "prices.firehose_ingestion.usd must be a number"),
    (("prices", "s3_put_requests", "source"), "http://example.com", "prices.s3_put_requests.source must be the https"),
    (("prices", "s3_put_requests", "source"), KeyError, "prices.s3_put_requests.source is missing"),
    (("prices", "dynamodb_storage"), KeyError, "prices.dynamodb_storage is missing"),
    (("prices", "dynamodb_storage"), 0.25, "prices.dynamodb_storage must be a mapping"),
    (("prices", "glue_crawler"), {"usd": 1, "per": "h", "source": "https://x"}, "prices.glue_crawler is not a key"),
    (("prices", "kms_requests", "note"), "x", "prices.kms_requests.note is not a key"),
    (("as_of",), "last week", "as_of must be a date"),
    (("as_of",), KeyError, "as_of is missing"),
    (("region",), "", "region must be a region name"),
    (("currency",), "EUR", "currency must be USD"),
    (("prices",), [], "prices must be a mapping"),
])
def test_a_malformed_table_is_refused_naming_the_key(doc, path, value, message):
    with pytest.raises(PriceError) as raised:
        parse_prices(_edit(doc, path, value), "p.yaml")
    assert str(raised.value).startswith("p.yaml: ") and message in str(raised.value)


def test_a_file_that_is_not_yaml_or_not_there_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("region: us-east-1\nprices: [\n")
    with pytest.raises(PriceError, match=r"^bad.yaml: not valid YAML \(line \d+\)"):
        load_prices(bad)
    with pytest.raises(PriceError, match=r"^none.yaml: cannot be read"):
        load_prices(tmp_path / "none.yaml")
    bad.write_text("- 1\n")
    with pytest.raises(PriceError, match="must be a mapping of region, as_of, currency, prices"):
        load_prices(bad)
