//! Typed views of registers and per-language text.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Deserialize;

/// One value of a register, with who set it and when.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Assignment<T> {
    /// The value.
    pub value: T,
    /// Who set it (empty for a bare value written by a client that does not use this crate).
    pub by: String,
    /// When, by the writer's clock.
    pub at: Option<Timestamp>,
    /// The Automerge actor (hex) that wrote it.
    pub actor: String,
}

/// A single value that matters (a status, a date, an amount, an owner). Usually holds one
/// value; after concurrent edits it holds each of them until someone resolves the conflict
/// ([`crate::resolve`]). [`Register::value`] is the value every replica shows meanwhile
/// (Automerge's deterministic winner).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawRegister<T>")]
pub struct Register<T> {
    values: Vec<Assignment<T>>,
}

#[derive(Deserialize)]
struct RawRegister<T> {
    values: Vec<Assignment<T>>,
}

impl<T> TryFrom<RawRegister<T>> for Register<T> {
    type Error = &'static str;
    fn try_from(raw: RawRegister<T>) -> Result<Self, Self::Error> {
        if raw.values.is_empty() {
            return Err("a register holds at least one value");
        }
        Ok(Register { values: raw.values })
    }
}

impl<T: PartialEq> Register<T> {
    /// The value shown (the winner, on every replica the same).
    pub fn value(&self) -> &T {
        &self.values[0].value
    }

    /// The assignment shown.
    pub fn current(&self) -> &Assignment<T> {
        &self.values[0]
    }

    /// Every concurrent value, the shown one first.
    pub fn assignments(&self) -> &[Assignment<T>] {
        &self.values
    }

    /// Whether it holds two different values (a conflict to resolve).
    pub fn is_conflicted(&self) -> bool {
        self.values.iter().any(|a| a.value != self.values[0].value)
    }
}

/// Whether a boolean register is set and every concurrent value of it is true.
pub(crate) fn all_true(register: Option<&Register<bool>>) -> bool {
    register.is_some_and(|r| r.assignments().iter().all(|a| a.value))
}

/// Text kept per language (`fr`, `ar`, `en`; `latin` for actor names), each an Automerge
/// text of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Localized(BTreeMap<String, String>);

impl Localized {
    /// The text in `lang`, if any.
    pub fn get(&self, lang: &str) -> Option<&str> {
        self.0.get(lang).map(String::as_str)
    }

    /// The text in the first of `langs` that has some (for display in a preferred language).
    pub fn preferred(&self, langs: &[&str]) -> Option<&str> {
        langs
            .iter()
            .find_map(|l| self.get(l).filter(|t| !t.is_empty()))
    }

    /// Every language and its text.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(l, t)| (l.as_str(), t.as_str()))
    }
}

/// A decimal number as stored (`12`, `0.75`): exact, for indicator values.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Quantity(String);

impl Quantity {
    /// The decimal text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As a float, for charts and percentages.
    pub fn to_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }
}
