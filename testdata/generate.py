#!/usr/bin/env python3
"""Regenerate the pypaimon-written fixture warehouse and expectations.

    bash scripts/venv.sh && .venv/bin/python testdata/generate.py

Deletes and rewrites testdata/warehouse/ (filesystem catalog, database
`default`) and testdata/expected/<table>.json (output of
`scripts/peer/pypaimon_peer.py describe` for each table). Data values are
fixed; file names contain random UUIDs and snapshot/tag JSON contains wall
clock times, so regenerated files differ byte-wise but not in structure.
See testdata/README.md for what each table contains.
"""

import datetime
import json
import os
import shutil
import sys

import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WAREHOUSE = os.path.join(HERE, "warehouse")
EXPECTED = os.path.join(HERE, "expected")
sys.path.insert(0, os.path.join(REPO, "scripts", "peer"))

import pypaimon_peer  # noqa: E402
from pypaimon import CatalogFactory, Schema  # noqa: E402
from pypaimon.schema.data_types import AtomicType  # noqa: E402
from pypaimon.schema.schema_change import SchemaChange  # noqa: E402

DB = "default"
D0 = datetime.date(2024, 1, 1)


def day(n):
    return D0 + datetime.timedelta(days=n)


class Fixtures:
    def __init__(self):
        self.catalog = CatalogFactory.create({"warehouse": WAREHOUSE})
        self.catalog.create_database(DB, True)
        self.notes = []

    def table(self, name):
        return self.catalog.get_table("%s.%s" % (DB, name))

    def create(self, name, pa_schema, partition_keys=None, primary_keys=None, options=None):
        schema = Schema.from_pyarrow_schema(pa_schema, partition_keys=partition_keys,
                                            primary_keys=primary_keys, options=options or {})
        self.catalog.create_table("%s.%s" % (DB, name), schema, False)
        return self.table(name)

    @staticmethod
    def commit(table, rows, pa_schema, overwrite=None):
        """One batch commit. overwrite: None (append) or a static partition dict."""
        wb = table.new_batch_write_builder()
        if overwrite is not None:
            wb = wb.overwrite(overwrite)
        w = wb.new_write()
        c = wb.new_commit()
        try:
            if rows:
                w.write_arrow(pa.Table.from_pylist(rows, schema=pa_schema))
            c.commit(w.prepare_commit())
        finally:
            w.close()
            c.close()

    @staticmethod
    def latest_id(table):
        return table.snapshot_manager().get_latest_snapshot().id

    # ------------------------------------------------------------------
    # a. append_many: unpartitioned append-only table, 12 commits
    def append_many(self):
        s = pa.schema([("id", pa.int64()), ("name", pa.string()), ("dt", pa.date32())])
        t = self.create("append_many", s)
        for c in range(12):
            rows = [{"id": c * 100 + i,
                     "name": None if (c + i) % 7 == 0 else "name-%d-%d" % (c, i),
                     "dt": day(c)} for i in range(10)]
            self.commit(t, rows, s)

    # ------------------------------------------------------------------
    # b. partitioned_overwrite: partitioned by (dt STRING, hr INT)
    def partitioned_overwrite(self):
        s = pa.schema([("id", pa.int64()), ("v", pa.string()), ("dt", pa.string()), ("hr", pa.int32())])
        t = self.create("partitioned_overwrite", s, partition_keys=["dt", "hr"])

        def rows(base, parts, n=5):
            out = []
            for pi, (dt, hr) in enumerate(parts):
                for i in range(n):
                    out.append({"id": base + pi * 100 + i, "v": "v%d" % (base + pi * 100 + i),
                                "dt": dt, "hr": hr})
            return out

        # 1: three partitions
        self.commit(t, rows(1000, [("2024-01-01", 0), ("2024-01-01", 1), ("2024-01-02", 0)]), s)
        # 2: a new partition + NULL partition values (-> __DEFAULT_PARTITION__)
        self.commit(t, rows(2000, [("2024-01-03", 5), (None, 1), ("2024-01-02", None)]), s)
        # 3: more data into existing partitions
        self.commit(t, rows(3000, [("2024-01-01", 0), ("2024-01-03", 5)]), s)
        # 4: INSERT OVERWRITE of partition dt=2024-01-01/hr=0
        self.commit(t, rows(4000, [("2024-01-01", 0)], n=3), s, overwrite={"dt": "2024-01-01", "hr": 0})
        # 5: drop partition dt=2024-01-02 (all hr) via catalog.drop_partitions
        self.catalog.drop_partitions("%s.partitioned_overwrite" % DB, [{"dt": "2024-01-02"}])
        # 6: overwrite partition dt=2024-01-03/hr=5 with an empty batch. pypaimon skips an
        #    empty overwrite in dynamic-partition-overwrite mode (the default), so use a static
        #    overwrite (dynamic option, not persisted in the schema)
        self.commit(t.copy({"dynamic-partition-overwrite": "false"}), [], s,
                    overwrite={"dt": "2024-01-03", "hr": 5})
        # 7: append again
        self.commit(t, rows(7000, [("2024-01-04", 2), ("2024-01-01", 1)]), s)

    # ------------------------------------------------------------------
    # c. pk_fixed_bucket: primary key (dt, k), bucket = 2, deletes via rowkind.field
    def pk_fixed_bucket(self):
        s = pa.schema([pa.field("dt", pa.string(), nullable=False), pa.field("k", pa.int64(), nullable=False),
                       ("v", pa.string()), ("n", pa.int32()), ("op", pa.string())])
        t = self.create("pk_fixed_bucket", s, partition_keys=["dt"], primary_keys=["dt", "k"],
                        options={"bucket": "2", "rowkind.field": "op"})

        def r(dt, k, v, n, op="+I"):
            return {"dt": dt, "k": k, "v": v, "n": n, "op": op}

        # 1: inserts, 2 partitions x 12 keys
        self.commit(t, [r(dt, k, "a%d" % k, k) for dt in ("2024-01-01", "2024-01-02") for k in range(12)], s)
        # 2: updates of existing keys
        self.commit(t, [r("2024-01-01", k, "b%d" % k, 100 + k, "+U") for k in (0, 3, 5, 7, 11)], s)
        # 3: deletes (-D) of existing keys
        self.commit(t, [r("2024-01-01", 2, None, None, "-D"), r("2024-01-02", 4, None, None, "-D"),
                        r("2024-01-02", 9, None, None, "-D")], s)
        # 4: new keys + updates + a new partition
        self.commit(t, [r("2024-01-02", k, "c%d" % k, 200 + k) for k in (0, 1, 12, 13)]
                    + [r("2024-01-03", k, "d%d" % k, 300 + k) for k in range(6)], s)
        # 5: delete then re-insert key 2 in one batch? keep it simple: re-insert deleted key,
        #    delete a key inserted in 4, update via +I (upsert) in the same commit
        self.commit(t, [r("2024-01-01", 2, "e2", 402), r("2024-01-03", 5, None, None, "-D"),
                        r("2024-01-03", 1, "e1", 401)], s)

    # ------------------------------------------------------------------
    # d. dynamic_bucket: primary key, bucket = -1 (HASH index files)
    def dynamic_bucket(self):
        s = pa.schema([pa.field("dt", pa.string(), nullable=False), pa.field("k", pa.int64(), nullable=False),
                       ("v", pa.string())])
        t = self.create("dynamic_bucket", s, partition_keys=["dt"], primary_keys=["dt", "k"],
                        options={"bucket": "-1", "dynamic-bucket.target-row-num": "8"})
        self.commit(t, [{"dt": "2024-01-01", "k": k, "v": "a%d" % k} for k in range(20)], s)
        self.commit(t, [{"dt": "2024-01-01", "k": k, "v": "b%d" % k} for k in range(15, 30)]
                    + [{"dt": "2024-01-02", "k": k, "v": "b%d" % k} for k in range(5)], s)
        self.commit(t, [{"dt": "2024-01-02", "k": k, "v": "c%d" % k} for k in range(3, 12)], s)

    # ------------------------------------------------------------------
    # e. tagged: 6 commits, 5 tags
    def tagged(self):
        s = pa.schema([("id", pa.int64()), ("name", pa.string()), ("dt", pa.date32())])
        # partitioned by a DATE column to show how pypaimon renders DATE partition paths
        t = self.create("tagged", s, partition_keys=["dt"])
        for c in range(6):
            self.commit(t, [{"id": c * 10 + i, "name": "t%d-%d" % (c, i), "dt": day(c // 2)}
                            for i in range(8)], s)
        t = self.table("tagged")
        t.create_tag("first", snapshot_id=1)                 # tag on an old snapshot
        t.create_tag("daily-3", snapshot_id=3, time_retained="1 d")   # with retention
        t.create_tag("release-a", snapshot_id=5)             # two tags on one snapshot
        t.create_tag("release-b", snapshot_id=5)
        t.create_tag("latest")                               # latest snapshot (6)

    # ------------------------------------------------------------------
    # f. rolled_back: 6 commits, tags, rollback_to(3), one more commit
    def rolled_back(self):
        s = pa.schema([("id", pa.int64()), ("name", pa.string())])
        t = self.create("rolled_back", s)
        for c in range(6):
            self.commit(t, [{"id": c * 10 + i, "name": "r%d-%d" % (c, i)} for i in range(6)], s)
        t = self.table("rolled_back")
        t.create_tag("keep", snapshot_id=2)
        t.create_tag("gone", snapshot_id=5)   # removed by the rollback (snapshot 5 > 3)
        t.rollback_to(3)
        t = self.table("rolled_back")
        # a new commit after rollback reuses snapshot id 4
        self.commit(t, [{"id": 900 + i, "name": "after-rollback-%d" % i} for i in range(4)], s)

    # ------------------------------------------------------------------
    # g. empty
    def empty(self):
        s = pa.schema([("id", pa.int64()), ("name", pa.string())])
        self.create("empty", s)

    # ------------------------------------------------------------------
    # h. schema_evolved: write, add column, write, rename column, write
    def schema_evolved(self):
        ident = "%s.schema_evolved" % DB
        s0 = pa.schema([("id", pa.int64()), ("name", pa.string())])
        t = self.create("schema_evolved", s0)
        self.commit(t, [{"id": i, "name": "s0-%d" % i} for i in range(5)], s0)
        self.catalog.alter_table(ident, [SchemaChange.add_column("score", AtomicType("INT"))], False)
        s1 = pa.schema([("id", pa.int64()), ("name", pa.string()), ("score", pa.int32())])
        self.commit(self.table("schema_evolved"), [{"id": 10 + i, "name": "s1-%d" % i, "score": i * 3}
                                                   for i in range(5)], s1)
        self.catalog.alter_table(ident, [SchemaChange.rename_column("name", "label")], False)
        s2 = pa.schema([("id", pa.int64()), ("label", pa.string()), ("score", pa.int32())])
        self.commit(self.table("schema_evolved"), [{"id": 20 + i, "label": "s2-%d" % i, "score": -i}
                                                   for i in range(5)], s2)


TABLES = ["append_many", "partitioned_overwrite", "pk_fixed_bucket", "dynamic_bucket",
          "tagged", "rolled_back", "empty", "schema_evolved"]


def main():
    only = sys.argv[1:]  # optional: regenerate only these tables
    unknown = [n for n in only if n not in TABLES]
    if unknown:
        sys.exit("unknown table(s): %s (known: %s)" % (", ".join(unknown), ", ".join(TABLES)))
    if only:
        for name in only:
            shutil.rmtree(os.path.join(WAREHOUSE, "%s.db" % DB, name), ignore_errors=True)
            if os.path.exists(os.path.join(EXPECTED, name + ".json")):
                os.remove(os.path.join(EXPECTED, name + ".json"))
    else:
        for d in (WAREHOUSE, EXPECTED):
            if os.path.exists(d):
                shutil.rmtree(d)
    os.makedirs(EXPECTED, exist_ok=True)
    fx = Fixtures()
    for name in TABLES:
        if only and name not in only:
            continue
        print("writing", name, flush=True)
        getattr(fx, name)()
        path = os.path.join(WAREHOUSE, "%s.db" % DB, name)
        doc = pypaimon_peer.describe(path)
        with open(os.path.join(EXPECTED, name + ".json"), "w", encoding="utf-8") as f:
            f.write(pypaimon_peer.dump(doc))
        print("  snapshots=%s tags=%s" % ([s["id"] for s in doc["snapshots"]],
                                          [(x["name"], x["snapshot_id"]) for x in doc["tags"]]))


if __name__ == "__main__":
    main()
