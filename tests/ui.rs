//! Issue 7: the web pages, end to end, with the real server binary, the real CLI (`passerelle
//! ui`) and a real browser (Debian's chromium driven by playwright-core, `tests/js/ui.mjs`).
//!
//! The browser tests need node, `npm ci --prefix tests/js` (scripts/test runs it) and
//! `/usr/bin/chromium` (`.ci/run` installs it). Without them they print why and pass as
//! skipped on a developer machine; with `CI=true` they fail instead. The HTTP tests (access,
//! CSRF, sessions) need nothing but the binaries.
//!
//! `PASSERELLE_SCREENSHOTS=DIR` keeps the browser's screenshots of the main pages in DIR
//! (docs/screenshots/ holds the ones the README shows).

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use passerelle_tests::{CliReplica, Role, TestServer};
use reqwest::blocking::Client;
use reqwest::header;
use serde_json::Value;

/// How long one browser script may run before it is killed (each bounds itself at 90 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Whether the browser tests can run; prints why not (and fails in CI) when they cannot.
fn browser_ready() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let reason = if Command::new("node").arg("--version").output().is_err() {
        Some("`node` not found on PATH".to_owned())
    } else if !js_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        Some("playwright-core is not installed: run `npm ci --prefix tests/js`".to_owned())
    } else if !Path::new(&chromium).is_file() {
        Some(format!(
            "{chromium} not found: `apt-get install -y chromium chromium-driver` (.ci/run does)"
        ))
    } else {
        None
    };
    match reason {
        None => true,
        Some(reason) if in_ci() => panic!("the browser test cannot run in CI: {reason}"),
        Some(reason) => {
            eprintln!("SKIPPED (CI would fail): {reason}");
            false
        }
    }
}

/// Runs `node ui.mjs ARGS` and returns the JSON it printed last; panics with its stderr
/// (and the server's log) when it fails or overruns.
fn browser(server: &TestServer, args: &[&str]) -> Value {
    let mut child = Command::new("node")
        .arg("ui.mjs")
        .args(args)
        .current_dir(js_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    let result = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<Value>(l).ok());
    match result {
        Some(result) if status.is_some_and(|s| s.success()) => {
            eprintln!("ui.mjs {}: {} ms\n{err}", args[0], result["elapsedMs"]);
            result
        }
        _ => panic!(
            "`node ui.mjs {}` failed ({status:?}).\nstdout:\n{out}\nstderr:\n{err}\nserver log:\n{}",
            args.join(" "),
            server.log()
        ),
    }
}

/// The date `days` from today (UTC), `YYYY-MM-DD` (days to civil date, proleptic
/// Gregorian calendar).
fn date_in(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let z = now / 86_400 + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `passerelle init` for `user`.
fn init(replica: &CliReplica, server: &TestServer, token: &str, user: &str) {
    replica.run_ok(&[
        "init",
        "--server",
        &server.url,
        "--token",
        token,
        "--user",
        user,
    ]);
}

/// A mission made with the CLI by `replica` and synced to the server; its id. It starts in
/// a week, so the dashboard lists it among the coming missions.
fn synced_mission(replica: &CliReplica) -> String {
    let (start, end) = (date_in(7), date_in(11));
    let out = replica.run_ok(&[
        "mission",
        "new",
        "--direction",
        "lille-to-oujda",
        "--title",
        "Mission PAED à Oujda",
        "--title-ar",
        "بعثة إلى وجدة",
        "--start",
        &start,
        "--end",
        &end,
        "--purpose",
        "Préparer la visite de la régie.",
    ]);
    let id = out.lines().last().unwrap_or_default().trim().to_owned();
    replica.run_ok(&["sync"]);
    id
}

/// A signed-in session of the server's pages over plain HTTP: a client that sends the
/// session cookie the sign-in set.
fn signed_in(server: &TestServer, token: &str) -> Client {
    let response = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(format!("{}/sign-in", server.url))
        .form(&[("token", token)])
        .send()
        .expect("sign-in answers");
    assert_eq!(response.status(), 303, "sign-in redirects to the dashboard");
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let mut headers = header::HeaderMap::new();
    headers.insert(header::COOKIE, pair.parse().unwrap());
    Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}

fn csrf_of(page: &str) -> String {
    let start = page
        .find("name=\"csrf-token\" content=\"")
        .expect("a csrf meta")
        + 27;
    page[start..start + 64].to_owned()
}

#[test]
fn a_page_never_shows_a_document_its_reader_could_not_sync() {
    let server = TestServer::start();
    let claire = server.add_user("claire", "ville-de-lille", Role::Editor);
    let karim = server.add_user("karim", "commune-oujda", Role::Editor);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let replica = CliReplica::new(dir.path().join("claire"));
    init(&replica, &server, &claire, "claire");
    let mission = synced_mission(&replica);

    let lille = signed_in(&server, &claire);
    let page = lille
        .get(format!("{}/doc/{mission}", server.url))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().unwrap();
    assert!(page.contains("Mission PAED à Oujda"), "{page}");
    let dashboard = lille
        .get(format!("{}/", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    // The `today` view: the mission starts in a week.
    let coming = &dashboard[dashboard
        .find("id=\"coming-missions\"")
        .expect("the section")
        ..dashboard.find("id=\"calls\"").expect("the next section")];
    assert!(coming.contains(&format!("/doc/{mission}")), "{coming}");

    // Another organisation: the document is as missing as one that does not exist.
    let oujda = signed_in(&server, &karim);
    let denied = oujda
        .get(format!("{}/doc/{mission}", server.url))
        .send()
        .unwrap();
    assert_eq!(denied.status(), 404);
    assert!(!denied.text().unwrap().contains("Mission PAED"));
    let dashboard = oujda
        .get(format!("{}/", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!dashboard.contains(&mission.to_string()), "{dashboard}");
    let edit = oujda
        .post(format!("{}/doc/{mission}/edit", server.url))
        .header("x-csrf-token", csrf_of(&dashboard))
        .json(&serde_json::json!({"op": "set", "path": "purpose", "value": "pris"}))
        .send()
        .unwrap();
    assert_eq!(edit.status(), 404);

    // Without a session: the sign-in page, never the document.
    let anonymous = Client::new();
    let page = anonymous
        .get(format!("{}/doc/{mission}", server.url))
        .send()
        .unwrap();
    let page = page.text().unwrap();
    assert!(page.contains("name=\"token\""), "{page}");
    assert!(!page.contains("Mission PAED"));
    let bad = anonymous
        .post(format!("{}/sign-in", server.url))
        .form(&[("token", "psl_not-a-token")])
        .send()
        .unwrap();
    assert_eq!(bad.status(), 401);
}

#[test]
fn edits_need_the_session_csrf_token_and_the_same_origin_and_are_saved() {
    let server = TestServer::start();
    let claire = server.add_user("claire", "ville-de-lille", Role::Editor);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let replica = CliReplica::new(dir.path().join("claire"));
    init(&replica, &server, &claire, "claire");
    let mission = synced_mission(&replica);
    let lille = signed_in(&server, &claire);
    let page = lille
        .get(format!("{}/doc/{mission}", server.url))
        .send()
        .unwrap();
    let cookie_flags = page
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert!(
        cookie_flags.is_empty(),
        "no new cookie on a page: {cookie_flags:?}"
    );
    let csp = page
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let page = page.text().unwrap();
    let csrf = csrf_of(&page);
    let url = format!("{}/doc/{mission}/edit", server.url);
    let edit = serde_json::json!({"op": "set", "path": "purpose", "value": "Préparer la visite. Réserver la salle."});

    let missing = lille.post(&url).json(&edit).send().unwrap();
    assert_eq!(missing.status(), 403);
    let wrong = lille
        .post(&url)
        .header("x-csrf-token", "0".repeat(64))
        .json(&edit)
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let cross_site = lille
        .post(&url)
        .header("x-csrf-token", &csrf)
        .header(header::ORIGIN, "https://evil.example")
        .json(&edit)
        .send()
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let bad_field = lille
        .post(&url)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"op": "set", "path": "no_such", "value": "x"}))
        .send()
        .unwrap();
    assert_eq!(bad_field.status(), 400);
    assert!(replica.show_json(&mission)["purpose"] != "x");

    let ok = lille
        .post(&url)
        .header("x-csrf-token", &csrf)
        .json(&edit)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200, "{:?}", ok.text());
    // The edit is on the server: a sync brings it to the CLI replica.
    replica.run_ok(&["sync"]);
    let shown = replica.run_ok(&["mission", "show", &mission, "--json"]);
    assert!(shown.contains("Réserver la salle."), "{shown}");

    // Signing out ends the session: the same cookie no longer reads anything.
    let out = lille
        .post(format!("{}/sign-out", server.url))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert!(out.text().unwrap().contains("name=\"token\""));
    let after = lille
        .post(&url)
        .header("x-csrf-token", &csrf)
        .json(&edit)
        .send()
        .unwrap();
    assert_eq!(after.status(), 401);
}

#[test]
fn two_browsers_edit_the_same_mission_and_each_sees_the_other() {
    if !browser_ready() {
        return;
    }
    let server = TestServer::start();
    let claire = server.add_user("claire", "ville-de-lille", Role::Editor);
    let youssef = server.add_user("youssef", "ville-de-lille", Role::Editor);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let replica = CliReplica::new(dir.path().join("claire"));
    init(&replica, &server, &claire, "claire");
    let mission = synced_mission(&replica);
    // Claire and Youssef set the status offline, differently: a conflict.
    let other = CliReplica::new(dir.path().join("youssef"));
    init(&other, &server, &youssef, "youssef");
    other.run_ok(&["sync"]);
    other.run_ok(&["mission", "edit", &mission, "--status", "confirmed"]);
    replica.run_ok(&["mission", "edit", &mission, "--status", "planned"]);
    other.run_ok(&["sync"]);
    replica.run_ok(&["sync"]);

    let shots = std::env::var("PASSERELLE_SCREENSHOTS").ok();
    let mut args = vec![
        "together",
        "--url",
        &server.url,
        "--token-a",
        &claire,
        "--token-b",
        &youssef,
        "--doc",
        &mission,
    ];
    if let Some(shots) = &shots {
        args.extend(["--shots", shots.as_str()]);
    }
    let seen = browser(&server, &args);
    assert_eq!(seen["conflictsBefore"], 1, "{seen}");
    assert_eq!(seen["conflictResolved"], true, "{seen}");
    assert_eq!(seen["bSawAgenda"], true, "{seen}");
    assert_eq!(seen["aSawMeeting"], true, "{seen}");
    for who in ["minutesA", "minutesB"] {
        let minutes = seen[who].as_str().unwrap_or_default();
        assert!(minutes.contains("Claire : budget validé."), "{who}: {seen}");
        assert!(
            minutes.contains("Youssef : visite du chantier."),
            "{who}: {seen}"
        );
    }
    assert_eq!(seen["arabic"]["dir"], "rtl", "{seen}");
    assert_eq!(seen["arabic"]["lang"], "ar", "{seen}");
    assert_eq!(seen["arabic"]["direction"], "rtl", "{seen}");
    assert_eq!(seen["arabic"]["agendaHeading"], "جدول الأعمال", "{seen}");

    // Both edits are in the server's document, with the agenda item and the meeting.
    replica.run_ok(&["sync"]);
    // The whole document (`mission show` leaves the meetings out).
    let shown = replica.show_json(&mission).to_string();
    assert!(shown.contains("Visite de la régie"), "{shown}");
    assert!(shown.contains("Claire : budget validé."), "{shown}");
    assert!(shown.contains("Youssef : visite du chantier."), "{shown}");
    let conflicts = replica.run_ok(&["conflicts", &mission, "--json"]);
    let conflicts: Value = serde_json::from_str(&conflicts).expect("JSON");
    assert_eq!(conflicts.as_array().map(Vec::len), Some(0), "{conflicts}");
}

/// `passerelle ui` on 127.0.0.1:0: the child and the address it printed.
fn local_ui(replica: &CliReplica) -> (Child, String) {
    let mut child = replica.spawn(&["ui", "--listen", "127.0.0.1:0"]);
    let stdout = child.stdout.take().expect("piped");
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let line = receive
        .recv_timeout(Duration::from_secs(30))
        .expect("`passerelle ui` prints its address");
    let url = line
        .strip_prefix("passerelle ui: ")
        .expect("the address line")
        .trim_end_matches('/')
        .to_owned();
    (child, url)
}

#[test]
fn the_local_ui_refuses_other_hosts_and_addresses() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let replica = CliReplica::new(dir.path().join("home"));
    replica.init("http://127.0.0.1:9", "psl_unused");
    let refused = replica.run(&["ui", "--listen", "0.0.0.0:0"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("loopback"));

    let (mut child, url) = local_ui(&replica);
    let client = Client::new();
    let page = client.get(format!("{url}/")).send().unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let page = page.text().unwrap();
    assert!(page.contains("lang=\"fr\""), "French by default");
    // DNS rebinding: a page of another site that resolves to 127.0.0.1 gets nothing.
    let rebound = client
        .get(format!("{url}/"))
        .header(header::HOST, "evil.example")
        .send()
        .unwrap();
    assert_eq!(rebound.status(), 403);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn an_edit_in_the_local_ui_while_the_server_is_down_reaches_the_server_page() {
    if !browser_ready() {
        return;
    }
    let mut server = TestServer::start();
    let claire = server.add_user("claire", "ville-de-lille", Role::Editor);
    let youssef = server.add_user("youssef", "ville-de-lille", Role::Editor);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let replica = CliReplica::new(dir.path().join("claire"));
    init(&replica, &server, &claire, "claire");
    let mission = synced_mission(&replica);

    let (mut ui, local) = local_ui(&replica);
    server.kill();
    let text = "Hors ligne à Oujda : réserver la salle du conseil.";
    let mut args = vec![
        "offline-edit",
        "--local",
        &local,
        "--doc",
        &mission,
        "--text",
        text,
    ];
    let shots = std::env::var("PASSERELLE_SCREENSHOTS").ok();
    if let Some(shots) = &shots {
        args.extend(["--shots", shots.as_str()]);
    }
    let local_seen = browser(&server, &args);
    assert_eq!(local_seen["saved"], true, "{local_seen}");
    assert_eq!(local_seen["badgeCounts"], true, "{local_seen}");
    assert_eq!(local_seen["state"], "offline", "{local_seen}");

    server.restart_on_same_address();
    let seen = browser(
        &server,
        &[
            "wait-text",
            "--url",
            &server.url,
            "--token",
            &youssef,
            "--doc",
            &mission,
            "--text",
            text,
        ],
    );
    let _ = ui.kill();
    let _ = ui.wait();
    assert_eq!(seen["seen"], true, "{seen}");
}

/// The last line `passerelle ARGS` printed: the id of what it made.
fn made(replica: &CliReplica, args: &[&str]) -> String {
    let out = replica.run_ok(args);
    out.lines().last().unwrap_or_default().trim().to_owned()
}

#[test]
fn the_programme_pages_in_a_browser_list_search_and_edit() {
    if !browser_ready() {
        return;
    }
    let server = TestServer::start();
    let claire = server.add_user("claire", "ville-de-lille", Role::Editor);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let replica = CliReplica::new(dir.path().join("claire"));
    init(&replica, &server, &claire, "claire");

    // The directory: three organisations, and a person who will be erased.
    let commune = made(
        &replica,
        &[
            "actor",
            "add",
            "Commune d'Oujda",
            "--category",
            "commune",
            "--theme",
            "énergie",
        ],
    );
    made(
        &replica,
        &[
            "actor",
            "add",
            "Université Mohammed Ier",
            "--category",
            "university",
            "--theme",
            "Oujda",
        ],
    );
    made(
        &replica,
        &[
            "actor",
            "add",
            "Institut français d'Oujda",
            "--category",
            "cultural",
        ],
    );
    let person = made(
        &replica,
        &[
            "actor",
            "add",
            "Jean Dupont",
            "--person",
            "--basis",
            "consent",
        ],
    );
    let project = made(
        &replica,
        &[
            "project",
            "new",
            "--code",
            "PAED",
            "--title",
            "Plan d'action énergie durable",
            "--status",
            "ongoing",
            "--partner",
            &commune,
            "--partner",
            &person,
        ],
    );
    let result = made(
        &replica,
        &[
            "project",
            "result",
            "add",
            &project,
            "Des bâtiments publics rénovés",
        ],
    );
    let indicator = made(
        &replica,
        &[
            "project",
            "indicator",
            "add",
            &project,
            "Bâtiments rénovés",
            "--result",
            &result,
            "--baseline",
            "0",
            "--target",
            "40",
        ],
    );
    made(
        &replica,
        &[
            "project",
            "indicator",
            "add",
            &project,
            "Élèves sensibilisés",
            "--result",
            &result,
        ],
    );
    replica.run_ok(&[
        "project", "measure", &project, &indicator, "--period", "2026-Q3", "--value", "10",
    ]);
    for (heading, amount, currency) in [("Études", "1000", "EUR"), ("Études", "20000", "MAD")] {
        replica.run_ok(&[
            "project", "budget", "add", &project, heading, amount, currency,
        ]);
    }
    replica.run_ok(&["journal", "add", "Première visite de la régie."]);
    let (soon, later, past) = (date_in(5), date_in(30), date_in(-3));
    replica.run_ok(&[
        "call",
        "add",
        "Appel AFD",
        "--funder",
        "AFD",
        "--deadline",
        &later,
    ]);
    replica.run_ok(&[
        "call",
        "add",
        "Appel UE",
        "--funder",
        "UE",
        "--deadline",
        &soon,
    ]);
    replica.run_ok(&[
        "call",
        "add",
        "Appel clos",
        "--funder",
        "Région",
        "--deadline",
        &past,
    ]);
    replica.run_ok(&[
        "news",
        "add",
        "https://oujda.example/ar/1",
        "--title",
        "توقيع اتفاقية شراكة",
        "--language",
        "ar",
        "--date",
        &date_in(-1),
        "--source",
        "Oujda City",
    ]);
    replica.run_ok(&[
        "news",
        "add",
        "https://oujda.example/fr/2",
        "--title",
        "Atelier énergie",
        "--date",
        &date_in(-10),
    ]);
    replica.run_ok(&["sync"]);
    // Jean Dupont's record is erased for good (on the server too).
    replica.run_ok(&["actor", "erase", &person, "--yes"]);

    let shots = std::env::var("PASSERELLE_SCREENSHOTS").ok();
    let mut args = vec!["programme", "--url", &server.url, "--token", &claire];
    if let Some(shots) = &shots {
        args.extend(["--shots", shots.as_str()]);
    }
    let seen = browser(&server, &args);

    assert_eq!(seen["projectRows"], 1, "{seen}");
    assert_eq!(seen["status"], "en cours", "translated status: {seen}");
    let partners = seen["partners"].to_string();
    assert!(partners.contains("Commune d'Oujda"), "{seen}");
    assert!(partners.contains(&format!("{person} (effacé)")), "{seen}");
    assert_eq!(seen["progressBefore"], "25 %", "{seen}");
    assert_eq!(seen["progressChanged"], true, "{seen}");
    assert_eq!(seen["progressAfter"], "75 %", "{seen}");
    assert!(
        seen["currentAfter"]
            .as_str()
            .unwrap_or_default()
            .starts_with("30"),
        "{seen}"
    );
    assert_eq!(
        seen["noTarget"],
        serde_json::json!(["pas de cible"]),
        "{seen}"
    );
    let headings = seen["headings"].to_string();
    assert!(headings.contains("1000.00 EUR + 20000.00 MAD"), "{seen}");

    assert_eq!(seen["entriesBefore"], 1, "{seen}");
    assert_eq!(seen["entryAdded"], true, "{seen}");
    assert_eq!(
        seen["firstEntry"], "Réunion avec la commune sur le PAED.",
        "{seen}"
    );

    assert_eq!(seen["actorsAll"], 3, "the erased person is gone: {seen}");
    assert_eq!(
        seen["actorsFound"],
        serde_json::json!(["Université Mohammed Ier"]),
        "{seen}"
    );

    let open = seen["openCalls"].as_array().cloned().unwrap_or_default();
    assert_eq!(open.len(), 2, "{seen}");
    assert!(
        open[0].as_str().unwrap_or_default().contains("Appel UE"),
        "{seen}"
    );
    assert!(
        open[0]
            .as_str()
            .unwrap_or_default()
            .contains("5 jours restants"),
        "{seen}"
    );
    assert!(
        open[1].as_str().unwrap_or_default().contains("Appel AFD"),
        "{seen}"
    );
    let closed = seen["closedCalls"].to_string();
    assert!(closed.contains("Appel clos"), "{seen}");

    assert_eq!(
        seen["news"][0]["title"], "توقيع اتفاقية شراكة",
        "newest first: {seen}"
    );
    assert_eq!(seen["news"][0]["dir"], "rtl", "{seen}");
    assert_eq!(seen["news"][0]["direction"], "rtl", "{seen}");
    assert_eq!(seen["news"][1]["dir"], "ltr", "{seen}");
    assert_eq!(
        seen["news"][0]["link"], "https://oujda.example/ar/1",
        "{seen}"
    );

    // The edits made in the pages are in the server's documents.
    replica.run_ok(&["sync"]);
    let shown = replica.show_json(&project).to_string();
    assert!(shown.contains("\"30\""), "{shown}");
    let journal = replica.run_ok(&["journal", "list"]);
    assert!(
        journal.contains("Réunion avec la commune sur le PAED."),
        "{journal}"
    );
}

/// A project made with the CLI by `replica` (with a budget line), synced; its id.
fn synced_project(replica: &CliReplica, code: &str, title: &str, amount: &str) -> String {
    let out = replica.run_ok(&[
        "project",
        "new",
        "--code",
        code,
        "--title",
        title,
        "--start",
        "2026-01-01",
        "--partner",
        "RADEEO",
    ]);
    let id = out.lines().last().unwrap_or_default().trim().to_owned();
    replica.run_ok(&["project", "budget", "add", code, "Personnel", amount, "EUR"]);
    replica.run_ok(&["sync"]);
    id
}

/// The text of the section `id` of a page (up to the end of the page).
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}: {page}"));
    &page[start..]
}

#[test]
fn the_public_page_history_reports_and_recent_changes_over_http() {
    let server = TestServer::start();
    let claire = server.add_user("claire", "ville-de-lille", Role::Editor);
    let karim = server.add_user("karim", "commune-oujda", Role::Editor);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let replica = CliReplica::new(dir.path().join("claire"));
    init(&replica, &server, &claire, "claire");
    let published = synced_project(&replica, "PAED", "Plan énergie Oujda", "98765");
    let private = synced_project(&replica, "SECRET", "Projet interne confidentiel", "4321");
    let mission = synced_mission(&replica);
    let out = replica.run_ok(&["project", "publish", "PAED"]);
    assert!(out.contains(&published), "{out}");
    replica.run_ok(&["sync"]);

    // Signed out: the published project, nothing private, no budget, no session started.
    let anonymous = Client::new();
    let response = anonymous
        .get(format!("{}/public", server.url))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let page = response.text().unwrap();
    assert!(page.contains("Plan énergie Oujda"), "{page}");
    assert!(page.contains("RADEEO"), "{page}");
    for secret in [
        "Projet interne confidentiel",
        "98765",
        "765,00",
        "765.00",
        "4321",
        "Personnel",
        "Mission PAED à Oujda",
        private.as_str(),
        mission.as_str(),
    ] {
        assert!(!page.contains(secret), "{secret} leaked: {page}");
    }
    // Publishing the mission shows its public fields; withdrawing the project hides it.
    replica.run_ok(&["mission", "publish", &mission]);
    replica.run_ok(&["project", "publish", "PAED", "--undo"]);
    replica.run_ok(&["sync"]);
    let page = anonymous
        .get(format!("{}/public/en", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Mission PAED à Oujda"), "{page}");
    assert!(page.contains("Lille → Oujda"), "{page}");
    assert!(page.contains("Préparer la visite de la régie."), "{page}");
    assert!(!page.contains("Plan énergie Oujda"), "withdrawn: {page}");
    assert!(page.contains("lang=\"en\""), "{page}");

    // History: every change with the user whose sync delivered it, newest first.
    let lille = signed_in(&server, &claire);
    let page = lille
        .get(format!("{}/doc/{published}/history", server.url))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().unwrap();
    let rows = section(&page, "history");
    assert!(rows.matches("<tr data-change=").count() >= 3, "{rows}");
    assert!(rows.contains("claire (vous)"), "{rows}");
    let doc_page = lille
        .get(format!("{}/doc/{published}", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        doc_page.contains(&format!("/doc/{published}/history")),
        "{doc_page}"
    );
    // Recent changes on the dashboard, with who made them.
    let dashboard = lille
        .get(format!("{}/", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let recent = section(&dashboard, "recent-changes");
    assert!(
        recent.contains("Plan énergie Oujda") && recent.contains("claire"),
        "{recent}"
    );

    // Reports: the periodic workbook and text, for those who may read the project only.
    let response = lille
        .get(format!(
            "{}/projects/{published}/report/2026/xlsx",
            server.url
        ))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"PAED-2026.xlsx\""
    );
    let bytes = response.bytes().unwrap().to_vec();
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("an xlsx");
    use calamine::Reader as _;
    let names = book.sheet_names();
    let budget_sheet = names
        .iter()
        .find(|n| n.starts_with("Budget"))
        .expect("a budget sheet")
        .clone();
    let budget = book.worksheet_range(&budget_sheet).unwrap();
    let cells: Vec<String> = budget.rows().flatten().map(|c| c.to_string()).collect();
    assert!(cells.iter().any(|c| c == "Personnel"), "{cells:?}");
    assert!(cells.iter().any(|c| c.contains("98765")), "{cells:?}");
    let text = lille
        .get(format!(
            "{}/projects/{published}/report/2026-Q1/md",
            server.url
        ))
        .send()
        .unwrap();
    assert_eq!(
        text.headers()[header::CONTENT_TYPE],
        "text/markdown; charset=utf-8"
    );
    let text = text.text().unwrap();
    assert!(text.contains("Plan énergie Oujda"), "{text}");
    let oujda = signed_in(&server, &karim);
    for path in [
        format!("/projects/{published}/report/2026/xlsx"),
        format!("/doc/{mission}/report/md"),
        format!("/doc/{published}/history"),
    ] {
        let denied = oujda.get(format!("{}{path}", server.url)).send().unwrap();
        assert_eq!(denied.status(), 404, "{path}");
    }
    let dashboard = oujda
        .get(format!("{}/", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        !section(&dashboard, "recent-changes").contains("Plan énergie"),
        "{dashboard}"
    );
}

#[test]
fn a_signed_out_browser_sees_a_mission_once_it_is_published_and_its_history_names_the_editor() {
    if !browser_ready() {
        return;
    }
    let server = TestServer::start();
    let claire = server.add_user("claire", "ville-de-lille", Role::Editor);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let replica = CliReplica::new(dir.path().join("claire"));
    init(&replica, &server, &claire, "claire");
    synced_project(&replica, "PAED", "Plan énergie Oujda", "98765");
    replica.run_ok(&["project", "publish", "PAED"]);
    let mission = synced_mission(&replica);
    replica.run_ok(&["sync"]);
    let title = "Mission PAED à Oujda";
    let mut args = vec![
        "public",
        "--url",
        &server.url,
        "--token",
        &claire,
        "--doc",
        &mission,
        "--title",
        title,
    ];
    let shots = std::env::var("PASSERELLE_SCREENSHOTS").ok();
    if let Some(shots) = &shots {
        args.extend(["--shots", shots.as_str()]);
    }
    let seen = browser(&server, &args);
    let before = seen["before"].as_str().unwrap_or_default();
    assert!(before.contains("Plan énergie Oujda"), "{seen}");
    assert!(!before.contains(title), "private until ticked: {seen}");
    assert_eq!(
        seen["signInShown"], 0,
        "no sign-in on the public page: {seen}"
    );
    assert_eq!(seen["cookiesBefore"], 0, "no cookie for a visitor: {seen}");
    assert_eq!(seen["visitorSignOut"], 0, "{seen}");
    assert_eq!(seen["checkedBefore"], false, "{seen}");
    assert_eq!(seen["saved"], true, "{seen}");
    assert_eq!(seen["shown"], true, "{seen}");
    let after = seen["after"].as_str().unwrap_or_default();
    assert!(
        !after.contains("98765") && !after.contains("Personnel"),
        "{seen}"
    );
    assert!(seen["historyRows"].as_u64().unwrap_or(0) >= 2, "{seen}");
    assert!(
        seen["firstWho"]
            .as_str()
            .unwrap_or_default()
            .contains("claire"),
        "the newest change (the checkbox) is claire's: {seen}"
    );
}
