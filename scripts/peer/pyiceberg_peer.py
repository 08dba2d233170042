"""pyiceberg (pinned in testdata/requirements.txt) reading the Iceberg view of a Paimon table
with Iceberg-compatible metadata (`metadata.iceberg.storage = table-location`).

    python scripts/peer/pyiceberg_peer.py refs TABLE_DIR
    python scripts/peer/pyiceberg_peer.py read TABLE_DIR

`read` reads the rows of the current snapshot and of every tag ref through pyiceberg's own
scan (its manifests, then the data files they name) and prints, for each, the snapshot id and
the sorted values of the `id` column: {"current": {...}, "refs": {name: {...}}}.

Loads the metadata file `metadata/version-hint.text` names (as an Iceberg reader of a
Hadoop-style table does) with pyiceberg's own parser and prints one JSON document:
{"metadata": file, "current_snapshot_id": id, "snapshots": [ids], "refs": {name: {"snapshot_id",
"type"}}}. Exits non-zero if pyiceberg cannot load the metadata or a ref names a snapshot
the metadata does not have (what breaks every Iceberg query: Paimon #6425).
"""

import json
import os
import sys

from pyiceberg.table import StaticTable


def refs(table_dir: str) -> dict:
    meta_dir = os.path.join(os.path.abspath(table_dir), "metadata")
    with open(os.path.join(meta_dir, "version-hint.text")) as f:
        version = f.read().strip()
    path = os.path.join(meta_dir, f"v{version}.metadata.json")
    table = StaticTable.from_metadata(path)
    md = table.metadata
    snapshots = sorted(s.snapshot_id for s in md.snapshots)
    out = {
        "metadata": f"v{version}.metadata.json",
        "current_snapshot_id": md.current_snapshot_id,
        "snapshots": snapshots,
        "refs": {
            name: {"snapshot_id": r.snapshot_id, "type": str(r.snapshot_ref_type.value)}
            for name, r in sorted(md.refs.items())
        },
    }
    for name, r in md.refs.items():
        if table.snapshot_by_id(r.snapshot_id) is None:
            raise SystemExit(f"ref {name} names snapshot {r.snapshot_id}, not in {path}")
    return out


def read(table_dir: str) -> dict:
    meta_dir = os.path.join(os.path.abspath(table_dir), "metadata")
    with open(os.path.join(meta_dir, "version-hint.text")) as f:
        version = f.read().strip()
    table = StaticTable.from_metadata(os.path.join(meta_dir, f"v{version}.metadata.json"))

    def rows(snapshot_id: int) -> dict:
        ids = table.scan(snapshot_id=snapshot_id).to_arrow().column("id").to_pylist()
        return {"snapshot_id": snapshot_id, "ids": sorted(ids)}

    md = table.metadata
    return {
        "current": rows(md.current_snapshot_id),
        "refs": {
            name: rows(r.snapshot_id)
            for name, r in sorted(md.refs.items())
            if name != "main"
        },
    }


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in ("refs", "read"):
        raise SystemExit(__doc__)
    out = refs(sys.argv[2]) if sys.argv[1] == "refs" else read(sys.argv[2])
    print(json.dumps(out, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
