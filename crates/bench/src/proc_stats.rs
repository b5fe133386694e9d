//! What the kernel says about a server process: CPU time from `/proc/PID/stat`, resident
//! memory from `/proc/PID/status`. Linux only, like the benchmark.

use std::fs;
use std::process::Command;
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// User + system CPU time of the whole process (every thread), so far.
pub(crate) fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64))
}

/// utime + stime, in clock ticks, from the text of `/proc/PID/stat`. The command name
/// (field 2) is in parentheses and may hold spaces, so fields are counted after the last `)`:
/// there, field 3 (state) is the first, utime (14) the 12th and stime (15) the 13th.
fn parse_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("no `)` in /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .context("/proc/PID/stat is too short")?
            .parse()
            .context("a CPU time field is not a number")
    };
    Ok(field(11)? + field(12)?)
}

fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Resident memory now and at its peak, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Memory {
    /// `VmRSS`.
    pub(crate) rss_kib: u64,
    /// `VmHWM`: the peak since the start, or since [`reset_peak`].
    pub(crate) peak_kib: u64,
}

pub(crate) fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_memory(&status)
}

fn parse_memory(status: &str) -> anyhow::Result<Memory> {
    let kib = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .with_context(|| format!("no {name} in /proc/PID/status"))?;
        let number = line.trim().trim_end_matches("kB").trim();
        number
            .parse()
            .with_context(|| format!("{name} is not a number: {line:?}"))
    };
    Ok(Memory {
        rss_kib: kib("VmRSS")?,
        peak_kib: kib("VmHWM")?,
    })
}

/// Resets `VmHWM` to the current RSS (`echo 5 > /proc/PID/clear_refs`), so that the next
/// peak is the peak of one workload. Needs to own the process (or root).
pub(crate) fn reset_peak(pid: u32) -> anyhow::Result<()> {
    fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("resetting the peak RSS of {pid}"))
}

/// Waits until the process has used no CPU for `quiet` (a server finishing deferred work:
/// debounced saves, compactions), or `limit` passed. Returns whether it became quiet.
pub(crate) fn wait_until_quiet(pid: u32, quiet: Duration, limit: Duration) -> anyhow::Result<bool> {
    let end = Instant::now() + limit;
    let mut last = cpu_time(pid)?;
    let mut still_since = Instant::now();
    while Instant::now() < end {
        sleep(Duration::from_millis(50));
        let now = cpu_time(pid)?;
        if now != last {
            last = now;
            still_since = Instant::now();
        } else if still_since.elapsed() >= quiet {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The 1-minute load average, from `/proc/loadavg`.
pub(crate) fn load_average() -> anyhow::Result<f64> {
    let text = fs::read_to_string("/proc/loadavg")?;
    match text.split_whitespace().next().map(str::parse) {
        Some(Ok(load)) => Ok(load),
        _ => bail!("unexpected /proc/loadavg: {text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (node (bench) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 \
                    37 5 0 0 20 0 11 0 123 456 789";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 42);
        assert!(parse_cpu_ticks("1 (x) S 1").is_err());
    }

    #[test]
    fn memory_reads_rss_and_peak() {
        let status = "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        let memory = parse_memory(status).unwrap();
        assert_eq!(
            memory,
            Memory {
                rss_kib: 10240,
                peak_kib: 20480
            }
        );
        assert!(parse_memory("Name:\tx\n").is_err());
    }

    #[test]
    fn this_process_is_measurable() {
        let pid = std::process::id();
        // Burn a little CPU so the counter is past zero on any tick rate.
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(cpu_time(pid).unwrap() > Duration::ZERO);
        let memory = memory(pid).unwrap();
        assert!(memory.rss_kib > 0 && memory.peak_kib >= memory.rss_kib);
        reset_peak(pid).unwrap();
        assert!(load_average().unwrap() >= 0.0);
    }
}
