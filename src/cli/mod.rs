//! Argument parsing, the runtime, exit codes and error rendering.

mod auto_tag_cmd;
mod branch_cmds;
mod commands;
mod confirm;
mod consumers_cmd;
mod daemon;
mod demo;
mod docs_cmd;
mod dry_run;
mod expire_cmd;
mod fleet;
mod maintain_cmd;
mod orphans_cmd;
mod output;
mod plan_cmd;
mod progress_bars;
mod read_cmd;
mod rollback_cmd;
mod tag_cmds;
mod write_cmds;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use output::Printer;
use tagkeeper::io::{StoreOptions, DEFAULT_CONCURRENCY};

/// Threads of the async runtime's blocking pool (see `main`).
const BLOCKING_THREADS: usize = 4;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  user error: no such table, snapshot or tag; invalid argument; `check` found problems
  2  corrupt or unreadable metadata, or the object store failed; or incomplete: some planned
     deletions (or, for auto-tag, some tables) failed; the one report lists them, run again;
     a daemon (--every): --max-failed-rounds rounds in a row failed, or a signal stopped it
     after a round with a failure
A run over several tables (several TABLEs, or --warehouse) exits with its worst table's code:
2 (incomplete) if any table failed so, else 1 if any failed, else 0.

Locations: a local path, file://, s3://, gs://, az:// or abfss:// URL, or memory://.
Credentials, region and endpoint come from the backend's usual environment variables
(AWS_*, GOOGLE_*, AZURE_*) and can be overridden with --store-option KEY=VALUE.";

/// Manage the snapshots and tags of Apache Paimon tables in object stores.
#[derive(Debug, Parser)]
#[command(name = "tagkeeper", version, about, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Print exactly one JSON document on stdout (logs and warnings go to stderr). A daemon
    /// (--every) prints nothing on stdout: its events are JSON lines on stderr.
    #[arg(long, global = true)]
    json: bool,
    /// Log what tagkeeper does on stderr (-v debug, -vv trace). Credentials are never logged.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Print nothing but errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Maximum object-store requests in flight.
    #[arg(long, global = true, default_value_t = DEFAULT_CONCURRENCY, value_name = "N")]
    concurrency: usize,
    /// Object-store setting KEY=VALUE (e.g. aws_endpoint=http://127.0.0.1:9000); repeatable.
    /// Overrides the environment. Values are never printed.
    #[arg(long = "store-option", global = true, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    store_options: Vec<(String, String)>,
    /// Work on this branch of the table (`branch/branch-NAME/`) instead of main: its snapshots,
    /// tags and schemas; data files and manifests stay the table's, and deletions are decided
    /// over every branch. Not for remove-orphan-files, expire-changelogs, create-table, apply-plan, demo, the
    /// branch commands, with --plan-out, or over several tables (--warehouse).
    #[arg(long, global = true, value_name = "NAME")]
    branch: Option<String>,
    /// Stop the whole command after this long (e.g. 90s, 10min) with kind `timed_out` (exit 2).
    /// Each store request also times out (20 s, connecting 5 s) and is retried within 45 s, so
    /// a hung endpoint fails a command within about a minute even without it. A destructive
    /// command stopped this way is finished by its next run. Not for a daemon (--every).
    #[arg(long, global = true, value_name = "DURATION")]
    timeout: Option<String>,
    /// Do not ask before a destructive command. On a terminal (stdin and stderr) without
    /// --json, destructive commands print their plan and ask first; scripts never are asked.
    #[arg(short = 'y', long, global = true)]
    yes: bool,
    /// Human output lists every file a plan or report names, not only the totals (JSON always
    /// has every file).
    #[arg(long, global = true)]
    list: bool,
}

impl GlobalArgs {
    /// Open the table at `location`, or its branch selected with `--branch`.
    pub(crate) async fn open(&self, location: &str) -> tagkeeper::Result<tagkeeper::table::Table> {
        let table = tagkeeper::table::Table::open(location, &self.store_options()).await?;
        match &self.branch {
            None => Ok(table),
            Some(name) => table.branch(name).await,
        }
    }

    /// Fail when `--branch` was given to a command that does not take it.
    pub(crate) fn refuse_branch(&self, what: &str) -> tagkeeper::Result<()> {
        match &self.branch {
            None => Ok(()),
            Some(b) => Err(tagkeeper::Error::InvalidArgument(format!(
                "--branch {b}: {what} does not take --branch"
            ))),
        }
    }

    fn store_options(&self) -> StoreOptions {
        StoreOptions {
            options: self.store_options.clone(),
            concurrency: self.concurrency,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the retained snapshots.
    Snapshots(commands::TableArg),
    /// List the tags (with --sizes: the bytes each holds exclusively and shares).
    Tags(commands::TagsArgs),
    /// List the live data files of a version (default: the latest snapshot).
    Files(commands::FilesArgs),
    /// Show the table's newest schema.
    Schema(commands::TableArg),
    /// Read the rows of a version (default: the latest snapshot) as a table, CSV, JSON lines or
    /// Parquet, merging primary-key tables.
    Read(read_cmd::ReadArgs),
    /// Compare two versions: the data files added and removed, with their rows (metadata only).
    Diff(commands::DiffArgs),
    /// Create a table (writes schema/schema-0 exactly as Paimon does).
    CreateTable(write_cmds::CreateTableArgs),
    /// Write Parquet, CSV or JSON-lines files into an append-only table as one snapshot.
    Write(write_cmds::WriteArgs),
    /// Create a tag (a named, long-lived copy of a snapshot's metadata).
    CreateTag(tag_cmds::CreateTagArgs),
    /// Delete tags; when a tag's snapshot has expired, also the files only it kept.
    DeleteTag(tag_cmds::DeleteTagArgs),
    /// Rename a tag (the file is copied verbatim; re-run to finish an interrupted rename).
    RenameTag(tag_cmds::RenameTagArgs),
    /// Point an existing tag at another snapshot.
    ReplaceTag(tag_cmds::ReplaceTagArgs),
    /// Expire old snapshots and delete the files only they referenced (tag-aware, plan-first).
    ExpireSnapshots(expire_cmd::ExpireArgs),
    /// Expire long-lived changelogs (changelog/changelog-N) and the files only they keep.
    ExpireChangelogs(expire_cmd::ExpireChangelogsArgs),
    /// Delete tags past their retention (or created before --older-than), with delete-tag's cleanup.
    ExpireTags(expire_cmd::ExpireTagsArgs),
    /// Create Paimon's periodic tags (daily, hourly…) from the tables' options, as Java's writer
    /// would; once (for cron) or as a daemon (--every). Also applies tag retention.
    AutoTag(auto_tag_cmd::AutoTagArgs),
    /// Run Paimon's after-commit maintenance from the table's options: auto-tag, expire tags,
    /// consumers, snapshots, then changelogs.
    Maintain(maintain_cmd::MaintainArgs),
    /// List the streaming consumers: id, next snapshot, file modification time.
    Consumers(consumers_cmd::ConsumersArgs),
    /// Set a consumer's next snapshot (it must exist), or delete the consumer without --snapshot.
    ResetConsumer(consumers_cmd::ResetConsumerArgs),
    /// Delete consumers by id pattern (Java's clear_consumers).
    ClearConsumers(consumers_cmd::ClearConsumersArgs),
    /// Delete consumers not updated within consumer.expiration-time (or --older-than).
    ExpireConsumers(consumers_cmd::ExpireConsumersArgs),
    /// Roll a table back to a tag, snapshot or time (destructive, or --as-latest).
    RollbackTo(rollback_cmd::RollbackArgs),
    /// Delete files no snapshot, tag, changelog or branch references, older than a cutoff.
    RemoveOrphanFiles(orphans_cmd::OrphansArgs),
    /// Check that every file the table references exists (--deep: and is intact); exit 1 if not.
    Check(orphans_cmd::CheckArgs),
    /// Execute a plan saved with --plan-out (expire-snapshots, expire-tags, delete-tag,
    /// rollback-to, remove-orphan-files),
    /// exactly as saved, unless the table changed since (then: conflict, nothing done).
    ApplyPlan(plan_cmd::ApplyPlanArgs),
    /// List the table's branches: where each came from, its latest snapshot, snapshots and tags.
    Branches(branch_cmds::BranchesArgs),
    /// Create a branch: empty (main's schemas), or from a tag or a retained snapshot.
    CreateBranch(branch_cmds::CreateBranchArgs),
    /// Rename a branch (re-run to finish an interrupted rename).
    RenameBranch(branch_cmds::RenameBranchArgs),
    /// Replace main's snapshots, schemas and tags from the branch's earliest snapshot on with
    /// the branch's (Paimon's fast_forward).
    FastForward(branch_cmds::FastForwardArgs),
    /// Delete branches and the files only they kept (plan-first; --dry-run prints the plan).
    DeleteBranch(branch_cmds::DeleteBranchArgs),
    /// Build a sample warehouse (a month of daily commits and weekly tags) and tour it.
    Demo(demo::DemoArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(docs_cmd::CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per command with --dir.
    Man(docs_cmd::ManArgs),
}

impl Command {
    /// `auto-tag --every` or `maintain --every`: a long-running process whose stderr is its log.
    fn is_daemon(&self) -> bool {
        match self {
            Command::AutoTag(a) => a.daemon.every.is_some(),
            Command::Maintain(a) => a.daemon.every.is_some(),
            _ => false,
        }
    }
}

pub(crate) fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err("expected KEY=VALUE".to_string()),
    }
}

/// Parse, run, and map the outcome onto an exit code.
pub(crate) fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    // Before anything is printed or logged: the secrets of this run, to redact everywhere.
    tagkeeper::redact::install(tagkeeper::redact::Redactor::from_options_and_env(
        &cli.global.store_options,
        |k| std::env::var(k).ok(),
    ));
    init_logging(&cli.global, cli.command.is_daemon());
    output::set_listing(cli.global.list);
    let printer = Printer::new(cli.global.json, cli.global.quiet);
    // Few blocking threads: on a local filesystem every listing, large read and delete runs
    // on one, and each thread allocating in its own malloc arena left a million-file orphan
    // scan's freed listings resident there (over 100 MB); the disk gains nothing from more.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer.internal_error(&format!("cannot start the async runtime: {e}"), 2);
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.global.timeout.as_deref() {
            None => commands::run(cli.command, &cli.global, &printer).await,
            Some(t) => {
                let limit = tagkeeper::format::duration::parse_cli_duration(t)
                    .map_err(|e| tagkeeper::Error::InvalidArgument(format!("--timeout: {e}")))?;
                match tokio::time::timeout(limit, commands::run(cli.command, &cli.global, &printer))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(tagkeeper::Error::TimedOut(format!(
                        "the command did not finish within --timeout {t}; the store may be \
                         unreachable or slow (run with -v to see its requests); a destructive \
                         command stopped this way is finished by its next run"
                    ))),
                }
            }
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            printer.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Help and version are successes, printed as clap prints them; usage errors are user errors
/// (exit 1, not clap's default 2, which we reserve for corrupt metadata and incomplete runs).
/// clap failed, so whether `--json` was given is read from the raw arguments: a script that
/// asked for JSON gets its one document even when the arguments are wrong.
fn usage_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::from(0);
    }
    let message = redacted_usage_message(e);
    match &message {
        Some(m) => output::eprintln_safe(&format!("error: {m}")),
        // clap quotes the arguments it rejects, which may hold a URL with a password.
        None => output::eprintln_safe(e.render().to_string().trim_end()),
    }
    if json_requested(std::env::args_os().skip(1)) {
        let rendered = e.render().to_string();
        let message = message.unwrap_or_else(|| {
            let first = rendered.lines().next().unwrap_or_default();
            first.strip_prefix("error: ").unwrap_or(first).to_string()
        });
        output::print_error_document(output::error_value("invalid_argument", &message, 1));
    }
    ExitCode::from(1)
}

/// `--json` among the arguments (before a `--`, after which everything is a value).
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.take_while(|a| a != "--").any(|a| a == "--json")
}

/// clap repeats a rejected value in its message; a `--store-option` value may hold a secret
/// (`aws_secret_access_key:…` typed with the wrong separator), so that message is rewritten
/// without it.
fn redacted_usage_message(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::ValueValidation {
        return None;
    }
    match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) if arg.starts_with("--store-option") => Some(format!(
            "invalid value for '{arg}': expected KEY=VALUE (the value is not repeated: it may \
             hold a secret)"
        )),
        _ => None,
    }
}

fn init_logging(global: &GlobalArgs, daemon: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::filter::{filter_fn, EnvFilter};
    use tracing_subscriber::prelude::*;
    // Only our own crate logs at debug: the HTTP stack below object_store could print
    // request details, and credentials must never reach the logs. Progress events are drawn
    // as bars (below), never logged.
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "warn,tagkeeper=debug",
        _ => "warn,tagkeeper=trace",
    };
    let filter = || EnvFilter::new(format!("{level},{}=off", tagkeeper::progress::TARGET));
    let terminal = std::io::stderr().is_terminal();
    let base = tracing_subscriber::fmt::layer()
        .with_writer(output::RedactingStderr::new)
        // Colour only for a terminal: log files get plain text.
        .with_ansi(terminal)
        .with_target(false);
    // A daemon's stderr is its log: with --json every line of it is one JSON object.
    let logs = if global.json && daemon {
        base.event_format(daemon::JsonLogLines)
            .with_filter(filter())
            .boxed()
    } else {
        base.with_filter(filter()).boxed()
    };
    // Bars for a person at a terminal; a daemon's stderr is a log, never drawn on.
    let bars = (terminal && !global.json && !global.quiet && !daemon).then(|| {
        progress_bars::ProgressBars::new()
            .with_filter(filter_fn(|m| m.target() == tagkeeper::progress::TARGET))
    });
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(bars)
        .try_init();
}
