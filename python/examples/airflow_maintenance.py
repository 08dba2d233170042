"""An Airflow DAG for the maintenance of Paimon tables with tagkeeper.

The task functions are plain Python (they take a table location and return JSON-able dicts, so
Airflow's XCom carries them): they run without Airflow, and the tests import and run them.
The DAG itself is defined only when Airflow is installed.

    check -> expire-snapshots (plan, review, execute) -> remove-orphan-files (sharded) -> auto-tag
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import tagkeeper as tk

# Limits a reviewer would set: refuse to run a plan that deletes more than this.
MAX_FILES_PER_RUN = 10_000


def check_table(location: str, store_options: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Fail the task when the table has missing or damaged files."""
    report = tk.Table.open(location, store_options).check()
    if not report["whole"]:
        raise RuntimeError(f"{location}: check found {len(report['problems'])} problem(s)")
    return {"location": location, "whole": True}


def plan_expiration(location: str, retain_min: int = 10, store_options: Optional[Mapping[str, str]] = None) -> str:
    """Plan expire-snapshots; the plan (the CLI's saved-plan JSON) goes to the next task."""
    plan = tk.Table.open(location, store_options).plan_expire_snapshots(retain_min=retain_min)
    if plan.file_count > MAX_FILES_PER_RUN:
        raise RuntimeError(f"{location}: the plan deletes {plan.file_count} files, more than {MAX_FILES_PER_RUN}")
    return plan.to_json()


def execute_plan(location: str, plan_json: str, store_options: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Execute a reviewed plan; a table changed since it was made refuses it (ConflictError)."""
    table = tk.Table.open(location, store_options)
    applied = tk.Plan.from_json(table, plan_json).execute()
    return {"command": applied["command"], "failed": applied["report"].get("failed", [])}


def orphan_shards(location: str, shards: int = 4, store_options: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Split the orphan scan (Airflow maps scan_shard over scan['shards'])."""
    return tk.plan_orphan_shards(location, shards, store_options=store_options)


def scan_shard(location: str, shard: Mapping[str, Any], store_options: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    return tk.scan_orphan_shard(location, shard, store_options=store_options)


def remove_orphans(
    location: str, scan: Mapping[str, Any], results: List[Mapping[str, Any]], store_options: Optional[Mapping[str, str]] = None
) -> Dict[str, Any]:
    """Merge the shards and delete, once, what the merged plan names."""
    plan = tk.merge_orphan_results(location, scan, results, store_options=store_options)
    report = plan.execute()["report"]
    return {"deleted": [f["path"] for f in report["files"]], "failed": report["failed"]}


def auto_tag(location: str, store_options: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    return tk.Table.open(location, store_options).auto_tag()


def build_dag(location: str, dag_id: str = "paimon_maintenance"):  # pragma: no cover - needs Airflow
    """The DAG, when Airflow is installed (imported here, not at module level)."""
    from datetime import datetime

    from airflow.decorators import dag, task

    @dag(dag_id=dag_id, schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False)
    def maintenance():
        checked = task(check_table)(location)
        plan = task(plan_expiration)(location)
        executed = task(execute_plan)(location, plan)
        # multiple_outputs: each key of the scan is its own XCom, so scan["shards"] maps.
        scan = task(orphan_shards, multiple_outputs=True)(location)
        results = task(scan_shard).partial(location=location).expand(shard=scan["shards"])
        removed = task(remove_orphans)(location, scan, results)
        tagged = task(auto_tag)(location)
        checked >> plan >> executed >> scan >> results >> removed >> tagged

    return maintenance()


try:  # Airflow discovers DAGs at module level.
    import airflow  # noqa: F401
except ImportError:
    pass
else:  # pragma: no cover
    import os

    if os.environ.get("TAGKEEPER_TABLE"):
        paimon_maintenance = build_dag(os.environ["TAGKEEPER_TABLE"])
