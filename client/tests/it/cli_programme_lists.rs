//! The programme verbs that write lists and money — budget lines, co-financing, expenses,
//! meetings and their minutes, logistics, actor contacts, `move` and `remove` of list items —
//! and references to an erased actor: the real `passerelle` binary, two replicas, and a real
//! server running in this test process.

use crate::common;

use std::path::Path;

use common::TestServer;
use common::programme_cli::{command, created, fails, init, json, ok, sync, text};
use serde_json::Value as Json;

/// The ids of a JSON list's items, in order.
fn ids(list: &Json) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The item of `list` whose `id` is `id`.
fn item<'a>(list: &'a Json, id: &str) -> &'a Json {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == id)
        .unwrap_or_else(|| panic!("no item {id} in {list}"))
}

fn two_replicas(server: &TestServer, dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let oujda = dir.join("oujda");
    let lille = dir.join("lille");
    init(&oujda, &server.url, &server.editor("samira"), "samira");
    init(&lille, &server.url, &server.editor("claire"), "claire");
    (oujda, lille)
}

#[test]
fn budgets_meetings_logistics_contacts_moves_and_removals_merge_across_replicas() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (oujda, lille) = two_replicas(&server, dir.path());
    let (s, c) = ("samira", "claire");

    // Oujda sets up a project with two budget lines, a mission with an agenda, actions and a
    // meeting, and a person in the directory; Lille receives them.
    let project = created(
        &oujda,
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
    let personnel = created(
        &oujda,
        s,
        &[
            "project",
            "budget",
            "add",
            "REGIE",
            "Personnel",
            "12000",
            "EUR",
        ],
    );
    let missions = created(
        &oujda,
        s,
        &[
            "project",
            "budget",
            "add",
            &project,
            "Missions",
            "50000,50",
            "mad",
            "--label",
            "Déplacements Lille-Oujda",
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
            "Mission régie",
        ],
    );
    let agenda: Vec<String> = ["Accueil", "Visite", "Comité"]
        .iter()
        .map(|title| created(&oujda, s, &["mission", "agenda", "add", &mission, title]))
        .collect();
    let (a, b, c_item) = (&agenda[0], &agenda[1], &agenda[2]);
    let actions: Vec<String> = ["Envoyer le budget", "Réserver la salle", "Relancer l'AFD"]
        .iter()
        .map(|text| created(&oujda, s, &["mission", "action", "add", &mission, text]))
        .collect();
    let meeting = created(
        &oujda,
        s,
        &[
            "mission",
            "meeting",
            "add",
            &mission,
            "Comité de pilotage",
            "--attendee",
            "Samira",
            "--minutes",
            "Ouverture de la séance.",
        ],
    );
    let person = created(
        &oujda,
        s,
        &[
            "actor",
            "add",
            "Karim Benali",
            "--person",
            "--basis",
            "consent",
        ],
    );
    sync(&oujda);
    sync(&lille);

    // Both work offline at once.
    created(
        &oujda,
        s,
        &[
            "project",
            "cofinancing",
            "add",
            &project,
            "AFD",
            "5000",
            "EUR",
            "--line",
            "Personnel",
            "--status",
            "granted",
        ],
    );
    created(
        &lille,
        c,
        &[
            "project",
            "cofinancing",
            "add",
            &project,
            "Région Hauts-de-France",
            "4000",
            "EUR",
            "--line",
            &personnel,
        ],
    );
    created(
        &oujda,
        s,
        &[
            "project",
            "expense",
            "add",
            &project,
            "350.20",
            "EUR",
            "--line",
            &personnel,
            "--date",
            "2026-05-12",
            "--payee",
            "Imprimerie Al Amal",
        ],
    );
    created(
        &lille,
        c,
        &[
            "project",
            "expense",
            "add",
            &project,
            "1200",
            "MAD",
            "--line",
            "Missions",
            "--date",
            "2026-05-13",
        ],
    );
    // Both change the planned amount of one line: a conflict, with both names.
    let planned = format!("budget[{personnel}].planned");
    ok(&oujda, s, &["edit", &project, &planned, "13000 EUR"]);
    ok(&lille, c, &["edit", &project, &planned, "12500 EUR"]);

    // The agenda: Oujda puts `Comité` first while Lille writes notes inside it and moves
    // `Accueil` after `Visite`.
    ok(&oujda, s, &["move", &mission, c_item, "--first"]);
    ok(
        &lille,
        c,
        &[
            "edit",
            &mission,
            &format!("agenda[{c_item}].notes"),
            "Salle 2",
        ],
    );
    ok(&lille, c, &["move", &mission, a, "--after", b]);
    // Actions: Oujda removes the second; both move the third, to different places.
    ok(&oujda, s, &["remove", &mission, &actions[1]]);
    ok(&oujda, s, &["move", &mission, &actions[2], "--first"]);
    ok(
        &lille,
        c,
        &["move", &mission, &actions[2], "--before", &actions[1]],
    );
    // Both type in the same minutes.
    ok(
        &oujda,
        s,
        &[
            "mission",
            "meeting",
            "edit",
            &mission,
            "Comité de pilotage",
            "--minutes",
            "Ouverture de la séance.\nSamira : le budget est validé.",
        ],
    );
    ok(
        &lille,
        c,
        &[
            "mission",
            "meeting",
            "edit",
            &mission,
            &meeting,
            "--minutes",
            "Claire : les visas sont demandés.\nOuverture de la séance.",
            "--add-attendee",
            "Claire",
        ],
    );
    created(
        &oujda,
        s,
        &[
            "mission",
            "logistics",
            "add",
            &mission,
            "flight",
            "Lille-Oujda via Paris",
            "--cost",
            "420",
            "EUR",
        ],
    );
    created(
        &lille,
        c,
        &[
            "mission",
            "logistics",
            "add",
            &mission,
            "hotel",
            "Hôtel Atlas, 3 nuits",
            "--cost",
            "2400",
            "MAD",
            "--status",
            "booked",
        ],
    );
    let email = created(
        &oujda,
        s,
        &[
            "actor",
            "contact",
            "add",
            &person,
            "email",
            "karim.benali@example.ma",
        ],
    );
    created(
        &lille,
        c,
        &[
            "actor",
            "contact",
            "add",
            &person,
            "phone",
            "+212 600 000 000",
            "--label",
            "mobile",
        ],
    );

    sync(&oujda);
    sync(&lille);
    sync(&oujda);

    for home in [&oujda, &lille] {
        let p = json(home, s, &["project", "show", &project, "--json"]);
        let m = json(home, s, &["mission", "show", &mission, "--json"]);
        let actor = json(home, s, &["actor", "show", &person, "--json"]);
        assert_eq!(ids(&p["budget"]), [personnel.clone(), missions.clone()]);
        let line = item(&p["budget"], &personnel);
        let funders: Vec<&str> = line["cofinancing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["funder"].as_str().unwrap())
            .collect();
        assert_eq!(funders.len(), 2, "{line}");
        assert!(funders.contains(&"AFD") && funders.contains(&"Région Hauts-de-France"));
        assert_eq!(line["spent"], serde_json::json!(["350.20 EUR"]));
        assert_eq!(item(&p["budget"], &missions)["spent"][0], "1200.00 MAD");
        assert_eq!(
            item(&p["budget"], &missions)["planned"],
            "50000.50 MAD",
            "a comma is a decimal point, the currency is upper-cased"
        );
        assert_eq!(p["expenses"].as_array().unwrap().len(), 2);
        let conflicts = p["conflicts"].as_array().unwrap();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0]["path"], planned.as_str());
        let by: Vec<&str> = conflicts[0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["by"].as_str().unwrap())
            .collect();
        assert!(by.contains(&"samira") && by.contains(&"claire"), "{by:?}");

        assert_eq!(
            ids(&m["agenda"]),
            [c_item.clone(), b.clone(), a.clone()],
            "both moves kept"
        );
        assert_eq!(item(&m["agenda"], c_item)["notes"], "Salle 2");
        let action_ids = ids(&m["actions"]);
        assert_eq!(action_ids.len(), 2, "{action_ids:?}");
        assert!(action_ids.contains(&actions[0]) && action_ids.contains(&actions[2]));
        let minutes = item(&m["meetings"], &meeting)["minutes"].as_str().unwrap();
        assert!(
            minutes.contains("Samira : le budget est validé."),
            "{minutes}"
        );
        assert!(
            minutes.contains("Claire : les visas sont demandés."),
            "{minutes}"
        );
        assert_eq!(minutes.matches("Ouverture de la séance.").count(), 1);
        assert_eq!(
            item(&m["meetings"], &meeting)["attendees"],
            serde_json::json!(["Claire", "Samira"])
        );
        let kinds: Vec<&str> = m["logistics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds.len(), 2);
        assert!(kinds.contains(&"flight") && kinds.contains(&"hotel"));
        let contacts: Vec<&str> = actor["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap())
            .collect();
        assert_eq!(contacts.len(), 2, "{contacts:?}");
        assert!(contacts.contains(&"karim.benali@example.ma"));
    }
    assert_eq!(
        ok(&oujda, s, &["mission", "show", &mission, "--json"]),
        ok(&lille, c, &["mission", "show", &mission, "--json"])
    );

    // The text views show the new parts, in French by default, in English with --lang.
    let shown = ok(&oujda, s, &["project", "show", &project]);
    let line = shown
        .lines()
        .find(|l| l.contains("Personnel: prévu "))
        .unwrap_or_else(|| panic!("no budget line in:\n{shown}"));
    for needle in ["⚠", "13000.00 EUR", "12500.00 EUR", "dépensé 350.20 EUR"] {
        assert!(line.contains(needle), "`{needle}` not in: {line}");
    }
    for needle in [
        "cofinancement AFD: 5000.00 EUR (granted)",
        "350.20 EUR  Personnel, Imprimerie Al Amal  (samira)",
        "dépensé 1200.00 MAD",
    ] {
        assert!(shown.contains(needle), "`{needle}` not in:\n{shown}");
    }
    let shown = ok(&lille, c, &["--lang", "en", "mission", "show", &mission]);
    for needle in [
        "meetings:",
        "minutes:",
        "Claire : les visas sont demandés.",
        "flight: Lille-Oujda via Paris  (status: to_book, cost: 420.00 EUR)",
        "hotel: Hôtel Atlas, 3 nuits  (status: booked, cost: 2400.00 MAD)",
        "total cost: 420.00 EUR + 2400.00 MAD",
    ] {
        assert!(shown.contains(needle), "`{needle}` not in:\n{shown}");
    }

    // The conflict is resolved on Lille; Oujda sees one value after sync. Oujda removes a
    // contact; Lille sees it gone.
    ok(&lille, c, &["resolve", &project, &planned, "13000 EUR"]);
    ok(&oujda, s, &["remove", &person, &email]);
    sync(&lille);
    sync(&oujda);
    sync(&lille);
    for home in [&oujda, &lille] {
        let p = json(home, s, &["project", "show", &project, "--json"]);
        assert_eq!(p["conflicts"], serde_json::json!([]));
        assert_eq!(item(&p["budget"], &personnel)["planned"], "13000.00 EUR");
        let actor = json(home, s, &["actor", "show", &person, "--json"]);
        assert_eq!(actor["contacts"].as_array().unwrap().len(), 1);
        assert_eq!(actor["contacts"][0]["value"], "+212 600 000 000");
    }
}

#[test]
fn invalid_list_input_names_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    let s = "samira";
    let project = created(
        &home,
        s,
        &["project", "new", "--code", "PAED", "--title", "PAED"],
    );
    let mission = created(
        &home,
        s,
        &[
            "mission",
            "new",
            "--direction",
            "oujda-to-lille",
            "--title",
            "Retour",
        ],
    );
    let person = created(
        &home,
        s,
        &["actor", "add", "Karim", "--person", "--basis", "consent"],
    );
    fails(
        &home,
        &[
            "project",
            "cofinancing",
            "add",
            &project,
            "AFD",
            "10",
            "EUR",
        ],
        &["project.budget (--line)", "project budget add"],
    );
    let line = created(
        &home,
        s,
        &[
            "project",
            "budget",
            "add",
            &project,
            "Personnel",
            "100",
            "EUR",
        ],
    );
    created(
        &home,
        s,
        &["project", "budget", "add", &project, "Études", "100", "EUR"],
    );
    let expense = created(
        &home,
        s,
        &[
            "project", "expense", "add", &project, "10", "EUR", "--line", &line,
        ],
    );
    let agenda = created(&home, s, &["mission", "agenda", "add", &mission, "Visite"]);
    let action = created(&home, s, &["mission", "action", "add", &mission, "Écrire"]);
    let docs_before = ok(&home, s, &["docs"]);
    let project_before = ok(&home, s, &["project", "show", &project, "--json"]);
    let mission_before = ok(&home, s, &["mission", "show", &mission, "--json"]);
    let actor_before = ok(&home, s, &["actor", "show", &person, "--json"]);

    fails(
        &home,
        &[
            "project", "budget", "add", &project, "Frais", "beaucoup", "EUR",
        ],
        &["project.budget.planned (AMOUNT CURRENCY)", "EUR ou MAD"],
    );
    fails(
        &home,
        &["project", "budget", "add", &project, "Frais", "100", "USD"],
        &["project.budget.planned (AMOUNT CURRENCY)", "« 100 USD »"],
    );
    fails(
        &home,
        &["project", "budget", "add", &project, "Frais", "-5", "EUR"],
        &["project.budget.planned", "pas négatif"],
    );
    fails(
        &home,
        &["project", "budget", "add", &project, " ", "5", "EUR"],
        &["project.budget.heading (HEADING)"],
    );
    fails(
        &home,
        &[
            "project",
            "cofinancing",
            "add",
            &project,
            "AFD",
            "10",
            "EUR",
        ],
        &["project.budget (--line)", "Personnel", "Études"],
    );
    fails(
        &home,
        &[
            "project",
            "cofinancing",
            "add",
            &project,
            "AFD",
            "10",
            "EUR",
            "--line",
            "Voyages",
        ],
        &["project.budget (--line) Voyages", "introuvable"],
    );
    fails(
        &home,
        &[
            "project",
            "cofinancing",
            "add",
            &project,
            "AFD",
            "10",
            "EUR",
            "--line",
            &line,
            "--status",
            "promis",
        ],
        &[
            "project.budget.cofinancing.status (--status)",
            "requested, granted, received",
        ],
    );
    fails(
        &home,
        &[
            "project", "expense", "add", &project, "10", "EUR", "--line", &line, "--date", "hier",
        ],
        &["project.expenses.date (--date)"],
    );
    fails(
        &home,
        &["mission", "logistics", "add", &mission, "train", "TGV"],
        &[
            "mission.logistics.kind (KIND)",
            "flight, hotel, vehicle, interpreter, per_diem",
        ],
    );
    fails(
        &home,
        &[
            "mission",
            "logistics",
            "add",
            &mission,
            "hotel",
            "Atlas",
            "--cost",
            "cher",
            "MAD",
        ],
        &["mission.logistics.cost (--cost)"],
    );
    fails(
        &home,
        &[
            "mission",
            "meeting",
            "edit",
            &mission,
            "Inconnue",
            "--minutes",
            "x",
        ],
        &["mission.meetings Inconnue", "introuvable"],
    );
    fails(
        &home,
        &["actor", "contact", "add", &person, "fax", "0536"],
        &["actor.contacts.kind (KIND)", "email, phone"],
    );
    fails(
        &home,
        &["move", &mission, "nothing0000", "--first"],
        &["ITEM nothing0000", "introuvable"],
    );
    fails(
        &home,
        &["move", &mission, "Not An Id", "--first"],
        &["ITEM", "crochets"],
    );
    fails(
        &home,
        &["move", &mission, &agenda, "--after", &action],
        &["--after", "même liste"],
    );
    fails(
        &home,
        &["move", &project, &expense, "--first"],
        &[&format!("project.expenses[{expense}]"), "par date"],
    );
    fails(
        &home,
        &["remove", &project, &line],
        &[&format!("project.budget[{line}]"), &expense],
    );
    fails(
        &home,
        &["remove", &mission, "zzzz"],
        &["ITEM zzzz", "introuvable"],
    );
    // clap: one place is required.
    let output = command(&home, s, &["move", &mission, &agenda])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));

    assert_eq!(ok(&home, s, &["docs"]), docs_before, "nothing created");
    assert_eq!(
        ok(&home, s, &["project", "show", &project, "--json"]),
        project_before
    );
    assert_eq!(
        ok(&home, s, &["mission", "show", &mission, "--json"]),
        mission_before
    );
    assert_eq!(
        ok(&home, s, &["actor", "show", &person, "--json"]),
        actor_before
    );
}

#[test]
fn an_erased_actor_is_listed_where_still_mentioned_and_shown_as_erased() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (oujda, lille) = two_replicas(&server, dir.path());
    let (s, c) = ("samira", "claire");
    let person = created(
        &oujda,
        s,
        &[
            "actor",
            "add",
            "Karim Benali",
            "--person",
            "--basis",
            "consent",
        ],
    );
    let commune = created(&oujda, s, &["actor", "add", "Commune d'Oujda"]);
    let project = created(
        &oujda,
        s,
        &[
            "project",
            "new",
            "--code",
            "PAED",
            "--title",
            "Plan énergie",
            "--partner",
            &person,
            "--partner",
            &commune,
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
        ],
    );
    created(
        &oujda,
        s,
        &[
            "mission",
            "delegation",
            "add",
            &mission,
            "Karim Benali",
            "--role",
            "expert",
        ],
    );
    let unrelated = created(
        &oujda,
        s,
        &[
            "mission",
            "new",
            "--direction",
            "oujda-to-lille",
            "--title",
            "Autre",
        ],
    );
    sync(&oujda);
    sync(&lille);

    // Before: references show the actor's name beside its id.
    let shown = ok(&lille, c, &["project", "show", &project]);
    assert!(
        shown.contains(&format!("Karim Benali ({person})")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("Commune d'Oujda ({commune})")),
        "{shown}"
    );

    let output = command(&oujda, s, &["actor", "erase", &person, "--yes"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("encore mentionné dans 2 document(s)"),
        "{stdout}"
    );
    let project_line = stdout
        .lines()
        .find(|l| l.contains(&project))
        .unwrap_or_else(|| panic!("project not listed: {stdout}"));
    assert!(project_line.contains("projet PAED"), "{project_line}");
    assert!(
        project_line.contains(&format!("partners.{person}")),
        "{project_line}"
    );
    let mission_line = stdout
        .lines()
        .find(|l| l.contains(&mission))
        .unwrap_or_else(|| panic!("mission not listed: {stdout}"));
    assert!(mission_line.contains("delegation."), "{mission_line}");
    assert!(mission_line.contains(".person"), "{mission_line}");
    assert!(!stdout.contains(&unrelated), "{stdout}");

    // After: the id names no one; it shows as erased here, and on Lille after its sync.
    let erased = format!("{person} (effacé)");
    let shown = ok(&oujda, s, &["project", "show", &project]);
    assert!(shown.contains(&erased), "{shown}");
    assert!(!shown.contains("Karim"), "{shown}");
    assert!(
        shown.contains(&format!("Commune d'Oujda ({commune})")),
        "{shown}"
    );
    let before_sync = ok(&lille, c, &["project", "show", &project]);
    assert!(before_sync.contains("Karim Benali"), "not yet synced");
    sync(&lille);
    let shown = ok(&lille, c, &["--lang", "en", "project", "show", &project]);
    assert!(shown.contains(&format!("{person} (erased)")), "{shown}");
    assert!(!shown.contains("Karim"), "{shown}");

    // Erasing an actor nothing mentions says so.
    let alone = created(
        &oujda,
        s,
        &["actor", "add", "Fatima", "--person", "--basis", "consent"],
    );
    sync(&oujda);
    let stdout = ok(&oujda, s, &["actor", "erase", &alone, "--yes"]);
    assert!(stdout.contains("aucun autre document"), "{stdout}");
}
