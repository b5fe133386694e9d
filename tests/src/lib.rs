//! Shared helpers for passerelle's end-to-end tests.
//!
//! - [`TestServer`] (`server.rs`): the real `passerelle-server` binary on `127.0.0.1:0`, its
//!   users created with the real admin CLI, killed with SIGKILL and restarted at will.
//! - [`Proxy`] (`proxy.rs`): a fault-injecting TCP proxy in front of it: one-way latency, a
//!   bandwidth cap, connections cut at random byte offsets, stalls and truncated responses,
//!   from a seeded random generator, with byte and connection counters.
//! - [`CliReplica`] (`client.rs`): a replica directory driven by the real `passerelle` binary,
//!   one process per command, so that a test can kill one half way.
//! - [`sim`]: the whole system (the server's router, hub, engine and storage code, and real
//!   replicas) in a seeded turmoil simulation with partitions, loss, crashes and restarts.

mod client;
mod proxy;
mod server;
pub mod sim;

pub use client::{CliReplica, client_binary};
pub use proxy::{Fault, LinkSettings, Proxy, ProxyStats};
pub use server::{Role, TestServer, server_binary};
