//! `passerelle`: the command line of the passerelle client. See the library's documentation
//! (`lib.rs`) for the replica it drives, and `cli.rs` for the commands.

mod cli;
mod demo;
mod help_fr;
mod lang;
mod programme;
mod report_cli;
mod today;
mod ui;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::FromArgMatches as _;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // `--help` speaks the run's language, so it is decided before clap parses.
    let mut command = help_fr::command(help_fr::lang_from_args(std::env::args_os()));
    let matches = command.get_matches_mut();
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|error| {
        error.format(&mut command).exit();
    });
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
