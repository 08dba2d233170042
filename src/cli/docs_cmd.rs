//! `completions SHELL` and `man`: generated from the same clap definition the parser uses, so
//! they never drift from the flags that exist.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use super::output::Printer;
use super::Cli;
use tagkeeper::{Error, Result};

/// `completions` arguments.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write completions for (e.g. `tagkeeper completions bash >
    /// /etc/bash_completion.d/tagkeeper`).
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// `man` arguments.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write tagkeeper.1 and one page per command (tagkeeper-expire-snapshots.1, …) into this
    /// directory instead of printing tagkeeper.1 on stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn completions(a: CompletionsArgs, printer: &Printer) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "tagkeeper", &mut out);
    printer.raw(&String::from_utf8_lossy(&out));
    Ok(())
}

pub(crate) fn man(a: ManArgs, printer: &Printer) -> Result<()> {
    let cmd = Cli::command();
    match a.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .and_then(|()| clap_mangen::generate_to(cmd, &dir))
                .map_err(|e| Error::InvalidArgument(format!("man --dir {}: {e}", dir.display())))?;
            printer.raw(&format!("wrote the man pages into {}\n", dir.display()));
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| Error::InvalidArgument(format!("cannot render the man page: {e}")))?;
            printer.raw(&String::from_utf8_lossy(&out));
        }
    }
    Ok(())
}
