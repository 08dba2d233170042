#!/usr/bin/env python3
"""pypaimon peer: describe / read Apache Paimon tables through pypaimon.

Used to record the expectations in testdata/expected/*.json and, later, by
Rust interop tests (Rust writes or edits a table, pypaimon reads it back).

Subcommands (all output is one JSON document on stdout, keys sorted, no
trailing whitespace; exit code != 0 on any error, message on stderr):

  describe TABLE_PATH
      For every snapshot file (snapshot/snapshot-N) and every tag file
      (tag/tag-NAME, directories such as tag/tag-success-file skipped), the
      live data files pypaimon's scan plan returns for that version, the sum
      of their row counts, and the rows read (count + checksum).
      The scan plan is cross-checked against an independent merge of the
      base+delta manifest lists read with fastavro (spec section 7.1); a
      mismatch is an error.

  read TABLE_PATH [--snapshot N | --tag NAME | --all]
      {"rows": N, "checksum": "<16 hex>"} for the latest snapshot (default),
      snapshot N or tag NAME. With --all, one process reads every version:
      {"latest": {...}, "snapshot-N": {...}, "tag-NAME": {...}}.

  versions TABLE_PATH...
      For each table, what pypaimon itself lists and reads: its SnapshotManager's
      snapshots, its TagManager's tags (tag names whose file it cannot find are
      skipped, as its tags system table does) and the latest snapshot, each as
      {"rows": N, "checksum": "<16 hex>"}; or {"error": "..."} for a table
      pypaimon cannot list or read. One process for many tables (the crash sweep
      checks every crash point's table with it).

Row checksum: see testdata/README.md ("Row checksum").
"""

import argparse
import datetime
import decimal
import hashlib
import json
import os
import sys

MASK64 = (1 << 64) - 1


# --------------------------------------------------------------------------
# checksum

def render_value(v):
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    # datetime is a subclass of date: test it first
    if isinstance(v, datetime.datetime):
        return v.replace(tzinfo=None).isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    raise TypeError("checksum: unsupported value type %s (%r)" % (type(v).__name__, v))


def row_hash(values):
    line = "\x1f".join(render_value(v) for v in values).encode("utf-8")
    return int.from_bytes(hashlib.sha256(line).digest()[:8], "little")


def checksum_rows(rows):
    """rows: iterable of sequences of Python values in schema order."""
    total = 0
    count = 0
    for r in rows:
        total = (total + row_hash(r)) & MASK64
        count += 1
    return count, "%016x" % total


# --------------------------------------------------------------------------
# table helpers

def load_table(table_path, branch=None):
    from pypaimon.table.file_store_table import FileStoreTable
    if branch is None:
        return FileStoreTable.from_path(os.path.abspath(table_path))
    # A branch, as pypaimon's catalog opens `table$branch_<name>`: the branch's schema, and an
    # identifier naming the branch (snapshots, tags and schemas then come from its directory).
    from pypaimon.common.identifier import Identifier
    from pypaimon.schema.schema_manager import SchemaManager
    main = FileStoreTable.from_path(os.path.abspath(table_path))
    schema = SchemaManager(main.file_io, os.path.abspath(table_path), branch).latest()
    if schema is None:
        raise ValueError("no schema in branch %s" % branch)
    return FileStoreTable(main.file_io, Identifier("default", "table", branch=branch),
                          os.path.abspath(table_path), schema)


def list_snapshot_ids(table_path):
    d = os.path.join(table_path, "snapshot")
    ids = []
    if os.path.isdir(d):
        for name in os.listdir(d):
            if name.startswith("snapshot-") and os.path.isfile(os.path.join(d, name)):
                suffix = name[len("snapshot-"):]
                if suffix.isdigit():
                    ids.append(int(suffix))
    return sorted(ids)


def list_tags(table_path):
    """[(name, tag_json)] sorted by name; directories (tag-success-file) skipped."""
    d = os.path.join(table_path, "tag")
    out = []
    if os.path.isdir(d):
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if name.startswith("tag-") and os.path.isfile(p):
                with open(p, "r", encoding="utf-8") as f:
                    out.append((name[len("tag-"):], json.load(f)))
    return out


def travel(table, snapshot_id=None, tag=None):
    if snapshot_id is not None:
        return table.copy({"scan.snapshot-id": str(snapshot_id)})
    if tag is not None:
        return table.copy({"scan.tag-name": tag})
    return table


def json_scalar(v):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v
    return render_value(v)


def plan_version(table, table_path, expect_snapshot_id):
    """Scan plan + read for one version. Returns dict (files, counts, checksum)."""
    rb = table.new_read_builder()
    plan = rb.new_scan().plan()
    splits = plan.splits()
    if expect_snapshot_id is not None and plan.snapshot_id is not None \
            and plan.snapshot_id != expect_snapshot_id:
        raise RuntimeError("pypaimon planned snapshot %s, expected %s"
                           % (plan.snapshot_id, expect_snapshot_id))
    partition_keys = list(table.table_schema.partition_keys)
    root = os.path.abspath(table_path)
    files = []
    for split in splits:
        pvals = list(split.partition.values) if split.partition is not None else []
        partition = {k: json_scalar(v) for k, v in zip(partition_keys, pvals)}
        for f in split.files:
            if f.external_path:
                path = f.external_path
            else:
                path = os.path.relpath(os.path.abspath(f.file_path), root)
            files.append({
                "path": path,
                "partition": partition,
                "bucket": split.bucket,
                "level": f.level,
                "file_size": f.file_size,
                "row_count": f.row_count,
            })
    files.sort(key=lambda x: x["path"])
    seen = set()
    for x in files:
        if x["path"] in seen:
            raise RuntimeError("file listed twice in scan plan: " + x["path"])
        seen.add(x["path"])
    if splits:
        arrow = rb.new_read().to_arrow(splits)
        cols = [arrow.column(i).to_pylist() for i in range(arrow.num_columns)]
        rows, checksum = checksum_rows(zip(*cols)) if cols else (arrow.num_rows, "%016x" % 0)
        if rows != arrow.num_rows:
            raise RuntimeError("row count mismatch")
    else:
        rows, checksum = 0, "%016x" % 0
    return {
        "files": files,
        "file_row_count": sum(x["row_count"] for x in files),
        "rows": rows,
        "checksum": checksum,
    }


# --------------------------------------------------------------------------
# independent live-file listing (spec 7.1) used to cross-check pypaimon's plan

def _read_avro(path):
    import fastavro
    with open(path, "rb") as f:
        return list(fastavro.reader(f))


def raw_live_files(table_path, snap):
    """Merge base + delta manifest lists of a snapshot/tag JSON; returns a sorted
    list of (bucket, level, file_name, file_size, row_count) for live files."""
    mdir = os.path.join(table_path, "manifest")
    metas = []
    for key in ("baseManifestList", "deltaManifestList"):
        name = snap.get(key)
        if name:
            metas.extend(_read_avro(os.path.join(mdir, name)))
    live = {}
    deletes = set()
    for m in metas:
        for e in _read_avro(os.path.join(mdir, m["_FILE_NAME"])):
            fm = e["_FILE"]
            ident = (e["_PARTITION"], e["_BUCKET"], fm["_LEVEL"], fm["_FILE_NAME"],
                     tuple(fm.get("_EXTRA_FILES") or []), fm.get("_EMBEDDED_FILE_INDEX"),
                     fm.get("_EXTERNAL_PATH"))
            if e["_KIND"] == 0:
                if ident in live:
                    raise RuntimeError("duplicate ADD of " + fm["_FILE_NAME"])
                live[ident] = (e["_BUCKET"], fm["_LEVEL"], fm["_FILE_NAME"],
                               fm["_FILE_SIZE"], fm["_ROW_COUNT"])
            elif ident in live:
                del live[ident]
            else:
                deletes.add(ident)
    return sorted(live.values())


def cross_check(table_path, snap_json, files, what):
    want = raw_live_files(table_path, snap_json)
    got = sorted((f["bucket"], f["level"], os.path.basename(f["path"]), f["file_size"], f["row_count"])
                 for f in files)
    if want != got:
        raise RuntimeError("%s: pypaimon scan plan differs from manifest merge:\n plan=%r\n manifests=%r"
                           % (what, got, want))
    for f in files:
        p = f["path"] if os.path.isabs(f["path"]) else os.path.join(table_path, f["path"])
        if not os.path.isfile(p):
            raise RuntimeError("%s: live file missing on disk: %s" % (what, p))
        if os.path.getsize(p) != f["file_size"]:
            raise RuntimeError("%s: size mismatch for %s" % (what, p))


# --------------------------------------------------------------------------
# commands

def describe(table_path):
    table_path = os.path.abspath(table_path)
    table = load_table(table_path)
    schema = table.table_schema
    out = {
        "table": os.path.basename(table_path.rstrip("/")),
        "primary_keys": list(schema.primary_keys),
        "partition_keys": list(schema.partition_keys),
        "snapshots": [],
        "tags": [],
    }
    for sid in list_snapshot_ids(table_path):
        with open(os.path.join(table_path, "snapshot", "snapshot-%d" % sid), encoding="utf-8") as f:
            snap = json.load(f)
        v = plan_version(travel(table, snapshot_id=sid), table_path, sid)
        cross_check(table_path, snap, v["files"], "snapshot %d" % sid)
        out["snapshots"].append(dict({"id": sid, "schema_id": snap["schemaId"],
                                      "commit_kind": snap["commitKind"]}, **v))
    for name, tag in list_tags(table_path):
        v = plan_version(travel(table, tag=name), table_path, tag["id"])
        cross_check(table_path, tag, v["files"], "tag %s" % name)
        out["tags"].append(dict({"name": name, "snapshot_id": tag["id"],
                                 "schema_id": tag["schemaId"]}, **v))
    return out


def read(table_path, snapshot_id=None, tag=None, branch=None):
    table = load_table(table_path, branch)
    meta = os.path.abspath(table_path) if branch is None else \
        os.path.join(os.path.abspath(table_path), "branch", "branch-" + branch)
    if snapshot_id is None and tag is None and not list_snapshot_ids(meta):
        return {"rows": 0, "checksum": "%016x" % 0}
    v = plan_version(travel(table, snapshot_id=snapshot_id, tag=tag), table_path, snapshot_id)
    return {"rows": v["rows"], "checksum": v["checksum"]}


def read_all(table_path):
    """Every snapshot file and tag file, plus the latest, in one process."""
    table_path = os.path.abspath(table_path)
    out = {"latest": read(table_path)}
    for sid in list_snapshot_ids(table_path):
        out["snapshot-%d" % sid] = read(table_path, snapshot_id=sid)
    for name, _ in list_tags(table_path):
        out["tag-" + name] = read(table_path, tag=name)
    return out


def versions_of(table_path):
    """Versions as pypaimon lists them (not the peer's own listing)."""
    table_path = os.path.abspath(table_path)
    table = load_table(table_path)
    out = {}
    latest = table.snapshot_manager().get_latest_snapshot()
    if latest is not None:
        out["latest"] = read(table_path)
    for snap in table.snapshot_manager().list_snapshots():
        out["snapshot-%d" % snap.id] = read(table_path, snapshot_id=snap.id)
    tags = table.tag_manager()
    for name in tags.list_tags():
        if tags.get(name) is None:
            continue
        out["tag-" + name] = read(table_path, tag=name)
    return out


def versions(table_paths):
    out = {}
    for p in table_paths:
        try:
            out[p] = versions_of(p)
        except Exception as e:  # noqa: BLE001 - reported per table
            out[p] = {"error": "%s: %s" % (type(e).__name__, e)}
    return out


def append(table_path, rows_json):
    """One pypaimon batch commit of JSON rows (a list of objects): pypaimon as the next writer.
    Returns the snapshot it committed."""
    import pyarrow as pa
    table = load_table(table_path)
    rows = json.loads(rows_json)
    wb = table.new_batch_write_builder()
    w = wb.new_write()
    c = wb.new_commit()
    try:
        # Let pyarrow infer, then cast to the table's own Arrow schema by column name.
        from pypaimon.schema.data_types import PyarrowFieldParser
        target = PyarrowFieldParser.from_paimon_schema(table.table_schema.fields)
        data = pa.Table.from_pylist(rows).select(target.names).cast(target)
        w.write_arrow(data)
        c.commit(w.prepare_commit())
    finally:
        w.close()
        c.close()
    return {"snapshot_id": max(list_snapshot_ids(table_path) or [0])}


def dump(doc):
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="pypaimon_peer", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("describe", help="describe every snapshot and tag of a table")
    d.add_argument("table_path")
    r = sub.add_parser("read", help="read one version: rows + checksum")
    r.add_argument("table_path")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--snapshot", type=int)
    g.add_argument("--tag")
    g.add_argument("--all", action="store_true", help="every snapshot and tag, and the latest")
    r.add_argument("--branch", help="read this branch's version (not with --all)")
    a = sub.add_parser("append", help="commit JSON rows with pypaimon (a list of objects)")
    a.add_argument("table_path")
    a.add_argument("rows_json")
    v = sub.add_parser("versions", help="what pypaimon lists and reads, for many tables")
    v.add_argument("table_paths", nargs="+")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "describe":
            doc = describe(args.table_path)
        elif args.cmd == "append":
            doc = append(args.table_path, args.rows_json)
        elif args.cmd == "versions":
            doc = versions(args.table_paths)
        elif args.all:
            doc = read_all(args.table_path)
        else:
            doc = read(args.table_path, args.snapshot, args.tag, args.branch)
    except Exception as e:  # noqa: BLE001 - a CLI: report and fail
        if os.environ.get("PEER_TRACEBACK"):
            raise
        sys.stderr.write("pypaimon_peer: error: %s: %s\n" % (type(e).__name__, e))
        return 1
    sys.stdout.write(dump(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
