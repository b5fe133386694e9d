//! The dashboard: the `today` view (coming missions, calls closing soon, overdue actions,
//! conflicts) and every document the reader may see.

use automerge::AutoCommit;
use jiff::ToSpan as _;
use jiff::civil::Date;
use maud::{Markup, html};
use passerelle_core::DocumentId;
use passerelle_model::{Conflict, Document, FundingCall, Mission};

use super::{doc_link, shown, shown_status, title_of};
use crate::lang::Lang;

/// How far ahead missions are shown.
const MISSION_WEEKS: i64 = 4;
/// How far ahead call deadlines are shown.
const CALL_DAYS: i64 = 14;

/// One document as the dashboard sees it.
pub(crate) struct Opened {
    pub(crate) id: DocumentId,
    pub(crate) doc: AutoCommit,
    /// The typed view, or why it cannot be read.
    pub(crate) typed: Result<Document, String>,
    /// Its heads, as the pages carry them.
    pub(crate) heads: String,
}

/// The dashboard's content.
pub(crate) fn dashboard(lang: Lang, docs: &[Opened], today: Date) -> Markup {
    let horizon = today
        .checked_add((MISSION_WEEKS * 7).days())
        .unwrap_or(today);
    let mut missions: Vec<(&Opened, &Mission)> = Vec::new();
    let mut calls: Vec<(&Opened, &FundingCall)> = Vec::new();
    let mut overdue = Vec::new();
    let mut conflicts: Vec<(&Opened, Conflict)> = Vec::new();
    for opened in docs {
        if opened.typed.is_ok()
            && let Ok(found) = passerelle_model::conflicts(&opened.doc)
        {
            conflicts.extend(found.into_iter().map(|c| (opened, c)));
        }
        match &opened.typed {
            Ok(Document::Mission(m)) => {
                if m.is_coming_or_under_way(today, horizon) {
                    missions.push((opened, m));
                }
                for action in m.actions.iter().filter(|a| a.is_overdue(today)) {
                    overdue.push((opened, m, action));
                }
            }
            Ok(Document::FundingCall(c)) if c.closes_within(today, CALL_DAYS) => {
                calls.push((opened, c));
            }
            _ => {}
        }
    }
    missions.sort_by_key(|(_, m)| m.start.as_ref().map(|s| *s.value()));
    calls.sort_by_key(|(_, c)| c.deadline.as_ref().map(|d| *d.value()));
    overdue.sort_by_key(|(_, _, a)| a.due.as_ref().map(|d| *d.value()));

    html! {
        h1 { (lang.t("dashboard")) " · " (today) }
        section #coming-missions {
            h2 { (lang.t("coming_missions")) }
            @if missions.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for (opened, m) in &missions {
                    li {
                        (doc_link(lang, opened))
                        " · " (shown(&m.start)) " → " (shown(&m.end)) " · " (shown_status(lang, &m.status))
                    }
                }
            }
        }
        section #calls {
            h2 { (lang.t("calls_closing")) }
            @if calls.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for (opened, c) in &calls {
                    li { (doc_link(lang, opened)) " · " (c.funder) " · " (lang.t("deadline")) " " (shown(&c.deadline)) }
                }
            }
        }
        section #overdue {
            h2 { (lang.t("overdue_actions")) }
            @if overdue.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for (opened, _, a) in &overdue {
                    li { (a.text) " · " (lang.t("due")) " " (shown(&a.due)) " · " (shown(&a.owner)) " · " (doc_link(lang, opened)) }
                }
            }
        }
        section #conflicts {
            h2 { (lang.t("conflicts")) }
            @if conflicts.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for (opened, c) in &conflicts {
                    li.conflict {
                        (doc_link(lang, opened)) " · " code { (c.path.to_string()) } " · "
                        (c.values.len()) " " (lang.t("values")) " : "
                        @for v in &c.values {
                            button.resolve type="button" data-op="resolve" data-doc=(opened.id.to_string())
                                data-set=(c.path.to_string()) data-value=(v.value) data-heads=(opened.heads)
                                title=(format!("{} {}", lang.t("keep"), v.by)) {
                                (v.value) " (" (v.by) ")"
                            }
                            " "
                        }
                    }
                }
            }
        }
        section #documents {
            h2 { (lang.t("documents")) }
            @if docs.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for opened in docs {
                    li {
                        span.kind { (kind_label(lang, opened)) }
                        " "
                        (doc_link(lang, opened))
                    }
                }
            }
        }
    }
}

fn kind_label(lang: Lang, opened: &Opened) -> &'static str {
    match &opened.typed {
        Ok(doc) => lang.t(doc.doc_type().name()),
        Err(_) => lang.t("unreadable"),
    }
}

/// The title a listing shows for a document.
pub(crate) fn listed_title(lang: Lang, opened: &Opened) -> String {
    match &opened.typed {
        Ok(doc) => title_of(lang, doc),
        Err(_) => opened.id.to_string(),
    }
}
