//! CSV exports of the programme's collections (projects, actors, calls, follow-up actions),
//! for people who filter in Excel: UTF-8 with a byte-order mark (so Excel reads Arabic and
//! accents right), comma-separated, quoted by the `csv` crate, one header row of stable
//! column names. People's text that a spreadsheet would run as a formula (starting with `=`,
//! `+`, `-`, `@`, tab or carriage return) is written with a leading `'`.

use passerelle_model::{Actor, FundingCall, Mission, Project, Register};

use crate::error::ReportError;
use crate::sources::Source;

/// What `passerelle export csv` can export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// Projects.
    Projects,
    /// Actors (the stakeholder directory).
    Actors,
    /// Calls for proposals.
    Calls,
    /// Follow-up actions of every mission.
    Actions,
}

/// A register's shown value as text (empty when unset).
fn reg<T: PartialEq + ToString>(register: &Option<Register<T>>) -> String {
    register
        .as_ref()
        .map(|r| r.value().to_string())
        .unwrap_or_default()
}

/// Text a spreadsheet will show as text, never run.
fn cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

fn write(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<Vec<u8>, ReportError> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        writer
            .write_record(header)
            .map_err(|e| ReportError::Csv(e.to_string()))?;
        for row in rows {
            let row: Vec<String> = row.iter().map(|t| cell(t)).collect();
            writer
                .write_record(&row)
                .map_err(|e| ReportError::Csv(e.to_string()))?;
        }
        writer
            .flush()
            .map_err(|e| ReportError::Csv(e.to_string()))?;
    }
    Ok(out)
}

/// Projects, one a row.
pub fn projects_csv(projects: &[Source<Project>]) -> Result<Vec<u8>, ReportError> {
    let header = [
        "id", "code", "title_fr", "title_ar", "title_en", "status", "theme", "start", "end",
        "lead", "partners",
    ];
    write(
        &header,
        projects.iter().map(|s| {
            let p = &s.doc;
            vec![
                s.id.clone(),
                p.code.clone(),
                p.title.get("fr").unwrap_or_default().to_owned(),
                p.title.get("ar").unwrap_or_default().to_owned(),
                p.title.get("en").unwrap_or_default().to_owned(),
                reg(&p.status),
                reg(&p.theme),
                reg(&p.start),
                reg(&p.end),
                p.lead.join("; "),
                p.partners.join("; "),
            ]
        }),
    )
}

/// Actors, one a row.
pub fn actors_csv(actors: &[Source<Actor>]) -> Result<Vec<u8>, ReportError> {
    let header = [
        "id",
        "kind",
        "category",
        "name_fr",
        "name_ar",
        "name_latin",
        "parent",
        "themes",
        "emails",
        "phones",
        "owner",
        "last_contact",
    ];
    write(
        &header,
        actors.iter().map(|s| {
            let a = &s.doc;
            let contacts = |kind: &str| {
                a.contacts
                    .iter()
                    .filter(|c| c.kind.as_str() == kind)
                    .map(|c| c.value.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            vec![
                s.id.clone(),
                a.kind.as_str().to_owned(),
                a.category
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                a.names.get("fr").unwrap_or_default().to_owned(),
                a.names.get("ar").unwrap_or_default().to_owned(),
                a.names.get("latin").unwrap_or_default().to_owned(),
                a.parent.clone().unwrap_or_default(),
                a.themes.join("; "),
                contacts("email"),
                contacts("phone"),
                reg(&a.owner),
                reg(&a.last_contact),
            ]
        }),
    )
}

/// Calls for proposals, one a row.
pub fn calls_csv(calls: &[Source<FundingCall>]) -> Result<Vec<u8>, ReportError> {
    let header = [
        "id",
        "title",
        "funder",
        "scheme",
        "url",
        "opens",
        "deadline",
        "status",
        "amount_min",
        "amount_max",
        "own_share_percent",
        "project",
    ];
    write(
        &header,
        calls.iter().map(|s| {
            let c = &s.doc;
            vec![
                s.id.clone(),
                c.title.clone(),
                c.funder.clone(),
                c.scheme.clone().unwrap_or_default(),
                c.url.clone().unwrap_or_default(),
                c.opens.map(|d| d.to_string()).unwrap_or_default(),
                reg(&c.deadline),
                reg(&c.status),
                c.amount_min.map(|m| m.to_string()).unwrap_or_default(),
                c.amount_max.map(|m| m.to_string()).unwrap_or_default(),
                c.own_share_percent
                    .as_ref()
                    .map(|q| q.as_str().to_owned())
                    .unwrap_or_default(),
                c.project.clone().unwrap_or_default(),
            ]
        }),
    )
}

/// Every mission's follow-up actions, one a row, with their mission.
pub fn actions_csv(missions: &[Source<Mission>]) -> Result<Vec<u8>, ReportError> {
    let header = [
        "mission_id",
        "mission",
        "action_id",
        "action",
        "owner",
        "due",
        "status",
    ];
    write(
        &header,
        missions.iter().flat_map(|s| {
            let title = s
                .doc
                .title
                .preferred(&["fr", "en", "ar"])
                .unwrap_or_default()
                .to_owned();
            s.doc.actions.iter().map(move |a| {
                vec![
                    s.id.clone(),
                    title.clone(),
                    a.id.as_str().to_owned(),
                    a.text.clone(),
                    reg(&a.owner),
                    reg(&a.due),
                    reg(&a.status),
                ]
            })
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-3"), "'-3");
        assert_eq!(cell("Oujda"), "Oujda");
    }
}
