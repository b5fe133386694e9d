//! [`SyncLoop`]: the background loop that keeps a replica in sync for as long as it runs —
//! live while the server is reachable, backing off while it is not — and its parts,
//! [`Backoff`] and [`StopSignal`].
//!
//! # The loop
//! 1. A pass ([`Replica::sync`]) catches up with whatever changed while the loop was away.
//! 2. Live mode: a long poll of the changes feed (`wait` = [`LoopConfig::long_poll`]) runs
//!    on a thread of its own. When it answers with documents, a pass starts from that page
//!    (no second request to the feed), so a change made elsewhere arrives within a round
//!    trip or two. Meanwhile the loop watches the replica's edit hint file every
//!    [`LoopConfig::local_check`]: an edit made by another `passerelle` command starts a
//!    pass too.
//! 3. Any transient failure (network, server errors, the replica busy in another process)
//!    waits a [`Backoff`] delay, then goes back to 1. A failure that needs a person (a
//!    refused token, a server that rejects our requests) ends the loop with the error.
//!
//! The loop tells an application what happened as [`ReplicaEvent`]s: changes that arrived
//! (with the document's new heads), refusals, and the server becoming reachable or not
//! (with the time of the last complete sync). Each pass's events are forwarded once the pass
//! has ended, then a `SyncStateChanged { reachable: false, .. }` when the server stops
//! answering. Take them from a channel ([`SyncLoop::events`], as many receivers as wanted)
//! or in the observer callback ([`LoopEvent::Replica`]).
//!
//! The replica is opened for each pass and closed after it: sled allows one process per
//! directory, and a loop that kept it open would lock the user's own `passerelle set` out
//! for as long as it runs.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use crate::replica::EDIT_HINT_FILE;
use crate::transport::{ChangesPage, Transport};
use crate::{ClientError, Replica, ReplicaEvent, SyncEvent, SyncOptions, SyncReport};

/// Exponential backoff with jitter and a cap.
///
/// The n-th consecutive failure waits a random delay between half and all of
/// `min(max, initial × 2ⁿ)` ("equal jitter"): the delay grows quickly while the server stays
/// away, never exceeds the cap, and clients that lost the server together do not all come
/// back in the same instant.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    rng: StdRng,
}

impl Backoff {
    /// A backoff from `initial` up to `max`, with random jitter.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self::with_seed(initial, max, rand::random())
    }

    /// The same, with seeded jitter (for tests).
    pub fn with_seed(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            initial,
            max: max.max(initial),
            failures: 0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The upper bound of the next delay.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Counts a failure and returns how long to wait before trying again.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(self.rng.gen_range(0..=spread))
    }

    /// Consecutive failures counted since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A success: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Tells a running [`SyncLoop`] to stop; cheap to clone and to hand to a signal handler's
/// thread. The loop stops within [`LoopConfig::local_check`], or at once while it waits.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<(Mutex<bool>, Condvar)>);

impl StopSignal {
    /// A signal not yet given.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the loop to stop.
    pub fn stop(&self) {
        let (stopped, wake) = &*self.0;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
    }

    /// Whether [`StopSignal::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `duration` or until stopped; returns whether it was stopped.
    pub fn sleep(&self, duration: Duration) -> bool {
        let (stopped, wake) = &*self.0;
        let deadline = Instant::now() + duration;
        let mut guard = stopped.lock().unwrap_or_else(|e| e.into_inner());
        while !*guard {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = wake
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// The timings of a [`SyncLoop`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopConfig {
    /// How long the server may hold a long poll of the changes feed (whole seconds; the
    /// server allows up to 60).
    pub long_poll: Duration,
    /// How often the edit hint file is looked at, and the stop signal.
    pub local_check: Duration,
    /// The first backoff delay after a failure.
    pub initial_backoff: Duration,
    /// The longest backoff delay.
    pub max_backoff: Duration,
    /// How each pass sizes and retries its requests. By default a pass does not retry a
    /// failed request itself: the loop's backoff is the one retry policy, and the next pass
    /// carries on from what the failed one completed.
    pub sync: SyncOptions,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            long_poll: Duration::from_secs(25),
            local_check: Duration::from_millis(500),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            sync: SyncOptions {
                retries: 0,
                ..SyncOptions::default()
            },
        }
    }
}

/// What a [`SyncLoop`] tells its observer.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoopEvent<'a> {
    /// The server answered after a failure (or for the first time).
    Online,
    /// A pass ended; its report says what moved.
    Synced(&'a SyncReport),
    /// Something happened during a pass (a document arrived, a change was refused, ...).
    Sync(&'a SyncEvent),
    /// A transient failure: the loop tries again after `retry_in`.
    Offline {
        /// What failed.
        error: &'a ClientError,
        /// The backoff delay before the next attempt.
        retry_in: Duration,
    },
    /// An event for the application, also sent to every [`SyncLoop::events`] channel.
    Replica(&'a ReplicaEvent),
}

/// The background sync loop of a replica directory. See the module documentation.
#[derive(Debug)]
pub struct SyncLoop<T> {
    home: PathBuf,
    transport: Arc<T>,
    config: LoopConfig,
    backoff: Backoff,
    stop: StopSignal,
    /// The channels of [`SyncLoop::events`]; a dropped receiver is forgotten.
    subscribers: Vec<mpsc::Sender<ReplicaEvent>>,
}

impl<T: Transport + Send + Sync + 'static> SyncLoop<T> {
    /// A loop for the replica in `home`, over `transport`.
    pub fn new(home: impl Into<PathBuf>, transport: T, config: LoopConfig) -> Self {
        let backoff = Backoff::new(config.initial_backoff, config.max_backoff);
        Self {
            home: home.into(),
            transport: Arc::new(transport),
            config,
            backoff,
            stop: StopSignal::new(),
            subscribers: Vec::new(),
        }
    }

    /// A channel that receives every [`ReplicaEvent`] of the loop from now on (see the
    /// module documentation). Call it before [`SyncLoop::run`]; it may be called several
    /// times, each receiver gets every event.
    pub fn events(&mut self) -> mpsc::Receiver<ReplicaEvent> {
        let (sender, receiver) = mpsc::channel();
        self.subscribers.push(sender);
        receiver
    }

    /// Gives `event` to the observer and to every subscriber still listening.
    fn publish(&mut self, event: ReplicaEvent, observer: &mut dyn FnMut(LoopEvent<'_>)) {
        observer(LoopEvent::Replica(&event));
        self.subscribers
            .retain(|subscriber| subscriber.send(event.clone()).is_ok());
    }

    /// Tells of a failure to reach the server (the state change once per outage), then waits
    /// out the backoff. Returns `true` when the loop was asked to stop while waiting.
    fn went_offline(
        &mut self,
        link: &mut Link,
        error: &ClientError,
        observer: &mut dyn FnMut(LoopEvent<'_>),
    ) -> bool {
        if link.reachable != Some(false) {
            link.reachable = Some(false);
            let event = ReplicaEvent::SyncStateChanged {
                reachable: false,
                last_sync: link.last_sync,
                error: Some(error.to_string()),
            };
            self.publish(event, observer);
        }
        let delay = self.backoff.next_delay();
        observer(LoopEvent::Offline {
            error,
            retry_in: delay,
        });
        self.stop.sleep(delay)
    }

    /// Replaces the backoff (a seeded one, in tests).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The signal that stops [`SyncLoop::run`].
    pub fn stop_signal(&self) -> StopSignal {
        self.stop.clone()
    }

    /// Runs until stopped (then `Ok`) or until a failure that needs a person (then that
    /// error). `observer` hears of every pass, failure and arrival.
    pub fn run(&mut self, observer: &mut dyn FnMut(LoopEvent<'_>)) -> Result<(), ClientError> {
        let mut link = Link {
            reachable: None,
            // Only for the first outage's event; a busy replica is no reason to wait.
            last_sync: Replica::open(&self.home)
                .and_then(|replica| replica.last_sync())
                .ok()
                .flatten(),
        };
        let mut online = false;
        let mut need_sync = true;
        let mut page: Option<ChangesPage> = None;
        let mut cursor: Option<String> = None;
        let mut poll: Option<mpsc::Receiver<Result<ChangesPage, ClientError>>> = None;
        let mut hint = read_hint(&self.home);
        let mut retry_at: Option<Instant> = None;
        loop {
            if self.stop.is_stopped() {
                return Ok(());
            }
            if need_sync {
                // Read before the pass: an edit made during it starts another.
                hint = read_hint(&self.home);
                match self.pass(page.take(), observer) {
                    Ok((report, new_cursor)) => {
                        cursor = new_cursor;
                        if !online {
                            online = true;
                            observer(LoopEvent::Online);
                        }
                        observer(LoopEvent::Synced(&report));
                        link.reachable = Some(true);
                        for event in &report.events {
                            if let ReplicaEvent::SyncStateChanged { last_sync, .. } = event {
                                link.last_sync = *last_sync;
                            }
                            self.publish(event.clone(), observer);
                        }
                        if report.is_complete() {
                            self.backoff.reset();
                            retry_at = None;
                        } else {
                            retry_at = Some(Instant::now() + self.backoff.next_delay());
                        }
                        need_sync = false;
                    }
                    Err(error) => {
                        if !error.is_transient() {
                            return Err(error);
                        }
                        online = false;
                        if self.went_offline(&mut link, &error, observer) {
                            return Ok(());
                        }
                        continue;
                    }
                }
            }
            let receiver = match &poll {
                Some(receiver) => receiver,
                None => poll.insert(spawn_poll(
                    Arc::clone(&self.transport),
                    cursor.clone(),
                    self.config.long_poll,
                )),
            };
            match receiver.recv_timeout(self.config.local_check) {
                Ok(Ok(answer)) => {
                    poll = None;
                    if answer.reset || !answer.documents.is_empty() {
                        page = Some(answer);
                        need_sync = true;
                    } else {
                        cursor = Some(answer.cursor);
                    }
                }
                Ok(Err(error)) => {
                    poll = None;
                    if !error.is_transient() {
                        return Err(error);
                    }
                    online = false;
                    if self.went_offline(&mut link, &error, observer) {
                        return Ok(());
                    }
                    need_sync = true;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if read_hint(&self.home) != hint
                        || retry_at.is_some_and(|at| Instant::now() >= at)
                    {
                        need_sync = true;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => poll = None,
            }
        }
    }

    /// One pass on a freshly opened replica; returns its report and the cursor it recorded.
    fn pass(
        &mut self,
        page: Option<ChangesPage>,
        observer: &mut dyn FnMut(LoopEvent<'_>),
    ) -> Result<(SyncReport, Option<String>), ClientError> {
        let mut replica = Replica::open(&self.home)?;
        let transport: &dyn Transport = self.transport.as_ref();
        let mut progress = |event: &SyncEvent| observer(LoopEvent::Sync(event));
        let report = match page {
            Some(page) => replica.sync_page(transport, page, &self.config.sync, &mut progress)?,
            None => replica.sync_with(transport, &self.config.sync, &mut progress)?,
        };
        let cursor = replica.changes_cursor()?;
        Ok((report, cursor))
    }
}

/// What the loop last told of the link to the server.
#[derive(Debug)]
struct Link {
    /// `None` until the first pass or failure.
    reachable: Option<bool>,
    /// The end of the last complete sync, if any.
    last_sync: Option<SystemTime>,
}

/// Starts a long poll of the feed on a thread of its own; its answer comes on the channel.
fn spawn_poll<T: Transport + Send + Sync + 'static>(
    transport: Arc<T>,
    cursor: Option<String>,
    wait: Duration,
) -> mpsc::Receiver<Result<ChangesPage, ClientError>> {
    let (sender, receiver) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("passerelle-long-poll".to_owned())
        .spawn(move || {
            // The loop may have stopped and dropped the receiver: nothing to do then.
            let _ = sender.send(transport.changes(cursor.as_deref(), wait));
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the long-poll thread");
    }
    receiver
}

fn read_hint(home: &Path) -> Option<String> {
    std::fs::read_to_string(home.join(EDIT_HINT_FILE)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_its_cap_and_resets() {
        let (initial, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let mut backoff = Backoff::with_seed(initial, max, 7);
        let mut ceilings = Vec::new();
        for _ in 0..12 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
            ceilings.push(ceiling.as_secs());
        }
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60, 60]);
        assert_eq!(backoff.failures(), 12);
        backoff.reset();
        assert_eq!(backoff.ceiling(), initial);
        // Jitter: two clients cut off together do not come back together.
        let mut a = Backoff::with_seed(initial, max, 1);
        let mut b = Backoff::with_seed(initial, max, 2);
        let delays_a: Vec<_> = (0..5).map(|_| a.next_delay()).collect();
        let delays_b: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert_ne!(delays_a, delays_b);
        // Never overflows, whatever the number of failures.
        let mut long = Backoff::with_seed(initial, max, 3);
        for _ in 0..200 {
            assert!(long.next_delay() <= max);
        }
    }

    #[test]
    fn a_stop_signal_wakes_a_sleeper() {
        let stop = StopSignal::new();
        assert!(!stop.sleep(Duration::from_millis(5)));
        let waker = stop.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            waker.stop();
        });
        let started = Instant::now();
        assert!(stop.sleep(Duration::from_secs(30)));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(stop.is_stopped());
        thread.join().unwrap();
    }
}
