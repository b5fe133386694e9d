//! `passerelle-bench`: passerelle-server side by side with the JS automerge-repo server and a
//! samod server, driven by the same JS client. `scripts/bench` builds everything and runs it;
//! docs/BENCHMARKS.md says what each workload does and how it is measured.
//!
//! Each run starts every server afresh for each workload, in turn (JS, samod, passerelle,
//! then the next run), so that slow drifts of the machine spread over all of them. The table
//! shows, per metric, the median of the runs and their spread.
//!
//! `--scale-out` measures something else instead: workload 1 on passerelle alone, on sled and
//! on PostgreSQL with one and three instances (`scale_out.rs`).

mod fill;
mod proc_stats;
mod report;
mod scale_out;
mod servers;
mod workloads;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;

use crate::report::Results;
use crate::scale_out::{ScaleOut, Setup, Stats};
use crate::servers::{Kind, Programs};
use crate::workloads::{Bench, Settings};

/// Benchmarks passerelle-server against the JS and samod reference servers.
#[derive(Debug, Parser)]
#[command(name = "passerelle-bench")]
struct Cli {
    /// Runs of every workload per server; the table shows medians and spreads.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The servers, among js, samod, passerelle.
    #[arg(long, value_delimiter = ',', default_value = "js,samod,passerelle")]
    servers: Vec<String>,
    /// The workloads, among 1 to 5 (2 needs 1).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5")]
    workloads: Vec<u8>,
    /// Documents created in workload 1 (and fetched in 2).
    #[arg(long, default_value_t = 1000)]
    docs: usize,
    /// Documents workload 2's client asks for at once.
    #[arg(long, default_value_t = 50)]
    fetch_concurrency: usize,
    /// Store sizes of workload 3.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    stored: Vec<usize>,
    /// Seconds workload 3 idles before reading the RSS again.
    #[arg(long, default_value_t = 5)]
    idle_secs: u64,
    /// Edits of workload 4.
    #[arg(long, default_value_t = 200)]
    edits: usize,
    /// Milliseconds from B's receipt of one edit of workload 4 to A's next edit
    /// (automerge-repo sends at most one sync message per document per 100 ms).
    #[arg(long, default_value_t = 120)]
    edit_gap_ms: u64,
    /// Clients of workload 5.
    #[arg(long, default_value_t = 500)]
    clients: usize,
    /// The passerelle-server binary.
    #[arg(long, default_value = "target/release/passerelle-server")]
    passerelle_bin: PathBuf,
    /// The samod-ref binary.
    #[arg(
        long,
        default_value = "crates/bench/samod-ref/target/release/samod-ref"
    )]
    samod_bin: PathBuf,
    /// The folder of the JS driver and reference server, with node_modules installed.
    #[arg(long, default_value = "crates/bench/js")]
    js_dir: PathBuf,
    /// node.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// Scratch folder for stores and logs (default: a new temporary folder, removed at the
    /// end unless a run failed).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Also write the report (Markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Instead of the servers' table: workload 1 on passerelle on sled, on PostgreSQL with
    /// one instance and with three, by one client and by three at once (--docs in all);
    /// --servers and --workloads are then ignored. Needs --postgres.
    #[arg(long)]
    scale_out: bool,
    /// The PostgreSQL admin URL of --scale-out, through which each measurement creates a
    /// database of its own (random name) and drops it after.
    #[arg(
        long,
        value_name = "URL",
        env = "PASSERELLE_TEST_POSTGRES",
        hide_env_values = true
    )]
    postgres: Option<String>,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("passerelle-bench: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.scale_out {
        return scale_out(&cli);
    }
    let kinds: Vec<Kind> = cli
        .servers
        .iter()
        .map(|s| Kind::parse(s))
        .collect::<anyhow::Result<_>>()?;
    let programs = Programs {
        passerelle: cli.passerelle_bin.clone(),
        samod: cli.samod_bin.clone(),
        node: cli.node.clone(),
        js_dir: cli.js_dir.clone(),
    };
    programs.check(&kinds)?;
    let settings = Settings {
        w1_docs: cli.docs,
        w2_concurrency: cli.fetch_concurrency,
        w4_edits: cli.edits,
        w4_gap_ms: cli.edit_gap_ms,
        w5_clients: cli.clients,
        w3_idle: Duration::from_secs(cli.idle_secs),
    };
    let temp;
    let scratch = match &cli.work_dir {
        Some(dir) => {
            fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("passerelle-bench-")
                .tempdir()?;
            temp.path().to_owned()
        }
    };
    let wants = |w: u8| cli.workloads.contains(&w);
    let load_before = proc_stats::load_average()?;
    let started = Instant::now();
    let mut results = Results::default();

    // Workload 3's stores, written once and started on in every run.
    let mut stores = Vec::new();
    if wants(3) {
        for &count in &cli.stored {
            let t = Instant::now();
            let docs = fill::generate(count)?;
            let sample: Vec<String> = docs
                .iter()
                .step_by((count / 20).max(1))
                .take(20)
                .map(|d| d.id.to_url())
                .collect();
            let urls = scratch.join(format!("w3-{count}-urls.json"));
            fs::write(&urls, serde_json::to_string(&sample)?)?;
            progress(&format!(
                "generated {count} documents in {:.1?}",
                t.elapsed()
            ));
            for &kind in &kinds {
                let data = scratch.join(format!("w3-{count}-{kind}-data"));
                let t = Instant::now();
                let token = match kind {
                    Kind::Passerelle => fill::passerelle_store(&data, &docs)?,
                    Kind::Js | Kind::Samod => {
                        fill::reference_store(&data, &docs)?;
                        "none".to_owned()
                    }
                };
                progress(&format!(
                    "filled the {kind} store with {count} documents in {:.1?}",
                    t.elapsed()
                ));
                stores.push((count, kind, data, token, urls.clone()));
            }
        }
    }

    for run in 1..=cli.runs {
        for &kind in &kinds {
            let scratch = scratch.join(format!("run{run}"));
            fs::create_dir_all(&scratch)?;
            let mut bench = Bench {
                programs: &programs,
                settings: &settings,
                results: &mut results,
                scratch: scratch.clone(),
            };
            let step = |what: &str| progress(&format!("run {run}/{}: {kind}: {what}", cli.runs));
            if wants(1) {
                step("workloads 1 and 2");
                bench.create_then_fetch(kind, wants(2))?;
            }
            if wants(3) {
                for (count, _, data, token, urls) in stores.iter().filter(|s| s.1 == kind) {
                    step(&format!("workload 3 ({count} documents)"));
                    bench.start_up(kind, *count, data, token, urls)?;
                }
            }
            if wants(4) {
                step("workload 4");
                bench.live_edits(kind)?;
            }
            if wants(5) {
                step("workload 5");
                bench.many_clients(kind)?;
            }
            // Keeps only the stores of workload 3 between runs.
            fs::remove_dir_all(&scratch)?;
        }
    }

    let report = format!(
        "{}\n{}",
        header(&cli, "server", load_before, started.elapsed())?,
        results.table()
    );
    print_report(&cli, &report)
}

fn print_report(cli: &Cli, report: &str) -> anyhow::Result<()> {
    println!("{report}");
    if let Some(out) = &cli.out {
        fs::write(out, report).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// `--scale-out`: each run measures every set-up with one client, then with three.
fn scale_out(cli: &Cli) -> anyhow::Result<()> {
    let admin_url = cli
        .postgres
        .as_deref()
        .filter(|url| !url.is_empty())
        .context(
            "--scale-out needs PostgreSQL: --postgres URL or PASSERELLE_TEST_POSTGRES \
         (scripts/postgres-for-tests prints one)",
        )?;
    let programs = Programs {
        passerelle: cli.passerelle_bin.clone(),
        samod: cli.samod_bin.clone(),
        node: cli.node.clone(),
        js_dir: cli.js_dir.clone(),
    };
    programs.check(&[Kind::Passerelle])?;
    let scratch = tempfile::Builder::new()
        .prefix("passerelle-bench-")
        .tempdir_in(cli.work_dir.clone().unwrap_or_else(std::env::temp_dir))?;
    let load_before = proc_stats::load_average()?;
    let started = Instant::now();
    let mut bench = ScaleOut {
        programs: &programs,
        admin_url,
        stats: Stats::connect(admin_url)?,
        docs: cli.docs,
    };
    let mut table = scale_out::Table::new(cli.docs);
    for run in 1..=cli.runs {
        for setup in Setup::ALL {
            for clients in scale_out::CLIENTS {
                progress(&format!(
                    "run {run}/{}: {setup:?}, {clients} client(s)",
                    cli.runs
                ));
                let dir = scratch.path().join(format!("run{run}-{setup:?}-{clients}"));
                let sample = bench.measure(setup, clients, &dir)?;
                progress(&format!("{sample:?}"));
                table.record(setup, clients, sample);
                fs::remove_dir_all(&dir)?;
            }
        }
    }
    let report = format!(
        "{}\n{}",
        header(cli, "set-up", load_before, started.elapsed())?,
        table.markdown()
    );
    print_report(cli, &report)
}

fn progress(line: &str) {
    eprintln!("[bench] {line}");
}

/// When, where and how the numbers were taken.
fn header(cli: &Cli, per: &str, load_before: f64, took: Duration) -> anyhow::Result<String> {
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let cpus = command_output("nproc", &[]);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, m)| m.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
        })
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let node = command_output(&cli.node.to_string_lossy(), &["--version"]);
    Ok(format!(
        "Run of {date}: {cpus} CPUs ({model}), {memory}, node {node}. {} runs per {per}, \
         medians with (min–max). Load average (1 min) {load_before:.2} before, {:.2} after; \
         took {:.0} min.\n",
        cli.runs,
        proc_stats::load_average()?,
        took.as_secs_f64() / 60.0
    ))
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".to_owned())
}
