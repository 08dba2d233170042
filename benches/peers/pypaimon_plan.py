#!/usr/bin/env python3
"""Peer benchmark runner: plan one version of a Paimon table with pypaimon.

    pypaimon_plan.py TABLE_PATH [--snapshot N | --tag NAME] [--native]

Opens the table by path exactly as scripts/peer/pypaimon_peer.py does
(FileStoreTable.from_path), time-travels with the table options
`scan.snapshot-id` / `scan.tag-name` (FileStoreTable.copy, which resolves the
version as Paimon's time travel does), and plans the scan through pypaimon's
public API: new_read_builder() -> new_scan() -> plan() -> splits(). Without
--native, pypaimon's own Python planner is used (`scan.native-plan.enabled` left
at its default, false). With --native, the table is planned by paimon-rust
through the `pypaimon-rust` wheel's own API (see open_and_plan); its output has
"rows" (the row count of all splits) instead of "files".

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
    ap.add_argument("--warm", action="store_true",
                    help="plan a second time in the same process and report that too "
                         "(warm_seconds: without one-time set-up such as a runtime)")
    ap.add_argument("--native", action="store_true",
                    help="plan with paimon-rust through the pypaimon-rust wheel")
    args = ap.parse_args(argv)

    t_import = time.perf_counter()
    import pypaimon
    from pypaimon.table.file_store_table import FileStoreTable
    if args.native:
        # paimon-rust's planner as the pypaimon-rust wheel exposes it: the table opened by
        # path with pypaimon's resolved schema (as pypaimon's own native planning does,
        # pypaimon.read.native_plan), then ReadBuilder -> TableScan -> Plan of native
        # splits. pypaimon's `scan.native-plan.enabled` would then convert every split into
        # Python objects, which costs ~40x paimon-rust's planning on 100,000 files; that
        # conversion is pypaimon's, not paimon-rust's, so it is left out.
        import pypaimon_rust  # noqa: F401  (imported before the clock starts)
        from pypaimon_rust.datafusion import Table as NativeTable
        from pypaimon.read.native_plan import (
            _resolved_schema_file_io_options, _resolved_schema_json)

    def open_and_plan():
        table = FileStoreTable.from_path(os.path.abspath(args.table_path))
        options = {}
        if args.snapshot is not None:
            options["scan.snapshot-id"] = str(args.snapshot)
        elif args.tag is not None:
            options["scan.tag-name"] = args.tag
        if args.native:
            native = NativeTable.from_resolved_schema(
                table.table_path, _resolved_schema_json(table),
                database=table.identifier.get_database_name(),
                table=table.identifier.get_table_name(), branch="main",
                options=_resolved_schema_file_io_options(table) or {})
            t_plan = time.perf_counter()
            plan = native.new_read_builder(options).new_scan().plan()
            return plan, plan.splits(), t_plan
        if options:
            table = table.copy(options)
        t_plan = time.perf_counter()
        plan = table.new_read_builder().new_scan().plan()
        return plan, plan.splits(), t_plan

    t0, c0 = time.perf_counter(), time.process_time()
    plan, splits, t_plan = open_and_plan()
    t1, c1 = time.perf_counter(), time.process_time()
    warm = None
    if args.warm:
        w0 = time.perf_counter()
        open_and_plan()
        warm = round(time.perf_counter() - w0, 6)

    if args.native:
        # Native splits expose no file list: the check is the row count of all splits.
        doc = {
            "tool": "paimon-rust (pypaimon-rust wheel)",
            "version": _dist_version("pypaimon-rust"),
            "snapshot": plan.snapshot_id(),
            "rows": sum(s.row_count() for s in splits),
            "splits": len(splits),
            "seconds": round(t1 - t0, 6),
            "cpu_seconds": round(c1 - c0, 6),
            "plan_seconds": round(t1 - t_plan, 6),
            "warm_seconds": warm,
            "import_seconds": round(t0 - t_import, 6),
            "process_seconds": round(process_seconds(), 3),
        }
        sys.stdout.write(json.dumps(doc) + "\n")
        return 0

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
        "cpu_seconds": round(c1 - c0, 6),
        "plan_seconds": round(t1 - t_plan, 6),
        "warm_seconds": warm,
        "import_seconds": round(t0 - t_import, 6),
        "process_seconds": round(process_seconds(), 3),
    }
    sys.stdout.write(json.dumps(doc) + "\n")
    return 0


def _dist_version(name="pypaimon"):
    from importlib.metadata import version
    return version(name)


if __name__ == "__main__":
    sys.exit(main())
