//! Workload 1 past one machine (issue 11, `--scale-out`): passerelle on sled, on PostgreSQL
//! with one instance and with three instances sharing one database, each driven by one JS
//! client and by three clients at once (one per instance when there are three, all on the
//! one instance otherwise), creating the same number of documents in total.
//!
//! Each measurement starts from nothing: a fresh sled directory, or a fresh database (random
//! name) created through the admin URL and dropped after. Measured: the wall time from the
//! drivers' common start to the last acknowledgement, the servers' CPU (all instances, until
//! they are quiet), the CPU of the PostgreSQL backends serving the database (its share of the
//! work; the cluster's shared processes, WAL writer and checkpointer, are not counted), the
//! drivers' own CPU (to tell whether the client is the limit), and the transactions committed
//! in the database (`pg_stat_database.xact_commit`, reads included, from the instances'
//! start to their stop).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use passerelle_store::testing::TestDatabase;
use postgres::{Client, NoTls};

use crate::proc_stats;
use crate::report::{Spread, Unit};
use crate::servers::{self, Kind, Programs, Server};
use crate::workloads::{QUIET, QUIET_LIMIT, Talk, number};

/// Where the documents are stored, and by how many instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    Sled,
    Postgres1,
    Postgres3,
}

impl Setup {
    pub(crate) const ALL: [Setup; 3] = [Setup::Sled, Setup::Postgres1, Setup::Postgres3];

    fn instances(self) -> usize {
        match self {
            Setup::Sled | Setup::Postgres1 => 1,
            Setup::Postgres3 => 3,
        }
    }

    fn on_postgres(self) -> bool {
        self != Setup::Sled
    }

    fn label(self) -> &'static str {
        match self {
            Setup::Sled => "sled, 1 instance",
            Setup::Postgres1 => "PostgreSQL, 1 instance",
            Setup::Postgres3 => "PostgreSQL, 3 instances",
        }
    }
}

/// The client counts of each set-up.
pub(crate) const CLIENTS: [usize; 2] = [1, 3];

/// How long the database's connections may take to close after the instances stopped.
const CLOSE_LIMIT: Duration = Duration::from_secs(15);

/// One measurement of one set-up with some clients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    pub(crate) wall_s: f64,
    pub(crate) server_cpu_s: f64,
    /// `None` on sled.
    pub(crate) database_cpu_s: Option<f64>,
    pub(crate) clients_cpu_s: f64,
    /// `None` on sled.
    pub(crate) commits: Option<f64>,
}

/// Every sample, by set-up and client count, in the order first recorded.
#[derive(Debug, Default)]
pub(crate) struct Table {
    docs: usize,
    rows: Vec<(Setup, usize, Vec<Sample>)>,
}

impl Table {
    pub(crate) fn new(docs: usize) -> Table {
        Table {
            docs,
            rows: Vec::new(),
        }
    }

    pub(crate) fn record(&mut self, setup: Setup, clients: usize, sample: Sample) {
        match self
            .rows
            .iter_mut()
            .find(|(s, c, _)| *s == setup && *c == clients)
        {
            Some((_, _, samples)) => samples.push(sample),
            None => self.rows.push((setup, clients, vec![sample])),
        }
    }

    /// The Markdown table: one row per set-up and client count, medians with (min–max).
    pub(crate) fn markdown(&self) -> String {
        let mut out = format!(
            "Workload 1 past one machine: {} small documents created in total, by one JS \
             client or by three at once.\n\n",
            self.docs
        );
        out.push_str(
            "| set-up | clients | wall time | documents/s | servers' CPU (all instances) | \
             database backends' CPU | clients' CPU (node) | transactions committed |\n",
        );
        out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for (setup, clients, samples) in &self.rows {
            let of = |f: &dyn Fn(&Sample) -> Option<f64>| {
                Spread::of(&samples.iter().filter_map(f).collect::<Vec<_>>())
            };
            let per_second = |s: &Sample| Some(self.docs as f64 / s.wall_s);
            let who = match (clients, setup.instances()) {
                (1, _) => "1".to_owned(),
                (n, 1) => format!("{n}, all on the instance"),
                (n, _) => format!("{n}, spread over the instances"),
            };
            let _ = writeln!(
                out,
                "| {} | {who} | {} | {} | {} | {} | {} | {} |",
                setup.label(),
                Unit::Seconds.cell(of(&|s| Some(s.wall_s))),
                Unit::PerSecond.cell(of(&per_second)),
                Unit::Seconds.cell(of(&|s| Some(s.server_cpu_s))),
                Unit::Seconds.cell(of(&|s| s.database_cpu_s)),
                Unit::Seconds.cell(of(&|s| Some(s.clients_cpu_s))),
                Unit::Count.cell(of(&|s| s.commits)),
            );
        }
        out
    }
}

/// `total` documents shared among `clients`, the first ones taking one more when it does not
/// divide.
fn shares(total: usize, clients: usize) -> Vec<usize> {
    (0..clients)
        .map(|i| total / clients + usize::from(i < total % clients))
        .collect()
}

/// The wall time of drivers run at once: from the first one's start to the last one's end
/// (each `(startedAt, endedAt)` in ms on the same clock).
fn span(drivers: &[(f64, f64)]) -> Option<f64> {
    let start = drivers.iter().map(|d| d.0).min_by(f64::total_cmp)?;
    let end = drivers.iter().map(|d| d.1).max_by(f64::total_cmp)?;
    Some(end - start)
}

/// The statistics connection to PostgreSQL, on the admin URL's database (never the one
/// measured, so its own queries are not counted).
pub(crate) struct Stats {
    client: Client,
}

impl Stats {
    pub(crate) fn connect(admin_url: &str) -> anyhow::Result<Stats> {
        let client = Client::connect(admin_url, NoTls).with_context(|| {
            format!(
                "connecting to PostgreSQL at {}",
                passerelle_store::display_url(admin_url)
            )
        })?;
        Ok(Stats { client })
    }

    /// The PostgreSQL backends serving `database`.
    fn backends(&mut self, database: &str) -> anyhow::Result<Vec<u32>> {
        let rows = self.client.query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1",
            &[&database],
        )?;
        Ok(rows
            .iter()
            .filter_map(|row| u32::try_from(row.get::<_, i32>(0)).ok())
            .collect())
    }

    /// The transactions committed in `database` so far. A backend reports its counts when
    /// idle at most every 10 s, and always when it exits: read this with no connection open.
    fn commits(&mut self, database: &str) -> anyhow::Result<i64> {
        let row = self.client.query_opt(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
            &[&database],
        )?;
        Ok(row.map_or(0, |row| row.get(0)))
    }

    /// Waits until no connection to `database` is left (their counts are then reported).
    fn wait_until_closed(&mut self, database: &str) -> anyhow::Result<()> {
        let end = Instant::now() + CLOSE_LIMIT;
        while !self.backends(database)?.is_empty() {
            if Instant::now() > end {
                bail!(
                    "connections to {database} still open {CLOSE_LIMIT:?} after the servers stopped"
                );
            }
            sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

/// The CPU time of each of `pids` now, in seconds (the processes gone are left out).
fn cpu_of(pids: &[u32]) -> HashMap<u32, f64> {
    pids.iter()
        .filter_map(|&pid| Some((pid, proc_stats::cpu_time(pid).ok()?.as_secs_f64())))
        .collect()
}

/// The measurements of `--scale-out`.
pub(crate) struct ScaleOut<'a> {
    pub(crate) programs: &'a Programs,
    /// The PostgreSQL admin URL, through which each measurement creates its database.
    pub(crate) admin_url: &'a str,
    pub(crate) stats: Stats,
    pub(crate) docs: usize,
}

impl ScaleOut<'_> {
    /// One measurement of `setup` with `clients` drivers, in `scratch` (left for the caller
    /// to remove).
    pub(crate) fn measure(
        &mut self,
        setup: Setup,
        clients: usize,
        scratch: &Path,
    ) -> anyhow::Result<Sample> {
        fs::create_dir_all(scratch)?;
        let db = if setup.on_postgres() {
            Some(
                TestDatabase::create_through(self.admin_url).with_context(|| {
                    format!(
                        "creating a database through {}",
                        passerelle_store::display_url(self.admin_url)
                    )
                })?,
            )
        } else {
            None
        };
        let store = db.as_ref().map(TestDatabase::url);
        let data = |n: usize| scratch.join(format!("instance-{n}"));
        // On sled the user goes in the first instance's store; on PostgreSQL in the database
        // (the admin command's data directory then holds nothing of it).
        let admin_data = if store.is_some() {
            scratch.join("admin")
        } else {
            data(0)
        };
        fs::create_dir_all(&admin_data)?;
        let token = servers::add_passerelle_user(self.programs, &admin_data, store)?;
        let commits_before = match &db {
            Some(db) => {
                self.stats.wait_until_closed(db.name())?;
                Some(self.stats.commits(db.name())?)
            }
            None => None,
        };

        let mut instances = Vec::new();
        for n in 0..setup.instances() {
            fs::create_dir_all(data(n))?;
            let log = scratch.join(format!("instance-{n}.log"));
            instances.push(Server::start(
                Kind::Passerelle,
                self.programs,
                &data(n),
                store,
                &log,
            )?);
        }
        for server in &instances {
            proc_stats::wait_until_quiet(server.pid, QUIET, QUIET_LIMIT)?;
        }

        let mut drivers = Vec::new();
        let mut driver_logs = Vec::new();
        for (i, docs) in shares(self.docs, clients).into_iter().enumerate() {
            let server = &instances[i % instances.len()];
            let log = scratch.join(format!("driver-{i}.log"));
            let mut command = std::process::Command::new(&self.programs.node);
            command
                .arg(self.programs.js_dir.join("driver.mjs"))
                .arg("w1")
                .arg("--url")
                .arg(server.ws_url(&token))
                .arg("--docs")
                .arg(docs.to_string())
                .arg("--urls-file")
                .arg(scratch.join(format!("urls-{i}.json")))
                .arg("--wait-go")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(fs::File::create(&log)?);
            drivers.push(Talk::spawn(command)?);
            driver_logs.push(log);
        }
        let failed = |what: String, logs: &[std::path::PathBuf], instances: &[Server]| {
            let mut text = format!("{what} ({} with {clients} clients)", setup.label());
            for log in logs {
                let _ = write!(
                    text,
                    "\n--- {}:\n{}",
                    log.display(),
                    fs::read_to_string(log).unwrap_or_default()
                );
            }
            for (n, server) in instances.iter().enumerate() {
                let _ = write!(text, "\n--- instance {n}:\n{}", server.log());
            }
            anyhow::anyhow!(text)
        };
        for driver in &mut drivers {
            driver
                .expect("ready")
                .map_err(|e| failed(format!("{e:#}"), &driver_logs, &instances))?;
        }

        let pids: Vec<u32> = instances.iter().map(|s| s.pid).collect();
        let server_cpu = cpu_of(&pids);
        let backends_before = match &db {
            Some(db) => cpu_of(&self.stats.backends(db.name())?),
            None => HashMap::new(),
        };
        for driver in &mut drivers {
            driver.say("go")?;
        }
        let mut times = Vec::new();
        let mut clients_cpu_ms = 0.0;
        for driver in drivers {
            let result = driver
                .result()
                .map_err(|e| failed(format!("{e:#}"), &driver_logs, &instances))?;
            times.push((number(&result, "startedAt")?, number(&result, "endedAt")?));
            clients_cpu_ms += number(&result, "cpuMs")?;
        }
        // Deferred work (feed rows, compaction) counts: until every instance is quiet.
        for server in &mut instances {
            server.check_alive()?;
            proc_stats::wait_until_quiet(server.pid, QUIET, QUIET_LIMIT)?;
        }
        let server_cpu_s: f64 = cpu_of(&pids)
            .iter()
            .map(|(pid, now)| now - server_cpu.get(pid).copied().unwrap_or(0.0))
            .sum();
        // A backend opened during the run counts whole; one closed during it is lost.
        let database_cpu_s = match &db {
            Some(db) => Some(
                cpu_of(&self.stats.backends(db.name())?)
                    .iter()
                    .map(|(pid, now)| now - backends_before.get(pid).copied().unwrap_or(0.0))
                    .sum(),
            ),
            None => None,
        };
        drop(instances);
        let commits = match (&db, commits_before) {
            (Some(db), Some(before)) => {
                self.stats.wait_until_closed(db.name())?;
                Some((self.stats.commits(db.name())? - before) as f64)
            }
            _ => None,
        };
        drop(db);
        Ok(Sample {
            wall_s: span(&times).context("no driver ran")? / 1000.0,
            server_cpu_s,
            database_cpu_s,
            clients_cpu_s: clients_cpu_ms / 1000.0,
            commits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        assert_eq!(shares(1000, 1), vec![1000]);
        assert_eq!(shares(1000, 3), vec![334, 333, 333]);
        assert_eq!(shares(2, 3), vec![1, 1, 0]);
        assert_eq!(shares(1000, 3).iter().sum::<usize>(), 1000);
    }

    #[test]
    fn the_span_runs_from_the_first_start_to_the_last_end() {
        assert_eq!(span(&[]), None);
        assert_eq!(span(&[(100.0, 600.0)]), Some(500.0));
        assert_eq!(
            span(&[(100.0, 600.0), (90.0, 500.0), (120.0, 900.0)]),
            Some(810.0)
        );
    }

    #[test]
    fn the_table_has_one_row_per_set_up_and_client_count() {
        let mut table = Table::new(1000);
        for wall in [2.0, 4.0, 5.0] {
            table.record(
                Setup::Postgres3,
                3,
                Sample {
                    wall_s: wall,
                    server_cpu_s: 1.5,
                    database_cpu_s: Some(1.0),
                    clients_cpu_s: 2.0,
                    commits: Some(16000.0),
                },
            );
        }
        table.record(
            Setup::Sled,
            1,
            Sample {
                wall_s: 0.5,
                server_cpu_s: 0.4,
                database_cpu_s: None,
                clients_cpu_s: 0.45,
                commits: None,
            },
        );
        let markdown = table.markdown();
        let rows: Vec<&str> = markdown
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| ---"))
            .collect();
        assert_eq!(rows.len(), 3, "{markdown}");
        assert_eq!(
            rows[1],
            "| PostgreSQL, 3 instances | 3, spread over the instances | 4.00 s (2.00–5.00) | \
             250/s (200–500) | 1.50 s | 1.00 s | 2.00 s | 16000 |"
        );
        assert_eq!(
            rows[2],
            "| sled, 1 instance | 1 | 0.50 s | 2000/s | 0.40 s | – | 0.45 s | – |"
        );
    }
}
