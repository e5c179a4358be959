"""The cost estimate's options: the assumed rate checked, and a malformed price table refused,
naming the key, before the local cloud is touched."""

from __future__ import annotations

import pytest
import yaml

import twin.__main__ as twin_main
from twin.prices import DEFAULT_PRICES


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "fast"])
@pytest.mark.parametrize("command", [[], ["push", "f.jsonl"]])
def test_a_rate_that_is_not_a_positive_number_is_refused(command, value, capsys):
    with pytest.raises(SystemExit) as exc:
        twin_main.parse_args([*command, "--rate", value])
    assert exc.value.code == 2 and "error: argument --rate: " in capsys.readouterr().err


def test_push_takes_no_events_option_not_even_as_an_abbreviation(capsys):
    with pytest.raises(SystemExit):
        twin_main.parse_args(["push", "f.jsonl", "--events", "3"])
    assert "unrecognized arguments: --events 3" in capsys.readouterr().err


def test_the_rate_and_the_table_parse():
    a = twin_main.parse_args(["--rate", "2500.5"])
    assert (a.rate, a.prices) == (2500.5, str(DEFAULT_PRICES))
    a = twin_main.parse_args(["push", "--direct", "--prices", "p.yaml", "f.jsonl"])
    assert (a.direct, a.prices, a.rate) == (True, "p.yaml", 100.0)
    assert twin_main.parse_args(["push", "f.jsonl"]).direct is False


def test_a_malformed_price_table_stops_the_command_before_the_local_cloud(tmp_path, capsys):
    doc = yaml.safe_load(DEFAULT_PRICES.read_text(encoding="utf-8"))
    doc["prices"]["kms_requests"]["per"] = "1M requests"  # the price of 10,000, taken per million: 100 times too low
    bad = tmp_path / "prices.yaml"
    bad.write_text(yaml.safe_dump(doc))
    state = tmp_path / "state"
    assert twin_main.main(["--prices", str(bad), "--state-dir", str(state), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err == ("Invalid price table: prices.yaml: prices.kms_requests.per must be '10K requests': "
                   "the estimate counts kms_requests in that unit\n")
    assert not state.exists()  # no server started, no lock taken
