"""``make query``: the lake's views, their columns from the contracts, over a small lake on disk."""

import gzip
import shutil
from collections import Counter
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.contract import parse_contract
from privacy.files import load_contract_dir
from producer.events import EventFactory, encode
from stacks.config import load_from_cdk_json
from tools import contracts as contracts_cmd
from tools.lake_schema import (
    JSON,
    VARCHAR,
    Partitions,
    contract_columns,
    lake_columns,
    merge,
    render,
    views_sql,
)
from tools.query import connect, main, run

ROOT = Path(__file__).resolve().parents[2]
KEYRING = '{"current": "v1", "v1": "local-key-0123456789abcdef0123456789abcdef"}'
CONFIG = load_from_cdk_json(ROOT / "cdk.json")
D = CONFIG.delivery
PARTS = Partitions.of_prefix(D.data_prefix)


def _contract(fields: str, consent: str = "data_share_consent: {type: any}"):
    import yaml

    doc = yaml.safe_load(f"""
contract: t
version: 1
subject: subject_id
consent: {{model: flag, field: data_share_consent}}
purposes: [analytics]
fields:
  subject_id: {{type: string, required: true, pii: {{purposes: [analytics], action: pseudonymise, always: pseudonymise}}}}
  {consent}
{fields}""")
    return parse_contract(doc, "contracts/t/1.yaml")


# ---------------------------------------------------------------------------------------------
# Columns from the contracts
# ---------------------------------------------------------------------------------------------


def test_a_field_added_to_a_contract_becomes_a_column(tmp_path):
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    before = lake_columns(load_contract_dir(tmp_path / "contracts"), PARTS)
    doc = tmp_path / "contracts" / "customer_signed_up" / "1.yaml"
    doc.write_text(doc.read_text() + "  loyalty_points: {type: integer, minimum: 0, maximum: 100}\n"
                   "  referrer: {type: object}\n  referrer.code: {type: string, enum: [a, b]}\n")
    after = lake_columns(load_contract_dir(tmp_path / "contracts"), PARTS)
    assert "loyalty_points" not in before
    assert after["loyalty_points"] == "BIGINT" and render(after["referrer"]) == 'STRUCT("code" VARCHAR)'
    sql = views_sql(load_contract_dir(tmp_path / "contracts"), ["x.gz"], [], D.data_prefix, D.quarantine_prefix)
    assert "'loyalty_points': 'BIGINT'" in sql[0]
    view = next(s for s in sql if s.startswith('CREATE OR REPLACE VIEW "customer_signed_up"'))
    assert '"loyalty_points"' in view and '"loyalty_points"' not in next(s for s in sql if '"order_placed"' in s)


def test_the_declared_types_are_those_of_what_the_scrubber_writes():
    c = _contract("""
  age: {type: integer}
  sealed_age: {type: integer, pii: {purposes: [analytics], action: redact, always: encrypt}}
  banded: {type: integer, pii: {purposes: [analytics], action: generalise, generalise: age_band}}
  dropped: {type: number, pii: {purposes: [analytics], action: drop}}
  born: {type: date, pii: {purposes: [analytics], action: generalise, generalise: year}}
  seen: {type: datetime}
  prefs: {type: object, pii: {purposes: [analytics], action: redact}}
  prefs.tone: {type: string}
  items: {type: array}
  items[*].n: {type: integer}
  blob: {type: array}
""", consent="data_share_consent: {type: boolean}")
    cols = {n: render(t) for n, t in contract_columns(c).items()}
    assert cols == {
        "subject_id": VARCHAR, "data_share_consent": VARCHAR,  # a malformed consent is redacted (a string)
        "age": "BIGINT", "sealed_age": VARCHAR, "banded": VARCHAR, "dropped": "DOUBLE", "born": VARCHAR,
        "seen": "TIMESTAMPTZ", "prefs": JSON, "items": 'STRUCT("n" BIGINT)[]', "blob": JSON,
    }


_SCALARS = st.sampled_from(["VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMPTZ", "JSON"])
_TYPES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.builds(lambda t: ("LIST", t), inner),
    st.builds(lambda d: ("STRUCT", tuple(d.items())), st.dictionaries(st.sampled_from("abc"), inner, min_size=1)),
), max_leaves=6)


def _canon(t):
    if isinstance(t, str):
        return t
    return (t[0], _canon(t[1])) if t[0] == "LIST" else (t[0], frozenset((n, _canon(s)) for n, s in t[1]))


@given(_TYPES, _TYPES)
def test_the_union_of_two_types_holds_both_and_does_not_depend_on_their_order(a, b):
    m = merge(a, b)
    assert _canon(m) == _canon(merge(b, a)) and merge(a, a) == a
    assert _canon(merge(m, a)) == _canon(m)  # a column already wide enough stays as it is
    if isinstance(a, tuple) != isinstance(b, tuple) or (isinstance(a, tuple) and a[0] != b[0]):
        assert m == JSON


def test_the_repository_contracts_columns_across_types():
    from stacks.config import load_contracts

    cols = lake_columns(load_contracts(CONFIG.contracts), PARTS)
    assert cols["email"] == VARCHAR and cols["event_time"] == "TIMESTAMPTZ"
    assert cols["dob"] == JSON  # a year or a token in four contracts, anything (type: any) in legacy_consent
    form = dict(cols["form"][1])  # health and tax forms merge field by field
    assert {"blood_type", "tax_year", "gross_income"} <= form.keys() and form["tax_year"] == "BIGINT"


def test_a_field_named_like_a_partition_is_refused():
    from tools.lake_schema import SchemaError

    with pytest.raises(SchemaError, match=r"contracts/t/1.yaml: fields.year: has the name of a partition column"):
        lake_columns([_contract("  year: {type: integer}\n")], PARTS)


# ---------------------------------------------------------------------------------------------
# A small lake on disk
# ---------------------------------------------------------------------------------------------


def _scrubbed(tmp_path, n: int, seed: int) -> tuple[list[bytes], list[dict]]:
    """``n`` producer events through the batch scrubber: lines as the scrubber writes them."""
    f = EventFactory(seed=seed, consent_ratio=0.5, subjects=50)
    src = tmp_path / f"events{seed}.jsonl"
    # and events of the default contract (no event_type), half of them with consent: never redacted
    legacy = [orjson.dumps({"name": f"n{i}", "gender": "F", "data_share_consent": i % 2 == 0}) for i in range(10)]
    src.write_bytes(b"".join(encode(f.next_event()) + b"\n" for _ in range(n)) + b"".join(x + b"\n" for x in legacy))
    keys = tmp_path / "keys.json"
    keys.write_text(KEYRING)
    assert contracts_cmd.main(["scrub", str(src), "--keyring", str(keys), "--quiet", "--redact-encrypted"]) == 0
    lines = (tmp_path / f"events{seed}.scrubbed.jsonl").read_bytes().splitlines()
    return lines, [orjson.loads(x) for x in lines]


def _write(out: Path, key: str, lines: list[bytes]) -> None:
    p = out / "bucket" / key
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(gzip.compress(b"".join(x + b"\n" for x in lines)))


@pytest.fixture
def lake(tmp_path):
    lines_a, events_a = _scrubbed(tmp_path, 120, seed=3)
    lines_b, events_b = _scrubbed(tmp_path, 80, seed=4)
    out = tmp_path / "out"
    _write(out, "data/year=2026/month=01/day=02/hour=03/a.gz", lines_a)
    _write(out, "data/year=2026/month=01/day=02/hour=04/b.gz", lines_b)
    _write(out, "quarantine/processing-failed/year=2026/month=01/day=02/q.gz",
           [orjson.dumps({"attemptsMade": 1, "errorCode": "Lambda.ProcessingFailedStatus", "rawData": "c2VjcmV0"})] * 3)
    return out, lines_a + lines_b, events_a + events_b


def _connect(out: Path):
    from stacks.config import load_contracts

    return connect(out, load_contracts(CONFIG.contracts), D.data_prefix, D.quarantine_prefix, D.data_root, D.quarantine_root)


def test_counts_per_event_type_and_partition(lake):
    out, _, events = lake
    con = _connect(out)
    _, rows = run(con, "select event_type, count(*) from events group by 1")
    assert dict(rows) == Counter(e.get("event_type") for e in events)
    _, rows = run(con, "select hour, count(*) from events group by 1 order by 1")
    assert rows == [(3, 130), (4, 90)]
    types = Counter(e["_privacy"]["contract"].split("/")[0] for e in events)
    assert types["legacy_consent"] == 20 and rows and dict(run(con, "select event_type, count(*) from events group by 1")[1])[None] == 20
    for t, n in types.items():
        assert run(con, f"select count(*) from {t}")[1] == [(n,)]


def test_the_twin_summary_counts_are_a_query(lake):
    """delivered and redacted as the twin counts them (twin.counts, what its summary prints)."""
    from stacks.config import load_contracts
    from twin.counts import count_delivered
    from twin.pipeline import _contract_set

    out, lines, _ = lake
    counts = count_delivered([b"\n".join(lines)], _contract_set(CONFIG, load_contracts(CONFIG.contracts)))
    _, rows = run(_connect(out), "select count(*), count(*) filter (where data_redacted) from events")
    assert rows == [(counts.delivered, counts.redacted)] and counts.redacted not in (0, counts.delivered)
    assert run(_connect(out), "select count(*) from quarantine")[1] == [(3,)]


def test_values_arrive_typed(lake):
    out, _, events = lake
    con = _connect(out)
    cols, rows = run(con, 'select typeof(event_time), typeof(address), typeof("order"), typeof(dob) from order_placed limit 1')
    assert rows == [("TIMESTAMP WITH TIME ZONE", rows[0][1], rows[0][2], "VARCHAR")]
    assert rows[0][1].startswith("STRUCT(") and rows[0][2].startswith("STRUCT(") and "[]" in rows[0][2]
    _, rows = run(con, "select sum(len(\"order\".items)) from order_placed")
    assert rows == [(sum(len(e["order"]["items"]) for e in events if e.get("event_type") == "order_placed"),)]


def test_the_quarantine_view_never_reads_the_raw_data(lake):
    cols, _ = run(_connect(lake[0]), "select * from quarantine")
    assert "rawData" not in cols and "errorCode" in cols


@pytest.mark.parametrize("sql", [
    "select * from read_text('{secret}')",
    "select count(*) from glob('{folder}/*')",
    "copy (select 1) to '{folder}/written.csv'",
    "copy (select * from events) to '{out}/bucket/data/copied.csv'",
    "attach '{folder}/other.duckdb' as other",
    "set enable_external_access = true",
    "set allowed_paths = ['{secret}']",
    "install httpfs",
])
def test_a_query_reads_the_lake_copy_and_nothing_else(lake, tmp_path, capsys, sql):
    """A hostile user read /etc/passwd, wrote files and attached databases through make query."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    secret = folder / "secret.txt"
    secret.write_text("not for the query\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["--out", str(lake[0]), sql.format(secret=secret, folder=folder, out=lake[0])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: refused:") and "not for the query" not in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert run(_connect(lake[0]), "select count(*) from events")[1] == [(len(lake[2]),)]


def test_an_empty_lake_has_the_views_and_no_rows(tmp_path):
    (tmp_path / "out").mkdir()
    con = _connect(tmp_path / "out")
    assert run(con, "select count(*) from events")[1] == [(0,)]
    assert run(con, "select count(*) from customer_signed_up")[1] == [(0,)]


# ---------------------------------------------------------------------------------------------
# Errors: one line, exit 2, never a value
# ---------------------------------------------------------------------------------------------


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "nope"), "select 1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope: no such folder" in err and "Traceback" not in err


def test_bad_sql_is_one_line(lake, capsys):
    assert main(["--out", str(lake[0]), "selec 1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Parser Error: syntax error")


def test_a_value_that_does_not_convert_is_not_printed(tmp_path, capsys):
    out = tmp_path / "out"
    line = orjson.dumps({"event_type": "order_placed", "event_time": "2026-02-31T00:00:00Z", "note": "x",
                         "_privacy": {"contract": "order_placed/2", "applied": {}}})
    _write(out, "data/year=2026/month=02/day=01/hour=00/a.gz", [line])
    assert main(["--out", str(out), "select max(event_time) from events"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Exception while running the query" in err and "2026-02-31" not in err


def test_the_output_is_a_table(lake, capsys):
    assert main(["--out", str(lake[0]), "select event_type, count(*) as n from events group by 1 order by 1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["event_type", "n"] and out[-1] == "(5 rows)" and out[-2].split() == ["NULL", "20"]
