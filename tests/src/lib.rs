//! Shared helpers for passerelle's end-to-end tests.
//!
//! - [`TestServer`] (`server.rs`): the real `passerelle-server` binary on `127.0.0.1:0`, its
//!   users created with the real admin CLI, killed with SIGKILL and restarted at will.
//! - [`Proxy`] (`proxy.rs`): a fault-injecting TCP proxy in front of it: one-way latency, a
//!   bandwidth cap, connections cut at random byte offsets, stalls and truncated responses,
//!   from a seeded random generator, with byte and connection counters.

mod proxy;
mod server;

pub use proxy::{Fault, LinkSettings, Proxy, ProxyStats};
pub use server::{Role, TestServer, server_binary};
