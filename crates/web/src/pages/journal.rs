//! The field journal: every entry of the journals the reader may read, newest first; a form
//! to add one; an entry's text editable in place by its author (the model lets only the
//! author edit an entry, so others see it as text).

use maud::{Markup, html};
use passerelle_model::{Document, Entry, Journal};

use super::dashboard::Opened;
use super::title_of;
use crate::lang::Lang;

/// One entry with the journal it belongs to.
pub(crate) struct Listed<'a> {
    pub(crate) journal: &'a Opened,
    pub(crate) entry: &'a Entry,
}

/// The journals among `docs`, and all their entries newest first.
pub(crate) fn entries(docs: &[Opened]) -> (Vec<(&Opened, &Journal)>, Vec<Listed<'_>>) {
    let journals: Vec<(&Opened, &Journal)> = docs
        .iter()
        .filter_map(|o| match &o.typed {
            Ok(Document::Journal(j)) => Some((o, j)),
            _ => None,
        })
        .collect();
    let mut listed: Vec<Listed<'_>> = journals
        .iter()
        .flat_map(|(o, j)| j.entries.iter().map(|entry| Listed { journal: o, entry }))
        .collect();
    // Newest first; entries of the same instant in a stable order.
    listed.sort_by(|a, b| {
        b.entry
            .at
            .cmp(&a.entry.at)
            .then_with(|| a.entry.id.as_str().cmp(b.entry.id.as_str()))
    });
    (journals, listed)
}

/// The journal page: `docs` are the documents the reader may read (a journal's own page
/// passes that journal only); `reader` is the name its edits are recorded under.
pub(crate) fn page(lang: Lang, docs: &[Opened], reader: &str) -> Markup {
    let (journals, listed) = entries(docs);
    html! {
        h1 { (lang.t("journal")) }
        @if journals.is_empty() {
            p.none { (lang.t("no_journal")) }
        } @else {
            (add_form(lang, &journals))
        }
        @if listed.is_empty() && !journals.is_empty() { p.none { (lang.t("none")) } }
        ol.entries.items {
            @for l in &listed { (entry(lang, l, reader, journals.len() > 1)) }
        }
    }
}

fn add_form(lang: Lang, journals: &[(&Opened, &Journal)]) -> Markup {
    let only = (journals.len() == 1).then(|| journals[0].0.id.to_string());
    html! {
        form.add.entry data-insert="entries" data-doc=[only] {
            @if journals.len() > 1 {
                select data-target-doc aria-label=(lang.t("journal")) {
                    @for (o, _) in journals {
                        option value=(o.id.to_string()) { (title_of(lang, &Document::Journal(journal_of(o)))) }
                    }
                }
            }
            label.field {
                span { (lang.t("new_entry")) }
                textarea name="body" rows="3" dir="auto" required {}
            }
            input name="place" placeholder=(lang.t("place"));
            button type="submit" { (lang.t("add_entry")) }
        }
    }
}

fn journal_of(o: &Opened) -> Journal {
    match &o.typed {
        Ok(Document::Journal(j)) => j.clone(),
        _ => Journal::default(),
    }
}

fn entry(lang: Lang, l: &Listed<'_>, reader: &str, name_journal: bool) -> Markup {
    let e = l.entry;
    let path = format!("entries[{}].body", e.id);
    let at = e.at.strftime("%Y-%m-%d %H:%M UTC").to_string();
    html! {
        li.entry data-item=(e.id.as_str()) {
            p.meta {
                bdi.when { (at) } " · " span.author { (e.author) }
                @if let Some(place) = &e.place { " · " span.place { (place) } }
                @if !e.tags.is_empty() { " · " span.tags { (e.tags.join(", ")) } }
                @if name_journal { " · " (super::doc_link(lang, l.journal)) }
            }
            @if e.author == reader {
                textarea.body data-field=(path) data-doc=(l.journal.id.to_string())
                    data-heads=(l.journal.heads) rows="3" dir="auto"
                    aria-label=(lang.t("entry_text")) { "\n" (e.body) }
            } @else {
                p.body dir="auto" { (e.body) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::AutoCommit;
    use jiff::Timestamp;
    use passerelle_core::DocumentId;
    use passerelle_model::{Stamp, journal};

    fn opened(mut doc: AutoCommit) -> Opened {
        let typed = passerelle_model::open(&mut doc).map_err(|e| e.to_string());
        Opened {
            id: DocumentId::random(),
            heads: super::super::heads_attr(&doc.get_heads()),
            doc,
            typed,
        }
    }

    #[test]
    fn entries_of_every_journal_are_listed_newest_first_and_only_the_author_edits() {
        let at = |s: i64, who: &str| Stamp::new(who, Timestamp::from_second(s).unwrap());
        let mut a = journal::new_journal("Oujda", &at(0, "samira")).unwrap();
        let mut b = journal::new_journal("Lille", &at(0, "claire")).unwrap();
        let entry = |body: &str| journal::NewEntry {
            body: body.into(),
            ..Default::default()
        };
        journal::add_entry(&mut a, &entry("first"), &at(100, "samira")).unwrap();
        journal::add_entry(&mut b, &entry("second"), &at(200, "claire")).unwrap();
        journal::add_entry(&mut a, &entry("third"), &at(300, "samira")).unwrap();
        let docs = vec![opened(a), opened(b)];
        let (journals, listed) = entries(&docs);
        assert_eq!(journals.len(), 2);
        let bodies: Vec<&str> = listed.iter().map(|l| l.entry.body.as_str()).collect();
        assert_eq!(bodies, ["third", "second", "first"]);

        let html = page(Lang::En, &docs, "samira").into_string();
        // Samira's two entries are editable, Claire's is text; two journals: a chooser.
        assert_eq!(html.matches("data-field=\"entries[").count(), 2, "{html}");
        assert!(
            html.contains("<p class=\"body\" dir=\"auto\">second</p>"),
            "{html}"
        );
        assert!(html.contains("data-target-doc"), "{html}");
        assert!(html.find("third").unwrap() < html.find("first").unwrap());
    }
}
