//! Reading a document by its schema into JSON, checking every field on the way.
//!
//! The JSON is an internal step: the typed structs of `documents/` deserialize from it. Its
//! shape: text → string; per-language text → `{lang: string}`; plain value → string (bool,
//! RFC 3339 for instants); register → `{"values": [{value, by, at, actor}…]}`, the winner
//! first; set → sorted array; list and log → array of items, each with its `id`, in order.

use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde_json::{Map, Value as Json, json};

use crate::error::ModelError;
use crate::field_path::FieldPath;
use crate::item_id::ItemId;
use crate::position;
use crate::schema::{CURRENT_SCHEMA, DocType, Field, Kind, POS_KEY, RESOLUTIONS};
use crate::value_kind::{ValueKind, display_scalar};

/// The largest text accepted in one field, in bytes.
pub const MAX_TEXT_LEN: usize = 1 << 20;
/// The most items accepted in one list, log or set.
pub const MAX_ITEMS: usize = 10_000;

/// A document's type and schema version, from its `type` and `schema` fields (no `schema`:
/// version 1).
pub fn header(doc: &impl ReadDoc) -> Result<(DocType, u64), ModelError> {
    let doc_type = match doc.get(ROOT, "type")? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(name) => name.parse::<DocType>().ok(),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| {
        ModelError::invalid(
            "document.type",
            "one of: project, mission, journal, actor, funding_call, news_item",
        )
    })?;
    let version = match doc.get(ROOT, "schema")? {
        None => 1,
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Int(n) if *n >= 1 => *n as u64,
            ScalarValue::Uint(n) if *n >= 1 => *n,
            _ => {
                return Err(ModelError::invalid(
                    format!("{doc_type}.schema"),
                    "a version number",
                ));
            }
        },
        Some(_) => {
            return Err(ModelError::invalid(
                format!("{doc_type}.schema"),
                "a version number",
            ));
        }
    };
    if version > CURRENT_SCHEMA {
        return Err(ModelError::TooNew {
            doc_type: doc_type.name(),
            found: version,
            current: CURRENT_SCHEMA,
        });
    }
    Ok((doc_type, version))
}

/// Checks a current-schema document whole and returns it as JSON.
pub(crate) fn read_json(
    doc: &impl ReadDoc,
    expected: Option<DocType>,
) -> Result<(DocType, Json), ModelError> {
    let (doc_type, version) = header(doc)?;
    if let Some(expected) = expected
        && expected != doc_type
    {
        return Err(ModelError::WrongType {
            expected: expected.name(),
            found: doc_type.name().to_owned(),
        });
    }
    if version < CURRENT_SCHEMA {
        return Err(ModelError::NeedsMigration {
            doc_type: doc_type.name(),
            found: version,
            current: CURRENT_SCHEMA,
        });
    }
    let reader = Reader { doc, doc_type };
    let mut fields = reader.fields(&ROOT, doc_type.fields(), &FieldPath::root())?;
    if let Some(resolutions) =
        reader.field(&ROOT, &RESOLUTIONS, &FieldPath::root().field("resolutions"))?
    {
        fields.insert("resolutions".into(), resolutions);
    }
    Ok((doc_type, Json::Object(fields)))
}

/// One value of a register, as stored.
#[derive(Debug, Clone)]
pub(crate) struct StoredAssignment {
    pub(crate) value: ScalarValue,
    pub(crate) by: String,
    pub(crate) at: Option<i64>,
    pub(crate) actor: String,
}

pub(crate) struct Reader<'a, D> {
    pub(crate) doc: &'a D,
    pub(crate) doc_type: DocType,
}

impl<D: ReadDoc> Reader<'_, D> {
    pub(crate) fn invalid(&self, path: &FieldPath, expected: impl Into<String>) -> ModelError {
        ModelError::invalid(path.in_doc(self.doc_type.name()), expected)
    }

    pub(crate) fn fields(
        &self,
        obj: &ObjId,
        fields: &'static [Field],
        path: &FieldPath,
    ) -> Result<Map<String, Json>, ModelError> {
        let mut out = Map::new();
        for field in fields {
            let field_path = path.field(field.name);
            match self.field(obj, field, &field_path)? {
                Some(value) => {
                    out.insert(field.name.to_owned(), value);
                }
                None if field.required => {
                    return Err(ModelError::Missing {
                        path: field_path.in_doc(self.doc_type.name()),
                    });
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// The object at `obj.key` if it is one of `obj_type`; an error naming `path` if the key
    /// holds something else.
    pub(crate) fn object(
        &self,
        obj: &ObjId,
        key: &str,
        obj_type: ObjType,
        path: &FieldPath,
        expected: &str,
    ) -> Result<Option<ObjId>, ModelError> {
        match self.doc.get(obj, key)? {
            None => Ok(None),
            Some((Value::Object(t), id)) if t == obj_type => Ok(Some(id)),
            Some(_) => Err(self.invalid(path, expected)),
        }
    }

    pub(crate) fn text(
        &self,
        obj: &ObjId,
        key: &str,
        path: &FieldPath,
    ) -> Result<Option<String>, ModelError> {
        let Some(id) = self.object(obj, key, ObjType::Text, path, "text")? else {
            return Ok(None);
        };
        if self.doc.length(&id) > MAX_TEXT_LEN {
            return Err(self.invalid(path, format!("text of at most {MAX_TEXT_LEN} bytes")));
        }
        let text = self.doc.text(&id)?;
        if text.len() > MAX_TEXT_LEN {
            return Err(self.invalid(path, format!("text of at most {MAX_TEXT_LEN} bytes")));
        }
        Ok(Some(text))
    }

    fn field(
        &self,
        obj: &ObjId,
        field: &Field,
        path: &FieldPath,
    ) -> Result<Option<Json>, ModelError> {
        let key = field.name;
        Ok(Some(match field.kind {
            Kind::Text => match self.text(obj, key, path)? {
                Some(text) => Json::String(text),
                None => return Ok(None),
            },
            Kind::Localized(langs) => {
                let Some(map) = self.object(obj, key, ObjType::Map, path, "a text per language")?
                else {
                    return Ok(None);
                };
                let mut out = Map::new();
                for lang in self.doc.keys(&map) {
                    let lang_path = path.field(&lang);
                    if !langs.contains(&lang.as_str()) {
                        return Err(self.invalid(
                            &lang_path,
                            format!("one of the languages {}", langs.join(", ")),
                        ));
                    }
                    if let Some(text) = self.text(&map, &lang, &lang_path)? {
                        out.insert(lang, Json::String(text));
                    }
                }
                Json::Object(out)
            }
            Kind::Plain(kind) => match self.doc.get(obj, key)? {
                None => return Ok(None),
                Some((Value::Scalar(s), _)) => {
                    kind.to_json(&s).map_err(|e| self.invalid(path, e))?
                }
                Some(_) => return Err(self.invalid(path, kind.expected())),
            },
            Kind::Register(kind) => {
                let values = self.register(obj, key, kind, path)?;
                if values.is_empty() {
                    return Ok(None);
                }
                let values = values
                    .into_iter()
                    .map(|a| {
                        let value = kind.to_json(&a.value).map_err(|e| self.invalid(path, e))?;
                        let at = a.at.map(|ms| display_scalar(&ScalarValue::Timestamp(ms)));
                        Ok(json!({"value": value, "by": a.by, "at": at, "actor": a.actor}))
                    })
                    .collect::<Result<Vec<_>, ModelError>>()?;
                json!({ "values": values })
            }
            Kind::Set(kind) => {
                let Some(map) = self.object(obj, key, ObjType::Map, path, "a set")? else {
                    return Ok(None);
                };
                let members: Vec<String> = self.doc.keys(&map).collect();
                if members.len() > MAX_ITEMS {
                    return Err(self.invalid(path, format!("at most {MAX_ITEMS} members")));
                }
                for member in &members {
                    kind.check_text(member).map_err(|e| {
                        self.invalid(path, format!("members that are {e} (not {member:?})"))
                    })?;
                }
                Json::Array(members.into_iter().map(Json::String).collect())
            }
            Kind::List(fields) | Kind::Log(fields) => {
                let ordered = matches!(field.kind, Kind::List(_));
                let Some(map) =
                    self.object(obj, key, ObjType::Map, path, "a map of items by id")?
                else {
                    return Ok(None);
                };
                let items = self.items(&map, ordered, path)?;
                let mut out = Vec::with_capacity(items.len());
                for (id, item) in items {
                    let item_path = path.item(&id);
                    let mut fields = self.fields(&item, fields, &item_path)?;
                    fields.insert("id".into(), Json::String(id.to_string()));
                    out.push(Json::Object(fields));
                }
                Json::Array(out)
            }
            Kind::Values => {
                let Some(list) = self.object(obj, key, ObjType::List, path, "a list of values")?
                else {
                    return Ok(None);
                };
                let mut out = Vec::new();
                for i in 0..self.doc.length(&list).min(MAX_ITEMS) {
                    match self.doc.get(&list, i)? {
                        Some((Value::Scalar(s), _)) => out.push(Json::String(display_scalar(&s))),
                        _ => return Err(self.invalid(path, "a list of values")),
                    }
                }
                Json::Array(out)
            }
        }))
    }

    /// The items of a list or log map, in order: by `pos` then id for lists, by `at` then id
    /// for logs.
    pub(crate) fn items(
        &self,
        map: &ObjId,
        ordered: bool,
        path: &FieldPath,
    ) -> Result<Vec<(ItemId, ObjId)>, ModelError> {
        let keys: Vec<String> = self.doc.keys(map).collect();
        if keys.len() > MAX_ITEMS {
            return Err(self.invalid(path, format!("at most {MAX_ITEMS} items")));
        }
        let mut items = Vec::with_capacity(keys.len());
        for key in keys {
            let id: ItemId = key.parse().map_err(|_| {
                self.invalid(
                    path,
                    format!(
                        "items keyed by id, not {:?}",
                        key.chars().take(40).collect::<String>()
                    ),
                )
            })?;
            let item_path = path.item(&id);
            let item = self
                .object(map, &key, ObjType::Map, &item_path, "an item (a map)")?
                .ok_or_else(|| self.invalid(&item_path, "an item (a map)"))?;
            let order_key = if ordered {
                let pos = match self.doc.get(&item, POS_KEY)? {
                    Some((Value::Scalar(s), _)) => match s.as_ref() {
                        ScalarValue::Str(p) if position::is_valid(p) => p.to_string(),
                        _ => String::new(),
                    },
                    _ => String::new(),
                };
                if pos.is_empty() {
                    return Err(self.invalid(
                        &item_path.field(POS_KEY),
                        "an order key (0-9a-z, not ending in 0)",
                    ));
                }
                pos
            } else {
                match self.doc.get(&item, "at")? {
                    Some((Value::Scalar(s), _)) => match s.as_ref() {
                        ScalarValue::Timestamp(ms) => {
                            format!("{:020}", (*ms as i128) - (i64::MIN as i128))
                        }
                        _ => {
                            return Err(self
                                .invalid(&item_path.field("at"), ValueKind::Timestamp.expected()));
                        }
                    },
                    _ => {
                        return Err(ModelError::Missing {
                            path: item_path.field("at").in_doc(self.doc_type.name()),
                        });
                    }
                }
            };
            items.push((order_key, id, item));
        }
        items.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(items.into_iter().map(|(_, id, item)| (id, item)).collect())
    }

    /// Every value a register holds, the winner first. A bare scalar (written by a client
    /// that does not use this crate) counts as a value with no author.
    pub(crate) fn register(
        &self,
        obj: &ObjId,
        key: &str,
        kind: ValueKind,
        path: &FieldPath,
    ) -> Result<Vec<StoredAssignment>, ModelError> {
        let mut all = self.doc.get_all(obj, key)?;
        // Automerge's winner (what `get` returns) is the last of `get_all`.
        all.reverse();
        let mut out = Vec::with_capacity(all.len());
        for (value, id) in all {
            let actor = match &id {
                automerge::ObjId::Id(_, actor, _) => actor.to_hex_string(),
                automerge::ObjId::Root => String::new(),
            };
            let assignment = match value {
                Value::Scalar(s) => StoredAssignment {
                    value: s.into_owned(),
                    by: String::new(),
                    at: None,
                    actor,
                },
                Value::Object(ObjType::Map) => {
                    let value = match self.doc.get(&id, "value")? {
                        Some((Value::Scalar(s), _)) => s.into_owned(),
                        _ => return Err(self.invalid(path, kind.expected())),
                    };
                    let by = match self.doc.get(&id, "by")? {
                        Some((Value::Scalar(s), _)) => match s.as_ref() {
                            ScalarValue::Str(by) => by.to_string(),
                            _ => String::new(),
                        },
                        _ => String::new(),
                    };
                    let at = match self.doc.get(&id, "at")? {
                        Some((Value::Scalar(s), _)) => match s.as_ref() {
                            ScalarValue::Timestamp(ms) => Some(*ms),
                            _ => None,
                        },
                        _ => None,
                    };
                    StoredAssignment {
                        value,
                        by,
                        at,
                        actor,
                    }
                }
                Value::Object(_) => return Err(self.invalid(path, kind.expected())),
            };
            out.push(assignment);
        }
        Ok(out)
    }
}

/// A scalar as it appears in a schema-1 document, turned into JSON (used by the migration).
pub(crate) fn scalar_to_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(n) => json!(n),
        ScalarValue::Uint(n) => json!(n),
        ScalarValue::F64(n) => json!(n),
        ScalarValue::Boolean(b) => json!(b),
        ScalarValue::Null => Json::Null,
        other => Json::String(display_scalar(other)),
    }
}
