//! The mission report: delegation, agenda as held, meetings with their minutes and
//! decisions, outcomes, follow-up actions with owners and due dates. Also the annexes of the
//! periodic report.

use passerelle_model::Mission;

use crate::document::{Block, Cell, Line, ReportDocument, Section, Span, Table, localized_line};
use crate::labels::Lang;
use crate::periodic::{actions_table, nothing_if_empty, shown, text_line};
use crate::sources::Source;

/// A mission's title in the preferred language, with its Arabic title beside it.
pub(crate) fn mission_title(mission: &Mission, preferred: &[&'static str]) -> Line {
    let line = localized_line(&mission.title, preferred);
    if line.is_empty() {
        text_line("-")
    } else {
        line
    }
}

/// A date and time as people read it: `2026-09-15 09:30 (Africa/Casablanca)`.
fn when_text(when: &passerelle_model::When) -> String {
    let text = when.to_string();
    match text.split_once('[') {
        Some((local, zone)) => format!(
            "{} ({})",
            local.replacen('T', " ", 1),
            zone.trim_end_matches(']')
        ),
        None => text.replacen('T', " ", 1),
    }
}

/// A mission's status, in words of `lang`.
pub(crate) fn status_text(mission: &Mission, lang: Lang) -> String {
    shown(&mission.status, |s| lang.word(s.as_str()))
}

/// The mission report of `mission`, as a whole report.
pub fn mission_document(mission: &Source<Mission>, lang: Lang) -> ReportDocument {
    let section = mission_section(mission, lang);
    let mut title = vec![Span::plain(format!("{} — ", lang.label("mission_title")))];
    title.extend(mission_title(&mission.doc, &lang.preference()));
    ReportDocument {
        lang: lang.code(),
        title,
        sections: section
            .blocks
            .into_iter()
            .map(|b| match b {
                Block::Section(s) => s,
                other => Section {
                    heading: text_line(lang.label("s_identification")),
                    blocks: vec![other],
                },
            })
            .collect(),
    }
}

/// The mission report as one section whose subsections are its parts.
pub(crate) fn mission_section(source: &Source<Mission>, lang: Lang) -> Section {
    let l = |key: &str| lang.label(key);
    let mission = &source.doc;
    let preferred = lang.preference();
    let mut top = Section {
        heading: mission_title(mission, &preferred),
        blocks: Vec::new(),
    };

    let mut s = Section::new(l("m_identification"));
    let mut fields = Vec::new();
    for code in ["fr", "ar", "en"] {
        if let Some(t) = mission.title.get(code).filter(|t| !t.trim().is_empty()) {
            fields.push((
                format!("{} ({code})", l("f_title")),
                vec![Span {
                    text: t.to_owned(),
                    lang: Some(code),
                }],
            ));
        }
    }
    fields.push((
        l("h_direction").to_owned(),
        text_line(
            &mission
                .direction
                .map(|d| lang.word(d.as_str()))
                .unwrap_or_else(|| "-".into()),
        ),
    ));
    fields.push((
        l("f_dates").to_owned(),
        text_line(&format!(
            "{} → {}",
            shown(&mission.start, ToString::to_string),
            shown(&mission.end, ToString::to_string)
        )),
    ));
    fields.push((
        l("f_status").to_owned(),
        text_line(&status_text(mission, lang)),
    ));
    fields.push((l("f_document").to_owned(), text_line(&source.id)));
    s.blocks.push(Block::Fields(fields));
    if !mission.purpose.trim().is_empty() {
        s.blocks.push(Block::Note(l("purpose").to_owned()));
        s.blocks
            .push(Block::Paragraph(Span::plain(mission.purpose.trim())));
    }
    top.blocks.push(Block::Section(s));

    let mut s = Section::new(l("m_delegation"));
    if !mission.delegation.is_empty() {
        s.blocks.push(Block::Table(Table {
            headers: vec![
                l("h_person").into(),
                l("h_organisation").into(),
                l("h_role").into(),
                l("h_arrival").into(),
                l("h_departure").into(),
            ],
            rows: mission
                .delegation
                .iter()
                .map(|d| {
                    vec![
                        Cell::text(&d.person),
                        Cell::text(d.organisation.clone().unwrap_or_default()),
                        Cell::text(d.role.clone().unwrap_or_default()),
                        d.arrival
                            .as_ref()
                            .map_or(Cell::Empty, |r| Cell::Date(*r.value())),
                        d.departure
                            .as_ref()
                            .map_or(Cell::Empty, |r| Cell::Date(*r.value())),
                    ]
                })
                .collect(),
        }));
    }
    nothing_if_empty(&mut s, lang);
    top.blocks.push(Block::Section(s));

    let mut s = Section::new(l("m_agenda"));
    if !mission.agenda.is_empty() {
        s.blocks.push(Block::Table(Table {
            headers: vec![
                l("h_when").into(),
                l("h_place").into(),
                l("h_title").into(),
                l("h_participants").into(),
                l("h_notes").into(),
            ],
            rows: mission
                .agenda
                .iter()
                .map(|a| {
                    vec![
                        Cell::text(shown(&a.starts_at, when_text)),
                        Cell::text(a.place.clone().unwrap_or_default()),
                        Cell::text(&a.title),
                        Cell::text(a.participants.join(", ")),
                        Cell::text(a.notes.trim()),
                    ]
                })
                .collect(),
        }));
    }
    nothing_if_empty(&mut s, lang);
    top.blocks.push(Block::Section(s));

    let mut s = Section::new(l("m_meetings"));
    for meeting in &mission.meetings {
        let mut m = Section::new(if meeting.title.trim().is_empty() {
            "-".to_owned()
        } else {
            meeting.title.trim().to_owned()
        });
        m.blocks.push(Block::Fields(vec![(
            l("h_attendees").to_owned(),
            text_line(&if meeting.attendees.is_empty() {
                "-".to_owned()
            } else {
                meeting.attendees.join(", ")
            }),
        )]));
        m.blocks.push(Block::Note(l("minutes").to_owned()));
        if meeting.minutes.trim().is_empty() {
            m.blocks.push(Block::Nothing(l("no_minutes").to_owned()));
        } else {
            m.blocks
                .push(Block::Paragraph(Span::plain(meeting.minutes.trim())));
        }
        m.blocks.push(Block::Note(l("decisions").to_owned()));
        if meeting.decisions.trim().is_empty() {
            m.blocks.push(Block::Nothing(l("no_decisions").to_owned()));
        } else {
            m.blocks
                .push(Block::Paragraph(Span::plain(meeting.decisions.trim())));
        }
        s.blocks.push(Block::Section(m));
    }
    nothing_if_empty(&mut s, lang);
    top.blocks.push(Block::Section(s));

    let mut s = Section::new(l("m_outcomes"));
    if !mission.outcomes.trim().is_empty() {
        s.blocks
            .push(Block::Paragraph(Span::plain(mission.outcomes.trim())));
    }
    nothing_if_empty(&mut s, lang);
    top.blocks.push(Block::Section(s));

    let mut s = Section::new(l("m_actions"));
    if !mission.actions.is_empty() {
        let actions: Vec<_> = mission.actions.iter().map(|a| (source, a)).collect();
        let mut table = actions_table(&actions, lang);
        // The mission column says nothing inside the mission's own report.
        table.headers.remove(1);
        for row in &mut table.rows {
            row.remove(1);
        }
        s.blocks.push(Block::Table(table));
    }
    nothing_if_empty(&mut s, lang);
    top.blocks.push(Block::Section(s));
    top
}
