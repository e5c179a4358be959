"""How the export's search is configured: ``query.export_finder`` (athena or scan, checked at
synth), the function's environment (a bad or missing variable named), and the subject columns
computed from the contracts and the table's types (struct fields dereferenced, JSON text read with
a JSON path, a column that cannot hold a string left out)."""

from __future__ import annotations

import json

import pytest

from rights.athena import AthenaFinder
from rights.finder import SubjectPath, athena_expr, dump_paths, load_paths
from rights.settings import ConfigurationError, Settings
from stacks.catalog_columns import subject_path, subject_paths
from stacks.config import ConfigError, load_config
from tests.unit.rights.test_core import World

PREFIX = "data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"


def _settings(env: dict, w: World) -> Settings:
    return Settings(env, store=w.store, root=w.rights.root_reader, lake=w.lake, receipts=w.receipts, contracts=w.contracts)


ATHENA_ENV = {"EXPORT_FINDER": "athena", "ATHENA_WORKGROUP": "wg", "GLUE_DATABASE": "db", "GLUE_TABLE": "events",
              "LAKE_BUCKET": "lake", "LAKE_PREFIX": PREFIX,
              "EXPORT_SUBJECT_PATHS": dump_paths([SubjectPath(("subject_id",))]), "EXPORT_QUERY_TIMEOUT_S": "120"}


def test_the_function_searches_with_athena_when_told_and_scans_otherwise(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    w = World([])
    assert _settings({}, w).finder is None and _settings({"EXPORT_FINDER": "scan"}, w).finder is None
    finder = _settings(ATHENA_ENV, w).finder
    assert isinstance(finder, AthenaFinder)
    assert (finder.workgroup, finder.database, finder.table, finder.bucket) == ("wg", "db", "events", "lake")
    assert finder.paths == [SubjectPath(("subject_id",))] and finder.timeout_s == 120 and finder.root == "data/"
    s = _settings(ATHENA_ENV, w)
    assert s.rights().finder is s.finder  # the Rights it builds search with it


@pytest.mark.parametrize("change, message", [
    ({"EXPORT_FINDER": "duckdb"}, "EXPORT_FINDER must be one of athena, scan, got 'duckdb'"),
    ({"ATHENA_WORKGROUP": ""}, "missing configuration: ATHENA_WORKGROUP"),
    ({"EXPORT_SUBJECT_PATHS": "[1]"}, "EXPORT_SUBJECT_PATHS must be the subject columns"),
    ({"EXPORT_SUBJECT_PATHS": json.dumps([{"names": ["a b"], "json_from": None}])}, "EXPORT_SUBJECT_PATHS must be"),
    ({"EXPORT_QUERY_TIMEOUT_S": "0"}, "EXPORT_QUERY_TIMEOUT_S must be a whole number from 1 to 900"),
])
def test_a_bad_search_configuration_is_refused_naming_the_variable(monkeypatch, change, message):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(ConfigurationError, match=message):
        _settings({**ATHENA_ENV, **change}, World([]))


def test_the_configuration_chooses_the_finder_and_bounds_the_wait():
    base = json.load(open("cdk.json"))["context"]["pipeline"]
    cfg = load_config(base)
    assert (cfg.query.export_finder, cfg.query.export_query_timeout_seconds) == ("athena", 300)
    cfg = load_config({**base, "query": {**base["query"], "export_finder": "scan", "export_query_timeout_seconds": 60}})
    assert (cfg.query.export_finder, cfg.query.export_query_timeout_seconds) == ("scan", 60)
    with pytest.raises(ConfigError, match=r"pipeline.query.export_finder must be one of athena, scan, got 'duckdb'"):
        load_config({**base, "query": {"export_finder": "duckdb"}})
    with pytest.raises(ConfigError, match=r"pipeline.query.export_query_timeout_seconds must be between 10 and 840"):
        load_config({**base, "query": {"export_query_timeout_seconds": 900}})


def test_subject_paths_follow_the_tables_types():
    cols = {"subject_id": "VARCHAR", "meta": "JSON", "customer": ("STRUCT", (("ID", "VARCHAR"), ("n", "BIGINT"))),
            "count": "BIGINT", "when": "TIMESTAMPTZ", "tags": ("LIST", "VARCHAR")}
    assert subject_path(["subject_id"], cols) == SubjectPath(("subject_id",))
    assert subject_path(["Subject_ID"], cols) == SubjectPath(("Subject_ID",))  # matched as Glue and the SerDe do
    assert subject_path(["customer", "id"], cols) == SubjectPath(("customer", "id"))
    assert subject_path(["meta", "who", "id"], cols) == SubjectPath(("meta", "who", "id"), json_from=1)
    assert subject_path(["meta"], cols) == SubjectPath(("meta",))  # a string column holds the string as it is
    for cannot in (["count"], ["customer", "n"], ["customer", "missing"], ["tags"], ["count", "x"], ["absent"]):
        assert subject_path(cannot, cols) is None, cannot
    assert athena_expr(SubjectPath(("customer", "ID"))) == '"customer"."id"'
    assert athena_expr(SubjectPath(("Meta", "Who", "Id"), json_from=1)) == "json_extract_scalar(\"meta\", '$.Who.Id')"


def test_subject_paths_of_contracts_are_each_once_and_round_trip_through_the_environment():
    w = World([])
    paths = subject_paths(w.contracts, PREFIX)
    assert paths == [SubjectPath(("subject_id",)), SubjectPath(("name",))]
    assert load_paths(dump_paths(paths)) == paths
    assert subject_paths([w.contracts[0], w.contracts[0]], PREFIX) == [SubjectPath(("subject_id",))]
    with pytest.raises(ValueError, match="json_from must index a name below the column"):
        SubjectPath(("x",), json_from=0)
    with pytest.raises(ValueError, match="plain names"):
        SubjectPath(('a"; drop',))
