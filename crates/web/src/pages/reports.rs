//! Report downloads: a project's page of reports (`/projects/{id}/report`: the periodic
//! report per period in md, html, xlsx and docx, and the reports of its missions), and how
//! each format is served (Content-Type, file name).

use jiff::civil::Date;
use maud::{Markup, html};
use passerelle_core::DocumentId;
use passerelle_model::Project;
use passerelle_report::Period;

use crate::lang::Lang;

/// The most years a project's report page lists.
const MAX_YEARS: i16 = 10;

/// A report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Md,
    Html,
    Xlsx,
    Docx,
}

impl Format {
    pub(crate) const PERIODIC: [Format; 4] = [Format::Md, Format::Html, Format::Xlsx, Format::Docx];

    pub(crate) fn parse(text: &str) -> Option<Format> {
        match text {
            "md" => Some(Format::Md),
            "html" => Some(Format::Html),
            "xlsx" => Some(Format::Xlsx),
            "docx" => Some(Format::Docx),
            _ => None,
        }
    }

    pub(crate) fn ext(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Html => "html",
            Format::Xlsx => "xlsx",
            Format::Docx => "docx",
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Md => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
        }
    }
}

/// The report's language: French or English (Arabic pages get the French report, the
/// programme's language).
pub(crate) fn report_lang(lang: Lang) -> passerelle_report::Lang {
    match lang {
        Lang::En => passerelle_report::Lang::En,
        Lang::Fr | Lang::Ar => passerelle_report::Lang::Fr,
    }
}

/// A `Content-Disposition` value: an attachment named `stem.ext`, the stem reduced to
/// letters, digits, `-`, `_` and `.` (nothing a header or a file system could misread).
pub(crate) fn attachment(stem: &str, format: Format) -> String {
    let mut safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(80)
        .collect();
    if safe.trim_matches(['-', '.']).is_empty() {
        safe = "report".to_owned();
    }
    format!("attachment; filename=\"{safe}.{}\"", format.ext())
}

/// The periods a project's report page offers, newest first: each year's quarters,
/// semesters and the year, from the project's start to its end (or today's year), at most
/// ten years.
pub(crate) fn periods(project: &Project, today: Date) -> Vec<Period> {
    let start = project
        .start
        .as_ref()
        .map_or(today.year(), |d| d.value().year());
    let end = project
        .end
        .as_ref()
        .map_or(today.year(), |d| d.value().year())
        .min(today.year())
        .max(start);
    let first = start.max(end - (MAX_YEARS - 1));
    let mut out = Vec::new();
    for year in (first..=end).rev() {
        for text in [
            format!("{year}"),
            format!("{year}-S2"),
            format!("{year}-S1"),
            format!("{year}-Q4"),
            format!("{year}-Q3"),
            format!("{year}-Q2"),
            format!("{year}-Q1"),
        ] {
            if let Ok(period) = text.parse::<Period>() {
                out.push(period);
            }
        }
    }
    out
}

/// The project's report page.
pub(crate) fn project_reports(
    lang: Lang,
    id: DocumentId,
    title: &str,
    periods: &[Period],
    missions: &[(DocumentId, String)],
) -> Markup {
    html! {
        p.kind { a href={ "/doc/" (id) } { (title) } }
        h1 { (lang.t("reports")) " · " (title) }
        section #periodic-reports {
            h2 { (lang.t("periodic_report")) }
            table {
                thead { tr { th { (lang.t("period")) } th { (lang.t("formats")) } } }
                tbody {
                    @for period in periods {
                        tr {
                            td { bdi { (period.to_string()) } }
                            td {
                                @for format in Format::PERIODIC {
                                    a.download href={ "/projects/" (id) "/report/" (period.to_string()) "/" (format.ext()) } {
                                        (format.ext())
                                    }
                                    " "
                                }
                            }
                        }
                    }
                }
            }
        }
        section #mission-reports {
            h2 { (lang.t("mission_report")) }
            @if missions.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for (mission, name) in missions {
                    li {
                        a href={ "/doc/" (mission) } { (name) } " · "
                        @for format in [Format::Md, Format::Html, Format::Docx] {
                            a.download href={ "/doc/" (mission) "/report/" (format.ext()) } { (format.ext()) }
                            " "
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_reduced_to_safe_characters() {
        assert_eq!(
            attachment("PAED-OUJDA-2026-Q3", Format::Xlsx),
            "attachment; filename=\"PAED-OUJDA-2026-Q3.xlsx\""
        );
        assert_eq!(
            attachment("a\"b\r\nc/..", Format::Md),
            "attachment; filename=\"a-b--c-...md\""
        );
        assert_eq!(
            attachment("\"", Format::Md),
            "attachment; filename=\"report.md\""
        );
    }

    #[test]
    fn periods_run_from_the_projects_start_to_today_newest_first() {
        let mut project = Project::default();
        let today = jiff::civil::date(2026, 11, 29);
        let all = periods(&project, today);
        assert_eq!(all.len(), 7);
        assert_eq!(all[0].to_string(), "2026");
        assert_eq!(all[6].to_string(), "2026-Q1");
        project.start = Some(
            serde_json::from_value(serde_json::json!({"values": [{"value": "1990-01-01", "by": "x", "at": "2026-01-01T00:00:00Z", "actor": "00"}]}))
                .unwrap(),
        );
        assert_eq!(periods(&project, today).len(), 70, "ten years at most");
    }
}
