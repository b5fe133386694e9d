//! [`Proxy`]: a TCP proxy that makes a bad link between a client and a server on loopback.
//!
//! It listens on `127.0.0.1:0` and forwards every connection to one target address, through
//! a model of a slow, unreliable link ([`LinkSettings`]):
//!
//! - **latency**: every byte is delivered `latency` after it left the sender (one way, so a
//!   request and its answer cost twice that);
//! - **bandwidth**: each direction is a link of `bandwidth` bytes per second shared by every
//!   connection of the proxy (one laptop's uplink and downlink). Bytes are read from the
//!   sender only as fast as the link carries them, in slices of about 20 ms, so a 4,000 B/s
//!   cap really paces and the sender's socket backs up as behind a real slow link;
//! - **cuts** ([`LinkSettings::cut`]): a connection chosen with the fault's probability gets a
//!   budget of bytes (both directions together) drawn from its range; once that many bytes
//!   went through, both halves are closed abruptly (`SO_LINGER` 0: a reset, as when a mobile
//!   link drops);
//! - **truncations** ([`LinkSettings::truncate`]): the server→client stream of a chosen
//!   connection ends cleanly (FIN) after a drawn number of bytes, mid-answer;
//! - **stalls** ([`LinkSettings::stall`]): after a drawn number of bytes, a chosen connection
//!   forwards nothing in either direction for [`LinkSettings::stall_for`]; and
//!   [`Proxy::stall`] pauses every connection at once.
//!
//! Every random choice comes from one generator seeded by the caller, drawn when a
//! connection is accepted, so a failing run can be replayed (the order of connections is the
//! client's). Settings can change while the proxy runs ([`Proxy::set_settings`]): latency and
//! bandwidth apply to the next bytes, faults to the next connections.
//!
//! The proxy runs on a tokio runtime of its own, on a thread of its own, so blocking tests
//! (and the blocking HTTP client of the replica) can use it. Dropping it closes everything.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The largest slice read and forwarded at once.
const MAX_SLICE: usize = 16 * 1024;
/// The smallest slice read under a bandwidth cap.
const MIN_SLICE: usize = 64;
/// A capped link forwards slices of about this much time (1/50 s), so pacing is smooth.
const SLICES_PER_SECOND: u64 = 50;
/// Slices in flight per direction of a connection (a window: past it the sender waits).
const IN_FLIGHT_SLICES: usize = 1024;

/// One kind of fault: which connections get it, and at which byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// The chance that a new connection gets this fault, from 0 to 1.
    pub probability: f64,
    /// The byte offset at which it strikes, drawn uniformly from this range for each
    /// connection that gets it.
    pub after: RangeInclusive<u64>,
}

impl Fault {
    /// Every connection, at an offset drawn from `after`.
    pub fn always(after: RangeInclusive<u64>) -> Self {
        Self {
            probability: 1.0,
            after,
        }
    }

    /// Connections chosen with `probability`, at an offset drawn from `after`.
    pub fn sometimes(probability: f64, after: RangeInclusive<u64>) -> Self {
        assert!(
            (0.0..=1.0).contains(&probability),
            "a probability is between 0 and 1, not {probability}"
        );
        Self { probability, after }
    }

    fn draw(&self, rng: &mut StdRng) -> Option<u64> {
        if self.after.is_empty() || !rng.gen_bool(self.probability.clamp(0.0, 1.0)) {
            return None;
        }
        Some(rng.gen_range(self.after.clone()))
    }
}

/// What the link does. The default is a clean link: no latency, no cap, no faults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkSettings {
    /// One-way delay added to every byte (the round trip is twice this).
    pub latency: Duration,
    /// Bytes per second in each direction, shared by all connections; `None`: no cap.
    pub bandwidth: Option<u64>,
    /// Connections reset after a budget of bytes (both directions together).
    pub cut: Option<Fault>,
    /// Server→client streams ended cleanly after a number of server→client bytes.
    pub truncate: Option<Fault>,
    /// Connections that stop forwarding for [`stall_for`](Self::stall_for) after a number of
    /// bytes (both directions together).
    pub stall: Option<Fault>,
    /// How long a stall lasts.
    pub stall_for: Duration,
}

impl LinkSettings {
    /// A clean link.
    pub fn clean() -> Self {
        Self::default()
    }

    /// With this round-trip time (half of it each way).
    pub fn rtt(mut self, rtt: Duration) -> Self {
        self.latency = rtt / 2;
        self
    }

    /// With a cap of `bits_per_second` in each direction (`32_000` for 32 kbit/s).
    pub fn bits_per_second(mut self, bits_per_second: u64) -> Self {
        self.bandwidth = Some((bits_per_second / 8).max(1));
        self
    }

    /// With connections reset as `fault` says.
    pub fn cut(mut self, fault: Fault) -> Self {
        self.cut = Some(fault);
        self
    }

    /// With answers truncated as `fault` says.
    pub fn truncate(mut self, fault: Fault) -> Self {
        self.truncate = Some(fault);
        self
    }

    /// With stalls of `duration` as `fault` says.
    pub fn stall(mut self, fault: Fault, duration: Duration) -> Self {
        self.stall = Some(fault);
        self.stall_for = duration;
        self
    }

    /// The size of the slices read at once.
    fn slice(&self) -> usize {
        match self.bandwidth {
            None => MAX_SLICE,
            Some(rate) => usize::try_from(rate / SLICES_PER_SECOND)
                .unwrap_or(MAX_SLICE)
                .clamp(MIN_SLICE, MAX_SLICE),
        }
    }
}

/// What went through the proxy since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Bytes delivered to the server (client→server), headers and all.
    pub bytes_up: u64,
    /// Bytes delivered to clients (server→client).
    pub bytes_down: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Connections reset by a cut.
    pub cuts: u64,
    /// Answers truncated.
    pub truncations: u64,
    /// Stalls that happened (per connection; [`Proxy::stall`] is not counted).
    pub stalls: u64,
}

impl ProxyStats {
    /// Bytes both ways.
    pub fn bytes(&self) -> u64 {
        self.bytes_up + self.bytes_down
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &ProxyStats) -> ProxyStats {
        ProxyStats {
            bytes_up: self.bytes_up - earlier.bytes_up,
            bytes_down: self.bytes_down - earlier.bytes_down,
            connections: self.connections - earlier.connections,
            cuts: self.cuts - earlier.cuts,
            truncations: self.truncations - earlier.truncations,
            stalls: self.stalls - earlier.stalls,
        }
    }
}

/// A running proxy. Dropping it stops it and closes every connection.
#[derive(Debug)]
pub struct Proxy {
    address: SocketAddr,
    target: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy on `127.0.0.1:0` to `target`, with a generator seeded by `seed`.
    pub fn start(target: SocketAddr, settings: LinkSettings, seed: u64) -> Proxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        std_listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let address = std_listener.local_addr().expect("the proxy's address");
        let now = Instant::now();
        let shared = Arc::new(Shared {
            target,
            settings: Mutex::new(settings),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            link_free: [Mutex::new(now), Mutex::new(now)],
            paused_until: Mutex::new(now),
            counters: Counters::default(),
        });
        let (stop, stopped) = oneshot::channel();
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("proxy-{}", address.port()))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a tokio runtime for the proxy");
                    runtime.block_on(async move {
                        let listener = TcpListener::from_std(std_listener)
                            .expect("a tokio listener for the proxy");
                        accept_loop(listener, shared, stopped).await;
                    });
                    // Dropping the runtime drops every connection task, and so its sockets.
                })
                .expect("the proxy's thread")
        };
        Proxy {
            address,
            target,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address clients connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address it forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The current settings.
    pub fn settings(&self) -> LinkSettings {
        lock(&self.shared.settings).clone()
    }

    /// Changes the settings: latency and bandwidth apply to the next bytes forwarded, faults
    /// to connections accepted from now on.
    pub fn set_settings(&self, settings: LinkSettings) {
        *lock(&self.shared.settings) = settings;
    }

    /// Pauses every connection, both directions, for `duration` from now.
    pub fn stall(&self, duration: Duration) {
        let mut until = lock(&self.shared.paused_until);
        *until = (*until).max(Instant::now() + duration);
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        ProxyStats {
            bytes_up: c.bytes[Direction::Up as usize].load(Ordering::SeqCst),
            bytes_down: c.bytes[Direction::Down as usize].load(Ordering::SeqCst),
            connections: c.connections.load(Ordering::SeqCst),
            cuts: c.cuts.load(Ordering::SeqCst),
            truncations: c.truncations.load(Ordering::SeqCst),
            stalls: c.stalls.load(Ordering::SeqCst),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client → server.
    Up = 0,
    /// Server → client.
    Down = 1,
}

#[derive(Debug, Default)]
struct Counters {
    bytes: [AtomicU64; 2],
    connections: AtomicU64,
    cuts: AtomicU64,
    truncations: AtomicU64,
    stalls: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    settings: Mutex<LinkSettings>,
    rng: Mutex<StdRng>,
    /// Per direction, when the link has finished sending what it was given.
    link_free: [Mutex<Instant>; 2],
    /// Every connection waits until then ([`Proxy::stall`]).
    paused_until: Mutex<Instant>,
    counters: Counters,
}

impl Shared {
    fn settings(&self) -> LinkSettings {
        lock(&self.settings).clone()
    }

    /// Occupies the link of `direction` with `bytes`, waits until the link has carried them,
    /// and returns that instant (when their last byte left the sender's side).
    async fn transmit(&self, direction: Direction, bytes: usize) -> Instant {
        let Some(rate) = lock(&self.settings).bandwidth else {
            return Instant::now();
        };
        let duration = Duration::from_secs_f64(bytes as f64 / rate.max(1) as f64);
        let done = {
            let mut free = lock(&self.link_free[direction as usize]);
            let start = (*free).max(Instant::now());
            *free = start + duration;
            *free
        };
        tokio::time::sleep_until(done).await;
        done
    }
}

/// The faults drawn for one connection.
#[derive(Debug)]
struct Plan {
    cut_at: Option<u64>,
    truncate_at: Option<u64>,
    stall_at: Option<u64>,
    stall_for: Duration,
}

/// Why forwarding stopped before both sides closed.
#[derive(Debug)]
enum Stop {
    /// Reset both sides.
    Cut,
    /// End the client's stream cleanly, mid-answer.
    Truncated,
    /// A side failed; reset the other.
    Io,
}

/// One connection's state, shared by its two directions (polled by one task).
#[derive(Debug)]
struct Connection {
    plan: Plan,
    /// Bytes forwarded, both directions.
    forwarded: AtomicU64,
    /// Bytes forwarded server→client.
    down: AtomicU64,
    stalled: AtomicBool,
    paused_until: Mutex<Instant>,
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                shared.counters.connections.fetch_add(1, Ordering::SeqCst);
                let plan = {
                    let settings = shared.settings();
                    let mut rng = lock(&shared.rng);
                    Plan {
                        cut_at: settings.cut.as_ref().and_then(|f| f.draw(&mut rng)),
                        truncate_at: settings.truncate.as_ref().and_then(|f| f.draw(&mut rng)),
                        stall_at: settings.stall.as_ref().and_then(|f| f.draw(&mut rng)),
                        stall_for: settings.stall_for,
                    }
                };
                tokio::spawn(connection(client, Arc::clone(&shared), plan));
            }
        }
    }
}

async fn connection(mut client: TcpStream, shared: Arc<Shared>, plan: Plan) {
    let Ok(mut server) = TcpStream::connect(shared.target).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let state = Connection {
        plan,
        forwarded: AtomicU64::new(0),
        down: AtomicU64::new(0),
        stalled: AtomicBool::new(false),
        paused_until: Mutex::new(Instant::now()),
    };
    let outcome = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let up = pump(Direction::Up, client_read, server_write, &shared, &state);
        let down = pump(Direction::Down, server_read, client_write, &shared, &state);
        tokio::try_join!(up, down)
    };
    match outcome {
        Ok(_) => {}
        Err(Stop::Truncated) => {
            shared.counters.truncations.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown().await;
            let _ = server.set_zero_linger();
        }
        Err(stop) => {
            if matches!(stop, Stop::Cut) {
                shared.counters.cuts.fetch_add(1, Ordering::SeqCst);
            }
            // Closing with a zero linger sends a reset instead of a FIN.
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
    }
}

/// Forwards one direction until the sender closes (then closes the receiver's side too).
async fn pump(
    direction: Direction,
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    shared: &Shared,
    state: &Connection,
) -> Result<(), Stop> {
    // Slices in flight, stamped with when they left the sender's side of the link.
    let (sender, mut receiver) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT_SLICES);
    let reading = async move {
        loop {
            let mut slice = vec![0; lock(&shared.settings).slice()];
            let read = from.read(&mut slice).await.map_err(|_| Stop::Io)?;
            if read == 0 {
                // Dropping the sender tells the writing side to close once it is done.
                return Ok::<(), Stop>(());
            }
            slice.truncate(read);
            let sent = shared.transmit(direction, read).await;
            if sender.send((sent, slice)).await.is_err() {
                return Ok(());
            }
        }
    };
    let writing = async {
        while let Some((sent, slice)) = receiver.recv().await {
            let latency = lock(&shared.settings).latency;
            tokio::time::sleep_until(sent + latency).await;
            forward(direction, &slice, &mut to, shared, state).await?;
        }
        let _ = to.shutdown().await;
        Ok(())
    };
    tokio::try_join!(reading, writing).map(|_| ())
}

/// Writes one slice to the receiver, unless a fault strikes first (then writes the part
/// before the fault's offset, and stops).
async fn forward(
    direction: Direction,
    slice: &[u8],
    to: &mut WriteHalf<'_>,
    shared: &Shared,
    state: &Connection,
) -> Result<(), Stop> {
    let plan = &state.plan;
    let length = slice.len() as u64;
    let position = state.forwarded.load(Ordering::SeqCst);
    if let Some(at) = plan.stall_at
        && position + length > at
        && !state.stalled.swap(true, Ordering::SeqCst)
    {
        shared.counters.stalls.fetch_add(1, Ordering::SeqCst);
        *lock(&state.paused_until) = Instant::now() + plan.stall_for;
    }
    wait_while_paused(shared, state).await;
    // What may go through before a cut or a truncation strikes, decided before awaiting, so
    // that the two directions (polled by one task) never pass the budget together.
    let position = state.forwarded.load(Ordering::SeqCst);
    let mut allowed = length;
    let mut stop = None;
    if let Some(at) = plan.cut_at
        && position + allowed >= at
    {
        allowed = at.saturating_sub(position);
        stop = Some(Stop::Cut);
    }
    if direction == Direction::Down
        && let Some(at) = plan.truncate_at
    {
        let down = state.down.load(Ordering::SeqCst);
        if down + allowed >= at {
            allowed = at.saturating_sub(down);
            stop = Some(Stop::Truncated);
        }
    }
    state.forwarded.fetch_add(allowed, Ordering::SeqCst);
    if direction == Direction::Down {
        state.down.fetch_add(allowed, Ordering::SeqCst);
    }
    let allowed = usize::try_from(allowed).expect("at most a slice");
    if allowed > 0 {
        // Counted before the write, so that whoever has received the bytes also sees them
        // counted; taken back if the write fails.
        let counter = &shared.counters.bytes[direction as usize];
        counter.fetch_add(allowed as u64, Ordering::SeqCst);
        if to.write_all(&slice[..allowed]).await.is_err() {
            counter.fetch_sub(allowed as u64, Ordering::SeqCst);
            return Err(Stop::Io);
        }
    }
    match stop {
        Some(stop) => Err(stop),
        None => Ok(()),
    }
}

async fn wait_while_paused(shared: &Shared, state: &Connection) {
    loop {
        let until = (*lock(&shared.paused_until)).max(*lock(&state.paused_until));
        if until <= Instant::now() {
            return;
        }
        tokio::time::sleep_until(until).await;
    }
}

/// Locks a mutex, ignoring poisoning (the data are counters and settings, valid either way).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
