//! The fault-injecting proxy ([`Proxy`]) does what the bad-link tests rely on: it adds its
//! latency, paces to its cap, cuts at the drawn budget, truncates, stalls, draws the same
//! faults from the same seed, and applies new settings to new connections.
//!
//! Timing checks are lower bounds only (the proxy must add at least what it is asked to; a
//! loaded machine may add more).

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use passerelle_tests::{Fault, LinkSettings, Proxy};

/// What a connection to [`Server`] does.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Sends back what it reads.
    Echo,
    /// Reads until the end and reports how many bytes it got.
    Sink,
    /// Sends this many bytes, then closes.
    Source(usize),
}

/// A plain TCP server on 127.0.0.1, one thread per connection. A sink reports on `received`.
struct Server {
    address: SocketAddr,
    received: mpsc::Receiver<usize>,
}

impl Server {
    fn start(behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (report, received) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let report = report.clone();
                thread::spawn(move || {
                    let mut buffer = [0; 4096];
                    match behaviour {
                        Behaviour::Echo => loop {
                            match stream.read(&mut buffer) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if stream.write_all(&buffer[..n]).is_err() {
                                        return;
                                    }
                                }
                            }
                        },
                        Behaviour::Sink => {
                            let mut total = 0;
                            while let Ok(n @ 1..) = stream.read(&mut buffer) {
                                total += n;
                            }
                            let _ = report.send(total);
                        }
                        Behaviour::Source(size) => {
                            let _ = stream.write_all(&pattern(size));
                        }
                    }
                });
            }
        });
        Server { address, received }
    }
}

fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Reads until the end or an error; returns the bytes and whether it ended with an error
/// (a reset) rather than a clean end.
fn read_all(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (out, false),
            Ok(n) => out.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (out, true),
        }
    }
}

fn connect(proxy: &Proxy) -> TcpStream {
    let stream = TcpStream::connect(proxy.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Time for `size` bytes to go through the echo and come back.
fn echo_round_trip(proxy: &Proxy, size: usize) -> Duration {
    let mut stream = connect(proxy);
    let data = pattern(size);
    let started = Instant::now();
    stream.write_all(&data).unwrap();
    let mut back = vec![0; size];
    stream.read_exact(&mut back).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(back, data, "the echo came back changed");
    elapsed
}

#[test]
fn a_clean_proxy_forwards_both_ways_and_counts() {
    let server = Server::start(Behaviour::Echo);
    let proxy = Proxy::start(server.address, LinkSettings::clean(), 1);
    echo_round_trip(&proxy, 100_000);
    echo_round_trip(&proxy, 10);
    let stats = proxy.stats();
    assert_eq!(stats.connections, 2);
    assert_eq!(stats.bytes_up, 100_010);
    assert_eq!(stats.bytes_down, 100_010);
    assert_eq!((stats.cuts, stats.truncations, stats.stalls), (0, 0, 0));
}

#[test]
fn latency_is_added_each_way() {
    let server = Server::start(Behaviour::Echo);
    let rtt = Duration::from_millis(400);
    let proxy = Proxy::start(server.address, LinkSettings::clean().rtt(rtt), 1);
    for _ in 0..3 {
        let measured = echo_round_trip(&proxy, 10);
        assert!(
            measured >= rtt,
            "round trip {measured:?}, configured {rtt:?}"
        );
    }
    // Latency is a delay, not a pause per slice: a large transfer costs about one round
    // trip more, not one per slice. (No upper bound is asserted; this only checks that data
    // keeps flowing while earlier slices are in flight.)
    let measured = echo_round_trip(&proxy, 200_000);
    assert!(measured >= rtt);
}

#[test]
fn a_32_kbit_cap_paces_each_direction() {
    let server = Server::start(Behaviour::Sink);
    let proxy = Proxy::start(
        server.address,
        LinkSettings::clean().bits_per_second(32_000),
        1,
    );
    assert_eq!(proxy.settings().bandwidth, Some(4_000));
    let mut stream = connect(&proxy);
    let started = Instant::now();
    stream.write_all(&pattern(10_000)).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let received = server
        .received
        .recv_timeout(Duration::from_secs(30))
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(received, 10_000);
    // 10,000 bytes at 4,000 B/s take 2.5 s; the first slice (80 bytes) goes at once.
    assert!(
        elapsed >= Duration::from_millis(2_450),
        "10,000 bytes through a 32 kbit/s cap took only {elapsed:?}"
    );

    // The other direction, from a server that sends 6,000 bytes.
    let source = Server::start(Behaviour::Source(6_000));
    let proxy = Proxy::start(
        source.address,
        LinkSettings::clean().bits_per_second(32_000),
        1,
    );
    let started = Instant::now();
    let (bytes, reset) = read_all(&mut connect(&proxy));
    let elapsed = started.elapsed();
    assert_eq!((bytes, reset), (pattern(6_000), false));
    assert!(
        elapsed >= Duration::from_millis(1_450),
        "6,000 bytes took only {elapsed:?}"
    );
}

#[test]
fn a_cut_resets_the_connection_at_its_budget() {
    let server = Server::start(Behaviour::Sink);
    let settings = LinkSettings::clean().cut(Fault::always(1_000..=1_000));
    let proxy = Proxy::start(server.address, settings, 1);
    let mut stream = connect(&proxy);
    // Write more than the budget; the writes may or may not see the reset.
    let _ = stream.write_all(&pattern(5_000));
    let received = server
        .received
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    assert!(received <= 1_000, "the server got {received} bytes");
    let (_, reset) = read_all(&mut stream);
    assert!(reset, "the client's side was closed cleanly, not reset");
    let stats = proxy.stats();
    assert_eq!((stats.bytes_up, stats.cuts), (1_000, 1));

    // The budget counts both directions: an echo of 300-byte messages is cut after
    // 1,000 bytes, in the middle of the second answer.
    let echo = Server::start(Behaviour::Echo);
    let proxy = Proxy::start(
        echo.address,
        LinkSettings::clean().cut(Fault::always(1_000..=1_000)),
        1,
    );
    let mut stream = connect(&proxy);
    let mut got = 0;
    for _ in 0..5 {
        if stream.write_all(&pattern(300)).is_err() {
            break;
        }
        let mut back = [0; 300];
        match stream.read_exact(&mut back) {
            Ok(()) => got += 300,
            Err(_) => break,
        }
    }
    assert_eq!(
        got, 300,
        "one whole exchange (600 bytes) fits in the budget"
    );
    assert_eq!(proxy.stats().bytes(), 1_000);
}

#[test]
fn a_truncated_answer_ends_cleanly_mid_stream() {
    let source = Server::start(Behaviour::Source(5_000));
    let settings = LinkSettings::clean().truncate(Fault::always(1_234..=1_234));
    let proxy = Proxy::start(source.address, settings, 1);
    let (bytes, reset) = read_all(&mut connect(&proxy));
    assert_eq!(bytes, pattern(1_234));
    assert!(!reset, "a truncation is a clean end (FIN), not a reset");
    assert_eq!(proxy.stats().truncations, 1);
}

#[test]
fn a_stall_pauses_forwarding() {
    let server = Server::start(Behaviour::Echo);
    let pause = Duration::from_millis(600);
    let settings = LinkSettings::clean().stall(Fault::always(0..=0), pause);
    let proxy = Proxy::start(server.address, settings, 1);
    let measured = echo_round_trip(&proxy, 10);
    assert!(measured >= pause, "{measured:?}");
    assert_eq!(proxy.stats().stalls, 1);

    // A stall of the whole proxy, on a connection already open.
    let proxy = Proxy::start(server.address, LinkSettings::clean(), 1);
    let mut stream = connect(&proxy);
    stream.write_all(b"ping").unwrap();
    stream.read_exact(&mut [0; 4]).unwrap();
    proxy.stall(pause);
    let started = Instant::now();
    stream.write_all(b"ping").unwrap();
    stream.read_exact(&mut [0; 4]).unwrap();
    assert!(started.elapsed() >= pause);
}

#[test]
fn the_same_seed_draws_the_same_faults() {
    let budgets = |seed: u64| -> Vec<u64> {
        let server = Server::start(Behaviour::Sink);
        let settings = LinkSettings::clean().cut(Fault::sometimes(0.7, 100..=5_000));
        let proxy = Proxy::start(server.address, settings, seed);
        (0..8)
            .map(|_| {
                let before = proxy.stats();
                let mut stream = connect(&proxy);
                let _ = stream.write_all(&pattern(6_000));
                let _ = stream.shutdown(std::net::Shutdown::Write);
                let _ = read_all(&mut stream);
                server
                    .received
                    .recv_timeout(Duration::from_secs(10))
                    .unwrap();
                proxy.stats().since(&before).bytes_up
            })
            .collect()
    };
    let first = budgets(7);
    assert_eq!(first, budgets(7));
    assert_ne!(first, budgets(8));
    assert!(
        first.contains(&6_000),
        "some connections are not cut: {first:?}"
    );
    assert!(first.iter().any(|&b| b < 6_000), "{first:?}");
}

#[test]
fn new_settings_apply_to_new_connections() {
    let server = Server::start(Behaviour::Echo);
    let proxy = Proxy::start(server.address, LinkSettings::clean(), 1);
    let mut open = connect(&proxy);
    // One exchange first, so that the proxy has accepted it (faults are drawn then).
    open.write_all(b"ping").unwrap();
    open.read_exact(&mut [0; 4]).unwrap();
    proxy.set_settings(LinkSettings::clean().cut(Fault::always(10..=10)));
    // The open connection keeps its (absent) faults.
    open.write_all(&pattern(100)).unwrap();
    open.read_exact(&mut [0; 100]).unwrap();
    // A new one is cut.
    let mut cut = connect(&proxy);
    let _ = cut.write_all(&pattern(100));
    let (bytes, reset) = read_all(&mut cut);
    assert!(bytes.is_empty() && reset);
    // Back to clean: new connections go through again.
    proxy.set_settings(LinkSettings::clean());
    echo_round_trip(&proxy, 1_000);
    assert_eq!(proxy.stats().cuts, 1);
}
