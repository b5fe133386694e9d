//! Writing documents by their schema: creating them, setting fields, inserting, moving and
//! removing list items, adding to sets. Every input is checked against the schema first and
//! an error names the field.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, TextEncoding, Value};
use serde_json::{Map, Value as Json};
use unicode_segmentation::UnicodeSegmentation;

use crate::error::ModelError;
use crate::field_path::{FieldPath, Segment};
use crate::item_id::ItemId;
use crate::position;
use crate::read::{MAX_ITEMS, MAX_TEXT_LEN, Reader, header};
use crate::schema::{CURRENT_SCHEMA, DocType, Field, Kind, POS_KEY, RESOLUTIONS, find_field};
use crate::stamp::Stamp;
use crate::text_diff::splices;

/// Where to put an item in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// First.
    Start,
    /// Last.
    End,
    /// Right after this item.
    After(ItemId),
    /// Right before this item.
    Before(ItemId),
}

/// How new item ids are made.
#[derive(Debug)]
pub(crate) enum IdSource {
    Random,
    /// `v1-0`, `v1-1`, … in writing order: the same on every replica that migrates the same
    /// document.
    Migration(usize),
}

pub(crate) struct Writer<'s> {
    pub(crate) doc_type: DocType,
    pub(crate) stamp: &'s Stamp,
    pub(crate) ids: IdSource,
}

impl Writer<'_> {
    fn next_id(&mut self) -> ItemId {
        match &mut self.ids {
            IdSource::Random => ItemId::random(),
            IdSource::Migration(n) => {
                *n += 1;
                ItemId::migrated(*n - 1)
            }
        }
    }

    fn invalid(&self, path: &FieldPath, expected: impl Into<String>) -> ModelError {
        ModelError::invalid(path.in_doc(self.doc_type.name()), expected)
    }

    /// Writes the fields of `input` (a JSON object) into the map `obj`.
    pub(crate) fn fields<D: Transactable>(
        &mut self,
        doc: &mut D,
        obj: &ObjId,
        fields: &'static [Field],
        input: &Json,
        path: &FieldPath,
    ) -> Result<(), ModelError> {
        let Json::Object(input) = input else {
            return Err(self.invalid(path, "an object of fields"));
        };
        check_fields(self.doc_type, fields, input, path)?;
        for field in fields {
            if let Some(value) = input.get(field.name).filter(|v| !v.is_null()) {
                self.field(doc, obj, field, value, &path.field(field.name))?;
            } else {
                create_container(doc, obj, field)?;
            }
        }
        Ok(())
    }

    /// Writes one field's value (replacing what was there).
    pub(crate) fn field<D: Transactable>(
        &mut self,
        doc: &mut D,
        obj: &ObjId,
        field: &Field,
        input: &Json,
        path: &FieldPath,
    ) -> Result<(), ModelError> {
        let key = field.name;
        match field.kind {
            Kind::Text => {
                let text = self.text_input(input, path)?;
                let id = doc.put_object(obj, key, ObjType::Text)?;
                doc.splice_text(&id, 0, 0, text)?;
            }
            Kind::Localized(langs) => {
                let Json::Object(texts) = input else {
                    return Err(self.invalid(
                        path,
                        format!("an object of texts by language ({})", langs.join(", ")),
                    ));
                };
                for lang in texts.keys() {
                    if !langs.contains(&lang.as_str()) {
                        return Err(ModelError::NoSuchField {
                            path: path.field(lang).in_doc(self.doc_type.name()),
                        });
                    }
                }
                let map = doc.put_object(obj, key, ObjType::Map)?;
                for lang in langs {
                    let text = match texts.get(*lang) {
                        Some(text) => self.text_input(text, &path.field(lang))?,
                        None => "",
                    };
                    let id = doc.put_object(&map, *lang, ObjType::Text)?;
                    doc.splice_text(&id, 0, 0, text)?;
                }
            }
            Kind::Plain(kind) => {
                let value = kind.check_input(input).map_err(|e| self.invalid(path, e))?;
                doc.put(obj, key, value)?;
            }
            Kind::Register(kind) => {
                let value = kind.check_input(input).map_err(|e| self.invalid(path, e))?;
                write_register(doc, obj, key, value, self.stamp)?;
            }
            Kind::Set(kind) => {
                let members = self.array(input, path)?;
                let map = doc.put_object(obj, key, ObjType::Map)?;
                for member in members {
                    let member = match member {
                        Json::String(s) => kind.check_text(s).map(|_| s.as_str()),
                        _ => Err(kind.expected()),
                    }
                    .map_err(|e| self.invalid(path, format!("members that are {e}")))?;
                    doc.put(&map, member, true)?;
                }
            }
            Kind::List(fields) | Kind::Log(fields) => {
                let items = self.array(input, path)?;
                let map = doc.put_object(obj, key, ObjType::Map)?;
                let mut pos: Option<String> = None;
                for item in items {
                    let id = self.next_id();
                    let item_obj = doc.put_object(&map, id.as_str(), ObjType::Map)?;
                    if matches!(field.kind, Kind::List(_)) {
                        let next = position::between(pos.as_deref(), None);
                        doc.put(&item_obj, POS_KEY, next.as_str())?;
                        pos = Some(next);
                    }
                    self.fields(doc, &item_obj, fields, item, &path.item(&id))?;
                }
            }
            Kind::Values => {
                let values = self.array(input, path)?;
                let list = doc.put_object(obj, key, ObjType::List)?;
                for (i, value) in values.iter().enumerate() {
                    let Json::String(s) = value else {
                        return Err(self.invalid(path, "a list of strings"));
                    };
                    doc.insert(&list, i, s.as_str())?;
                }
            }
        }
        Ok(())
    }

    fn text_input<'j>(&self, input: &'j Json, path: &FieldPath) -> Result<&'j str, ModelError> {
        match input {
            Json::String(s) if s.len() <= MAX_TEXT_LEN => Ok(s),
            _ => Err(self.invalid(path, format!("text of at most {MAX_TEXT_LEN} bytes"))),
        }
    }

    fn array<'j>(&self, input: &'j Json, path: &FieldPath) -> Result<&'j Vec<Json>, ModelError> {
        match input {
            Json::Array(items) if items.len() <= MAX_ITEMS => Ok(items),
            _ => Err(self.invalid(path, format!("a list of at most {MAX_ITEMS} entries"))),
        }
    }
}

/// Makes the empty text, map or set a field will hold, when the document or item is made.
///
/// **Containers exist from the start.** Two replicas that each made a missing list (or
/// text) on their first insert would make two objects under one key, and the merge would
/// keep only one of them, losing the other side's items. So every text, per-language text,
/// set, list and log is created with its document or item, before anyone can fork it.
pub(crate) fn create_container<D: Transactable>(
    doc: &mut D,
    obj: &ObjId,
    field: &Field,
) -> Result<(), ModelError> {
    match field.kind {
        Kind::Text => {
            doc.put_object(obj, field.name, ObjType::Text)?;
        }
        Kind::Localized(langs) => {
            let map = doc.put_object(obj, field.name, ObjType::Map)?;
            for lang in langs {
                doc.put_object(&map, *lang, ObjType::Text)?;
            }
        }
        Kind::Set(_) | Kind::List(_) | Kind::Log(_) => {
            doc.put_object(obj, field.name, ObjType::Map)?;
        }
        Kind::Plain(_) | Kind::Register(_) | Kind::Values => {}
    }
    Ok(())
}

/// Every key of `input` is a field of `fields`, and every required field is there.
fn check_fields(
    doc_type: DocType,
    fields: &'static [Field],
    input: &Map<String, Json>,
    path: &FieldPath,
) -> Result<(), ModelError> {
    for key in input.keys() {
        if !fields.iter().any(|f| f.name == key.as_str()) {
            return Err(ModelError::NoSuchField {
                path: path.field(key).in_doc(doc_type.name()),
            });
        }
    }
    for field in fields.iter().filter(|f| f.required) {
        if input.get(field.name).is_none_or(Json::is_null) {
            return Err(ModelError::Missing {
                path: path.field(field.name).in_doc(doc_type.name()),
            });
        }
    }
    Ok(())
}

/// Writes a register's value as a new `{value, by, at}` map, replacing every value this
/// replica has seen; values set concurrently elsewhere stay beside it until resolved.
pub(crate) fn write_register<D: Transactable>(
    doc: &mut D,
    obj: &ObjId,
    key: &str,
    value: ScalarValue,
    stamp: &Stamp,
) -> Result<(), ModelError> {
    let register = doc.put_object(obj, key, ObjType::Map)?;
    doc.put(&register, "value", value)?;
    doc.put(&register, "by", stamp.by.as_str())?;
    doc.put(
        &register,
        "at",
        ScalarValue::Timestamp(stamp.at.as_millisecond()),
    )?;
    Ok(())
}

/// Makes a new document of `doc_type` from `input` (a JSON object of its fields: strings for
/// text and values, `{lang: text}` for per-language text, arrays for sets and lists).
pub fn create(doc_type: DocType, input: &Json, stamp: &Stamp) -> Result<AutoCommit, ModelError> {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "type", doc_type.name())?;
    doc.put(ROOT, "schema", CURRENT_SCHEMA)?;
    let mut writer = Writer {
        doc_type,
        stamp,
        ids: IdSource::Random,
    };
    writer.fields(
        &mut doc,
        &ROOT,
        doc_type.fields(),
        input,
        &FieldPath::root(),
    )?;
    create_container(&mut doc, &ROOT, &RESOLUTIONS)?;
    Ok(doc)
}

/// What a path leads to.
pub(crate) struct Located {
    /// The map holding the field.
    pub(crate) parent: ObjId,
    pub(crate) field: &'static Field,
    /// For `title.ar`: the language.
    pub(crate) lang: Option<String>,
    /// For `entries[x].body`: the entry's `author`, who alone may edit it.
    pub(crate) author: Option<String>,
    /// For a path ending in `[id]`: the item's id (the field is then its list).
    pub(crate) item: Option<(ObjId, ItemId)>,
}

/// Follows `path` through the document, checking it against the schema.
pub(crate) fn locate<D: ReadDoc>(
    doc: &D,
    path: &FieldPath,
) -> Result<(DocType, Located), ModelError> {
    let (doc_type, version) = header(doc)?;
    if version < CURRENT_SCHEMA {
        return Err(ModelError::NeedsMigration {
            doc_type: doc_type.name(),
            found: version,
            current: CURRENT_SCHEMA,
        });
    }
    let reader = Reader { doc, doc_type };
    let shown = || path.in_doc(doc_type.name());
    let no_field = || ModelError::NoSuchField { path: shown() };
    let mut obj = ROOT;
    let mut fields = doc_type.fields();
    let mut author = None;
    let segments = path.segments();
    let mut i = 0;
    loop {
        let Some(Segment::Field(name)) = segments.get(i) else {
            return Err(no_field());
        };
        let field = find_field(fields, name, i == 0).ok_or_else(no_field)?;
        let here = FieldPath::root();
        match (field.kind, segments.get(i + 1)) {
            (_, None) => {
                return Ok((
                    doc_type,
                    Located {
                        parent: obj,
                        field,
                        lang: None,
                        author,
                        item: None,
                    },
                ));
            }
            (Kind::Localized(langs), Some(Segment::Field(lang))) if segments.len() == i + 2 => {
                if !langs.contains(&lang.as_str()) {
                    return Err(no_field());
                }
                return Ok((
                    doc_type,
                    Located {
                        parent: obj,
                        field,
                        lang: Some(lang.clone()),
                        author,
                        item: None,
                    },
                ));
            }
            (Kind::List(item_fields) | Kind::Log(item_fields), Some(Segment::Item(id))) => {
                let no_item = || ModelError::NoSuchItem { path: shown() };
                let list = reader
                    .object(&obj, field.name, ObjType::Map, &here, "a map of items")?
                    .ok_or_else(no_item)?;
                let item = match doc.get(&list, id.as_str())? {
                    Some((Value::Object(ObjType::Map), item)) => item,
                    _ => return Err(no_item()),
                };
                if let Some((Value::Scalar(s), _)) = doc.get(&item, "author")?
                    && let ScalarValue::Str(a) = s.as_ref()
                {
                    author = Some(a.to_string());
                }
                if segments.len() == i + 2 {
                    return Ok((
                        doc_type,
                        Located {
                            parent: obj,
                            field,
                            lang: None,
                            author,
                            item: Some((list, id.clone())),
                        },
                    ));
                }
                obj = item;
                fields = item_fields;
                i += 2;
            }
            _ => return Err(no_field()),
        }
    }
}

fn check_author(
    doc_type: DocType,
    located: &Located,
    path: &FieldPath,
    stamp: &Stamp,
) -> Result<(), ModelError> {
    match &located.author {
        Some(author) if *author != stamp.by => Err(ModelError::NotAuthor {
            path: path.in_doc(doc_type.name()),
            author: author.clone(),
        }),
        _ => Ok(()),
    }
}

/// Sets the field at `path`: text (edited by splices, so concurrent typing merges), a
/// per-language text (`title.ar`), a plain value or a register. `value` is a JSON string
/// (or boolean); lists and sets have their own calls.
pub fn set<D: Transactable>(
    doc: &mut D,
    path: &FieldPath,
    value: &Json,
    stamp: &Stamp,
) -> Result<(), ModelError> {
    let (doc_type, located) = locate(doc, path)?;
    check_author(doc_type, &located, path, stamp)?;
    let shown = path.in_doc(doc_type.name());
    if located.item.is_some() {
        return Err(ModelError::WrongOperation {
            path: shown,
            reason: "an item is changed field by field",
        });
    }
    let text_input = |value: &Json| match value {
        Json::String(s) if s.len() <= MAX_TEXT_LEN => Ok(s.clone()),
        _ => Err(ModelError::invalid(
            &shown,
            format!("text of at most {MAX_TEXT_LEN} bytes"),
        )),
    };
    let field = located.field;
    match (field.kind, &located.lang) {
        (Kind::Text, _) => {
            let text = text_input(value)?;
            let id = ensure_object(doc, &located.parent, field.name, ObjType::Text)?;
            update_text(doc, &id, &text)?;
        }
        (Kind::Localized(_), Some(lang)) => {
            let text = text_input(value)?;
            let map = ensure_object(doc, &located.parent, field.name, ObjType::Map)?;
            let id = ensure_object(doc, &map, lang, ObjType::Text)?;
            update_text(doc, &id, &text)?;
        }
        (Kind::Plain(_) | Kind::Register(_), _) => {
            let mut writer = Writer {
                doc_type,
                stamp,
                ids: IdSource::Random,
            };
            writer.field(doc, &located.parent, field, value, path)?;
        }
        _ => {
            return Err(ModelError::WrongOperation {
                path: shown,
                reason: "not a single value or text: use the list or set calls",
            });
        }
    }
    Ok(())
}

/// The object at `obj.key`, made if absent (or if something else is there).
fn ensure_object<D: Transactable>(
    doc: &mut D,
    obj: &ObjId,
    key: &str,
    obj_type: ObjType,
) -> Result<ObjId, ModelError> {
    match doc.get(obj, key)? {
        Some((Value::Object(t), id)) if t == obj_type => Ok(id),
        _ => Ok(doc.put_object(obj, key, obj_type)?),
    }
}

/// Changes the text object `text` into `new` with the fewest splices
/// ([`crate::splices`]), in the document's text encoding.
pub fn update_text<D: Transactable>(
    doc: &mut D,
    text: &ObjId,
    new: &str,
) -> Result<(), ModelError> {
    let mut current = doc.text(text)?;
    let encoding = doc.text_encoding();
    for splice in splices(&current, new) {
        let start = byte_offset(&current, splice.pos);
        let end = byte_offset(&current, splice.pos + splice.delete);
        let pos = width(&current[..start], encoding);
        let delete = width(&current[start..end], encoding);
        doc.splice_text(text, pos, delete as isize, &splice.insert)?;
        current.replace_range(start..end, &splice.insert);
    }
    Ok(())
}

fn byte_offset(s: &str, chars: usize) -> usize {
    s.char_indices()
        .nth(chars)
        .map(|(i, _)| i)
        .unwrap_or(s.len())
}

fn width(s: &str, encoding: TextEncoding) -> usize {
    match encoding {
        TextEncoding::UnicodeCodePoint => s.chars().count(),
        TextEncoding::Utf8CodeUnit => s.len(),
        TextEncoding::Utf16CodeUnit => s.encode_utf16().count(),
        TextEncoding::GraphemeCluster => s.graphemes(true).count(),
    }
}

/// Inserts a new item (a JSON object of its fields) into the list or log at `list_path`
/// and returns its id. Logs ignore `place` (entries are ordered by time).
pub fn insert<D: Transactable>(
    doc: &mut D,
    list_path: &FieldPath,
    place: Place,
    item: &Json,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let (doc_type, located) = locate(doc, list_path)?;
    let shown = list_path.in_doc(doc_type.name());
    let (fields, ordered) = match (located.field.kind, &located.item) {
        (Kind::List(fields), None) => (fields, true),
        (Kind::Log(fields), None) => (fields, false),
        _ => {
            return Err(ModelError::WrongOperation {
                path: shown,
                reason: "not a list",
            });
        }
    };
    let list = ensure_object(doc, &located.parent, located.field.name, ObjType::Map)?;
    let mut writer = Writer {
        doc_type,
        stamp,
        ids: IdSource::Random,
    };
    let id = writer.next_id();
    let item_path = list_path.item(&id);
    if let Json::Object(input) = item {
        check_fields(doc_type, fields, input, &item_path)?;
    }
    let pos = if ordered {
        let reader = Reader {
            doc: &*doc,
            doc_type,
        };
        Some(position_for(&reader, &list, &place, None, list_path)?)
    } else {
        None
    };
    let item_obj = doc.put_object(&list, id.as_str(), ObjType::Map)?;
    if let Some(pos) = pos {
        doc.put(&item_obj, POS_KEY, pos.as_str())?;
    }
    writer.fields(doc, &item_obj, fields, item, &item_path)?;
    Ok(id)
}

/// The order key for `place` among the items of `list`, leaving out `moving`.
fn position_for<D: ReadDoc>(
    reader: &Reader<'_, D>,
    list: &ObjId,
    place: &Place,
    moving: Option<&ItemId>,
    path: &FieldPath,
) -> Result<String, ModelError> {
    let mut keyed = Vec::new();
    for (id, item) in reader.items(list, true, path)? {
        if Some(&id) == moving {
            continue;
        }
        let pos = match reader.doc.get(&item, POS_KEY)? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(p) => p.to_string(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        keyed.push((id, pos));
    }
    let index_of = |id: &ItemId| {
        keyed
            .iter()
            .position(|(i, _)| i == id)
            .ok_or_else(|| ModelError::NoSuchItem {
                path: path.item(id).in_doc(reader.doc_type.name()),
            })
    };
    let pos_at = |i: usize| keyed.get(i).map(|(_, p)| p.as_str());
    // Neighbours may share a position (two replicas inserted at the same spot); step past
    // equal keys so the new key lands strictly between distinct ones.
    let (before, after) = match place {
        Place::Start => (None, pos_at(0)),
        Place::End => (keyed.last().map(|(_, p)| p.as_str()), None),
        Place::After(id) => {
            let i = index_of(id)?;
            let here = pos_at(i);
            let next = keyed[i + 1..]
                .iter()
                .map(|(_, p)| p.as_str())
                .find(|p| Some(*p) != here);
            (here, next)
        }
        Place::Before(id) => {
            let i = index_of(id)?;
            let here = pos_at(i);
            let prev = keyed[..i]
                .iter()
                .rev()
                .map(|(_, p)| p.as_str())
                .find(|p| Some(*p) != here);
            (prev, here)
        }
    };
    Ok(position::between(before, after))
}

/// Moves the item at `item_path` (`agenda[id]`) to `place`: only its `pos` changes, so a
/// concurrent edit of the item is kept, and concurrent moves leave it in one place.
pub fn move_item<D: Transactable>(
    doc: &mut D,
    item_path: &FieldPath,
    place: Place,
) -> Result<(), ModelError> {
    let (doc_type, located) = locate(doc, item_path)?;
    let shown = item_path.in_doc(doc_type.name());
    let Some((list, id)) = located.item.clone() else {
        return Err(ModelError::WrongOperation {
            path: shown,
            reason: "not a list item",
        });
    };
    if !matches!(located.field.kind, Kind::List(_)) {
        return Err(ModelError::WrongOperation {
            path: shown,
            reason: "entries of a log are ordered by time",
        });
    }
    let list_path = item_path.parent();
    let pos = {
        let reader = Reader {
            doc: &*doc,
            doc_type,
        };
        position_for(&reader, &list, &place, Some(&id), &list_path)?
    };
    let item = match doc.get(&list, id.as_str())? {
        Some((Value::Object(ObjType::Map), item)) => item,
        _ => return Err(ModelError::NoSuchItem { path: shown }),
    };
    doc.put(&item, POS_KEY, pos.as_str())?;
    Ok(())
}

/// Removes the item at `item_path`.
pub fn remove_item<D: Transactable>(
    doc: &mut D,
    item_path: &FieldPath,
    stamp: &Stamp,
) -> Result<(), ModelError> {
    let (doc_type, located) = locate(doc, item_path)?;
    check_author(doc_type, &located, item_path, stamp)?;
    let Some((list, id)) = located.item else {
        return Err(ModelError::WrongOperation {
            path: item_path.in_doc(doc_type.name()),
            reason: "not a list item",
        });
    };
    doc.delete(&list, id.as_str())?;
    Ok(())
}

/// Adds `member` to the set at `set_path` (kept if someone removes it concurrently).
pub fn add_member<D: Transactable>(
    doc: &mut D,
    set_path: &FieldPath,
    member: &str,
    stamp: &Stamp,
) -> Result<(), ModelError> {
    let (doc_type, located, map) = set_target(doc, set_path, stamp, true)?;
    let Kind::Set(kind) = located.field.kind else {
        unreachable!("set_target checks the kind")
    };
    kind.check_text(member).map_err(|e| {
        ModelError::invalid(
            set_path.in_doc(doc_type.name()),
            format!("members that are {e}"),
        )
    })?;
    if let Some(map) = map {
        doc.put(&map, member, true)?;
    }
    Ok(())
}

/// Removes `member` from the set at `set_path`.
pub fn remove_member<D: Transactable>(
    doc: &mut D,
    set_path: &FieldPath,
    member: &str,
    stamp: &Stamp,
) -> Result<(), ModelError> {
    let (_, _, map) = set_target(doc, set_path, stamp, false)?;
    if let Some(map) = map
        && doc.get(&map, member)?.is_some()
    {
        doc.delete(&map, member)?;
    }
    Ok(())
}

fn set_target<D: Transactable>(
    doc: &mut D,
    set_path: &FieldPath,
    stamp: &Stamp,
    create: bool,
) -> Result<(DocType, Located, Option<ObjId>), ModelError> {
    let (doc_type, located) = locate(doc, set_path)?;
    check_author(doc_type, &located, set_path, stamp)?;
    if !matches!(located.field.kind, Kind::Set(_)) || located.item.is_some() {
        return Err(ModelError::WrongOperation {
            path: set_path.in_doc(doc_type.name()),
            reason: "not a set",
        });
    }
    let map = if create {
        Some(ensure_object(
            doc,
            &located.parent,
            located.field.name,
            ObjType::Map,
        )?)
    } else {
        match doc.get(&located.parent, located.field.name)? {
            Some((Value::Object(ObjType::Map), map)) => Some(map),
            _ => None,
        }
    };
    Ok((doc_type, located, map))
}
