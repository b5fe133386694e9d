//! The wire codec against frames captured from the real automerge-repo JS packages
//! (`tests/fixtures/js`, regenerated with `npm ci && node make-fixtures.mjs`): every frame
//! decodes to the fields the JS decoder sees, and re-encodes to exactly the same bytes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use passerelle_core::{DecodeLimits, HeadsAt, Message, PeerMetadata};
use serde_json::Value as Json;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/js")
}

struct Fixture {
    name: String,
    file: String,
    message_type: String,
    key_order: Vec<String>,
    fields: Json,
    bytes: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = fixture_dir();
    let index = std::fs::read_to_string(dir.join("fixtures.json")).expect("read fixtures.json");
    let index: Json = serde_json::from_str(&index).expect("fixtures.json is JSON");
    index
        .as_array()
        .expect("fixtures.json is a list")
        .iter()
        .map(|entry| {
            let file = text(&entry["file"]).to_owned();
            Fixture {
                name: text(&entry["name"]).to_owned(),
                bytes: std::fs::read(dir.join(&file)).expect("read a fixture frame"),
                file,
                message_type: text(&entry["type"]).to_owned(),
                key_order: texts(&entry["keyOrder"]),
                fields: entry["fields"].clone(),
            }
        })
        .collect()
}

fn text(json: &Json) -> &str {
    json.as_str()
        .unwrap_or_else(|| panic!("expected a string, found {json}"))
}

fn texts(json: &Json) -> Vec<String> {
    json.as_array()
        .unwrap_or_else(|| panic!("expected a list, found {json}"))
        .iter()
        .map(|item| text(item).to_owned())
        .collect()
}

/// JSON null stands for CBOR `undefined` in fixtures.json.
fn optional_texts(json: &Json) -> Option<Vec<String>> {
    (!json.is_null()).then(|| texts(json))
}

fn bytes(json: &Json) -> Vec<u8> {
    hex::decode(text(json)).expect("data is hex")
}

fn check_metadata(metadata: &PeerMetadata, json: &Json) {
    assert_eq!(
        metadata.storage_id.as_deref(),
        json["storageId"].as_str(),
        "storageId"
    );
    assert_eq!(
        Some(metadata.is_ephemeral),
        json["isEphemeral"].as_bool(),
        "isEphemeral"
    );
}

/// The message has exactly the field values the JS decoder saw.
fn check_fields(message: &Message, fields: &Json) {
    let id = |key: &str| text(&fields[key]).to_owned();
    match message {
        Message::Join {
            sender_id,
            peer_metadata,
            supported_protocol_versions,
        } => {
            assert_eq!(sender_id.to_string(), id("senderId"));
            check_metadata(peer_metadata, &fields["peerMetadata"]);
            assert_eq!(
                supported_protocol_versions,
                &texts(&fields["supportedProtocolVersions"])
            );
        }
        Message::Peer {
            sender_id,
            target_id,
            peer_metadata,
            selected_protocol_version,
        } => {
            assert_eq!(sender_id.to_string(), id("senderId"));
            assert_eq!(target_id.to_string(), id("targetId"));
            check_metadata(peer_metadata, &fields["peerMetadata"]);
            assert_eq!(selected_protocol_version, &id("selectedProtocolVersion"));
        }
        Message::Error {
            sender_id,
            target_id,
            message,
        } => {
            assert_eq!(sender_id.to_string(), id("senderId"));
            assert_eq!(
                target_id.as_ref().map(ToString::to_string),
                fields["targetId"].as_str().map(str::to_owned)
            );
            assert_eq!(message, &id("message"));
        }
        Message::Sync {
            sender_id,
            target_id,
            document_id,
            data,
        }
        | Message::Request {
            sender_id,
            target_id,
            document_id,
            data,
        } => {
            assert_eq!(sender_id.to_string(), id("senderId"));
            assert_eq!(target_id.to_string(), id("targetId"));
            assert_eq!(document_id.to_string(), id("documentId"));
            assert_eq!(data, &bytes(&fields["data"]));
        }
        Message::DocUnavailable {
            sender_id,
            target_id,
            document_id,
        } => {
            assert_eq!(sender_id.to_string(), id("senderId"));
            assert_eq!(target_id.to_string(), id("targetId"));
            assert_eq!(document_id.to_string(), id("documentId"));
        }
        Message::Ephemeral {
            sender_id,
            target_id,
            count,
            session_id,
            document_id,
            data,
        } => {
            assert_eq!(sender_id.to_string(), id("senderId"));
            assert_eq!(target_id.to_string(), id("targetId"));
            assert_eq!(Some(*count), fields["count"].as_u64());
            assert_eq!(session_id, &id("sessionId"));
            assert_eq!(document_id.to_string(), id("documentId"));
            assert_eq!(data, &bytes(&fields["data"]));
        }
        Message::RemoteSubscriptionChange {
            sender_id,
            target_id,
            add,
            remove,
        } => {
            assert_eq!(sender_id.to_string(), id("senderId"));
            assert_eq!(target_id.to_string(), id("targetId"));
            assert_eq!(add, &optional_texts(&fields["add"]));
            assert_eq!(remove, &optional_texts(&fields["remove"]));
        }
        Message::RemoteHeadsChanged {
            sender_id,
            target_id,
            document_id,
            new_heads,
        } => {
            assert_eq!(sender_id.to_string(), id("senderId"));
            assert_eq!(target_id.to_string(), id("targetId"));
            assert_eq!(document_id.to_string(), id("documentId"));
            let expected = fields["newHeads"].as_object().expect("newHeads is a map");
            assert_eq!(new_heads.len(), expected.len());
            for (storage_id, entry) in expected {
                let expected = HeadsAt {
                    heads: texts(&entry["heads"]),
                    timestamp: entry["timestamp"].as_f64().expect("a number"),
                };
                assert_eq!(new_heads.get(storage_id), Some(&expected), "{storage_id}");
            }
        }
        Message::Leave { sender_id } => {
            assert_eq!(sender_id.to_string(), id("senderId"));
        }
    }
}

/// The field order automerge-repo 2.5.x puts on the wire, per message type; the encoder
/// follows it, and a change on the JS side shows up here first.
fn expected_key_order(message_type: &str) -> &'static [&'static str] {
    match message_type {
        "join" => &[
            "type",
            "senderId",
            "peerMetadata",
            "supportedProtocolVersions",
        ],
        "peer" => &[
            "type",
            "senderId",
            "peerMetadata",
            "selectedProtocolVersion",
            "targetId",
        ],
        "error" => &["type", "senderId", "message", "targetId"],
        "sync" => &["type", "targetId", "data", "documentId", "senderId"],
        "request" => &["type", "targetId", "documentId", "data", "senderId"],
        "doc-unavailable" => &["type", "documentId", "targetId", "senderId"],
        "ephemeral" => &[
            "type",
            "targetId",
            "documentId",
            "data",
            "count",
            "sessionId",
            "senderId",
        ],
        "remote-subscription-change" => &["type", "targetId", "add", "remove", "senderId"],
        "remote-heads-changed" => &["type", "targetId", "documentId", "newHeads", "senderId"],
        "leave" => &["type", "senderId"],
        other => panic!("no expected key order for `{other}`"),
    }
}

#[test]
fn every_fixture_decodes_to_its_fields_and_re_encodes_byte_for_byte() {
    let fixtures = fixtures();
    assert!(!fixtures.is_empty());
    for fixture in &fixtures {
        let context = format!("fixture `{}` ({})", fixture.name, fixture.file);
        let message = Message::decode(&fixture.bytes, &DecodeLimits::default())
            .unwrap_or_else(|error| panic!("{context}: {error}"));
        assert_eq!(message.type_name(), fixture.message_type, "{context}");
        assert_eq!(
            fixture.key_order,
            expected_key_order(&fixture.message_type),
            "{context}: key order"
        );
        check_fields(&message, &fixture.fields);
        let encoded = message.encode();
        assert_eq!(
            hex::encode(&encoded),
            hex::encode(&fixture.bytes),
            "{context}: re-encoding differs"
        );
    }
}

#[test]
fn the_fixtures_cover_every_message_type() {
    let covered: BTreeSet<String> = fixtures()
        .into_iter()
        .map(|fixture| fixture.message_type)
        .collect();
    for message_type in [
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
    ] {
        assert!(
            covered.contains(message_type),
            "no fixture for `{message_type}`"
        );
    }
}

#[test]
fn the_fixtures_show_what_js_sends_for_absent_values_and_timestamps() {
    let fixtures = fixtures();
    let frame = |name: &str| {
        &fixtures
            .iter()
            .find(|fixture| fixture.name == name)
            .unwrap_or_else(|| panic!("no fixture `{name}`"))
            .bytes
    };
    let contains = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    };
    // Every JS object is a map with a 16-bit count.
    assert_eq!(frame("join")[..3], [0xb9, 0x00, 0x04]);
    // A storage-less client keeps the key and sends `undefined`.
    assert!(contains(
        frame("join-without-storage"),
        &[b"istorageId".as_slice(), &[0xf7]].concat()
    ));
    assert!(contains(
        frame("remote-subscription-change-from-client"),
        &[b"fremove".as_slice(), &[0xf7]].concat()
    ));
    // `Date.now()` is beyond 2^32, so cbor-x writes it as a float64.
    assert!(contains(
        frame("remote-heads-changed"),
        &[b"itimestamp".as_slice(), &[0xfb]].concat()
    ));
}
