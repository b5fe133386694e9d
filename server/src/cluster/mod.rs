//! Several server instances on one PostgreSQL database, behind one address.
//!
//! Every instance serves every document: documents, access rules, users and tokens live in
//! the shared database (`passerelle_store::PostgresStorage`). What each instance keeps in
//! memory is made coherent here, with PostgreSQL alone (LISTEN/NOTIFY, no other broker):
//!
//! - **The changes feed is shared.** What an instance publishes on its
//!   [`ChangeFeed`](crate::sync::ChangeFeed) (a document durably at new heads, a grant, an
//!   erasure) becomes a row of `passerelle_feed`, inserted by the [publisher](publish_loop)
//!   in batches, in a transaction that holds a transaction-level advisory lock while it takes
//!   the next sequence numbers: rows therefore commit in the order of their numbers, and a
//!   reader that has seen row `n` can never later find a row below `n` (a sequence would
//!   hand out numbers that commit out of order). The transaction ends with a `pg_notify` on
//!   `passerelle_changes`.
//! - **Every instance applies the rows in order** (the [listener](listen_loop)), its own
//!   included, to its in-memory feed with the row's number, under the epoch stored once in
//!   `passerelle_cluster`: a cursor from one instance works on any other, and long polls,
//!   the web pages' live events and federation work unchanged. The listener wakes on each
//!   notification, and polls every second anyway; after a lost connection it reconnects
//!   with backoff and catches up from the last row it applied.
//! - **A change stored by another instance reaches this instance's clients**: for a row of
//!   another origin, the hub ([`Hub::stored`]) reads the document from storage and hands
//!   the changes its in-memory copy lacks to the engine as a batch delta of the peer
//!   `cluster~sync` (so they are validated, relayed to every connected peer, and made
//!   durable here too: appends are idempotent); a document not in memory is loaded only if
//!   a connected peer asked about it (`Engine::wake_subscribers`). No authorship is recorded
//!   for that peer: the instance that accepted the change did.
//! - **A crashed instance leaves no silent gap.** An instance stores a change before it
//!   inserts the change's row; one killed in between leaves a change that no feed lists.
//!   Each instance renews a lease in `passerelle_instances` every second; a lease unrenewed
//!   for [`LEASE`] is swept by any live instance, which draws a new epoch: every cursor then
//!   gets `reset` (its client compares every document once), and every instance re-reads
//!   the documents it holds in memory. The same rule as a single server's feed after a
//!   crash. A graceful shutdown publishes everything, then removes its lease.
//! - **ACLs**: every write of an ACL key notifies `passerelle_acl` (triggers, [`acl`]);
//!   the listener makes the [`AuthStore`] forget that document's cached ACL, and keeps the
//!   cache on only while it is connected and listening.
//! - **Erasure**: the row of an erasure makes the other instances drop the document from
//!   their engines and sweep its keys again (a write of theirs in flight could otherwise
//!   land after the erasing instance's sweep).
//!
//! Tables (created if missing, under an advisory lock so that instances starting together
//! do not race): `passerelle_feed(seq, document, heads, erased, origin)`,
//! `passerelle_cluster(name, value)` (the epoch), `passerelle_instances(id, seen)`. The
//! feed keeps its newest [`KEEP_ROWS`] rows; an instance loads the newest [`LOAD_ROWS`] at
//! start.

mod acl;

use std::sync::Arc;
use std::time::Duration;

use automerge::ChangeHash;
use passerelle_core::DocumentId;
use passerelle_store::DocStore;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::{AsyncMessage, Client};

use crate::auth::{AuthStore, DocumentAcl};
use crate::sync::{ChangeFeed, Hub, SharedEntry, ToShared};

/// The `application_name` of the listener's connection (it LISTENs), in
/// `pg_stat_activity`.
pub const LISTENER_APPLICATION: &str = "passerelle-cluster-listener";
/// The notification channel of the shared feed.
const CHANNEL: &str = "passerelle_changes";
/// The advisory lock (transaction-level) that orders the feed's inserts: "pssrfeed".
const FEED_LOCK: i64 = 0x7073_7372_6665_6564;
/// The advisory lock (transaction-level) under which the tables and triggers are created:
/// "pssrschm".
pub const SCHEMA_LOCK: i64 = 0x7073_7372_7363_686d;
/// An instance whose lease is older than this is taken for dead.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the listener renews its lease, sweeps dead ones and polls the feed (the
/// fallback for a lost notification).
const TICK: Duration = Duration::from_secs(1);
/// Rows an instance loads at start; older cursors get `reset` there.
const LOAD_ROWS: i64 = 100_000;
/// Rows the feed table keeps.
const KEEP_ROWS: i64 = 200_000;
/// Rows read per query while catching up.
const PAGE_ROWS: i64 = 1_000;
/// Entries per insert transaction.
const MAX_BATCH: usize = 1_000;
/// The longest stored ACL of an erasure row we read back.
const MAX_ERASED_BYTES: usize = 1 << 20;
/// The most heads a row may list.
const MAX_HEADS: usize = 4_096;

/// The handle of the cluster tasks of this instance.
#[derive(Debug)]
pub struct Cluster {
    url: String,
    instance: String,
    feed: Arc<ChangeFeed>,
    stop: watch::Sender<bool>,
    /// The listener task, which removes this instance's lease when stopped.
    listener: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Becomes `true` once the listener has loaded the shared feed.
    ready: watch::Receiver<bool>,
}

impl Cluster {
    /// Shares `feed` through the database at `url` and starts the publisher and the
    /// listener on the current runtime. Returns at once: the listener connects (and retries)
    /// in the background; until it has, the feed answers every cursor with `reset`.
    pub(crate) fn start(
        url: String,
        feed: Arc<ChangeFeed>,
        hub: Hub,
        docs: Arc<DocStore>,
        auth: Arc<AuthStore>,
    ) -> Self {
        let instance = uuid::Uuid::new_v4().to_string();
        let (entries, queue) = mpsc::unbounded_channel();
        feed.share(entries);
        let (stop, stopped) = watch::channel(false);
        let (ready_sender, ready) = watch::channel(false);
        tokio::spawn(publish_loop(url.clone(), queue, instance.clone()));
        let listener = tokio::spawn(listen_loop(
            Listener {
                url: url.clone(),
                feed: Arc::clone(&feed),
                hub,
                docs,
                auth,
                instance: instance.clone(),
                epoch: None,
                last: 0,
                ticks: 0,
                ready: ready_sender,
            },
            stopped,
        ));
        tracing::info!(%instance, "sharing the changes feed with the other instances on the database");
        Self {
            url,
            instance,
            feed,
            stop,
            listener: std::sync::Mutex::new(Some(listener)),
            ready,
        }
    }

    /// Waits (at most `within`) until the listener has loaded the shared feed, so that the
    /// first requests see the cursors of the other instances (before, every cursor gets
    /// `reset`). `false` if it had not by then (the database is unreachable: it goes on
    /// trying in the background).
    pub(crate) async fn ready(&self, within: Duration) -> bool {
        let mut ready = self.ready.clone();
        tokio::time::timeout(within, ready.wait_for(|ready| *ready))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// This instance's id (its lease, and the origin of its feed rows).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// At a graceful shutdown, once the hub has drained: waits (at most `within`) until
    /// every entry published so far is in the database, stops the listener and removes this
    /// instance's lease, so that the others do not take it for crashed.
    pub(crate) async fn shutdown(&self, within: Duration) {
        let published = async {
            if let Some(done) = self.feed.flush_shared() {
                let _ = done.await;
            }
        };
        if tokio::time::timeout(within, published).await.is_err() {
            tracing::warn!(
                "some changes-feed entries were not written to the database before shutdown; \
                 the other instances will draw a new epoch"
            );
            let _ = self.stop.send(true);
            return;
        }
        let _ = self.stop.send(true);
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(listener) = listener
            && tokio::time::timeout(within, listener).await.is_ok()
        {
            return;
        }
        // The listener did not end in time (it may have no connection): remove the lease
        // from here; the others may meanwhile take this instance for crashed (one reset).
        let removed = async {
            let client = connect(&self.url).await?;
            client
                .execute(
                    "DELETE FROM passerelle_instances WHERE id = $1",
                    &[&self.instance],
                )
                .await
        };
        match tokio::time::timeout(within, removed).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(
                "could not remove this instance's lease: {}",
                passerelle_store::with_causes(&error)
            ),
            Err(_) => tracing::warn!("could not remove this instance's lease in time"),
        }
    }
}

/// A connection whose background task is spawned; notifications are dropped. TLS as the
/// storage's connections (`passerelle_store::postgres_config`).
async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (config, tls) = passerelle_store::postgres_config(url)?;
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!("a database connection ended: {error}");
        }
    });
    Ok(client)
}

/// A connection listening to the feed's and the ACLs' channels: the feed's notifications
/// arrive on the returned channel, which closes when the connection is lost; the ACLs' make
/// `auth` forget the document's cached ACL at once, and the end of the connection turns
/// `auth`'s cache off (it is turned on by the caller, as listener number `listener`, once
/// the triggers exist: [`AuthStore::acl_listening`]).
async fn connect_listening(
    url: &str,
    auth: Arc<AuthStore>,
    listener: u64,
) -> Result<(Client, mpsc::UnboundedReceiver<()>), tokio_postgres::Error> {
    let (mut config, tls) = match passerelle_store::postgres_config(url) {
        Ok(set_up) => set_up,
        Err(error) => {
            auth.acl_unheard(listener);
            return Err(error);
        }
    };
    config.application_name(LISTENER_APPLICATION);
    let connected = config.connect(tls).await;
    let (client, mut connection) = match connected {
        Ok(connected) => connected,
        Err(error) => {
            auth.acl_unheard(listener);
            return Err(error);
        }
    };
    let (notices, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let failed = loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(notification))) => {
                    if notification.channel() == acl::CHANNEL {
                        acl::heard(&auth, notification.payload());
                    } else if notices.send(()).is_err() {
                        break None;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => break Some(error),
                None => break None,
            }
        };
        // Notifications may be missed from now on.
        auth.acl_unheard(listener);
        if let Some(error) = failed {
            tracing::warn!(
                "the cluster's listening connection failed: {}",
                passerelle_store::with_causes(&error)
            );
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {}", acl::CHANNEL))
        .await?;
    Ok((client, received))
}

/// Creates the cluster's tables if missing.
async fn ensure_schema(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS passerelle_feed (
             seq bigint PRIMARY KEY,
             document bytea NOT NULL,
             heads bytea NOT NULL,
             erased bytea,
             origin text NOT NULL
         );
         CREATE TABLE IF NOT EXISTS passerelle_cluster (
             name text PRIMARY KEY,
             value bigint NOT NULL
         );
         CREATE TABLE IF NOT EXISTS passerelle_instances (
             id text PRIMARY KEY,
             seen timestamptz NOT NULL
         );",
    )
    .await?;
    tx.batch_execute(&acl::trigger_sql()).await?;
    tx.commit().await
}

/// The shared epoch, drawn by the first instance.
async fn epoch(client: &Client) -> Result<u64, tokio_postgres::Error> {
    if let Some(row) = client
        .query_opt(
            "SELECT value FROM passerelle_cluster WHERE name = 'epoch'",
            &[],
        )
        .await?
    {
        return Ok(row.get::<_, i64>(0) as u64);
    }
    client
        .execute(
            "INSERT INTO passerelle_cluster (name, value) VALUES ('epoch', $1)
             ON CONFLICT (name) DO NOTHING",
            &[&random_epoch()],
        )
        .await?;
    let row = client
        .query_one(
            "SELECT value FROM passerelle_cluster WHERE name = 'epoch'",
            &[],
        )
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}

fn random_epoch() -> i64 {
    // Positive, so that it prints as a short hex number in cursors.
    (rand::random::<u64>() >> 1) as i64
}

/// Publishes what the feed sends, in batches, retrying (with backoff, on a new connection)
/// until the database takes it: an entry is never dropped while the process lives.
async fn publish_loop(url: String, mut queue: mpsc::UnboundedReceiver<ToShared>, instance: String) {
    let mut client: Option<Client> = None;
    let mut backoff = Backoff::new();
    while let Some(first) = queue.recv().await {
        let mut batch = Vec::new();
        let mut flushed: Vec<oneshot::Sender<()>> = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                ToShared::Entry(entry) => batch.push(entry),
                // Everything before the flush is in `batch`: answered once it is written.
                ToShared::Flush(done) => flushed.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        while !batch.is_empty() {
            if client.is_none() {
                match connect(&url).await {
                    Ok(connected) => client = Some(connected),
                    Err(error) => {
                        tracing::warn!(
                            "the cluster's publisher cannot reach the database: {}",
                            passerelle_store::with_causes(&error)
                        );
                        backoff.wait().await;
                        continue;
                    }
                }
            }
            let Some(connected) = client.as_mut() else {
                continue;
            };
            match insert_rows(connected, &batch, &instance).await {
                Ok(()) => {
                    backoff.reset();
                    break;
                }
                Err(error) => {
                    tracing::warn!(
                        "could not write to the shared changes feed (retrying): {}",
                        passerelle_store::with_causes(&error)
                    );
                    client = None;
                    backoff.wait().await;
                }
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// Inserts the entries as rows numbered after the newest, in one transaction holding the
/// feed's advisory lock, and notifies.
async fn insert_rows(
    client: &mut Client,
    batch: &[SharedEntry],
    origin: &str,
) -> Result<(), tokio_postgres::Error> {
    let documents: Vec<Vec<u8>> = batch
        .iter()
        .map(|e| e.document_id.as_bytes().to_vec())
        .collect();
    let heads: Vec<Vec<u8>> = batch.iter().map(|e| heads_bytes(&e.heads)).collect();
    let erased: Vec<Option<Vec<u8>>> = batch
        .iter()
        .map(|e| {
            e.erased.as_ref().map(|acl| {
                let mut bytes = Vec::new();
                // A DocumentAcl always encodes; an empty value would read back as no rules.
                let _ = ciborium::into_writer(acl, &mut bytes);
                bytes
            })
        })
        .collect();
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FEED_LOCK])
        .await?;
    let row = tx
        .query_one(
            "WITH base AS (SELECT coalesce(max(seq), 0) AS seq FROM passerelle_feed),
                  inserted AS (
                      INSERT INTO passerelle_feed (seq, document, heads, erased, origin)
                      SELECT base.seq + r.n, r.document, r.heads, r.erased, $4
                      FROM base, unnest($1::bytea[], $2::bytea[], $3::bytea[])
                           WITH ORDINALITY AS r(document, heads, erased, n)
                      RETURNING seq)
             SELECT max(seq) FROM inserted",
            &[&documents, &heads, &erased, &origin],
        )
        .await?;
    let newest: Option<i64> = row.get(0);
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &newest.unwrap_or(0).to_string()],
    )
    .await?;
    tx.commit().await
}

fn heads_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// One row of the shared feed, checked.
struct Row {
    seq: u64,
    document_id: DocumentId,
    heads: Vec<ChangeHash>,
    erased: Option<DocumentAcl>,
    origin: String,
}

fn parse_row(row: &tokio_postgres::Row) -> Result<Row, String> {
    let seq: i64 = row.try_get(0).map_err(|e| e.to_string())?;
    let document: Vec<u8> = row.try_get(1).map_err(|e| e.to_string())?;
    let heads: Vec<u8> = row.try_get(2).map_err(|e| e.to_string())?;
    let erased: Option<Vec<u8>> = row.try_get(3).map_err(|e| e.to_string())?;
    let origin: String = row.try_get(4).map_err(|e| e.to_string())?;
    let document = <[u8; 16]>::try_from(document.as_slice())
        .map_err(|_| format!("row {seq}: a document id has 16 bytes"))?;
    if !heads.len().is_multiple_of(32) || heads.len() / 32 > MAX_HEADS {
        return Err(format!("row {seq}: malformed heads"));
    }
    let erased = match erased {
        None => None,
        Some(bytes) if bytes.len() <= MAX_ERASED_BYTES => Some(
            ciborium::from_reader::<DocumentAcl, _>(bytes.as_slice())
                .map_err(|e| format!("row {seq}: unreadable rules of an erasure: {e}"))?,
        ),
        Some(_) => return Err(format!("row {seq}: oversized rules of an erasure")),
    };
    Ok(Row {
        seq: seq as u64,
        document_id: DocumentId::from_bytes(document),
        heads: heads
            .chunks_exact(32)
            .filter_map(|h| <[u8; 32]>::try_from(h).ok().map(ChangeHash))
            .collect(),
        erased,
        origin,
    })
}

/// What the listener knows across reconnections.
struct Listener {
    url: String,
    feed: Arc<ChangeFeed>,
    hub: Hub,
    docs: Arc<DocStore>,
    /// Whose ACL cache the notifications keep coherent.
    auth: Arc<AuthStore>,
    instance: String,
    /// The epoch the feed runs under, once connected.
    epoch: Option<u64>,
    /// The newest row applied.
    last: u64,
    ticks: u64,
    /// Set once the feed is loaded (see [`Cluster::ready`]).
    ready: watch::Sender<bool>,
}

/// Applies the shared feed's rows to this instance, renews its lease and sweeps dead ones,
/// reconnecting with backoff whenever the connection is lost, until `stop`.
async fn listen_loop(mut listener: Listener, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let outcome = listener.connected(&mut backoff, &mut stop).await;
        if *stop.borrow() {
            return;
        }
        if let Err(error) = outcome {
            tracing::warn!(
                "the cluster's listener lost the database (reconnecting): {}",
                passerelle_store::with_causes(&error)
            );
        }
        tokio::select! {
            () = backoff.wait() => {}
            _ = stop.changed() => return,
        }
    }
}

impl Listener {
    /// One connection's life: set up, catch up, then follow notifications and ticks.
    /// Ends when `stop` is set, after removing this instance's lease on the connection that
    /// holds its instance lock (releasing the lock first would look like a crash).
    async fn connected(
        &mut self,
        backoff: &mut Backoff,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), tokio_postgres::Error> {
        let listener = self.auth.acl_listener();
        let (mut client, mut notices) =
            connect_listening(&self.url, Arc::clone(&self.auth), listener).await?;
        ensure_schema(&mut client).await?;
        // Listening, and every ACL write now notifies: the ACL cache may be used.
        self.auth.acl_listening(listener);
        // Alive for as long as this connection holds its instance lock (see `heartbeat`).
        client
            .execute(
                "SELECT pg_advisory_lock($1)",
                &[&instance_lock(&self.instance)],
            )
            .await?;
        self.check_epoch(&client).await?;
        // Before serving: an instance that died (this one's predecessor after a crash)
        // starts a new epoch now, not a lease's time later.
        self.heartbeat(&client).await?;
        self.check_epoch(&client).await?;
        self.catch_up(&client).await?;
        self.ready.send_replace(true);
        backoff.reset();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    client
                        .execute(
                            "DELETE FROM passerelle_instances WHERE id = $1",
                            &[&self.instance],
                        )
                        .await?;
                    return Ok(());
                }
                notice = notices.recv() => {
                    if notice.is_none() {
                        // The connection is gone; its error was logged by its task.
                        client.simple_query("SELECT 1").await?;
                        return Ok(());
                    }
                    while notices.try_recv().is_ok() {}
                    self.catch_up(&client).await?;
                }
                _ = tick.tick() => {
                    self.ticks += 1;
                    self.heartbeat(&client).await?;
                    self.check_epoch(&client).await?;
                    self.catch_up(&client).await?;
                    if self.ticks % 60 == 1 {
                        client
                            .execute(
                                "DELETE FROM passerelle_feed
                                 WHERE seq <= (SELECT max(seq) FROM passerelle_feed) - $1",
                                &[&KEEP_ROWS],
                            )
                            .await?;
                    }
                }
            }
        }
    }

    /// Reads the epoch; at the first connection, or when it changed (a crashed instance was
    /// swept), or when rows this instance has not applied were pruned meanwhile, starts the
    /// in-memory feed over from the newest rows.
    async fn check_epoch(&mut self, client: &Client) -> Result<(), tokio_postgres::Error> {
        let epoch = epoch(client).await?;
        let row = client
            .query_one(
                "SELECT coalesce(min(seq), 1), coalesce(max(seq), 0) FROM passerelle_feed",
                &[],
            )
            .await?;
        let (min, max): (i64, i64) = (row.get(0), row.get(1));
        let (min, max) = (min.max(1) as u64, max.max(0) as u64);
        let pruned = self.epoch.is_some() && min > self.last + 1;
        if self.epoch == Some(epoch) && !pruned {
            return Ok(());
        }
        let first = self.epoch.is_none();
        let from = if first {
            max.saturating_sub(LOAD_ROWS as u64).max(min - 1)
        } else {
            // Keep applying from where this instance is (the head never moves back),
            // unless those rows are gone.
            self.last.max(min - 1)
        };
        self.feed.reset_shared(epoch, from, from);
        self.epoch = Some(epoch);
        self.last = from;
        if !first {
            tracing::info!(
                epoch = format!("{epoch:x}"),
                "the shared changes feed starts a new epoch; re-reading the documents in memory"
            );
            self.hub.refresh().await;
        }
        Ok(())
    }

    /// Applies every row after the last one applied, in order.
    async fn catch_up(&mut self, client: &Client) -> Result<(), tokio_postgres::Error> {
        loop {
            let rows = client
                .query(
                    "SELECT seq, document, heads, erased, origin FROM passerelle_feed
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&(self.last as i64), &PAGE_ROWS],
                )
                .await?;
            let count = rows.len() as i64;
            for row in &rows {
                match parse_row(row) {
                    Ok(row) => self.apply(row).await,
                    Err(reason) => {
                        let seq: i64 = row.try_get(0).unwrap_or(self.last as i64 + 1);
                        tracing::error!("skipping a malformed row of the shared feed: {reason}");
                        self.last = self.last.max(seq as u64);
                    }
                }
            }
            if count < PAGE_ROWS {
                return Ok(());
            }
        }
    }

    async fn apply(&mut self, row: Row) {
        self.last = row.seq;
        let ours = row.origin == self.instance;
        let erased = row.erased.is_some();
        self.feed
            .apply_shared(row.seq, row.document_id, row.heads.clone(), row.erased);
        if ours {
            return;
        }
        if erased {
            // Drop it from the engine, wait for our writes in flight, then sweep whatever
            // of ours landed after the erasing instance's sweep. Not on this task: it waits.
            let (hub, docs, doc) = (self.hub.clone(), Arc::clone(&self.docs), row.document_id);
            tokio::spawn(async move {
                hub.forget(doc).await;
                let swept = crate::spawn_blocking(move || docs.delete_document(&doc)).await;
                if let Ok(Err(error)) = swept {
                    tracing::warn!(document = %doc, "could not sweep an erased document: {error}");
                }
            });
        } else if !row.heads.is_empty() {
            self.hub.stored(row.document_id, row.heads).await;
        }
    }

    /// Renews this instance's lease; sweeps the leases of dead instances and, if there was
    /// any, draws a new epoch (that instance may have stored changes it never published).
    ///
    /// An instance is dead when the instance lock its listening connection holds is free
    /// (PostgreSQL releases it as soon as the connection is gone: a killed process's socket
    /// closes at once), or when its lease was not renewed for [`LEASE`] (a connection
    /// PostgreSQL has not yet seen die).
    async fn heartbeat(&mut self, client: &Client) -> Result<(), tokio_postgres::Error> {
        client
            .execute(
                "INSERT INTO passerelle_instances (id, seen) VALUES ($1, now())
                 ON CONFLICT (id) DO UPDATE SET seen = now()",
                &[&self.instance],
            )
            .await?;
        let mut dead = client
            .query(
                "DELETE FROM passerelle_instances
                 WHERE seen < now() - make_interval(secs => $1) RETURNING id",
                &[&LEASE.as_secs_f64()],
            )
            .await?;
        let others = client
            .query(
                "SELECT id FROM passerelle_instances WHERE id <> $1",
                &[&self.instance],
            )
            .await?;
        for other in others {
            let id: String = other.get(0);
            let key = instance_lock(&id);
            let free: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await?
                .get(0);
            if !free {
                continue;
            }
            client
                .execute("SELECT pg_advisory_unlock($1)", &[&key])
                .await?;
            // Unless it ended gracefully meanwhile (its lease gone), or another instance
            // swept it first.
            dead.extend(
                client
                    .query(
                        "DELETE FROM passerelle_instances WHERE id = $1 RETURNING id",
                        &[&id],
                    )
                    .await?,
            );
        }
        if !dead.is_empty() {
            let ids: Vec<String> = dead.iter().map(|row| row.get(0)).collect();
            tracing::warn!(
                instances = ?ids,
                "instances stopped renewing their lease (crashed?): the shared changes feed \
                 starts a new epoch"
            );
            client
                .execute(
                    "UPDATE passerelle_cluster SET value = $1 WHERE name = 'epoch'",
                    &[&random_epoch()],
                )
                .await?;
            client
                .execute("SELECT pg_notify($1, 'epoch')", &[&CHANNEL])
                .await?;
        }
        Ok(())
    }
}

/// The advisory lock (session-level) an instance's listening connection holds while it lives.
fn instance_lock(instance: &str) -> i64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("passerelle/instance/{instance}"));
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Reconnection pauses: 100 ms doubling to 5 s, with jitter.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    fn new() -> Self {
        Self(Self::FIRST)
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }

    async fn wait(&mut self) {
        let jitter = rand::random::<f64>() * 0.5 + 0.75;
        tokio::time::sleep(self.0.mul_f64(jitter)).await;
        self.0 = (self.0 * 2).min(Self::MAX);
    }
}
