#!/usr/bin/env python3
"""Peer benchmark runner: plan one version of a Paimon table with pypaimon.

    pypaimon_plan.py TABLE_PATH [--snapshot N | --tag NAME]

Opens the table by path exactly as scripts/peer/pypaimon_peer.py does
(FileStoreTable.from_path), time-travels with the table options
`scan.snapshot-id` / `scan.tag-name` (FileStoreTable.copy, which resolves the
version as Paimon's time travel does), and plans the scan through pypaimon's
public API: new_read_builder() -> new_scan() -> plan() -> splits(). pypaimon's
own Python planner is used (`scan.native-plan.enabled` is left at its default,
false; the optional pypaimon_rust native planner is not installed).

Prints one JSON line:
  {"tool": "pypaimon", "version": "...", "snapshot": S, "files": N, "splits": K,
   "seconds": <open + time travel + plan, in-process, after imports>,
   "plan_seconds": <new_read_builder .. splits() only>,
   "import_seconds": <import pypaimon>,
   "process_seconds": <wall since process start>}

"files" counts the data files of all splits (distinct paths; a file listed in
two splits is an error). process_seconds comes from the process start time in
/proc/self/stat (10 ms resolution); the benchmark driver also times the whole
process from outside.
"""

import argparse
import json
import os
import sys
import time

T_SCRIPT = time.perf_counter()


def process_seconds():
    """Wall seconds since this process started (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
        rest = stat[stat.rindex(")") + 2:].split()
        start_ticks = int(rest[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table_path")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--snapshot", type=int)
    g.add_argument("--tag")
    args = ap.parse_args(argv)

    t_import = time.perf_counter()
    import pypaimon
    from pypaimon.table.file_store_table import FileStoreTable
    t0 = time.perf_counter()

    table = FileStoreTable.from_path(os.path.abspath(args.table_path))
    if args.snapshot is not None:
        table = table.copy({"scan.snapshot-id": str(args.snapshot)})
    elif args.tag is not None:
        table = table.copy({"scan.tag-name": args.tag})
    t_plan = time.perf_counter()
    plan = table.new_read_builder().new_scan().plan()
    splits = plan.splits()
    t1 = time.perf_counter()

    paths = set()
    n = 0
    for split in splits:
        for f in split.files:
            paths.add(f.external_path or f.file_path)
            n += 1
    if n != len(paths):
        raise RuntimeError("a data file is listed in two splits")

    doc = {
        "tool": "pypaimon",
        "version": getattr(pypaimon, "__version__", None) or _dist_version(),
        "snapshot": getattr(plan, "snapshot_id", None),
        "files": n,
        "splits": len(splits),
        "seconds": round(t1 - t0, 6),
        "plan_seconds": round(t1 - t_plan, 6),
        "import_seconds": round(t0 - t_import, 6),
        "process_seconds": round(process_seconds(), 3),
    }
    sys.stdout.write(json.dumps(doc) + "\n")
    return 0


def _dist_version():
    from importlib.metadata import version
    return version("pypaimon")


if __name__ == "__main__":
    sys.exit(main())
