//! One function per command: open the table, call the library, hand the report to the printer.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone};
use clap::Args;

use super::output::{self, Printer};
use super::{Command, GlobalArgs};
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::inspect;
use tagkeeper::table::VersionSpec;
use tagkeeper::{Error, Result};

/// Commands that take only a table.
#[derive(Debug, Args)]
pub(crate) struct TableArg {
    /// Table location: a local path or an object-store URL (s3://bucket/warehouse/db.db/t).
    table: String,
}

/// Arguments selecting a version of a table.
#[derive(Debug, Args)]
#[group(id = "version", multiple = false)]
pub(crate) struct VersionArgs {
    /// A retained snapshot id.
    #[arg(long, group = "version")]
    snapshot: Option<i64>,
    /// A tag name.
    #[arg(long, group = "version")]
    tag: Option<String>,
    /// The latest snapshot committed at or before this time: epoch milliseconds, RFC 3339
    /// (2024-01-02T10:00:00Z), or a local time (2024-01-02 10:00[:00]) as Paimon reads
    /// `scan.timestamp`.
    #[arg(long, group = "version", value_name = "TS")]
    timestamp: Option<String>,
}

impl VersionArgs {
    pub(crate) fn spec(&self) -> Result<VersionSpec> {
        if let Some(id) = self.snapshot {
            if id < 1 {
                return Err(Error::InvalidArgument(format!(
                    "--snapshot must be a positive snapshot id, got {id}"
                )));
            }
            return Ok(VersionSpec::Snapshot(SnapshotId(id)));
        }
        if let Some(name) = &self.tag {
            let name = TagName::from_listing(name).ok_or_else(|| Error::InvalidTagName {
                name: name.clone(),
                reason: "not a tag name".to_string(),
            })?;
            return Ok(VersionSpec::Tag(name));
        }
        if let Some(ts) = &self.timestamp {
            return parse_timestamp(ts).map(VersionSpec::Timestamp);
        }
        Ok(VersionSpec::Latest)
    }
}

/// `tags` arguments.
#[derive(Debug, Args)]
pub(crate) struct TagsArgs {
    #[command(flatten)]
    table: TableArg,
    /// Also compute the bytes each tag holds exclusively (what deleting it alone would free)
    /// and shares. Reads each tag's manifests and its neighbours'.
    #[arg(long)]
    sizes: bool,
}

/// `files` arguments.
#[derive(Debug, Args)]
pub(crate) struct FilesArgs {
    #[command(flatten)]
    table: TableArg,
    #[command(flatten)]
    version: VersionArgs,
}

/// `diff` arguments.
#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    table: TableArg,
    /// The version to compare from: a tag name, or a snapshot id (a tag of that name wins, as
    /// in Paimon's `VERSION AS OF`).
    #[arg(long, value_name = "TAG|SNAPSHOT")]
    from: String,
    /// The version to compare to.
    #[arg(long, value_name = "TAG|SNAPSHOT")]
    to: String,
    /// Compare rows instead of files: the rows removed (-D) and added (+I) between the
    /// versions, and for primary-key tables the keys whose merged row changed (-U old, +U
    /// new), with a leading _ROW_KIND column. Streamed; formats as for `read`.
    #[arg(long)]
    rows: bool,
    #[command(flatten)]
    out: super::read_cmd::OutputArgs,
}

/// Run a command; the exit code (0 unless the command's report says otherwise).
pub(crate) async fn run(command: Command, global: &GlobalArgs, printer: &Printer) -> Result<u8> {
    let no_branch = match &command {
        Command::RemoveOrphanFiles(_) => {
            Some("remove-orphan-files (it always covers every branch)")
        }
        Command::CreateTable(_) => Some("create-table"),
        Command::ApplyPlan(_) => Some("apply-plan"),
        Command::Demo(_) => Some("demo"),
        Command::Completions(_) | Command::Man(_) => Some("completions and man"),
        Command::Branches(_)
        | Command::CreateBranch(_)
        | Command::RenameBranch(_)
        | Command::FastForward(_)
        | Command::DeleteBranch(_) => Some("a branch command (it names its branches itself)"),
        _ => None,
    };
    if let Some(what) = no_branch {
        global.refuse_branch(what)?;
    }
    match command {
        Command::RemoveOrphanFiles(a) => super::orphans_cmd::run_orphans(a, global, printer).await,
        Command::Check(a) => super::orphans_cmd::run_check(a, global, printer).await,
        // A daemon ends with its own exit code (see `daemon::run`).
        Command::AutoTag(a) => super::auto_tag_cmd::run(a, global, printer).await,
        Command::Maintain(a) => super::maintain_cmd::run(a, global, printer).await,
        other => run_plain(other, global, printer).await.map(|()| 0),
    }
}

async fn run_plain(command: Command, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    match command {
        Command::Snapshots(a) => {
            let table = global.open(&a.table).await?;
            let report = inspect::snapshots(&table).await?;
            printer.warnings(&report.warnings);
            printer.report(&report, output::snapshots_text)
        }
        Command::Tags(a) => {
            let table = global.open(&a.table.table).await?;
            let report = inspect::tags_with(&table, a.sizes).await?;
            printer.report(&report, output::tags_text)
        }
        Command::Files(a) => {
            let spec = a.version.spec()?;
            let table = global.open(&a.table.table).await?;
            let listing = inspect::files_listing(&table, &spec).await?;
            if printer.is_json() {
                // Streamed, formatted on every core: a 1,000,000-file report is ~270 MB of
                // JSON. Pieces of 4,096 files (about a megabyte).
                let json = listing.json_pieces(4096);
                printer.stream_pieces(json.len(), |i, buf| json.write(i, buf))
            } else {
                printer.stream_text(|out| output::write_files_text(&listing, out))
            }
        }
        Command::Read(a) => super::read_cmd::run(a, global, printer).await,
        Command::Diff(a) => {
            let table = global.open(&a.table.table).await?;
            let (from, to) =
                futures::try_join!(table.version_named(&a.from), table.version_named(&a.to))?;
            if a.rows {
                return super::read_cmd::diff_rows(&table, &from, &to, &a.out, global, printer)
                    .await;
            }
            if a.out.given() {
                return Err(Error::InvalidArgument(
                    "--format and --output write rows: add --rows".into(),
                ));
            }
            let report = inspect::diff(&table, &from, &to).await?;
            printer.report(&report, output::diff_text)
        }
        Command::Completions(a) => super::docs_cmd::completions(a, printer),
        Command::Man(a) => super::docs_cmd::man(a, printer),
        Command::CreateTable(a) => super::write_cmds::create_table(a, global, printer).await,
        Command::Write(a) => super::write_cmds::write_data(a, global, printer).await,
        Command::CreateTag(a) => super::tag_cmds::create(a, global, printer).await,
        Command::DeleteTag(a) => super::tag_cmds::delete(a, global, printer).await,
        Command::ApplyPlan(a) => super::plan_cmd::apply(a, global, printer).await,
        Command::RenameTag(a) => super::tag_cmds::rename(a, global, printer).await,
        Command::ReplaceTag(a) => super::tag_cmds::replace(a, global, printer).await,
        Command::ExpireSnapshots(a) => super::expire_cmd::run(a, global, printer).await,
        Command::ExpireChangelogs(a) => {
            super::expire_cmd::run_expire_changelogs(a, global, printer).await
        }
        Command::ExpireTags(a) => super::expire_cmd::run_expire_tags(a, global, printer).await,
        Command::Consumers(a) => super::consumers_cmd::list(a, global, printer).await,
        Command::ResetConsumer(a) => super::consumers_cmd::reset(a, global, printer).await,
        Command::ClearConsumers(a) => super::consumers_cmd::clear(a, global, printer).await,
        Command::ExpireConsumers(a) => super::consumers_cmd::expire(a, global, printer).await,
        Command::RollbackTo(a) => super::rollback_cmd::run(a, global, printer).await,
        Command::Branches(a) => super::branch_cmds::list(a, global, printer).await,
        Command::CreateBranch(a) => super::branch_cmds::create(a, global, printer).await,
        Command::RenameBranch(a) => super::branch_cmds::rename(a, global, printer).await,
        Command::FastForward(a) => super::branch_cmds::fast_forward(a, global, printer).await,
        Command::DeleteBranch(a) => super::branch_cmds::delete(a, global, printer).await,
        Command::Demo(a) => super::demo::run(a, global, printer).await,
        // Dispatched by `run`: their reports set the exit code.
        Command::RemoveOrphanFiles(_)
        | Command::Check(_)
        | Command::AutoTag(_)
        | Command::Maintain(_) => Ok(()),
        Command::Schema(a) => {
            let table = global.open(&a.table).await?;
            let report = inspect::schema(&table).await?;
            printer.report(&report, output::schema_text)
        }
    }
}

/// Epoch millis, RFC 3339, or a zone-less local date-time (Paimon reads `scan.timestamp` in
/// the JVM's zone; we use the machine's).
/// The cutoff of an `--older-than` (epoch ms): a duration before `now` with a unit (`7d`,
/// `1.5h`, `2w`), a time (RFC 3339, or local `2024-01-02 10:00:00`), or epoch milliseconds
/// (13 digits). A shorter bare number is refused: `--older-than 7` meant "7 days" to whoever
/// typed it, not 7 ms after 1970. One parser for every command's `--older-than`.
pub(crate) fn parse_cutoff(flag: &str, text: &str, now: i64) -> Result<i64> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return match t.parse::<i64>() {
            Ok(ms) if ms >= 1_000_000_000_000 => Ok(ms),
            _ => Err(Error::InvalidArgument(format!(
                "{flag} {t}: a bare number is ambiguous; give a duration with a unit ('{t}d' \
                 for {t} days before now, '{t}h', '{t}min') or a time \
                 ('2024-01-02T00:00:00Z'); epoch milliseconds need 13 digits"
            ))),
        };
    }
    if let Ok(d) = tagkeeper::format::duration::parse_cli_duration(t) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        return Ok(now.saturating_sub(ms));
    }
    parse_timestamp(t).map_err(|_| {
        Error::InvalidArgument(format!(
            "{flag} {t:?}: not a duration ('7d', '1.5h', '2w', '30 min') or a time (RFC 3339 \
             '2024-01-02T00:00:00Z', or local '2024-01-02 10:00:00')"
        ))
    })
}

pub(crate) fn parse_timestamp(text: &str) -> Result<i64> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map_err(|_| Error::InvalidArgument(format!("timestamp {t} is out of range")));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    match naive.map(|n| Local.from_local_datetime(&n).earliest()) {
        Some(Some(local)) => Ok(local.timestamp_millis()),
        _ => Err(Error::InvalidArgument(format!(
            "cannot read timestamp {t:?}: use epoch milliseconds, RFC 3339 \
             (2024-01-02T10:00:00Z) or local time (2024-01-02 10:00:00)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp("1700000000000").ok(),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_timestamp("2024-01-02T10:00:00Z").ok(),
            Some(1_704_189_600_000)
        );
        assert_eq!(
            parse_timestamp("2024-01-02T12:00:00+02:00").ok(),
            Some(1_704_189_600_000)
        );
        assert!(parse_timestamp("2024-01-02 10:00").is_ok());
        assert!(parse_timestamp("yesterday").is_err());
    }
}
