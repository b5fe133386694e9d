//! `passerelle report …` and `passerelle export csv …` end to end: the real binary on a real
//! replica on disk, the programme built with the CLI's own verbs. Reports need no server.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::programme_cli;

/// `passerelle --home HOME ARGS` as samira, with no locale (French by default).
fn command(home: &Path, args: &[&str]) -> Command {
    programme_cli::command(home, "samira", args)
}

fn run(home: &Path, args: &[&str]) -> Output {
    command(home, args).output().unwrap()
}

fn ok_bytes(home: &Path, args: &[&str]) -> Vec<u8> {
    let output = run(home, args);
    assert!(
        output.status.success(),
        "passerelle {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn ok(home: &Path, args: &[&str]) -> String {
    programme_cli::ok(home, "samira", args)
}

fn created(home: &Path, args: &[&str]) -> String {
    programme_cli::created(home, "samira", args)
}

/// Expects exit code 1 and one line on stderr holding every needle.
fn fails(home: &Path, args: &[&str], needles: &[&str]) {
    programme_cli::fails(home, args, needles);
}

/// Today (UTC, as reports date journal entries) and its quarter, `2026-Q4`.
fn today_and_quarter() -> (String, String) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let quarter = (today.month() - 1) / 3 + 1;
    (today.to_string(), format!("{}-Q{quarter}", today.year()))
}

/// A project with an indicator measured this quarter, a mission of today linked to it with
/// an action, a journal entry tagged as a difficulty; returns the ids of the mission and
/// of the project.
fn programme(home: &Path, today: &str, quarter: &str) -> (String, String) {
    let project = created(
        home,
        &[
            "project",
            "new",
            "--code",
            "PAED",
            "--title",
            "Plan énergie",
            "--title-ar",
            "خطة الطاقة",
            "--status",
            "ongoing",
        ],
    );
    let result = created(
        home,
        &["project", "result", "add", "PAED", "Bâtiments rénovés"],
    );
    ok(
        home,
        &[
            "project",
            "indicator",
            "add",
            "PAED",
            "Bâtiments audités",
            "--result",
            &result,
            "--baseline",
            "0",
            "--target",
            "12",
        ],
    );
    ok(
        home,
        &[
            "project",
            "measure",
            "PAED",
            "Bâtiments audités",
            "--period",
            quarter,
            "--value",
            "4",
        ],
    );
    let mission = created(
        home,
        &[
            "mission",
            "new",
            "--direction",
            "lille-to-oujda",
            "--title",
            "Mission PAED",
            "--start",
            today,
            "--end",
            today,
            "--project",
            "PAED",
        ],
    );
    ok(home, &["mission", "edit", &mission, "--status", "done"]);
    ok(
        home,
        &[
            "mission",
            "delegation",
            "add",
            &mission,
            "Claire Martin",
            "--org",
            "Ville de Lille",
        ],
    );
    ok(
        home,
        &[
            "mission",
            "action",
            "add",
            &mission,
            "Envoyer le compte rendu",
            "--owner",
            "samira",
            "--due",
            today,
        ],
    );
    ok(
        home,
        &[
            "journal",
            "add",
            "Retard <b>signature</b>",
            "--project",
            &project,
            "--tag",
            "difficulté",
        ],
    );
    (mission, project)
}

#[test]
fn reports_of_a_replica_in_every_format_and_a_submitted_report_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let (today, quarter) = today_and_quarter();
    let (mission, project) = programme(home, &today, &quarter);

    let md = ok(
        home,
        &[
            "report",
            "periodic",
            "--project",
            "PAED",
            "--period",
            &quarter,
        ],
    );
    assert!(
        md.starts_with(&format!(
            "# Rapport périodique — {quarter} — Plan énergie / خطة الطاقة"
        )),
        "{md}"
    );
    assert_eq!(md.matches("\n## ").count(), 12, "{md}");
    for needle in [
        "Mission PAED",
        "Bâtiments audités",
        "4 (",
        "Retard \\<b\\>signature\\</b\\>",
        "Missions de la période : 1 réalisée(s) sur 1.",
        "Aucune ligne budgétaire",
    ] {
        assert!(md.contains(needle), "`{needle}` not in:\n{md}");
    }

    let html = ok(
        home,
        &[
            "--lang",
            "en",
            "report",
            "periodic",
            "--project",
            "PAED",
            "--period",
            &quarter,
            "--format",
            "html",
        ],
    );
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.contains("<span lang=\"ar\" dir=\"rtl\">خطة الطاقة</span>"));
    assert!(html.contains("Retard &lt;b&gt;signature&lt;/b&gt;") && !html.contains("<b>"));
    assert!(html.contains("Plan for the next period"));

    // The workbook: to a pipe, or to a file.
    let xlsx = ok_bytes(
        home,
        &[
            "report",
            "periodic",
            "--project",
            "PAED",
            "--period",
            &quarter,
            "--format",
            "xlsx",
        ],
    );
    assert!(xlsx.starts_with(b"PK\x03\x04"), "a zip (xlsx) file");
    let file = home.join("budget.xlsx");
    ok(
        home,
        &[
            "report",
            "periodic",
            "--project",
            "PAED",
            "--period",
            &quarter,
            "--format",
            "xlsx",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&file).unwrap(), xlsx, "same bytes both ways");

    let docx = ok_bytes(
        home,
        &[
            "report",
            "periodic",
            "--project",
            "PAED",
            "--period",
            &quarter,
            "--format",
            "docx",
        ],
    );
    assert!(docx.starts_with(b"PK\x03\x04"), "a zip (docx) file");

    let mission_md = ok(home, &["report", "mission", &mission]);
    for needle in [
        "Claire Martin",
        "Ville de Lille",
        "Envoyer le compte rendu",
        "samira",
        &today,
    ] {
        assert!(
            mission_md.contains(needle),
            "`{needle}` not in:\n{mission_md}"
        );
    }
    let mission_html = ok(home, &["report", "mission", &mission, "--format", "html"]);
    assert!(mission_html.contains("<h2>Délégation</h2>"));

    // Submit, edit, regenerate: the submitted version does not move.
    let report = created(
        home,
        &[
            "report",
            "submit",
            "--project",
            "PAED",
            "--period",
            &quarter,
        ],
    );
    let frozen = ok(home, &["report", "show", &report]);
    assert!(frozen.contains(&format!("(rapport {report})")), "{frozen}");
    let frozen_xlsx = ok_bytes(home, &["report", "show", &report, "--format", "xlsx"]);
    ok(
        home,
        &["project", "edit", "PAED", "--context", "Tout a changé."],
    );
    ok(
        home,
        &["mission", "edit", &mission, "--status", "cancelled"],
    );
    ok(
        home,
        &[
            "journal",
            "add",
            "Nouvelle difficulté",
            "--project",
            &project,
            "--tag",
            "risque",
        ],
    );
    let again = ok(
        home,
        &[
            "report",
            "periodic",
            "--project",
            "PAED",
            "--period",
            &quarter,
            "--submitted",
        ],
    );
    assert_eq!(
        again, frozen,
        "the submitted report regenerates identically"
    );
    assert_eq!(ok(home, &["report", "show", &report]), frozen);
    assert_eq!(
        ok_bytes(home, &["report", "show", &report, "--format", "xlsx"]),
        frozen_xlsx
    );
    let live = ok(
        home,
        &[
            "report",
            "periodic",
            "--project",
            "PAED",
            "--period",
            &quarter,
        ],
    );
    assert!(live.contains("Tout a changé.") && live.contains("Nouvelle difficulté"));
    assert!(!frozen.contains("Tout a changé.") && !frozen.contains("Nouvelle difficulté"));
    // The report is a document of the replica (it syncs like any other).
    let docs = ok(home, &["docs"]);
    assert!(
        docs.lines()
            .any(|l| l.contains(&report) && l.contains("report")),
        "{docs}"
    );

    // CSV exports.
    let csv = ok(home, &["export", "csv", "actions"]);
    let csv = csv.strip_prefix('\u{feff}').unwrap();
    assert!(csv.starts_with("mission_id,mission,action_id,action,owner,due,status\n"));
    assert!(csv.contains(",Envoyer le compte rendu,samira,"));
    let projects = home.join("projects.csv");
    ok(
        home,
        &[
            "export",
            "csv",
            "projects",
            "--output",
            projects.to_str().unwrap(),
        ],
    );
    let projects = std::fs::read_to_string(projects).unwrap();
    assert!(
        projects.contains(",PAED,Plan énergie,خطة الطاقة,,ongoing,"),
        "{projects}"
    );
    // The document export is unchanged.
    let json = ok(home, &["export", &mission, "--format", "json"]);
    assert!(json.contains("Mission PAED"));
}

#[test]
fn bad_input_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let (today, quarter) = today_and_quarter();
    let (mission, _) = programme(home, &today, &quarter);
    for period in ["2026-Q5", "2026-S3", "26-Q1", "2026-05", "Q3", ""] {
        fails(
            home,
            &[
                "report",
                "periodic",
                "--project",
                "PAED",
                "--period",
                period,
            ],
            &["--period", period, "AAAA-TN"],
        );
    }
    fails(
        home,
        &[
            "--lang",
            "en",
            "report",
            "submit",
            "--project",
            "PAED",
            "--period",
            "2026-Q0",
        ],
        &["`2026-Q0` is not a period"],
    );
    fails(
        home,
        &[
            "report",
            "periodic",
            "--project",
            "NOPE",
            "--period",
            &quarter,
        ],
        &["--project", "NOPE"],
    );
    fails(home, &["report", "mission", "PAED"], &["PAED"]);
    fails(
        home,
        &[
            "report",
            "periodic",
            "--project",
            "PAED",
            "--period",
            "2020-Q1",
            "--submitted",
        ],
        &["aucun rapport soumis", "2020-Q1"],
    );
    fails(
        home,
        &["report", "show", &mission],
        &["n'est pas un rapport soumis"],
    );
    fails(home, &["report", "show", "not-an-id"], &["not-an-id"]);
    fails(
        home,
        &["export", "csv", "budgets"],
        &["budgets", "projects, actors, calls"],
    );
    fails(home, &["export", "csv"], &["projects, actors, calls"]);
    let empty = tempfile::tempdir().unwrap();
    fails(
        empty.path(),
        &[
            "report",
            "periodic",
            "--project",
            "PAED",
            "--period",
            &quarter,
        ],
        &["passerelle init"],
    );
}
