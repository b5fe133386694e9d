//! JSON in and out of Automerge documents.
//!
//! **Writing** (JSON → Automerge): objects become maps, arrays lists, numbers integers (`Int`,
//! or `Uint` above `i64::MAX`) or floats (`F64`), and strings **scalar strings**. Which string
//! fields are collaborative text (Automerge `Text`, merged character by character) is for the
//! domain model crate to decide per document type; until it exists, every string is a scalar,
//! which keeps a concurrent edit of one field a visible conflict rather than an interleaving.
//!
//! **Reading** (Automerge → JSON): maps become objects, lists arrays, `Text` strings, counters
//! and timestamps (milliseconds) numbers, bytes an array of numbers, and a float that JSON
//! cannot hold (NaN, infinities) or a value of a type from a later Automerge `null`. Where a
//! field holds concurrent values, the one Automerge picks as the winner is shown (the same
//! choice on every replica).

use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjId, ObjType, Prop, ReadDoc, ScalarValue, Value};
use serde_json::{Map, Number, Value as Json};

/// What a JSON value is, for messages.
pub(crate) fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// The Automerge scalar for a JSON scalar; `None` for objects and arrays.
fn scalar(value: &Json) -> Option<ScalarValue> {
    Some(match value {
        Json::Null => ScalarValue::Null,
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                // serde_json (without arbitrary precision) holds every other number as f64.
                ScalarValue::F64(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => ScalarValue::Str(s.as_str().into()),
        Json::Array(_) | Json::Object(_) => return None,
    })
}

/// Writes every field of `object` into the map `map`.
pub(crate) fn write_fields(
    tx: &mut impl Transactable,
    map: &ObjId,
    object: &Map<String, Json>,
) -> Result<(), AutomergeError> {
    for (key, value) in object {
        put(tx, map, Prop::Map(key.clone()), value)?;
    }
    Ok(())
}

/// Sets `prop` of `parent` (a map key, or an existing list index) to `value`.
pub(crate) fn put(
    tx: &mut impl Transactable,
    parent: &ObjId,
    prop: Prop,
    value: &Json,
) -> Result<(), AutomergeError> {
    match value {
        Json::Object(object) => {
            let map = tx.put_object(parent, prop, ObjType::Map)?;
            write_fields(tx, &map, object)
        }
        Json::Array(items) => {
            let list = tx.put_object(parent, prop, ObjType::List)?;
            write_items(tx, &list, items)
        }
        scalar_value => {
            // `scalar` is `Some` for everything but objects and arrays, handled above.
            let scalar_value = scalar(scalar_value).unwrap_or(ScalarValue::Null);
            tx.put(parent, prop, scalar_value)
        }
    }
}

/// Inserts `value` at `index` of the list `list`.
pub(crate) fn insert(
    tx: &mut impl Transactable,
    list: &ObjId,
    index: usize,
    value: &Json,
) -> Result<(), AutomergeError> {
    match value {
        Json::Object(object) => {
            let map = tx.insert_object(list, index, ObjType::Map)?;
            write_fields(tx, &map, object)
        }
        Json::Array(items) => {
            let inner = tx.insert_object(list, index, ObjType::List)?;
            write_items(tx, &inner, items)
        }
        scalar_value => {
            let scalar_value = scalar(scalar_value).unwrap_or(ScalarValue::Null);
            tx.insert(list, index, scalar_value)
        }
    }
}

fn write_items(
    tx: &mut impl Transactable,
    list: &ObjId,
    items: &[Json],
) -> Result<(), AutomergeError> {
    for (index, item) in items.iter().enumerate() {
        insert(tx, list, index, item)?;
    }
    Ok(())
}

/// The JSON form of the object `obj` (of type `obj_type`) of `doc`; see the module
/// documentation for the mapping.
pub(crate) fn to_json(doc: &impl ReadDoc, obj: &ObjId, obj_type: ObjType) -> Json {
    match obj_type {
        ObjType::Map | ObjType::Table => {
            let mut object = Map::new();
            for key in doc.keys(obj) {
                if let Ok(Some((value, id))) = doc.get(obj, key.as_str()) {
                    object.insert(key, value_to_json(doc, &value, &id));
                }
            }
            Json::Object(object)
        }
        ObjType::List => {
            let items = (0..doc.length(obj))
                .filter_map(|index| doc.get(obj, index).ok().flatten())
                .map(|(value, id)| value_to_json(doc, &value, &id))
                .collect();
            Json::Array(items)
        }
        ObjType::Text => Json::String(doc.text(obj).unwrap_or_default()),
    }
}

/// The JSON form of one value found at `id`.
pub(crate) fn value_to_json(doc: &impl ReadDoc, value: &Value<'_>, id: &ObjId) -> Json {
    match value {
        Value::Object(obj_type) => to_json(doc, id, *obj_type),
        Value::Scalar(scalar_value) => scalar_to_json(scalar_value),
    }
}

fn scalar_to_json(value: &ScalarValue) -> Json {
    match value {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::Number((*i).into()),
        ScalarValue::Uint(u) => Json::Number((*u).into()),
        ScalarValue::F64(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        ScalarValue::Counter(counter) => Json::Number(i64::from(counter).into()),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Bytes(bytes) => {
            Json::Array(bytes.iter().map(|b| Json::Number((*b).into())).collect())
        }
        ScalarValue::Null | ScalarValue::Unknown { .. } => Json::Null,
    }
}
