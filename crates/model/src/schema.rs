//! The shape of each document type, as data: every reader, writer, migration and conflict
//! scan walks these tables, so a field is declared once.

use std::fmt;
use std::str::FromStr;

use crate::choices as c;
use crate::value_kind::ValueKind;
use crate::value_kind::ValueKind::{
    Bool, Choice, Date, ItemRef, Line, Money, Period, Quantity, Ref, Timestamp, Url, When,
};

/// The schema version this program writes. Version 1 is the untyped JSON shape that
/// `passerelle new --json` wrote before this crate existed (strings as plain values, lists
/// as Automerge lists without ids, no `schema` field); [`crate::open`] migrates it.
pub const CURRENT_SCHEMA: u64 = 2;

/// How a field is stored and merged.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Automerge text: concurrent typing keeps everyone's words.
    Text,
    /// A map from language code to Automerge text.
    Localized(&'static [&'static str]),
    /// A single value, last writer wins, never reported as a conflict (identifiers,
    /// labels that are set once).
    Plain(ValueKind),
    /// A single value that matters: a map `{value, by, at}` replaced whole on every write,
    /// so concurrent writes stay as concurrent values, listed by [`crate::conflicts`] until
    /// resolved.
    Register(ValueKind),
    /// A set: a map from member to `true`. Concurrent adds keep both; an add concurrent with
    /// a remove of the same member keeps it.
    Set(ValueKind),
    /// A list of items with stable ids: a map from [`crate::ItemId`] to the item's map, each
    /// item carrying a `pos` order key.
    List(&'static [Field]),
    /// Append-only entries: a map from id to entry, ordered by their `at` time.
    Log(&'static [Field]),
    /// A list of values written once (a resolution's replaced values).
    Values,
}

/// One field of a document or item.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) required: bool,
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

/// The reserved key of a list item that holds its order key.
pub(crate) const POS_KEY: &str = "pos";

/// The document types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocType {
    /// A cooperation project.
    Project,
    /// A mission, in either direction.
    Mission,
    /// A field journal.
    Journal,
    /// One person or organisation of the stakeholder directory.
    Actor,
    /// A call for proposals.
    FundingCall,
    /// A news item of the news watch.
    NewsItem,
}

impl DocType {
    /// Every type.
    pub const ALL: [DocType; 6] = [
        DocType::Project,
        DocType::Mission,
        DocType::Journal,
        DocType::Actor,
        DocType::FundingCall,
        DocType::NewsItem,
    ];

    /// The name stored in the document's `type` field.
    pub fn name(self) -> &'static str {
        match self {
            DocType::Project => "project",
            DocType::Mission => "mission",
            DocType::Journal => "journal",
            DocType::Actor => "actor",
            DocType::FundingCall => "funding_call",
            DocType::NewsItem => "news_item",
        }
    }

    pub(crate) fn fields(self) -> &'static [Field] {
        match self {
            DocType::Project => PROJECT,
            DocType::Mission => MISSION,
            DocType::Journal => JOURNAL,
            DocType::Actor => ACTOR,
            DocType::FundingCall => FUNDING_CALL,
            DocType::NewsItem => NEWS_ITEM,
        }
    }
}

impl fmt::Display for DocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a document type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a document type (project, mission, journal, actor, funding_call, news_item)")]
pub struct UnknownDocType(pub String);

impl FromStr for DocType {
    type Err = UnknownDocType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| UnknownDocType(s.chars().take(40).collect()))
    }
}

/// The fields every document has besides its own: the record of resolved conflicts.
pub(crate) const RESOLUTIONS: Field = f("resolutions", Kind::Log(RESOLUTION));

const RESOLUTION: &[Field] = &[
    req("path", Kind::Plain(Line)),
    req("value", Kind::Plain(Line)),
    req("replaced", Kind::Values),
    req("by", Kind::Plain(Line)),
    req("at", Kind::Plain(Timestamp)),
];

const TRI_LANG: &[&str] = &["fr", "ar", "en"];

const PROJECT: &[Field] = &[
    req("code", Kind::Plain(Ref)),
    f("title", Kind::Localized(TRI_LANG)),
    f("status", Kind::Register(Choice(c::ProjectStatus::ALL))),
    f("start", Kind::Register(Date)),
    f("end", Kind::Register(Date)),
    f("lead", Kind::Set(Ref)),
    f("partners", Kind::Set(Ref)),
    f("theme", Kind::Register(Line)),
    f("context", Kind::Text),
    f("objectives", Kind::List(OBJECTIVE)),
    f("logframe", Kind::List(RESULT)),
    f("measurements", Kind::Log(MEASUREMENT)),
    f("budget", Kind::List(BUDGET_LINE)),
    f("expenses", Kind::Log(EXPENSE)),
    f("lessons", Kind::Text),
    // Shown on the public page when true (absent: false; no migration needed).
    f("public", Kind::Register(Bool)),
];
const OBJECTIVE: &[Field] = &[f("text", Kind::Text)];
const RESULT: &[Field] = &[
    req("level", Kind::Plain(Choice(c::Level::ALL))),
    f("statement", Kind::Text),
    f("indicators", Kind::List(INDICATOR)),
];
const INDICATOR: &[Field] = &[
    req("name", Kind::Plain(Line)),
    f("unit", Kind::Plain(Line)),
    f("baseline", Kind::Register(Quantity)),
    f("target", Kind::Register(Quantity)),
    f("source", Kind::Plain(Line)),
];
const MEASUREMENT: &[Field] = &[
    req("indicator", Kind::Plain(ItemRef)),
    req("period", Kind::Plain(Period)),
    req("value", Kind::Plain(Quantity)),
    f("source", Kind::Plain(Line)),
    req("by", Kind::Plain(Line)),
    req("at", Kind::Plain(Timestamp)),
];
const BUDGET_LINE: &[Field] = &[
    req("heading", Kind::Plain(Line)),
    f("label", Kind::Plain(Line)),
    f("planned", Kind::Register(Money)),
    f("cofinancing", Kind::List(COFINANCING)),
];
const COFINANCING: &[Field] = &[
    req("funder", Kind::Plain(Line)),
    f("amount", Kind::Register(Money)),
    f("status", Kind::Register(Choice(c::CofinancingStatus::ALL))),
];
const EXPENSE: &[Field] = &[
    req("line", Kind::Plain(ItemRef)),
    req("date", Kind::Plain(Date)),
    req("amount", Kind::Plain(Money)),
    f("payee", Kind::Plain(Line)),
    req("by", Kind::Plain(Line)),
    req("at", Kind::Plain(Timestamp)),
];

const MISSION: &[Field] = &[
    f("title", Kind::Localized(TRI_LANG)),
    f("direction", Kind::Plain(Choice(c::Direction::ALL))),
    f("status", Kind::Register(Choice(c::MissionStatus::ALL))),
    f("start", Kind::Register(Date)),
    f("end", Kind::Register(Date)),
    f("purpose", Kind::Text),
    f("projects", Kind::Set(Ref)),
    f("delegation", Kind::List(DELEGATE)),
    f("agenda", Kind::List(AGENDA_ITEM)),
    f("meetings", Kind::List(MEETING)),
    f("logistics", Kind::List(LOGISTICS)),
    f("outcomes", Kind::Text),
    f("actions", Kind::List(ACTION)),
    // Shown on the public page when true (absent: false; no migration needed).
    f("public", Kind::Register(Bool)),
];
const DELEGATE: &[Field] = &[
    req("person", Kind::Plain(Line)),
    f("organisation", Kind::Plain(Line)),
    f("role", Kind::Plain(Line)),
    f("arrival", Kind::Register(Date)),
    f("departure", Kind::Register(Date)),
    f("visa", Kind::Register(Choice(c::VisaStatus::ALL))),
];
const AGENDA_ITEM: &[Field] = &[
    f("starts_at", Kind::Register(When)),
    f("place", Kind::Plain(Line)),
    f("title", Kind::Text),
    f("participants", Kind::Set(Line)),
    f("notes", Kind::Text),
];
const MEETING: &[Field] = &[
    f("title", Kind::Text),
    f("attendees", Kind::Set(Line)),
    f("minutes", Kind::Text),
    f("decisions", Kind::Text),
];
const LOGISTICS: &[Field] = &[
    req("kind", Kind::Plain(Choice(c::LogisticsKind::ALL))),
    f("details", Kind::Text),
    f("status", Kind::Register(Choice(c::LogisticsStatus::ALL))),
    f("cost", Kind::Register(Money)),
];
const ACTION: &[Field] = &[
    f("text", Kind::Text),
    f("owner", Kind::Register(Line)),
    f("due", Kind::Register(Date)),
    f("status", Kind::Register(Choice(c::ActionStatus::ALL))),
];

const JOURNAL: &[Field] = &[f("title", Kind::Text), f("entries", Kind::Log(ENTRY))];
const ENTRY: &[Field] = &[
    req("author", Kind::Plain(Line)),
    req("at", Kind::Plain(Timestamp)),
    f("place", Kind::Plain(Line)),
    f("mission", Kind::Plain(Ref)),
    f("project", Kind::Plain(Ref)),
    f("tags", Kind::Set(Line)),
    f("body", Kind::Text),
];

const ACTOR: &[Field] = &[
    req("kind", Kind::Plain(Choice(c::ActorKind::ALL))),
    f("category", Kind::Plain(Choice(c::ActorCategory::ALL))),
    f("names", Kind::Localized(&["fr", "ar", "latin"])),
    f("parent", Kind::Plain(Ref)),
    f("basis", Kind::Register(Choice(c::LegalBasis::ALL))),
    f("contacts", Kind::List(CONTACT)),
    f("themes", Kind::Set(Line)),
    f("notes", Kind::Text),
    f("last_contact", Kind::Register(Date)),
    f("owner", Kind::Register(Line)),
];
const CONTACT: &[Field] = &[
    req("kind", Kind::Plain(Choice(c::ContactKind::ALL))),
    req("value", Kind::Plain(Line)),
    f("label", Kind::Plain(Line)),
];

const FUNDING_CALL: &[Field] = &[
    f("title", Kind::Text),
    req("funder", Kind::Plain(Line)),
    f("scheme", Kind::Plain(Line)),
    f("url", Kind::Plain(Url)),
    f("opens", Kind::Plain(Date)),
    f("deadline", Kind::Register(Date)),
    f("eligibility", Kind::Text),
    f("checklist", Kind::List(CRITERION)),
    f("amount_min", Kind::Plain(Money)),
    f("amount_max", Kind::Plain(Money)),
    f("own_share_percent", Kind::Plain(Quantity)),
    f("status", Kind::Register(Choice(c::CallStatus::ALL))),
    f("deliverables", Kind::List(DELIVERABLE)),
    f("draft", Kind::Text),
    f("project", Kind::Plain(Ref)),
];
const CRITERION: &[Field] = &[f("criterion", Kind::Text), f("met", Kind::Register(Bool))];
const DELIVERABLE: &[Field] = &[f("title", Kind::Text), f("done", Kind::Register(Bool))];

const NEWS_ITEM: &[Field] = &[
    req("url", Kind::Plain(Url)),
    f("source", Kind::Plain(Line)),
    f("title", Kind::Text),
    f("date", Kind::Plain(Date)),
    f("language", Kind::Plain(Choice(c::NewsLanguage::ALL))),
    f("summary", Kind::Text),
    f("relevance", Kind::Register(Choice(c::Relevance::ALL))),
    f("tags", Kind::Set(Line)),
    f("projects", Kind::Set(Ref)),
    f("actors", Kind::Set(Ref)),
];

/// The field named `name` among `fields`, or the shared `resolutions` at the root.
pub(crate) fn find_field(
    fields: &'static [Field],
    name: &str,
    at_root: bool,
) -> Option<&'static Field> {
    fields
        .iter()
        .find(|field| field.name == name)
        .or_else(|| (at_root && name == RESOLUTIONS.name).then_some(&RESOLUTIONS))
}
