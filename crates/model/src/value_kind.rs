//! The kinds of single values (dates, statuses, amounts…): how each is checked, stored and
//! shown.

use std::fmt;
use std::str::FromStr;

use automerge::ScalarValue;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use serde_json::Value as Json;

use crate::item_id::ItemId;
use crate::money::{MONEY_EXPECTED, Money};

/// The longest single value accepted (names, places, labels…), in bytes.
pub const MAX_VALUE_LEN: usize = 2000;

/// What a single value may hold. Everything but booleans and timestamps is stored as an
/// Automerge string in a normal form (`2026-05-12`, `1250.00 EUR`), so JS clients read the
/// same text this crate writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// One line of text (a name, a place, a label).
    Line,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A local date-time with its time zone: `2026-05-12T09:30[Africa/Casablanca]`.
    When,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// [`Money`]: an amount with its currency.
    Money,
    /// A decimal number (indicator values).
    Quantity,
    /// `true` or `false`.
    Bool,
    /// A reporting period: `2026`, `2026-S1`, `2026-Q3` or `2026-05`.
    Period,
    /// An `http(s)` URL.
    Url,
    /// A reference to another document or person (a document id or a short name).
    Ref,
    /// The id of an item of this document (an indicator, a budget line).
    ItemRef,
    /// An instant (stored as an Automerge timestamp, shown in RFC 3339).
    Timestamp,
}

/// The time zones the programme's dates are in.
pub const TIME_ZONES: &[&str] = &["Europe/Paris", "Africa/Casablanca", "UTC"];

impl ValueKind {
    /// What the value must look like, for errors.
    pub(crate) fn expected(self) -> String {
        match self {
            ValueKind::Line => format!("one line of text of at most {MAX_VALUE_LEN} bytes"),
            ValueKind::Date => "a date YYYY-MM-DD".into(),
            ValueKind::When => {
                "a date-time like 2026-05-12T09:30[Africa/Casablanca] (zones: Europe/Paris, Africa/Casablanca, UTC)"
                    .into()
            }
            ValueKind::Choice(words) => format!("one of: {}", words.join(", ")),
            ValueKind::Money => MONEY_EXPECTED.into(),
            ValueKind::Quantity => "a number like 12 or 0.75".into(),
            ValueKind::Bool => "true or false".into(),
            ValueKind::Period => "a period like 2026, 2026-S1, 2026-Q3 or 2026-05".into(),
            ValueKind::Url => "an http:// or https:// URL".into(),
            ValueKind::Ref => "a reference: 1 to 100 characters of letters, digits, : _ - .".into(),
            ValueKind::ItemRef => "an item id (a-z, 0-9, -)".into(),
            ValueKind::Timestamp => "an instant like 2026-05-12T07:30:00Z".into(),
        }
    }

    /// Checks a value given by a caller (JSON: a string, or a boolean for `Bool`) and returns
    /// what to store. `Err` holds what was expected.
    pub(crate) fn check_input(self, input: &Json) -> Result<ScalarValue, String> {
        match (self, input) {
            (ValueKind::Bool, Json::Bool(b)) => Ok(ScalarValue::Boolean(*b)),
            (ValueKind::Quantity, Json::Number(n)) => self.check_text(&n.to_string()),
            (_, Json::String(s)) => self.check_text(s),
            _ => Err(self.expected()),
        }
    }

    /// Checks a value given as text (the CLI's and [`crate::resolve`]'s form).
    pub(crate) fn check_text(self, text: &str) -> Result<ScalarValue, String> {
        let bad = || self.expected();
        if text.len() > MAX_VALUE_LEN {
            return Err(bad());
        }
        let stored = match self {
            ValueKind::Line => {
                if text.trim().is_empty() || text.chars().any(char::is_control) {
                    return Err(bad());
                }
                text.to_owned()
            }
            ValueKind::Date => parse_date(text).ok_or_else(bad)?.to_string(),
            ValueKind::When => text.parse::<When>().map_err(|_| bad())?.to_string(),
            ValueKind::Choice(words) => {
                if !words.contains(&text) {
                    return Err(bad());
                }
                text.to_owned()
            }
            ValueKind::Money => text.parse::<Money>().map_err(|_| bad())?.to_string(),
            ValueKind::Quantity => normalize_quantity(text).ok_or_else(bad)?,
            ValueKind::Bool => match text {
                "true" => return Ok(ScalarValue::Boolean(true)),
                "false" => return Ok(ScalarValue::Boolean(false)),
                _ => return Err(bad()),
            },
            ValueKind::Period => {
                if !is_period(text) {
                    return Err(bad());
                }
                text.to_owned()
            }
            ValueKind::Url => {
                let rest = text
                    .strip_prefix("https://")
                    .or_else(|| text.strip_prefix("http://"))
                    .ok_or_else(bad)?;
                if rest.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(bad());
                }
                text.to_owned()
            }
            ValueKind::Ref => {
                let ok = !text.is_empty()
                    && text.len() <= 100
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b":_-.".contains(&b));
                if !ok {
                    return Err(bad());
                }
                text.to_owned()
            }
            ValueKind::ItemRef => text.parse::<ItemId>().map_err(|_| bad())?.to_string(),
            ValueKind::Timestamp => {
                let at: Timestamp = text.parse().map_err(|_| bad())?;
                return Ok(ScalarValue::Timestamp(at.as_millisecond()));
            }
        };
        Ok(ScalarValue::Str(stored.into()))
    }

    /// Checks a stored value and turns it into JSON for the typed structs.
    pub(crate) fn to_json(self, stored: &ScalarValue) -> Result<Json, String> {
        match (self, stored) {
            (ValueKind::Bool, ScalarValue::Boolean(b)) => Ok(Json::Bool(*b)),
            (ValueKind::Timestamp, ScalarValue::Timestamp(ms)) => Ok(Json::String(
                Timestamp::from_millisecond(*ms)
                    .map_err(|_| self.expected())?
                    .to_string(),
            )),
            (ValueKind::Bool | ValueKind::Timestamp, _) => Err(self.expected()),
            (_, ScalarValue::Str(s)) => {
                // Stored values must already be in normal form.
                match self.check_text(s)? {
                    ScalarValue::Str(normal) if normal == *s => Ok(Json::String(s.to_string())),
                    _ => Err(self.expected()),
                }
            }
            _ => Err(self.expected()),
        }
    }
}

/// A stored scalar as text, for conflicts and resolutions.
pub(crate) fn display_scalar(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Str(s) => s.to_string(),
        ScalarValue::Boolean(b) => b.to_string(),
        ScalarValue::Timestamp(ms) => Timestamp::from_millisecond(*ms)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| ms.to_string()),
        other => other.to_string(),
    }
}

fn parse_date(text: &str) -> Option<Date> {
    // jiff accepts a few other forms; the stored form is exactly YYYY-MM-DD.
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    text.parse().ok()
}

fn normalize_quantity(text: &str) -> Option<String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (units, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !units.is_empty()
        && units.len() <= 15
        && units.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 6
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(digits.contains('.') && fraction.is_empty());
    if !ok {
        return None;
    }
    let units = units.trim_start_matches('0');
    let units = if units.is_empty() { "0" } else { units };
    let fraction = fraction.trim_end_matches('0');
    let negative = text.starts_with('-') && (units != "0" || !fraction.is_empty());
    let sign = if negative { "-" } else { "" };
    Some(if fraction.is_empty() {
        format!("{sign}{units}")
    } else {
        format!("{sign}{units}.{fraction}")
    })
}

fn is_period(text: &str) -> bool {
    let b = text.as_bytes();
    let year = b.len() >= 4 && b[..4].iter().all(u8::is_ascii_digit);
    if !year {
        return false;
    }
    match &b[4..] {
        [] => true,
        [b'-', b'Q', q] => (b'1'..=b'4').contains(q),
        [b'-', b'S', s] => (b'1'..=b'2').contains(s),
        [b'-', m1, m2] => {
            m1.is_ascii_digit()
                && m2.is_ascii_digit()
                && (1..=12).contains(&((m1 - b'0') * 10 + (m2 - b'0')))
        }
        _ => false,
    }
}

/// A local date-time with its time zone, as the programme's meetings are given:
/// `2026-05-12T09:30[Africa/Casablanca]`. The zone is kept by name (one of
/// [`TIME_ZONES`]), not as an offset, so a meeting stays at 09:30 in Oujda whatever the
/// offset rules of that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    /// The local date and time (minutes).
    pub local: DateTime,
    /// The time zone's name, one of [`TIME_ZONES`].
    pub zone: &'static str,
}

/// Text that is not a [`When`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a date-time like 2026-05-12T09:30[Africa/Casablanca]")]
pub struct InvalidWhen;

impl FromStr for When {
    type Err = InvalidWhen;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (local, zone) = s
            .strip_suffix(']')
            .and_then(|s| s.split_once('['))
            .ok_or(InvalidWhen)?;
        let zone = TIME_ZONES.iter().find(|z| **z == zone).ok_or(InvalidWhen)?;
        let b = local.as_bytes();
        if b.len() != 16 || b[10] != b'T' || b[13] != b':' || parse_date(&local[..10]).is_none() {
            return Err(InvalidWhen);
        }
        let local: DateTime = local.parse().map_err(|_| InvalidWhen)?;
        Ok(When { local, zone })
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}]",
            self.local.strftime("%Y-%m-%dT%H:%M"),
            self.zone
        )
    }
}

impl serde::Serialize for When {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for When {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_and_normalized() {
        let date = ValueKind::Date;
        assert!(date.check_text("2026-05-12").is_ok());
        for bad in ["2026-5-12", "12/05/2026", "2026-02-30", "lundi"] {
            assert!(date.check_text(bad).is_err(), "{bad}");
        }
        let when = ValueKind::When;
        assert_eq!(
            when.check_text("2026-05-12T09:30[Africa/Casablanca]")
                .unwrap(),
            ScalarValue::Str("2026-05-12T09:30[Africa/Casablanca]".into())
        );
        assert!(when.check_text("2026-05-12T09:30[Mars/Olympus]").is_err());
        assert!(when.check_text("2026-05-12T25:30[UTC]").is_err());
        let q = ValueKind::Quantity;
        assert_eq!(
            q.check_text("007.500").unwrap(),
            ScalarValue::Str("7.5".into())
        );
        assert_eq!(q.check_text("-0.0").unwrap(), ScalarValue::Str("0".into()));
        assert!(q.check_text("1e3").is_err());
        for good in ["2026", "2026-Q3", "2026-S2", "2026-05"] {
            assert!(ValueKind::Period.check_text(good).is_ok(), "{good}");
        }
        for bad in ["2026-Q5", "2026-13", "26-Q1", "2026Q1"] {
            assert!(ValueKind::Period.check_text(bad).is_err(), "{bad}");
        }
        assert!(ValueKind::Line.check_text("a\nb").is_err());
        assert!(ValueKind::Url.check_text("ftp://x").is_err());
    }
}
