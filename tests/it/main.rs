//! Integration tests, one binary (every extra test binary re-links arrow and parquet).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    unreachable_pub
)]

mod as_latest;
mod auto_tag;
mod bad_input;
mod branches;
mod changelog_read;
mod changelogs;
mod check;
mod cli;
mod common;
mod concurrency;
mod confirm;
mod consumers;
mod corruption;
mod crash;
mod delete_tag;
mod expire;
mod failure_policy;
mod faults;
mod fixtures;
mod fleet;
mod iceberg;
mod interop;
mod java_interop;
mod liveness;
mod liveness_props;
mod oracle;
mod orphans;
#[cfg(target_os = "linux")]
mod process_crash;
mod read;
mod read_built;
mod read_cli;
mod rollback;
mod s3;
mod saved_plan;
mod secrets;
mod tags;
mod write;
