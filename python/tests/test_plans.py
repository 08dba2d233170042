"""Plans as Python objects: made, inspected, serialised as the CLI's saved plan, executed once
through the library's journaled code; the table's fingerprint refuses a stale plan; tags
created, renamed, replaced and deleted (mirrors tests/it/expire.rs, tags.rs, saved_plan.rs)."""

import json
import time

import pytest

import tagkeeper as tk
from conftest import all_files, checksum, pypaimon_expected

FAR_FUTURE = 2**62


def test_expire_plan_is_inspected_then_executed_exactly(copy_table):
    path = copy_table("append_many")
    t = tk.Table.open(str(path))
    before = all_files(path)
    reads = {s["id"]: checksum(t.read(snapshot=s["id"])) for s in t.snapshots()["snapshots"]}

    plan = t.plan_expire_snapshots(retain_min=2, older_than=FAR_FUTURE)
    assert plan.command == "expire-snapshots"
    expired = plan.plan["expired_snapshots"]
    assert expired and plan.plan["new_earliest"] == max(reads) - 1
    assert plan.file_count == len(plan.plan["files"]) > 0
    assert plan.bytes == sum(f["bytes"] for f in plan.plan["files"])
    assert all(before[f.path] == f.bytes for f in plan.files)
    assert sum(n for n, _ in plan.counts.values()) == plan.file_count
    assert all_files(path) == before, "planning changes nothing"

    # The CLI's --plan-out format, and back.
    saved = json.loads(plan.to_json())
    assert saved["format"] == "tagkeeper-plan/1" and saved["command"] == "expire-snapshots"
    again = tk.Plan.from_json(t, plan.to_json())
    assert again.files == plan.files

    applied = again.execute()
    assert applied["command"] == "expire-snapshots"
    report = applied["report"]
    assert report["failed"] == [] and report["expired_snapshots"] == expired
    after = all_files(path)
    gone = set(before) - set(after)
    snapshot_files = {f"snapshot/snapshot-{i}" for i in expired}
    assert gone == {f.path for f in plan.files} | snapshot_files
    assert [s["id"] for s in t.snapshots()["snapshots"]] == [i for i in sorted(reads) if i not in expired]
    for i in t.snapshots()["snapshots"]:
        assert checksum(t.read(snapshot=i["id"])) == reads[i["id"]]


def test_a_plan_of_a_changed_table_is_refused(copy_table):
    path = copy_table("tagged")
    t = tk.Table.open(str(path))
    plan = t.plan_delete_tag("release-a")
    t.create_tag("late")
    before = all_files(path)
    with pytest.raises(tk.ConflictError) as e:
        plan.execute()
    assert "tag 'late' was created" in str(e.value)
    assert all_files(path) == before


def test_tags_are_created_renamed_replaced_and_deleted(copy_table):
    path = copy_table("tagged")
    t = tk.Table.open(str(path))
    created = t.create_tag("py", snapshot=2)
    assert (created["name"], created["snapshot_id"], created["created"]) == ("py", 2, True)
    with pytest.raises(tk.TagExistsError):
        t.create_tag("py")
    assert t.create_tag("py", if_not_exists=True)["created"] is False
    t.rename_tag("py", "py2")
    t.replace_tag("py2", snapshot=4)
    tags = {x["name"]: x["snapshot_id"] for x in t.tags()["tags"]}
    assert tags["py2"] == 4 and "py" not in tags
    report = t.delete_tag("py2")["report"]
    assert report["deleted_tags"] == ["py2"]
    assert "py2" not in {x["name"] for x in t.tags()["tags"]}
    with pytest.raises(tk.TagNotFoundError):
        t.rename_tag("py2", "py3")


def test_delete_tag_reclaims_what_only_the_tag_kept(copy_table):
    path = copy_table("tagged")
    t = tk.Table.open(str(path))
    # Expire every snapshot the tags do not need first, so 'first' alone keeps snapshot 1's files.
    t.expire_snapshots(retain_min=1, older_than=FAR_FUTURE)
    before = all_files(path)
    plan = t.plan_delete_tag(["first"])
    assert plan.command == "delete-tag"
    report = plan.execute()["report"]
    gone = set(before) - set(all_files(path))
    assert gone == {f.path for f in plan.files} | {"tag/tag-first"}
    assert report["deleted_tags"] == ["first"]
    assert t.check()["whole"]


def test_rollback_plan_and_execute(copy_table):
    path = copy_table("tagged")
    t = tk.Table.open(str(path))
    want = checksum(t.read(tag="release-a"))
    plan = t.plan_rollback_to(tag="release-a", mode="as_latest")
    assert plan.command == "rollback-to"
    plan.execute()
    assert checksum(t.read()) == want
    assert t.snapshots()["latest"] == 7
    plan = t.plan_rollback_to(snapshot=3)
    plan.execute()
    assert t.snapshots()["latest"] == 3
    with pytest.raises(tk.InvalidArgumentError):
        t.plan_rollback_to(snapshot=3, tag="first")


def test_expire_tags_and_maintain_and_auto_tag(copy_table):
    path = copy_table("tagged")
    t = tk.Table.open(str(path))
    # 'daily-3' was made with a one-day retention long ago: it has expired.
    plan = t.plan_expire_tags()
    assert plan.command == "expire-tags"
    assert [x["name"] for x in plan.plan["tags"]] == ["daily-3"]
    plan.execute()
    assert "daily-3" not in {x["name"] for x in t.tags()["tags"]}
    assert t.check()["whole"]


def tag_names(t):
    return sorted(x["name"] for x in t.tags()["tags"])


def test_maintain_dry_run_shows_what_maintain_then_does(copy_table):
    # maintain is a sequence whose later steps depend on the earlier ones' effects (as Java's
    # commit runs them), so its preview is a dry run, not a saved plan: it must say exactly
    # what the run then does.
    path = copy_table("tagged")
    t = tk.Table.open(str(path))
    before, files = tag_names(t), all_files(path)
    dry = t.maintain(dry_run=True)
    assert dry["dry_run"] is True
    assert dry["tags"]["deleted_tags"] == ["daily-3"]
    assert dry["snapshots"]["expired_snapshots"] == []
    assert (tag_names(t), all_files(path)) == (before, files)
    done = t.maintain()
    assert done["dry_run"] is False
    assert done["tags"]["deleted_tags"] == dry["tags"]["deleted_tags"]
    assert done["snapshots"]["expired_snapshots"] == dry["snapshots"]["expired_snapshots"]
    assert tag_names(t) == [n for n in before if n != "daily-3"]
    assert all_files(path) == {k: v for k, v in files.items() if k != "tag/tag-daily-3"}
    assert t.check()["whole"]


def test_auto_tag_dry_run_shows_the_tags_it_then_creates(copy_table):
    path = copy_table("tagged")
    t = tk.Table.open(str(path))
    options = {"tag.automatic-creation": "process-time", "tag.creation-period": "daily"}
    before = tag_names(t)
    dry = t.auto_tag(dry_run=True, overrides=options)
    would = [(x["tag"], x["snapshot_id"]) for x in dry["tags"]]
    assert would and {x["outcome"] for x in dry["tags"]} == {"would_create"}
    assert tag_names(t) == before
    done = t.auto_tag(overrides=options)
    assert [(x["tag"], x["snapshot_id"]) for x in done["tags"]] == would
    assert {x["outcome"] for x in done["tags"]} == {"created"}
    expired = done["expired"]["deleted_tags"]
    assert expired == dry["expired"]["deleted_tags"] == ["daily-3"]
    assert tag_names(t) == sorted(set(before) - set(expired) | {name for name, _ in would})
    assert {x["name"]: x["snapshot_id"] for x in t.tags()["tags"]}.items() >= set(would)


def test_orphan_plan_on_a_clean_table_is_empty(copy_table):
    path = copy_table("pk_fixed_bucket")
    t = tk.Table.open(str(path))
    plan = t.plan_remove_orphan_files()
    assert plan.command == "remove-orphan-files" and plan.files == []
    with pytest.raises(tk.InvalidArgumentError):
        t.plan_remove_orphan_files(older_than=int(time.time() * 1000))
