//! `passerelle demo` end to end: the real `passerelle` binary starts the real
//! `passerelle-server` binary, runs its tour to completion, and cleans up.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The server binary, from the same profile and target directory as the client under test.
/// `cargo test --workspace` (scripts/test, CI) has built it already: it is used as it is.
/// `cargo test -p passerelle-client` does not build other packages' binaries, so when it is
/// missing it is built here. Not rebuilt when present: `cargo build -p passerelle-server`
/// resolves features for that package alone, so inside a workspace test run it would build
/// the whole dependency tree a second time.
fn server_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let client = PathBuf::from(env!("CARGO_BIN_EXE_passerelle"));
            let profile_dir = client.parent().unwrap().to_path_buf();
            let existing =
                profile_dir.join(format!("passerelle-server{}", std::env::consts::EXE_SUFFIX));
            if existing.is_file() {
                return existing;
            }
            let target_dir = profile_dir.parent().unwrap();
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "--profile",
                    "test",
                    "-p",
                    "passerelle-server",
                    "--bin",
                    "passerelle-server",
                    "--target-dir",
                ])
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building passerelle-server failed");
            let server =
                profile_dir.join(format!("passerelle-server{}", std::env::consts::EXE_SUFFIX));
            assert!(server.is_file(), "no {}", server.display());
            server
        })
        .clone()
}

fn demo(server: Option<&std::ffi::OsStr>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_passerelle"));
    command
        .arg("demo")
        .env_remove("PASSERELLE_HOME")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    match server {
        Some(path) => command.env("PASSERELLE_SERVER_BIN", path),
        None => command.env_remove("PASSERELLE_SERVER_BIN"),
    };
    command.output().unwrap()
}

#[test]
fn the_demo_runs_to_completion_merges_both_sides_and_cleans_up() {
    let server = server_binary();
    let output = demo(Some(server.as_os_str()));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");

    // The merged document, shown after both sides synced, holds both sides' edits.
    let merged = stdout
        .split("7. The merged mission")
        .nth(1)
        .and_then(|rest| rest.split("8. Who wrote what").next())
        .unwrap_or_else(|| panic!("no merged section: {stdout}"));
    for edit in [
        "Visite de la régie de quartier",
        "Rencontre avec l'Université Mohammed Ier",
        "status: planned",
        "Accueil de la délégation lilloise",
        "- Claire",
    ] {
        assert!(merged.contains(edit), "`{edit}` not in: {merged}");
    }
    let history = stdout.split("8. Who wrote what").nth(1).unwrap();
    assert!(history.contains("samira  (oujda)"), "{history}");
    assert!(history.contains("claire  (lille)"), "{history}");

    // Cleaned up: the server process is gone and so is the temporary directory.
    let pid: u32 = stdout
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid: {stdout}"));
    let dir = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Everything runs on this machine, in "))
        .and_then(|rest| rest.strip_suffix(':'))
        .unwrap_or_else(|| panic!("no directory: {stdout}"));
    assert!(!std::path::Path::new(dir).exists(), "{dir} left behind");
    #[cfg(target_os = "linux")]
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "server {pid} still running"
    );
    let _ = pid;
}

#[test]
fn the_demo_says_where_the_server_binary_should_be() {
    let output = demo(Some(std::ffi::OsStr::new("/nonexistent/passerelle-server")));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("PASSERELLE_SERVER_BIN is /nonexistent/passerelle-server"),
        "{stderr}"
    );
    assert!(stderr.contains("there is no file there"), "{stderr}");
}
