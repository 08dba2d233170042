"""Shared helpers: the committed fixtures (pypaimon-written testdata/warehouse, Java-written
testdata/java), copied to a temporary directory before anything destructive, and the row
checksum every interop test compares (scripts/peer/pypaimon_peer.py, testdata/README.md)."""

import importlib.util
import json
import os
import shutil
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPAIMON_DB = REPO / "testdata" / "warehouse" / "default.db"
JAVA_DB = REPO / "testdata" / "java" / "warehouse" / "default.db"
DAY_MS = 86_400_000


def _peer():
    spec = importlib.util.spec_from_file_location("pypaimon_peer", REPO / "scripts" / "peer" / "pypaimon_peer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # imports pypaimon only inside its table helpers
    return mod


_PEER = _peer()


def checksum(table):
    """(rows, checksum) of a pyarrow.Table, as the peers compute them."""
    names = table.column_names
    rows = ([r[n] for n in names] for r in table.to_pylist())
    return _PEER.checksum_rows(rows)


def pypaimon_tables():
    return sorted(p.stem for p in (REPO / "testdata" / "expected").glob("*.json"))


def pypaimon_expected(name):
    return json.loads((REPO / "testdata" / "expected" / f"{name}.json").read_text())


def java_expected(name):
    return json.loads((REPO / "testdata" / "java" / "expected" / f"{name}.json").read_text())


def age_everything(root: Path, age_ms: int = 3 * DAY_MS):
    """Set every file's and directory's modification time `age_ms` in the past."""
    t = time.time() - age_ms / 1000
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames + dirnames:
            os.utime(os.path.join(dirpath, n), (t, t))


def all_files(root: Path):
    """Every file under a table: key -> size."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            p = Path(dirpath) / n
            out[p.relative_to(root).as_posix()] = p.stat().st_size
    return out


@pytest.fixture
def copy_table(tmp_path):
    """copy_table(name, java=False) -> Path of a private copy of a fixture table."""

    def copy(name, java=False):
        src = (JAVA_DB if java else PYPAIMON_DB) / name
        dest = tmp_path / "default.db" / name
        shutil.copytree(src, dest, symlinks=True)
        return dest

    return copy
