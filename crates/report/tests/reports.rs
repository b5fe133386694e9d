//! The reports of a small fixture programme (`fixture/`), built through the real model API:
//! golden Markdown and HTML (`tests/golden/`; `PASSERELLE_REGENERATE_GOLDEN=1` rewrites them
//! after a deliberate change, then read the diff), the workbook read back by a real reader
//! (calamine), CSV exports, and a submitted report regenerated identically after edits.

mod fixture;

use std::io::Cursor;
use std::path::PathBuf;

use automerge::AutoCommit;
use calamine::{Data, Reader, Xlsx};
use fixture::*;
use passerelle_model::{Currency, Money, Stamp, project};
use passerelle_report::{
    Lang, Period, PeriodicReport, Sources, Submission, Submitted, actions_csv, at_heads,
    mission_document, to_html, to_markdown,
};
use serde_json::json;

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("PASSERELLE_REGENERATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("no golden file {name}; run with PASSERELLE_REGENERATE_GOLDEN=1 to write it")
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from line {}:\nexpected: {:?}\nactual:   {:?}\n(PASSERELLE_REGENERATE_GOLDEN=1 rewrites the golden files)",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

fn sources() -> Sources {
    Sources::from_documents(PROJECT, programme()).unwrap()
}

fn q3() -> Period {
    "2026-Q3".parse().unwrap()
}

#[test]
fn periodic_report_golden_files() {
    let sources = sources();
    let report = PeriodicReport::new(&sources, q3(), None);
    let fr = report.document(Lang::Fr);
    let en = report.document(Lang::En);
    let md_fr = to_markdown(&fr);
    let html_en = to_html(&en);
    golden("periodic-fr.md", &md_fr);
    let md_en = to_markdown(&en);
    golden("periodic-en.md", &md_en);
    golden("periodic-fr.html", &to_html(&fr));
    golden("periodic-en.html", &html_en);

    // Whatever the goldens say, these hold.
    for (n, heading) in [
        "Identification et période",
        "Résumé",
        "Contexte et évolutions",
        "Activités réalisées et prévues",
        "Cadre logique",
        "Partenaires et acteurs",
        "Difficultés et risques",
        "Enseignements",
        "Communication et visibilité",
        "Finances",
        "Programmation de la période suivante",
        "Annexes : comptes rendus de mission",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            md_fr.contains(&format!("## {}. {heading}", n + 1)),
            "section {heading}"
        );
    }
    assert!(
        !md_fr.contains("??") && !html_en.contains("??"),
        "a label is missing"
    );
    // The mission of Q3 is in, the unrelated one and the Q4 one (next period only) are not.
    assert!(md_fr.contains("Mission technique PAED"));
    assert!(!md_fr.contains("Gastronomie"));
    assert!(!md_fr.contains("Hors période"));
    // Current value: the August measurement (25), not Q4's 30.
    assert!(md_fr.contains("25 % (2026-08)"), "{md_fr}");
    // Currencies kept apart: totals per currency, never one sum.
    assert!(md_fr.contains("Total EUR") && md_fr.contains("Total MAD"));
    // Spent to date on Études: 1 000 + 4 000 of 20 000 EUR = 25 %.
    assert!(md_fr.contains("25,0 %"));
    // By funder: AFD's 15 000 of Études' 20 000 take three quarters of its spending, the
    // uncovered rest stays unattributed, and the rule is said under the table.
    assert!(
        md_en.contains("| AFD | EUR | 0.00 EUR | 15,000.00 EUR | 0.00 EUR | 15,000.00 EUR | 3,000.00 EUR | 3,750.00 EUR | 25.0 % |"),
        "{md_en}"
    );
    assert!(md_en.contains(
        "| Unattributed | EUR |  |  |  | 5,000.00 EUR | 1,000.00 EUR | 1,250.00 EUR | 25.0 % |"
    ));
    assert!(
        html_en
            .contains("<p>A budget line&#39;s spending is attributed to its co-financers pro rata")
    );
    // People's markup stays text.
    assert!(md_fr.contains("\\<script\\>"));
    assert!(html_en.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html_en.contains("<script"));
    // Arabic right-to-left; nothing fetched.
    assert!(
        html_en.contains("<span lang=\"ar\" dir=\"rtl\">مخطط العمل للطاقة المستدامة لوجدة</span>")
    );
    assert!(html_en.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    for fetch in ["src=", "href=", "@import", "url("] {
        assert!(!html_en.contains(fetch), "{fetch}");
    }
}

#[test]
fn mission_report_golden_files() {
    let sources = sources();
    let mission = sources
        .missions
        .iter()
        .find(|m| m.id == MISSION_Q3)
        .unwrap();
    let fr = mission_document(mission, Lang::Fr);
    let md = to_markdown(&fr);
    golden("mission-fr.md", &md);
    golden("mission-fr.html", &to_html(&fr));
    for needle in [
        "Claire Martin",
        "Visite de l'hôtel de ville",
        "Calendrier des audits validé",
        "Lancer la consultation en octobre",
        "Envoyer le cahier des charges",
        "2026-09-25",
        "Samira",
    ] {
        assert!(md.contains(needle), "{needle}");
    }
}

#[test]
fn an_empty_project_still_has_every_section_saying_there_is_nothing() {
    let s = fixture::at("2026-06-01T08:00:00Z");
    let doc = project::new_project(&project::NewProject::new("VIDE", "Projet vide"), &s).unwrap();
    let sources = Sources::from_documents("p", [("p".to_owned(), doc)]).unwrap();
    let md = to_markdown(
        &PeriodicReport::new(&sources, "2026".parse().unwrap(), None).document(Lang::En),
    );
    assert_eq!(md.matches("\n## ").count(), 12, "{md}");
    assert_eq!(
        md.matches("_Nothing to report for this period._").count(),
        6,
        "{md}"
    );
    for needle in [
        "No mission linked",
        "no indicator yet",
        "No partner recorded",
        "No budget line",
        "No co-financing",
    ] {
        assert!(md.contains(needle), "{needle}: {md}");
    }
}

#[test]
fn workbook_reads_back_with_numbers_as_numbers_and_dates_as_dates() {
    let sources = sources();
    let report = PeriodicReport::new(&sources, q3(), None);
    let bytes = report.workbook(Lang::Fr).unwrap();
    assert_eq!(
        bytes,
        report.workbook(Lang::Fr).unwrap(),
        "same bytes twice (no clock)"
    );
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    assert_eq!(
        book.sheet_names(),
        [
            "Cadre logique",
            "Budget par rubrique",
            "Cofinancements",
            "Dépenses",
            "Missions"
        ]
    );

    let logframe = book.worksheet_range("Cadre logique").unwrap();
    assert_eq!(
        logframe.get((0, 2)),
        Some(&Data::String("Indicateur".into()))
    );
    assert_eq!(
        logframe.get((1, 2)),
        Some(&Data::String("Bâtiments audités".into()))
    );
    assert_eq!(
        logframe.get((1, 5)),
        Some(&Data::Float(40.0)),
        "target is a number"
    );
    assert_eq!(
        logframe.get((1, 6)),
        Some(&Data::Float(25.0)),
        "current value is a number"
    );

    let budget = book.worksheet_range("Budget par rubrique").unwrap();
    let rows: Vec<Vec<Data>> = budget.rows().map(|r| r.to_vec()).collect();
    let etudes = rows
        .iter()
        .find(|r| r[0] == Data::String("Études".into()))
        .unwrap();
    assert_eq!(etudes[1], Data::String("EUR".into()));
    assert_eq!(etudes[2], Data::Float(20_000.0));
    assert_eq!(etudes[3], Data::Float(4_000.0), "spent in the period");
    assert_eq!(etudes[4], Data::Float(5_000.0), "spent to its end");
    assert_eq!(etudes[5], Data::Float(0.25));
    let total_mad = rows
        .iter()
        .find(|r| r[0] == Data::String("Total MAD".into()))
        .unwrap();
    assert_eq!(total_mad[2], Data::Float(80_000.0));
    assert_eq!(
        total_mad[4],
        Data::Float(12_000.0),
        "October's expense is after the period"
    );

    let funders = book.worksheet_range("Cofinancements").unwrap();
    let afd: Vec<Vec<Data>> = funders
        .rows()
        .filter(|r| r[0] == Data::String("AFD".into()))
        .map(|r| r.to_vec())
        .collect();
    assert_eq!(
        afd.len(),
        2,
        "AFD in EUR and in MAD: two rows, never summed"
    );
    assert_eq!(
        funders.get((0, 5)),
        Some(&Data::String("Prévu (total des parts)".into()))
    );
    assert_eq!(
        funders.get((0, 8)),
        Some(&Data::String("% consommé".into()))
    );
    // Études: 20 000 EUR planned, AFD's share 15 000; 4 000 spent in Q3, 5 000 to its end.
    let afd_eur = &afd[0];
    assert_eq!(afd_eur[1], Data::String("EUR".into()));
    assert_eq!(afd_eur[5], Data::Float(15_000.0), "planned, a number");
    assert_eq!(
        afd_eur[6],
        Data::Float(3_000.0),
        "three quarters of Q3's 4 000"
    );
    assert_eq!(afd_eur[7], Data::Float(3_750.0), "three quarters of 5 000");
    assert_eq!(afd_eur[8], Data::Float(0.25), "a percent is a number");
    let rows: Vec<Vec<Data>> = funders.rows().map(|r| r.to_vec()).collect();
    let row = |name: &str, currency: &str| {
        rows.iter()
            .find(|r| r[0] == Data::String(name.into()) && r[1] == Data::String(currency.into()))
            .unwrap_or_else(|| panic!("no row {name} {currency}: {rows:?}"))
    };
    // The 5 000 EUR the AFD share does not cover keep a quarter of the spending.
    let uncovered = row("Non attribué", "EUR");
    assert_eq!(uncovered[2], Data::Empty, "nothing requested by nobody");
    assert_eq!(uncovered[5], Data::Float(5_000.0));
    assert_eq!(uncovered[7], Data::Float(1_250.0));
    // Formation, 80 000 MAD: the commune's 50 000 take 5/8 of 12 000, AFD's 20 000 a quarter.
    assert_eq!(row("Commune d'Oujda", "MAD")[7], Data::Float(7_500.0));
    assert_eq!(row("AFD", "MAD")[7], Data::Float(3_000.0));
    assert_eq!(row("Non attribué", "MAD")[7], Data::Float(1_500.0));
    // Each currency's total spent is the budget sheet's, never summed across currencies.
    assert_eq!(row("Total EUR", "EUR")[7], Data::Float(5_000.0));
    let total_mad_funders = row("Total MAD", "MAD");
    assert_eq!(total_mad_funders[5], total_mad[2]);
    assert_eq!(total_mad_funders[7], total_mad[4]);
    assert_eq!(total_mad_funders[8], Data::Float(0.15));
    // The rule is stated under the table.
    assert!(
        rows.iter()
            .any(|r| matches!(&r[0], Data::String(s) if s.contains("au prorata de leurs parts"))),
        "the attribution rule is in the sheet"
    );

    let expenses = book.worksheet_range("Dépenses").unwrap();
    let first = expenses.get((1, 0)).unwrap();
    let Data::DateTime(date) = first else {
        panic!("the date column holds {first:?}, not a date");
    };
    assert_eq!(date.as_f64(), 46152.0, "2026-05-10 as an Excel serial date");
    // A payee that looks like a formula is a string cell, never a formula.
    assert_eq!(
        expenses.get((1, 3)),
        Some(&Data::String("=HYPERLINK(\"x\")".into()))
    );
    assert_eq!(expenses.get((1, 4)), Some(&Data::Float(1_000.0)));

    let missions = book.worksheet_range("Missions").unwrap();
    assert!(
        matches!(missions.get((1, 2)), Some(Data::DateTime(_))),
        "mission start is a date"
    );
    assert_eq!(missions.height(), 2, "header and the Q3 mission");
}

#[test]
fn actions_export_as_csv_with_formulas_neutralised() {
    let sources = sources();
    let csv = String::from_utf8(actions_csv(&sources.missions).unwrap()).unwrap();
    let csv = csv
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark for Excel");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("mission_id,mission,action_id,action,owner,due,status")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].starts_with("mission-q3,Mission technique PAED,"));
    assert!(rows[0].ends_with(",Envoyer le cahier des charges,Samira,2026-09-25,open"));
}

/// Heads of every document, as `report submit` records them.
fn submit(documents: &mut [(String, AutoCommit)], sources: &Sources, at: &str) -> Submission {
    let read: Vec<String> = sources.read_ids().into_iter().map(str::to_owned).collect();
    Submission {
        project: PROJECT.into(),
        period: q3(),
        by: "samira".into(),
        at: at.parse().unwrap(),
        sources: documents
            .iter_mut()
            .filter(|(id, _)| read.contains(id))
            .map(|(id, doc)| (id.clone(), doc.get_heads()))
            .collect(),
    }
}

fn regenerate(
    documents: &mut [(String, AutoCommit)],
    submission: &Submission,
) -> (String, String, Vec<u8>) {
    let at: Vec<(String, AutoCommit)> = documents
        .iter_mut()
        .filter_map(|(id, doc)| {
            let heads = submission.sources.get(id)?;
            Some((id.clone(), at_heads(doc, heads).unwrap()))
        })
        .collect();
    let sources = Sources::from_documents(&submission.project, at).unwrap();
    let submitted = Submitted {
        report_id: "report-1".into(),
        by: submission.by.clone(),
        at: submission.at,
    };
    let report = PeriodicReport::new(&sources, submission.period, Some(&submitted));
    (
        to_markdown(&report.document(Lang::Fr)),
        to_html(&report.document(Lang::En)),
        report.workbook(Lang::Fr).unwrap(),
    )
}

#[test]
fn a_submitted_report_regenerates_identically_after_later_edits() {
    let mut documents = programme();
    let sources = Sources::from_documents(PROJECT, documents.clone()).unwrap();
    let submission = submit(&mut documents, &sources, "2026-10-05T08:00:00Z");
    assert_eq!(submission.sources.len(), 7, "all but the unrelated mission");
    // The record survives the trip through its JSON document.
    let stored = Submission::from_json(&submission.to_json()).unwrap();
    assert_eq!(stored, submission);
    let before = regenerate(&mut documents, &stored);
    assert!(
        before
            .0
            .contains("soumis le 2026-10-05 08:00 UTC par samira (rapport report-1)")
    );

    // Later: the context is rewritten, a Q3 expense and measurement are added late, the
    // mission's status changes, a new Q3 mission is linked.
    let later = Stamp::new("claire", "2026-10-20T08:00:00Z".parse().unwrap());
    let (_, p) = documents.iter_mut().find(|(id, _)| id == PROJECT).unwrap();
    passerelle_model::set(
        p,
        &"context".parse().unwrap(),
        &json!("Tout autre chose."),
        &later,
    )
    .unwrap();
    let project =
        <passerelle_model::Project as passerelle_model::TypedDocument>::read(&*p).unwrap();
    let line = project.budget[0].id.clone();
    let indicator = project.logframe[0].indicators[0].id.clone();
    project::add_expense(
        p,
        &line,
        jiff::civil::Date::constant(2026, 9, 30),
        Money::new(99_900, Currency::Eur),
        None,
        &later,
    )
    .unwrap();
    project::add_measurement(p, &indicator, "2026-Q3", "33", None, &later).unwrap();
    let (_, m) = documents
        .iter_mut()
        .find(|(id, _)| id == MISSION_Q3)
        .unwrap();
    passerelle_model::set(m, &"status".parse().unwrap(), &json!("cancelled"), &later).unwrap();
    let (_, other) = documents
        .iter_mut()
        .find(|(id, _)| id == MISSION_OTHER)
        .unwrap();
    passerelle_model::add_member(other, &"projects".parse().unwrap(), PROJECT, &later).unwrap();

    let after = regenerate(&mut documents, &stored);
    assert_eq!(after.0, before.0, "Markdown");
    assert_eq!(after.1, before.1, "HTML");
    assert_eq!(after.2, before.2, "workbook bytes");

    // The live report does see the edits.
    let live_sources = Sources::from_documents(PROJECT, documents.clone()).unwrap();
    let live = to_markdown(&PeriodicReport::new(&live_sources, q3(), None).document(Lang::Fr));
    assert!(live.contains("Tout autre chose.") && live.contains("Gastronomie"));
    assert!(!before.0.contains("Tout autre chose.") && !before.0.contains("Gastronomie"));
}

#[test]
fn bad_submissions_are_refused_field_by_field() {
    let mut documents = programme();
    let sources = Sources::from_documents(PROJECT, documents.clone()).unwrap();
    let good = submit(&mut documents, &sources, "2026-10-05T08:00:00Z").to_json();
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("type", json!("project")),
        ("period", json!("2026-Q9")),
        ("submitted_at", json!("yesterday")),
        ("sources", json!({"proj-paed": ["not-a-hash"]})),
        ("sources", json!({})),
        ("project", json!("x".repeat(500))),
    ];
    for (field, value) in cases {
        let mut bad = good.clone();
        bad[field] = value;
        let error = Submission::from_json(&bad).unwrap_err().to_string();
        assert!(error.contains(field), "{field}: {error}");
    }
    // A head this replica lacks is an error, not a silently different report.
    let mut other = passerelle_model::project::new_project(
        &project::NewProject::new("X", "x"),
        &fixture::at("2026-01-01T00:00:00Z"),
    )
    .unwrap();
    let (_, p) = documents.iter_mut().find(|(id, _)| id == PROJECT).unwrap();
    assert!(at_heads(p, &other.get_heads()).is_err());
}

#[test]
fn word_document_holds_every_section_and_the_same_bytes_twice() {
    let sources = sources();
    let report = PeriodicReport::new(&sources, q3(), None);
    let bytes = passerelle_report::to_docx(&report.document(Lang::Fr)).unwrap();
    assert_eq!(
        bytes,
        passerelle_report::to_docx(&report.document(Lang::Fr)).unwrap(),
        "same bytes twice"
    );
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("word/document.xml").unwrap(), &mut xml)
        .unwrap();
    for needle in [
        "1. Identification et période",
        "12. Annexes : comptes rendus de mission",
        "مخطط العمل للطاقة المستدامة لوجدة",
        "Claire Martin",
        "20\u{202f}000,00 EUR",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
    ] {
        assert!(xml.contains(needle), "`{needle}` not in document.xml");
    }
    assert!(!xml.contains("<script>"));
    assert!(
        xml.contains("w:pStyle w:val=\"Heading1\""),
        "Word heading styles"
    );
    // The funders' table with spending attributed and the unattributed remainder.
    for needle in [
        "3\u{202f}750,00 EUR",
        "Non attribué",
        "au prorata de leurs parts",
    ] {
        assert!(xml.contains(needle), "`{needle}` not in document.xml");
    }

    // Paragraphs (`<w:p …>` up to `</w:p>`) of mostly Arabic text are right-to-left, others not.
    let paragraphs: Vec<&str> = xml
        .split("<w:p ")
        .skip(1)
        .map(|p| p.split("</w:p>").next().unwrap_or(p))
        .collect();
    let arabic_title = paragraphs
        .iter()
        .find(|p| p.contains("Titre (ar)"))
        .expect("the Arabic title's paragraph");
    assert!(arabic_title.contains("<w:bidi />"), "{arabic_title}");
    let french_title = paragraphs
        .iter()
        .find(|p| p.contains("Titre (fr)"))
        .expect("the French title's paragraph");
    assert!(!french_title.contains("<w:bidi"), "{french_title}");
    let identification = paragraphs
        .iter()
        .find(|p| p.contains("1. Identification et période"))
        .unwrap();
    assert!(!identification.contains("<w:bidi"));
}

#[test]
fn points_to_check_name_the_ministrys_monitoring_share_and_incomplete_indicators() {
    use passerelle_model::{CofinancingStatus, Level};
    let s = fixture::at("2026-06-01T08:00:00Z");
    let eur = |units: i64| Money::new(units * 100, Currency::Eur);
    let mad = |units: i64| Money::new(units * 100, Currency::Mad);
    let mut p =
        project::new_project(&project::NewProject::new("SUIVI", "Projet suivi"), &s).unwrap();
    let works = project::add_budget_line(&mut p, "Travaux", None, Some(eur(95_000)), &s).unwrap();
    project::add_budget_line(&mut p, "Suivi et évaluation", None, Some(eur(5_000)), &s).unwrap();
    // In MAD, 10 % on an evaluation (named by its label): that currency is fine.
    project::add_budget_line(
        &mut p,
        "Études",
        Some("évaluation finale"),
        Some(mad(1_000)),
        &s,
    )
    .unwrap();
    project::add_budget_line(&mut p, "Formation", None, Some(mad(9_000)), &s).unwrap();
    project::add_cofinancing(
        &mut p,
        &works,
        "MEAE (DAECT)",
        eur(30_000),
        CofinancingStatus::Granted,
        &s,
    )
    .unwrap();
    let result = project::add_result(&mut p, Level::Outcome, "Des bâtiments sobres", &s).unwrap();
    project::add_indicator(
        &mut p,
        &result,
        &project::NewIndicator {
            name: "Consommation".into(),
            unit: Some("kWh".into()),
            baseline: Some("1000".into()),
            target: None,
            source: None,
        },
        &s,
    )
    .unwrap();

    let points_of = |p: &AutoCommit| {
        let sources = Sources::from_documents("p", [("p".to_owned(), p.clone())]).unwrap();
        let report = PeriodicReport::new(&sources, q3(), None);
        let md = to_markdown(&report.document(Lang::En));
        (report.points_to_check(Lang::En), md)
    };
    let (points, md) = points_of(&p);
    assert_eq!(
        points,
        [
            "MEAE (DAECT) co-finances the project and asks for at least 7 % of the budget on \
             monitoring and evaluation: monitoring or evaluation lines are 5.0 % of the planned \
             budget (5,000.00 EUR of 100,000.00 EUR).",
            "Indicator \"Consommation\" has no target.",
            "Indicator \"Consommation\" has no value measured up to the end of 2026-Q3.",
        ]
    );
    assert!(md.contains("## Points to check\n"), "{md}");
    assert!(
        md.contains("- Indicator \"Consommation\" has no target."),
        "{md}"
    );
    assert_eq!(
        md.matches("\n## ").count(),
        13,
        "12 sections and the points"
    );

    // 2 000 EUR more on evaluation: 7 000 of 102 000 is 6.9 %, still short; 7 500 of
    // 102 500 is 7.3 %, enough.
    project::add_budget_line(&mut p, "Évaluation externe", None, Some(eur(2_000)), &s).unwrap();
    assert!(
        points_of(&p).0[0].contains("6.9 %"),
        "{:?}",
        points_of(&p).0
    );
    project::add_budget_line(&mut p, "M&E", None, Some(eur(500)), &s).unwrap();
    let (points, _) = points_of(&p);
    assert_eq!(points.len(), 2, "{points:?}");
    assert!(points.iter().all(|p| p.starts_with("Indicator")));

    // Without the ministry among the funders, its rule is not checked: the fixture's
    // budget (AFD, the commune) has no monitoring line and no point about it.
    let sources = sources();
    let points = PeriodicReport::new(&sources, q3(), None).points_to_check(Lang::Fr);
    assert_eq!(
        points,
        ["L'indicateur « Agents formés » n'a aucune valeur mesurée jusqu'à la fin de 2026-Q3."]
    );
}
