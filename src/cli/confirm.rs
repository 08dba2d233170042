//! Asking before a destructive command: on a terminal, the plan is printed, the operator
//! answers, and exactly that plan is executed (through the saved-plan path, so a table that
//! changed while the question was open is a conflict and nothing is done). Scripts never see
//! a question: it is asked only when stdin and stderr are terminals and `--json` is off, and
//! `--yes` skips it.

use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;

use super::output::Printer;
use super::GlobalArgs;
use tagkeeper::clock::{Clock, SystemClock};
use tagkeeper::ops::saved_plan::{self, PlannedCommand};
use tagkeeper::table::Table;
use tagkeeper::{Error, Result};

/// Whether this run asks before it changes anything.
pub(crate) fn wanted(global: &GlobalArgs) -> bool {
    !global.yes && !global.json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask `question` on stderr and read the answer from stdin: only `y` or `yes` goes on.
pub(crate) async fn ask(command: &str, question: &str) -> Result<()> {
    let prompt = format!("{question} [y/N] ");
    let answer = tokio::task::spawn_blocking(move || {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(prompt.as_bytes()).and_then(|()| err.flush());
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| Error::InvalidArgument(format!("cannot read the answer: {e}")))?
    .map_err(|e| Error::InvalidArgument(format!("cannot read the answer: {e}")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Error::Declined(command.to_string())),
    }
}

/// Print `preview` (the command's dry-run report), ask, then execute `planned` exactly and
/// print what it did.
pub(crate) async fn preview_then_apply<T: Serialize>(
    table: &Table,
    planned: PlannedCommand,
    preview: &T,
    text: fn(&T) -> String,
    question: &str,
    printer: &Printer,
) -> Result<()> {
    let command = planned.name();
    printer.preview(&text(preview));
    ask(command, question).await?;
    let saved = saved_plan::save(table, planned, SystemClock.now_millis()).await?;
    let applied = saved_plan::apply(table, saved, "the confirmed plan", &SystemClock).await?;
    super::plan_cmd::render_applied(printer, applied)
}

/// Print `preview` (a dry run of the command), then ask. For commands without a saved-plan
/// form: the real run plans again, so what it does can differ from the preview if the table
/// changed while the question was open (it is decided by the same rules either way).
pub(crate) async fn ask_after<T: Serialize>(
    preview: &T,
    text: fn(&T) -> String,
    command: &str,
    question: &str,
    printer: &Printer,
) -> Result<()> {
    printer.preview(&text(preview));
    ask(command, question).await
}

/// The multi-table form of a destructive command asks once, before any table (each table's
/// plan is what `--dry-run` shows).
pub(crate) async fn ask_for_tables(
    global: &GlobalArgs,
    command: &str,
    dry_run: bool,
) -> Result<()> {
    if dry_run || !wanted(global) {
        return Ok(());
    }
    let question =
        format!("Run {command} on every selected table? (--dry-run shows each table's plan first)");
    ask(command, &question).await
}
