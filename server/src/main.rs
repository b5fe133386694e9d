//! `passerelle-server`: the sync server and its admin commands. See the library's
//! documentation (`lib.rs`) for how it is used, and `cli.rs` for the command line.

mod cli;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Logs go to stderr: stdout is for results (the admin commands print a token as their
    // last line, and scripts read it). `RUST_LOG` overrides the default level.
    //
    // automerge instruments its loading functions with `info` spans whose arguments are
    // formatted with `Debug` whenever the span is enabled: at the `info` default that cost a
    // tenth of the server's CPU time. Its warnings and errors still show.
    let default_level = if cli.command.is_serve() {
        "info,automerge=warn"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in journald or log files.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli::execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
