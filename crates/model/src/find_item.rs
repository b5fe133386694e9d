//! Finding a list item by its id alone, wherever it sits in a document (`agenda[ID]`,
//! `budget[L].cofinancing[ID]`), so that a person can name an item without its path.

use automerge::{ObjId, ObjType, ROOT, ReadDoc, Value};

use crate::error::ModelError;
use crate::field_path::FieldPath;
use crate::item_id::ItemId;
use crate::read::header;
use crate::schema::{Field, Kind};

/// Where a list item is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLocation {
    /// Its path, e.g. `budget[k3f9a0c2].cofinancing[x81h2k0a9m]`.
    pub path: FieldPath,
    /// Whether its list is ordered (a list, which items can be moved in) rather than a log
    /// ordered by time.
    pub ordered: bool,
}

/// The list item `id` of the document, searched through every list and log of its schema
/// (not the record of resolutions, which is kept as written). `None` when no list holds it.
/// Ids are random per item, so one id names one item; if a document held the same id in two
/// lists, the first in schema order is returned.
pub fn find_item(doc: &impl ReadDoc, id: &ItemId) -> Result<Option<ItemLocation>, ModelError> {
    let (doc_type, _) = header(doc)?;
    search(doc, &ROOT, doc_type.fields(), &FieldPath::root(), id, 0)
}

/// Lists nest at most a few levels (budget → cofinancing, logframe → indicators); the bound
/// guards against a document shaped against its schema.
const MAX_DEPTH: usize = 4;

fn search(
    doc: &impl ReadDoc,
    obj: &ObjId,
    fields: &'static [Field],
    path: &FieldPath,
    id: &ItemId,
    depth: usize,
) -> Result<Option<ItemLocation>, ModelError> {
    if depth > MAX_DEPTH {
        return Ok(None);
    }
    for field in fields {
        let (item_fields, ordered) = match field.kind {
            Kind::List(item_fields) => (item_fields, true),
            Kind::Log(item_fields) => (item_fields, false),
            _ => continue,
        };
        let Some((Value::Object(ObjType::Map), list)) = doc.get(obj, field.name)? else {
            continue;
        };
        let list_path = path.field(field.name);
        if let Some((Value::Object(ObjType::Map), _)) = doc.get(&list, id.as_str())? {
            return Ok(Some(ItemLocation {
                path: list_path.item(id),
                ordered,
            }));
        }
        if !item_fields
            .iter()
            .any(|f| matches!(f.kind, Kind::List(_) | Kind::Log(_)))
        {
            continue;
        }
        for key in doc.keys(&list).take(crate::read::MAX_ITEMS) {
            let Ok(item_id) = key.parse::<ItemId>() else {
                continue;
            };
            if let Some((Value::Object(ObjType::Map), item)) = doc.get(&list, key.as_str())?
                && let Some(found) = search(
                    doc,
                    &item,
                    item_fields,
                    &list_path.item(&item_id),
                    id,
                    depth + 1,
                )?
            {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}
