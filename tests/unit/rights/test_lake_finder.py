"""Offline, the export's search is DuckDB over the twin's copy of the lake: it returns what the scan
returns, reading only the subject's objects and those the copy lacks; copies the lake no longer
holds are ignored; a copy DuckDB cannot read fails the export with the kind of error only."""

from __future__ import annotations

import gzip

import pytest

from privacy.subjects import Root
from rights.core import Rights
from rights.finder import FinderError
from rights.ports import MemoryLake, memory_root
from rights.records import to_line
from tests.unit.rights.fake_athena import write_lake
from tests.unit.rights.lakes import at, data_key, lake_object
from tests.unit.rights.test_core import World, events
from tools.lake_finder import LocalFinder, contract_paths, search_sql

BUCKET = "lake"
PREFIX = "data/"


def _world():
    return World(sorted(events(80, subjects=8), key=lambda e: e["subject_id"]), objects=8)


def _rights(world: World, copy_root, lake: MemoryLake) -> Rights:
    return Rights(world.store, memory_root(world.store), lake, world.receipts, world.contracts, lake_prefix=PREFIX,
                  finder=LocalFinder(lake, copy_root, PREFIX, world.contracts), now=lambda: world.now)


def _lines(export) -> list[bytes]:
    return [to_line(o) for o in export.records]


def test_the_local_search_returns_the_scans_records_reading_fewer_objects(tmp_path):
    w = _world()
    copy = write_lake(tmp_path, BUCKET, w.lake.objects)
    lake = MemoryLake(w.lake.objects)
    rights = _rights(w, copy, lake)
    fewer = 0
    for subject in sorted({e["subject_id"] for e in w.events}):
        before = lake.reads
        got = rights.export(subject)
        assert _lines(got) == _lines(w.rights.export(subject))
        read = lake.reads - before
        assert read == got.scan.objects_total == got.scan.search["objects_found"]
        assert got.scan.search["objects_in_range"] == got.scan.search["objects_in_copy"] == len(w.lake.objects)
        assert got.scan.search["objects_not_in_copy"] == 0
        fewer += read < len(w.lake.objects)
    assert fewer == 8
    day = at(16).date()
    subject = w.events[-1]["subject_id"]
    assert _lines(rights.export(subject, day, day)) == _lines(w.rights.export(subject, day, day))


def test_objects_the_copy_lacks_are_read_and_copies_the_lake_lacks_are_not(tmp_path):
    w = _world()
    copy = write_lake(tmp_path, BUCKET, w.lake.objects)
    missing = sorted(w.lake.objects)[0]
    (copy / missing).unlink()
    subject = w.events[-1]["subject_id"]  # whose records are not in the first object
    link = w.store.items[Root(w.store.roots[1]).lookup_id(subject)].link
    stray = data_key(at(20), 99)  # a copy of an object the lake does not hold, with a record of the subject
    (copy / stray).parent.mkdir(parents=True)
    (copy / stray).write_bytes(lake_object([{"subject_id": link}]))
    lake = MemoryLake(w.lake.objects)
    found = LocalFinder(lake, copy, PREFIX, w.contracts).find(link, None, None)
    assert missing in found.keys and stray not in found.keys
    assert found.report["objects_not_in_copy"] == 1 and found.report["objects_in_copy"] == len(w.lake.objects) - 1
    assert len(found.keys) == found.report["objects_found"] + 1 < len(w.lake.objects)
    got = _rights(w, copy, lake).export(subject)
    assert _lines(got) == _lines(w.rights.export(subject))


def test_a_copy_duckdb_cannot_read_fails_the_export_without_its_content(tmp_path):
    w = _world()
    copy = write_lake(tmp_path, BUCKET, w.lake.objects)
    broken = sorted(w.lake.objects)[1]
    (copy / broken).write_bytes(gzip.compress(b'{"subject_id": "subject-4711@example.com", oops\n'))
    rights = _rights(w, copy, MemoryLake(w.lake.objects))
    with pytest.raises(FinderError) as e:
        rights.export(w.events[0]["subject_id"])
    msg = str(e.value)
    assert str(copy) in msg and "--finder scan" in msg and "4711" not in msg and "oops" not in msg


def test_subject_columns_are_read_as_json_whatever_their_type(tmp_path):
    records = [{"subject_id": 17}, {"subject_id": {"a": "k:x"}}, {"subject_id": ["k:x"]}, {"subject_id": "k:x"},
               {"customer": {"id": "k:x"}}, {"other": "k:x"}]
    for i, r in enumerate(records):
        p = tmp_path / f"{i}.gz"
        p.write_bytes(lake_object([r]))
    import duckdb

    from rights.finder import SubjectPath

    files = [str(tmp_path / f"{i}.gz") for i in range(len(records))]
    sql = search_sql(files, [SubjectPath(("subject_id",)), SubjectPath(("customer", "id"))])
    rows = duckdb.connect().execute(sql, ["k:x", "k:x"]).fetchall()
    assert sorted(r[0] for r in rows) == [files[3], files[4]]


def test_contract_paths_are_each_subject_field_once(tmp_path):
    w = World([])
    assert [p.names for p in contract_paths(w.contracts)] == [("subject_id",), ("name",)]
