"""The same table on S3 (the local moto server of scripts/with-moto.sh, which
scripts/python-test.sh runs pytest under): opened with store options as the CLI's
--store-option, listed and read as pypaimon recorded, and a plan executed there. Skipped
without TAGKEEPER_S3_URL."""

import os
import urllib.request
import uuid

import pytest

import tagkeeper as tk
from conftest import PYPAIMON_DB, checksum, pypaimon_expected

S3_URL = os.environ.get("TAGKEEPER_S3_URL")
pytestmark = pytest.mark.skipif(not S3_URL, reason="needs the local S3 server (bash scripts/with-moto.sh)")


def upload(src, prefix):
    """PUT every file of a local table under s3://<bucket>/<prefix>/ (moto takes unsigned PUTs)."""
    endpoint = os.environ["AWS_ENDPOINT"].rstrip("/")
    bucket = S3_URL[len("s3://"):].strip("/")
    for path in sorted(src.rglob("*")):
        if path.is_file():
            key = path.relative_to(src).as_posix()
            # Not urllib's default form content type: the server would parse the body as a form.
            req = urllib.request.Request(
                f"{endpoint}/{bucket}/{prefix}/{key}",
                data=path.read_bytes(),
                method="PUT",
                headers={"Content-Type": "application/octet-stream"},
            )
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 200


def store_options():
    # Passed explicitly, as `--store-option KEY=VALUE` would be (the environment has them too).
    return {
        "aws_endpoint": os.environ["AWS_ENDPOINT"],
        "aws_allow_http": "true",
        "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
        "aws_region": os.environ.get("AWS_REGION", "us-east-1"),
    }


def test_a_table_on_s3_lists_reads_and_expires():
    prefix = f"py-{uuid.uuid4()}/tagged"
    upload(PYPAIMON_DB / "tagged", prefix)
    location = f"{S3_URL.rstrip('/')}/{prefix}"
    t = tk.Table.open(location, store_options())
    expected = pypaimon_expected("tagged")
    assert [s["id"] for s in t.snapshots()["snapshots"]] == [s["id"] for s in expected["snapshots"]]
    assert [(x["name"], x["snapshot_id"]) for x in t.tags()["tags"]] == [(x["name"], x["snapshot_id"]) for x in expected["tags"]]
    for s in expected["snapshots"]:
        assert checksum(t.read(snapshot=s["id"])) == (s["rows"], s["checksum"])
    plan = t.plan_expire_snapshots(retain_min=1, older_than=2**62)
    assert plan.file_count > 0
    report = plan.execute()["report"]
    assert report["failed"] == []
    left = [s["id"] for s in t.snapshots()["snapshots"]]
    assert left == [expected["snapshots"][-1]["id"]]
    for tag in expected["tags"]:
        assert checksum(t.read(tag=tag["name"])) == (tag["rows"], tag["checksum"])
    assert t.check()["whole"]


def test_refused_credentials_raise_storage_error_with_a_hint():
    opts = dict(store_options(), aws_endpoint="http://127.0.0.1:1")
    with pytest.raises(tk.StorageError) as e:
        tk.Table.open(f"{S3_URL.rstrip('/')}/nothing-here", opts)
    assert e.value.kind == "storage" and e.value.exit_code == 2
    assert "nothing accepts connections" in (e.value.hint or "")
