//! The pages, as HTML (maud escapes every interpolated value).
//!
//! - `layout`: the frame of every page (language, direction, sync state, language switch).
//! - `dashboard`: the `today` view and the list of documents.
//! - `mission`: a mission's agenda, delegation, meetings and minutes, logistics and actions,
//!   with its text fields editable.
//! - `project`, `journal`, `actor`, `call`, `news`: the programme's lists (projects, the
//!   field journal, the actor directory with its search, calls by deadline, news) and the
//!   page of each such document.
//! - this module: the sign-in page, message pages, a plain page for the other document
//!   types, and small helpers.

pub(crate) mod dashboard;
pub(crate) mod history;
pub(crate) mod layout;
pub(crate) mod mission;
// The programme's pages (issue 7).
pub(crate) mod actor;
pub(crate) mod call;
pub(crate) mod journal;
pub(crate) mod news;
pub(crate) mod project;
pub(crate) mod public;
pub(crate) mod reports;

use std::fmt::Display;

use automerge::ChangeHash;
use maud::{Markup, html};
use passerelle_model::{Document, Register};

use crate::lang::Lang;
use dashboard::Opened;

/// The sign-in page's content.
pub(crate) fn sign_in(lang: Lang, failed: bool) -> Markup {
    html! {
        h1 { (lang.t("sign_in")) }
        @if failed { p.error role="alert" { (lang.t("sign_in_failed")) } }
        form.sign-in method="post" action="/sign-in" {
            label {
                span { (lang.t("token")) }
                input type="password" name="token" autocomplete="current-password" required;
            }
            p.help { (lang.t("sign_in_help")) }
            button type="submit" { (lang.t("sign_in")) }
        }
        p.public-link { a href="/public" { (lang.t("public_page")) } }
    }
}

/// A page that only says something.
pub(crate) fn message(lang: Lang, text: &str) -> Markup {
    html! {
        p.message { (text) }
        p { a href="/" { (lang.t("back")) } }
    }
}

/// The page of a document that has no page of its own yet: its type and title.
pub(crate) fn plain_document(lang: Lang, doc: &Document) -> Markup {
    html! {
        p.kind { (lang.t(doc.doc_type().name())) }
        h1 { (title_of(lang, doc)) }
    }
}

/// A link to a document's page, with its title.
pub(crate) fn doc_link(lang: Lang, opened: &Opened) -> Markup {
    html! {
        a href={ "/doc/" (opened.id) } { (dashboard::listed_title(lang, opened)) }
    }
}

/// The title of any document, in the reader's language when it has one.
pub(crate) fn title_of(lang: Lang, doc: &Document) -> String {
    let prefs = lang.preference();
    let title = match doc {
        Document::Project(p) => p.title.preferred(&prefs).map(str::to_owned),
        Document::Mission(m) => m.title.preferred(&prefs).map(str::to_owned),
        Document::Journal(j) => Some(j.title.clone()),
        Document::Actor(a) => a
            .names
            .preferred(&["latin", prefs[0], prefs[1], prefs[2]])
            .map(str::to_owned),
        Document::FundingCall(c) => Some(c.title.clone()),
        Document::NewsItem(n) => Some(n.title.clone()),
    };
    title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "—".to_owned())
}

/// A register's value, with every concurrent value when it holds several.
pub(crate) fn shown<T: PartialEq + Display>(register: &Option<Register<T>>) -> String {
    match register {
        None => "—".to_owned(),
        Some(r) if r.is_conflicted() => r
            .assignments()
            .iter()
            .map(|a| a.value.to_string())
            .collect::<Vec<_>>()
            .join(" | "),
        Some(r) => r.value().to_string(),
    }
}

/// A register holding a stored word (a status…), in the reader's language
/// ([`Lang::status`]), with every concurrent value when it holds several.
pub(crate) fn shown_status<T: PartialEq + Display>(
    lang: Lang,
    register: &Option<Register<T>>,
) -> String {
    match register {
        None => "—".to_owned(),
        Some(r) if r.is_conflicted() => r
            .assignments()
            .iter()
            .map(|a| lang.status(&a.value.to_string()).to_owned())
            .collect::<Vec<_>>()
            .join(" | "),
        Some(r) => lang.status(&r.value().to_string()).to_owned(),
    }
}

/// A reference to another document (a partner, a lead actor), as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reference {
    /// A document the reader may read: its id and title.
    Document { id: String, title: String },
    /// An id erased for good (an actor's personal data).
    Erased(String),
    /// An id the reader cannot see (not here, or not theirs).
    Unseen(String),
    /// A name written in the field, not a document id.
    Name(String),
}

/// A reference, linked when it can be.
pub(crate) fn reference(lang: Lang, r: &Reference) -> Markup {
    html! {
        @match r {
            Reference::Document { id, title } => a href={ "/doc/" (id) } { (title) },
            Reference::Erased(id) => span.erased { code { (id) } " (" (lang.t("erased")) ")" },
            Reference::Unseen(id) => code { (id) },
            Reference::Name(name) => span { (name) },
        }
    }
}

/// Heads as the pages carry them: hex, comma-separated.
pub(crate) fn heads_attr(heads: &[ChangeHash]) -> String {
    heads
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
