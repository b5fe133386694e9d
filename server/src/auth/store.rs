//! [`AuthStore`]: users, tokens, document ACLs and authorship records, kept in [`Storage`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use passerelle_core::DocumentId;
use passerelle_store::{Batch, DocStore, Storage, StorageKey, StorageLock};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use super::token::TokenHash;
use super::{
    Access, AuthError, AuthorshipRecord, BearerToken, ChangeHash, DocumentAcl, IssuedToken,
    Operation, OrgName, Principal, Refusal, Role, Rule, Subject, TokenId, TokenInfo, TokenRef,
    User, UserName, access_for, allowed,
};

/// The format version written in every record (`"v"` field). Readers refuse a higher one
/// rather than guess at it.
const FORMAT_VERSION: u32 = 1;

/// Stripes of the per-document write lock: documents whose ids fall in different stripes
/// never wait for each other.
const DOCUMENT_LOCK_STRIPES: usize = 16;

/// ACLs kept in memory (see [`AclCache`]). An ACL is ~100 bytes: at most a few MiB.
const ACL_CACHE_ENTRIES: usize = 16_384;

/// A user just created, with the first token they sign in with.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The account.
    pub user: User,
    /// Its first token.
    pub token: IssuedToken,
}

/// A token as stored under `["auth", "token", <hash hex>]`.
#[derive(Debug, Serialize, Deserialize)]
struct TokenRecord {
    /// The hash again, compared in constant time after the lookup by key.
    hash: String,
    #[serde(flatten)]
    info: TokenInfo,
}

/// The entry of the id index, `["auth", "token-id", <id>]`: lets `token revoke tok_…` find a
/// token whose secret is lost without scanning every token.
#[derive(Debug, Serialize, Deserialize)]
struct TokenIdEntry {
    hash: String,
}

#[derive(Serialize)]
struct VersionedRef<'a, T> {
    v: u32,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

#[derive(Deserialize)]
struct Versioned<T> {
    #[serde(flatten)]
    body: T,
}

// Every component below is a validated name (at most 64 characters, so at most 256 bytes,
// no control character), a fixed word, a bs58 document id or a hex hash: `try_new` cannot
// fail on them, but a refusal would still surface as an error rather than a panic.

fn key<const N: usize>(components: [&str; N]) -> Result<StorageKey, AuthError> {
    Ok(StorageKey::try_new(components)?)
}

fn user_key(name: &UserName) -> Result<StorageKey, AuthError> {
    key(["auth", "user", name.as_str()])
}

fn users_prefix() -> Result<StorageKey, AuthError> {
    key(["auth", "user"])
}

fn token_key(hash_hex: &str) -> Result<StorageKey, AuthError> {
    key(["auth", "token", hash_hex])
}

fn tokens_prefix() -> Result<StorageKey, AuthError> {
    key(["auth", "token"])
}

fn token_id_key(id: &TokenId) -> Result<StorageKey, AuthError> {
    key(["auth", "token-id", id.as_str()])
}

fn acl_key(doc: &DocumentId) -> Result<StorageKey, AuthError> {
    Ok(acl_prefix().child(doc.to_string())?)
}

/// The key space of document ACLs, `["acl"]`: every ACL key starts with it.
pub(crate) fn acl_prefix() -> StorageKey {
    StorageKey::try_new(["acl"]).expect("a fixed word is a valid key")
}

/// The document whose ACL is stored under `key`, if `key` is one: `["acl", <documentId>]`.
pub(crate) fn acl_document(key: &StorageKey) -> Option<DocumentId> {
    match key.components() {
        [space, doc] if space == "acl" => doc.parse().ok(),
        _ => None,
    }
}

fn authorship_prefix(doc: &DocumentId) -> Result<StorageKey, AuthError> {
    key(["authorship", &doc.to_string()])
}

fn authorship_key(doc: &DocumentId, hash: &ChangeHash) -> Result<StorageKey, AuthError> {
    key(["authorship", &doc.to_string(), &hash.to_string()])
}

fn tombstone_key(doc: &DocumentId) -> Result<StorageKey, AuthError> {
    key([TOMBSTONE_SPACE, &doc.to_string()])
}

/// The key space of [`Tombstone`]s: `["tombstone", <documentId>]`.
pub const TOMBSTONE_SPACE: &str = "tombstone";

/// What is kept of an erased document, under `["tombstone", <documentId>]`: that it was
/// erased, when and by whom, and the rules it had (organisations and users, so that those who
/// could read it, and only they, are told it is gone, also after a restart). Nothing of its
/// content or authors. Its presence refuses the id for ever: a replica that still holds the
/// old changes cannot re-create it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// When the server erased it.
    pub erased_at: Timestamp,
    /// The user who asked.
    pub erased_by: UserName,
    /// The document's rules when it was erased. Absent in tombstones written before the
    /// server kept them: then nobody is told (as before), but the id stays refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<DocumentAcl>,
}

fn encode<T: Serialize>(body: &T) -> Vec<u8> {
    // Serialising these plain structs to JSON cannot fail: every map key is a string.
    serde_json::to_vec(&VersionedRef {
        v: FORMAT_VERSION,
        body,
    })
    .expect("auth records serialise to JSON")
}

fn decode<T: DeserializeOwned>(key: &StorageKey, bytes: &[u8]) -> Result<T, AuthError> {
    let corrupt = |e: serde_json::Error| AuthError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    };
    let VersionOnly { v } = serde_json::from_slice(bytes).map_err(corrupt)?;
    if v > FORMAT_VERSION {
        return Err(AuthError::UnsupportedFormat {
            key: key.to_string(),
            version: v,
        });
    }
    let Versioned { body } = serde_json::from_slice(bytes).map_err(corrupt)?;
    Ok(body)
}

fn lock(mutex: &Mutex<()>) -> MutexGuard<'_, ()> {
    // The mutex guards no data, only the order of read-then-write sequences, and every write
    // is one atomic batch: a panic elsewhere leaves nothing half-done, so poisoning is moot.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Users, bearer tokens, document ACLs and authorship records, on top of any [`Storage`].
///
/// **Every method blocks** on storage (and [`Storage::apply`] waits for the disk to flush):
/// async code calls them from `tokio::task::spawn_blocking`, never from a runtime thread.
/// The type is `Send + Sync` and meant to be shared as `Arc<AuthStore>`.
///
/// Read-then-write sequences ("create this user unless the name is taken", "record this
/// authorship unless already recorded") are serialised by in-process locks. That is sound
/// because one process at a time owns a sled store (sled locks its directory; the admin
/// commands go through the running server rather than open the store beside it). On a store
/// shared by several processes (PostgreSQL) two processes could still race on the same
/// name or document: [`AuthStore`] then also takes a lock in the database
/// ([`Storage::try_lock`]) for its read-then-write sequences.
///
/// ACLs are cached ([`AuthStore::cached_acl`]). On a shared store the cache is only used
/// while the server's cluster listener is connected to the database and listening to the
/// notifications that every write of an ACL key sends, whoever makes it (a trigger on the
/// table, `crate::cluster`): a change made by another instance, an admin command or plain
/// SQL applies as soon as its notification arrives (a few milliseconds). Without a listener
/// (before it first connects, while it reconnects, in admin commands) every check reads the
/// database.
pub struct AuthStore {
    storage: Arc<dyn Storage>,
    /// Serialises writes to users and tokens.
    accounts_lock: Mutex<()>,
    /// Serialises writes to one document's ACL and authorship records.
    document_locks: [Mutex<()>; DOCUMENT_LOCK_STRIPES],
    /// ACLs recently read or written.
    acls: Mutex<AclCache>,
    /// Numbers the listening connections ([`AuthStore::acl_listening`]).
    listeners: std::sync::atomic::AtomicU64,
}

/// ACLs recently read or written, so that the access check the sync paths make on every
/// message usually reads no storage (and needs no hand-off to a blocking thread).
///
/// Coherent with this process's writes because every ACL write goes through [`AuthStore`],
/// which updates the cache under the document's lock right after the write; reads that miss
/// fill it under the same lock, so a fill can never put back a value older than a write.
/// `None` entries record documents that do not exist (yet). Bounded: when full it is emptied
/// and fills again (what matters is that hot documents hit, not which cold one leaves first).
///
/// On a shared store another process may write an ACL: the cluster's listener hears of it
/// (a PostgreSQL notification) and [forgets](AuthStore::forget_acl) the entry. A reader that
/// missed, read the old value, and fills only after the notification was processed would
/// put the old value back for ever; so every fill and write-through carries the
/// [`Ticket`] taken before its read or write, and goes in only if no invalidation touched
/// its document's stripe (nor emptied the cache) since. The cache is `on` only while a
/// listener is connected and listening ([`AuthStore::acl_listening`]); always on a store
/// one process holds.
#[derive(Default)]
struct AclCache {
    entries: HashMap<DocumentId, Option<DocumentAcl>>,
    /// Whether entries may be read and filled.
    on: bool,
    /// Bumped when the cache is emptied or turned on or off.
    epoch: u64,
    /// Bumped by every invalidation of a document of the stripe (see [`acl_stripe`]).
    stripes: Vec<u64>,
    /// The listening connection the cache is on for, and the newest one that ended (see
    /// [`AuthStore::acl_listening`]).
    listener: Option<u64>,
    ended: u64,
}

/// Invalidation counters of the ACL cache: documents share one when their ids fall in the
/// same stripe, so the counters stay bounded whatever the number of documents.
const ACL_STRIPES: usize = 1_024;

fn acl_stripe(doc: &DocumentId) -> usize {
    let bytes = doc.as_bytes();
    usize::from(u16::from_le_bytes([bytes[0], bytes[1]])) % ACL_STRIPES
}

/// What the ACL cache was like before a read or write of one document's ACL: its result may
/// go in only if the cache is still so ([`AclCache::put`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ticket {
    epoch: u64,
    stripe: u64,
}

impl AclCache {
    fn new(on: bool) -> Self {
        Self {
            on,
            stripes: vec![0; ACL_STRIPES],
            ..Self::default()
        }
    }

    fn get(&self, doc: &DocumentId) -> Option<Option<DocumentAcl>> {
        if !self.on {
            return None;
        }
        self.entries.get(doc).cloned()
    }

    fn ticket(&self, doc: &DocumentId) -> Ticket {
        Ticket {
            epoch: self.epoch,
            stripe: self.stripes[acl_stripe(doc)],
        }
    }

    /// Puts what was read or written under `ticket`, unless the cache is off or something
    /// invalidated the document since the ticket was taken: then the entry is dropped (it
    /// may be older than the invalidation).
    fn put(&mut self, doc: DocumentId, acl: Option<DocumentAcl>, ticket: Ticket) {
        if !self.on || ticket != self.ticket(&doc) {
            self.entries.remove(&doc);
            return;
        }
        if self.entries.len() >= ACL_CACHE_ENTRIES && !self.entries.contains_key(&doc) {
            self.entries = HashMap::new();
        }
        self.entries.insert(doc, acl);
    }

    fn forget(&mut self, doc: &DocumentId) {
        self.stripes[acl_stripe(doc)] += 1;
        self.entries.remove(doc);
    }

    fn empty(&mut self, on: bool) {
        self.on = on;
        self.epoch += 1;
        self.entries = HashMap::new();
    }
}

impl fmt::Debug for AuthStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthStore").finish_non_exhaustive()
    }
}

impl AuthStore {
    /// An auth store over `storage`, which it shares with the rest of the server (its keys
    /// all start with `auth`, `acl` or `authorship`).
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            // On a shared store, off until a listener hears of other processes' writes.
            acls: Mutex::new(AclCache::new(!storage.is_shared())),
            storage,
            accounts_lock: Mutex::new(()),
            document_locks: std::array::from_fn(|_| Mutex::new(())),
            listeners: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn acls(&self) -> MutexGuard<'_, AclCache> {
        // Every cache update is one insert: a panic elsewhere leaves it consistent.
        self.acls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// On storage shared with other processes (several instances on PostgreSQL, admin
    /// commands beside them), the lock `name` in the database too, so that a read-then-write
    /// (a user name taken, a rule added) does not race with another process's. Nothing on
    /// storage one process holds, where the in-process locks do it.
    fn across_processes(&self, name: &[u8]) -> Result<Option<StorageLock>, AuthError> {
        if !self.storage.is_shared() {
            return Ok(None);
        }
        Ok(Some(passerelle_store::lock_waiting(
            self.storage.as_ref(),
            name,
            std::time::Duration::from_secs(30),
        )?))
    }

    fn document_lock(&self, doc: &DocumentId) -> MutexGuard<'_, ()> {
        lock(&self.document_locks[usize::from(doc.as_bytes()[0]) % DOCUMENT_LOCK_STRIPES])
    }

    fn read<T: DeserializeOwned>(&self, key: &StorageKey) -> Result<Option<T>, AuthError> {
        match self.storage.get(key)? {
            Some(bytes) => decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn read_all<T: DeserializeOwned>(&self, prefix: &StorageKey) -> Result<Vec<T>, AuthError> {
        self.storage
            .scan_prefix(prefix)?
            .iter()
            .map(|(key, bytes)| decode(key, bytes))
            .collect()
    }

    // ---- users and tokens -------------------------------------------------------------

    /// Creates a user and their first token, in one atomic write.
    ///
    /// Refusal: [`Refusal::UserExists`].
    pub fn add_user(
        &self,
        name: &UserName,
        org: &OrgName,
        role: Role,
    ) -> Result<Result<NewUser, Refusal>, AuthError> {
        let _guard = lock(&self.accounts_lock);
        let _across = self.across_processes(b"auth/accounts")?;
        if self.storage.get(&user_key(name)?)?.is_some() {
            return Ok(Err(Refusal::UserExists(name.clone())));
        }
        let user = User {
            name: name.clone(),
            org: org.clone(),
            role,
            created_at: Timestamp::now(),
        };
        let mut batch = Batch::new();
        batch.put(user_key(name)?, encode(&user));
        let token = self.prepare_token(name, &mut batch)?;
        self.storage.apply(batch)?;
        Ok(Ok(NewUser { user, token }))
    }

    /// The user with this name, if any.
    pub fn user(&self, name: &UserName) -> Result<Option<User>, AuthError> {
        self.read(&user_key(name)?)
    }

    /// Every user, by name.
    pub fn list_users(&self) -> Result<Vec<User>, AuthError> {
        self.read_all(&users_prefix()?)
    }

    /// Issues a new token for an existing user.
    ///
    /// Refusal: [`Refusal::UnknownUser`].
    pub fn create_token(&self, user: &UserName) -> Result<Result<IssuedToken, Refusal>, AuthError> {
        let _guard = lock(&self.accounts_lock);
        let _across = self.across_processes(b"auth/accounts")?;
        if self.storage.get(&user_key(user)?)?.is_none() {
            return Ok(Err(Refusal::UnknownUser(user.clone())));
        }
        let mut batch = Batch::new();
        let token = self.prepare_token(user, &mut batch)?;
        self.storage.apply(batch)?;
        Ok(Ok(token))
    }

    /// Adds the writes of a new token for `user` to `batch`.
    fn prepare_token(&self, user: &UserName, batch: &mut Batch) -> Result<IssuedToken, AuthError> {
        let (token, hash) = BearerToken::generate();
        // 64 random bits: a collision is practically impossible, but checking costs one read
        // and an id must name one token.
        let id = loop {
            let id = TokenId::generate();
            if self.storage.get(&token_id_key(&id)?)?.is_none() {
                break id;
            }
        };
        let hash_hex = hash.to_hex();
        let info = TokenInfo {
            id: id.clone(),
            user: user.clone(),
            created_at: Timestamp::now(),
            revoked_at: None,
        };
        let record = TokenRecord {
            hash: hash_hex.clone(),
            info: info.clone(),
        };
        batch.put(token_key(&hash_hex)?, encode(&record));
        batch.put(token_id_key(&id)?, encode(&TokenIdEntry { hash: hash_hex }));
        Ok(IssuedToken { info, token })
    }

    /// Every token (without secrets), of one user or of all users.
    pub fn list_tokens(&self, user: Option<&UserName>) -> Result<Vec<TokenInfo>, AuthError> {
        let records: Vec<TokenRecord> = self.read_all(&tokens_prefix()?)?;
        let mut tokens: Vec<TokenInfo> = records
            .into_iter()
            .map(|r| r.info)
            .filter(|info| user.is_none_or(|u| &info.user == u))
            .collect();
        tokens.sort_by(|a, b| (&a.user, a.created_at).cmp(&(&b.user, b.created_at)));
        Ok(tokens)
    }

    /// Revokes a token, named by its secret or its id. From the moment this returns, every
    /// [`AuthStore::check_token`] refuses it. Revoking a revoked token changes nothing and
    /// succeeds (the first revocation time is kept).
    ///
    /// Refusal: [`Refusal::UnknownToken`].
    pub fn revoke_token(&self, token: &TokenRef) -> Result<Result<TokenInfo, Refusal>, AuthError> {
        let _guard = lock(&self.accounts_lock);
        let _across = self.across_processes(b"auth/accounts")?;
        let hash_hex = match token {
            TokenRef::Secret(secret) => match TokenHash::of_presented(secret.expose_secret()) {
                Some(hash) => hash.to_hex(),
                None => return Ok(Err(Refusal::UnknownToken)),
            },
            TokenRef::Id(id) => match self.read::<TokenIdEntry>(&token_id_key(id)?)? {
                Some(entry) => entry.hash,
                None => return Ok(Err(Refusal::UnknownToken)),
            },
        };
        let key = token_key(&hash_hex)?;
        let Some(mut record) = self.read::<TokenRecord>(&key)? else {
            return Ok(Err(Refusal::UnknownToken));
        };
        if record.info.revoked_at.is_none() {
            record.info.revoked_at = Some(Timestamp::now());
            let mut batch = Batch::new();
            batch.put(key, encode(&record));
            self.storage.apply(batch)?;
        }
        Ok(Ok(record.info))
    }

    /// Who `presented` signs in as: `Ok(None)` when it is malformed, unknown or revoked, or its
    /// user no longer exists.
    ///
    /// Cheap enough to call on every request and periodically on open connections: two
    /// storage reads and a hash. The token is looked up by its SHA-256, so the secret itself
    /// is never compared with anything; the stored hash is then compared with the computed one
    /// in constant time, so that even a backend whose key lookup were approximate could not
    /// leak, through timing, how close a guess came. The principal is rebuilt from the current
    /// user record, so a changed role applies at the next check.
    pub fn check_token(&self, presented: &str) -> Result<Option<Principal>, AuthError> {
        let Some(hash) = TokenHash::of_presented(presented) else {
            return Ok(None);
        };
        let key = token_key(&hash.to_hex())?;
        let Some(record) = self.read::<TokenRecord>(&key)? else {
            return Ok(None);
        };
        let stored = hex::decode(&record.hash).map_err(|e| AuthError::Corrupt {
            key: key.to_string(),
            reason: format!("token hash: {e}"),
        })?;
        if !bool::from(stored.as_slice().ct_eq(hash.as_bytes())) {
            return Ok(None);
        }
        if record.info.is_revoked() {
            return Ok(None);
        }
        Ok(self.user(&record.info.user)?.map(|user| user.principal()))
    }

    // ---- document ACLs ----------------------------------------------------------------

    /// The ACL of `doc`; `None` means the document does not exist (for access control).
    pub fn acl(&self, doc: &DocumentId) -> Result<Option<DocumentAcl>, AuthError> {
        if let Some(acl) = self.cached_acl(doc) {
            return Ok(acl);
        }
        let _guard = self.document_lock(doc);
        let ticket = self.acls().ticket(doc);
        let acl: Option<DocumentAcl> = self.read(&acl_key(doc)?)?;
        self.acls().put(*doc, acl.clone(), ticket);
        Ok(acl)
    }

    /// The ACL of `doc` if it is in memory: `Some(answer)` is what [`AuthStore::acl`] would
    /// return, without touching storage; `None` means "not cached, ask `acl`". Never blocks on
    /// the disk, so async code may call it directly.
    ///
    /// On a shared storage ([`Storage::is_shared`], PostgreSQL), where another process (an
    /// admin command, another server) may change an ACL, `None` unless a listener is hearing
    /// of those changes ([`AuthStore::acl_listening`]); an entry is dropped when its
    /// change's notification arrives ([`AuthStore::forget_acl`]).
    pub fn cached_acl(&self, doc: &DocumentId) -> Option<Option<DocumentAcl>> {
        self.acls().get(doc)
    }

    /// A new number for a connection that will listen to ACL changes, for
    /// [`AuthStore::acl_listening`] and [`AuthStore::acl_unheard`].
    pub(crate) fn acl_listener(&self) -> u64 {
        self.listeners
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    /// Listener `listener` is now hearing of every ACL write made by other processes (it
    /// LISTENs and the trigger that notifies exists): the cache is emptied (what it missed
    /// before is forgotten) and turned on. Nothing if that listener already ended.
    pub(crate) fn acl_listening(&self, listener: u64) {
        let mut acls = self.acls();
        if listener <= acls.ended {
            return;
        }
        acls.listener = Some(listener);
        acls.empty(true);
    }

    /// Listener `listener` has lost its connection: notifications may be missed from now
    /// on, so the cache is emptied and turned off until a listener hears again. Nothing if
    /// the cache is on for another (a newer) listener.
    pub(crate) fn acl_unheard(&self, listener: u64) {
        let mut acls = self.acls();
        acls.ended = acls.ended.max(listener);
        if acls.listener == Some(listener) {
            acls.listener = None;
            acls.empty(false);
        }
    }

    /// Another process wrote the ACL of `doc` (`None`: of unknown documents, forget all).
    pub(crate) fn forget_acl(&self, doc: Option<&DocumentId>) {
        let mut acls = self.acls();
        match doc {
            Some(doc) => acls.forget(doc),
            None => {
                let on = acls.on;
                acls.empty(on);
            }
        }
    }

    /// The access `principal` has to `doc` (see [`access_for`]).
    pub fn access(&self, doc: &DocumentId, principal: &Principal) -> Result<Access, AuthError> {
        Ok(access_for(principal, self.acl(doc)?.as_ref()))
    }

    /// Whether `principal` may perform `operation` on `doc` (see [`allowed`]).
    pub fn is_allowed(
        &self,
        doc: &DocumentId,
        principal: &Principal,
        operation: Operation,
    ) -> Result<bool, AuthError> {
        Ok(allowed(principal, self.acl(doc)?.as_ref(), operation))
    }

    /// Creates the ACL of a new document, owned by `creator`'s organisation. Exactly one of
    /// several concurrent creators wins; the others get [`Refusal::DocumentExists`] and should
    /// then check their [`Operation::Write`] access like for any existing document.
    ///
    /// The ACL is written without waiting for the disk ([`Storage::apply_deferred`]) on
    /// storage one process holds (on shared storage it is committed at once, before the
    /// lock across processes is let go): it is durable with the next flush of the storage,
    /// at the latest the one that makes the document's first content durable, which the sync
    /// paths wait for before acknowledging.
    /// Batches become durable in order, so a document's content never survives a crash
    /// without its ACL. Call [`AuthStore::flush`] if the ACL must be durable on its own.
    ///
    /// Refusals: [`Refusal::DocumentExists`], [`Refusal::NotAllowed`] (viewers).
    pub fn create_document(
        &self,
        doc: &DocumentId,
        creator: &Principal,
    ) -> Result<Result<DocumentAcl, Refusal>, AuthError> {
        let _guard = self.document_lock(doc);
        let _across = self.across_processes(&acl_lock_name(doc))?;
        let ticket = self.acls().ticket(doc);
        let key = acl_key(doc)?;
        // An erased id is taken for ever: refused like an existing document the creator may
        // not see, so the sync paths answer `unavailable`.
        let stored = self.storage.get_many(&[key.clone(), tombstone_key(doc)?])?;
        if stored.iter().any(Option::is_some) {
            return Ok(Err(Refusal::DocumentExists(*doc)));
        }
        if !allowed(creator, None, Operation::Create) {
            return Ok(Err(Refusal::NotAllowed(Operation::Create)));
        }
        let acl = DocumentAcl::new_for(creator);
        let mut batch = Batch::new();
        batch.put(key, encode(&acl));
        if self.storage.is_shared() {
            // Other processes see a deferred write only once it is flushed: the ACL must be
            // in the database before the lock that makes this creator the only one is let go.
            self.storage.apply(batch)?;
        } else {
            self.storage.apply_deferred(batch)?;
        }
        self.acls().put(*doc, Some(acl.clone()), ticket);
        Ok(Ok(acl))
    }

    /// Sets the rule for `rule.subject` on `doc` (replacing an earlier one), if `actor` may
    /// [`Operation::Share`] it. Returns the new ACL.
    ///
    /// Refusals: [`Refusal::UnknownDocument`], [`Refusal::NotAllowed`].
    pub fn set_rule(
        &self,
        doc: &DocumentId,
        actor: &Principal,
        rule: Rule,
    ) -> Result<Result<DocumentAcl, Refusal>, AuthError> {
        self.change_acl(doc, actor, |acl| acl.set_rule(rule))
    }

    /// Removes the rule for `subject` on `doc`, if `actor` may [`Operation::Share`] it.
    /// Returns the new ACL (unchanged if there was no such rule).
    ///
    /// Refusals: [`Refusal::UnknownDocument`], [`Refusal::NotAllowed`].
    pub fn remove_rule(
        &self,
        doc: &DocumentId,
        actor: &Principal,
        subject: &Subject,
    ) -> Result<Result<DocumentAcl, Refusal>, AuthError> {
        self.change_acl(doc, actor, |acl| {
            acl.remove_rule(subject);
        })
    }

    fn change_acl(
        &self,
        doc: &DocumentId,
        actor: &Principal,
        change: impl FnOnce(&mut DocumentAcl),
    ) -> Result<Result<DocumentAcl, Refusal>, AuthError> {
        let _guard = self.document_lock(doc);
        let _across = self.across_processes(&acl_lock_name(doc))?;
        let ticket = self.acls().ticket(doc);
        let key = acl_key(doc)?;
        let Some(mut acl) = self.read::<DocumentAcl>(&key)? else {
            return Ok(Err(Refusal::UnknownDocument(*doc)));
        };
        if !allowed(actor, Some(&acl), Operation::Share) {
            return Ok(Err(Refusal::NotAllowed(Operation::Share)));
        }
        change(&mut acl);
        let mut batch = Batch::new();
        batch.put(key, encode(&acl));
        self.storage.apply(batch)?;
        self.acls().put(*doc, Some(acl.clone()), ticket);
        Ok(Ok(acl))
    }

    // ---- erasure ----------------------------------------------------------------------

    /// The tombstone of `doc`, if it was erased.
    pub fn tombstone(&self, doc: &DocumentId) -> Result<Option<Tombstone>, AuthError> {
        self.read(&tombstone_key(doc)?)
    }

    /// Every tombstone, with its document id, in id order.
    pub fn tombstones(&self) -> Result<Vec<(DocumentId, Tombstone)>, AuthError> {
        let prefix = key([TOMBSTONE_SPACE])?;
        let mut out = Vec::new();
        for (key, bytes) in self.storage.scan_prefix(&prefix)? {
            let tombstone = decode(&key, &bytes)?;
            match key.components().get(1).map(|id| id.parse::<DocumentId>()) {
                Some(Ok(doc)) => out.push((doc, tombstone)),
                _ => tracing::warn!(key = ?key, "a tombstone key names no document; skipped"),
            }
        }
        Ok(out)
    }

    /// Erases `doc` for good, in one atomic and flushed batch: its chunks, metadata and marker
    /// (through `docs`), its ACL and every authorship record go, and a [`Tombstone`] is
    /// written, which makes [`AuthStore::create_document`] refuse the id from then on. The
    /// caller checks the right to erase. Returns how many document keys were deleted. May be
    /// called again (by the server, never twice by a user: the ACL is gone) to sweep chunks
    /// that a storage task in flight wrote after the first call.
    pub fn erase_document(
        &self,
        doc: &DocumentId,
        docs: &DocStore,
        tombstone: &Tombstone,
    ) -> Result<usize, AuthError> {
        let _guard = self.document_lock(doc);
        let ticket = self.acls().ticket(doc);
        let mut batch = Batch::new();
        batch.delete(acl_key(doc)?);
        for key in self.storage.keys_with_prefix(&authorship_prefix(doc)?)? {
            batch.delete(key);
        }
        batch.put(tombstone_key(doc)?, encode(tombstone));
        let deleted = docs.delete_document_with(doc, batch)?;
        self.acls().put(*doc, None, ticket);
        Ok(deleted)
    }

    // ---- authorship -------------------------------------------------------------------

    /// Records that `principal` delivered change `hash` of `doc` at `at_unix_ms` (milliseconds
    /// since 1970, wall clock), unless a
    /// record for that change exists already (the first deliverer stays the author). Returns
    /// whether a record was written.
    pub fn record_change(
        &self,
        doc: &DocumentId,
        hash: impl Into<ChangeHash>,
        principal: &Principal,
        at_unix_ms: u64,
    ) -> Result<bool, AuthError> {
        Ok(self.record_changes(doc, [hash.into()], principal, at_unix_ms)? == 1)
    }

    /// [`AuthStore::record_change`] for all the changes of one sync message, in one atomic
    /// write (one disk flush instead of one per change). Returns how many were new. Takes
    /// this crate's [`ChangeHash`] or `automerge::ChangeHash` alike.
    pub fn record_changes<H: Into<ChangeHash>>(
        &self,
        doc: &DocumentId,
        hashes: impl IntoIterator<Item = H>,
        principal: &Principal,
        at_unix_ms: u64,
    ) -> Result<usize, AuthError> {
        let written = self.record_changes_deferred(doc, hashes, principal, at_unix_ms)?;
        if written > 0 {
            self.flush()?;
        }
        Ok(written)
    }

    /// [`AuthStore::record_changes`] without waiting for the disk: the records are durable
    /// once a later flush of the same storage returns (the sync hub writes them before the
    /// changes' own chunks, so one flush covers both).
    pub fn record_changes_deferred<H: Into<ChangeHash>>(
        &self,
        doc: &DocumentId,
        hashes: impl IntoIterator<Item = H>,
        principal: &Principal,
        at_unix_ms: u64,
    ) -> Result<usize, AuthError> {
        // A clock before 1970 or past year 9999 is a caller bug; record the epoch rather than
        // lose the authorship.
        let at = i64::try_from(at_unix_ms)
            .ok()
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let records = hashes.into_iter().map(|hash| AuthorshipRecord {
            change_hash: hash.into(),
            user: principal.user.clone(),
            org: principal.org.clone(),
            at,
            origin: Vec::new(),
        });
        self.record_new_deferred(doc, records)
    }

    /// Writes each of `records` unless its change has a record already (stored, or earlier
    /// in `records`): the first stays. Reads the existing records in one
    /// [`Storage::get_many`]. Durable at the next flush. Returns how many were new.
    fn record_new_deferred(
        &self,
        doc: &DocumentId,
        records: impl IntoIterator<Item = AuthorshipRecord>,
    ) -> Result<usize, AuthError> {
        let _guard = self.document_lock(doc);
        let mut seen = std::collections::HashSet::new();
        let mut candidates = Vec::new();
        for record in records {
            if seen.insert(record.change_hash) {
                candidates.push((authorship_key(doc, &record.change_hash)?, record));
            }
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        let keys: Vec<StorageKey> = candidates.iter().map(|(key, _)| key.clone()).collect();
        let stored = self.storage.get_many(&keys)?;
        let mut batch = Batch::new();
        for ((key, record), stored) in candidates.into_iter().zip(stored) {
            if stored.is_none() {
                batch.put(key, encode(&record));
            }
        }
        let written = batch.ops.len();
        if written > 0 {
            self.storage.apply_deferred(batch)?;
        }
        Ok(written)
    }

    /// Writes `records` of `doc` as they are (authors a federation peer stated, already
    /// validated), each unless its change has a record already: the first stays. Durable at
    /// the next flush, as [`AuthStore::record_changes_deferred`]. Returns how many were new.
    pub fn record_claimed_deferred(
        &self,
        doc: &DocumentId,
        records: impl IntoIterator<Item = AuthorshipRecord>,
    ) -> Result<usize, AuthError> {
        self.record_new_deferred(doc, records)
    }

    /// The authorship records of these changes of `doc` that exist, in the order asked.
    pub fn authorship_of(
        &self,
        doc: &DocumentId,
        hashes: impl IntoIterator<Item = ChangeHash>,
    ) -> Result<Vec<AuthorshipRecord>, AuthError> {
        let keys = hashes
            .into_iter()
            .map(|hash| authorship_key(doc, &hash))
            .collect::<Result<Vec<_>, _>>()?;
        let stored = self.storage.get_many(&keys)?;
        keys.iter()
            .zip(stored)
            .filter_map(|(key, bytes)| bytes.map(|bytes| decode(key, &bytes)))
            .collect()
    }

    /// Waits until every write made so far (deferred ones included) is durable.
    pub fn flush(&self) -> Result<(), AuthError> {
        Ok(self.storage.flush()?)
    }

    /// Every authorship record of `doc`, oldest first (ties by change hash).
    pub fn history(&self, doc: &DocumentId) -> Result<Vec<AuthorshipRecord>, AuthError> {
        let mut records: Vec<AuthorshipRecord> = self.read_all(&authorship_prefix(doc)?)?;
        records.sort_by_key(|r| (r.at, r.change_hash));
        Ok(records)
    }
}

/// The name of the cross-process lock of a document's rules ([`AuthStore::across_processes`]).
fn acl_lock_name(doc: &DocumentId) -> Vec<u8> {
    let mut name = b"acl/".to_vec();
    name.extend_from_slice(doc.as_bytes());
    name
}

#[cfg(test)]
mod tests {
    //! The ACL cache on a shared store, with its invalidations driven by hand in the order
    //! a race would take (the cluster's listener drives them in the server).

    use passerelle_store::{MemoryStorage, StorageError};

    use super::*;

    type Hook = Box<dyn FnOnce() + Send>;

    /// A real in-memory store that says it is shared, and runs `after_get` once, right
    /// after the next read returns: what another process does while a reader holds what it
    /// read.
    struct SharedStore {
        inner: Arc<MemoryStorage>,
        after_get: Mutex<Option<Hook>>,
    }

    impl Storage for SharedStore {
        fn get(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
            let value = self.inner.get(key);
            let hook = self.after_get.lock().unwrap().take();
            if let Some(hook) = hook {
                hook();
            }
            value
        }
        fn scan_prefix(
            &self,
            prefix: &StorageKey,
        ) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
            self.inner.scan_prefix(prefix)
        }
        fn keys_with_prefix(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
            self.inner.keys_with_prefix(prefix)
        }
        fn apply_deferred(&self, batch: Batch) -> Result<(), StorageError> {
            self.inner.apply_deferred(batch)
        }
        fn flush(&self) -> Result<(), StorageError> {
            self.inner.flush()
        }
        fn is_shared(&self) -> bool {
            true
        }
    }

    fn principal(user: &str, org: &str) -> Principal {
        Principal {
            user: user.parse().unwrap(),
            org: org.parse().unwrap(),
            role: Role::Admin,
        }
    }

    struct Setup {
        store: Arc<SharedStore>,
        /// This process.
        auth: Arc<AuthStore>,
        /// Another process writing the same store.
        other: AuthStore,
        doc: DocumentId,
        amina: Principal,
        youssef: Principal,
    }

    fn setup() -> Setup {
        let inner = Arc::new(MemoryStorage::new());
        let store = Arc::new(SharedStore {
            inner: Arc::clone(&inner),
            after_get: Mutex::new(None),
        });
        let auth = Arc::new(AuthStore::new(Arc::clone(&store) as Arc<dyn Storage>));
        let other = AuthStore::new(inner);
        let (doc, amina) = (DocumentId::random(), principal("amina", "ville-de-lille"));
        other.create_document(&doc, &amina).unwrap().unwrap();
        Setup {
            store,
            auth,
            other,
            doc,
            amina,
            youssef: principal("youssef", "commune-oujda"),
        }
    }

    fn share(s: &Setup, access: Access) {
        let rule = Rule {
            subject: Subject::Org(s.youssef.org.clone()),
            access,
        };
        s.other.set_rule(&s.doc, &s.amina, rule).unwrap().unwrap();
    }

    #[test]
    fn off_on_a_shared_store_until_a_listener_hears_and_again_once_it_is_gone() {
        let s = setup();
        s.auth.acl(&s.doc).unwrap();
        assert_eq!(s.auth.cached_acl(&s.doc), None, "no listener yet");
        let listener = s.auth.acl_listener();
        s.auth.acl_listening(listener);
        let before = s.auth.acl(&s.doc).unwrap();
        assert_eq!(s.auth.cached_acl(&s.doc), Some(before.clone()));

        // The notification of another process's write.
        share(&s, Access::Read);
        s.auth.forget_acl(Some(&s.doc));
        assert_eq!(s.auth.cached_acl(&s.doc), None);
        let shared = s.auth.acl(&s.doc).unwrap();
        assert_ne!(shared, before);
        assert_eq!(s.auth.cached_acl(&s.doc), Some(shared));

        // The listener's connection is lost: nothing cached is trusted, nothing is filled,
        // so a change made meanwhile (whose notification nobody hears) applies.
        s.auth.acl_unheard(listener);
        assert_eq!(s.auth.cached_acl(&s.doc), None);
        share(&s, Access::None);
        assert!(
            !s.auth
                .is_allowed(&s.doc, &s.youssef, Operation::Read)
                .unwrap()
        );
        assert_eq!(s.auth.cached_acl(&s.doc), None);

        // An older listener ending, or turning on after it ended, changes nothing.
        let newer = s.auth.acl_listener();
        s.auth.acl_listening(newer);
        s.auth.acl(&s.doc).unwrap();
        s.auth.acl_unheard(listener);
        assert!(
            s.auth.cached_acl(&s.doc).is_some(),
            "on for the newer listener"
        );
        s.auth.acl_unheard(newer);
        s.auth.acl_listening(newer);
        assert_eq!(s.auth.cached_acl(&s.doc), None, "that listener has ended");
    }

    /// A reader misses, reads the old ACL, another process writes and its notification is
    /// processed, and only then does the reader fill the cache: the old value must not go
    /// in (it would stay for ever, no other notification coming).
    #[test]
    fn a_fill_that_read_before_an_invalidation_is_dropped() {
        let s = setup();
        s.auth.acl_listening(s.auth.acl_listener());
        let old = s.auth.acl(&s.doc).unwrap();
        s.auth.forget_acl(Some(&s.doc));

        let other = AuthStore::new(Arc::clone(&s.store.inner) as Arc<dyn Storage>);
        let (doc, amina, org) = (s.doc, s.amina.clone(), s.youssef.org.clone());
        let auth = Arc::downgrade(&s.auth);
        *s.store.after_get.lock().unwrap() = Some(Box::new(move || {
            let rule = Rule {
                subject: Subject::Org(org),
                access: Access::Write,
            };
            other.set_rule(&doc, &amina, rule).unwrap().unwrap();
            auth.upgrade().unwrap().forget_acl(Some(&doc));
        }));
        // This read returns what it read, before the write: fair, it started before.
        assert_eq!(s.auth.acl(&s.doc).unwrap(), old);
        // But it is not kept: the next check reads the new rules.
        assert_eq!(s.auth.cached_acl(&s.doc), None, "a stale ACL was cached");
        assert!(
            s.auth
                .is_allowed(&s.doc, &s.youssef, Operation::Write)
                .unwrap()
        );
        assert!(s.auth.cached_acl(&s.doc).is_some());
    }

    /// The same race for this process's own write: its write-through must not put back a
    /// value that a later write of another process, already heard of, replaced.
    #[test]
    fn a_write_through_overtaken_by_an_invalidation_is_dropped() {
        let s = setup();
        s.auth.acl_listening(s.auth.acl_listener());
        let doc = s.doc;
        let auth = Arc::downgrade(&s.auth);
        // change_acl reads the ACL, then writes; the hook runs between the two: the
        // notification of an earlier write of another process arrives.
        *s.store.after_get.lock().unwrap() = Some(Box::new(move || {
            auth.upgrade().unwrap().forget_acl(Some(&doc));
        }));
        let rule = Rule {
            subject: Subject::Org(s.youssef.org.clone()),
            access: Access::Read,
        };
        s.auth.set_rule(&s.doc, &s.amina, rule).unwrap().unwrap();
        assert_eq!(s.auth.cached_acl(&s.doc), None);
        // Without invalidations in between, the write goes through to the cache.
        let rule = Rule {
            subject: Subject::Org(s.youssef.org.clone()),
            access: Access::Write,
        };
        let written = s.auth.set_rule(&s.doc, &s.amina, rule).unwrap().unwrap();
        assert_eq!(s.auth.cached_acl(&s.doc), Some(Some(written)));
    }

    #[test]
    fn on_a_store_one_process_holds_the_cache_needs_no_listener() {
        let auth = AuthStore::new(Arc::new(MemoryStorage::new()));
        let (doc, amina) = (DocumentId::random(), principal("amina", "ville-de-lille"));
        let acl = auth.create_document(&doc, &amina).unwrap().unwrap();
        assert_eq!(auth.cached_acl(&doc), Some(Some(acl)));
    }
}
