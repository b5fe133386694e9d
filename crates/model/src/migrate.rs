//! Schema migrations, run when a document is opened.
//!
//! **Schema 1** is the untyped shape `passerelle new --json` and `passerelle append` wrote
//! before this crate existed (see `client/src/json.rs`): a `type` field and no `schema`;
//! every string a plain scalar (so concurrent edits of a title were a conflict, not a
//! merge); lists as Automerge lists of maps without ids; statuses and dates as bare scalars.
//! The demo's mission is one: `{"type": "mission", "title": {"fr": …, "ar": …}, "status":
//! "draft", "agenda": [{"when": "lundi", "title": …}]}`.
//!
//! **1 → 2** rewrites each known field in the current shape: strings where text is
//! expected become Automerge text, a bare string where per-language text is expected
//! becomes its French text, scalars where a register is expected become registers set by
//! `schema-1 migration`, lists become maps of items with ids `v1-0`, `v1-1`, … and order
//! keys; a mission agenda item's free-form `when` ("lundi") becomes its `starts_at` when it
//! is a date-time with a zone, and otherwise is kept at the head of the item's notes.
//! Unknown fields at the root are left as they are; unknown fields inside list items are
//! dropped (the items are rebuilt).
//!
//! The migration is one change made by an actor derived from the document's heads, with
//! time 0 and ids numbered in writing order, so two replicas that migrate the same
//! document make the *same* change (same hash) and merging them duplicates nothing. A
//! replica that edits a schema-1 document concurrently with a migration elsewhere (an old
//! client) loses those edits to the rewritten fields: upgrade every client together.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc, Value};
use jiff::Timestamp;
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::error::ModelError;
use crate::field_path::FieldPath;
use crate::read::{MAX_ITEMS, header, read_json, scalar_to_json};
use crate::schema::{CURRENT_SCHEMA, DocType, Field, Kind, RESOLUTIONS};
use crate::stamp::Stamp;
use crate::value_kind::When;
use crate::write::{IdSource, Writer, create_container};

/// Who the migration's registers are set by.
pub const MIGRATION_AUTHOR: &str = "schema-1 migration";

/// How deep a schema-1 document is read (its JSON was at most this deep in practice).
const MAX_DEPTH: usize = 16;

/// Brings `doc` to the current schema; `Ok(true)` if it changed. The migrated document is
/// checked whole before this returns; on any error nothing is written.
pub fn migrate(doc: &mut AutoCommit) -> Result<bool, ModelError> {
    let (doc_type, version) = header(doc)?;
    if version == CURRENT_SCHEMA {
        return Ok(false);
    }
    let v1 = match plain_json(doc, &ROOT, 0)? {
        Json::Object(map) => map,
        _ => Map::new(),
    };
    let input = convert_fields(doc_type, doc_type.fields(), &v1, &FieldPath::root())?;

    doc.commit();
    let original_actor = doc.get_actor().clone();
    let mut heads = doc.get_heads();
    heads.sort();
    let mut hasher = Sha256::new();
    hasher.update(b"passerelle-model schema 1 -> 2");
    for head in &heads {
        hasher.update(head.0);
    }
    doc.set_actor(ActorId::from(&hasher.finalize()[..16]));

    let stamp = Stamp::new(MIGRATION_AUTHOR, Timestamp::UNIX_EPOCH);
    let mut writer = Writer {
        doc_type,
        stamp: &stamp,
        ids: IdSource::Migration(0),
    };
    let written = (|| {
        for field in doc_type.fields() {
            if let Some(value) = input.get(field.name) {
                writer.field(
                    doc,
                    &ROOT,
                    field,
                    value,
                    &FieldPath::root().field(field.name),
                )?;
            } else {
                if doc.get(ROOT, field.name)?.is_some() {
                    doc.delete(ROOT, field.name)?;
                }
                create_container(doc, &ROOT, field)?;
            }
        }
        if doc.get(ROOT, RESOLUTIONS.name)?.is_none() {
            create_container(doc, &ROOT, &RESOLUTIONS)?;
        }
        for field in doc_type.fields().iter().filter(|f| f.required) {
            if !input.contains_key(field.name) {
                return Err(ModelError::Missing {
                    path: FieldPath::root().field(field.name).in_doc(doc_type.name()),
                });
            }
        }
        doc.put(ROOT, "schema", CURRENT_SCHEMA)?;
        read_json(&*doc, Some(doc_type)).map(|_| ())
    })();
    match written {
        Ok(()) => {
            doc.commit_with(
                CommitOptions::default()
                    .with_message(format!(
                        "passerelle-model: migrate {doc_type} schema {version} -> {CURRENT_SCHEMA}"
                    ))
                    .with_time(0),
            );
            doc.set_actor(original_actor);
            Ok(true)
        }
        Err(e) => {
            doc.rollback();
            doc.set_actor(original_actor);
            Err(e)
        }
    }
}

/// A schema-1 object as JSON (maps, lists, text and scalars), bounded in depth and size.
fn plain_json<D: ReadDoc>(doc: &D, obj: &ObjId, depth: usize) -> Result<Json, ModelError> {
    if depth > MAX_DEPTH {
        return Ok(Json::Null);
    }
    let value_json = |value: Value<'_>, id: ObjId| -> Result<Json, ModelError> {
        Ok(match value {
            Value::Scalar(s) => scalar_to_json(&s),
            Value::Object(ObjType::Text) => Json::String(doc.text(&id)?),
            Value::Object(_) => plain_json(doc, &id, depth + 1)?,
        })
    };
    Ok(match doc.object_type(obj)? {
        ObjType::Map | ObjType::Table => {
            let mut map = Map::new();
            for key in doc.keys(obj).take(MAX_ITEMS) {
                if let Some((value, id)) = doc.get(obj, &key)? {
                    map.insert(key, value_json(value, id)?);
                }
            }
            Json::Object(map)
        }
        ObjType::List => {
            let mut list = Vec::new();
            for i in 0..doc.length(obj).min(MAX_ITEMS) {
                if let Some((value, id)) = doc.get(obj, i)? {
                    list.push(value_json(value, id)?);
                }
            }
            Json::Array(list)
        }
        ObjType::Text => Json::String(doc.text(obj)?),
    })
}

/// Schema-1 fields (JSON) turned into the current shape's input, by the schema.
fn convert_fields(
    doc_type: DocType,
    fields: &'static [Field],
    v1: &Map<String, Json>,
    path: &FieldPath,
) -> Result<Map<String, Json>, ModelError> {
    let mut out = Map::new();
    for field in fields {
        let Some(value) = v1.get(field.name).filter(|v| !v.is_null()) else {
            continue;
        };
        if let Some(value) = convert_value(doc_type, field, value, &path.field(field.name))? {
            out.insert(field.name.to_owned(), value);
        }
    }
    Ok(out)
}

fn as_text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn convert_value(
    doc_type: DocType,
    field: &Field,
    value: &Json,
    path: &FieldPath,
) -> Result<Option<Json>, ModelError> {
    let invalid = |expected: &str| ModelError::invalid(path.in_doc(doc_type.name()), expected);
    Ok(Some(match field.kind {
        Kind::Text => Json::String(as_text(value).ok_or_else(|| invalid("text"))?),
        Kind::Localized(langs) => match value {
            Json::Object(texts) => Json::Object(
                texts
                    .iter()
                    .filter(|(lang, _)| langs.contains(&lang.as_str()))
                    .filter_map(|(lang, text)| {
                        as_text(text).map(|t| (lang.clone(), Json::String(t)))
                    })
                    .collect(),
            ),
            other => {
                let text = as_text(other).ok_or_else(|| invalid("a text per language"))?;
                let mut map = Map::new();
                map.insert(langs[0].to_owned(), Json::String(text));
                Json::Object(map)
            }
        },
        Kind::Plain(_) | Kind::Register(_) => match value {
            Json::Bool(b) => Json::Bool(*b),
            other => Json::String(as_text(other).ok_or_else(|| invalid("a single value"))?),
        },
        Kind::Set(_) => match value {
            Json::Array(members) => Json::Array(
                members
                    .iter()
                    .filter_map(as_text)
                    .map(Json::String)
                    .collect(),
            ),
            Json::Object(members) => {
                Json::Array(members.keys().cloned().map(Json::String).collect())
            }
            _ => return Err(invalid("a list of members")),
        },
        Kind::List(item_fields) | Kind::Log(item_fields) => {
            let items: Vec<&Json> = match value {
                Json::Array(items) => items.iter().collect(),
                Json::Object(items) => items.values().collect(),
                _ => return Err(invalid("a list of items")),
            };
            let mut out = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                let Json::Object(item) = item else { continue };
                let item_path = path.field(&i.to_string());
                let mut converted = convert_fields(doc_type, item_fields, item, &item_path)?;
                if doc_type == DocType::Mission && field.name == "agenda" {
                    agenda_when(item, &mut converted);
                }
                if matches!(field.kind, Kind::Log(_)) {
                    for (key, default) in [
                        ("at", Json::String(Timestamp::UNIX_EPOCH.to_string())),
                        ("by", Json::String(MIGRATION_AUTHOR.into())),
                        ("author", Json::String(MIGRATION_AUTHOR.into())),
                    ] {
                        if item_fields.iter().any(|f| f.name == key) && !converted.contains_key(key)
                        {
                            converted.insert(key.into(), default);
                        }
                    }
                }
                out.push(Json::Object(converted));
            }
            Json::Array(out)
        }
        Kind::Values => value.clone(),
    }))
}

/// A schema-1 agenda item's free-form `when`: its `starts_at` if it is one, else the first
/// line of its notes.
fn agenda_when(v1_item: &Map<String, Json>, converted: &mut Map<String, Json>) {
    let Some(when) = v1_item.get("when").and_then(as_text) else {
        return;
    };
    if converted.contains_key("starts_at") {
        return;
    }
    if let Ok(when) = when.parse::<When>() {
        converted.insert("starts_at".into(), Json::String(when.to_string()));
        return;
    }
    let notes = match converted.get("notes").and_then(Json::as_str) {
        Some(notes) if !notes.is_empty() => format!("when: {when}\n{notes}"),
        _ => format!("when: {when}"),
    };
    converted.insert("notes".into(), Json::String(notes));
}
