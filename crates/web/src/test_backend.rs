//! Tests of the public page, histories, report downloads, cookies and the live-stream cap
//! through the real router, over a small in-memory backend that signs in like the server
//! (a token, no local reader). The server's own backend is tested over real HTTP in
//! `tests/ui.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use automerge::{AutoCommit, ChangeHash};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jiff::Timestamp;
use passerelle_core::DocumentId;
use passerelle_model::{Direction, Stamp, mission, project};
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tower::ServiceExt as _;

use crate::backend::{Applied, Authored, Backend, BackendError, LiveEvent, SyncView};
use crate::published::{Published, organisation_name};
use crate::routes::{WebOptions, router};

const TOKEN: &str = "psl_claire";

#[derive(Default)]
struct Memory {
    docs: Mutex<HashMap<DocumentId, AutoCommit>>,
    /// Documents claire may not read.
    hidden: HashSet<DocumentId>,
    authors: HashMap<ChangeHash, Authored>,
    events: Option<broadcast::Sender<LiveEvent>>,
    closing: Option<watch::Sender<bool>>,
}

impl Backend for Memory {
    type Reader = String;

    async fn sign_in(&self, token: &str) -> Result<Option<String>, BackendError> {
        Ok((token == TOKEN).then(|| "claire".to_owned()))
    }
    fn local_reader(&self) -> Option<String> {
        None
    }
    fn reader_name(&self, reader: &String) -> String {
        reader.clone()
    }
    async fn documents(
        &self,
        _reader: &String,
        limit: usize,
    ) -> Result<Vec<(DocumentId, AutoCommit)>, BackendError> {
        let docs = self.docs.lock().unwrap();
        Ok(docs
            .iter()
            .filter(|(id, _)| !self.hidden.contains(id))
            .take(limit)
            .map(|(id, doc)| (*id, doc.clone()))
            .collect())
    }
    async fn document(
        &self,
        _reader: &String,
        id: DocumentId,
    ) -> Result<Option<AutoCommit>, BackendError> {
        if self.hidden.contains(&id) {
            return Ok(None);
        }
        Ok(self.docs.lock().unwrap().get(&id).cloned())
    }
    async fn may_read(&self, _reader: &String, id: DocumentId) -> Result<bool, BackendError> {
        Ok(!self.hidden.contains(&id))
    }
    async fn apply(
        &self,
        _reader: &String,
        _id: DocumentId,
        _doc: AutoCommit,
        _base: Vec<ChangeHash>,
    ) -> Result<Applied, BackendError> {
        Ok(Applied::ReadOnly)
    }
    async fn published(&self, limit: usize) -> Result<Vec<Published>, BackendError> {
        let mut docs = self.docs.lock().unwrap();
        let mut out: Vec<Published> = docs
            .iter_mut()
            .filter_map(|(id, doc)| Published::from_doc(*id, doc))
            .take(limit)
            .collect();
        let names: HashMap<DocumentId, String> = docs
            .iter_mut()
            .filter_map(|(id, doc)| organisation_name(doc).map(|n| (*id, n)))
            .collect();
        for p in &mut out {
            p.resolve(&names);
        }
        Ok(out)
    }
    async fn authors(
        &self,
        _reader: &String,
        ids: Vec<DocumentId>,
    ) -> Result<HashMap<DocumentId, HashMap<ChangeHash, Authored>>, BackendError> {
        Ok(ids
            .into_iter()
            .filter(|id| !self.hidden.contains(id))
            .map(|id| (id, self.authors.clone()))
            .collect())
    }
    fn sync_view(&self) -> SyncView {
        SyncView {
            is_server: true,
            ..SyncView::default()
        }
    }
    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.as_ref().expect("events").subscribe()
    }
    fn closing(&self) -> watch::Receiver<bool> {
        self.closing.as_ref().expect("closing").subscribe()
    }
}

fn stamp() -> Stamp {
    Stamp::new(
        "samira",
        "2026-05-01T08:00:00Z".parse::<Timestamp>().unwrap(),
    )
}

fn set(doc: &mut AutoCommit, path: &str, value: serde_json::Value) {
    passerelle_model::set(doc, &path.parse().unwrap(), &value, &stamp()).unwrap();
}

/// A published project with a budget, a private one, a published mission with a delegate,
/// and a mission claire may not read (published, so public all the same).
struct World {
    backend: Memory,
    public_project: DocumentId,
    private_project: DocumentId,
    public_mission: DocumentId,
}

fn world() -> World {
    let mut public = project::new_project(
        &project::NewProject::new("PAED-OUJDA", "Plan énergie Oujda"),
        &stamp(),
    )
    .unwrap();
    project::add_budget_line(
        &mut public,
        "Personnel",
        None,
        Some("98765.00 EUR".parse().unwrap()),
        &stamp(),
    )
    .unwrap();
    set(&mut public, "start", json!("2026-01-01"));
    set(&mut public, "public", json!(true));
    let mut private = project::new_project(
        &project::NewProject::new("SECRET", "Projet interne confidentiel"),
        &stamp(),
    )
    .unwrap();
    set(&mut private, "public", json!(false));
    let mut visit = mission::new_mission(
        &mission::NewMission {
            direction: Direction::LilleToOujda,
            title: vec![("fr".into(), "Visite de la régie".into())],
            start: Some(jiff::civil::date(2026, 5, 11)),
            end: Some(jiff::civil::date(2026, 5, 15)),
        },
        &stamp(),
    )
    .unwrap();
    passerelle_model::insert(
        &mut visit,
        &"delegation".parse().unwrap(),
        passerelle_model::Place::End,
        &json!({"person": "Karim Benali", "organisation": "Commune d'Oujda"}),
        &stamp(),
    )
    .unwrap();
    set(&mut visit, "public", json!(true));
    let (a, b, c) = (
        DocumentId::random(),
        DocumentId::random(),
        DocumentId::random(),
    );
    let (events, _) = broadcast::channel(16);
    let (closing, _) = watch::channel(false);
    World {
        backend: Memory {
            docs: Mutex::new(HashMap::from([(a, public), (b, private), (c, visit)])),
            hidden: HashSet::new(),
            authors: HashMap::new(),
            events: Some(events),
            closing: Some(closing),
        },
        public_project: a,
        private_project: b,
        public_mission: c,
    }
}

async fn get(
    app: &axum::Router,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, HeaderList, Vec<u8>) {
    let mut request = Request::get(path).header(header::HOST, "example.org");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap()
        .to_vec();
    (status, headers, body)
}

type HeaderList = Vec<(String, String)>;

fn header_of<'a>(headers: &'a HeaderList, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Signs in; returns the `Cookie` header value and the `Set-Cookie` the server sent.
async fn sign_in(app: &axum::Router) -> (String, String) {
    let response = app
        .clone()
        .oneshot(
            Request::post("/sign-in")
                .header(header::HOST, "example.org")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("token={TOKEN}")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    (set.split(';').next().unwrap().to_owned(), set)
}

#[tokio::test]
async fn the_public_page_needs_no_session_and_shows_only_published_public_fields() {
    let w = world();
    let app = router(Arc::new(w.backend), WebOptions::server());
    let (status, headers, body) = get(&app, "/public", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        header_of(&headers, "set-cookie").is_none(),
        "no session for a visitor"
    );
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("Plan énergie Oujda"), "{page}");
    assert!(page.contains("Visite de la régie"), "{page}");
    assert!(page.contains("Lille → Oujda"), "{page}");
    assert!(
        page.contains("Commune d&#39;Oujda") || page.contains("Commune d'Oujda"),
        "{page}"
    );
    for secret in [
        "Projet interne confidentiel",
        "98765",
        "765,00",
        "765.00",
        "Personnel",
        "Karim",
        &w.private_project.to_string(),
    ] {
        assert!(!page.contains(secret), "{secret} leaked: {page}");
    }
    // Ids are not links to pages a visitor cannot open anyway, but they must not leak the
    // private document either way.
    let _ = (w.public_project, w.public_mission);
    let (status, _, body) = get(&app, "/public/ar", None).await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(body).unwrap();
    assert!(
        page.contains("dir=\"rtl\"") && page.contains("الصفحة العامة"),
        "{page}"
    );
    assert_eq!(get(&app, "/public/de", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn history_and_reports_need_a_session_and_answer_with_the_right_types() {
    let mut w = world();
    let (project_id, mission_id) = (w.public_project, w.public_mission);
    let head = {
        let mut docs = w.backend.docs.lock().unwrap();
        docs.get_mut(&project_id).unwrap().get_heads()[0]
    };
    w.backend.authors.insert(
        head,
        Authored {
            who: "youssef".into(),
            at: Some("2026-05-02T10:30:00Z".parse().unwrap()),
        },
    );
    w.backend.hidden.insert(w.private_project);
    let private = w.private_project;
    let app = router(Arc::new(w.backend), WebOptions::server());
    let history = format!("/doc/{project_id}/history");
    assert_eq!(get(&app, &history, None).await.0, StatusCode::SEE_OTHER);
    let (cookie, set_cookie) = sign_in(&app).await;
    assert!(!set_cookie.contains("Secure"), "plain http by default");

    let (status, _, body) = get(&app, &history, Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(body).unwrap();
    assert!(
        page.contains("youssef") && page.contains("2026-05-02 10:30"),
        "{page}"
    );
    let hidden = format!("/doc/{private}/history");
    assert_eq!(
        get(&app, &hidden, Some(&cookie)).await.0,
        StatusCode::NOT_FOUND
    );
    // The document page links to its history and its reports.
    let (_, _, body) = get(&app, &format!("/doc/{project_id}"), Some(&cookie)).await;
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains(&history) && page.contains(&format!("/projects/{project_id}/report")));
    // The dashboard's recent changes name who made them.
    let (_, _, body) = get(&app, "/", Some(&cookie)).await;
    let page = String::from_utf8(body).unwrap();
    let recent = &page[page.find("id=\"recent-changes\"").expect("the section")..];
    assert!(recent.contains("youssef"), "{recent}");

    let (status, _, body) = get(
        &app,
        &format!("/projects/{project_id}/report"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(body).unwrap();
    assert!(
        page.contains(&format!("/projects/{project_id}/report/2026-Q2/xlsx")),
        "{page}"
    );

    let (status, headers, body) = get(
        &app,
        &format!("/projects/{project_id}/report/2026-Q2/md"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header_of(&headers, "content-type"),
        Some("text/markdown; charset=utf-8")
    );
    assert_eq!(
        header_of(&headers, "content-disposition"),
        Some("attachment; filename=\"PAED-OUJDA-2026-Q2.md\"")
    );
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("Plan énergie Oujda") && text.contains("98\u{202f}765,00 EUR"),
        "{text}"
    );
    let (status, headers, body) = get(
        &app,
        &format!("/projects/{project_id}/report/2026-Q2/xlsx"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        header_of(&headers, "content-type")
            .unwrap()
            .contains("spreadsheetml")
    );
    assert!(body.starts_with(b"PK"), "a zip (xlsx)");
    let (status, headers, _) = get(
        &app,
        &format!("/doc/{mission_id}/report/docx"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        header_of(&headers, "content-type")
            .unwrap()
            .contains("wordprocessingml")
    );
    for refused in [
        format!("/projects/{private}/report/2026-Q2/md"),
        format!("/projects/{project_id}/report/2026-Q9/md"),
        format!("/projects/{project_id}/report/2026-Q2/exe"),
        format!("/doc/{mission_id}/report/xlsx"),
    ] {
        assert_eq!(
            get(&app, &refused, Some(&cookie)).await.0,
            StatusCode::NOT_FOUND,
            "{refused}"
        );
    }
}

#[tokio::test]
async fn cookies_are_secure_when_asked_and_live_streams_are_capped_per_session() {
    let w = world();
    let app = router(
        Arc::new(w.backend),
        WebOptions::server().with_secure_cookies(true),
    );
    let (cookie, set_cookie) = sign_in(&app).await;
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    let mut open = Vec::new();
    for _ in 0..8 {
        let response = app
            .clone()
            .oneshot(
                Request::get("/live")
                    .header(header::HOST, "example.org")
                    .header(header::COOKIE, &cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        open.push(response);
    }
    let (status, headers, body) = get(&app, "/live", Some(&cookie)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header_of(&headers, "retry-after"), Some("30"));
    assert!(String::from_utf8(body).unwrap().contains("error"));
    // Closing a stream gives its place back.
    drop(open.pop());
    let response = app
        .clone()
        .oneshot(
            Request::get("/live")
                .header(header::HOST, "example.org")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
