//! [`DocPath`]: a dotted path into a document (`agenda`, `budget.0.planned`), and how it is
//! resolved against an Automerge document, with [`PathError`] naming the segment that fails.

use std::fmt;
use std::str::FromStr;

use automerge::{ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue, Value};

/// A path into a document: segments separated by dots. A segment is a map key when it meets a
/// map and a list index (`0`, `1`, …) when it meets a list, so `budget.0.planned` is the
/// field `planned` of the first item of the list `budget`.
///
/// A map key that contains a dot cannot be named by a path; the documents passerelle writes
/// never use such keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocPath {
    segments: Vec<String>,
}

/// Why a path does not name what an operation needs. Every message names the segment at fault
/// and the path up to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// No segment at all.
    #[error("the path is empty; name a field such as `title` or `budget.0.planned`")]
    Empty,
    /// Two dots in a row, or a dot at either end.
    #[error("the path `{path}` has an empty segment (two dots in a row, or a dot at an end)")]
    EmptySegment {
        /// The path as given.
        path: String,
    },
    /// A map has no such key.
    #[error("`{at}` does not exist: {parent} has no field `{segment}`")]
    NoSuchKey {
        /// The path up to and including the segment.
        at: String,
        /// The map, named for a person (`the document` or `` `budget.0` ``).
        parent: String,
        /// The missing key.
        segment: String,
    },
    /// A list was met and the segment is not a number.
    #[error("`{at}` does not exist: {parent} is a list, and `{segment}` is not an index (0, 1, …)")]
    NotAnIndex {
        /// The path up to and including the segment.
        at: String,
        /// The list, named for a person.
        parent: String,
        /// The segment that should have been an index.
        segment: String,
    },
    /// A list index past the end.
    #[error("`{at}` does not exist: {parent} has {len} item(s), so index {index} is out of range")]
    IndexOutOfRange {
        /// The path up to and including the segment.
        at: String,
        /// The list, named for a person.
        parent: String,
        /// The index asked for.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// A segment follows something that has no fields: a scalar or a text.
    #[error("`{at}` does not exist: {parent} is {found}, not a map or a list")]
    NotAContainer {
        /// The path up to and including the segment.
        at: String,
        /// What the segment was looked up in, named for a person.
        parent: String,
        /// What that is: "a string", "text", "a number", ...
        found: &'static str,
    },
    /// `append` needs a list.
    #[error("cannot append to `{at}`: it is {found}, not a list")]
    NotAList {
        /// The path.
        at: String,
        /// What it is.
        found: &'static str,
    },
}

impl DocPath {
    /// The segments, in order.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The first `len` segments, dotted, for messages.
    fn prefix(&self, len: usize) -> String {
        self.segments[..len].join(".")
    }

    /// The first `len` segments named for a person: `the document` for none.
    fn name_prefix(&self, len: usize) -> String {
        if len == 0 {
            "the document".to_owned()
        } else {
            format!("`{}`", self.prefix(len))
        }
    }
}

impl FromStr for DocPath {
    type Err = PathError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if input.is_empty() {
            return Err(PathError::Empty);
        }
        let segments: Vec<String> = input.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(PathError::EmptySegment {
                path: input.to_owned(),
            });
        }
        Ok(Self { segments })
    }
}

impl fmt::Display for DocPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

/// Where a `set` writes: a key of a map or an existing index of a list.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// The map or list that holds the value.
    pub(crate) parent: ObjId,
    /// The key or index in it.
    pub(crate) prop: Prop,
}

/// What a value is, for messages.
pub(crate) fn kind_of(value: &Value<'_>) -> &'static str {
    match value {
        Value::Object(ObjType::Map | ObjType::Table) => "a map",
        Value::Object(ObjType::List) => "a list",
        Value::Object(ObjType::Text) => "text",
        Value::Scalar(scalar) => match scalar.as_ref() {
            ScalarValue::Str(_) => "a string",
            ScalarValue::Int(_) | ScalarValue::Uint(_) | ScalarValue::F64(_) => "a number",
            ScalarValue::Counter(_) => "a counter",
            ScalarValue::Timestamp(_) => "a timestamp",
            ScalarValue::Boolean(_) => "a boolean",
            ScalarValue::Null => "null",
            ScalarValue::Bytes(_) => "bytes",
            ScalarValue::Unknown { .. } => "a value of an unknown type",
        },
    }
}

/// Follows the first `len` segments of `path` from the root. Each must exist, and the last
/// one reached is returned as it is (object or scalar).
fn walk<'a>(
    doc: &'a impl ReadDoc,
    path: &DocPath,
    len: usize,
) -> Result<(Value<'a>, ObjId), PathError> {
    let mut current: (Value<'a>, ObjId) = (Value::Object(ObjType::Map), ROOT);
    for index in 0..len {
        let prop = lookup_prop(doc, path, index, &current, false)?;
        let (value, id) = doc
            .get(&current.1, prop)
            .ok()
            .flatten()
            .ok_or_else(|| missing(path, index))?;
        current = (value, id);
    }
    Ok(current)
}

/// The property that segment `index` names in `parent`, checked to exist unless it is a map
/// key and `may_be_new` (a `set` may create a key).
fn lookup_prop(
    doc: &impl ReadDoc,
    path: &DocPath,
    index: usize,
    parent: &(Value<'_>, ObjId),
    may_be_new: bool,
) -> Result<Prop, PathError> {
    let segment = &path.segments[index];
    let at = path.prefix(index + 1);
    let parent_name = path.name_prefix(index);
    match &parent.0 {
        Value::Object(ObjType::Map | ObjType::Table) => {
            if !may_be_new
                && doc
                    .get(&parent.1, segment.as_str())
                    .ok()
                    .flatten()
                    .is_none()
            {
                return Err(PathError::NoSuchKey {
                    at,
                    parent: parent_name,
                    segment: segment.clone(),
                });
            }
            Ok(Prop::Map(segment.clone()))
        }
        Value::Object(ObjType::List) => {
            let position: usize = segment.parse().map_err(|_| PathError::NotAnIndex {
                at: at.clone(),
                parent: parent_name.clone(),
                segment: segment.clone(),
            })?;
            let len = doc.length(&parent.1);
            if position >= len {
                return Err(PathError::IndexOutOfRange {
                    at,
                    parent: parent_name,
                    index: position,
                    len,
                });
            }
            Ok(Prop::Seq(position))
        }
        other => Err(PathError::NotAContainer {
            at,
            parent: parent_name,
            found: kind_of(other),
        }),
    }
}

/// The error for a segment that `lookup_prop` accepted but `get` did not find (a key deleted
/// in a concurrent change cannot happen within one read, so this is the map case).
fn missing(path: &DocPath, index: usize) -> PathError {
    PathError::NoSuchKey {
        at: path.prefix(index + 1),
        parent: path.name_prefix(index),
        segment: path.segments[index].clone(),
    }
}

/// Where `set` writes `path`: every segment but the last must exist; the last is a key of a
/// map (new or existing) or an existing index of a list.
pub(crate) fn resolve_slot(doc: &impl ReadDoc, path: &DocPath) -> Result<Slot, PathError> {
    let last = path.segments.len() - 1;
    let parent = walk(doc, path, last)?;
    let prop = lookup_prop(doc, path, last, &parent, true)?;
    Ok(Slot {
        parent: parent.1,
        prop,
    })
}

/// The list that `append` extends: every segment must exist and the path must name a list.
pub(crate) fn resolve_list(doc: &impl ReadDoc, path: &DocPath) -> Result<ObjId, PathError> {
    let (value, id) = walk(doc, path, path.segments.len())?;
    match value {
        Value::Object(ObjType::List) => Ok(id),
        other => Err(PathError::NotAList {
            at: path.to_string(),
            found: kind_of(&other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dotted_paths() {
        let path: DocPath = "budget.0.planned".parse().unwrap();
        assert_eq!(path.segments(), ["budget", "0", "planned"]);
        assert_eq!(path.to_string(), "budget.0.planned");
        assert_eq!("".parse::<DocPath>(), Err(PathError::Empty));
        for bad in ["a..b", ".a", "a."] {
            assert!(
                matches!(bad.parse::<DocPath>(), Err(PathError::EmptySegment { .. })),
                "{bad}"
            );
        }
    }
}
