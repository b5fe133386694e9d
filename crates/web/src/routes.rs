//! The router of the pages and its handlers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use automerge::AutoCommit;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use maud::Markup;
use passerelle_core::DocumentId;
use passerelle_model::Document;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::backend::{Applied, Backend, LiveEvent};
use crate::edit::{self, Edit, EditError};
use crate::lang::Lang;
use crate::pages::dashboard::Opened;
use crate::pages::layout::{Frame, page, sync_text};
use crate::pages::{self, heads_attr};
use crate::programme;
use crate::session::{
    LANG_COOKIE, SESSION_COOKIE, Session, Sessions, cleared_session_cookie, cookie, same_secret,
    session_cookie,
};

/// The most documents the dashboard reads.
pub(crate) const DASHBOARD_LIMIT: usize = 2_000;
/// The largest edit body: a text of `passerelle_model::MAX_TEXT_LEN` (1 MiB) escaped in JSON.
const MAX_EDIT_BYTES: usize = 4 * 1024 * 1024;
/// The longest token a sign-in form may carry.
const MAX_TOKEN_LEN: usize = 512;

const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// How the pages are served.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WebOptions {
    /// Refuse requests whose `Host` is not a loopback name (`127.0.0.1`, `localhost`,
    /// `[::1]`): the local UI, which a web site could otherwise reach through DNS rebinding.
    pub loopback_only: bool,
    /// Mark cookies `Secure` (sent over https only): for a server behind https
    /// (`passerelle-server serve --secure-cookies`). Over plain http browsers would drop them.
    pub secure_cookies: bool,
}

impl WebOptions {
    /// The options of the local UI (`passerelle ui`).
    pub fn local() -> Self {
        Self {
            loopback_only: true,
            secure_cookies: false,
        }
    }

    /// These options with `Secure` cookies on or off (see [`WebOptions::secure_cookies`]).
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// The options of the sync server.
    pub fn server() -> Self {
        Self::default()
    }
}

pub(crate) struct WebState<B> {
    pub(crate) backend: Arc<B>,
    sessions: Arc<Sessions>,
    /// Whether cookies are marked `Secure`.
    secure: bool,
    /// The live streams open, per session and in all.
    live: Arc<LiveStreams>,
}

impl<B> Clone for WebState<B> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            sessions: Arc::clone(&self.sessions),
            secure: self.secure,
            live: Arc::clone(&self.live),
        }
    }
}

/// The pages' router over `backend`. Merge it into a server's router (it uses `/`,
/// `/sign-in`, `/sign-out`, `/lang/{code}`, `/doc/{id}`, `/doc/{id}/edit`, `/live`,
/// `/projects`, `/journal`, `/actors`, `/calls`, `/news`, `/assets/…`).
pub fn router<B: Backend>(backend: Arc<B>, options: WebOptions) -> Router {
    let state = WebState {
        backend,
        sessions: Arc::new(Sessions::default()),
        secure: options.secure_cookies,
        live: Arc::new(LiveStreams::default()),
    };
    let mut router = Router::new()
        .route("/", get(home::<B>))
        .route("/sign-in", post(sign_in::<B>))
        .route("/sign-out", post(sign_out::<B>))
        .route("/lang/{code}", get(set_lang::<B>))
        .route("/doc/{id}", get(document_page::<B>))
        .route(
            "/doc/{id}/edit",
            post(edit_document::<B>).layer(DefaultBodyLimit::max(MAX_EDIT_BYTES)),
        )
        .route("/live", get(live::<B>))
        // The programme's pages (issue 7: projects, journal, actors, calls, news).
        .route("/projects", get(programme::projects::<B>))
        .route("/journal", get(programme::journal::<B>))
        .route("/actors", get(programme::actors::<B>))
        .route("/calls", get(programme::calls::<B>))
        .route("/news", get(programme::news::<B>))
        .route("/assets/app.js", get(app_js))
        .route("/assets/app.css", get(app_css))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        // The public page, histories, report downloads (public_routes.rs).
        .route("/public", get(crate::public_routes::public::<B>))
        .route("/public/{code}", get(crate::public_routes::public_in::<B>))
        .route("/doc/{id}/history", get(crate::public_routes::history::<B>))
        .route(
            "/doc/{id}/report/{format}",
            get(crate::public_routes::mission_report::<B>),
        )
        .route(
            "/projects/{id}/report",
            get(crate::public_routes::project_reports::<B>),
        )
        .route(
            "/projects/{id}/report/{period}/{format}",
            get(crate::public_routes::periodic_report::<B>),
        )
        .layer(middleware::from_fn(same_origin_posts))
        .layer(middleware::map_response(security_headers));
    if options.loopback_only {
        router = router.layer(middleware::from_fn(loopback_host));
    }
    router.with_state(state)
}

/// Who is asking: the session and the reader it stands for.
pub(crate) struct Asker<R> {
    pub(crate) reader: R,
    session: Session,
    /// A cookie to set: a session was just started (local UI).
    set_cookie: Option<String>,
    /// Whether the session signed in with a token (server).
    signed_in: bool,
}

/// The reader, or the answer to send instead (sign in first).
pub(crate) async fn reader_of<B: Backend>(
    state: &WebState<B>,
    headers: &HeaderMap,
) -> Result<Asker<B::Reader>, Response> {
    match asker(state, headers, true).await? {
        Some(asker) => Ok(asker),
        None => Err(Redirect::to("/").into_response()),
    }
}

/// The reader of this request, or `None` when it must sign in first.
pub(crate) async fn asker<B: Backend>(
    state: &WebState<B>,
    headers: &HeaderMap,
    start_local: bool,
) -> Result<Option<Asker<B::Reader>>, Response> {
    let existing = cookie(headers, SESSION_COOKIE).and_then(|id| state.sessions.get(id));
    if let Some(reader) = state.backend.local_reader() {
        return Ok(match existing {
            Some(session) => Some(Asker {
                reader,
                session,
                set_cookie: None,
                signed_in: false,
            }),
            None if start_local => {
                let (id, session) = state.sessions.start(None);
                Some(Asker {
                    reader,
                    session,
                    set_cookie: Some(session_cookie(&id, state.secure)),
                    signed_in: false,
                })
            }
            None => None,
        });
    }
    let Some(session) = existing else {
        return Ok(None);
    };
    let Some(token) = session.token.clone() else {
        return Ok(None);
    };
    match state.backend.sign_in(&token).await {
        Ok(Some(reader)) => Ok(Some(Asker {
            reader,
            session,
            set_cookie: None,
            signed_in: true,
        })),
        Ok(None) => Ok(None),
        Err(error) => Err(internal(error)),
    }
}

pub(crate) fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::from_code)
        .unwrap_or_default()
}

pub(crate) fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!("web: {error}");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// A whole HTML page, with the session cookie when one was just started.
/// What a page says about itself besides its content.
pub(crate) struct Meta<'a> {
    pub(crate) title: &'a str,
    /// Its path, for the language switch.
    pub(crate) here: &'a str,
    /// The document it shows, for live updates.
    pub(crate) doc: Option<String>,
    pub(crate) status: StatusCode,
}

pub(crate) fn html_page<R>(
    state_sync: &crate::backend::SyncView,
    asker: Option<&Asker<R>>,
    lang: Lang,
    meta: Meta<'_>,
    content: Markup,
) -> Response {
    let Meta {
        title,
        here,
        doc,
        status,
    } = meta;
    let frame = Frame {
        lang,
        title,
        csrf: asker.map(|a| a.session.csrf.as_str()),
        sync: state_sync,
        signed_in: asker.is_some_and(|a| a.signed_in),
        here,
        doc,
    };
    let mut response = (status, Html(page(&frame, content).into_string())).into_response();
    if let Some(cookie) = asker.and_then(|a| a.set_cookie.as_deref())
        && let Ok(value) = HeaderValue::from_str(cookie)
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /`: the dashboard, or the sign-in page.
async fn home<B: Backend>(State(state): State<WebState<B>>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    let sync = state.backend.sync_view();
    let asker = match asker(&state, &headers, true).await {
        Ok(asker) => asker,
        Err(response) => return response,
    };
    let Some(asker) = asker else {
        let content = pages::sign_in(lang, false);
        return html_page::<B::Reader>(
            &sync,
            None,
            lang,
            Meta {
                title: lang.t("sign_in"),
                here: "/",
                doc: None,
                status: StatusCode::OK,
            },
            content,
        );
    };
    let docs = match state
        .backend
        .documents(&asker.reader, DASHBOARD_LIMIT)
        .await
    {
        Ok(docs) => docs,
        Err(error) => return internal(error),
    };
    let mut opened: Vec<Opened> = docs.into_iter().map(|(id, doc)| open(id, doc)).collect();
    let today = jiff::Zoned::now().date();
    let recent = match crate::public_routes::recent_changes(
        &state,
        &asker.reader,
        lang,
        &mut opened,
    )
    .await
    {
        Ok(recent) => recent,
        Err(response) => return response,
    };
    let content = pages::dashboard::dashboard(lang, &opened, today);
    let content = maud::html! { (content) (recent) };
    html_page(
        &sync,
        Some(&asker),
        lang,
        Meta {
            title: lang.t("dashboard"),
            here: "/",
            doc: None,
            status: StatusCode::OK,
        },
        content,
    )
}

/// A document migrated (in memory) to the current schema and read.
pub(crate) fn open(id: DocumentId, mut doc: AutoCommit) -> Opened {
    let typed = passerelle_model::open(&mut doc).map_err(|e| e.to_string());
    let heads = heads_attr(&doc.get_heads());
    Opened {
        id,
        doc,
        typed,
        heads,
    }
}

#[derive(Deserialize)]
struct SignInForm {
    token: String,
}

/// `POST /sign-in`: a token in, a session cookie out.
async fn sign_in<B: Backend>(
    State(state): State<WebState<B>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let lang = lang_of(&headers);
    if state.backend.local_reader().is_some() {
        return Redirect::to("/").into_response();
    }
    let token = form.token.trim();
    let reader = if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        Ok(None)
    } else {
        state.backend.sign_in(token).await
    };
    match reader {
        Ok(Some(_)) => {
            let (id, _) = state.sessions.start(Some(token.to_owned()));
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&session_cookie(&id, state.secure)) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Ok(None) => {
            let sync = state.backend.sync_view();
            html_page::<B::Reader>(
                &sync,
                None,
                lang,
                Meta {
                    title: lang.t("sign_in"),
                    here: "/",
                    doc: None,
                    status: StatusCode::UNAUTHORIZED,
                },
                pages::sign_in(lang, true),
            )
        }
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// `POST /sign-out`.
async fn sign_out<B: Backend>(
    State(state): State<WebState<B>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && let Some(session) = state.sessions.get(id)
    {
        if !same_secret(&session.csrf, &form.csrf) {
            return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
        }
        state.sessions.end(id);
    }
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cleared_session_cookie(state.secure)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct Back {
    back: Option<String>,
}

/// `GET /lang/{code}?back=/path`: remembers the language, then goes back.
async fn set_lang<B: Backend>(
    State(state): State<WebState<B>>,
    Path(code): Path<String>,
    Query(back): Query<Back>,
) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return (StatusCode::NOT_FOUND, "no such language").into_response();
    };
    // Only a path of this site: no `//host`, no scheme.
    let back = back
        .back
        .filter(|b| {
            b.starts_with('/') && !b.starts_with("//") && !b.contains('\\') && b.len() < 200
        })
        .unwrap_or_else(|| "/".to_owned());
    let mut response = Redirect::to(&back).into_response();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000{}",
        lang.code(),
        if state.secure { "; Secure" } else { "" }
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The 404 page of a document that does not exist or that the reader may not read (the two
/// are never told apart).
pub(crate) fn not_found<R>(
    sync: &crate::backend::SyncView,
    asker: &Asker<R>,
    lang: Lang,
) -> Response {
    html_page(
        sync,
        Some(asker),
        lang,
        Meta {
            title: lang.t("not_found"),
            here: "/",
            doc: None,
            status: StatusCode::NOT_FOUND,
        },
        pages::message(lang, lang.t("not_found")),
    )
}

/// `GET /doc/{id}`: a document's page.
async fn document_page<B: Backend>(
    State(state): State<WebState<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&headers);
    let sync = state.backend.sync_view();
    let asker = match reader_of(&state, &headers).await {
        Ok(asker) => asker,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<DocumentId>() else {
        return not_found(&sync, &asker, lang);
    };
    let doc = match state.backend.document(&asker.reader, id).await {
        Ok(Some(doc)) => doc,
        Ok(None) => return not_found(&sync, &asker, lang),
        Err(error) => return internal(error),
    };
    let opened = open(id, doc);
    let heads = opened.heads.clone();
    let here = format!("/doc/{id}");
    let programme_page = match programme::document(&state, &asker.reader, lang, &opened).await {
        Ok(page) => page,
        Err(error) => return internal(error),
    };
    let (title, content) = match &opened.typed {
        Ok(doc) => (
            pages::title_of(lang, doc),
            match doc {
                Document::Mission(m) => pages::mission::mission(lang, m, &heads),
                other => programme_page.unwrap_or_else(|| pages::plain_document(lang, other)),
            },
        ),
        Err(problem) => (
            id.to_string(),
            pages::message(lang, &format!("{} : {problem}", lang.t("unreadable"))),
        ),
    };
    // Every document page links to its history (and its reports).
    let kind = opened.typed.as_ref().ok().map(|d| d.doc_type().name());
    let content = maud::html! { (content) (pages::history::document_links(lang, id, kind)) };
    html_page(
        &sync,
        Some(&asker),
        lang,
        Meta {
            title: &title,
            here: &here,
            doc: Some(id.to_string()),
            status: StatusCode::OK,
        },
        content,
    )
}

fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// `POST /doc/{id}/edit`: one edit (see [`crate::edit`]); answers the heads the page now
/// shows the field at, or `{"error": …}`.
async fn edit_document<B: Backend>(
    State(state): State<WebState<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Edit>, JsonRejection>,
) -> Response {
    let asker = match asker(&state, &headers, false).await {
        Ok(Some(asker)) => asker,
        Ok(None) => return json_error(StatusCode::UNAUTHORIZED, "sign in first"),
        Err(response) => return response,
    };
    let presented = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !same_secret(&asker.session.csrf, presented) {
        return json_error(StatusCode::FORBIDDEN, "bad or missing CSRF token");
    }
    let Json(edit) = match body {
        Ok(body) => body,
        Err(rejection) => return json_error(rejection.status(), rejection.body_text()),
    };
    let Ok(id) = id.parse::<DocumentId>() else {
        return json_error(StatusCode::NOT_FOUND, "document not found");
    };
    let mut doc = match state.backend.document(&asker.reader, id).await {
        Ok(Some(doc)) => doc,
        Ok(None) => return json_error(StatusCode::NOT_FOUND, "document not found"),
        Err(error) => return internal(error),
    };
    let base = doc.get_heads();
    if let Err(error) = passerelle_model::open(&mut doc) {
        return json_error(StatusCode::CONFLICT, error.to_string());
    }
    let by = state.backend.reader_name(&asker.reader);
    let made = match edit::make(doc, &edit, &by) {
        Ok(made) => made,
        Err(EditError::Stale) => {
            return json_error(StatusCode::CONFLICT, EditError::Stale.to_string());
        }
        Err(EditError::Invalid(message)) => return json_error(StatusCode::BAD_REQUEST, message),
    };
    match state.backend.apply(&asker.reader, id, made.doc, base).await {
        Ok(Applied::Saved) => {
            Json(json!({ "heads": heads_attr(&made.field_heads) })).into_response()
        }
        Ok(Applied::ReadOnly) => {
            json_error(StatusCode::FORBIDDEN, lang_of(&headers).t("read_only"))
        }
        Ok(Applied::Unavailable) => json_error(StatusCode::NOT_FOUND, "document not found"),
        Ok(Applied::Failed(message)) => json_error(StatusCode::BAD_REQUEST, message),
        Err(error) => internal(error),
    }
}

/// `GET /live`: Server-Sent Events. `doc` (data: a document id the reader may read) when a
/// document changed, `sync` (data: `{"state", "text"}`) when the sync state changed,
/// `refresh` when events were missed.
async fn live<B: Backend>(State(state): State<WebState<B>>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    let asker = match asker(&state, &headers, false).await {
        Ok(Some(asker)) => asker,
        Ok(None) => return json_error(StatusCode::UNAUTHORIZED, "sign in first"),
        Err(response) => return response,
    };
    let Some(ticket) = LiveStreams::enter(&state.live, &asker.session.csrf) else {
        let mut refused = json_error(StatusCode::TOO_MANY_REQUESTS, lang.t("too_many_live"));
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        return refused;
    };
    let events = live_events(Arc::clone(&state.backend), asker.reader, lang, ticket);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The most live streams one session may hold open (a browser's tabs).
const MAX_LIVE_PER_SESSION: usize = 8;
/// The most live streams open in all.
const MAX_LIVE: usize = 1_000;

/// The live streams open, per session (keyed by the session's CSRF token, as unique as its
/// id) and in all; a stream holds a [`LiveTicket`] until it ends.
#[derive(Debug, Default)]
pub(crate) struct LiveStreams {
    open: std::sync::Mutex<(usize, std::collections::HashMap<String, usize>)>,
}

impl LiveStreams {
    /// A ticket for one more stream of `session`, unless a limit is reached.
    fn enter(streams: &Arc<LiveStreams>, session: &str) -> Option<LiveTicket> {
        let mut open = streams.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by_session) = &mut *open;
        let mine = by_session.get(session).copied().unwrap_or(0);
        if *total >= MAX_LIVE || mine >= MAX_LIVE_PER_SESSION {
            return None;
        }
        *total += 1;
        by_session.insert(session.to_owned(), mine + 1);
        Some(LiveTicket {
            streams: Arc::clone(streams),
            session: session.to_owned(),
        })
    }
}

/// One open live stream; its place is given back when it is dropped.
pub(crate) struct LiveTicket {
    streams: Arc<LiveStreams>,
    session: String,
}

impl Drop for LiveTicket {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by_session) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(mine) = by_session.get_mut(&self.session) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                by_session.remove(&self.session);
            }
        }
    }
}

fn live_events<B: Backend>(
    backend: Arc<B>,
    reader: B::Reader,
    lang: Lang,
    ticket: LiveTicket,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let receiver = backend.subscribe();
    let closing = backend.closing();
    stream::unfold(
        (backend, reader, receiver, closing, ticket),
        move |(backend, reader, mut receiver, mut closing, ticket)| async move {
            loop {
                if *closing.borrow() {
                    return None;
                }
                let event = tokio::select! {
                    _ = closing.changed() => return None,
                    event = receiver.recv() => event,
                };
                let out = match event {
                    Ok(LiveEvent::Changed(id)) => match backend.may_read(&reader, id).await {
                        Ok(true) => Event::default().event("doc").data(id.to_string()),
                        _ => continue,
                    },
                    Ok(LiveEvent::SyncState) => {
                        let view = backend.sync_view();
                        let state = match (view.is_server, view.online) {
                            (true, _) => "server",
                            (false, Some(true)) => "online",
                            (false, Some(false)) => "offline",
                            (false, None) => "connecting",
                        };
                        let data = json!({"state": state, "text": sync_text(lang, &view), "unsynced": view.unsynced_changes});
                        Event::default().event("sync").data(data.to_string())
                    }
                    Err(RecvError::Lagged(_)) => Event::default().event("refresh").data("1"),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(out), (backend, reader, receiver, closing, ticket)));
            }
        },
    )
}

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
        .into_response()
}

async fn app_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS).into_response()
}

/// Refuses a POST whose `Origin` is another site (with SameSite=Strict cookies and the CSRF
/// token, a third line against cross-site requests, and the one that covers sign-in).
async fn same_origin_posts(request: Request, next: Next) -> Response {
    if request.method() == Method::POST {
        let headers = request.headers();
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("null");
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest)
                .unwrap_or("null");
            if host != Some(origin_host) {
                return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
            }
        }
        if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site")
        {
            return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
        }
    }
    next.run(request).await
}

/// The local UI answers only requests addressed to a loopback name.
async fn loopback_host(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    if matches!(name, "127.0.0.1" | "localhost" | "::1") {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            "the local interface answers on 127.0.0.1 only",
        )
            .into_response()
    }
}

/// Nothing from elsewhere: scripts, styles and connections to this origin only.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: with it, browsers send `Origin: null` on the pages' own form
        // posts, which the same-origin check must refuse.
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
