//! `passerelle`: the command line of the passerelle client. See the library's documentation
//! (`lib.rs`) for the replica it drives, and `cli.rs` for the commands.

mod cli;
mod demo;
mod lang;
mod programme;
mod report_cli;
mod today;
mod ui;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Logs go to stderr, warnings only unless `RUST_LOG` says otherwise: stdout is for
    // results that scripts read (`new` prints the new id as its last line).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli::execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, no backtrace: the library's errors are written for people.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
