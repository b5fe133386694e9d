//! [`Metrics`]: counters and gauges of the sync server, rendered in the Prometheus text
//! format by `GET /metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (in seconds) of the storage flush latency histogram.
const FLUSH_BUCKETS: [f64; 8] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

/// The server's counters. Every field is updated with relaxed atomics: the numbers are
/// for people and dashboards, not for synchronisation.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open WebSocket connections.
    pub connections: AtomicU64,
    /// Documents in memory.
    pub documents_loaded: AtomicU64,
    /// Protocol messages received.
    pub messages_in: AtomicU64,
    /// Protocol messages sent.
    pub messages_out: AtomicU64,
    /// Bytes received in protocol messages.
    pub bytes_in: AtomicU64,
    /// Bytes sent in protocol messages.
    pub bytes_out: AtomicU64,
    /// Refusals: denied access, read-only writes, malformed input.
    pub refusals: AtomicU64,
    flush_buckets: [AtomicU64; FLUSH_BUCKETS.len()],
    flush_count: AtomicU64,
    flush_micros: AtomicU64,
}

impl Metrics {
    /// Records one storage task's duration (an append includes its flush).
    pub fn record_storage(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in FLUSH_BUCKETS.iter().zip(&self.flush_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.flush_count.fetch_add(1, Ordering::Relaxed);
        self.flush_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with `documents_stored` supplied by the caller.
    pub fn render(&self, documents_stored: u64) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(out, "# HELP passerelle_{name} {help}");
            let _ = writeln!(out, "# TYPE passerelle_{name} {kind}");
            let _ = writeln!(out, "passerelle_{name} {value}");
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            "connections",
            "Open WebSocket connections.",
            "gauge",
            get(&self.connections),
        );
        gauge(
            "documents_loaded",
            "Documents held in memory.",
            "gauge",
            get(&self.documents_loaded),
        );
        gauge(
            "documents_stored",
            "Documents in the store.",
            "gauge",
            documents_stored,
        );
        gauge(
            "messages_in_total",
            "Protocol messages received.",
            "counter",
            get(&self.messages_in),
        );
        gauge(
            "messages_out_total",
            "Protocol messages sent.",
            "counter",
            get(&self.messages_out),
        );
        gauge(
            "bytes_in_total",
            "Bytes of protocol messages received.",
            "counter",
            get(&self.bytes_in),
        );
        gauge(
            "bytes_out_total",
            "Bytes of protocol messages sent.",
            "counter",
            get(&self.bytes_out),
        );
        gauge(
            "refusals_total",
            "Refused or malformed requests.",
            "counter",
            get(&self.refusals),
        );
        let _ = writeln!(
            out,
            "# HELP passerelle_storage_seconds Storage task latency, flush included."
        );
        let _ = writeln!(out, "# TYPE passerelle_storage_seconds histogram");
        for (bound, bucket) in FLUSH_BUCKETS.iter().zip(&self.flush_buckets) {
            let _ = writeln!(
                out,
                "passerelle_storage_seconds_bucket{{le=\"{bound}\"}} {}",
                get(bucket)
            );
        }
        let count = get(&self.flush_count);
        let _ = writeln!(
            out,
            "passerelle_storage_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "passerelle_storage_seconds_sum {}",
            get(&self.flush_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "passerelle_storage_seconds_count {count}");
        out
    }
}
