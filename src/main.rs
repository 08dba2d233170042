//! The `tagkeeper` command line. All logic lives in the library; this binary parses arguments,
//! runs one command and renders its report.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
