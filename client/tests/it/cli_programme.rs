//! The programme's verbs (`project`, `mission`, `journal`, `actor`, `call`, `news`, `edit`,
//! `conflicts`, `resolve`, `today`) end to end: the real `passerelle` binary, two replicas,
//! and a real server running in this test process.

use crate::common;

use common::TestServer;
use common::programme_cli::{command, created, date_in, fails, json, ok, sync, text};
use serde_json::Value as Json;

#[test]
fn concurrent_edits_of_every_type_merge_and_conflicts_are_resolved_across_replicas() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let oujda = dir.path().join("oujda");
    let lille = dir.path().join("lille");
    let (samira, claire) = (server.editor("samira"), server.editor("claire"));
    ok(
        &oujda,
        "samira",
        &[
            "init",
            "--server",
            &server.url,
            "--token",
            &samira,
            "--user",
            "samira",
        ],
    );
    ok(
        &lille,
        "claire",
        &[
            "init",
            "--server",
            &server.url,
            "--token",
            &claire,
            "--user",
            "claire",
        ],
    );
    let s = "samira";
    let c = "claire";

    // Oujda creates one document of each type, offline, and syncs; Lille receives them.
    let project = created(
        &oujda,
        s,
        &[
            "project",
            "new",
            "--code",
            "PAED-OUJDA",
            "--title",
            "Plan d'action énergie",
            "--title-ar",
            "مخطط العمل للطاقة",
            "--status",
            "approved",
        ],
    );
    let result = created(
        &oujda,
        s,
        &[
            "project",
            "result",
            "add",
            &project,
            "Consommation réduite",
            "--level",
            "outcome",
        ],
    );
    ok(
        &oujda,
        s,
        &[
            "project",
            "edit",
            &project,
            "--context",
            "La commune prépare son plan.",
        ],
    );
    let mission = created(
        &oujda,
        s,
        &[
            "mission",
            "new",
            "--direction",
            "lille-to-oujda",
            "--title",
            "Mission PAED",
            "--start",
            &date_in(10),
            "--end",
            &date_in(14),
            "--purpose",
            "Préparer le comité.",
        ],
    );
    let entry = ok(
        &oujda,
        s,
        &[
            "journal",
            "add",
            "Arrivée à Oujda.",
            "--mission",
            &mission,
            "--tag",
            "paed",
        ],
    );
    let entry_lines: Vec<&str> = entry.lines().collect();
    let (entry, journal) = (
        entry_lines[entry_lines.len() - 2].to_owned(),
        entry_lines[entry_lines.len() - 1].to_owned(),
    );
    let actor = created(
        &oujda,
        s,
        &[
            "actor",
            "add",
            "Commune d'Oujda",
            "--name-ar",
            "جماعة وجدة",
            "--category",
            "commune",
            "--notes",
            "Service de coopération.",
            "--owner",
            "samira",
        ],
    );
    let call = created(
        &oujda,
        s,
        &[
            "call",
            "add",
            "Appel FICOL",
            "--funder",
            "AFD",
            "--deadline",
            &date_in(40),
        ],
    );
    ok(
        &oujda,
        s,
        &["edit", &call, "eligibility", "Collectivités françaises."],
    );
    let news = created(
        &oujda,
        s,
        &[
            "news",
            "add",
            "https://example.org/oujda-energie",
            "--title",
            "Oujda adopte son plan",
            "--summary",
            "Le conseil a voté.",
        ],
    );
    sync(&oujda);
    sync(&lille);
    assert_eq!(
        json(&lille, c, &["mission", "show", &mission, "--json"])["purpose"],
        "Préparer le comité."
    );

    // Both edit every type while neither syncs: the same text, new list items, the same
    // single values.
    ok(
        &oujda,
        s,
        &[
            "project",
            "edit",
            &project,
            "--context",
            "La commune de l'Oriental prépare son plan.",
            "--status",
            "ongoing",
        ],
    );
    ok(
        &lille,
        c,
        &[
            "project",
            "edit",
            &project,
            "--context",
            "La commune prépare son plan climat.",
            "--status",
            "suspended",
        ],
    );
    created(
        &oujda,
        s,
        &[
            "project",
            "indicator",
            "add",
            &project,
            "Bâtiments audités",
            "--result",
            &result,
            "--target",
            "12",
        ],
    );
    created(
        &lille,
        c,
        &[
            "project",
            "indicator",
            "add",
            &project,
            "Agents formés",
            "--result",
            &result,
            "--target",
            "30",
        ],
    );

    ok(
        &oujda,
        s,
        &[
            "mission",
            "edit",
            &mission,
            "--purpose",
            "Préparer le comité de pilotage.",
            "--status",
            "planned",
        ],
    );
    ok(
        &lille,
        c,
        &[
            "mission",
            "edit",
            &mission,
            "--purpose",
            "Préparer le comité avec Lille.",
            "--status",
            "confirmed",
        ],
    );
    created(
        &oujda,
        s,
        &[
            "mission",
            "agenda",
            "add",
            &mission,
            "Visite de la régie de quartier",
            "--at",
            &format!("{}T09:30", date_in(11)),
        ],
    );
    created(
        &lille,
        c,
        &[
            "mission",
            "agenda",
            "add",
            &mission,
            "Accueil de la délégation lilloise",
        ],
    );
    created(
        &lille,
        c,
        &[
            "mission",
            "delegation",
            "add",
            &mission,
            "Claire",
            "--org",
            "Ville de Lille",
        ],
    );
    created(
        &oujda,
        s,
        &[
            "mission",
            "action",
            "add",
            &mission,
            "Envoyer le compte rendu",
            "--owner",
            "samira",
            "--due",
            &date_in(20),
        ],
    );

    // The journal's author on two devices: both keep their words, and both new entries.
    ok(
        &oujda,
        s,
        &[
            "journal",
            "edit",
            &entry,
            "Arrivée à Oujda, accueil à la gare.",
        ],
    );
    ok(
        &lille,
        s,
        &["journal", "edit", &entry, "Arrivée à Oujda le matin."],
    );
    ok(&oujda, s, &["journal", "add", "Réunion à la commune."]);
    ok(
        &lille,
        s,
        &["journal", "add", "Appel avec Lille.", "--journal", &journal],
    );

    ok(
        &oujda,
        s,
        &["edit", &actor, "notes", "Service de coopération, 2e étage."],
    );
    ok(
        &lille,
        c,
        &[
            "edit",
            &actor,
            "notes",
            "Service de coopération décentralisée.",
        ],
    );
    ok(&oujda, s, &["edit", &actor, "owner", "samira"]);
    ok(&lille, c, &["edit", &actor, "owner", "claire"]);

    ok(
        &oujda,
        s,
        &[
            "edit",
            &call,
            "eligibility",
            "Collectivités françaises et marocaines.",
        ],
    );
    ok(
        &lille,
        c,
        &[
            "edit",
            &call,
            "eligibility",
            "Collectivités françaises, avec un partenaire.",
        ],
    );
    ok(&oujda, s, &["edit", &call, "deadline", &date_in(45)]);
    ok(&lille, c, &["edit", &call, "deadline", &date_in(50)]);

    ok(
        &oujda,
        s,
        &["edit", &news, "summary", "Le conseil communal a voté."],
    );
    ok(
        &lille,
        c,
        &["edit", &news, "summary", "Le conseil a voté le plan."],
    );
    ok(&oujda, s, &["edit", &news, "relevance", "high"]);
    ok(&lille, c, &["edit", &news, "relevance", "low"]);

    sync(&oujda);
    sync(&lille);
    sync(&oujda);

    for home in [&oujda, &lille] {
        let who = if home == &oujda { s } else { c };
        let p = json(home, who, &["project", "show", &project, "--json"]);
        let context = p["context"].as_str().unwrap();
        assert!(
            context.contains("de l'Oriental") && context.contains("climat"),
            "{context}"
        );
        let indicators: Vec<&str> = p["logframe"][0]["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert!(
            indicators.contains(&"Bâtiments audités") && indicators.contains(&"Agents formés"),
            "{indicators:?}"
        );

        let m = json(home, who, &["mission", "show", &mission, "--json"]);
        let purpose = m["purpose"].as_str().unwrap();
        assert!(
            purpose.contains("de pilotage") && purpose.contains("avec Lille"),
            "{purpose}"
        );
        let agenda: Vec<&str> = m["agenda"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        assert_eq!(agenda.len(), 2, "{agenda:?}");
        assert!(
            agenda.contains(&"Visite de la régie de quartier")
                && agenda.contains(&"Accueil de la délégation lilloise")
        );
        assert_eq!(m["delegation"][0]["person"], "Claire");
        assert_eq!(m["actions"][0]["text"], "Envoyer le compte rendu");

        let entries = json(home, who, &["journal", "list", "--json"]);
        let bodies: Vec<&str> = entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies.len(), 3, "{bodies:?}");
        let first = entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == entry.as_str())
            .unwrap();
        let body = first["body"].as_str().unwrap();
        assert!(
            body.contains("accueil à la gare") && body.contains("le matin"),
            "{body}"
        );
        assert_eq!(first["mission"], mission.as_str());

        let found = json(home, who, &["actor", "find", "oujda", "--json"]);
        assert_eq!(found.as_array().unwrap().len(), 1, "{found}");

        let calls = json(home, who, &["call", "list", "--json"]);
        assert_eq!(calls[0]["title"], "Appel FICOL");

        // Every single value set twice is a conflict, listed with who set each value.
        let conflicts = json(home, who, &["conflicts", "--json"]);
        let mut paths: Vec<String> = conflicts
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}.{}",
                    c["doc_type"].as_str().unwrap(),
                    c["path"].as_str().unwrap()
                )
            })
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "actor.owner",
                "funding_call.deadline",
                "mission.status",
                "news_item.relevance",
                "project.status"
            ],
            "{conflicts}"
        );
        for conflict in conflicts.as_array().unwrap() {
            let by: Vec<&str> = conflict["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["by"].as_str().unwrap())
                .collect();
            assert!(
                by.contains(&"samira") && by.contains(&"claire"),
                "{conflict}"
            );
        }
    }
    let listed = ok(&oujda, s, &["conflicts", &mission]);
    assert!(listed.contains("mission.status"), "{listed}");
    assert!(
        listed.contains("planned  (par samira") && listed.contains("confirmed  (par claire"),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("passerelle resolve {mission} status")),
        "{listed}"
    );

    // Lille resolves them; Oujda sees the resolutions after syncing, and no conflict is left.
    let out = ok(&lille, c, &["resolve", &mission, "status", "confirmed"]);
    assert!(out.contains("résolu : status = confirmed"), "{out}");
    ok(&lille, c, &["resolve", &project, "status", "ongoing"]);
    ok(&lille, c, &["resolve", &actor, "owner", "samira"]);
    ok(&lille, c, &["resolve", &call, "deadline", &date_in(45)]);
    ok(&lille, c, &["resolve", &news, "relevance", "high"]);
    fails(
        &lille,
        &["resolve", &mission, "status", "done"],
        &["mission.status", "aucun conflit"],
    );
    assert!(ok(&lille, c, &["conflicts"]).contains("aucun conflit"));
    sync(&lille);
    sync(&oujda);
    assert_eq!(
        json(&oujda, s, &["conflicts", "--json"]),
        serde_json::json!([])
    );
    let m = json(&oujda, s, &["mission", "show", &mission, "--json"]);
    assert_eq!(m["status"], "confirmed");
    let shown = ok(&oujda, s, &["mission", "show", &mission]);
    assert!(
        shown.contains("conflits résolus") && shown.contains("status = confirmed  (claire"),
        "{shown}"
    );
    assert_eq!(
        json(&oujda, s, &["project", "show", "PAED-OUJDA", "--json"])["status"],
        "ongoing"
    );

    // `docs` shows the type and title of each programme document.
    let docs = ok(&oujda, s, &["docs"]);
    for line in [
        format!("{project}  project  Plan d'action énergie"),
        format!("{mission}  mission  Mission PAED"),
        format!("{actor}  actor  Commune d'Oujda"),
        format!("{call}  funding_call  Appel FICOL"),
        format!("{news}  news_item  Oujda adopte son plan"),
        format!("{journal}  journal  journal — samira"),
    ] {
        assert!(docs.contains(&line), "`{line}` not in:\n{docs}");
    }
}

#[test]
fn today_lists_an_overdue_action_a_call_closing_soon_and_unsynced_changes() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("oujda");
    let s = "samira";
    let soon = created(
        &home,
        s,
        &[
            "mission",
            "new",
            "--direction",
            "oujda-to-lille",
            "--title",
            "Visite à Lille",
            "--start",
            &date_in(7),
            "--end",
            &date_in(9),
        ],
    );
    let later = created(
        &home,
        s,
        &[
            "mission",
            "new",
            "--direction",
            "lille-to-oujda",
            "--title",
            "Mission lointaine",
            "--start",
            &date_in(90),
        ],
    );
    created(
        &home,
        s,
        &[
            "mission",
            "action",
            "add",
            &later,
            "Relancer la wilaya",
            "--owner",
            "samira",
            "--due",
            &date_in(-3),
        ],
    );
    let done = created(
        &home,
        s,
        &[
            "mission",
            "action",
            "add",
            &later,
            "Réserver la salle",
            "--due",
            &date_in(-5),
        ],
    );
    ok(&home, s, &["mission", "action", "done", &later, &done]);
    created(
        &home,
        s,
        &[
            "mission",
            "action",
            "add",
            &later,
            "Préparer le bilan",
            "--due",
            &date_in(30),
        ],
    );
    created(
        &home,
        s,
        &[
            "call",
            "add",
            "Appel FICOL",
            "--funder",
            "AFD",
            "--deadline",
            &date_in(5),
        ],
    );
    created(
        &home,
        s,
        &[
            "call",
            "add",
            "Appel lointain",
            "--funder",
            "UE",
            "--deadline",
            &date_in(80),
        ],
    );

    let today = ok(&home, s, &["today"]);
    let section = |title: &str| -> String {
        today
            .split(title)
            .nth(1)
            .unwrap_or_else(|| panic!("no `{title}` in:\n{today}"))
            .split("\n\n")
            .next()
            .unwrap()
            .to_owned()
    };
    let missions = section("Missions des 4 prochaines semaines");
    assert!(
        missions.contains("Visite à Lille") && missions.contains(&soon),
        "{missions}"
    );
    assert!(!missions.contains("Mission lointaine"), "{missions}");
    let calls = section("Appels à projets qui ferment bientôt");
    assert!(
        calls.contains("Appel FICOL") && calls.contains("dans 5 jour(s)"),
        "{calls}"
    );
    assert!(!calls.contains("Appel lointain"), "{calls}");
    let overdue = section("Actions de suivi en retard");
    assert!(
        overdue.contains("Relancer la wilaya") && overdue.contains(&date_in(-3)),
        "{overdue}"
    );
    assert!(
        !overdue.contains("Réserver la salle") && !overdue.contains("Préparer le bilan"),
        "{overdue}"
    );
    assert!(section("Conflits à résoudre").contains("rien"), "{today}");
    let pending = section("Modifications pas encore synchronisées");
    assert!(
        pending.contains(&later) && pending.contains("en attente"),
        "{pending}"
    );

    let as_json = json(&home, s, &["today", "--json"]);
    assert_eq!(
        as_json["overdue_actions"].as_array().unwrap().len(),
        1,
        "{as_json}"
    );
    assert_eq!(as_json["calls"][0]["title"], "Appel FICOL");
    assert_eq!(as_json["pending"].as_array().unwrap().len(), 4, "{as_json}");

    let wider = json(&home, s, &["call", "list", "--due-within", "12w", "--json"]);
    assert_eq!(wider.as_array().unwrap().len(), 2);
    let narrow = json(&home, s, &["call", "list", "--due-within", "30d", "--json"]);
    assert_eq!(narrow.as_array().unwrap().len(), 1);
}

#[test]
fn the_language_comes_from_lang_or_the_locale_and_is_french_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let id = created(
        &home,
        "samira",
        &[
            "mission",
            "new",
            "--direction",
            "lille-to-oujda",
            "--title",
            "Mission",
            "--title-ar",
            "بعثة",
        ],
    );
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = command(&home, "samira", args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let fr = text(&run(&["mission", "show", &id], &[]).stdout);
    assert!(
        fr.contains("statut: draft") && fr.contains("actions de suivi:"),
        "{fr}"
    );
    assert!(
        fr.contains("titre.ar: بعثة"),
        "Arabic printed as stored: {fr}"
    );
    let en = text(
        &run(
            &["--lang", "en", "mission", "show", &id],
            &[("LANG", "fr_FR.UTF-8")],
        )
        .stdout,
    );
    assert!(
        en.contains("status: draft") && en.contains("follow-up actions:"),
        "{en}"
    );
    let from_locale = text(
        &run(
            &["today"],
            &[("LANG", "fr_FR.UTF-8"), ("LC_ALL", "en_GB.UTF-8")],
        )
        .stdout,
    );
    assert!(from_locale.starts_with("Today, "), "{from_locale}");
    let c_locale = text(&run(&["today"], &[("LANG", "C")]).stdout);
    assert!(c_locale.starts_with("Aujourd'hui, "), "{c_locale}");
    let forced_fr = text(&run(&["--lang", "fr", "today"], &[("LANG", "en_US.UTF-8")]).stdout);
    assert!(forced_fr.starts_with("Aujourd'hui, "), "{forced_fr}");

    let error = text(
        &run(
            &["--lang", "en", "mission", "edit", &id, "--status", "maybe"],
            &[],
        )
        .stderr,
    );
    assert!(
        error.contains(
            "mission.status (--status): `maybe` refused; expected: one of: draft, planned"
        ),
        "{error}"
    );
    let saved = text(
        &run(
            &[
                "--lang", "en", "mission", "edit", &id, "--status", "planned",
            ],
            &[],
        )
        .stderr,
    );
    assert!(saved.contains("saved locally"), "{saved}");
}

#[test]
fn invalid_input_names_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let s = "samira";
    let mission = created(
        &home,
        s,
        &[
            "mission",
            "new",
            "--direction",
            "lille-to-oujda",
            "--title",
            "Mission",
        ],
    );
    let project = created(
        &home,
        s,
        &[
            "project",
            "new",
            "--code",
            "REGIE",
            "--title",
            "Régie de quartier",
        ],
    );
    let docs_before = ok(&home, s, &["docs"]);
    let mission_before = ok(&home, s, &["mission", "show", &mission, "--json"]);
    let project_before = ok(&home, s, &["project", "show", &project, "--json"]);

    fails(
        &home,
        &["mission", "new", "--direction", "paris", "--title", "x"],
        &["mission.direction (--direction)", "« paris »"],
    );
    fails(
        &home,
        &[
            "mission",
            "new",
            "--direction",
            "lille-to-oujda",
            "--title",
            "x",
            "--start",
            "12/05/2026",
        ],
        &["mission.start (--start)", "AAAA-MM-JJ"],
    );
    fails(
        &home,
        &[
            "mission", "action", "add", &mission, "Relancer", "--due", "demain",
        ],
        &["mission.actions.due (--due)"],
    );
    fails(
        &home,
        &[
            "mission", "agenda", "add", &mission, "Visite", "--at", "lundi",
        ],
        &["mission.agenda.starts_at (--at)"],
    );
    fails(
        &home,
        &["mission", "edit", &mission, "--status", "fini"],
        &[
            "mission.status (--status)",
            "draft, planned, confirmed, done, cancelled",
        ],
    );
    fails(
        &home,
        &["mission", "action", "done", &mission, "nothing-like-this"],
        &["mission.actions", "introuvable"],
    );
    fails(
        &home,
        &["edit", &mission, "start", "2026-02-30"],
        &["mission.start", "YYYY-MM-DD"],
    );
    fails(
        &home,
        &["edit", &mission, "budget", "1"],
        &["mission.budget", "n'existe pas"],
    );
    fails(
        &home,
        &["project", "new", "--code", "REGIE", "--title", "Autre"],
        &["project.code (--code)"],
    );
    fails(
        &home,
        &["project", "new", "--code", "bad code!", "--title", "x"],
        &["project.code"],
    );
    fails(
        &home,
        &[
            "project",
            "indicator",
            "add",
            &project,
            "Emplois",
            "--target",
            "beaucoup",
        ],
        &["indicator.target (--target)"],
    );
    fails(
        &home,
        &[
            "project", "measure", &project, "Emplois", "--period", "2026-Q3", "--value", "4",
        ],
        &["project.measurements.indicator", "Emplois"],
    );
    fails(
        &home,
        &["project", "show", &mission],
        &["project", "mission"],
    );
    fails(
        &home,
        &["actor", "add", "Fatima Zahra", "--person"],
        &["actor.basis (--basis)", "manquant"],
    );
    fails(
        &home,
        &["actor", "add", "X", "--category", "club"],
        &["actor.category (--category)"],
    );
    fails(
        &home,
        &[
            "call",
            "add",
            "Appel",
            "--funder",
            "AFD",
            "--deadline",
            "bientôt",
        ],
        &["funding_call.deadline (--deadline)"],
    );
    fails(
        &home,
        &["call", "list", "--due-within", "soon"],
        &["--due-within"],
    );
    fails(
        &home,
        &["news", "add", "ftp://x", "--title", "Titre"],
        &["news_item.url"],
    );
    fails(
        &home,
        &["resolve", &mission, "status", "planned"],
        &["mission.status", "aucun conflit"],
    );
    fails(
        &home,
        &["mission", "show", "not-an-id"],
        &["mission", "not-an-id"],
    );

    // A measurement with a bad period: named by the model, and not saved.
    let indicator = created(
        &home,
        s,
        &[
            "project",
            "indicator",
            "add",
            &project,
            "Emplois",
            "--target",
            "20",
        ],
    );
    fails(
        &home,
        &[
            "project", "measure", &project, &indicator, "--period", "2026-Q5", "--value", "4",
        ],
        &["period"],
    );
    let with_indicator = ok(&home, s, &["project", "show", &project, "--json"]);
    assert_ne!(with_indicator, project_before);
    let measured: Json = serde_json::from_str(&with_indicator).unwrap();
    assert_eq!(
        measured["logframe"][0]["indicators"][0]["measurements"],
        serde_json::json!([])
    );

    assert_eq!(ok(&home, s, &["docs"]), docs_before, "nothing created");
    assert_eq!(
        ok(&home, s, &["mission", "show", &mission, "--json"]),
        mission_before,
        "nothing changed"
    );
}

#[test]
fn a_schema_1_document_is_migrated_when_a_verb_changes_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let file = dir.path().join("mission.json");
    std::fs::write(
        &file,
        r#"{"type": "mission", "title": {"fr": "Mission ancienne", "ar": "بعثة"}, "status": "draft",
            "agenda": [{"when": "lundi", "title": "Visite de la régie"}]}"#,
    )
    .unwrap();
    let id = created(&home, "samira", &["new", "--json", file.to_str().unwrap()]);
    let shown = json(&home, "samira", &["mission", "show", &id, "--json"]);
    assert_eq!(shown["agenda"][0]["title"], "Visite de la régie");
    assert!(
        shown["agenda"][0]["notes"]
            .as_str()
            .unwrap()
            .contains("lundi"),
        "{shown}"
    );
    created(
        &home,
        "samira",
        &["mission", "action", "add", &id, "Écrire le compte rendu"],
    );
    let raw = json(&home, "samira", &["show", &id, "--json"]);
    assert_eq!(raw["schema"], 2, "{raw}");
    let shown = json(&home, "samira", &["mission", "show", &id, "--json"]);
    assert_eq!(shown["status"], "draft");
    assert_eq!(shown["actions"][0]["text"], "Écrire le compte rendu");
    assert_eq!(shown["agenda"].as_array().unwrap().len(), 1);
}
