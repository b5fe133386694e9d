//! Paths to fields inside a document: `status`, `title.ar`, `agenda[k3f9a0c2].starts_at`.

use std::fmt;
use std::str::FromStr;

use crate::item_id::ItemId;

/// The longest path accepted, in bytes.
const MAX_PATH_LEN: usize = 512;

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A field of a map (or a language of a per-language text).
    Field(String),
    /// An item of a list, by its stable id.
    Item(ItemId),
}

/// The path of a field from the document's root, written `agenda[k3f9a0c2].starts_at`:
/// field names joined by dots, list items by their id in brackets. The same syntax names
/// fields in errors (prefixed with the document type), in [`crate::Conflict`]s and in
/// [`crate::resolve`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The root.
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// The steps.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// This path with a field appended.
    pub fn field(&self, name: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Field(name.to_owned()));
        p
    }

    /// This path with a list item appended.
    pub fn item(&self, id: &ItemId) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Item(id.clone()));
        p
    }

    /// The path without its last step.
    pub fn parent(&self) -> Self {
        let mut p = self.clone();
        p.0.pop();
        p
    }

    /// The path prefixed with a document type, as errors show it: `mission.agenda[x].title`.
    pub(crate) fn in_doc(&self, doc_type: &str) -> String {
        if self.0.is_empty() {
            doc_type.to_owned()
        } else if matches!(self.0.first(), Some(Segment::Item(_))) {
            format!("{doc_type}{self}")
        } else {
            format!("{doc_type}.{self}")
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Field(name) if i == 0 => f.write_str(name)?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Item(id) => write!(f, "[{id}]")?,
            }
        }
        Ok(())
    }
}

/// A path that is not `name(.name|[id])*`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a field path like agenda[k3f9a0c2].starts_at")]
pub struct InvalidFieldPath(String);

impl FromStr for FieldPath {
    type Err = InvalidFieldPath;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidFieldPath(s.chars().take(80).collect());
        if s.is_empty() || s.len() > MAX_PATH_LEN {
            return Err(bad());
        }
        let mut segments = Vec::new();
        let mut rest = s;
        let mut first = true;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').ok_or_else(bad)?;
                let id = after[..end].parse().map_err(|_| bad())?;
                segments.push(Segment::Item(id));
                rest = &after[end + 1..];
            } else {
                let body = if first {
                    rest
                } else {
                    rest.strip_prefix('.').ok_or_else(bad)?
                };
                let end = body.find(['.', '[']).unwrap_or(body.len());
                let name = &body[..end];
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !valid {
                    return Err(bad());
                }
                segments.push(Segment::Field(name.to_owned()));
                rest = &body[end..];
            }
            first = false;
        }
        if matches!(segments.first(), Some(Segment::Item(_))) {
            return Err(bad());
        }
        Ok(FieldPath(segments))
    }
}

impl serde::Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for text in [
            "status",
            "title.ar",
            "agenda[k3f9a0c2].starts_at",
            "a[b][c-1].d",
        ] {
            let path: FieldPath = text.parse().unwrap();
            assert_eq!(path.to_string(), text);
        }
        for bad in ["", ".a", "a.", "[x]", "a[X]", "a[]", "a..b", "A", "a[x]b"] {
            assert!(bad.parse::<FieldPath>().is_err(), "{bad}");
        }
    }
}
