"""The sharded orphan scan on Dask's local cluster: the merged plan equals the single-process
remove-orphan-files plan exactly (the same orphans, unknown files and empty directories), and
deleting once after the merge removes exactly those files. Then the Airflow-style example's task
functions, imported and run as a scheduler would (without Airflow)."""

import importlib.util
import os
import uuid

import pytest

import tagkeeper as tk
from conftest import REPO, age_everything, all_files, checksum

import distributed  # noqa: F401  (pinned in requirements-test.txt: missing, the test must fail, not skip)


def plant(root, key, data=b"x", age_s=3 * 86400):
    p = root / key
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    t = p.stat().st_mtime - age_s
    os.utime(p, (t, t))
    return key


def plant_everywhere(root):
    """Orphans (Paimon names) and unknown files in every bucket and in the metadata dirs."""
    orphans, unknown = set(), set()
    buckets = {p.parent.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.parent.name.startswith("bucket-")}
    for b in sorted(buckets):
        orphans.add(plant(root, f"{b}/data-{uuid.uuid4()}-0.parquet", b"orphan"))
        unknown.add(plant(root, f"{b}/notes-{uuid.uuid4()}.txt"))
    orphans.add(plant(root, f"manifest/manifest-{uuid.uuid4()}-0", b"m"))
    unknown.add(plant(root, "manifest/README.md"))
    return orphans, unknown


def key(plan):
    p = plan.plan
    return (
        p["files"],
        sorted(json_items(p["unknown_files"])),
        sorted(p["empty_dirs"]),
        p["candidates"],
        p["too_young"],
        p["read"],
        p["branches"],
    )


def json_items(xs):
    return [tuple(sorted(x.items())) for x in xs]


@pytest.mark.parametrize("name,shards", [("partitioned_overwrite", 3), ("dynamic_bucket", 3), ("rolled_back", 1)])
def test_sharded_scan_on_dask_equals_the_single_process_scan(copy_table, name, shards):
    path = copy_table(name)
    age_everything(path)
    planted, unknown = plant_everywhere(path)
    location = str(path)
    t = tk.Table.open(location)
    reads = {s["id"]: checksum(t.read(snapshot=s["id"])) for s in t.snapshots()["snapshots"]}
    single = t.plan_remove_orphan_files()
    assert planted <= {f.path for f in single.files}
    assert unknown == {u["path"] for u in single.plan["unknown_files"]}

    from distributed import Client, LocalCluster

    # In-process workers; their HTTP endpoints on loopback only.
    with LocalCluster(
        n_workers=2,
        processes=False,
        threads_per_worker=2,
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
    ) as cluster, Client(cluster) as client:
        scan = tk.plan_orphan_shards(location, 3)
        # Bucket directories split in partition order; an unpartitioned one-bucket table is one shard.
        assert len(scan["shards"]) == shards
        # Each worker opens the table itself from its location: the shard is plain JSON.
        futures = client.map(lambda s: tk.scan_orphan_shard(location, s), scan["shards"], pure=False)
        results = client.gather(futures)
    merged = tk.merge_orphan_results(location, scan, results)
    assert key(merged) == key(single)
    assert [f.path for f in merged.files] == [f.path for f in single.files]

    before = all_files(path)
    report = merged.execute()["report"]
    assert report["failed"] == []
    gone = set(before) - set(all_files(path))
    assert gone == {f.path for f in merged.files}
    for i, want in reads.items():
        assert checksum(t.read(snapshot=i)) == want
    assert t.check()["whole"]
    assert tk.Table.open(location).plan_remove_orphan_files().files == []


def test_merge_refuses_a_missing_shard(copy_table):
    path = copy_table("partitioned_overwrite")
    age_everything(path)
    plant_everywhere(path)
    scan = tk.plan_orphan_shards(str(path), 2)
    results = [tk.scan_orphan_shard(str(path), s) for s in scan["shards"]]
    with pytest.raises(tk.AbortedError):
        tk.merge_orphan_results(str(path), scan, results[:1])


def load_example():
    spec = importlib.util.spec_from_file_location("airflow_maintenance", REPO / "python" / "examples" / "airflow_maintenance.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_airflow_example_tasks_run_without_airflow(copy_table):
    dag = load_example()
    path = copy_table("append_many")
    age_everything(path)
    orphans, _ = plant_everywhere(path)
    location = str(path)
    latest = tk.Table.open(location).snapshots()["latest"]
    want = checksum(tk.Table.open(location).read())

    assert dag.check_table(location)["whole"]
    plan_json = dag.plan_expiration(location, retain_min=3)
    assert dag.execute_plan(location, plan_json)["failed"] == []
    scan = dag.orphan_shards(location, shards=2)
    results = [dag.scan_shard(location, s) for s in scan["shards"]]
    removed = dag.remove_orphans(location, scan, results)
    assert orphans <= set(removed["deleted"]) and removed["failed"] == []
    dag.auto_tag(location)
    t = tk.Table.open(location)
    assert len(t.snapshots()["snapshots"]) == 3 and t.snapshots()["latest"] == latest
    assert checksum(t.read()) == want
    assert dag.check_table(location)["whole"]
