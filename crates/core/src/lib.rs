//! The core of passerelle: identifiers, the automerge-repo wire messages, and a sans-IO sync
//! engine. Nothing here opens a socket, touches a disk or reads a clock: events and the
//! current time go in, effects come out as data, and a runtime (the server, the client, the
//! deterministic simulation in the tests) carries them out.
//!
//! # Layout
//! - [`document_id`]: [`DocumentId`], bs58check over 16 bytes, as automerge-repo spells it.
//! - [`peer_id`]: [`PeerId`], a peer's self-chosen address.
//! - [`message`]: the protocol messages and their CBOR encoding.
//! - `wire`: the CBOR codec of those messages ([`Message::encode`], [`Message::decode`]),
//!   byte-compatible with automerge-repo's JS packages, and its [`DecodeLimits`].
//! - `effect`: [`Event`] in, [`Effect`] out, [`Millis`] for time.
//! - `engine`: [`Engine`], the sans-IO sync engine, and its invariants.
//! - [`batch`]: the HTTP batch sync of `POST /v1/sync` (passerelle's own, for poor links).
//! - [`storage_task`]: what the engine asks of durable storage, as data.
//! - [`validate`]: the checks every op of an incoming change passes before the engine lets
//!   automerge apply it ([`validate::check_changes`]).

pub mod batch;
mod document_id;
mod effect;
mod engine;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod message;
mod peer_id;
mod storage_task;
pub mod validate;
mod wire;

pub use document_id::{DocumentId, DocumentIdError, URL_PREFIX};
pub use effect::{DeltaOutcome, DeltaRequest, Effect, Event, Millis, PeerRole};
pub use engine::{Engine, EngineConfig, EngineError};
pub use message::{HeadsAt, Message, PROTOCOL_VERSION, PeerMetadata};
pub use peer_id::{MAX_PEER_ID_LEN, PeerId, PeerIdError};
pub use storage_task::{StorageResult, StorageTask, TaskId};
pub use wire::{DecodeError, DecodeLimits, FieldError};
