//! The CBOR codec of the automerge-repo protocol: [`Message::encode`] and [`Message::decode`].
//!
//! # Decoding
//! Bytes from the network are checked against [`DecodeLimits`] before anything else, parsed
//! by ciborium into a [`ciborium::Value`] under an item budget and a depth limit (so a small
//! frame cannot expand into a large tree, and a nesting bomb cannot exhaust the stack), and
//! then read field by field. Unknown fields are ignored; `null` and `undefined` (which JS sends
//! for an absent optional value) both mean "absent".
//!
//! # Encoding
//! The JS client and server both encode with cbor-x as automerge-repo configures it
//! (`new Encoder({ tagUint8Array: false, useRecords: false })`), and our frames are meant to be
//! byte-identical to theirs, which is proved against frames captured from the real packages
//! (`tests/fixtures/js`). The message is built as a [`ciborium::Value`] map with its fields in
//! the order automerge-repo's code creates them. It is then written the way cbor-x writes,
//! which differs from ciborium in three places that ciborium cannot be told about:
//! - every map (JS object) has a 16-bit count (`b9 00 04`), because cbor-x reserves room
//!   for the count before it knows it and patches it in afterwards;
//! - every number that is not an integer in `[-2^32, 2^32)` is a float64, never narrowed
//!   (so a `Date.now()` timestamp is `fb ...`), where ciborium picks the shortest exact width;
//! - an absent optional value that JS still has a key for is `undefined` (`f7`), which
//!   [`ciborium::Value`] cannot represent: in the trees built here [`Value::Null`] stands for
//!   it (the protocol never sends `null`).
//!
//! Those three forms, and the heads of arrays and tags, are written here; every scalar (text,
//! bytes, integers, booleans) is written by ciborium.

use std::cell::Cell;
use std::collections::BTreeMap;

use ciborium::Value;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny};

use crate::{DocumentId, DocumentIdError, HeadsAt, Message, PeerId, PeerIdError, PeerMetadata};

/// How much of a peer's input [`Message::decode`] accepts.
///
/// Every field is a cap on memory or work that a peer can make us spend before we know
/// whether its message makes sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The largest frame, in bytes, checked before any parsing. A `sync` message can carry a
    /// whole document, hence the generous default (16 MiB).
    pub max_message_bytes: usize,
    /// The longest text string in a known field (ids, heads, storage ids, protocol versions,
    /// the `type`, an error's text), in bytes. `data` is a byte string and is bounded only by
    /// `max_message_bytes`. Default 4096.
    pub max_string_bytes: usize,
    /// The most entries in one list: `heads`, `add`, `remove`, `supportedProtocolVersions`,
    /// and the storage ids of `newHeads`. Default 1024.
    pub max_list_items: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024 * 1024,
            max_string_bytes: 4096,
            max_list_items: 1024,
        }
    }
}

impl DecodeLimits {
    /// The most CBOR items (every map, array, key, string, number...) one frame may hold:
    /// `16 * max_list_items + 256`.
    ///
    /// A parsed item costs tens of bytes of memory while it may cost one byte on the wire, so
    /// without this a 16 MiB frame of tiny items would become a tree of about a gigabyte. The
    /// bound leaves room for every list at its limit except for a `newHeads` whose every
    /// entry is full, which no implementation sends (JS reports one storage id per message).
    pub fn max_cbor_items(&self) -> usize {
        self.max_list_items.saturating_mul(16).saturating_add(256)
    }
}

/// How deep a frame may nest. A protocol message nests four levels (message, `newHeads`, one
/// entry, its `heads`); the rest is headroom for unknown fields. Kept far below ciborium's own
/// limit (256) so that a nesting bomb costs little stack.
const MAX_DEPTH: usize = 16;

/// Why bytes from a peer are not a protocol message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Refused before parsing: the frame is larger than [`DecodeLimits::max_message_bytes`].
    #[error("message is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    /// The frame stops in the middle of a CBOR item (or is empty).
    #[error("message is truncated: it ends inside a CBOR item")]
    Truncated,
    /// Not well-formed CBOR (a reserved byte, invalid UTF-8 in a text string, ...).
    #[error("message is not valid CBOR: {0}")]
    Malformed(String),
    /// A frame is exactly one CBOR item; this one has bytes after it.
    #[error("message has {0} bytes after its CBOR item")]
    TrailingBytes(usize),
    /// More items than [`DecodeLimits::max_cbor_items`].
    #[error("message holds more than {limit} CBOR items")]
    TooManyItems { limit: usize },
    /// Nested deeper than any protocol message needs.
    #[error("message nests more than {limit} levels deep")]
    TooDeep { limit: usize },
    /// A message is a CBOR map.
    #[error("a message is a CBOR map; this one is {found}")]
    NotAMap { found: &'static str },
    /// The map has no `type`, so there is no telling what it is.
    #[error("message has no `type` field")]
    MissingType,
    /// A `type` this protocol version does not define.
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    /// A field this message type cannot do without is absent (or `null`/`undefined`).
    #[error("missing field `{field}` in a `{message_type}` message")]
    MissingField {
        message_type: &'static str,
        field: &'static str,
    },
    /// A known field appears twice; which one a peer meant is ambiguous, so neither is used.
    #[error("field `{field}` appears more than once")]
    DuplicateField { field: &'static str },
    /// A field is present but its value is unacceptable. Nested fields are named with dots
    /// (`newHeads.timestamp`, `peerMetadata.storageId`).
    #[error("field `{field}`: {problem}")]
    Field {
        field: &'static str,
        problem: FieldError,
    },
}

/// What is wrong with the value of one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The value has the wrong CBOR type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    /// Longer than [`DecodeLimits::max_string_bytes`].
    #[error("a string here is at most {limit} bytes; this one has {len}")]
    StringTooLong { len: usize, limit: usize },
    /// More entries than [`DecodeLimits::max_list_items`].
    #[error("a list here holds at most {limit} items; this one has {len}")]
    TooManyItems { len: usize, limit: usize },
    /// Not a document id.
    #[error(transparent)]
    DocumentId(DocumentIdError),
    /// Not a peer id.
    #[error(transparent)]
    PeerId(PeerIdError),
    /// A counter must be a whole number that fits in 64 bits.
    #[error("expected a whole number from 0 to 2^64 - 1, found {0}")]
    NotACount(String),
    /// A timestamp must be a finite number.
    #[error("expected a finite number, found {0}")]
    NotFinite(String),
    /// A required part of a nested value is absent.
    #[error("missing")]
    Missing,
    /// A map key appears twice.
    #[error("the key `{0}` appears more than once")]
    DuplicateKey(String),
}

impl Message {
    /// Encodes this message as one WebSocket binary frame, byte for byte as automerge-repo's
    /// JS code would encode the same message (see the module docs for what that takes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_like_cbor_x(&self.to_wire_value(), &mut out);
        out
    }

    /// Decodes one frame from a peer. Never panics; refuses oversized input before parsing
    /// it, and bounds everything it allocates by `limits`.
    pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Message, DecodeError> {
        if bytes.len() > limits.max_message_bytes {
            return Err(DecodeError::TooLarge {
                size: bytes.len(),
                limit: limits.max_message_bytes,
            });
        }
        let mut value = parse_bounded(bytes, limits)?;
        Frame::new(&mut value, limits)?.message()
    }

    /// The frame as a CBOR map, fields in the order automerge-repo creates them: each JS
    /// object literal's own order, with `senderId` (and for `ephemeral`, `count` and
    /// `sessionId`) appended by its `NetworkSubsystem` when the message goes out.
    fn to_wire_value(&self) -> Value {
        let type_name = text(self.type_name());
        let entries = match self {
            Message::Join {
                sender_id,
                peer_metadata,
                supported_protocol_versions,
            } => {
                let mut entries = vec![
                    ("type", type_name),
                    ("senderId", peer(sender_id)),
                    ("peerMetadata", metadata(peer_metadata)),
                ];
                // An empty list stands for "the peer sent none".
                if !supported_protocol_versions.is_empty() {
                    entries.push((
                        "supportedProtocolVersions",
                        text_list(supported_protocol_versions),
                    ));
                }
                entries
            }
            Message::Peer {
                sender_id,
                target_id,
                peer_metadata,
                selected_protocol_version,
            } => vec![
                ("type", type_name),
                ("senderId", peer(sender_id)),
                ("peerMetadata", metadata(peer_metadata)),
                ("selectedProtocolVersion", text(selected_protocol_version)),
                ("targetId", peer(target_id)),
            ],
            Message::Error {
                sender_id,
                target_id,
                message,
            } => {
                let mut entries = vec![
                    ("type", type_name),
                    ("senderId", peer(sender_id)),
                    ("message", text(message)),
                ];
                if let Some(target_id) = target_id {
                    entries.push(("targetId", peer(target_id)));
                }
                entries
            }
            Message::Sync {
                sender_id,
                target_id,
                document_id,
                data,
            } => vec![
                ("type", type_name),
                ("targetId", peer(target_id)),
                ("data", Value::Bytes(data.clone())),
                ("documentId", document(document_id)),
                ("senderId", peer(sender_id)),
            ],
            Message::Request {
                sender_id,
                target_id,
                document_id,
                data,
            } => vec![
                ("type", type_name),
                ("targetId", peer(target_id)),
                ("documentId", document(document_id)),
                ("data", Value::Bytes(data.clone())),
                ("senderId", peer(sender_id)),
            ],
            Message::DocUnavailable {
                sender_id,
                target_id,
                document_id,
            } => vec![
                ("type", type_name),
                ("documentId", document(document_id)),
                ("targetId", peer(target_id)),
                ("senderId", peer(sender_id)),
            ],
            Message::Ephemeral {
                sender_id,
                target_id,
                count,
                session_id,
                document_id,
                data,
            } => vec![
                ("type", type_name),
                ("targetId", peer(target_id)),
                ("documentId", document(document_id)),
                ("data", Value::Bytes(data.clone())),
                ("count", js_count(*count)),
                ("sessionId", text(session_id)),
                ("senderId", peer(sender_id)),
            ],
            Message::RemoteSubscriptionChange {
                sender_id,
                target_id,
                add,
                remove,
            } => vec![
                ("type", type_name),
                ("targetId", peer(target_id)),
                // JS always has both keys; the one it has no list for holds `undefined`.
                ("add", add.as_deref().map_or(JS_UNDEFINED, text_list)),
                ("remove", remove.as_deref().map_or(JS_UNDEFINED, text_list)),
                ("senderId", peer(sender_id)),
            ],
            Message::RemoteHeadsChanged {
                sender_id,
                target_id,
                document_id,
                new_heads,
            } => vec![
                ("type", type_name),
                ("targetId", peer(target_id)),
                ("documentId", document(document_id)),
                ("newHeads", heads_map(new_heads)),
                ("senderId", peer(sender_id)),
            ],
            Message::Leave { sender_id } => {
                vec![("type", type_name), ("senderId", peer(sender_id))]
            }
        };
        map(entries)
    }
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// JS `undefined` in the trees built for encoding (see the module docs).
const JS_UNDEFINED: Value = Value::Null;

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

fn peer(id: &PeerId) -> Value {
    text(id.as_str())
}

fn document(id: &DocumentId) -> Value {
    Value::Text(id.to_string())
}

fn text_list(items: &[String]) -> Value {
    Value::Array(items.iter().map(|item| text(item)).collect())
}

fn map(entries: Vec<(&'static str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(key, value)| (text(key), value))
            .collect(),
    )
}

/// `{storageId, isEphemeral}`, the shape of the object automerge-repo's `Repo` builds.
fn metadata(metadata: &PeerMetadata) -> Value {
    map(vec![
        (
            "storageId",
            metadata.storage_id.as_deref().map_or(JS_UNDEFINED, text),
        ),
        ("isEphemeral", Value::Bool(metadata.is_ephemeral)),
    ])
}

/// `{[storageId]: {heads, timestamp}}`; JS sends one entry, we send ours in key order.
fn heads_map(new_heads: &BTreeMap<String, HeadsAt>) -> Value {
    Value::Map(
        new_heads
            .iter()
            .map(|(storage_id, at)| {
                let entry = map(vec![
                    ("heads", text_list(&at.heads)),
                    ("timestamp", js_number(at.timestamp)),
                ]);
                (text(storage_id), entry)
            })
            .collect(),
    )
}

/// A JS number as cbor-x writes it: an integer in `[-2^32, 2^32)` (including `-0`) as a CBOR
/// integer of the smallest width, anything else (a fraction, a `Date.now()` timestamp,
/// infinities and NaN) as a float64.
fn js_number(value: f64) -> Value {
    const LIMIT: f64 = 4_294_967_296.0; // 2^32
    if value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value) {
        // Exact: the value is whole and within i64.
        Value::Integer((value as i64).into())
    } else {
        Value::Float(value)
    }
}

/// An ephemeral message's counter, which JS holds as a number: from 2^32 on cbor-x writes it
/// as a float64 (exact up to 2^53, which a counter incremented once per message never
/// reaches).
fn js_count(count: u64) -> Value {
    match u32::try_from(count) {
        Ok(small) => Value::Integer(small.into()),
        Err(_) => Value::Float(count as f64),
    }
}

/// CBOR major types whose heads are written here.
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;

/// Writes `value` as cbor-x would write the equivalent JS value (see the module docs).
fn write_like_cbor_x(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Map(entries) => {
            // cbor-x: `0xb9` and a 16-bit count, or a map-32 head from 65536 entries on.
            match u16::try_from(entries.len()) {
                Ok(count) => {
                    out.push(MAJOR_MAP << 5 | 25);
                    out.extend_from_slice(&count.to_be_bytes());
                }
                Err(_) => write_head(MAJOR_MAP, entries.len() as u64, out),
            }
            for (key, entry) in entries {
                write_like_cbor_x(key, out);
                write_like_cbor_x(entry, out);
            }
        }
        Value::Array(items) => {
            write_head(MAJOR_ARRAY, items.len() as u64, out);
            for item in items {
                write_like_cbor_x(item, out);
            }
        }
        Value::Tag(tag, inner) => {
            write_head(MAJOR_TAG, *tag, out);
            write_like_cbor_x(inner, out);
        }
        Value::Float(number) => {
            // Major type 7, additional information 27: an IEEE 754 double.
            out.push(0xfb);
            out.extend_from_slice(&number.to_be_bytes());
        }
        // Simple value 23: `undefined` (see `JS_UNDEFINED`).
        Value::Null => out.push(0xf7),
        scalar => ciborium::into_writer(scalar, &mut *out)
            .expect("ciborium writes a scalar into a Vec without error"),
    }
}

/// The shortest head for an array of `len` items or a tag, as both cbor-x and ciborium
/// write it.
fn write_head(major: u8, len: u64, out: &mut Vec<u8>) {
    let major = major << 5;
    if len < 24 {
        out.push(major | len as u8);
    } else if let Ok(len) = u8::try_from(len) {
        out.extend_from_slice(&[major | 24, len]);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(major | 25);
        out.extend_from_slice(&len.to_be_bytes());
    } else if let Ok(len) = u32::try_from(len) {
        out.push(major | 26);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

// ---------------------------------------------------------------------------------------
// Parsing with an item budget and a depth limit
// ---------------------------------------------------------------------------------------

/// What the current parse may still spend. ciborium only parses into types that implement
/// `Deserialize` without outside state, so the budget of the parse in progress lives in a
/// thread-local, set by [`parse_bounded`] before and taken back after.
#[derive(Debug, Clone, Copy)]
struct Budget {
    items_left: usize,
    depth: usize,
    exceeded: Option<Exceeded>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exceeded {
    Items,
    Depth,
}

thread_local! {
    static BUDGET: Cell<Budget> = const {
        Cell::new(Budget { items_left: 0, depth: 0, exceeded: None })
    };
}

fn spend<E: de::Error>(change: impl FnOnce(&mut Budget) -> Result<(), Exceeded>) -> Result<(), E> {
    BUDGET.with(|cell| {
        let mut budget = cell.get();
        let result = change(&mut budget);
        if let Err(exceeded) = result {
            budget.exceeded = Some(exceeded);
        }
        cell.set(budget);
        result.map_err(|exceeded| match exceeded {
            Exceeded::Items => E::custom("too many CBOR items"),
            Exceeded::Depth => E::custom("CBOR nested too deeply"),
        })
    })
}

fn take_item<E: de::Error>() -> Result<(), E> {
    spend(|budget| {
        budget.items_left = budget.items_left.checked_sub(1).ok_or(Exceeded::Items)?;
        Ok(())
    })
}

fn enter<E: de::Error>() -> Result<(), E> {
    spend(|budget| {
        if budget.depth >= MAX_DEPTH {
            return Err(Exceeded::Depth);
        }
        budget.depth += 1;
        Ok(())
    })
}

fn leave() {
    BUDGET.with(|cell| {
        let mut budget = cell.get();
        budget.depth = budget.depth.saturating_sub(1);
        cell.set(budget);
    });
}

/// Parses exactly one CBOR item that fits the budget of `limits`.
fn parse_bounded(bytes: &[u8], limits: &DecodeLimits) -> Result<Value, DecodeError> {
    BUDGET.with(|cell| {
        cell.set(Budget {
            items_left: limits.max_cbor_items(),
            depth: 0,
            exceeded: None,
        })
    });
    let mut rest = bytes;
    let parsed = ciborium::from_reader::<Bounded, _>(&mut rest);
    let budget = BUDGET.with(|cell| cell.get());
    match (parsed, budget.exceeded) {
        (_, Some(Exceeded::Items)) => Err(DecodeError::TooManyItems {
            limit: limits.max_cbor_items(),
        }),
        (_, Some(Exceeded::Depth)) | (Err(ciborium::de::Error::RecursionLimitExceeded), _) => {
            Err(DecodeError::TooDeep { limit: MAX_DEPTH })
        }
        (Err(ciborium::de::Error::Io(error)), None)
            if error.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Err(DecodeError::Truncated)
        }
        (Err(ciborium::de::Error::Io(error)), None) => {
            Err(DecodeError::Malformed(error.to_string()))
        }
        (Err(ciborium::de::Error::Syntax(offset)), None) => Err(DecodeError::Malformed(format!(
            "unexpected byte at offset {offset}"
        ))),
        (Err(ciborium::de::Error::Semantic(offset, reason)), None) => {
            Err(DecodeError::Malformed(match offset {
                Some(offset) => format!("{reason} (at offset {offset})"),
                None => reason,
            }))
        }
        (Ok(_), None) if !rest.is_empty() => Err(DecodeError::TrailingBytes(rest.len())),
        (Ok(Bounded(value)), None) => Ok(value),
    }
}

/// A [`Value`] parsed within the thread's [`Budget`]: every item, including map keys, is
/// paid for before it is parsed, and every map, array and tag counts one level of depth.
struct Bounded(Value);

impl<'de> Deserialize<'de> for Bounded {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        take_item()?;
        deserializer.deserialize_any(BoundedVisitor).map(Bounded)
    }
}

struct BoundedVisitor;

impl<'de> de::Visitor<'de> for BoundedVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a CBOR item")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Ok(Value::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::Text(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::Text(value))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(value.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, value: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(value))
    }

    /// `null` and `undefined` both arrive here.
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        enter()?;
        let mut items = Vec::new();
        while let Some(Bounded(item)) = seq.next_element()? {
            items.push(item);
        }
        leave();
        Ok(Value::Array(items))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        enter()?;
        let mut pairs = Vec::new();
        while let Some((Bounded(key), Bounded(value))) = entries.next_entry()? {
            pairs.push((key, value));
        }
        leave();
        Ok(Value::Map(pairs))
    }

    /// ciborium hands a tagged item over as a two-field tuple variant: the tag number, then
    /// the item.
    fn visit_enum<A: de::EnumAccess<'de>>(self, tagged: A) -> Result<Value, A::Error> {
        let (IgnoredAny, variant) = tagged.variant()?;
        de::VariantAccess::tuple_variant(variant, 2, TaggedVisitor)
    }
}

struct TaggedVisitor;

impl<'de> de::Visitor<'de> for TaggedVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a tagged CBOR item")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        enter()?;
        let tag: u64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("a tag without its number"))?;
        let Bounded(item) = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("a tag without its item"))?;
        leave();
        Ok(Value::Tag(tag, Box::new(item)))
    }
}

// ---------------------------------------------------------------------------------------
// Reading fields
// ---------------------------------------------------------------------------------------

/// The top-level fields the protocol defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Type,
    SenderId,
    TargetId,
    DocumentId,
    Data,
    PeerMetadata,
    /// An alias of `peerMetadata` that some documentation uses.
    Metadata,
    SupportedProtocolVersions,
    SelectedProtocolVersion,
    Message,
    Count,
    SessionId,
    Add,
    Remove,
    NewHeads,
}

impl Field {
    const ALL: [Field; 15] = [
        Field::Type,
        Field::SenderId,
        Field::TargetId,
        Field::DocumentId,
        Field::Data,
        Field::PeerMetadata,
        Field::Metadata,
        Field::SupportedProtocolVersions,
        Field::SelectedProtocolVersion,
        Field::Message,
        Field::Count,
        Field::SessionId,
        Field::Add,
        Field::Remove,
        Field::NewHeads,
    ];

    /// The name on the wire.
    fn name(self) -> &'static str {
        match self {
            Field::Type => "type",
            Field::SenderId => "senderId",
            Field::TargetId => "targetId",
            Field::DocumentId => "documentId",
            Field::Data => "data",
            Field::PeerMetadata => "peerMetadata",
            Field::Metadata => "metadata",
            Field::SupportedProtocolVersions => "supportedProtocolVersions",
            Field::SelectedProtocolVersion => "selectedProtocolVersion",
            Field::Message => "message",
            Field::Count => "count",
            Field::SessionId => "sessionId",
            Field::Add => "add",
            Field::Remove => "remove",
            Field::NewHeads => "newHeads",
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.name() == name)
    }
}

/// One frame's known fields, each found once, with the type it claims to be. The fields are
/// borrowed mutably so that `data`, which may be megabytes, is moved out rather than copied.
struct Frame<'a> {
    slots: [Option<&'a mut Value>; Field::ALL.len()],
    message_type: &'static str,
    limits: &'a DecodeLimits,
}

impl<'a> Frame<'a> {
    fn new(value: &'a mut Value, limits: &'a DecodeLimits) -> Result<Self, DecodeError> {
        let Value::Map(entries) = value else {
            return Err(DecodeError::NotAMap { found: kind(value) });
        };
        let mut slots: [Option<&'a mut Value>; Field::ALL.len()] = Default::default();
        for (key, value) in entries {
            let Some(field) = key.as_text().and_then(Field::from_name) else {
                continue;
            };
            let slot = &mut slots[field as usize];
            if slot.is_some() {
                return Err(DecodeError::DuplicateField {
                    field: field.name(),
                });
            }
            *slot = Some(value);
        }
        let mut frame = Frame {
            slots,
            message_type: "",
            limits,
        };
        let type_value = frame.present(Field::Type).ok_or(DecodeError::MissingType)?;
        let type_name = string(type_value, Field::Type.name(), limits)?;
        let message_type = [
            "join",
            "peer",
            "error",
            "sync",
            "request",
            "doc-unavailable",
            "ephemeral",
            "remote-subscription-change",
            "remote-heads-changed",
            "leave",
        ]
        .into_iter()
        .find(|known| *known == type_name)
        .ok_or_else(|| DecodeError::UnknownType(type_name.to_owned()))?;
        frame.message_type = message_type;
        Ok(frame)
    }

    fn message(mut self) -> Result<Message, DecodeError> {
        Ok(match self.message_type {
            "join" => Message::Join {
                sender_id: self.peer_id(Field::SenderId)?,
                peer_metadata: self.peer_metadata()?,
                supported_protocol_versions: self
                    .string_list(Field::SupportedProtocolVersions)?
                    .unwrap_or_default(),
            },
            "peer" => Message::Peer {
                sender_id: self.peer_id(Field::SenderId)?,
                target_id: self.peer_id(Field::TargetId)?,
                peer_metadata: self.peer_metadata()?,
                selected_protocol_version: self.string(Field::SelectedProtocolVersion)?,
            },
            "error" => Message::Error {
                sender_id: self.peer_id(Field::SenderId)?,
                target_id: self.optional_peer_id(Field::TargetId)?,
                message: self.string(Field::Message)?,
            },
            "sync" => Message::Sync {
                sender_id: self.peer_id(Field::SenderId)?,
                target_id: self.peer_id(Field::TargetId)?,
                document_id: self.document_id()?,
                data: self.take_bytes(Field::Data)?,
            },
            "request" => Message::Request {
                sender_id: self.peer_id(Field::SenderId)?,
                target_id: self.peer_id(Field::TargetId)?,
                document_id: self.document_id()?,
                data: self.take_bytes(Field::Data)?,
            },
            "doc-unavailable" => Message::DocUnavailable {
                sender_id: self.peer_id(Field::SenderId)?,
                target_id: self.peer_id(Field::TargetId)?,
                document_id: self.document_id()?,
            },
            "ephemeral" => Message::Ephemeral {
                sender_id: self.peer_id(Field::SenderId)?,
                target_id: self.peer_id(Field::TargetId)?,
                count: count(self.required(Field::Count)?, Field::Count.name())?,
                session_id: self.string(Field::SessionId)?,
                document_id: self.document_id()?,
                data: self.take_bytes(Field::Data)?,
            },
            "remote-subscription-change" => Message::RemoteSubscriptionChange {
                sender_id: self.peer_id(Field::SenderId)?,
                target_id: self.peer_id(Field::TargetId)?,
                add: self.string_list(Field::Add)?,
                remove: self.string_list(Field::Remove)?,
            },
            "remote-heads-changed" => Message::RemoteHeadsChanged {
                sender_id: self.peer_id(Field::SenderId)?,
                target_id: self.peer_id(Field::TargetId)?,
                document_id: self.document_id()?,
                new_heads: self.new_heads()?,
            },
            "leave" => Message::Leave {
                sender_id: self.peer_id(Field::SenderId)?,
            },
            other => return Err(DecodeError::UnknownType(other.to_owned())),
        })
    }

    /// The field's value, unless it is absent, `null` or `undefined`.
    fn present(&self, field: Field) -> Option<&Value> {
        self.slots[field as usize]
            .as_deref()
            .filter(|value| !value.is_null())
    }

    fn missing(&self, field: Field) -> DecodeError {
        DecodeError::MissingField {
            message_type: self.message_type,
            field: field.name(),
        }
    }

    fn required(&self, field: Field) -> Result<&Value, DecodeError> {
        self.present(field).ok_or_else(|| self.missing(field))
    }

    fn string(&self, field: Field) -> Result<String, DecodeError> {
        string(self.required(field)?, field.name(), self.limits).map(str::to_owned)
    }

    fn peer_id(&self, field: Field) -> Result<PeerId, DecodeError> {
        parse_peer_id(self.required(field)?, field.name(), self.limits)
    }

    fn optional_peer_id(&self, field: Field) -> Result<Option<PeerId>, DecodeError> {
        self.present(field)
            .map(|value| parse_peer_id(value, field.name(), self.limits))
            .transpose()
    }

    fn document_id(&self) -> Result<DocumentId, DecodeError> {
        let name = Field::DocumentId.name();
        let id = string(self.required(Field::DocumentId)?, name, self.limits)?;
        id.parse().map_err(|error| DecodeError::Field {
            field: name,
            problem: FieldError::DocumentId(error),
        })
    }

    /// Moves a byte string out of the frame (each field is read once).
    fn take_bytes(&mut self, field: Field) -> Result<Vec<u8>, DecodeError> {
        match self.slots[field as usize].as_deref_mut() {
            Some(Value::Bytes(bytes)) => Ok(std::mem::take(bytes)),
            None | Some(Value::Null) => Err(self.missing(field)),
            Some(other) => Err(wrong_type(field.name(), "a byte string", other)),
        }
    }

    fn string_list(&self, field: Field) -> Result<Option<Vec<String>>, DecodeError> {
        self.present(field)
            .map(|value| string_list(value, field.name(), self.limits))
            .transpose()
    }

    /// `peerMetadata`, or its alias `metadata`; absent means "nothing said": no storage id,
    /// not ephemeral.
    fn peer_metadata(&self) -> Result<PeerMetadata, DecodeError> {
        let (value, name, storage_field, ephemeral_field) = match (
            self.present(Field::PeerMetadata),
            self.present(Field::Metadata),
        ) {
            (Some(value), _) => (
                value,
                Field::PeerMetadata.name(),
                "peerMetadata.storageId",
                "peerMetadata.isEphemeral",
            ),
            (None, Some(value)) => (
                value,
                Field::Metadata.name(),
                "metadata.storageId",
                "metadata.isEphemeral",
            ),
            (None, None) => return Ok(PeerMetadata::default()),
        };
        let Value::Map(entries) = value else {
            return Err(wrong_type(name, "a map", value));
        };
        let storage_id = lookup(entries, "storageId", storage_field)?
            .map(|value| string(value, storage_field, self.limits).map(str::to_owned))
            .transpose()?;
        let is_ephemeral = match lookup(entries, "isEphemeral", ephemeral_field)? {
            None => false,
            Some(Value::Bool(flag)) => *flag,
            Some(other) => return Err(wrong_type(ephemeral_field, "a boolean", other)),
        };
        Ok(PeerMetadata {
            storage_id,
            is_ephemeral,
        })
    }

    /// `newHeads`: `{[storageId]: {heads: [...], timestamp}}`.
    fn new_heads(&self) -> Result<BTreeMap<String, HeadsAt>, DecodeError> {
        const HEADS: &str = "newHeads.heads";
        const TIMESTAMP: &str = "newHeads.timestamp";
        let name = Field::NewHeads.name();
        let value = self.required(Field::NewHeads)?;
        let Value::Map(entries) = value else {
            return Err(wrong_type(name, "a map", value));
        };
        check_list_len(entries.len(), name, self.limits)?;
        let mut new_heads = BTreeMap::new();
        for (key, entry) in entries {
            let storage_id = string(key, name, self.limits)?;
            let Value::Map(fields) = entry else {
                return Err(wrong_type(name, "a map of {heads, timestamp}", entry));
            };
            let heads = lookup(fields, "heads", HEADS)?.ok_or(DecodeError::Field {
                field: HEADS,
                problem: FieldError::Missing,
            })?;
            let timestamp = lookup(fields, "timestamp", TIMESTAMP)?.ok_or(DecodeError::Field {
                field: TIMESTAMP,
                problem: FieldError::Missing,
            })?;
            let at = HeadsAt {
                heads: string_list(heads, HEADS, self.limits)?,
                timestamp: finite_number(timestamp, TIMESTAMP)?,
            };
            if new_heads.insert(storage_id.to_owned(), at).is_some() {
                return Err(DecodeError::Field {
                    field: name,
                    problem: FieldError::DuplicateKey(storage_id.to_owned()),
                });
            }
        }
        Ok(new_heads)
    }
}

/// The value under the text key `key` of a nested map, unless absent, `null` or `undefined`.
fn lookup<'a>(
    entries: &'a [(Value, Value)],
    key: &str,
    field: &'static str,
) -> Result<Option<&'a Value>, DecodeError> {
    let mut found = entries
        .iter()
        .filter(|(candidate, _)| candidate.as_text() == Some(key))
        .map(|(_, value)| value);
    let first = found.next();
    if found.next().is_some() {
        return Err(DecodeError::DuplicateField { field });
    }
    Ok(first.filter(|value| !value.is_null()))
}

fn string<'a>(
    value: &'a Value,
    field: &'static str,
    limits: &DecodeLimits,
) -> Result<&'a str, DecodeError> {
    let Value::Text(text) = value else {
        return Err(wrong_type(field, "a text string", value));
    };
    if text.len() > limits.max_string_bytes {
        return Err(DecodeError::Field {
            field,
            problem: FieldError::StringTooLong {
                len: text.len(),
                limit: limits.max_string_bytes,
            },
        });
    }
    Ok(text)
}

fn check_list_len(
    len: usize,
    field: &'static str,
    limits: &DecodeLimits,
) -> Result<(), DecodeError> {
    if len > limits.max_list_items {
        return Err(DecodeError::Field {
            field,
            problem: FieldError::TooManyItems {
                len,
                limit: limits.max_list_items,
            },
        });
    }
    Ok(())
}

fn string_list(
    value: &Value,
    field: &'static str,
    limits: &DecodeLimits,
) -> Result<Vec<String>, DecodeError> {
    let Value::Array(items) = value else {
        return Err(wrong_type(field, "an array of text strings", value));
    };
    check_list_len(items.len(), field, limits)?;
    items
        .iter()
        .map(|item| string(item, field, limits).map(str::to_owned))
        .collect()
}

fn parse_peer_id(
    value: &Value,
    field: &'static str,
    limits: &DecodeLimits,
) -> Result<PeerId, DecodeError> {
    string(value, field, limits)?
        .parse()
        .map_err(|error| DecodeError::Field {
            field,
            problem: FieldError::PeerId(error),
        })
}

/// A counter: a CBOR integer, or the float64 cbor-x writes from 2^32 on.
fn count(value: &Value, field: &'static str) -> Result<u64, DecodeError> {
    let not_a_count = |shown: String| DecodeError::Field {
        field,
        problem: FieldError::NotACount(shown),
    };
    match value {
        Value::Integer(integer) => {
            u64::try_from(*integer).map_err(|_| not_a_count(i128::from(*integer).to_string()))
        }
        // 2^64 is exact as an f64; anything below it that is whole fits in a u64.
        Value::Float(number)
            if number.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(number) =>
        {
            Ok(*number as u64)
        }
        Value::Float(number) => Err(not_a_count(number.to_string())),
        other => Err(wrong_type(field, "a number", other)),
    }
}

/// A timestamp: JS numbers arrive as integers or floats; either becomes milliseconds.
fn finite_number(value: &Value, field: &'static str) -> Result<f64, DecodeError> {
    match value {
        // A CBOR integer is at most 65 bits; the nearest f64 is what JS would hold too.
        Value::Integer(integer) => Ok(i128::from(*integer) as f64),
        Value::Float(number) if number.is_finite() => Ok(*number),
        Value::Float(number) => Err(DecodeError::Field {
            field,
            problem: FieldError::NotFinite(number.to_string()),
        }),
        other => Err(wrong_type(field, "a number", other)),
    }
}

fn wrong_type(field: &'static str, expected: &'static str, found: &Value) -> DecodeError {
    DecodeError::Field {
        field,
        problem: FieldError::WrongType {
            expected,
            found: kind(found),
        },
    }
}

/// A CBOR value's kind, for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "a byte string",
        Value::Float(_) => "a float",
        Value::Text(_) => "a text string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null or undefined",
        Value::Tag(..) => "a tagged item",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "an unknown CBOR item",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    fn peer_id(id: &str) -> PeerId {
        id.parse().unwrap()
    }

    /// A frame written the way cbor-x writes (`Value::Null` is `undefined`).
    fn frame(entries: Vec<(&'static str, Value)>) -> Vec<u8> {
        let mut out = Vec::new();
        write_like_cbor_x(&map(entries), &mut out);
        out
    }

    /// A frame in ciborium's own (shortest) encoding, as a non-JS peer might send it; here
    /// `Value::Null` is a real `null`.
    fn canonical(entries: Vec<(&'static str, Value)>) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(&map(entries), &mut out).unwrap();
        out
    }

    fn sync_entries() -> Vec<(&'static str, Value)> {
        vec![
            ("type", text("sync")),
            ("targetId", text("server")),
            ("data", Value::Bytes(vec![0x42, 1, 2, 3])),
            ("documentId", document(&DocumentId::from_bytes([7; 16]))),
            ("senderId", text("peer-a")),
        ]
    }

    fn heads_changed(heads: Vec<String>, timestamp: f64) -> Message {
        Message::RemoteHeadsChanged {
            sender_id: peer_id("server"),
            target_id: peer_id("peer-a"),
            document_id: DocumentId::from_bytes([3; 16]),
            new_heads: BTreeMap::from([("storage-1".to_owned(), HeadsAt { heads, timestamp })]),
        }
    }

    fn field_problem(result: Result<Message, DecodeError>) -> (&'static str, FieldError) {
        match result {
            Err(DecodeError::Field { field, problem }) => (field, problem),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    // --- Arbitrary messages -------------------------------------------------------------

    fn any_peer_id() -> impl Strategy<Value = PeerId> {
        "\\PC{1,24}".prop_map(|id| id.parse().unwrap())
    }

    fn any_document_id() -> impl Strategy<Value = DocumentId> {
        any::<[u8; 16]>().prop_map(DocumentId::from_bytes)
    }

    fn any_text() -> impl Strategy<Value = String> {
        "\\PC{0,24}"
    }

    fn any_texts() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(any_text(), 0..4)
    }

    fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..64)
    }

    fn any_metadata() -> impl Strategy<Value = PeerMetadata> {
        (prop::option::of(any_text()), any::<bool>()).prop_map(|(storage_id, is_ephemeral)| {
            PeerMetadata {
                storage_id,
                is_ephemeral,
            }
        })
    }

    fn any_timestamp() -> impl Strategy<Value = f64> {
        prop_oneof![
            (0u64..1 << 53).prop_map(|ms| ms as f64),
            (-1e15..1e15f64),
            any::<f64>().prop_filter("finite", |t| t.is_finite()),
        ]
    }

    fn any_count() -> impl Strategy<Value = u64> {
        // A JS counter is exact up to 2^53.
        prop_oneof![0u64..1 << 32, 0u64..=1 << 53]
    }

    fn any_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (any_peer_id(), any_metadata(), any_texts()).prop_map(
                |(sender_id, peer_metadata, versions)| {
                    Message::Join {
                        sender_id,
                        peer_metadata,
                        supported_protocol_versions: versions,
                    }
                }
            ),
            (any_peer_id(), any_peer_id(), any_metadata(), any_text()).prop_map(
                |(sender_id, target_id, peer_metadata, version)| Message::Peer {
                    sender_id,
                    target_id,
                    peer_metadata,
                    selected_protocol_version: version,
                }
            ),
            (any_peer_id(), prop::option::of(any_peer_id()), any_text()).prop_map(
                |(sender_id, target_id, message)| Message::Error {
                    sender_id,
                    target_id,
                    message,
                }
            ),
            (any_peer_id(), any_peer_id(), any_document_id(), any_bytes()).prop_map(
                |(sender_id, target_id, document_id, data)| Message::Sync {
                    sender_id,
                    target_id,
                    document_id,
                    data,
                }
            ),
            (any_peer_id(), any_peer_id(), any_document_id(), any_bytes()).prop_map(
                |(sender_id, target_id, document_id, data)| Message::Request {
                    sender_id,
                    target_id,
                    document_id,
                    data,
                }
            ),
            (any_peer_id(), any_peer_id(), any_document_id()).prop_map(
                |(sender_id, target_id, document_id)| Message::DocUnavailable {
                    sender_id,
                    target_id,
                    document_id,
                }
            ),
            (
                any_peer_id(),
                any_peer_id(),
                any_count(),
                any_text(),
                any_document_id(),
                any_bytes()
            )
                .prop_map(
                    |(sender_id, target_id, count, session_id, document_id, data)| {
                        Message::Ephemeral {
                            sender_id,
                            target_id,
                            count,
                            session_id,
                            document_id,
                            data,
                        }
                    }
                ),
            (
                any_peer_id(),
                any_peer_id(),
                prop::option::of(any_texts()),
                prop::option::of(any_texts())
            )
                .prop_map(|(sender_id, target_id, add, remove)| {
                    Message::RemoteSubscriptionChange {
                        sender_id,
                        target_id,
                        add,
                        remove,
                    }
                }),
            (
                any_peer_id(),
                any_peer_id(),
                any_document_id(),
                prop::collection::btree_map(
                    any_text(),
                    (any_texts(), any_timestamp())
                        .prop_map(|(heads, timestamp)| HeadsAt { heads, timestamp }),
                    0..3
                )
            )
                .prop_map(|(sender_id, target_id, document_id, new_heads)| {
                    Message::RemoteHeadsChanged {
                        sender_id,
                        target_id,
                        document_id,
                        new_heads,
                    }
                }),
            any_peer_id().prop_map(|sender_id| Message::Leave { sender_id }),
        ]
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(message in any_message()) {
            let bytes = message.encode();
            let decoded = Message::decode(&bytes, &limits()).unwrap();
            prop_assert_eq!(&decoded, &message);
            // And the bytes are stable: what we decode, we re-encode identically.
            prop_assert_eq!(decoded.encode(), bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Message::decode(&bytes, &limits());
        }

        #[test]
        fn corrupted_frames_never_panic(
            message in any_message(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = message.encode();
            for (index, byte) in flips {
                let at = index.index(bytes.len());
                bytes[at] = byte;
            }
            let _ = Message::decode(&bytes, &limits());
        }

        #[test]
        fn every_truncation_of_a_frame_is_an_error(message in any_message()) {
            let bytes = message.encode();
            for end in 0..bytes.len() {
                prop_assert!(Message::decode(&bytes[..end], &limits()).is_err());
            }
        }
    }

    // --- Malformed and hostile input ----------------------------------------------------

    #[test]
    fn empty_and_truncated_input_is_truncated() {
        assert_eq!(Message::decode(&[], &limits()), Err(DecodeError::Truncated));
        let bytes = frame(sync_entries());
        assert_eq!(
            Message::decode(&bytes[..bytes.len() - 1], &limits()),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn nesting_bombs_are_refused_cheaply() {
        for open in [0x81u8, 0x9f, 0xa1, 0xc6] {
            // 0x81: array of one; 0x9f: indefinite array; 0xa1: map of one (the nested item
            // is the key); 0xc6: a tag.
            let mut bomb = vec![open; 1_000_000];
            bomb.push(0x00);
            assert_eq!(
                Message::decode(&bomb, &limits()),
                Err(DecodeError::TooDeep { limit: MAX_DEPTH }),
                "opening byte {open:#x}"
            );
        }
        // The same inside an unknown field of an otherwise valid message.
        let mut deep = Value::Integer(0.into());
        for _ in 0..MAX_DEPTH {
            deep = Value::Array(vec![deep]);
        }
        let mut entries = sync_entries();
        entries.push(("extra", deep.clone()));
        assert_eq!(
            Message::decode(&frame(entries), &limits()),
            Err(DecodeError::TooDeep { limit: MAX_DEPTH })
        );
        // One level less fits (the message map itself is the first level).
        let Value::Array(mut inner) = deep else {
            unreachable!()
        };
        let mut entries = sync_entries();
        entries.push(("extra", inner.remove(0)));
        assert!(Message::decode(&frame(entries), &limits()).is_ok());
    }

    #[test]
    fn huge_declared_lengths_allocate_nothing() {
        // Byte string, text string, array and map, each claiming 2^64 - 1 entries.
        for head in [0x5bu8, 0x7b, 0x9b, 0xbb] {
            let mut bytes = vec![head];
            bytes.extend_from_slice(&[0xff; 8]);
            bytes.extend_from_slice(&[0x00; 16]);
            assert!(
                Message::decode(&bytes, &limits()).is_err(),
                "head {head:#x}"
            );
        }
    }

    #[test]
    fn many_tiny_items_are_refused() {
        // 100,000 one-byte integers: 100 kB on the wire, megabytes as a tree.
        let mut entries = sync_entries();
        entries.push((
            "extra",
            Value::Array(vec![Value::Integer(0.into()); 100_000]),
        ));
        let limit = limits().max_cbor_items();
        assert_eq!(
            Message::decode(&frame(entries), &limits()),
            Err(DecodeError::TooManyItems { limit })
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = frame(sync_entries());
        bytes.push(0x00);
        assert_eq!(
            Message::decode(&bytes, &limits()),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    #[test]
    fn structural_errors_say_what_is_wrong() {
        assert_eq!(
            Message::decode(&[0x01], &limits()),
            Err(DecodeError::NotAMap {
                found: "an integer"
            })
        );
        assert_eq!(
            Message::decode(&frame(vec![("senderId", text("peer-a"))]), &limits()),
            Err(DecodeError::MissingType)
        );
        let unknown = frame(vec![("type", text("banana")), ("senderId", text("peer-a"))]);
        let error = Message::decode(&unknown, &limits()).unwrap_err();
        assert_eq!(error, DecodeError::UnknownType("banana".to_owned()));
        assert_eq!(error.to_string(), "unknown message type `banana`");

        let mut entries = sync_entries();
        entries.retain(|(key, _)| *key != "senderId");
        let error = Message::decode(&frame(entries), &limits()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "missing field `senderId` in a `sync` message"
        );

        let mut entries = sync_entries();
        entries.push(("senderId", text("peer-b")));
        assert_eq!(
            Message::decode(&frame(entries), &limits()),
            Err(DecodeError::DuplicateField { field: "senderId" })
        );

        // Reserved additional information 28 on an integer: not CBOR.
        assert!(matches!(
            Message::decode(&[0x1c], &limits()),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn invalid_ids_name_the_field() {
        let mut entries = sync_entries();
        entries[3].1 = text("not-a-document-id");
        let error = Message::decode(&frame(entries), &limits()).unwrap_err();
        assert!(
            matches!(
                &error,
                DecodeError::Field {
                    field: "documentId",
                    problem: FieldError::DocumentId(DocumentIdError::NotBs58Check(_))
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("field `documentId`: "));

        let mut entries = sync_entries();
        entries[4].1 = text("");
        assert_eq!(
            field_problem(Message::decode(&frame(entries), &limits())),
            ("senderId", FieldError::PeerId(PeerIdError::Empty))
        );

        let mut entries = sync_entries();
        entries[1].1 = Value::Integer(5.into());
        let error = Message::decode(&frame(entries), &limits()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "field `targetId`: expected a text string, found an integer"
        );
    }

    // --- Limits ----------------------------------------------------------------------

    #[test]
    fn message_size_limit_applies_at_the_byte() {
        let bytes = Message::Sync {
            sender_id: peer_id("peer-a"),
            target_id: peer_id("server"),
            document_id: DocumentId::from_bytes([1; 16]),
            data: vec![9; 1000],
        }
        .encode();
        let at = DecodeLimits {
            max_message_bytes: bytes.len(),
            ..limits()
        };
        assert!(Message::decode(&bytes, &at).is_ok());
        let under = DecodeLimits {
            max_message_bytes: bytes.len() - 1,
            ..limits()
        };
        assert_eq!(
            Message::decode(&bytes, &under),
            Err(DecodeError::TooLarge {
                size: bytes.len(),
                limit: bytes.len() - 1
            })
        );
    }

    #[test]
    fn oversized_frames_are_refused_before_parsing() {
        // Not CBOR at all: the size check comes first.
        let error = Message::decode(&vec![0xff; 20_000_000], &limits()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "message is 20000000 bytes; the limit is 16777216"
        );
    }

    #[test]
    fn string_limit_applies_at_the_byte_but_not_to_data() {
        let small = DecodeLimits {
            // Room for a document id (at most 28 characters).
            max_string_bytes: 40,
            ..limits()
        };
        let ephemeral = |session_id: &str| Message::Ephemeral {
            sender_id: peer_id("peer-a"),
            target_id: peer_id("server"),
            count: 1,
            session_id: session_id.to_owned(),
            document_id: DocumentId::from_bytes([1; 16]),
            data: vec![0; 100],
        };
        assert!(Message::decode(&ephemeral(&"s".repeat(40)).encode(), &small).is_ok());
        assert_eq!(
            field_problem(Message::decode(
                &ephemeral(&"s".repeat(41)).encode(),
                &small
            )),
            (
                "sessionId",
                FieldError::StringTooLong { len: 41, limit: 40 }
            )
        );

        let join = |storage_id: &str| Message::Join {
            sender_id: peer_id("peer-a"),
            peer_metadata: PeerMetadata {
                storage_id: Some(storage_id.to_owned()),
                is_ephemeral: false,
            },
            supported_protocol_versions: vec!["1".to_owned()],
        };
        assert!(Message::decode(&join(&"d".repeat(40)).encode(), &small).is_ok());
        assert_eq!(
            field_problem(Message::decode(&join(&"d".repeat(41)).encode(), &small)),
            (
                "peerMetadata.storageId",
                FieldError::StringTooLong { len: 41, limit: 40 }
            )
        );
    }

    #[test]
    fn list_limit_applies_at_the_item() {
        let small = DecodeLimits {
            max_list_items: 3,
            ..limits()
        };
        let heads = |n: usize| (0..n).map(|i| format!("head-{i}")).collect::<Vec<_>>();
        assert!(Message::decode(&heads_changed(heads(3), 1.0).encode(), &small).is_ok());
        assert_eq!(
            field_problem(Message::decode(
                &heads_changed(heads(4), 1.0).encode(),
                &small
            )),
            (
                "newHeads.heads",
                FieldError::TooManyItems { len: 4, limit: 3 }
            )
        );

        let subscription = |add: Vec<String>| Message::RemoteSubscriptionChange {
            sender_id: peer_id("peer-a"),
            target_id: peer_id("server"),
            add: Some(add),
            remove: None,
        };
        assert!(Message::decode(&subscription(heads(3)).encode(), &small).is_ok());
        assert_eq!(
            field_problem(Message::decode(&subscription(heads(4)).encode(), &small)),
            ("add", FieldError::TooManyItems { len: 4, limit: 3 })
        );

        let join = |versions: Vec<String>| Message::Join {
            sender_id: peer_id("peer-a"),
            peer_metadata: PeerMetadata::default(),
            supported_protocol_versions: versions,
        };
        assert!(Message::decode(&join(heads(3)).encode(), &small).is_ok());
        assert_eq!(
            field_problem(Message::decode(&join(heads(4)).encode(), &small)),
            (
                "supportedProtocolVersions",
                FieldError::TooManyItems { len: 4, limit: 3 }
            )
        );

        let storage_ids = |n: usize| Message::RemoteHeadsChanged {
            sender_id: peer_id("server"),
            target_id: peer_id("peer-a"),
            document_id: DocumentId::from_bytes([3; 16]),
            new_heads: (0..n)
                .map(|i| {
                    let at = HeadsAt {
                        heads: vec![],
                        timestamp: 0.0,
                    };
                    (format!("storage-{i}"), at)
                })
                .collect(),
        };
        assert!(Message::decode(&storage_ids(3).encode(), &small).is_ok());
        assert_eq!(
            field_problem(Message::decode(&storage_ids(4).encode(), &small)),
            ("newHeads", FieldError::TooManyItems { len: 4, limit: 3 })
        );
    }

    #[test]
    fn lists_at_the_default_limit_fit_the_item_budget() {
        let heads = (0..1024).map(|i| format!("{i:049}")).collect::<Vec<_>>();
        let message = heads_changed(heads, 1_795_914_889_905.0);
        assert_eq!(Message::decode(&message.encode(), &limits()), Ok(message));
    }

    // --- Leniency: what other peers may send ---------------------------------------------

    #[test]
    fn metadata_is_accepted_as_an_alias_of_peer_metadata() {
        let bytes = frame(vec![
            ("type", text("join")),
            ("senderId", text("peer-a")),
            (
                "metadata",
                map(vec![
                    ("storageId", text("storage-1")),
                    ("isEphemeral", Value::Bool(true)),
                ]),
            ),
            ("supportedProtocolVersions", text_list(&["1".to_owned()])),
        ]);
        assert_eq!(
            Message::decode(&bytes, &limits()),
            Ok(Message::Join {
                sender_id: peer_id("peer-a"),
                peer_metadata: PeerMetadata {
                    storage_id: Some("storage-1".to_owned()),
                    is_ephemeral: true,
                },
                supported_protocol_versions: vec!["1".to_owned()],
            })
        );
    }

    #[test]
    fn undefined_and_null_mean_absent() {
        let join = |storage_id: Value, encode: fn(Vec<(&'static str, Value)>) -> Vec<u8>| {
            encode(vec![
                ("type", text("join")),
                ("senderId", text("peer-a")),
                (
                    "peerMetadata",
                    map(vec![
                        ("storageId", storage_id),
                        ("isEphemeral", Value::Bool(true)),
                    ]),
                ),
                ("supportedProtocolVersions", JS_UNDEFINED),
            ])
        };
        let expected = Message::Join {
            sender_id: peer_id("peer-a"),
            peer_metadata: PeerMetadata {
                storage_id: None,
                is_ephemeral: true,
            },
            supported_protocol_versions: vec![],
        };
        // `undefined` (0xf7), as JS sends it.
        let undefined = join(JS_UNDEFINED, frame);
        assert!(undefined.windows(2).any(|pair| pair == [b'd', 0xf7]));
        assert_eq!(Message::decode(&undefined, &limits()), Ok(expected.clone()));
        // `null` (0xf6), in the shortest encoding another implementation might use.
        let null = join(Value::Null, canonical);
        assert!(null.windows(2).any(|pair| pair == [b'd', 0xf6]));
        assert_eq!(Message::decode(&null, &limits()), Ok(expected));
    }

    #[test]
    fn shortest_form_cbor_decodes_too() {
        let bytes = canonical(sync_entries());
        assert_eq!(bytes[0], 0xa5, "ciborium writes a one-byte map head");
        assert!(matches!(
            Message::decode(&bytes, &limits()),
            Ok(Message::Sync { .. })
        ));
    }

    #[test]
    fn unknown_fields_are_ignored_whatever_they_hold() {
        let mut entries = sync_entries();
        entries.push(("future", map(vec![("x", Value::Float(1.5))])));
        entries.push((
            "tagged",
            Value::Tag(1, Box::new(Value::Integer(1_700_000_000.into()))),
        ));
        entries.push(("bignum", Value::from(u128::MAX)));
        assert!(matches!(
            Message::decode(&frame(entries), &limits()),
            Ok(Message::Sync { .. })
        ));
    }

    #[test]
    fn timestamps_may_be_integers_or_floats_of_any_width() {
        let decode_timestamp = |timestamp: Value| {
            let bytes = canonical(vec![
                ("type", text("remote-heads-changed")),
                ("targetId", text("peer-a")),
                ("documentId", document(&DocumentId::from_bytes([3; 16]))),
                (
                    "newHeads",
                    Value::Map(vec![(
                        text("storage-1"),
                        map(vec![
                            ("heads", Value::Array(vec![])),
                            ("timestamp", timestamp),
                        ]),
                    )]),
                ),
                ("senderId", text("server")),
            ]);
            match Message::decode(&bytes, &limits()) {
                Ok(Message::RemoteHeadsChanged { new_heads, .. }) => {
                    Ok(new_heads["storage-1"].timestamp)
                }
                Ok(other) => panic!("decoded as {other:?}"),
                Err(error) => Err(error),
            }
        };
        assert_eq!(
            decode_timestamp(Value::Integer(1_795_914_889_905u64.into())),
            Ok(1_795_914_889_905.0)
        );
        // ciborium shortens 0.5 to a float16 and 2^40 to a float32.
        assert_eq!(decode_timestamp(Value::Float(0.5)), Ok(0.5));
        assert_eq!(
            decode_timestamp(Value::Float(1_099_511_627_776.0)),
            Ok(1_099_511_627_776.0)
        );
        assert_eq!(
            decode_timestamp(Value::Float(f64::NAN)).map_err(|error| error.to_string()),
            Err("field `newHeads.timestamp`: expected a finite number, found NaN".to_owned())
        );
    }

    #[test]
    fn counts_may_arrive_as_whole_floats() {
        let ephemeral = |count: Value| {
            frame(vec![
                ("type", text("ephemeral")),
                ("targetId", text("server")),
                ("documentId", document(&DocumentId::from_bytes([1; 16]))),
                ("data", Value::Bytes(vec![1])),
                ("count", count),
                ("sessionId", text("s")),
                ("senderId", text("peer-a")),
            ])
        };
        assert!(matches!(
            Message::decode(&ephemeral(Value::Float(4_294_967_296.0)), &limits()),
            Ok(Message::Ephemeral {
                count: 4_294_967_296,
                ..
            })
        ));
        for bad in [
            Value::Float(1.5),
            Value::Float(-1.0),
            Value::Integer((-1).into()),
        ] {
            assert!(matches!(
                field_problem(Message::decode(&ephemeral(bad), &limits())),
                ("count", FieldError::NotACount(_))
            ));
        }
    }

    // --- Encoding like cbor-x ------------------------------------------------------------

    fn written(value: Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_like_cbor_x(&value, &mut out);
        out
    }

    #[test]
    fn numbers_are_written_as_cbor_x_writes_them() {
        let cases: [(f64, &[u8]); 10] = [
            (0.0, &[0x00]),
            (-0.0, &[0x00]),
            (23.0, &[0x17]),
            (4_294_967_295.0, &[0x1a, 0xff, 0xff, 0xff, 0xff]),
            (-1.0, &[0x20]),
            (-4_294_967_296.0, &[0x3a, 0xff, 0xff, 0xff, 0xff]),
            (4_294_967_296.0, &[0xfb, 0x41, 0xf0, 0, 0, 0, 0, 0, 0]),
            (0.5, &[0xfb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0]),
            (-4_294_967_297.0, &[0xfb, 0xc1, 0xf0, 0, 0, 0, 0x10, 0, 0]),
            (
                1_795_914_889_905.0,
                &[0xfb, 0x42, 0x7a, 0x22, 0x4d, 0xe7, 0xab, 0x10, 0x00],
            ),
        ];
        for (number, bytes) in cases {
            assert_eq!(written(js_number(number)), bytes, "{number}");
        }
        assert_eq!(written(js_count(7)), [0x07]);
        assert_eq!(
            written(js_count(1 << 32)),
            [0xfb, 0x41, 0xf0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn maps_get_a_sixteen_bit_count_and_arrays_the_shortest() {
        assert_eq!(written(map(vec![])), [0xb9, 0x00, 0x00]);
        assert_eq!(
            written(map(vec![("a", Value::Bool(true))])),
            [0xb9, 0x00, 0x01, 0x61, b'a', 0xf5]
        );
        let big = Value::Map(
            (0..70_000u32)
                .map(|i| (Value::Integer(i.into()), Value::Bool(false)))
                .collect(),
        );
        assert_eq!(written(big)[..5], [0xba, 0x00, 0x01, 0x11, 0x70]);
        assert_eq!(written(Value::Array(vec![])), [0x80]);
        assert_eq!(
            written(Value::Array(vec![Value::Bool(true); 24]))[..2],
            [0x98, 24]
        );
        assert_eq!(
            written(Value::Array(vec![Value::Bool(true); 256]))[..3],
            [0x99, 0x01, 0x00]
        );
        assert_eq!(written(JS_UNDEFINED), [0xf7]);
    }

    #[test]
    fn absent_optional_values_are_written_as_undefined() {
        let bytes = Message::RemoteSubscriptionChange {
            sender_id: peer_id("peer-a"),
            target_id: peer_id("server"),
            add: Some(vec!["storage-1".to_owned()]),
            remove: None,
        }
        .encode();
        let remove_then_undefined = [&[0x66][..], b"remove", &[0xf7]].concat();
        assert!(
            bytes
                .windows(remove_then_undefined.len())
                .any(|window| window == remove_then_undefined)
        );
    }
}
