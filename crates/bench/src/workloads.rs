//! The workloads of issue 9, each run against one freshly started server through the JS
//! driver (`js/driver.mjs`), with the server's CPU time and memory read from `/proc` around
//! the part that is measured.

use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::proc_stats::{self, Memory};
use crate::report::{Results, Unit};
use crate::servers::{self, Kind, Programs, Server};

/// How long a server must use no CPU before its work counts as finished.
pub(crate) const QUIET: Duration = Duration::from_millis(500);
/// The longest wait for that.
pub(crate) const QUIET_LIMIT: Duration = Duration::from_secs(15);

/// Sizes and counts of the workloads.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) w1_docs: usize,
    pub(crate) w2_concurrency: usize,
    pub(crate) w4_edits: usize,
    pub(crate) w4_gap_ms: u64,
    pub(crate) w5_clients: usize,
    pub(crate) w3_idle: Duration,
}

/// One run of one server: a scratch directory, the programs, and where results go.
#[derive(Debug)]
pub(crate) struct Bench<'a> {
    pub(crate) programs: &'a Programs,
    pub(crate) settings: &'a Settings,
    pub(crate) results: &'a mut Results,
    /// A directory for this run's data and logs (removed by the caller).
    pub(crate) scratch: PathBuf,
}

const MIB: f64 = 1024.0;

fn mib(kib: u64) -> f64 {
    kib as f64 / MIB
}

impl Bench<'_> {
    /// A fresh, empty data directory for `kind`, with passerelle's user in it; and the token.
    fn fresh_server(&self, kind: Kind, name: &str) -> anyhow::Result<(Server, String)> {
        let data = self.scratch.join(format!("{name}-{kind}-data"));
        fs::create_dir_all(&data)?;
        let token = match kind {
            Kind::Passerelle => servers::add_passerelle_user(self.programs, &data, None)?,
            Kind::Js | Kind::Samod => "none".to_owned(),
        };
        let log = self.scratch.join(format!("{name}-{kind}.log"));
        let server = Server::start(kind, self.programs, &data, None, &log)?;
        Ok((server, token))
    }

    fn driver(&self, command: &str) -> Command {
        let mut c = Command::new(&self.programs.node);
        c.arg(self.programs.js_dir.join("driver.mjs")).arg(command);
        c
    }

    /// Runs the driver as a measured workload: the server's peak RSS is reset first, and its
    /// CPU time is counted until it has been quiet after the driver ended (deferred saves
    /// count). Returns the driver's result, the server's CPU time and its memory then.
    fn measured_run(
        &self,
        server: &mut Server,
        command: Command,
        log: &str,
    ) -> anyhow::Result<(Value, std::time::Duration, proc_stats::Memory)> {
        let pid = server.pid;
        let cpu = proc_stats::cpu_time(pid)?;
        proc_stats::reset_peak(pid)?;
        let result = self.run_driver(server, command, log)?;
        proc_stats::wait_until_quiet(pid, QUIET, QUIET_LIMIT)?;
        let cpu = proc_stats::cpu_time(pid)? - cpu;
        Ok((result, cpu, proc_stats::memory(pid)?))
    }

    /// Runs the driver to completion and returns its last JSON line.
    fn run_driver(
        &self,
        server: &mut Server,
        mut command: Command,
        log: &str,
    ) -> anyhow::Result<Value> {
        let log_path = self.scratch.join(log);
        let output = command
            .stdin(Stdio::null())
            .stderr(fs::File::create(&log_path)?)
            .output()
            .context("running the JS driver")?;
        server.check_alive()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "the driver failed ({}) against {}: {stdout}\n{}\nserver log:\n{}",
                output.status,
                server.kind,
                fs::read_to_string(&log_path).unwrap_or_default(),
                server.log()
            );
        }
        let line = stdout
            .lines()
            .last()
            .context("the driver printed nothing")?;
        serde_json::from_str(line).with_context(|| format!("the driver printed {line:?}"))
    }

    /// Workloads 1 and 2, on one server: one client creates the documents, then a second
    /// one fetches them all.
    pub(crate) fn create_then_fetch(&mut self, kind: Kind, fetch: bool) -> anyhow::Result<()> {
        let (mut server, token) = self.fresh_server(kind, "w1")?;
        let pid = server.pid;
        let urls = self.scratch.join(format!("w1-{kind}-urls.json"));
        proc_stats::wait_until_quiet(pid, QUIET, QUIET_LIMIT)?;

        let mut driver = self.driver("w1");
        driver
            .arg("--url")
            .arg(server.ws_url(&token))
            .arg("--docs")
            .arg(self.settings.w1_docs.to_string())
            .arg("--urls-file")
            .arg(&urls);
        let (result, cpu, memory) =
            self.measured_run(&mut server, driver, &format!("w1-{kind}-driver.log"))?;
        let w = format!("1. one client creates {} documents", self.settings.w1_docs);
        let r = &mut *self.results;
        r.record(
            &w,
            "wall time (until the server acknowledged all)",
            Unit::Seconds,
            "",
            kind,
            number(&result, "wallMs")? / 1000.0,
        );
        r.record(
            &w,
            "server CPU (user + system)",
            Unit::Seconds,
            "≥ 10× less than JS",
            kind,
            cpu.as_secs_f64(),
        );
        r.record(
            &w,
            "server RSS after",
            Unit::MiB,
            "< 24 MiB",
            kind,
            mib(memory.rss_kib),
        );
        r.record(
            &w,
            "server peak RSS",
            Unit::MiB,
            "",
            kind,
            mib(memory.peak_kib),
        );

        if !fetch {
            return Ok(());
        }
        let mut driver = self.driver("w2");
        driver
            .arg("--url")
            .arg(server.ws_url(&token))
            .arg("--urls-file")
            .arg(&urls)
            .arg("--concurrency")
            .arg(self.settings.w2_concurrency.to_string());
        let (result, cpu, memory) =
            self.measured_run(&mut server, driver, &format!("w2-{kind}-driver.log"))?;
        let w = format!("2. a second client fetches the {}", self.settings.w1_docs);
        let r = &mut *self.results;
        r.record(
            &w,
            "wall time",
            Unit::Seconds,
            "",
            kind,
            number(&result, "wallMs")? / 1000.0,
        );
        r.record(&w, "server CPU", Unit::Seconds, "", kind, cpu.as_secs_f64());
        r.record(
            &w,
            "bytes received by the client",
            Unit::KB,
            "",
            kind,
            number(&result, "bytesIn")? / 1000.0,
        );
        r.record(
            &w,
            "bytes sent by the client",
            Unit::KB,
            "",
            kind,
            number(&result, "bytesOut")? / 1000.0,
        );
        r.record(
            &w,
            "server peak RSS",
            Unit::MiB,
            "",
            kind,
            mib(memory.peak_kib),
        );
        Ok(())
    }

    /// Workload 3: a server starts on a store of `docs` documents (prepared once, in `data`):
    /// time until it answers, RSS then and after idling. Then a client fetches a few of the
    /// stored documents, which checks that the server reads the generated store.
    pub(crate) fn start_up(
        &mut self,
        kind: Kind,
        docs: usize,
        data: &Path,
        token: &str,
        sample_urls: &Path,
    ) -> anyhow::Result<()> {
        let log = self.scratch.join(format!("w3-{kind}-{docs}.log"));
        let mut server = Server::start(kind, self.programs, data, None, &log)?;
        let at_start = proc_stats::memory(server.pid)?;
        sleep(self.settings.w3_idle);
        let idle = proc_stats::memory(server.pid)?;
        let mut driver = self.driver("w2");
        driver
            .arg("--url")
            .arg(server.ws_url(token))
            .arg("--urls-file")
            .arg(sample_urls);
        let fetched =
            self.run_driver(&mut server, driver, &format!("w3-{kind}-{docs}-driver.log"))?;
        let w = format!("3. start on {docs} stored documents");
        let idle_label = format!("idle RSS after {} s", self.settings.w3_idle.as_secs());
        let r = &mut *self.results;
        r.record(
            &w,
            "start-up (spawn → answers on its port)",
            Unit::Millis,
            "< 1 s",
            kind,
            server.start_up.as_secs_f64() * 1000.0,
        );
        r.record(
            &w,
            "RSS when it answers",
            Unit::MiB,
            "",
            kind,
            mib(at_start.rss_kib),
        );
        r.record(
            &w,
            &idle_label,
            Unit::MiB,
            "< 64 MiB",
            kind,
            mib(idle.rss_kib),
        );
        r.record(
            &w,
            "then fetch 20 of them (one client)",
            Unit::Millis,
            "",
            kind,
            number(&fetched, "wallMs")?,
        );
        Ok(())
    }

    /// Workload 4: latency of a change from client A to client B through the server.
    pub(crate) fn live_edits(&mut self, kind: Kind) -> anyhow::Result<()> {
        let (mut server, token) = self.fresh_server(kind, "w4")?;
        let pid = server.pid;
        let cpu = proc_stats::cpu_time(pid)?;
        let mut driver = self.driver("w4");
        driver
            .arg("--url")
            .arg(server.ws_url(&token))
            .arg("--edits")
            .arg(self.settings.w4_edits.to_string())
            .arg("--gap-ms")
            .arg(self.settings.w4_gap_ms.to_string());
        let result = self.run_driver(&mut server, driver, &format!("w4-{kind}-driver.log"))?;
        let cpu = proc_stats::cpu_time(pid)? - cpu;
        let memory = proc_stats::memory(pid)?;
        let w = format!("4. live edits A → B ({} edits)", self.settings.w4_edits);
        let r = &mut *self.results;
        r.record(
            &w,
            "latency p50",
            Unit::Millis,
            "< 5 ms",
            kind,
            number(&result, "p50Ms")?,
        );
        r.record(
            &w,
            "latency p99",
            Unit::Millis,
            "",
            kind,
            number(&result, "p99Ms")?,
        );
        r.record(
            &w,
            "server CPU per edit",
            Unit::Millis,
            "",
            kind,
            cpu.as_secs_f64() * 1000.0 / self.settings.w4_edits as f64,
        );
        r.record(
            &w,
            "server peak RSS",
            Unit::MiB,
            "",
            kind,
            mib(memory.peak_kib),
        );
        Ok(())
    }

    /// Workload 5: many clients connected to one server, each having synced one shared
    /// document; the growth of the server's RSS per connection once they idle.
    pub(crate) fn many_clients(&mut self, kind: Kind) -> anyhow::Result<()> {
        let clients = self.settings.w5_clients;
        let (mut server, token) = self.fresh_server(kind, "w5")?;
        let pid = server.pid;
        let log_path = self.scratch.join(format!("w5-{kind}-driver.log"));
        let mut driver = self.driver("w5");
        driver
            .arg("--url")
            .arg(server.ws_url(&token))
            .arg("--clients")
            .arg(clients.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log_path)?);
        let mut talk = Talk::spawn(driver)?;
        let fail = |what: &str, server: &Server| {
            anyhow::anyhow!(
                "{what} (w5 against {kind}); driver log:\n{}\nserver log:\n{}",
                fs::read_to_string(&log_path).unwrap_or_default(),
                server.log()
            )
        };
        talk.expect("baseline")
            .map_err(|e| fail(&format!("{e:#}"), &server))?;
        proc_stats::wait_until_quiet(pid, QUIET, QUIET_LIMIT)?;
        let before = proc_stats::memory(pid)?;
        let cpu = proc_stats::cpu_time(pid)?;
        talk.say("go")?;
        let connected = talk
            .expect("connected")
            .map_err(|e| fail(&format!("{e:#}"), &server))?;
        let cpu = proc_stats::cpu_time(pid)? - cpu;
        proc_stats::wait_until_quiet(pid, QUIET, QUIET_LIMIT)?;
        sleep(Duration::from_secs(2));
        let after: Memory = proc_stats::memory(pid)?;
        talk.finish()?;
        server.check_alive()?;
        let w = format!("5. {clients} clients connected, one shared document");
        let per_connection = (after.rss_kib as f64 - before.rss_kib as f64) / clients as f64;
        let r = &mut *self.results;
        r.record(
            &w,
            "RSS per connection (idle)",
            Unit::KiB,
            "< 32 KiB",
            kind,
            per_connection,
        );
        r.record(
            &w,
            "server RSS with all connected",
            Unit::MiB,
            "",
            kind,
            mib(after.rss_kib),
        );
        r.record(
            &w,
            "server CPU to connect and sync all",
            Unit::Seconds,
            "",
            kind,
            cpu.as_secs_f64(),
        );
        r.record(
            &w,
            "wall time to connect and sync all",
            Unit::Seconds,
            "",
            kind,
            number(&connected, "wallMs")? / 1000.0,
        );
        Ok(())
    }
}

/// A driver that talks over stdin/stdout (workload 5, and workload 1 with `--wait-go`).
pub(crate) struct Talk {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Talk {
    pub(crate) fn spawn(mut command: Command) -> anyhow::Result<Talk> {
        let mut child = command.spawn().context("starting the JS driver")?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().context("the driver's stdout")?);
        Ok(Talk {
            child,
            stdin,
            stdout,
        })
    }

    /// Reads lines until one says `{"phase": phase}`; fails if the driver ends first.
    pub(crate) fn expect(&mut self, phase: &str) -> anyhow::Result<Value> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.stdout.read_line(&mut line)? == 0 {
                let status = self.child.wait()?;
                bail!("the driver ended ({status}) before saying {phase:?}");
            }
            if let Ok(value) = serde_json::from_str::<Value>(&line)
                && value["phase"] == phase
            {
                return Ok(value);
            }
        }
    }

    pub(crate) fn say(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin already closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits for the driver to end by itself (stdin still open) and returns its last line,
    /// its result; fails if it failed.
    pub(crate) fn result(mut self) -> anyhow::Result<Value> {
        let mut last = String::new();
        let mut line = String::new();
        while self.stdout.read_line(&mut line)? > 0 {
            if !line.trim().is_empty() {
                last = line.trim().to_owned();
            }
            line.clear();
        }
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the driver exited with {status}");
        }
        serde_json::from_str(&last).with_context(|| format!("the driver printed {last:?}"))
    }

    /// Closes stdin (the driver then disconnects and exits) and waits for it.
    fn finish(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the driver exited with {status}");
        }
        Ok(())
    }
}

impl Drop for Talk {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn number(value: &Value, field: &str) -> anyhow::Result<f64> {
    value[field]
        .as_f64()
        .with_context(|| format!("the driver's result has no number {field:?}: {value}"))
}
