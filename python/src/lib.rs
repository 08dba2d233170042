//! `tagkeeper._native`: the Python binding of the tagkeeper library. Thin by design: every
//! operation is the library's own call (the same ones the CLI makes); reports and plans cross
//! as the library's JSON (serde), which the pure-Python package `tagkeeper` wraps in classes;
//! rows cross as Arrow through the C data interface (no copy, no Python object per row).
//!
//! Every call runs its future on one shared tokio runtime with the GIL released, waking every
//! 50 ms to deliver progress events to the Python callback, to let Ctrl-C raise
//! `KeyboardInterrupt` and to honour a `CancelToken`. Cancelling drops the future at its next
//! await point and waits until it is dropped: exactly what the CLI's `--timeout` does, which
//! the library's journals make safe (a destructive run stopped half-way is finished by the
//! next run of the command, as after a crash).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::pyarrow::IntoPyArrow;
use arrow::record_batch::RecordBatchReader;
use futures::StreamExt;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tracing::instrument::WithSubscriber;

use tagkeeper::clock::{Clock, SystemClock};
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::StoreOptions;
use tagkeeper::ops::orphans::shard::{self, OrphanShard, ShardResult, ShardedScan};
use tagkeeper::ops::saved_plan::{self, PlannedCommand, SavedPlan};
use tagkeeper::table::{Table, VersionSpec};

// ----- exceptions: one class per `Error::kind()` -----

pyo3::create_exception!(
    _native,
    TagkeeperError,
    PyException,
    "Base class of every tagkeeper error; `kind`, `hint` and `exit_code` as the CLI reports them."
);

macro_rules! kinds {
    ($($class:ident => $kind:literal),* $(,)?) => {
        $(pyo3::create_exception!(_native, $class, TagkeeperError, concat!("tagkeeper error kind `", $kind, "`."));)*

        fn error_class<'py>(py: Python<'py>, kind: &str) -> Bound<'py, pyo3::types::PyType> {
            match kind {
                $($kind => py.get_type::<$class>(),)*
                _ => py.get_type::<TagkeeperError>(),
            }
        }

        fn add_error_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
            let py = m.py();
            m.add("TagkeeperError", py.get_type::<TagkeeperError>())?;
            $(m.add(stringify!($class), py.get_type::<$class>())?;)*
            let kinds = PyDict::new(py);
            $(kinds.set_item($kind, py.get_type::<$class>())?;)*
            m.add("ERROR_CLASSES", kinds)?;
            Ok(())
        }
    };
}

kinds! {
    NotATableError => "not_a_table",
    InvalidLocationError => "invalid_location",
    SnapshotNotFoundError => "snapshot_not_found",
    TagNotFoundError => "tag_not_found",
    TagExistsError => "tag_exists",
    BranchNotFoundError => "branch_not_found",
    NoSnapshotAtTimeError => "no_snapshot_at_time",
    NoSnapshotsError => "no_snapshots",
    InvalidTagNameError => "invalid_tag_name",
    InvalidArgumentError => "invalid_argument",
    CorruptError => "corrupt",
    MissingFileError => "missing_file",
    DataFileError => "data_file",
    AlreadyExistsError => "already_exists",
    UnsupportedError => "unsupported",
    ConflictError => "conflict",
    IncompleteError => "incomplete",
    ProblemsFoundError => "problems_found",
    CommitUnknownError => "commit_unknown",
    StorageError => "storage",
    AbortedError => "aborted",
    DeclinedError => "declined",
    TimedOutError => "timed_out",
    CancelledError => "cancelled",
}

/// A Python exception for a library error: the class of its kind, with `kind`, `hint` and
/// `exit_code` set. Messages pass through the library's redaction, as the CLI's do.
fn to_py(e: tagkeeper::Error) -> PyErr {
    let message = tagkeeper::redact::redact(&e.to_string());
    Python::attach(|py| raise(py, e.kind(), &message, e.hint(), i64::from(e.exit_code())))
}

fn raise(py: Python<'_>, kind: &str, message: &str, hint: Option<&str>, code: i64) -> PyErr {
    let class = error_class(py, kind);
    match class.call1((message,)) {
        Ok(value) => {
            let _ = value.setattr("kind", kind);
            let _ = value.setattr("hint", hint);
            let _ = value.setattr("exit_code", code);
            PyErr::from_value(value)
        }
        Err(e) => e,
    }
}

fn invalid(message: impl Into<String>) -> PyErr {
    to_py(tagkeeper::Error::InvalidArgument(message.into()))
}

// ----- the runtime, cancellation and progress -----

fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("tagkeeper")
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| invalid(format!("cannot start the tokio runtime: {e}")))
}

/// A flag a caller sets from another thread (or a signal handler) to stop a running call.
#[pyclass(module = "tagkeeper._native", frozen)]
#[derive(Debug, Default)]
struct CancelToken {
    flag: Arc<AtomicBool>,
}

#[pymethods]
impl CancelToken {
    #[new]
    fn new() -> Self {
        CancelToken::default()
    }

    /// Ask the running call to stop (at its next await point).
    fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether `cancel()` was called.
    #[getter]
    fn cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// One progress event of the library (`tagkeeper::progress`).
struct ProgressEvent {
    phase: String,
    done: u64,
    total: u64,
    finished: bool,
}

/// A tracing subscriber, installed for one call's future only, that forwards the library's
/// progress events to a channel the waiting Python thread drains.
struct ProgressSink {
    tx: mpsc::Sender<ProgressEvent>,
}

#[derive(Default)]
struct Fields {
    phase: String,
    done: u64,
    total: u64,
    finished: bool,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "phase" {
            self.phase = format!("{value:?}").trim_matches('"').to_string();
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "phase" {
            self.phase = value.to_string();
        }
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        match field.name() {
            "done" => self.done = value,
            "total" => self.total = value,
            _ => {}
        }
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.record_u64(field, value.max(0) as u64);
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        if field.name() == "finished" {
            self.finished = value;
        }
    }
}

impl tracing::Subscriber for ProgressSink {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == tagkeeper::progress::TARGET
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let _ = self.tx.send(ProgressEvent {
            phase: f.phase,
            done: f.done,
            total: f.total,
            finished: f.finished,
        });
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Run `fut` on the runtime with the GIL released; see the module comment.
fn run<T, F>(
    py: Python<'_>,
    fut: F,
    cancel: Option<&CancelToken>,
    progress: Option<Py<PyAny>>,
) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = tagkeeper::Result<T>> + Send + 'static,
{
    let rt = runtime()?;
    if cancel.is_some_and(|c| c.cancelled()) {
        return Err(cancelled(py));
    }
    let (tx, rx) = mpsc::channel();
    let mut handle = match progress {
        Some(_) => rt.spawn(fut.with_subscriber(ProgressSink { tx })),
        None => rt.spawn(fut),
    };
    let stop = |handle: &mut tokio::task::JoinHandle<_>, py: Python<'_>| {
        handle.abort();
        // Wait until the task is dropped: nothing of it runs after the exception is raised.
        let _ = py.detach(|| rt.block_on(&mut *handle));
    };
    loop {
        let done = py.detach(|| {
            rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(50), &mut handle).await
            })
        });
        if let Some(cb) = &progress {
            while let Ok(ev) = rx.try_recv() {
                if let Err(e) = cb.call1(py, (ev.phase, ev.done, ev.total, ev.finished)) {
                    // A finished task is not awaited again.
                    if done.is_err() {
                        stop(&mut handle, py);
                    }
                    return Err(e);
                }
            }
        }
        match done {
            Ok(Ok(result)) => return result.map_err(to_py),
            Ok(Err(join)) => {
                return Err(invalid(format!("the operation failed: {join}")));
            }
            Err(_elapsed) => {
                if let Err(e) = py.check_signals() {
                    stop(&mut handle, py);
                    return Err(e);
                }
                if cancel.is_some_and(|c| c.cancelled()) {
                    stop(&mut handle, py);
                    return Err(cancelled(py));
                }
            }
        }
    }
}

fn cancelled(py: Python<'_>) -> PyErr {
    raise(
        py,
        "cancelled",
        "cancelled: stopped at an await point, as --timeout stops the CLI; a destructive run \
         stopped half-way is finished by its next run",
        None,
        2,
    )
}

fn to_json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| invalid(format!("cannot encode the report: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> PyResult<T> {
    serde_json::from_str(text).map_err(|e| invalid(format!("not a {what}: {e}")))
}

fn version_spec(
    snapshot: Option<i64>,
    tag: Option<&str>,
    timestamp_millis: Option<i64>,
) -> PyResult<VersionSpec> {
    match (snapshot, tag, timestamp_millis) {
        (None, None, None) => Ok(VersionSpec::Latest),
        (Some(id), None, None) => Ok(VersionSpec::Snapshot(SnapshotId(id))),
        (None, Some(t), None) => Ok(VersionSpec::Tag(TagName::new(t).map_err(to_py)?)),
        (None, None, Some(ms)) => Ok(VersionSpec::Timestamp(ms)),
        _ => Err(invalid(
            "give at most one of snapshot, tag and timestamp_millis",
        )),
    }
}

fn tag_names(names: Vec<String>) -> PyResult<Vec<TagName>> {
    names
        .iter()
        .map(|n| TagName::new(n).map_err(to_py))
        .collect()
}

fn tag_source(
    snapshot: Option<i64>,
    timestamp_millis: Option<i64>,
    watermark: Option<i64>,
) -> PyResult<tagkeeper::ops::tag::TagSource> {
    use tagkeeper::ops::tag::TagSource;
    match (snapshot, timestamp_millis, watermark) {
        (None, None, None) => Ok(TagSource::Latest),
        (Some(id), None, None) => Ok(TagSource::Snapshot(SnapshotId(id))),
        (None, Some(ms), None) => Ok(TagSource::Timestamp(ms)),
        (None, None, Some(w)) => Ok(TagSource::Watermark(w)),
        _ => Err(invalid(
            "give at most one of snapshot, timestamp_millis and watermark",
        )),
    }
}

// ----- the table -----

/// An opened table (the native half of `tagkeeper.Table`).
#[pyclass(module = "tagkeeper._native", frozen)]
#[derive(Debug)]
struct NativeTable {
    table: Table,
}

impl NativeTable {
    fn t(&self) -> Table {
        self.table.clone()
    }
}

/// Saved plan JSON (the `--plan-out` format) of a planned command on `table`.
async fn saved(table: &Table, command: PlannedCommand) -> tagkeeper::Result<String> {
    let s = saved_plan::save(table, command, SystemClock.now_millis()).await?;
    serde_json::to_string(&s)
        .map_err(|e| tagkeeper::Error::InvalidArgument(format!("cannot encode the plan: {e}")))
}

fn refuse_branch_plan(table: &Table) -> PyResult<()> {
    if table.is_branch() {
        return Err(invalid(format!(
            "plans are for main only (a saved plan records no branch): open the table without \
             branch {}",
            table.branch_name()
        )));
    }
    Ok(())
}

#[pymethods]
impl NativeTable {
    #[staticmethod]
    #[pyo3(signature = (location, store_options=None, concurrency=0, branch=None, cancel=None))]
    fn open(
        py: Python<'_>,
        location: String,
        store_options: Option<Vec<(String, String)>>,
        concurrency: usize,
        branch: Option<String>,
        cancel: Option<&CancelToken>,
    ) -> PyResult<NativeTable> {
        let opts = StoreOptions {
            options: store_options.unwrap_or_default(),
            concurrency,
        };
        let table = run(
            py,
            async move {
                let t = Table::open(&location, &opts).await?;
                match branch {
                    Some(b) => t.branch(&b).await,
                    None => Ok(t),
                }
            },
            cancel,
            None,
        )?;
        Ok(NativeTable { table })
    }

    #[getter]
    fn location(&self) -> String {
        tagkeeper::redact::redact(self.table.location())
    }

    #[getter]
    fn branch_name(&self) -> String {
        self.table.branch_name().to_string()
    }

    fn snapshots(&self, py: Python<'_>) -> PyResult<String> {
        let t = self.t();
        let r = run(
            py,
            async move { tagkeeper::inspect::snapshots(&t).await },
            None,
            None,
        )?;
        to_json(&r)
    }

    #[pyo3(signature = (sizes=false))]
    fn tags(&self, py: Python<'_>, sizes: bool) -> PyResult<String> {
        let t = self.t();
        let r = run(
            py,
            async move { tagkeeper::inspect::tags_with(&t, sizes).await },
            None,
            None,
        )?;
        to_json(&r)
    }

    fn branches(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let t = self.t();
        run(
            py,
            async move {
                Ok(t.branches()
                    .await?
                    .into_iter()
                    .map(|b| b.name)
                    .collect::<Vec<_>>())
            },
            None,
            None,
        )
    }

    fn consumers(&self, py: Python<'_>) -> PyResult<String> {
        let t = self.t();
        let r = run(
            py,
            async move { tagkeeper::ops::consumers::list(&t).await },
            None,
            None,
        )?;
        to_json(&r)
    }

    fn schema(&self, py: Python<'_>) -> PyResult<String> {
        let t = self.t();
        let r = run(
            py,
            async move { tagkeeper::inspect::schema(&t).await },
            None,
            None,
        )?;
        to_json(&r)
    }

    #[pyo3(signature = (snapshot=None, tag=None, timestamp_millis=None))]
    fn files(
        &self,
        py: Python<'_>,
        snapshot: Option<i64>,
        tag: Option<String>,
        timestamp_millis: Option<i64>,
    ) -> PyResult<String> {
        let spec = version_spec(snapshot, tag.as_deref(), timestamp_millis)?;
        let t = self.t();
        let r = run(
            py,
            async move { tagkeeper::inspect::files(&t, &spec).await },
            None,
            None,
        )?;
        to_json(&r)
    }

    #[pyo3(signature = (name, snapshot=None, timestamp_millis=None, watermark=None, time_retained_secs=None, if_not_exists=false))]
    #[allow(clippy::too_many_arguments)]
    fn create_tag(
        &self,
        py: Python<'_>,
        name: String,
        snapshot: Option<i64>,
        timestamp_millis: Option<i64>,
        watermark: Option<i64>,
        time_retained_secs: Option<f64>,
        if_not_exists: bool,
    ) -> PyResult<String> {
        let req = tagkeeper::ops::tag::CreateTag {
            name: TagName::new(&name).map_err(to_py)?,
            source: tag_source(snapshot, timestamp_millis, watermark)?,
            time_retained: retention(time_retained_secs)?,
            if_not_exists,
        };
        let t = self.t();
        let r = run(
            py,
            async move { tagkeeper::ops::tag::create_tag(&t, &req, &SystemClock).await },
            None,
            None,
        )?;
        to_json(&r)
    }

    fn rename_tag(&self, py: Python<'_>, old: String, new: String) -> PyResult<String> {
        let (from, to) = (
            TagName::new(&old).map_err(to_py)?,
            TagName::new(&new).map_err(to_py)?,
        );
        let t = self.t();
        let r = run(
            py,
            async move { tagkeeper::ops::tag::rename_tag(&t, &from, &to).await },
            None,
            None,
        )?;
        to_json(&r)
    }

    #[pyo3(signature = (name, snapshot=None, timestamp_millis=None, watermark=None, time_retained_secs=None))]
    fn replace_tag(
        &self,
        py: Python<'_>,
        name: String,
        snapshot: Option<i64>,
        timestamp_millis: Option<i64>,
        watermark: Option<i64>,
        time_retained_secs: Option<f64>,
    ) -> PyResult<String> {
        let name = TagName::new(&name).map_err(to_py)?;
        let source = tag_source(snapshot, timestamp_millis, watermark)?;
        let keep = retention(time_retained_secs)?;
        let t = self.t();
        let r = run(
            py,
            async move {
                tagkeeper::ops::tag::replace_tag(&t, &name, &source, keep, &SystemClock).await
            },
            None,
            None,
        )?;
        to_json(&r)
    }

    /// Plan expire-snapshots; `None` options come from the table's options.
    #[pyo3(signature = (retain_min=None, retain_max=None, older_than_millis=None, max_deletes=None))]
    fn plan_expire_snapshots(
        &self,
        py: Python<'_>,
        retain_min: Option<u64>,
        retain_max: Option<u64>,
        older_than_millis: Option<i64>,
        max_deletes: Option<u64>,
    ) -> PyResult<String> {
        refuse_branch_plan(&self.table)?;
        let t = self.t();
        run(
            py,
            async move {
                use tagkeeper::ops::expire::{plan, ExpireOptions};
                let now = SystemClock.now_millis();
                let schema = t.latest_schema().await?;
                let mut opts = ExpireOptions::from_table(&schema.options)?;
                if let Some(v) = retain_min {
                    opts.retain_min = v;
                }
                if let Some(v) = retain_max {
                    opts.retain_max = v;
                }
                if let Some(v) = max_deletes {
                    opts.expire_limit = v;
                }
                if let Some(cutoff) = older_than_millis {
                    opts.time_retained_millis = now - cutoff;
                }
                let p = plan(&t, &opts, now).await?;
                saved(&t, PlannedCommand::ExpireSnapshots(p)).await
            },
            None,
            None,
        )
    }

    fn plan_delete_tag(&self, py: Python<'_>, names: Vec<String>) -> PyResult<String> {
        refuse_branch_plan(&self.table)?;
        let names = tag_names(names)?;
        let t = self.t();
        run(
            py,
            async move {
                let p = tagkeeper::ops::delete_tag::plan(&t, &names).await?;
                saved(&t, PlannedCommand::DeleteTag(p)).await
            },
            None,
            None,
        )
    }

    fn plan_expire_tags(&self, py: Python<'_>) -> PyResult<String> {
        refuse_branch_plan(&self.table)?;
        let t = self.t();
        run(
            py,
            async move {
                let p = tagkeeper::ops::expire_tags::plan(&t, &SystemClock, None).await?;
                saved(&t, PlannedCommand::ExpireTags(p)).await
            },
            None,
            None,
        )
    }

    #[pyo3(signature = (tag=None, snapshot=None, timestamp_millis=None, watermark=None, mode="destructive", purge=false))]
    #[allow(clippy::too_many_arguments)]
    fn plan_rollback_to(
        &self,
        py: Python<'_>,
        tag: Option<String>,
        snapshot: Option<i64>,
        timestamp_millis: Option<i64>,
        watermark: Option<i64>,
        mode: &str,
        purge: bool,
    ) -> PyResult<String> {
        use tagkeeper::ops::rollback::{RollbackMode, RollbackTarget};
        refuse_branch_plan(&self.table)?;
        let target = match (tag, snapshot, timestamp_millis, watermark) {
            (Some(t), None, None, None) => RollbackTarget::Tag(TagName::new(&t).map_err(to_py)?),
            (None, Some(id), None, None) => RollbackTarget::Snapshot(SnapshotId(id)),
            (None, None, Some(ms), None) => RollbackTarget::Timestamp(ms),
            (None, None, None, Some(w)) => RollbackTarget::Watermark(w),
            _ => {
                return Err(invalid(
                    "give exactly one of tag, snapshot, timestamp_millis and watermark",
                ))
            }
        };
        let mode = match (mode, purge) {
            ("destructive", purge) => RollbackMode::Destructive { purge },
            ("as_latest", false) => RollbackMode::AsLatest,
            ("as_latest", true) => return Err(invalid("purge is for mode 'destructive' only")),
            (other, _) => {
                return Err(invalid(format!(
                    "mode {other:?} is not 'destructive' or 'as_latest'"
                )))
            }
        };
        let t = self.t();
        run(
            py,
            async move {
                let p = tagkeeper::ops::rollback::plan(&t, &target, mode).await?;
                saved(&t, PlannedCommand::RollbackTo(Box::new(p.to_saved()?))).await
            },
            None,
            None,
        )
    }

    #[pyo3(signature = (older_than_millis=None, force=false, cancel=None, progress=None))]
    fn plan_remove_orphan_files(
        &self,
        py: Python<'_>,
        older_than_millis: Option<i64>,
        force: bool,
        cancel: Option<&CancelToken>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        refuse_branch_plan(&self.table)?;
        let opts = tagkeeper::ops::orphans::OrphanOptions {
            older_than_millis,
            force,
        };
        let t = self.t();
        run(
            py,
            async move {
                let p = tagkeeper::ops::orphans::plan(&t, &opts, &SystemClock).await?;
                saved(&t, PlannedCommand::RemoveOrphanFiles(p)).await
            },
            cancel,
            progress,
        )
    }

    /// Execute a saved plan (JSON): the table's fingerprint is checked first, and the plan runs
    /// through the command's own journaled code, exactly as `apply-plan`.
    #[pyo3(signature = (plan_json, cancel=None, progress=None))]
    fn execute(
        &self,
        py: Python<'_>,
        plan_json: &str,
        cancel: Option<&CancelToken>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        refuse_branch_plan(&self.table)?;
        let plan = saved_plan::decode(plan_json.as_bytes(), "the plan").map_err(to_py)?;
        let t = self.t();
        let applied = run(
            py,
            async move { saved_plan::apply(&t, plan, "the plan", &SystemClock).await },
            cancel,
            progress,
        )?;
        to_json(&applied)
    }

    #[pyo3(signature = (deep=false, cancel=None, progress=None))]
    fn check(
        &self,
        py: Python<'_>,
        deep: bool,
        cancel: Option<&CancelToken>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let t = self.t();
        let opts = tagkeeper::ops::check::CheckOptions { deep };
        let r = run(
            py,
            async move { tagkeeper::ops::check::check(&t, &opts).await },
            cancel,
            progress,
        )?;
        to_json(&r)
    }

    #[pyo3(signature = (dry_run=false, cancel=None, progress=None))]
    fn maintain(
        &self,
        py: Python<'_>,
        dry_run: bool,
        cancel: Option<&CancelToken>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let t = self.t();
        let r = run(
            py,
            async move { tagkeeper::ops::expire_tags::maintain(&t, &SystemClock, dry_run).await },
            cancel,
            progress,
        )?;
        to_json(&r)
    }

    #[pyo3(signature = (dry_run=false, overrides=None, cancel=None))]
    fn auto_tag(
        &self,
        py: Python<'_>,
        dry_run: bool,
        overrides: Option<Vec<(String, String)>>,
        cancel: Option<&CancelToken>,
    ) -> PyResult<String> {
        let t = self.t();
        let run_opts = tagkeeper::ops::auto_tag::AutoTagRun {
            overrides: overrides.unwrap_or_default(),
            dry_run,
            skip_time_expire: false,
        };
        let r = run(
            py,
            async move { tagkeeper::ops::auto_tag::auto_tag(&t, &run_opts, &SystemClock).await },
            cancel,
            None,
        )?;
        to_json(&r)
    }

    /// Time-travel read as a `pyarrow.RecordBatchReader` over the Arrow C stream interface:
    /// batches are decoded on the runtime as the reader is pulled.
    #[pyo3(signature = (snapshot=None, tag=None, timestamp_millis=None, columns=None, partitions=None, limit=None, batch_size=None))]
    #[allow(clippy::too_many_arguments)]
    fn read_batches(
        &self,
        py: Python<'_>,
        snapshot: Option<i64>,
        tag: Option<String>,
        timestamp_millis: Option<i64>,
        columns: Option<Vec<String>>,
        partitions: Option<Vec<(String, String)>>,
        limit: Option<u64>,
        batch_size: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        let mut opts = tagkeeper::read::ReadOptions {
            version: version_spec(snapshot, tag.as_deref(), timestamp_millis)?,
            columns,
            partitions: partitions.unwrap_or_default(),
            limit,
            ..Default::default()
        };
        if let Some(b) = batch_size {
            if b == 0 {
                return Err(invalid("batch_size must be at least 1"));
            }
            opts.batch_size = b;
        }
        let t = self.t();
        let stream = run(
            py,
            async move { tagkeeper::read::read(&t, &opts).await },
            None,
            None,
        )?;
        let reader: Box<dyn RecordBatchReader + Send> = Box::new(BlockingReader {
            schema: stream.schema(),
            stream,
            rt: runtime()?.handle().clone(),
        });
        Ok(reader.into_pyarrow(py)?.unbind())
    }

    // ----- the sharded orphan scan -----

    #[pyo3(signature = (shards, older_than_millis=None, force=false))]
    fn plan_orphan_shards(
        &self,
        py: Python<'_>,
        shards: usize,
        older_than_millis: Option<i64>,
        force: bool,
    ) -> PyResult<String> {
        let opts = tagkeeper::ops::orphans::OrphanOptions {
            older_than_millis,
            force,
        };
        let t = self.t();
        let scan = run(
            py,
            async move { shard::plan_shards(&t, &opts, shards, &SystemClock).await },
            None,
            None,
        )?;
        to_json(&scan)
    }

    #[pyo3(signature = (shard_json, cancel=None))]
    fn scan_orphan_shard(
        &self,
        py: Python<'_>,
        shard_json: &str,
        cancel: Option<&CancelToken>,
    ) -> PyResult<String> {
        let s: OrphanShard = from_json(shard_json, "orphan shard")?;
        let t = self.t();
        let r = run(
            py,
            async move { shard::scan_shard(&t, &s).await },
            cancel,
            None,
        )?;
        to_json(&r)
    }

    fn merge_orphan_results(&self, scan_json: &str, results_json: Vec<String>) -> PyResult<String> {
        let scan: ShardedScan = from_json(scan_json, "sharded orphan scan")?;
        let results: Vec<ShardResult> = results_json
            .iter()
            .map(|r| from_json(r, "orphan shard result"))
            .collect::<PyResult<_>>()?;
        let plan: SavedPlan =
            shard::merge(&scan, results, self.table.location(), &SystemClock).map_err(to_py)?;
        to_json(&plan)
    }
}

fn retention(secs: Option<f64>) -> PyResult<Option<Duration>> {
    secs.map(|s| {
        Duration::try_from_secs_f64(s).map_err(|e| invalid(format!("time_retained_secs {s}: {e}")))
    })
    .transpose()
}

/// A blocking `RecordBatchReader` over the library's async stream: each batch is awaited on
/// the runtime (pyarrow pulls batches with the GIL released).
struct BlockingReader {
    schema: SchemaRef,
    stream: tagkeeper::read::RecordBatchStream,
    rt: tokio::runtime::Handle,
}

impl Iterator for BlockingReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.rt.block_on(self.stream.next())?;
        Some(next.map_err(|e| {
            // The kind and exit code lead the message: `Table.read` raises the error's own
            // class from them (pyarrow raises its own exception for a failed stream).
            ArrowError::ExternalError(Box::new(std::io::Error::other(format!(
                "tagkeeper {} {}: {}",
                e.kind(),
                e.exit_code(),
                tagkeeper::redact::redact(&e.to_string())
            ))))
        }))
    }
}

impl RecordBatchReader for BlockingReader {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// The saved plan's JSON, pretty (the `--plan-out` file).
#[pyfunction]
fn pretty_plan(plan_json: &str) -> PyResult<String> {
    let p = saved_plan::decode(plan_json.as_bytes(), "the plan").map_err(to_py)?;
    serde_json::to_string_pretty(&p).map_err(|e| invalid(format!("cannot encode the plan: {e}")))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeTable>()?;
    m.add_class::<CancelToken>()?;
    m.add_function(wrap_pyfunction!(pretty_plan, m)?)?;
    add_error_classes(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
