"""The Python plans are the CLI's: the plan `--plan-out` writes for the same table and options
equals the one Python makes (command, plan and fingerprint), and `tagkeeper apply-plan` executes
a plan Python wrote. Needs the CLI binary (TAGKEEPER_BIN; scripts/python-test.sh passes the one
`cargo test` built); skipped without it."""

import json
import os
import subprocess
import time

import pytest

import tagkeeper as tk
from conftest import all_files

BIN = os.environ.get("TAGKEEPER_BIN")
pytestmark = pytest.mark.skipif(not (BIN and os.path.exists(BIN)), reason="needs the tagkeeper binary (TAGKEEPER_BIN)")


def cli(*args):
    done = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def comparable(saved):
    return {k: v for k, v in saved.items() if k not in ("created_at_millis",)}


def test_plan_out_equals_the_python_plan_and_apply_plan_runs_a_python_plan(copy_table, tmp_path):
    path = copy_table("append_many")
    t = tk.Table.open(str(path))
    cutoff = int(time.time() * 1000)
    plan = t.plan_expire_snapshots(retain_min=3, older_than=cutoff)
    out = tmp_path / "cli-plan.json"
    cli("expire-snapshots", str(path), "--retain-min", "3", "--older-than", str(cutoff), "--plan-out", str(out), "--json")
    assert comparable(json.loads(out.read_text())) == comparable(plan.to_dict())

    mine = tmp_path / "py-plan.json"
    mine.write_text(plan.to_json())
    before = all_files(path)
    report = json.loads(cli("apply-plan", str(mine), "--json"))
    gone = set(before) - set(all_files(path))
    assert {f.path for f in plan.files} <= gone
    assert report["expired_snapshots"] == plan.plan["expired_snapshots"]
    assert len(t.snapshots()["snapshots"]) == 3
