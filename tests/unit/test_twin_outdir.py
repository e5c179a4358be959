"""The twin's output folder (a copy of the local lake): emptied of an earlier twin command's output, never of anything else."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from twin.outdir import MARKER, OutDirError, prepare


def _earlier_run(folder, legacy: bool = False):
    """A folder as an earlier run leaves it (``legacy``: a summary.json of before the marker)."""
    key = folder / "pii-scrub-lake-1-us-east-1" / "data" / "year=2026" / "a.gz"
    key.parent.mkdir(parents=True)
    key.write_bytes(b"\x1f\x8b")
    doc = {"produced": 1, "delivered": 1, "quarantined": 0, "counts_add_up": True, "data_keys": [], "quarantine_keys": []}
    (folder / MARKER).write_text(json.dumps(doc if legacy else {"written_by": "python -m twin", **doc}))
    return key


def _marker(folder) -> dict:
    return json.loads((folder / MARKER).read_text())


def test_a_new_folder_is_created_with_the_marker(tmp_path):
    out = prepare(tmp_path / "a" / "b")
    assert out.path == tmp_path / "a" / "b" and not out.replaced_earlier_run
    assert _marker(out.path) == {"written_by": "python -m twin", "complete": False}  # recognised if the run fails
    assert prepare(out.path).replaced_earlier_run  # and the next run replaces it


def test_an_empty_folder_is_used(tmp_path):
    assert not prepare(tmp_path).replaced_earlier_run and (tmp_path / MARKER).exists()


@pytest.mark.parametrize("legacy", [False, True])
def test_an_earlier_runs_output_is_removed(tmp_path, legacy):
    key = _earlier_run(tmp_path, legacy)
    out = prepare(tmp_path)
    assert out.replaced_earlier_run and not key.exists() and not key.parent.parent.parent.exists()
    assert os.listdir(tmp_path) == [MARKER]


@pytest.mark.parametrize("stray", ["notes.txt", "pii-scrub-lake-1-us-east-1/data/x.csv", "top.gz"])
def test_a_file_a_run_does_not_write_is_never_deleted(tmp_path, stray):
    key = _earlier_run(tmp_path)
    (tmp_path / stray).write_text("mine")
    with pytest.raises(OutDirError) as exc:
        prepare(tmp_path)
    assert str(exc.value).startswith(f"--out {tmp_path}: holds {stray}, which a twin run does not write")
    assert (tmp_path / stray).read_text() == "mine" and key.exists()


def test_a_symbolic_link_is_never_followed_or_deleted(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.gz").write_bytes(b"x")
    out = tmp_path / "out"
    out.mkdir()
    _earlier_run(out)
    (out / "link").symlink_to(elsewhere)
    with pytest.raises(OutDirError, match="holds link, which a twin run does not write"):
        prepare(out)
    assert (elsewhere / "keep.gz").exists()


@pytest.mark.parametrize("marker", [None, "not json", "[1]", '{"produced": 1}'])
def test_a_folder_without_a_twin_marker_is_refused_untouched(tmp_path, marker):
    (tmp_path / "mine.gz").write_bytes(b"x")
    if marker is not None:
        (tmp_path / MARKER).write_text(marker)
    with pytest.raises(OutDirError) as exc:
        prepare(tmp_path)
    assert str(exc.value) == (f"--out {tmp_path}: the folder is not empty and has no summary.json from an earlier "
                              "twin run; give a new or empty folder (the twin replaces its own output, and nothing else)")
    assert (tmp_path / "mine.gz").read_bytes() == b"x"
    assert marker is None or (tmp_path / MARKER).read_text() == marker


def test_a_file_or_a_path_through_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutDirError, match=r"exists and is not a folder$"):
        prepare(tmp_path / "f")
    with pytest.raises(OutDirError, match=r"cannot use it as the output folder \(Not a directory\)$"):
        prepare(tmp_path / "f" / "sub")
    assert (tmp_path / "f").read_text() == "x"


def test_what_the_folder_holds_is_said(tmp_path):
    out = prepare(tmp_path)
    out.write_objects("b", {"data/x.gz": b"1\n", "data/y.gz": b"2\n"}, quarantine=False)
    out.write_objects("b", {"quarantine/z.gz": b"3\n"}, quarantine=True)
    out.write_summary({"complete": True})
    assert out.holds() == "a copy of the local lake s3://b/ (data and quarantine): 2 data objects, 1 quarantine object, summary.json"
    assert _marker(tmp_path) == {"written_by": "python -m twin", "complete": True}
    assert sorted(p.name for p in tmp_path.rglob("*.gz")) == ["x.gz", "y.gz", "z.gz"]


def test_the_copy_of_the_lake_is_owner_only(tmp_path):
    """It holds the quarantine's raw records: the folder is 0700 and every file 0600, whatever the
    umask."""
    import os
    import stat

    from twin.outdir import prepare

    old = os.umask(0)
    try:
        out = prepare(tmp_path / "out")
        out.write_objects("b", {"data/x.gz": b"{}\n"}, quarantine=False)
        out.write_objects("b", {"quarantine/y.gz": b"raw\n"}, quarantine=True)
        out.write_summary({"complete": True})
    finally:
        os.umask(old)
    root = tmp_path / "out"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == 3 and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in root.rglob("*") if p.is_dir())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(["data"])
@example(["quarantine", "..", "..", "x.gz"])
@given(st.lists(st.sampled_from(["..", ".", "", "data", "quarantine", "x.gz", "/", "\\\\..", "a\x00b"]), min_size=1, max_size=8))
def test_a_lake_key_never_writes_outside_its_bucket_folder(tmp_path, parts):
    """S3 takes any key; the copy refuses those a file system would resolve elsewhere (a hostile
    user put ``quarantine/../../../../tmp/x`` in the local lake, and the copy wrote /tmp/x)."""
    root = tmp_path / "case"
    root.mkdir(exist_ok=True)
    out = prepare(root / "out")
    key = "/".join(parts)
    try:
        out.write_objects("b", {key: b"raw\n", "data/ok.gz": b"1\n"}, quarantine=False)
    except OutDirError:  # a key that is a folder of the other ("data"): refused, nothing outside
        out.data_objects = 2 - out.unsafe_keys
    finally:
        written = {p for p in tmp_path.rglob("*") if p.is_file()}
        import shutil

        shutil.rmtree(root)
    bucket = (root / "out" / "b").resolve()
    assert all(p.resolve().is_relative_to(bucket) or p.name == MARKER for p in written)
    assert out.data_objects + out.unsafe_keys == 2


def test_an_unsafe_key_is_counted_and_said(tmp_path):
    out = prepare(tmp_path / "out")
    out.write_objects("b", {"quarantine/processing-failed/../../data/evil.gz": b"raw\n", "data/x.gz": b"1\n"}, quarantine=True)
    assert not (tmp_path / "out" / "b" / "data" / "evil.gz").exists() and out.quarantine_objects == 1
    assert "1 object NOT copied" in out.holds()
