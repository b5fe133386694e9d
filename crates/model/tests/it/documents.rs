//! For each document type: two replicas edit text, lists, sets and single values
//! concurrently; merged, they give the expected document.

use crate::common;

use common::{at, claire, p, replica, samira, sync};
use jiff::civil::date;
use passerelle_model::{
    ActionStatus, ActorKind, CallStatus, ContactKind, Currency, Direction, FundingCall, Journal,
    LegalBasis, Level, ModelError, Money, NewsItem, NewsLanguage, Place, Project, Stamp,
    TypedDocument, actor, conflicts, funding_call, journal, mission, news_item, project,
};
use passerelle_model::{Actor, Mission, add_member, move_item, remove_item, set};
use serde_json::json;

fn new_mission() -> automerge::AutoCommit {
    mission::new_mission(
        &mission::NewMission {
            direction: Direction::LilleToOujda,
            title: vec![
                ("fr".into(), "Mission PAED".into()),
                ("ar".into(), "بعثة المخطط".into()),
            ],
            start: Some(date(2026, 5, 11)),
            end: Some(date(2026, 5, 15)),
        },
        &samira(),
    )
    .unwrap()
}

#[test]
fn mission_concurrent_minutes_agenda_and_actions_merge() -> anyhow::Result<()> {
    let mut oujda = new_mission();
    let meeting = mission::add_meeting(
        &mut oujda,
        "Comité de pilotage",
        &["Samira", "Claire"],
        &samira(),
    )?;
    set(
        &mut oujda,
        &p(&format!("meetings[{meeting}].minutes")),
        &json!("Ouverture. Points divers."),
        &samira(),
    )?;
    let visit = mission::add_agenda_item(
        &mut oujda,
        Place::End,
        Some("2026-05-11T09:30[Africa/Casablanca]".parse()?),
        "Visite de la régie",
        Some("Oujda"),
        &samira(),
    )?;
    let lunch =
        mission::add_agenda_item(&mut oujda, Place::End, None, "Déjeuner", None, &samira())?;
    let action = mission::add_action(
        &mut oujda,
        "Envoyer le compte rendu",
        Some("samira"),
        Some(date(2026, 5, 20)),
        &samira(),
    )?;
    let mut lille = replica(&mut oujda);

    // Both type in the same minutes.
    let minutes = p(&format!("meetings[{meeting}].minutes"));
    set(
        &mut oujda,
        &minutes,
        &json!("Ouverture par le président. Points divers."),
        &samira(),
    )?;
    set(
        &mut lille,
        &minutes,
        &json!("Ouverture. Budget validé. Points divers."),
        &claire(),
    )?;
    // Both insert agenda items at the same place; Oujda moves the lunch first while Lille
    // edits the lunch's notes; Lille deletes nothing.
    let oujda_item = mission::add_agenda_item(
        &mut oujda,
        Place::After(visit.clone()),
        None,
        "Point presse",
        None,
        &samira(),
    )?;
    let lille_item = mission::add_agenda_item(
        &mut lille,
        Place::After(visit.clone()),
        None,
        "Visite de l'université",
        None,
        &claire(),
    )?;
    move_item(&mut oujda, &p(&format!("agenda[{lunch}]")), Place::Start)?;
    set(
        &mut lille,
        &p(&format!("agenda[{lunch}].notes")),
        &json!("Restaurant près de la gare"),
        &claire(),
    )?;
    // Lille marks the action done, Oujda adds another action.
    mission::mark_action_done(&mut lille, &action, &claire())?;
    let second = mission::add_action(&mut oujda, "Réserver l'interprète", None, None, &samira())?;
    // Both add different linked projects.
    add_member(&mut oujda, &p("projects"), "paed-oujda", &samira())?;
    add_member(&mut lille, &p("projects"), "regie-quartier", &claire())?;

    sync(&mut oujda, &mut lille);
    let merged = Mission::read(&oujda)?;
    assert_eq!(
        merged.meetings[0].minutes,
        "Ouverture par le président. Budget validé. Points divers."
    );
    let agenda: Vec<_> = merged.agenda.iter().map(|i| i.id.clone()).collect();
    assert_eq!(agenda.len(), 4, "every inserted item kept");
    assert_eq!(agenda[0], lunch, "the move applies");
    assert_eq!(agenda[1], visit);
    assert!(agenda[2..].contains(&oujda_item) && agenda[2..].contains(&lille_item));
    assert_eq!(
        merged.agenda[0].notes, "Restaurant près de la gare",
        "an edit survives a concurrent move"
    );
    assert_eq!(
        merged.agenda[1]
            .starts_at
            .as_ref()
            .unwrap()
            .value()
            .to_string(),
        "2026-05-11T09:30[Africa/Casablanca]"
    );
    assert_eq!(merged.actions.len(), 2);
    assert_eq!(
        *merged.actions[0].status.as_ref().unwrap().value(),
        ActionStatus::Done
    );
    assert_eq!(merged.actions[1].id, second);
    assert!(
        !merged.actions[1].is_overdue(date(2026, 6, 1)),
        "no due date, never overdue"
    );
    assert_eq!(
        merged.projects,
        vec!["paed-oujda".to_owned(), "regie-quartier".to_owned()]
    );
    assert!(conflicts(&oujda)?.is_empty());
    // Both replicas read the same.
    assert_eq!(
        format!("{:?}", Mission::read(&lille)?),
        format!("{merged:?}")
    );
    Ok(())
}

#[test]
fn mission_concurrent_delete_and_reinsert_keep_other_items() -> anyhow::Result<()> {
    let mut a = new_mission();
    let ids: Vec<_> = (0..3)
        .map(|i| {
            mission::add_delegate(
                &mut a,
                &format!("Person {i}"),
                Some("Ville de Lille"),
                None,
                &samira(),
            )
        })
        .collect::<Result<_, _>>()?;
    let mut b = replica(&mut a);
    remove_item(&mut a, &p(&format!("delegation[{}]", ids[1])), &samira())?;
    move_item(&mut b, &p(&format!("delegation[{}]", ids[2])), Place::Start)?;
    move_item(
        &mut a,
        &p(&format!("delegation[{}]", ids[2])),
        Place::Before(ids[0].clone()),
    )?;
    let added = mission::add_delegate(&mut b, "Person 3", None, Some("interprète"), &claire())?;
    sync(&mut a, &mut b);
    let merged = Mission::read(&a)?;
    let order: Vec<_> = merged.delegation.iter().map(|d| d.id.clone()).collect();
    // Concurrent moves of one item leave it once; the delete holds; the insert is kept.
    assert_eq!(order.len(), 3);
    assert_eq!(order[0], ids[2]);
    assert!(order.contains(&ids[0]) && order.contains(&added) && !order.contains(&ids[1]));
    Ok(())
}

#[test]
fn project_concurrent_logframe_measurements_and_budget_merge() -> anyhow::Result<()> {
    let mut a = project::new_project(
        &project::NewProject::new("PAED-OUJDA", "Plan d'action énergie durable"),
        &samira(),
    )?;
    let outcome = project::add_result(
        &mut a,
        Level::Outcome,
        "La commune suit sa consommation",
        &samira(),
    )?;
    let indicator = project::add_indicator(
        &mut a,
        &outcome,
        &project::NewIndicator {
            name: "Bâtiments suivis".into(),
            unit: Some("bâtiments".into()),
            baseline: Some("0".into()),
            target: Some("40".into()),
            source: None,
        },
        &samira(),
    )?;
    let line = project::add_budget_line(
        &mut a,
        "Études",
        None,
        Some("12000 EUR".parse()?),
        &samira(),
    )?;
    set(
        &mut a,
        &p("context"),
        &json!("Oujda s'est engagée dans la Convention des maires."),
        &samira(),
    )?;
    let mut b = replica(&mut a);

    project::add_measurement(
        &mut a,
        &indicator,
        "2026-Q1",
        "12",
        Some("registre communal"),
        &samira(),
    )?;
    project::add_measurement(&mut b, &indicator, "2026-Q2", "19", None, &claire())?;
    project::add_expense(
        &mut a,
        &line,
        date(2026, 2, 3),
        "1500 EUR".parse()?,
        Some("Bureau d'études"),
        &samira(),
    )?;
    project::add_expense(
        &mut b,
        &line,
        date(2026, 2, 4),
        "8000 MAD".parse()?,
        Some("Traducteur"),
        &claire(),
    )?;
    project::add_cofinancing(
        &mut b,
        &line,
        "AFD",
        "6000 EUR".parse()?,
        passerelle_model::CofinancingStatus::Requested,
        &claire(),
    )?;
    set(
        &mut a,
        &p("context"),
        &json!("Depuis 2023, Oujda s'est engagée dans la Convention des maires."),
        &samira(),
    )?;
    set(
        &mut b,
        &p("context"),
        &json!("Oujda s'est engagée dans la Convention des maires pour le climat."),
        &claire(),
    )?;
    add_member(&mut a, &p("partners"), "commune-oujda", &samira())?;
    add_member(&mut b, &p("partners"), "universite-mohammed-ier", &claire())?;
    sync(&mut a, &mut b);

    let merged = Project::read(&b)?;
    assert_eq!(
        merged.context,
        "Depuis 2023, Oujda s'est engagée dans la Convention des maires pour le climat."
    );
    let values: Vec<_> = merged
        .measurements_of(&indicator)
        .map(|m| (m.period.as_str(), m.value.as_str()))
        .collect();
    assert_eq!(
        values,
        vec![("2026-Q1", "12"), ("2026-Q2", "19")],
        "ordered by time"
    );
    assert_eq!(
        merged
            .indicator(&indicator)
            .unwrap()
            .target
            .as_ref()
            .unwrap()
            .value()
            .as_str(),
        "40"
    );
    let spent = merged.spent_by_currency();
    assert_eq!(spent[&Currency::Eur], Money::new(150_000, Currency::Eur));
    assert_eq!(
        spent[&Currency::Mad],
        Money::new(800_000, Currency::Mad),
        "never summed across currencies"
    );
    assert_eq!(merged.budget[0].cofinancing[0].funder, "AFD");
    assert_eq!(merged.partners.len(), 2);
    // References are checked.
    let missing = "nosuchline".parse()?;
    assert!(matches!(
        project::add_expense(
            &mut a,
            &missing,
            date(2026, 2, 3),
            "1 EUR".parse()?,
            None,
            &samira()
        ),
        Err(ModelError::NoSuchItem { .. })
    ));
    Ok(())
}

#[test]
fn journal_concurrent_entries_merge_and_only_authors_edit() -> anyhow::Result<()> {
    let mut a = journal::new_journal("Journal de terrain — Oujda", &samira())?;
    let first = journal::add_entry(
        &mut a,
        &journal::NewEntry {
            body: "Réunion à la commune.".into(),
            tags: vec!["paed".into()],
            ..Default::default()
        },
        &samira(),
    )?;
    let mut b = replica(&mut a);
    journal::add_entry(
        &mut a,
        &journal::NewEntry {
            body: "Visite du quartier.".into(),
            ..Default::default()
        },
        &Stamp::new("samira", at("2026-03-03T08:00:00Z")),
    )?;
    journal::add_entry(
        &mut b,
        &journal::NewEntry {
            body: "Lu depuis Lille.".into(),
            ..Default::default()
        },
        &Stamp::new("claire", at("2026-03-02T18:00:00Z")),
    )?;
    journal::edit_entry(
        &mut a,
        &first,
        "Réunion à la commune : accord sur le calendrier.",
        &samira(),
    )?;
    let refused = journal::edit_entry(&mut b, &first, "Autre texte", &claire());
    assert!(
        matches!(refused, Err(ModelError::NotAuthor { .. })),
        "{refused:?}"
    );
    sync(&mut a, &mut b);
    let merged = Journal::read(&a)?;
    let bodies: Vec<_> = merged
        .entries
        .iter()
        .map(|e| (e.author.as_str(), e.body.as_str()))
        .collect();
    assert_eq!(
        bodies,
        vec![
            ("samira", "Réunion à la commune : accord sur le calendrier."),
            ("claire", "Lu depuis Lille."),
            ("samira", "Visite du quartier."),
        ]
    );
    assert_eq!(merged.entries[0].tags, vec!["paed".to_owned()]);
    Ok(())
}

#[test]
fn actor_concurrent_contacts_notes_and_names_merge() -> anyhow::Result<()> {
    let new = actor::NewActor {
        kind: ActorKind::Person,
        category: Some(passerelle_model::ActorCategory::University),
        names: vec![
            ("fr".into(), "Karim Benali".into()),
            ("ar".into(), "كريم بنعلي".into()),
        ],
        basis: Some(LegalBasis::PublicRole),
    };
    let mut a = actor::new_actor(&new, &samira())?;
    let mut b = replica(&mut a);
    actor::add_contact(
        &mut a,
        ContactKind::Email,
        "k.benali@example.ma",
        None,
        &samira(),
    )?;
    actor::add_contact(
        &mut b,
        ContactKind::Phone,
        "+212 5 36 00 00 00",
        Some("bureau"),
        &claire(),
    )?;
    set(
        &mut a,
        &p("notes"),
        &json!("Rencontré au salon."),
        &samira(),
    )?;
    set(&mut b, &p("names.latin"), &json!("Karim Benali"), &claire())?;
    add_member(&mut a, &p("themes"), "energie", &samira())?;
    sync(&mut a, &mut b);
    let merged = Actor::read(&b)?;
    assert_eq!(merged.contacts.len(), 2);
    assert_eq!(merged.notes, "Rencontré au salon.");
    assert_eq!(merged.names.get("ar"), Some("كريم بنعلي"));
    assert_eq!(merged.names.get("latin"), Some("Karim Benali"));
    assert_eq!(merged.themes, vec!["energie".to_owned()]);
    // A person needs a legal basis.
    let no_basis = actor::NewActor { basis: None, ..new };
    assert_eq!(
        actor::new_actor(&no_basis, &samira())
            .unwrap_err()
            .to_string(),
        "actor.basis: missing"
    );
    Ok(())
}

#[test]
fn funding_call_concurrent_checklist_and_draft_merge() -> anyhow::Result<()> {
    let mut a = funding_call::new_funding_call(
        "Appel à projets PAD Maroc",
        "MEAE",
        Some(date(2026, 4, 30)),
        Some("https://example.org/pad"),
        &samira(),
    )?;
    let mut b = replica(&mut a);
    funding_call::add_criterion(
        &mut a,
        "Partenariat avec une collectivité marocaine",
        true,
        &samira(),
    )?;
    funding_call::add_criterion(&mut b, "Cofinancement de 30 %", false, &claire())?;
    funding_call::add_deliverable(&mut b, "Budget prévisionnel", &claire())?;
    set(
        &mut a,
        &p("draft"),
        &json!("Le projet vise à réduire la consommation."),
        &samira(),
    )?;
    sync(&mut a, &mut b);
    set(
        &mut b,
        &p("draft"),
        &json!("Le projet vise à réduire de 20 % la consommation."),
        &claire(),
    )?;
    set(
        &mut a,
        &p("draft"),
        &json!("Le projet vise à réduire la consommation des bâtiments."),
        &samira(),
    )?;
    sync(&mut a, &mut b);
    let merged = FundingCall::read(&a)?;
    assert_eq!(
        merged.draft,
        "Le projet vise à réduire de 20 % la consommation des bâtiments."
    );
    assert_eq!(merged.checklist.len(), 2);
    assert_eq!(merged.deliverables.len(), 1);
    assert_eq!(
        *merged.status.as_ref().unwrap().value(),
        CallStatus::Watching
    );
    assert!(merged.closes_within(date(2026, 4, 10), 30));
    assert!(!merged.closes_within(date(2026, 3, 1), 30));
    Ok(())
}

#[test]
fn news_item_concurrent_summary_and_tags_merge() -> anyhow::Result<()> {
    let mut a = news_item::new_news_item(
        "https://example.ma/oujda-energie",
        "Oujda lance son plan énergie",
        NewsLanguage::Fr,
        Some(date(2026, 3, 1)),
        Some("Le Matin"),
        &samira(),
    )?;
    let mut b = replica(&mut a);
    set(
        &mut a,
        &p("summary"),
        &json!("La commune présente son plan."),
        &samira(),
    )?;
    sync(&mut a, &mut b);
    set(
        &mut a,
        &p("summary"),
        &json!("La commune présente son plan climat."),
        &samira(),
    )?;
    set(
        &mut b,
        &p("summary"),
        &json!("Mardi, la commune présente son plan."),
        &claire(),
    )?;
    add_member(&mut a, &p("tags"), "paed", &samira())?;
    add_member(&mut b, &p("projects"), "paed-oujda", &claire())?;
    sync(&mut a, &mut b);
    let merged = NewsItem::read(&b)?;
    assert_eq!(
        merged.summary,
        "Mardi, la commune présente son plan climat."
    );
    assert_eq!(merged.tags, vec!["paed".to_owned()]);
    assert_eq!(merged.projects, vec!["paed-oujda".to_owned()]);
    Ok(())
}

#[test]
fn an_item_is_found_by_its_id_alone_wherever_it_is() {
    use passerelle_model::{CofinancingStatus, Money, find_item, project};
    let s = common::samira();
    let mut doc = project::new_project(&project::NewProject::new("PAED", "Plan"), &s).unwrap();
    let line = project::add_budget_line(&mut doc, "Personnel", None, None, &s).unwrap();
    let share = project::add_cofinancing(
        &mut doc,
        &line,
        "AFD",
        "10 EUR".parse::<Money>().unwrap(),
        CofinancingStatus::Requested,
        &s,
    )
    .unwrap();
    let expense = project::add_expense(
        &mut doc,
        &line,
        "2026-05-12".parse().unwrap(),
        "3 EUR".parse().unwrap(),
        None,
        &s,
    )
    .unwrap();
    let found = find_item(&doc, &line).unwrap().unwrap();
    assert_eq!(found.path.to_string(), format!("budget[{line}]"));
    assert!(found.ordered);
    let found = find_item(&doc, &share).unwrap().unwrap();
    assert_eq!(
        found.path.to_string(),
        format!("budget[{line}].cofinancing[{share}]")
    );
    let found = find_item(&doc, &expense).unwrap().unwrap();
    assert_eq!(found.path.to_string(), format!("expenses[{expense}]"));
    assert!(!found.ordered, "a log is ordered by time");
    assert_eq!(find_item(&doc, &"nothing".parse().unwrap()).unwrap(), None);
}

#[test]
fn public_is_false_until_set_and_a_concurrent_withdrawal_unpublishes() -> anyhow::Result<()> {
    let mut lille = new_mission();
    assert!(!Mission::read(&lille)?.is_public(), "private by default");
    set(&mut lille, &p("public"), &json!(true), &samira())?;
    assert!(Mission::read(&lille)?.is_public());
    // The CLI and the pages' checkbox send text; both forms are accepted.
    set(&mut lille, &p("public"), &json!("false"), &samira())?;
    assert!(!Mission::read(&lille)?.is_public());
    assert!(set(&mut lille, &p("public"), &json!("yes"), &samira()).is_err());

    // One side publishes while the other withdraws: not published until resolved.
    let mut oujda = replica(&mut lille);
    set(&mut lille, &p("public"), &json!(true), &samira())?;
    set(&mut oujda, &p("public"), &json!(false), &claire())?;
    sync(&mut lille, &mut oujda);
    let merged = Mission::read(&lille)?;
    assert!(merged.public.as_ref().unwrap().is_conflicted());
    assert!(!merged.is_public());

    let mut plan = project::new_project(&project::NewProject::new("PAED", "Plan"), &samira())?;
    assert!(!Project::read(&plan)?.is_public());
    set(&mut plan, &p("public"), &json!(true), &samira())?;
    assert!(Project::read(&plan)?.is_public());
    Ok(())
}
