//! One sync pass: [`Replica::sync`] brings the replica and the server to the same heads for
//! every document that changed on either side, over `GET /v1/changes` and `POST /v1/sync`.
//!
//! # A pass
//! 1. **Feed.** `GET /v1/changes?since=CURSOR`. The page is recorded at once, in one batch
//!    with the new cursor: every listed document whose heads differ from those the server
//!    last confirmed joins the durable `check` set (on a reset, every listed and every local
//!    document does). See `sync_records`.
//! 2. **Candidates** are the `check` set and the `dirty` set (documents with local changes
//!    the server has not confirmed). Nothing else is loaded: a replica of 10,000 documents
//!    in which 10 changed does the work of 10.
//! 3. **Batches.** Each candidate becomes a [`DocumentDelta`]: its heads and the changes the
//!    server has not confirmed (`save_after(confirmed)`, or the whole `save()` when the
//!    server never confirmed anything or when `save()` is the smaller of the two, as after
//!    a day of small offline edits), or only heads when there is nothing to send; a document
//!    the replica does not hold yet is asked for with no heads. Deltas are grouped into requests
//!    of at most [`SyncOptions::max_batch_bytes`], counting what is sent and an estimate of
//!    what will come back (learnt from the answers as the pass goes), so that each request
//!    can finish on a slow link.
//! 4. **Answers** are applied per request: the server's changes go through the engine and
//!    are durable before the heads the server confirmed are recorded, and the records of the
//!    whole request (confirmed heads, `check`/`dirty` cleared, refusals) are one atomic
//!    write. A request that fails costs that request only; the next pass starts from the
//!    records, not from zero. Retrying a request whose answer was lost is harmless: the
//!    server applies the same changes once.
//! 5. **Repairs.** A document whose changes the server could not place (`missing`, or an
//!    error asking for the whole document), or whose answer this replica could not apply,
//!    is sent once more whole (`save()`, no heads, so the server answers with its whole
//!    document too).
//!
//! A refusal (read-only access) and an unavailable document are recorded as a
//! [`Rejection`]: `passerelle status` shows it with the server's reason, and the rejected
//! changes are not sent again until the document changes locally once more.
//!
//! What an application should hear of a pass (changes arrived with the document's new
//! heads, refusals, the link's state) is in [`SyncReport::events`], as [`ReplicaEvent`]s.
//!
//! # Driving a pass
//! The pass itself does no I/O: a [`SyncPass`] says which request it wants next
//! ([`SyncStep::Call`]), takes its outcome ([`SyncPass::answer`]), asks for a pause before a
//! retry ([`SyncStep::Wait`]) and ends with its [`SyncReport`]. [`Replica::sync`] is the
//! blocking loop over those steps with a [`Transport`]; an async caller (the whole-system
//! simulation, `tests/src/sim/`) makes the requests its own way, and keeps the replica
//! between steps.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, SystemTime};

use automerge::{ChangeHash, ReadDoc as _};
use passerelle_core::DocumentId;
use passerelle_core::batch::{
    self, DocumentDelta, DocumentReply, ReplyStatus, SyncRequest, SyncResponse,
};
use passerelle_store::Batch;
use serde::{Deserialize, Serialize};

use crate::sync_records::{self, CHECK, DIRTY, REJECTED, Rejection, RejectionKind};
use crate::transport::{ChangesPage, Transport};
use crate::{ClientError, DocSummary, Replica, ReplicaEvent};

/// The most documents one request may carry (the server's limit).
const SERVER_MAX_BATCH_DOCUMENTS: usize = 10_000;
/// Per-document overhead of a delta or a reply on the wire, beyond ids, heads and changes
/// (CBOR field names, status), for batch sizing.
const ENTRY_OVERHEAD: usize = 64;
/// The first guesses of what a document brings back, before any answer was measured: a
/// whole document fetched, and the changes of a document the feed says moved.
const FIRST_FETCH_ESTIMATE: usize = 4 * 1024;
const FIRST_CHANGED_ESTIMATE: usize = 2 * 1024;
/// What the server says of a document it cannot place our changes in, in its `error`
/// message (see the server's batch endpoint).
const WHOLE_DOCUMENT_HINT: &str = "whole document";
/// Below this, `save_after` is sent as it is (see `smaller_of_save_after_and_save`).
const WHOLE_SAVE_MIN_BYTES: usize = 512;
/// `save()` is tried when the new changes are at least 1/this of the document's changes.
const WHOLE_SAVE_SHARE: u64 = 5;

/// How a pass sizes and retries its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// The most bytes one `POST /v1/sync` should move, up and down together (estimated for
    /// the answer). One document larger than this still goes, alone.
    pub max_batch_bytes: usize,
    /// The most documents in one request (at most the server's 10,000).
    pub max_batch_documents: usize,
    /// How many times a request that failed for a transient reason (network, 5xx) is tried
    /// again within the pass before the pass gives up.
    pub retries: u32,
    /// The pause before the first retry; it doubles for each further one.
    pub retry_delay: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            max_batch_bytes: 256 * 1024,
            max_batch_documents: 2_000,
            retries: 2,
            retry_delay: Duration::from_millis(500),
        }
    }
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The feed was reset (first sync, or the server restarted): every document was compared.
    pub reset: bool,
    /// Documents named in `POST /v1/sync` requests.
    pub documents_checked: usize,
    /// Documents whose local changes were sent.
    pub documents_sent: usize,
    /// Documents that received changes made elsewhere, in the order they arrived.
    pub received: Vec<DocumentId>,
    /// Request bodies sent (every attempt), in bytes.
    pub bytes_up: u64,
    /// Response bodies received, in bytes.
    pub bytes_down: u64,
    /// HTTP requests made (every attempt, the feed included).
    pub round_trips: usize,
    /// Requests that failed and were retried or ended the pass.
    pub failed_requests: usize,
    /// Documents whose changes the server refused, with its reason.
    pub refused: Vec<Rejection>,
    /// Documents the server does not have or will not share.
    pub unavailable: Vec<DocumentId>,
    /// Documents that could not be synced in this pass, and why.
    pub failed: Vec<(DocumentId, String)>,
    /// What an application should hear of this pass, in order: changes that arrived,
    /// refusals, and last the state of the link (see [`ReplicaEvent`]).
    pub events: Vec<ReplicaEvent>,
}

impl SyncReport {
    /// Documents that received changes.
    pub fn documents_received(&self) -> usize {
        self.received.len()
    }

    /// Whether every candidate document was synced (refusals and unavailable documents are
    /// answers, not failures).
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// What a pass tells its observer as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// The feed was read: this many documents are to be compared.
    Planned {
        /// Candidate documents.
        documents: usize,
        /// Whether the feed was reset (every document is compared).
        reset: bool,
    },
    /// A request completed.
    Progress {
        /// Candidates dealt with so far.
        done: usize,
        /// Candidates in all (repairs add to it).
        total: usize,
        /// Bytes sent so far.
        bytes_up: u64,
        /// Bytes received so far.
        bytes_down: u64,
    },
    /// Changes made elsewhere arrived for this document and are durable here.
    Received {
        /// The document.
        document_id: DocumentId,
        /// Its title, as `passerelle docs` shows it.
        title: Option<String>,
    },
    /// The server refused this document's changes.
    Refused {
        /// The document.
        document_id: DocumentId,
        /// The server's reason.
        reason: String,
    },
    /// The server does not have this document, or will not share it.
    Unavailable {
        /// The document.
        document_id: DocumentId,
    },
    /// A request failed; it is tried again after `delay`.
    Retrying {
        /// What failed.
        error: String,
        /// The pause before the next attempt.
        delay: Duration,
    },
}

/// What a document of a request is expected to bring back, for batch sizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The whole document (we hold none of it, or asked for all of it).
    Fetch,
    /// The changes the feed announced.
    Changes,
    /// Only the server's heads (we are sending).
    Heads,
}

/// Running averages of what documents brought back: (bytes, documents) for whole documents
/// fetched and for changes announced by the feed. Kept in the store (`client/estimates`),
/// so that each pass starts from what the last ones learnt.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Estimates {
    fetched: (usize, usize),
    changed: (usize, usize),
}

/// Past this many documents observed, an average is halved, so that it follows what the
/// documents are like now.
const ESTIMATE_WINDOW: usize = 1_000;

impl Estimates {
    fn of(&self, expect: Expect) -> usize {
        let average = |(bytes, docs): (usize, usize), first: usize| {
            bytes
                .checked_div(docs)
                .map_or(first, |average| average.max(ENTRY_OVERHEAD))
        };
        match expect {
            Expect::Fetch => average(self.fetched, FIRST_FETCH_ESTIMATE),
            Expect::Changes => average(self.changed, FIRST_CHANGED_ESTIMATE),
            Expect::Heads => ENTRY_OVERHEAD + 2 * 34,
        }
    }

    fn observe(&mut self, expect: Expect, bytes: usize) {
        let slot = match expect {
            Expect::Fetch => &mut self.fetched,
            Expect::Changes => &mut self.changed,
            Expect::Heads => return,
        };
        slot.0 += bytes;
        slot.1 += 1;
        if slot.1 > ESTIMATE_WINDOW {
            *slot = (slot.0 / 2, slot.1 / 2);
        }
    }
}

/// One document of a request being built.
#[derive(Debug)]
struct Outgoing {
    document_id: DocumentId,
    delta: DocumentDelta,
    /// The local changes sent that the server had not confirmed (for a refusal record).
    sent: Vec<ChangeHash>,
    /// Sent whole, as a repair.
    whole: bool,
    expect: Expect,
    /// Estimated bytes up and down.
    cost: usize,
}

/// A sync pass as a value, without its I/O: the steps of [`Replica::sync`] for a caller that
/// makes the requests itself (an async runtime, a simulated network, a test).
///
/// Obtained from [`Replica::begin_sync`] (or [`Replica::begin_sync_from_page`]); the caller
/// keeps the replica and lends it to each call:
///
/// ```no_run
/// # use passerelle_client::{Replica, SyncOptions, SyncStep, Transport, ClientError};
/// # fn drive(replica: &mut Replica, transport: &dyn Transport) -> Result<(), ClientError> {
/// let mut pass = replica.begin_sync(&transport.server(), &SyncOptions::default())?;
/// let report = loop {
///     match pass.step(replica, &mut |_| {})? {
///         SyncStep::Call(call) => {
///             // Any way of making the request will do; `run` is the blocking one.
///             let answer = call.run(transport);
///             pass.answer(replica, answer, &mut |_| {})?;
///         }
///         SyncStep::Wait(delay) => std::thread::sleep(delay),
///         SyncStep::Done(report) => break report,
///     }
/// };
/// # let _ = report; Ok(()) }
/// ```
///
/// Between two calls the replica is the caller's: it may be edited (the pass reads what it
/// needs at each step), or dropped with the pass, as when the process dies; the next pass
/// starts from the durable records. An `Err` from [`SyncPass::step`] or
/// [`SyncPass::answer`] ends the pass, as it ends [`Replica::sync`].
#[derive(Debug)]
pub struct SyncPass {
    /// The server's URL, for messages.
    server: String,
    options: SyncOptions,
    report: SyncReport,
    estimates: Estimates,
    /// Candidates dealt with so far, and in all (repairs add to it).
    done: usize,
    total: usize,
    /// Documents to send whole once more, after the first round.
    repairs: Vec<DocumentId>,
    /// The documents of the current round not looked at yet, each with whether it is sent
    /// whole.
    queue: VecDeque<(DocumentId, bool)>,
    /// The current round is the repairs' (the second and last).
    repairing: bool,
    /// The request being filled, and its estimated bytes.
    open: Vec<Outgoing>,
    open_cost: usize,
    state: State,
}

/// What a [`SyncPass`] wants next.
#[derive(Debug)]
pub enum SyncStep {
    /// Make this request, then hand its outcome to [`SyncPass::answer`].
    Call(SyncCall),
    /// Wait this long (a pause before a failed request is tried again), then ask for the
    /// next step.
    Wait(Duration),
    /// The pass is over.
    Done(SyncReport),
}

/// A request a [`SyncPass`] wants made: one of the two calls of [`Transport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncCall {
    /// `GET /v1/changes?since=CURSOR&wait=0` ([`Transport::changes`] with no wait).
    Changes {
        /// The cursor, `None` on the first pass.
        since: Option<String>,
    },
    /// `POST /v1/sync` with this CBOR body ([`Transport::sync`]).
    Sync {
        /// The request body.
        body: Vec<u8>,
    },
}

/// The outcome of a [`SyncCall`], for [`SyncPass::answer`].
#[derive(Debug)]
pub enum SyncAnswer {
    /// The answer to [`SyncCall::Changes`].
    Changes(Result<ChangesPage, ClientError>),
    /// The response body of [`SyncCall::Sync`] (a non-2xx status is an error).
    Sync(Result<Vec<u8>, ClientError>),
}

impl SyncCall {
    /// Makes the request over `transport`, blocking until it is answered.
    pub fn run(self, transport: &dyn Transport) -> SyncAnswer {
        match self {
            Self::Changes { since } => {
                SyncAnswer::Changes(transport.changes(since.as_deref(), Duration::ZERO))
            }
            Self::Sync { body } => SyncAnswer::Sync(transport.sync(body)),
        }
    }
}

/// Where a [`SyncPass`] stands.
#[derive(Debug)]
enum State {
    /// A request to make; `in_flight` once handed out; `pause` before it is made again.
    Calling {
        request: Pending,
        in_flight: bool,
        pause: Option<Duration>,
        /// Failed attempts so far, and the pause before the next one.
        attempts: u32,
        delay: Duration,
    },
    /// A page of the feed to record and plan from.
    Planning(ChangesPage),
    /// Building the next request of the round, or the next round, or the end.
    Building,
    /// Done, or failed.
    Finished,
}

/// A request of a pass.
#[derive(Debug)]
enum Pending {
    Feed {
        since: Option<String>,
    },
    Batch {
        body: Vec<u8>,
        /// The documents of the request, in order (their changes are in `body`).
        metas: Vec<Outgoing>,
        /// Documents whose changes it carries.
        sent_documents: usize,
    },
}

impl SyncPass {
    fn new(server: String, options: &SyncOptions, estimates: Estimates, state: State) -> Self {
        Self {
            server,
            options: options.clone(),
            report: SyncReport::default(),
            estimates,
            done: 0,
            total: 0,
            repairs: Vec::new(),
            queue: VecDeque::new(),
            repairing: false,
            open: Vec::new(),
            open_cost: 0,
            state,
        }
    }

    fn calling(request: Pending, options: &SyncOptions) -> State {
        State::Calling {
            request,
            in_flight: false,
            pause: None,
            attempts: 0,
            delay: options.retry_delay,
        }
    }

    /// What the pass wants next: a request made ([`SyncStep::Call`]), a pause, or nothing
    /// more ([`SyncStep::Done`], with the report). `progress` hears of the pass as it goes.
    ///
    /// # Panics
    /// When the answer to the last [`SyncStep::Call`] was not given, or after the pass ended.
    pub fn step(
        &mut self,
        replica: &mut Replica,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<SyncStep, ClientError> {
        let step = self.next_step(replica, progress);
        if !matches!(step, Ok(SyncStep::Call(_) | SyncStep::Wait(_))) {
            self.state = State::Finished;
        }
        step
    }

    /// Takes the outcome of the request of the last [`SyncStep::Call`] and applies it. A
    /// transient failure is tried again as [`SyncOptions::retries`] allows (the next step
    /// says so); any other failure, or the last, ends the pass with that error.
    ///
    /// # Panics
    /// When no request is awaiting its answer, or the answer is of the other kind.
    pub fn answer(
        &mut self,
        replica: &mut Replica,
        answer: SyncAnswer,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<(), ClientError> {
        let outcome = self.take_answer(replica, answer, progress);
        if outcome.is_err() {
            self.state = State::Finished;
        }
        outcome
    }

    fn next_step(
        &mut self,
        replica: &mut Replica,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<SyncStep, ClientError> {
        loop {
            match std::mem::replace(&mut self.state, State::Finished) {
                State::Calling {
                    request,
                    in_flight,
                    mut pause,
                    attempts,
                    delay,
                } => {
                    assert!(!in_flight, "a sync pass asked for a step before its answer");
                    let step = match pause.take() {
                        Some(pause) => SyncStep::Wait(pause),
                        None => {
                            self.report.round_trips += 1;
                            SyncStep::Call(match &request {
                                Pending::Feed { since } => SyncCall::Changes {
                                    since: since.clone(),
                                },
                                Pending::Batch { body, .. } => {
                                    self.report.bytes_up += body.len() as u64;
                                    SyncCall::Sync { body: body.clone() }
                                }
                            })
                        }
                    };
                    self.state = State::Calling {
                        request,
                        in_flight: matches!(step, SyncStep::Call(_)),
                        pause,
                        attempts,
                        delay,
                    };
                    return Ok(step);
                }
                State::Planning(page) => {
                    self.plan(replica, page, progress)?;
                    self.state = State::Building;
                }
                State::Building => {
                    self.state = State::Building;
                    if let Some(request) = self.next_request(replica)? {
                        let pending = self.encode(replica, request);
                        self.state = Self::calling(pending, &self.options);
                    } else if !self.repairing {
                        self.repairing = true;
                        let repairs = std::mem::take(&mut self.repairs);
                        self.total += repairs.len();
                        self.queue = repairs.into_iter().map(|id| (id, true)).collect();
                    } else {
                        return self.finish(replica).map(SyncStep::Done);
                    }
                }
                State::Finished => panic!("a sync pass was asked for a step after it ended"),
            }
        }
    }

    /// Records the page of the feed and plans the first round: the candidates.
    fn plan(
        &mut self,
        replica: &mut Replica,
        page: ChangesPage,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<(), ClientError> {
        self.report.reset = page.reset;
        self.report.bytes_down += page.wire_bytes as u64;
        // Documents erased on the server: delete the local copies first (`erasure.rs`).
        let page = crate::erasure::apply_erasures(replica, page)?;
        replica.record_page(&page)?;
        let candidates = replica.sync_candidates()?;
        self.total = candidates.len();
        progress(&SyncEvent::Planned {
            documents: candidates.len(),
            reset: page.reset,
        });
        self.queue = candidates.into_iter().map(|id| (id, false)).collect();
        Ok(())
    }

    /// The next request of the round, `None` when the round is over. A document's delta
    /// that does not fit the open request stays open for the next one.
    fn next_request(
        &mut self,
        replica: &mut Replica,
    ) -> Result<Option<Vec<Outgoing>>, ClientError> {
        let max_documents = self
            .options
            .max_batch_documents
            .clamp(1, SERVER_MAX_BATCH_DOCUMENTS);
        while let Some((document_id, whole)) = self.queue.pop_front() {
            let outgoing = match replica.outgoing(document_id, whole, &self.estimates) {
                Ok(Some(outgoing)) => outgoing,
                Ok(None) => {
                    self.done += 1;
                    continue;
                }
                // One unreadable document does not stop the others.
                Err(error @ ClientError::Unreadable { .. }) => {
                    self.done += 1;
                    self.fail(document_id, error.to_string());
                    continue;
                }
                Err(error) => return Err(error),
            };
            if !self.open.is_empty()
                && (self.open_cost + outgoing.cost > self.options.max_batch_bytes
                    || self.open.len() >= max_documents)
            {
                let full = std::mem::replace(&mut self.open, vec![outgoing]);
                self.open_cost = self.open[0].cost;
                return Ok(Some(full));
            }
            self.open_cost += outgoing.cost;
            self.open.push(outgoing);
        }
        self.open_cost = 0;
        Ok(Some(std::mem::take(&mut self.open)).filter(|request| !request.is_empty()))
    }

    /// The body of a request, its changes moved (they may be large) rather than copied.
    fn encode(&self, replica: &Replica, mut metas: Vec<Outgoing>) -> Pending {
        let documents: Vec<DocumentDelta> = metas
            .iter_mut()
            .map(|meta| DocumentDelta {
                id: meta.delta.id.clone(),
                heads: meta.delta.heads.clone(),
                changes: std::mem::take(&mut meta.delta.changes),
            })
            .collect();
        let sent_documents = documents.iter().filter(|d| !d.changes.is_empty()).count();
        let body = batch::encode(&SyncRequest {
            replica: replica.peer_id().to_string(),
            documents,
        });
        Pending::Batch {
            body,
            metas,
            sent_documents,
        }
    }

    fn take_answer(
        &mut self,
        replica: &mut Replica,
        answer: SyncAnswer,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<(), ClientError> {
        let State::Calling {
            request,
            in_flight: true,
            attempts,
            delay,
            ..
        } = std::mem::replace(&mut self.state, State::Finished)
        else {
            panic!("a sync pass was given an answer it did not ask for");
        };
        let failure = match (request, answer) {
            (Pending::Feed { .. }, SyncAnswer::Changes(Ok(page))) => {
                self.state = State::Planning(page);
                return Ok(());
            }
            (
                Pending::Batch {
                    body,
                    metas,
                    sent_documents,
                },
                SyncAnswer::Sync(Ok(answer)),
            ) => {
                self.report.bytes_down += answer.len() as u64;
                match self.decode(&answer, &metas) {
                    Ok(response) => {
                        self.state = State::Building;
                        return self.apply_response(
                            replica,
                            &metas,
                            sent_documents,
                            response,
                            progress,
                        );
                    }
                    Err(error) => (
                        Pending::Batch {
                            body,
                            metas,
                            sent_documents,
                        },
                        error,
                    ),
                }
            }
            (request @ Pending::Feed { .. }, SyncAnswer::Changes(Err(error)))
            | (request @ Pending::Batch { .. }, SyncAnswer::Sync(Err(error))) => (request, error),
            _ => panic!("a sync pass was given the answer to another kind of request"),
        };
        let (request, error) = failure;
        self.report.failed_requests += 1;
        if !error.is_transient() || attempts >= self.options.retries {
            return Err(error);
        }
        tracing::debug!(%error, ?delay, "request failed; retrying");
        progress(&SyncEvent::Retrying {
            error: error.to_string(),
            delay,
        });
        self.state = State::Calling {
            request,
            in_flight: false,
            pause: Some(delay),
            attempts: attempts + 1,
            delay: delay.saturating_mul(2),
        };
        Ok(())
    }

    /// The server's answer to a request, checked to list the request's documents in order.
    fn decode(&self, answer: &[u8], metas: &[Outgoing]) -> Result<SyncResponse, ClientError> {
        let response: SyncResponse =
            batch::decode(answer).map_err(|e| ClientError::BadResponse {
                server: self.server.clone(),
                reason: e.to_string(),
            })?;
        let matches = response.documents.len() == metas.len()
            && response
                .documents
                .iter()
                .zip(metas)
                .all(|(reply, meta)| reply.id == meta.delta.id);
        if !matches {
            return Err(ClientError::BadResponse {
                server: self.server.clone(),
                reason: "the answer does not list the documents of the request".to_owned(),
            });
        }
        Ok(response)
    }

    /// Applies the answer to one request: the records of the whole request are one write.
    fn apply_response(
        &mut self,
        replica: &mut Replica,
        metas: &[Outgoing],
        sent_documents: usize,
        response: SyncResponse,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<(), ClientError> {
        self.report.documents_checked += metas.len();
        self.report.documents_sent += sent_documents;
        let mut records = Batch::new();
        let mut outcome = Ok(());
        for (meta, reply) in metas.iter().zip(response.documents) {
            if let Err(error) = replica.apply_reply(meta, reply, &mut records, self, progress) {
                outcome = Err(error);
                break;
            }
            self.done += 1;
        }
        // What was applied is recorded even when a later document failed.
        sync_records::put_estimates(&mut records, &self.estimates);
        replica.storage().apply(records)?;
        outcome?;
        replica.tick();
        progress(&SyncEvent::Progress {
            done: self.done,
            total: self.total,
            bytes_up: self.report.bytes_up,
            bytes_down: self.report.bytes_down,
        });
        Ok(())
    }

    /// The end of the pass: when it was complete, when; and the link's state.
    fn finish(&mut self, replica: &mut Replica) -> Result<SyncReport, ClientError> {
        if self.report.is_complete() {
            let mut batch = Batch::new();
            sync_records::put_last_sync(&mut batch, sync_records::now_ms());
            replica.storage().apply(batch)?;
        }
        let last_sync = replica.last_sync()?;
        self.report.events.push(ReplicaEvent::SyncStateChanged {
            reachable: true,
            last_sync,
            error: None,
        });
        Ok(std::mem::take(&mut self.report))
    }

    fn fail(&mut self, document_id: DocumentId, reason: impl Into<String>) {
        self.report.failed.push((document_id, reason.into()));
    }

    /// Schedules a repair (the document sent whole), or records a failure when this already
    /// was the repair.
    fn repair(&mut self, outgoing: &Outgoing, reason: &str) {
        if outgoing.whole {
            self.fail(outgoing.document_id, reason);
        } else if !self.repairs.contains(&outgoing.document_id) {
            self.repairs.push(outgoing.document_id);
        }
    }
}

impl Replica {
    /// One sync pass with the default [`SyncOptions`]: reads the changes feed, then sends and
    /// receives what changed on either side. See the module documentation (`sync.rs`).
    ///
    /// `progress` hears of the pass as it goes ([`SyncEvent`]). Fails when the server cannot
    /// be reached (after the retries of [`SyncOptions`]) or refuses the token; what completed
    /// before that is kept, and the next pass carries on from there. Documents that could not
    /// be synced while the rest could are listed in [`SyncReport::failed`].
    pub fn sync(
        &mut self,
        transport: &dyn Transport,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<SyncReport, ClientError> {
        self.sync_with(transport, &SyncOptions::default(), progress)
    }

    /// [`Replica::sync`] with explicit options.
    pub fn sync_with(
        &mut self,
        transport: &dyn Transport,
        options: &SyncOptions,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<SyncReport, ClientError> {
        let pass = self.begin_sync(&transport.server(), options)?;
        self.drive(pass, transport, progress)
    }

    /// A pass that starts from a page of the changes feed already read (the live loop's
    /// long poll) instead of reading the feed itself.
    pub fn sync_page(
        &mut self,
        transport: &dyn Transport,
        page: ChangesPage,
        options: &SyncOptions,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<SyncReport, ClientError> {
        let pass = self.begin_sync_from_page(&transport.server(), page, options)?;
        self.drive(pass, transport, progress)
    }

    /// A pass to drive step by step ([`SyncPass`]); its first request reads the feed.
    /// `server` names the server in messages.
    pub fn begin_sync(&self, server: &str, options: &SyncOptions) -> Result<SyncPass, ClientError> {
        let since = self.changes_cursor()?;
        let estimates = sync_records::estimates(self.storage())?;
        Ok(SyncPass::new(
            server.to_owned(),
            options,
            estimates,
            SyncPass::calling(Pending::Feed { since }, options),
        ))
    }

    /// [`Replica::begin_sync`] from a page of the feed already read (counted as a request).
    pub fn begin_sync_from_page(
        &self,
        server: &str,
        page: ChangesPage,
        options: &SyncOptions,
    ) -> Result<SyncPass, ClientError> {
        let estimates = sync_records::estimates(self.storage())?;
        let mut pass = SyncPass::new(server.to_owned(), options, estimates, State::Planning(page));
        pass.report.round_trips += 1;
        Ok(pass)
    }

    /// Runs a pass to its end over a blocking transport.
    fn drive(
        &mut self,
        mut pass: SyncPass,
        transport: &dyn Transport,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<SyncReport, ClientError> {
        loop {
            match pass.step(self, progress)? {
                SyncStep::Call(call) => {
                    let answer = call.run(transport);
                    pass.answer(self, answer, progress)?;
                }
                SyncStep::Wait(delay) => std::thread::sleep(delay),
                SyncStep::Done(report) => return Ok(report),
            }
        }
    }

    /// The changes-feed cursor recorded by the last pass, if any.
    pub fn changes_cursor(&self) -> Result<Option<String>, ClientError> {
        sync_records::cursor(self.storage())
    }

    /// When the last complete pass ended (every candidate synced), if one ever did.
    pub fn last_sync(&self) -> Result<Option<SystemTime>, ClientError> {
        Ok(sync_records::last_sync_ms(self.storage())?
            .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)))
    }

    /// Every recorded [`Rejection`] (refused changes, unavailable documents), by document.
    pub fn rejections(&self) -> Result<Vec<Rejection>, ClientError> {
        let mut out = Vec::new();
        for document_id in sync_records::members(self.storage(), REJECTED)? {
            if let Some(rejection) = sync_records::rejection(self.storage(), &document_id)? {
                out.push(rejection);
            }
        }
        Ok(out)
    }

    /// The documents a pass would look at now: those the feed announced and those with
    /// local changes not confirmed (a superset: some turn out to need nothing).
    pub fn sync_candidates(&self) -> Result<BTreeSet<DocumentId>, ClientError> {
        let mut candidates = sync_records::members(self.storage(), CHECK)?;
        candidates.extend(sync_records::members(self.storage(), DIRTY)?);
        Ok(candidates)
    }

    /// Records a page of the feed and its cursor in one atomic write.
    fn record_page(&mut self, page: &ChangesPage) -> Result<(), ClientError> {
        let mut batch = Batch::new();
        sync_records::put_cursor(&mut batch, &page.cursor);
        for listed in &page.documents {
            let Ok(document_id) = listed.id.parse::<DocumentId>() else {
                tracing::warn!(id = %listed.id, "the changes feed lists an invalid document id");
                continue;
            };
            let changed = page.reset || {
                let heads: Result<BTreeSet<ChangeHash>, _> = listed
                    .heads
                    .iter()
                    .map(|h| h.parse::<ChangeHash>())
                    .collect();
                match (heads, self.confirmed_heads(document_id)?) {
                    (Ok(heads), Some(confirmed)) => {
                        heads != confirmed.into_iter().collect::<BTreeSet<_>>()
                    }
                    _ => true,
                }
            };
            if changed {
                batch.put(sync_records::doc_key(CHECK, &document_id), Vec::new());
            }
        }
        if page.reset {
            for document_id in self.stored_documents()? {
                batch.put(sync_records::doc_key(CHECK, &document_id), Vec::new());
            }
        }
        self.storage().apply(batch)?;
        Ok(())
    }

    /// What to send of one document, or `None` when it needs nothing.
    fn outgoing(
        &mut self,
        document_id: DocumentId,
        whole: bool,
        estimates: &Estimates,
    ) -> Result<Option<Outgoing>, ClientError> {
        let storage = self.storage();
        let in_check = sync_records::is_member(storage, CHECK, &document_id)?;
        let rejected = sync_records::rejection(storage, &document_id)?
            .map(|r| r.hashes())
            .unwrap_or_default();
        let confirmed = self.confirmed_heads(document_id)?.unwrap_or_default();
        let Some(doc) = self.document_if_any(document_id)? else {
            if in_check || whole {
                return Ok(Some(make_outgoing(
                    document_id,
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                    whole,
                    Expect::Fetch,
                    estimates,
                )));
            }
            // A `dirty` mark left by a crash before the document's first change.
            self.clear(DIRTY, document_id)?;
            return Ok(None);
        };
        let heads = doc.get_heads();
        // Confirmed heads this replica does not hold (recorded by hand) cannot anchor a
        // `save_after`.
        let known: Vec<ChangeHash> = confirmed
            .iter()
            .filter(|h| doc.get_missing_deps(&[**h]).is_empty())
            .copied()
            .collect();
        let unconfirmed: Vec<ChangeHash> = if sorted(&heads) == sorted(&known) {
            Vec::new()
        } else {
            doc.get_changes_meta(&known)
                .iter()
                .map(|c| c.hash)
                .collect()
        };
        let new_local = unconfirmed.iter().any(|h| !rejected.contains(h));
        let (sent_heads, changes, expect) = if whole {
            (Vec::new(), doc.save(), Expect::Fetch)
        } else if new_local {
            let changes = if known.is_empty() {
                doc.save()
            } else {
                smaller_of_save_after_and_save(doc, &known, unconfirmed.len())
            };
            // A document the server never confirmed is most likely new to it: it will only
            // answer with its heads.
            let expect = if in_check && !known.is_empty() {
                Expect::Changes
            } else {
                Expect::Heads
            };
            (heads, changes, expect)
        } else if in_check {
            // Nothing of ours to send (or only what was refused): ask from what the server
            // holds, so that it answers with its new changes only.
            let from = if unconfirmed.is_empty() { heads } else { known };
            (from, Vec::new(), Expect::Changes)
        } else {
            if unconfirmed.is_empty() {
                self.clear(DIRTY, document_id)?;
            }
            return Ok(None);
        };
        let sent = if changes.is_empty() {
            Vec::new()
        } else {
            unconfirmed
        };
        Ok(Some(make_outgoing(
            document_id,
            sent_heads,
            changes,
            sent,
            whole,
            expect,
            estimates,
        )))
    }

    /// Applies the server's answer for one document; its records go into `records`.
    fn apply_reply(
        &mut self,
        meta: &Outgoing,
        reply: DocumentReply,
        records: &mut Batch,
        pass: &mut SyncPass,
        progress: &mut dyn FnMut(&SyncEvent),
    ) -> Result<(), ClientError> {
        let document_id = meta.document_id;
        let check = sync_records::doc_key(CHECK, &document_id);
        match reply.status {
            ReplyStatus::Ok | ReplyStatus::Refused => {
                let server_heads = batch::from_wire(&reply.heads);
                let received = !reply.changes.is_empty();
                pass.estimates.observe(
                    meta.expect,
                    reply.changes.len() + ENTRY_OVERHEAD + 34 * reply.heads.len(),
                );
                let applied = if received {
                    self.apply_remote(document_id, server_heads.clone(), reply.changes)?
                } else {
                    true
                };
                let mut title = None;
                let mut heads = Vec::new();
                let (holds_all, unconfirmed) = match self.document_if_any(document_id)? {
                    Some(doc) => {
                        title = DocSummary::of(document_id, doc).title;
                        heads = doc.get_heads();
                        let holds_all = doc.get_missing_deps(&server_heads).is_empty();
                        let unconfirmed = holds_all
                            && sorted(&doc.get_heads()) != sorted(&server_heads)
                            && !doc.get_changes_meta(&server_heads).is_empty();
                        (holds_all, unconfirmed)
                    }
                    None => (server_heads.is_empty(), false),
                };
                if received && applied {
                    pass.report.received.push(document_id);
                    pass.report.events.push(ReplicaEvent::RemoteChanges {
                        document_id,
                        heads,
                        title: title.clone(),
                    });
                    progress(&SyncEvent::Received { document_id, title });
                }
                if holds_all {
                    sync_records::put_confirmed(records, &document_id, &server_heads);
                    records.delete(check);
                    if !unconfirmed {
                        records.delete(sync_records::doc_key(DIRTY, &document_id));
                    }
                } else {
                    pass.repair(meta, "the server's changes could not be applied here");
                }
                if reply.status == ReplyStatus::Refused {
                    let rejection = Rejection {
                        document_id,
                        kind: RejectionKind::Refused,
                        reason: reply
                            .message
                            .unwrap_or_else(|| "the server refused the changes".to_owned()),
                        changes: meta.sent.iter().map(ToString::to_string).collect(),
                        at_ms: sync_records::now_ms(),
                    };
                    sync_records::put_rejection(records, &rejection);
                    pass.report.events.push(ReplicaEvent::ChangeRefused {
                        document_id,
                        reason: rejection.reason.clone(),
                    });
                    progress(&SyncEvent::Refused {
                        document_id,
                        reason: rejection.reason.clone(),
                    });
                    pass.report.refused.push(rejection);
                } else if !reply.missing.is_empty() {
                    pass.repair(meta, "the server lacks changes this document builds on");
                } else {
                    let stale = !meta.sent.is_empty()
                        || sync_records::rejection(self.storage(), &document_id)?
                            .is_some_and(|r| r.kind == RejectionKind::Unavailable);
                    if stale {
                        records.delete(sync_records::doc_key(REJECTED, &document_id));
                    }
                }
            }
            ReplyStatus::Unavailable => {
                records.delete(check);
                if self.document_if_any(document_id)?.is_some() {
                    let rejection = Rejection {
                        document_id,
                        kind: RejectionKind::Unavailable,
                        reason: "the server has no such document, or you may not see it".to_owned(),
                        changes: meta.sent.iter().map(ToString::to_string).collect(),
                        at_ms: sync_records::now_ms(),
                    };
                    sync_records::put_rejection(records, &rejection);
                }
                pass.report.unavailable.push(document_id);
                progress(&SyncEvent::Unavailable { document_id });
            }
            ReplyStatus::Error => {
                let message = reply
                    .message
                    .unwrap_or_else(|| "the server could not sync it".to_owned());
                if message.contains(WHOLE_DOCUMENT_HINT) {
                    pass.repair(meta, &message);
                } else {
                    pass.fail(document_id, message);
                }
            }
        }
        Ok(())
    }

    /// Removes the document from one of the sets, durably.
    fn clear(&self, set: &str, document_id: DocumentId) -> Result<(), ClientError> {
        let mut batch = Batch::new();
        batch.delete(sync_records::doc_key(set, &document_id));
        self.storage().apply(batch)?;
        Ok(())
    }
}

fn make_outgoing(
    document_id: DocumentId,
    heads: Vec<ChangeHash>,
    changes: Vec<u8>,
    sent: Vec<ChangeHash>,
    whole: bool,
    expect: Expect,
    estimates: &Estimates,
) -> Outgoing {
    let delta = DocumentDelta {
        id: document_id.to_string(),
        heads: batch::to_wire(&heads),
        changes,
    };
    let cost = delta.id.len() + 34 * delta.heads.len() + delta.changes.len() + estimates.of(expect);
    Outgoing {
        document_id,
        delta,
        sent,
        whole,
        expect,
        cost,
    }
}

/// The changes since `known` as the server must receive them: `save_after(known)`, or the
/// whole `save()` when that is smaller.
///
/// `save_after` is a list of change chunks, each with its own header, actor, dependencies
/// and uncompressed columns: a day of small offline edits weighs several times what the same
/// changes take in the columnar, deflated form of `save()` (issue 4's benchmark: 20 small
/// changes per document, 3.1 KB of `save_after` against 0.75 KB for the whole document).
/// The server applies either the same way. `save()` is only computed when the new changes
/// are a fair share of the document's history, where it has a chance of being smaller.
fn smaller_of_save_after_and_save(
    doc: &automerge::Automerge,
    known: &[ChangeHash],
    new_changes: usize,
) -> Vec<u8> {
    let after = doc.save_after(known);
    let worth_trying = after.len() > WHOLE_SAVE_MIN_BYTES
        && (new_changes as u64).saturating_mul(WHOLE_SAVE_SHARE) >= doc.stats().num_changes;
    if worth_trying {
        let whole = doc.save();
        if whole.len() < after.len() {
            return whole;
        }
    }
    after
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut heads = heads.to_vec();
    heads.sort_unstable();
    heads
}
