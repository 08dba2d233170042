"""tagkeeper: snapshots and tags of Apache Paimon tables, from Python.

The Rust library is the one implementation: every call here is the library's own (the same the
``tagkeeper`` CLI makes), reports come back as the CLI's JSON (as dicts), plans are objects to
inspect before executing them, and rows come back as Arrow (``pyarrow.Table`` or a
``pyarrow.RecordBatchReader``) through the Arrow C data interface, without a copy.

    import tagkeeper
    t = tagkeeper.Table.open("/warehouse/default.db/orders")
    plan = t.plan_expire_snapshots(retain_min=5)
    print(plan.command, plan.file_count, plan.bytes)
    report = plan.execute()

Long calls release the GIL, can be cancelled (a :class:`CancelToken`, or Ctrl-C) and report
progress to a callback ``progress(phase, done, total, finished)``. Errors raise subclasses of
:class:`TagkeeperError`, one per error kind of the CLI's JSON (``err.kind``, ``err.hint``,
``err.exit_code``).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from . import _native
from ._native import (  # noqa: F401  (re-exported)
    AbortedError,
    AlreadyExistsError,
    BranchNotFoundError,
    CancelledError,
    CancelToken,
    CommitUnknownError,
    ConflictError,
    CorruptError,
    DataFileError,
    DeclinedError,
    ERROR_CLASSES,
    IncompleteError,
    InvalidArgumentError,
    InvalidLocationError,
    InvalidTagNameError,
    MissingFileError,
    NoSnapshotAtTimeError,
    NoSnapshotsError,
    NotATableError,
    ProblemsFoundError,
    SnapshotNotFoundError,
    StorageError,
    TagExistsError,
    TagkeeperError,
    TagNotFoundError,
    TimedOutError,
    UnsupportedError,
)

__version__ = _native.__version__

Progress = Callable[[str, int, int, bool], Any]
Millis = Union[int, _dt.datetime]

__all__ = [
    "Table",
    "Plan",
    "PlannedFile",
    "CancelToken",
    "TagkeeperError",
    "ERROR_CLASSES",
    "plan_orphan_shards",
    "scan_orphan_shard",
    "merge_orphan_results",
] + sorted(c.__name__ for c in ERROR_CLASSES.values())


def _millis(t: Optional[Millis]) -> Optional[int]:
    """Epoch milliseconds from an int (already ms) or a datetime (naive means UTC)."""
    if t is None or isinstance(t, int):
        return t
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        return int(t.timestamp() * 1000)
    raise TypeError(f"expected epoch milliseconds (int) or a datetime, got {type(t).__name__}")


def _options(store_options: Optional[Mapping[str, str]]) -> Optional[List[Tuple[str, str]]]:
    if store_options is None:
        return None
    return [(str(k), str(v)) for k, v in store_options.items()]


class PlannedFile(NamedTuple):
    """One file a plan deletes: its key relative to the table root, category and size."""

    path: str
    category: str
    bytes: int


def _planned_files(node: Any) -> List[PlannedFile]:
    # Every plan lists its deletions as objects with path, category and bytes under a "files"
    # key (expire-snapshots: files; delete-tag and expire-tags: tags[].files; orphans: files;
    # rollback: its parts' files), so one walk finds them for every command.
    out: List[PlannedFile] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "files" and isinstance(value, list):
                for f in value:
                    if isinstance(f, dict) and "path" in f and "bytes" in f:
                        out.append(PlannedFile(f["path"], str(f.get("category", "")), int(f["bytes"])))
                    else:
                        out.extend(_planned_files(f))
            else:
                out.extend(_planned_files(value))
    elif isinstance(node, list):
        for v in node:
            out.extend(_planned_files(v))
    return out


class Plan:
    """The plan of a destructive command, made and not executed.

    It is the CLI's saved plan (``--plan-out``): the command, what it will delete, and the
    table's fingerprint when it was made. :meth:`execute` runs exactly this plan, after checking
    that the table did not change since (else :class:`ConflictError`), through the command's
    own journaled code (as ``tagkeeper apply-plan``).
    """

    def __init__(self, table: "Table", saved: Dict[str, Any]):
        self._table = table
        self._saved = saved

    @classmethod
    def from_json(cls, table: "Table", text: str) -> "Plan":
        """A plan from its JSON (:meth:`to_json`, or a file written by ``--plan-out``)."""
        saved = json.loads(text)
        _native.pretty_plan(text)  # validates the format; raises InvalidArgumentError
        return cls(table, saved)

    @property
    def command(self) -> str:
        """The command: expire-snapshots, delete-tag, expire-tags, rollback-to, remove-orphan-files."""
        return self._saved["command"]

    @property
    def plan(self) -> Dict[str, Any]:
        """The command's plan, as the CLI's JSON."""
        return self._saved["plan"]

    @property
    def fingerprint(self) -> Dict[str, Any]:
        """The table's state when the plan was made."""
        return self._saved["fingerprint"]

    @property
    def created_at_millis(self) -> int:
        return self._saved["created_at_millis"]

    @property
    def files(self) -> List[PlannedFile]:
        """Every file the plan deletes."""
        return _planned_files(self.plan)

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def bytes(self) -> int:
        """Bytes the plan deletes."""
        return sum(f.bytes for f in self.files)

    @property
    def counts(self) -> Dict[str, Tuple[int, int]]:
        """Per category: (files, bytes)."""
        out: Dict[str, Tuple[int, int]] = {}
        for f in self.files:
            n, b = out.get(f.category, (0, 0))
            out[f.category] = (n + 1, b + f.bytes)
        return out

    def to_json(self, pretty: bool = True) -> str:
        """The plan as the CLI's saved-plan JSON (``apply-plan`` executes it)."""
        raw = json.dumps(self._saved)
        return _native.pretty_plan(raw) if pretty else raw

    def to_dict(self) -> Dict[str, Any]:
        return json.loads(json.dumps(self._saved))

    def execute(self, cancel: Optional[CancelToken] = None, progress: Optional[Progress] = None) -> Dict[str, Any]:
        """Execute the plan on its table; returns the command's report (the CLI's JSON)."""
        return self._table.execute(self, cancel=cancel, progress=progress)

    def __repr__(self) -> str:
        return f"<Plan {self.command}: {self.file_count} file(s), {self.bytes} bytes>"


class Table:
    """An opened Paimon table (or one of its branches)."""

    def __init__(self, native: "_native.NativeTable", store_options: Optional[Mapping[str, str]] = None, concurrency: int = 0):
        self._t = native
        self._store_options = dict(store_options) if store_options else None
        self._concurrency = concurrency

    @classmethod
    def open(
        cls,
        location: str,
        store_options: Optional[Mapping[str, str]] = None,
        *,
        concurrency: int = 0,
        branch: Optional[str] = None,
        cancel: Optional[CancelToken] = None,
    ) -> "Table":
        """Open a table: a local path, ``file://``, ``s3://``, ``gs://``, ``az://``/``abfs://``.

        ``store_options`` are the CLI's ``--store-option KEY=VALUE`` (e.g. ``aws_endpoint``);
        credentials also come from the environment, as for the CLI.
        """
        native = _native.NativeTable.open(location, _options(store_options), concurrency, branch, cancel)
        return cls(native, store_options, concurrency)

    @property
    def location(self) -> str:
        """The location (credentials masked)."""
        return self._t.location

    @property
    def branch(self) -> str:
        return self._t.branch_name

    # ----- inspection -----

    def snapshots(self) -> Dict[str, Any]:
        """The retained snapshots (``tagkeeper snapshots --json``)."""
        return json.loads(self._t.snapshots())

    def tags(self, sizes: bool = False) -> Dict[str, Any]:
        """The tags (``tagkeeper tags --json``)."""
        return json.loads(self._t.tags(sizes))

    def branches(self) -> List[str]:
        """Branch names, ``main`` first."""
        return self._t.branches()

    def consumers(self) -> Dict[str, Any]:
        return json.loads(self._t.consumers())

    def schema(self) -> Dict[str, Any]:
        return json.loads(self._t.schema())

    def files(self, *, snapshot: Optional[int] = None, tag: Optional[str] = None, timestamp: Optional[Millis] = None) -> Dict[str, Any]:
        """The live files of a version (default: the latest snapshot)."""
        return json.loads(self._t.files(snapshot, tag, _millis(timestamp)))

    def check(self, deep: bool = False, *, cancel: Optional[CancelToken] = None, progress: Optional[Progress] = None) -> Dict[str, Any]:
        """``tagkeeper check``: the report; its ``problems`` list what is missing or damaged."""
        return json.loads(self._t.check(deep, cancel, progress))

    # ----- tags -----

    def create_tag(
        self,
        name: str,
        *,
        snapshot: Optional[int] = None,
        timestamp: Optional[Millis] = None,
        watermark: Optional[int] = None,
        time_retained_secs: Optional[float] = None,
        if_not_exists: bool = False,
    ) -> Dict[str, Any]:
        """Create a tag (default: on the latest snapshot) with a conditional create."""
        return json.loads(self._t.create_tag(name, snapshot, _millis(timestamp), watermark, time_retained_secs, if_not_exists))

    def rename_tag(self, old: str, new: str) -> Dict[str, Any]:
        return json.loads(self._t.rename_tag(old, new))

    def replace_tag(
        self,
        name: str,
        *,
        snapshot: Optional[int] = None,
        timestamp: Optional[Millis] = None,
        watermark: Optional[int] = None,
        time_retained_secs: Optional[float] = None,
    ) -> Dict[str, Any]:
        return json.loads(self._t.replace_tag(name, snapshot, _millis(timestamp), watermark, time_retained_secs))

    def delete_tag(self, names: Union[str, Sequence[str]], *, cancel: Optional[CancelToken] = None, progress: Optional[Progress] = None) -> Dict[str, Any]:
        """Plan and execute delete-tag (files only the tags kept are deleted too)."""
        return self.plan_delete_tag(names).execute(cancel=cancel, progress=progress)

    # ----- plans -----

    def _plan(self, text: str) -> Plan:
        return Plan(self, json.loads(text))

    def plan_expire_snapshots(
        self,
        *,
        retain_min: Optional[int] = None,
        retain_max: Optional[int] = None,
        older_than: Optional[Millis] = None,
        max_deletes: Optional[int] = None,
    ) -> Plan:
        """Plan expire-snapshots; options not given come from the table's options."""
        return self._plan(self._t.plan_expire_snapshots(retain_min, retain_max, _millis(older_than), max_deletes))

    def plan_delete_tag(self, names: Union[str, Sequence[str]]) -> Plan:
        if isinstance(names, str):
            names = [names]
        return self._plan(self._t.plan_delete_tag(list(names)))

    def plan_expire_tags(self) -> Plan:
        """Plan the deletion of the tags whose retention has run out."""
        return self._plan(self._t.plan_expire_tags())

    def plan_rollback_to(
        self,
        *,
        tag: Optional[str] = None,
        snapshot: Optional[int] = None,
        timestamp: Optional[Millis] = None,
        watermark: Optional[int] = None,
        mode: str = "destructive",
        purge: bool = False,
    ) -> Plan:
        """Plan rollback-to (``mode``: ``destructive`` or ``as_latest``)."""
        return self._plan(self._t.plan_rollback_to(tag, snapshot, _millis(timestamp), watermark, mode, purge))

    def plan_remove_orphan_files(
        self,
        *,
        older_than: Optional[Millis] = None,
        force: bool = False,
        cancel: Optional[CancelToken] = None,
        progress: Optional[Progress] = None,
    ) -> Plan:
        """Plan remove-orphan-files (default cutoff: a day ago)."""
        return self._plan(self._t.plan_remove_orphan_files(_millis(older_than), force, cancel, progress))

    def execute(self, plan: Plan, *, cancel: Optional[CancelToken] = None, progress: Optional[Progress] = None) -> Dict[str, Any]:
        """Execute a plan (see :class:`Plan`); returns ``{"command": ..., "report": {...}}``, the
        report as the CLI's JSON. Planned deletions that failed raise :class:`IncompleteError`
        with the whole result as ``err.report`` (running the command again finishes)."""
        applied = json.loads(self._t.execute(plan.to_json(pretty=False), cancel, progress))
        report = applied["report"]
        failed = report.get("failed") or []
        if failed:
            # As the CLI: the run is incomplete (exit code 2); the report says which and why.
            err = IncompleteError(
                f"{applied['command']}: {len(failed)} planned deletion(s) failed (first {failed[0]}); run again to finish"
            )
            err.kind, err.hint, err.exit_code = "incomplete", None, 2
            err.report = applied
            raise err
        return applied

    def expire_snapshots(self, *, dry_run: bool = False, cancel: Optional[CancelToken] = None, progress: Optional[Progress] = None, **options: Any) -> Dict[str, Any]:
        """Plan expire-snapshots and, unless ``dry_run``, execute the plan. Returns the plan (dry
        run) or the execution's report."""
        plan = self.plan_expire_snapshots(**options)
        if dry_run:
            return plan.plan
        return self.execute(plan, cancel=cancel, progress=progress)["report"]

    def maintain(self, dry_run: bool = False, *, cancel: Optional[CancelToken] = None, progress: Optional[Progress] = None) -> Dict[str, Any]:
        """Java's after-commit maintenance from the table's options (``tagkeeper maintain``)."""
        return json.loads(self._t.maintain(dry_run, cancel, progress))

    def auto_tag(self, dry_run: bool = False, overrides: Optional[Mapping[str, str]] = None, *, cancel: Optional[CancelToken] = None) -> Dict[str, Any]:
        """``tagkeeper auto-tag``: create the tags the table's tag.automatic-creation asks for."""
        return json.loads(self._t.auto_tag(dry_run, _options(overrides), cancel))

    # ----- reading -----

    def read_batches(
        self,
        *,
        snapshot: Optional[int] = None,
        tag: Optional[str] = None,
        timestamp: Optional[Millis] = None,
        columns: Optional[Sequence[str]] = None,
        partitions: Optional[Union[Mapping[str, str], Iterable[Tuple[str, str]]]] = None,
        limit: Optional[int] = None,
        batch_size: Optional[int] = None,
    ):
        """A version's rows as a ``pyarrow.RecordBatchReader`` (streamed, Arrow C stream)."""
        parts = None
        if partitions is not None:
            items = partitions.items() if isinstance(partitions, Mapping) else partitions
            parts = [(str(k), str(v)) for k, v in items]
        return self._t.read_batches(
            snapshot, tag, _millis(timestamp), list(columns) if columns is not None else None, parts, limit, batch_size
        )

    def read(self, **kwargs: Any):
        """A version's rows as a ``pyarrow.Table`` (arguments as :meth:`read_batches`).

        An error while the rows stream (e.g. a missing data file) raises its own class
        (:class:`DataFileError`, ...), as an error before the first row does."""
        import pyarrow as pa

        reader = self.read_batches(**kwargs)
        try:
            return reader.read_all()
        except pa.ArrowException as e:
            raise _stream_error(e) from e

    # ----- sharded orphan scan -----

    def plan_orphan_shards(self, shards: int, *, older_than: Optional[Millis] = None, force: bool = False) -> Dict[str, Any]:
        return plan_orphan_shards(self, shards, older_than=older_than, force=force)

    def __repr__(self) -> str:
        return f"<tagkeeper.Table {self.location} branch={self.branch}>"


_STREAM_ERROR = re.compile(r"tagkeeper ([a-z_]+) ([0-9]+): (.*)", re.DOTALL)


def _stream_error(e: Exception) -> Exception:
    """The library's error behind a failed Arrow stream (its message leads with the kind and
    exit code), as its own class; any other error as it is."""
    m = _STREAM_ERROR.search(str(e))
    if not m or m.group(1) not in ERROR_CLASSES:
        return e
    err = ERROR_CLASSES[m.group(1)](m.group(3))
    err.kind, err.hint, err.exit_code = m.group(1), None, int(m.group(2))
    return err


def _table(table: Union[Table, str], store_options: Optional[Mapping[str, str]]) -> Table:
    return table if isinstance(table, Table) else Table.open(table, store_options)


def plan_orphan_shards(
    table: Union[Table, str],
    shards: int,
    *,
    older_than: Optional[Millis] = None,
    force: bool = False,
    store_options: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """Split remove-orphan-files' scan into at most ``shards`` shards (lists directories only).

    Returns the scan (plain JSON data): ``scan["shards"]`` are to be given to
    :func:`scan_orphan_shard` anywhere (each opens the table itself), and the results with the
    scan to :func:`merge_orphan_results`. Nothing is deleted before the merged plan is executed.
    """
    t = _table(table, store_options)
    return json.loads(t._t.plan_orphan_shards(shards, _millis(older_than), force))


def scan_orphan_shard(
    table: Union[Table, str],
    shard: Mapping[str, Any],
    *,
    store_options: Optional[Mapping[str, str]] = None,
    cancel: Optional[CancelToken] = None,
) -> Dict[str, Any]:
    """List one shard and decide its files against every reference of the table (read
    completely, after the listing). Deletes nothing; returns plain JSON data."""
    t = _table(table, store_options)
    return json.loads(t._t.scan_orphan_shard(json.dumps(shard), cancel))


def merge_orphan_results(table: Union[Table, str], scan: Mapping[str, Any], results: Sequence[Mapping[str, Any]], *, store_options: Optional[Mapping[str, str]] = None) -> Plan:
    """Merge every shard's result (each exactly once) into the remove-orphan-files plan the
    single-process scan makes. Execute it once (``plan.execute()``): a table that changed since
    :func:`plan_orphan_shards` is refused (:class:`ConflictError`), nothing deleted."""
    t = _table(table, store_options)
    text = t._t.merge_orphan_results(json.dumps(scan), [json.dumps(r) for r in results])
    return Plan(t, json.loads(text))
