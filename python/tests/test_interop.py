"""The Rust interop tests' assertions (tests/it/java_interop.rs, tests/it/read.rs), through the
Python package: on the committed pypaimon and Java tables, the snapshot ids, the tags, the live
files of every version and the rows read (count and checksum) equal what pypaimon and Java
recorded; `check` is clean; a missing version raises the error class of its kind."""

import json

import pyarrow as pa
import pytest

import tagkeeper as tk
from conftest import JAVA_DB, PYPAIMON_DB, checksum, java_expected, pypaimon_expected, pypaimon_tables

# A representative subset of the Java tables: bucketed and unaware appends, ORC and Avro, primary
# keys with deletion vectors and with partial update, and a table with a branch.
JAVA_TABLES = ["append_fixed", "append_unaware", "append_orc", "append_avro", "pk_dv", "pk_partial_update", "branched"]


def file_key(f):
    return json.dumps(
        {k: f[k] for k in ("path", "partition", "bucket", "level", "file_size", "row_count")}, sort_keys=True
    )


def versions(expected):
    for s in expected["snapshots"]:
        yield {"snapshot": s["id"]}, s
    for t in expected["tags"]:
        yield {"tag": t["name"]}, t


def assert_like_recorded(path, expected):
    t = tk.Table.open(str(path))
    ids = [s["id"] for s in t.snapshots()["snapshots"]]
    assert ids == [s["id"] for s in expected["snapshots"]]
    tags = [(x["name"], x["snapshot_id"]) for x in t.tags()["tags"]]
    assert tags == [(x["name"], x["snapshot_id"]) for x in expected["tags"]]
    compared = 0
    for spec, v in versions(expected):
        report = t.files(**spec)
        assert sorted(map(file_key, report["files"])) == sorted(map(file_key, v["files"])), spec
        assert report["total_rows"] == v["file_row_count"], spec
        assert report["total_bytes"] == sum(f["file_size"] for f in v["files"]), spec
        table = t.read(**spec)
        assert isinstance(table, pa.Table)
        assert checksum(table) == (v["rows"], v["checksum"]), spec
        compared += 1
    return compared


@pytest.mark.parametrize("name", pypaimon_tables())
def test_every_pypaimon_version_reads_as_pypaimon_recorded(name):
    expected = pypaimon_expected(name)
    assert assert_like_recorded(PYPAIMON_DB / name, expected) == len(expected["snapshots"]) + len(expected["tags"])


@pytest.mark.parametrize("name", JAVA_TABLES)
def test_java_versions_read_as_java_recorded(name):
    expected = java_expected(name)
    assert assert_like_recorded(JAVA_DB / name, expected) == len(expected["snapshots"]) + len(expected["tags"])
    t = tk.Table.open(str(JAVA_DB / name))
    assert t.branches() == ["main"] + [b["name"] for b in expected["branches"]]
    report = t.check(deep=True)
    assert report["whole"] and report["problems"] == []


def test_record_batch_reader_streams_the_same_rows():
    t = tk.Table.open(str(PYPAIMON_DB / "append_many"))
    reader = t.read_batches(batch_size=7)
    assert isinstance(reader, pa.RecordBatchReader)
    batches = list(reader)
    assert batches and all(b.num_rows <= 7 for b in batches)
    whole = pa.Table.from_batches(batches, schema=reader.schema)
    assert checksum(whole) == checksum(t.read())
    # The Arrow C stream reaches any consumer of the PyCapsule protocol as well.
    again = pa.RecordBatchReader.from_stream(t.read_batches()) if hasattr(pa.RecordBatchReader, "from_stream") else t.read_batches()
    assert checksum(again.read_all()) == checksum(whole)


def test_read_options_columns_partitions_limit():
    t = tk.Table.open(str(PYPAIMON_DB / "tagged"))
    full = t.read()
    only = t.read(columns=["name", "id"])
    assert only.column_names == ["name", "id"]
    assert only.num_rows == full.num_rows
    part = t.read(partitions={"dt": "2024-01-01"})
    assert 0 < part.num_rows < full.num_rows
    assert set(part.column("dt").to_pylist()) == {__import__("datetime").date(2024, 1, 1)}
    assert t.read(limit=3).num_rows == 3


def test_errors_are_classes_of_their_kind():
    t = tk.Table.open(str(PYPAIMON_DB / "tagged"))
    with pytest.raises(tk.TagNotFoundError) as e:
        t.read(tag="no-such-tag")
    assert e.value.kind == "tag_not_found" and e.value.exit_code == 1
    assert isinstance(e.value, tk.TagkeeperError)
    with pytest.raises(tk.SnapshotNotFoundError):
        t.files(snapshot=999)
    with pytest.raises(tk.InvalidTagNameError):
        t.create_tag("../escape")
    with pytest.raises(tk.NotATableError):
        tk.Table.open(str(PYPAIMON_DB))
    with pytest.raises(tk.InvalidArgumentError):
        t.read(snapshot=1, tag="first")
    assert tk.ERROR_CLASSES["storage"] is tk.StorageError
    assert all(issubclass(c, tk.TagkeeperError) for c in tk.ERROR_CLASSES.values())


def test_a_missing_data_file_raises_data_file_error(copy_table):
    path = copy_table("append_many")
    victim = sorted(path.rglob("*.parquet"))[0]
    victim.unlink()
    t = tk.Table.open(str(path))
    with pytest.raises(tk.DataFileError) as e:
        t.read()
    assert e.value.kind == "data_file" and e.value.exit_code == 2
    assert victim.name in str(e.value)
    problems = t.check()["problems"]
    assert [p["path"] for p in problems] == [victim.relative_to(path).as_posix()]


def test_consumers_are_listed():
    got = tk.Table.open(str(JAVA_DB / "consumers")).consumers()["consumers"]
    assert [(c["id"], c["next_snapshot"]) for c in got] == [("reader-a", 3), ("reader-b", 5)]
