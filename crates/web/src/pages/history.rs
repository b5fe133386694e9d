//! A document's history (`/doc/{id}/history`): its changes newest first, with when, who
//! made them (as far as the backend knows: see [`Authored`]) and how many operations each
//! holds; and the dashboard's recent changes across the reader's documents.

use std::collections::HashMap;

use automerge::{AutoCommit, ChangeHash};
use jiff::Timestamp;
use maud::{Markup, html};
use passerelle_core::DocumentId;

use crate::backend::Authored;
use crate::lang::Lang;

/// The most changes a history page lists.
pub(crate) const MAX_HISTORY: usize = 500;
/// How many changes the dashboard lists.
pub(crate) const RECENT: usize = 15;

/// One change, as the pages show it.
#[derive(Debug, Clone)]
pub(crate) struct ChangeRow {
    pub(crate) hash: ChangeHash,
    pub(crate) at: Option<Timestamp>,
    /// Who made it (`None`: not known here).
    pub(crate) who: Option<String>,
    /// The number of operations it holds.
    pub(crate) ops: u64,
}

/// A change's own time: seconds since the epoch as Automerge commits it (0: none). Some
/// clients write milliseconds; a value past the year 5000 in seconds is read as such.
fn own_time(timestamp: i64) -> Option<Timestamp> {
    match timestamp {
        t if t <= 0 => None,
        t if t > 100_000_000_000 => Timestamp::from_millisecond(t).ok(),
        t => Timestamp::from_second(t).ok(),
    }
}

/// The changes of `doc`, newest first (the reverse of Automerge's causal order, so a change
/// is always listed above those it builds on), at most `limit`. The backend's record of
/// who and when wins over the change's own time, which its writer chose.
pub(crate) fn changes(
    doc: &mut AutoCommit,
    authors: Option<&HashMap<ChangeHash, Authored>>,
    limit: usize,
) -> Vec<ChangeRow> {
    let metas = doc.get_changes_meta(&[]);
    metas
        .iter()
        .rev()
        .take(limit)
        .map(|meta| {
            let known = authors.and_then(|a| a.get(&meta.hash));
            ChangeRow {
                hash: meta.hash,
                at: known
                    .and_then(|k| k.at)
                    .or_else(|| own_time(meta.timestamp)),
                who: known.map(|k| k.who.clone()),
                ops: (meta.max_op + 1).saturating_sub(meta.start_op),
            }
        })
        .collect()
}

/// A time as the pages show it: UTC, to the minute.
fn when(at: Option<Timestamp>) -> String {
    at.map_or("—".to_owned(), |t| {
        t.strftime("%Y-%m-%d %H:%M UTC").to_string()
    })
}

/// Who, as the pages show it: "you" for the reader.
fn who(lang: Lang, row: &ChangeRow, reader: &str) -> String {
    match row.who.as_deref() {
        Some(name) if name == reader => format!("{name} ({})", lang.t("you")),
        Some(name) => name.to_owned(),
        None => lang.t("unknown").to_owned(),
    }
}

/// The history page's content.
pub(crate) fn history(
    lang: Lang,
    id: DocumentId,
    title: &str,
    rows: &[ChangeRow],
    reader: &str,
) -> Markup {
    html! {
        p.kind { a href={ "/doc/" (id) } { (title) } }
        h1 { (lang.t("history_of")) " " (title) }
        @if rows.is_empty() { p.none { (lang.t("none")) } } @else {
            table #history {
                thead { tr {
                    th { (lang.t("when")) } th { (lang.t("who")) } th { (lang.t("change")) }
                } }
                tbody {
                    @for row in rows {
                        tr data-change=(row.hash.to_string()) {
                            td { bdi { (when(row.at)) } }
                            td.who { (who(lang, row, reader)) }
                            td { code { (&row.hash.to_string()[..8]) } " · " (row.ops) " " (lang.t("ops")) }
                        }
                    }
                }
            }
        }
    }
}

/// One of the dashboard's recent changes.
pub(crate) struct Recent {
    pub(crate) id: DocumentId,
    pub(crate) title: String,
    pub(crate) row: ChangeRow,
}

/// The newest `RECENT` changes with a known time among `rows`, newest first.
pub(crate) fn newest(mut rows: Vec<Recent>) -> Vec<Recent> {
    rows.retain(|r| r.row.at.is_some());
    rows.sort_by(|a, b| b.row.at.cmp(&a.row.at).then(a.row.hash.cmp(&b.row.hash)));
    rows.truncate(RECENT);
    rows
}

/// The dashboard's section of recent changes.
pub(crate) fn recent(lang: Lang, rows: &[Recent], reader: &str) -> Markup {
    html! {
        section #recent-changes {
            h2 { (lang.t("recent_changes")) }
            @if rows.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for r in rows {
                    li {
                        a href={ "/doc/" (r.id) } { (r.title) }
                        " · " span.who { (who(lang, &r.row, reader)) }
                        " · " bdi { (when(r.row.at)) }
                    }
                }
            }
        }
    }
}

/// The links every document page ends with: its history, and its reports.
pub(crate) fn document_links(lang: Lang, id: DocumentId, kind: Option<&str>) -> Markup {
    html! {
        nav.doc-links {
            a href={ "/doc/" (id) "/history" } { (lang.t("history")) }
            @match kind {
                Some("project") => { " · " a href={ "/projects/" (id) "/report" } { (lang.t("reports")) } }
                Some("mission") => {
                    " · " (lang.t("mission_report")) " : "
                    a href={ "/doc/" (id) "/report/md" } { "md" } " "
                    a href={ "/doc/" (id) "/report/html" } { "html" } " "
                    a href={ "/doc/" (id) "/report/docx" } { "docx" }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::{CommitOptions, Transactable as _};

    #[test]
    fn changes_are_newest_first_with_the_backends_author_and_time_winning() {
        let mut doc = AutoCommit::new();
        doc.put(automerge::ROOT, "a", 1).unwrap();
        doc.commit_with(CommitOptions::default().with_time(1_780_000_000));
        doc.put(automerge::ROOT, "b", 2).unwrap();
        doc.put(automerge::ROOT, "c", 3).unwrap();
        doc.commit_with(CommitOptions::default().with_time(0));
        let second = doc.get_heads()[0];
        let at: Timestamp = "2026-11-29T10:00:00Z".parse().unwrap();
        let authors = HashMap::from([(
            second,
            Authored {
                who: "claire".into(),
                at: Some(at),
            },
        )]);
        let rows = changes(&mut doc, Some(&authors), 10);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].hash, second, "newest first");
        assert_eq!(rows[0].who.as_deref(), Some("claire"));
        assert_eq!(rows[0].at, Some(at));
        assert_eq!(rows[0].ops, 2);
        assert_eq!(rows[1].who, None);
        assert_eq!(rows[1].at, Timestamp::from_second(1_780_000_000).ok());
        assert_eq!(changes(&mut doc, None, 1).len(), 1, "bounded");

        let page = history(Lang::En, DocumentId::random(), "Plan", &rows, "claire").into_string();
        assert!(page.contains("claire (you)"), "{page}");
        assert!(page.contains("unknown"), "{page}");
        assert!(page.find("2026-11-29 10:00").unwrap() < page.find("unknown").unwrap());
    }

    #[test]
    fn recent_changes_keep_the_newest_with_a_time() {
        let row = |secs: i64, n: u8| Recent {
            id: DocumentId::random(),
            title: format!("doc {n}"),
            row: ChangeRow {
                hash: ChangeHash([n; 32]),
                at: own_time(secs),
                who: Some("karim".into()),
                ops: 1,
            },
        };
        let mut rows: Vec<Recent> = (1..=20)
            .map(|n| row(1_780_000_000 + i64::from(n), n))
            .collect();
        rows.push(row(0, 99));
        let kept = newest(rows);
        assert_eq!(kept.len(), RECENT);
        assert_eq!(kept[0].title, "doc 20");
        assert!(
            kept.iter().all(|r| r.title != "doc 99"),
            "no time, not listed"
        );
    }
}
