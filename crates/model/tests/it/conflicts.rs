//! Concurrent writes of single values are conflicts: listed with who set each value and
//! when, gone once resolved, the resolution recorded in the document.

use crate::common;

use common::{at, claire, p, replica, samira, sync};
use jiff::civil::date;
use passerelle_model::{
    Direction, MissionStatus, ModelError, Project, Stamp, TypedDocument, conflicts, mission,
    project, resolutions, resolve, set,
};
use passerelle_model::{Mission, funding_call};
use serde_json::json;

fn mission_doc() -> automerge::AutoCommit {
    mission::new_mission(
        &mission::NewMission {
            direction: Direction::OujdaToLille,
            title: vec![("fr".into(), "Retour".into())],
            start: None,
            end: None,
        },
        &samira(),
    )
    .unwrap()
}

#[test]
fn concurrent_status_and_due_dates_are_conflicts_until_resolved() -> anyhow::Result<()> {
    let mut oujda = mission_doc();
    let action = mission::add_action(
        &mut oujda,
        "Confirmer la salle",
        Some("samira"),
        Some(date(2026, 5, 2)),
        &samira(),
    )?;
    let mut lille = replica(&mut oujda);
    set(&mut oujda, &p("status"), &json!("planned"), &samira())?;
    set(&mut lille, &p("status"), &json!("confirmed"), &claire())?;
    let due = p(&format!("actions[{action}].due"));
    set(&mut oujda, &due, &json!("2026-05-04"), &samira())?;
    set(&mut lille, &due, &json!("2026-05-06"), &claire())?;
    // The same value set on both sides is no conflict.
    set(&mut oujda, &p("start"), &json!("2026-05-10"), &samira())?;
    set(&mut lille, &p("start"), &json!("2026-05-10"), &claire())?;
    sync(&mut oujda, &mut lille);

    let found = conflicts(&oujda)?;
    assert_eq!(
        found,
        conflicts(&lille)?,
        "both replicas list the same conflicts"
    );
    let paths: Vec<String> = found.iter().map(|c| c.path.to_string()).collect();
    assert_eq!(
        paths,
        vec!["status".to_owned(), format!("actions[{action}].due")]
    );
    let status = &found[0];
    assert_eq!(status.doc_type, "mission");
    let mut who: Vec<_> = status
        .values
        .iter()
        .map(|v| (v.value.as_str(), v.by.as_str(), v.at))
        .collect();
    who.sort();
    assert_eq!(
        who,
        vec![
            ("confirmed", "claire", Some(at("2026-03-02T10:30:00Z"))),
            ("planned", "samira", Some(at("2026-03-02T09:00:00Z")))
        ]
    );
    assert!(status.values.iter().all(|v| !v.actor.is_empty()));
    // The typed view shows one value and says it is in conflict.
    let typed = Mission::read(&oujda)?;
    assert!(typed.status.as_ref().unwrap().is_conflicted());
    assert!(!typed.start.as_ref().unwrap().is_conflicted());

    // Samira resolves the status; the resolution is recorded and travels to Lille.
    let resolver = Stamp::new("samira", at("2026-03-03T08:00:00Z"));
    let resolution = resolve(&mut oujda, &p("status"), "confirmed", &resolver)?;
    assert_eq!(resolution.replaced.len(), 2);
    sync(&mut oujda, &mut lille);
    let left = conflicts(&lille)?;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].path, due);
    assert_eq!(
        *Mission::read(&lille)?.status.unwrap().value(),
        MissionStatus::Confirmed
    );
    let recorded = resolutions(&lille)?;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, p("status"));
    assert_eq!(recorded[0].value, "confirmed");
    assert_eq!(recorded[0].by, "samira");
    assert_eq!(recorded[0].at, at("2026-03-03T08:00:00Z"));
    let mut replaced = recorded[0].replaced.clone();
    replaced.sort();
    assert_eq!(replaced, vec!["confirmed".to_owned(), "planned".to_owned()]);

    // A third value may be chosen; then nothing is left.
    resolve(&mut lille, &due, "2026-05-05", &claire())?;
    assert!(conflicts(&lille)?.is_empty());
    assert!(matches!(
        resolve(&mut lille, &due, "2026-05-05", &claire()),
        Err(ModelError::NoConflict { .. })
    ));
    Ok(())
}

#[test]
fn concurrent_amounts_and_targets_are_conflicts_and_resolution_is_checked() -> anyhow::Result<()> {
    let mut a = project::new_project(
        &project::NewProject::new("REGIE", "Régie de quartier"),
        &samira(),
    )?;
    let line = project::add_budget_line(
        &mut a,
        "Formation",
        None,
        Some("5000 EUR".parse()?),
        &samira(),
    )?;
    let result = project::add_result(
        &mut a,
        passerelle_model::Level::Output,
        "Jeunes formés",
        &samira(),
    )?;
    let indicator = project::add_indicator(
        &mut a,
        &result,
        &project::NewIndicator {
            name: "Jeunes formés".into(),
            target: Some("30".into()),
            ..Default::default()
        },
        &samira(),
    )?;
    let mut b = replica(&mut a);
    let planned = p(&format!("budget[{line}].planned"));
    set(&mut a, &planned, &json!("5500 EUR"), &samira())?;
    set(&mut b, &planned, &json!("55000 MAD"), &claire())?;
    let target = p(&format!(
        "logframe[{result}].indicators[{indicator}].target"
    ));
    set(&mut a, &target, &json!("35"), &samira())?;
    set(&mut b, &target, &json!("40"), &claire())?;
    sync(&mut a, &mut b);
    let found = conflicts(&a)?;
    assert_eq!(
        found.iter().map(|c| c.path.clone()).collect::<Vec<_>>(),
        vec![target.clone(), planned.clone()]
    );
    // The chosen value is checked like any input.
    let bad = resolve(&mut a, &planned, "5500", &samira()).unwrap_err();
    assert_eq!(
        bad.to_string(),
        format!(
            "project.budget[{line}].planned: expected an amount with its currency, like 1250.00 EUR or 300 MAD"
        )
    );
    resolve(&mut a, &planned, "5500 EUR", &samira())?;
    resolve(&mut a, &target, "40", &samira())?;
    sync(&mut a, &mut b);
    assert!(conflicts(&b)?.is_empty());
    let merged = Project::read(&b)?;
    assert_eq!(
        merged.budget[0]
            .planned
            .as_ref()
            .unwrap()
            .value()
            .to_string(),
        "5500.00 EUR"
    );
    assert_eq!(resolutions(&b)?.len(), 2);
    Ok(())
}

#[test]
fn concurrent_resolutions_with_different_values_conflict_again() -> anyhow::Result<()> {
    let mut a =
        funding_call::new_funding_call("Appel", "UE", Some(date(2026, 6, 1)), None, &samira())?;
    let mut b = replica(&mut a);
    set(&mut a, &p("deadline"), &json!("2026-06-15"), &samira())?;
    set(&mut b, &p("deadline"), &json!("2026-06-20"), &claire())?;
    sync(&mut a, &mut b);
    resolve(&mut a, &p("deadline"), "2026-06-15", &samira())?;
    resolve(&mut b, &p("deadline"), "2026-06-20", &claire())?;
    sync(&mut a, &mut b);
    let found = conflicts(&a)?;
    assert_eq!(
        found.len(),
        1,
        "two people resolved differently: still a conflict"
    );
    assert_eq!(resolutions(&a)?.len(), 2, "both resolutions recorded");
    Ok(())
}
