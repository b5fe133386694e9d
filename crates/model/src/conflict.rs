//! Conflicts: registers holding several concurrent values, listed for a person to resolve.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc};
use jiff::Timestamp;
use serde_json::{Value as Json, json};

use crate::error::ModelError;
use crate::field_path::FieldPath;
use crate::item_id::ItemId;
use crate::read::{Reader, StoredAssignment, header};
use crate::schema::{CURRENT_SCHEMA, Field, Kind, RESOLUTIONS};
use crate::stamp::Stamp;
use crate::value_kind::display_scalar;
use crate::write::{IdSource, Writer, locate, write_register};

/// One of the values a conflicted field holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConflictValue {
    /// The value, as text (`2026-05-12`, `confirmed`, `1250.00 EUR`).
    pub value: String,
    /// Who set it (empty if a client that does not use this crate wrote a bare value).
    pub by: String,
    /// When they set it, by their clock.
    pub at: Option<Timestamp>,
    /// The Automerge actor (hex) whose change set it.
    pub actor: String,
}

/// A field that holds two or more different values set concurrently. Values that are equal
/// (two people set the same status) are not a conflict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// The document's type.
    pub doc_type: &'static str,
    /// The field.
    pub path: FieldPath,
    /// Every value, Automerge's current winner (what a reader shows) first.
    pub values: Vec<ConflictValue>,
}

/// A recorded resolution (also stored in the document's `resolutions` log).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolution {
    /// The field.
    pub path: FieldPath,
    /// The value chosen.
    pub value: String,
    /// The values it replaced.
    pub replaced: Vec<String>,
    /// Who resolved.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

fn to_conflict_value(a: &StoredAssignment) -> ConflictValue {
    ConflictValue {
        value: display_scalar(&a.value),
        by: a.by.clone(),
        at: a.at.and_then(|ms| Timestamp::from_millisecond(ms).ok()),
        actor: a.actor.clone(),
    }
}

fn distinct_values(values: &[StoredAssignment]) -> Vec<String> {
    let mut distinct: Vec<String> = Vec::new();
    for a in values {
        let v = display_scalar(&a.value);
        if !distinct.contains(&v) {
            distinct.push(v);
        }
    }
    distinct
}

/// Every conflict of the document, in schema order (items in list order).
pub fn conflicts(doc: &impl ReadDoc) -> Result<Vec<Conflict>, ModelError> {
    let (doc_type, version) = header(doc)?;
    if version < CURRENT_SCHEMA {
        return Err(ModelError::NeedsMigration {
            doc_type: doc_type.name(),
            found: version,
            current: CURRENT_SCHEMA,
        });
    }
    let reader = Reader { doc, doc_type };
    let mut out = Vec::new();
    scan(
        &reader,
        &ROOT,
        doc_type.fields(),
        &FieldPath::root(),
        &mut out,
    )?;
    Ok(out)
}

fn scan<D: ReadDoc>(
    reader: &Reader<'_, D>,
    obj: &ObjId,
    fields: &'static [Field],
    path: &FieldPath,
    out: &mut Vec<Conflict>,
) -> Result<(), ModelError> {
    for field in fields {
        let field_path = path.field(field.name);
        match field.kind {
            Kind::Register(kind) => {
                let values = reader.register(obj, field.name, kind, &field_path)?;
                if distinct_values(&values).len() > 1 {
                    out.push(Conflict {
                        doc_type: reader.doc_type.name(),
                        path: field_path,
                        values: values.iter().map(to_conflict_value).collect(),
                    });
                }
            }
            Kind::List(item_fields) | Kind::Log(item_fields) => {
                let ordered = matches!(field.kind, Kind::List(_));
                if let Some(map) =
                    reader.object(obj, field.name, ObjType::Map, &field_path, "a map of items")?
                {
                    for (id, item) in reader.items(&map, ordered, &field_path)? {
                        scan(reader, &item, item_fields, &field_path.item(&id), out)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Resolves the conflict at `path`: writes `value` (given as text, checked like any input;
/// it may be one of the conflicting values or another), which replaces every value this
/// replica holds, and records who resolved it, when, and which values were replaced in the
/// document's `resolutions` log. A field that holds one value is an error
/// ([`ModelError::NoConflict`]); use [`crate::set`] for it.
pub fn resolve<D: Transactable>(
    doc: &mut D,
    path: &FieldPath,
    value: &str,
    stamp: &Stamp,
) -> Result<Resolution, ModelError> {
    let (doc_type, located) = locate(doc, path)?;
    let shown = path.in_doc(doc_type.name());
    let (Kind::Register(kind), None, None) = (located.field.kind, &located.lang, &located.item)
    else {
        return Err(ModelError::WrongOperation {
            path: shown,
            reason: "only single values (dates, statuses, amounts, owners) have conflicts",
        });
    };
    let replaced = {
        let reader = Reader {
            doc: &*doc,
            doc_type,
        };
        distinct_values(&reader.register(&located.parent, located.field.name, kind, path)?)
    };
    if replaced.len() < 2 {
        return Err(ModelError::NoConflict { path: shown });
    }
    let stored = kind
        .check_text(value)
        .map_err(|e| ModelError::invalid(&shown, e))?;
    let value = display_scalar(&stored);
    write_register(doc, &located.parent, located.field.name, stored, stamp)?;
    let entry = json!({
        "path": path.to_string(),
        "value": value,
        "replaced": replaced,
        "by": stamp.by,
        "at": stamp.at.to_string(),
    });
    let resolutions = match doc.get(ROOT, RESOLUTIONS.name)? {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        _ => doc.put_object(ROOT, RESOLUTIONS.name, ObjType::Map)?,
    };
    let Kind::Log(fields) = RESOLUTIONS.kind else {
        unreachable!("resolutions is a log")
    };
    let id = ItemId::random();
    let item = doc.put_object(&resolutions, id.as_str(), ObjType::Map)?;
    let mut writer = Writer {
        doc_type,
        stamp,
        ids: IdSource::Random,
    };
    writer.fields(
        doc,
        &item,
        fields,
        &entry,
        &FieldPath::root().field(RESOLUTIONS.name).item(&id),
    )?;
    Ok(Resolution {
        path: path.clone(),
        value,
        replaced,
        by: stamp.by.clone(),
        at: stamp.at,
    })
}

/// The resolutions recorded in the document, oldest first.
pub fn resolutions(doc: &impl ReadDoc) -> Result<Vec<Resolution>, ModelError> {
    let (_, json) = crate::read::read_json(doc, None)?;
    let mut out = Vec::new();
    for entry in json
        .get("resolutions")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let text = |k: &str| {
            entry
                .get(k)
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        out.push(Resolution {
            path: text("path").parse().unwrap_or_default(),
            value: text("value"),
            replaced: entry
                .get("replaced")
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            by: text("by"),
            at: text("at").parse().unwrap_or(Timestamp::UNIX_EPOCH),
        });
    }
    Ok(out)
}
