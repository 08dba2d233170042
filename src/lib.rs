//! # tagkeeper
//!
//! Snapshots and tags of Apache Paimon tables in object stores: read them exactly as Java Paimon
//! and pypaimon write them, and (in later modules) tag, expire, roll back and clean them safely.
//!
//! The crate is layered (see `README.md`):
//!
//! * [`format`] — pure codecs, bytes in and types out: snapshot, tag and schema JSON, Avro
//!   manifests, `BinaryRow`, partition paths and file names. No I/O, no clock.
//! * [`io`] — the one I/O layer over `object_store`: bounded concurrency, error mapping,
//!   conditional creates.
//! * [`table`] — the read side of a table: snapshot ranges, tags, schemas, time-travel targets
//!   and the live files of a version.
//! * [`reach`] — pure set logic over manifests (which files are live).
//! * [`liveness`] — the one liveness model every deleting command decides through.
//! * [`inspect`] — the reports behind `tagkeeper snapshots|tags|files|schema|diff`.
//! * [`read`] — time-travel read: a version's rows as Arrow record batches, streamed.
//! * [`redact`] — the one redaction layer every printed line and log line passes through.
//!
//! ```no_run
//! # async fn demo() -> tagkeeper::Result<()> {
//! use tagkeeper::io::StoreOptions;
//! use tagkeeper::table::{Table, VersionSpec};
//!
//! let table = Table::open("/warehouse/default.db/orders", &StoreOptions::default()).await?;
//! let report = tagkeeper::inspect::files(&table, &VersionSpec::Latest).await?;
//! println!("{} files, {} rows", report.total_files, report.total_rows);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod clock;
pub mod error;
pub mod format;
pub mod inspect;
pub mod io;
pub mod liveness;
pub mod ops;
pub mod progress;
pub mod reach;
pub mod read;
pub mod redact;
pub mod table;
pub mod write;

pub use error::{Error, ExitClass, FailedDeletion, Result};
