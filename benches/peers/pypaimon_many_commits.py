#!/usr/bin/env python3
"""Build the "many small manifests" peer table with pypaimon (issue 20, target 1).

    pypaimon_many_commits.py WAREHOUSE [--commits 300] [--partitions 10]

An append-only table `bench.many_commits` partitioned by `p` (PARTITIONS values), written
with one batch commit per write: COMMITS commits in all, each appending one small file to
the next partition in turn, except two static partition overwrites (at one third and two
thirds of the way) that replace partitions 0 and 1 with one file each. Then a tag `latest`
on the last snapshot. Every commit adds a delta manifest, so the latest snapshot's lists
name about COMMITS small manifests; this is the shape pypaimon writes for a table fed by
many small commits (no compaction). Prints one JSON line with the table path.
"""

import argparse
import json
import os
import sys

import pyarrow as pa
from pypaimon import CatalogFactory, Schema


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("warehouse")
    ap.add_argument("--commits", type=int, default=300)
    ap.add_argument("--partitions", type=int, default=10)
    a = ap.parse_args(argv)

    catalog = CatalogFactory.create({"warehouse": os.path.abspath(a.warehouse)})
    catalog.create_database("bench", True)
    schema = pa.schema([("p", pa.int32()), ("id", pa.int64()), ("name", pa.string())])
    catalog.create_table("bench.many_commits",
                         Schema.from_pyarrow_schema(schema, partition_keys=["p"]), False)
    table = catalog.get_table("bench.many_commits")
    overwrites = {a.commits // 3: 0, (2 * a.commits) // 3: 1}
    for i in range(a.commits):
        wb = table.new_batch_write_builder()
        if i in overwrites:
            part = overwrites[i]
            wb = table.copy({"dynamic-partition-overwrite": "false"}) \
                .new_batch_write_builder().overwrite({"p": part})
        else:
            part = i % a.partitions
        rows = [{"p": part, "id": i * 10 + k, "name": "row-%d-%d" % (i, k)} for k in range(10)]
        w = wb.new_write()
        c = wb.new_commit()
        try:
            w.write_arrow(pa.Table.from_pylist(rows, schema=schema))
            c.commit(w.prepare_commit())
        finally:
            w.close()
            c.close()
    table.create_tag("latest")
    sys.stdout.write(json.dumps({"table": table.table_path, "commits": a.commits}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
