//! The handlers of the public page, documents' histories and report downloads (registered
//! in `routes::router`), and the dashboard's recent changes.
//!
//! - `GET /public`, `GET /public/{fr|en|ar}`: the published projects and missions, without
//!   a session (no cookie is set); what it reads is [`Backend::published`] only.
//! - `GET /doc/{id}/history`: a document's changes, newest first.
//! - `GET /projects/{id}/report`: a project's report page; `GET
//!   /projects/{id}/report/{period}/{md|html|xlsx|docx}`: its periodic report, from the
//!   documents the reader may read; `GET /doc/{id}/report/{md|html|docx}`: a mission's report.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::Markup;
use passerelle_core::DocumentId;
use passerelle_model::{DocType, Document};
use passerelle_report::{Period, PeriodicReport, ReportError, Source, Sources};

use crate::backend::Backend;
use crate::lang::Lang;
use crate::pages::dashboard::{Opened, listed_title};
use crate::pages::history::{self as hist, Recent};
use crate::pages::reports::{self as rep, Format};
use crate::pages::{self, title_of};
use crate::routes::{
    DASHBOARD_LIMIT, Meta, WebState, html_page, internal, lang_of, not_found, open, reader_of,
};

/// The most documents the public page shows.
const PUBLIC_LIMIT: usize = 500;

/// `GET /public`.
pub(crate) async fn public<B: Backend>(
    State(state): State<WebState<B>>,
    headers: HeaderMap,
) -> Response {
    public_page(&state, lang_of(&headers)).await
}

/// `GET /public/{code}`: the public page in one language, whatever the cookie says (a link
/// to give citizens).
pub(crate) async fn public_in<B: Backend>(
    State(state): State<WebState<B>>,
    Path(code): Path<String>,
) -> Response {
    match Lang::from_code(&code) {
        Some(lang) => public_page(&state, lang).await,
        None => (StatusCode::NOT_FOUND, "no such language").into_response(),
    }
}

async fn public_page<B: Backend>(state: &WebState<B>, lang: Lang) -> Response {
    let mut docs = match state.backend.published(PUBLIC_LIMIT).await {
        Ok(docs) => docs,
        Err(error) => return internal(error),
    };
    let prefs = lang.preference();
    docs.sort_by(|a, b| {
        b.start
            .cmp(&a.start)
            .then_with(|| a.title.preferred(&prefs).cmp(&b.title.preferred(&prefs)))
    });
    let sync = state.backend.sync_view();
    html_page::<B::Reader>(
        &sync,
        None,
        lang,
        Meta {
            title: lang.t("public_page"),
            here: "/public",
            doc: None,
            status: StatusCode::OK,
        },
        pages::public::public(lang, &docs),
    )
}

/// `GET /doc/{id}/history`.
pub(crate) async fn history<B: Backend>(
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
    let mut authors = match state.backend.authors(&asker.reader, vec![id]).await {
        Ok(authors) => authors,
        Err(error) => return internal(error),
    };
    let mut opened = open(id, doc);
    let title = listed_title(lang, &opened);
    let rows = hist::changes(
        &mut opened.doc,
        authors.remove(&id).as_ref(),
        hist::MAX_HISTORY,
    );
    let reader = state.backend.reader_name(&asker.reader);
    let here = format!("/doc/{id}/history");
    html_page(
        &sync,
        Some(&asker),
        lang,
        Meta {
            title: &format!("{} · {title}", lang.t("history")),
            here: &here,
            doc: Some(id.to_string()),
            status: StatusCode::OK,
        },
        hist::history(lang, id, &title, &rows, &reader),
    )
}

/// The dashboard's recent changes across `opened` (the reader's documents).
pub(crate) async fn recent_changes<B: Backend>(
    state: &WebState<B>,
    reader: &B::Reader,
    lang: Lang,
    opened: &mut [Opened],
) -> Result<Markup, Response> {
    let ids = opened.iter().map(|o| o.id).collect();
    let authors = state.backend.authors(reader, ids).await.map_err(internal)?;
    let mut rows = Vec::new();
    for o in opened.iter_mut() {
        let title = listed_title(lang, o);
        for row in hist::changes(&mut o.doc, authors.get(&o.id), hist::RECENT) {
            rows.push(Recent {
                id: o.id,
                title: title.clone(),
                row,
            });
        }
    }
    let rows = hist::newest(rows);
    let reader_name = state.backend.reader_name(reader);
    Ok(hist::recent(lang, &rows, &reader_name))
}

/// `GET /projects/{id}/report`: the periods and formats of the project's periodic report,
/// and its missions' reports.
pub(crate) async fn project_reports<B: Backend>(
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
    let docs = match state
        .backend
        .documents(&asker.reader, DASHBOARD_LIMIT)
        .await
    {
        Ok(docs) => docs,
        Err(error) => return internal(error),
    };
    let mut project = None;
    let mut missions = Vec::new();
    for (doc_id, doc) in docs {
        let opened = open(doc_id, doc);
        match opened.typed {
            Ok(Document::Project(p)) if doc_id == id => project = Some(p),
            Ok(Document::Mission(m)) => missions.push((doc_id, m)),
            _ => {}
        }
    }
    let Some(project) = project else {
        return not_found(&sync, &asker, lang);
    };
    let names_it = |link: &String| *link == id.to_string() || *link == project.code;
    let prefs = lang.preference();
    let missions: Vec<(DocumentId, String)> = missions
        .into_iter()
        .filter(|(_, m)| m.projects.iter().any(names_it))
        .map(|(mid, m)| (mid, m.title.preferred(&prefs).unwrap_or("—").to_owned()))
        .collect();
    let title = title_of(lang, &Document::Project(project.clone()));
    let periods = rep::periods(&project, jiff::Zoned::now().date());
    let here = format!("/projects/{id}/report");
    html_page(
        &sync,
        Some(&asker),
        lang,
        Meta {
            title: &format!("{} · {title}", lang.t("reports")),
            here: &here,
            doc: None,
            status: StatusCode::OK,
        },
        rep::project_reports(lang, id, &title, &periods, &missions),
    )
}

/// A file to download.
fn download(bytes: Vec<u8>, format: Format, stem: &str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&rep::attachment(stem, format)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn plain_not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// `GET /projects/{id}/report/{period}/{format}`: the periodic report, made from the
/// documents the reader may read (as `passerelle report periodic` does from a replica).
pub(crate) async fn periodic_report<B: Backend>(
    State(state): State<WebState<B>>,
    Path((id, period, format)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&headers);
    let asker = match reader_of(&state, &headers).await {
        Ok(asker) => asker,
        Err(response) => return response,
    };
    let (Ok(id), Ok(period), Some(format)) = (
        id.parse::<DocumentId>(),
        period.parse::<Period>(),
        Format::parse(&format),
    ) else {
        return plain_not_found();
    };
    let docs = match state
        .backend
        .documents(&asker.reader, DASHBOARD_LIMIT)
        .await
    {
        Ok(docs) => docs,
        Err(error) => return internal(error),
    };
    // The project and what a report reads; a document that does not read is left out, as
    // the CLI does.
    let mut read = Vec::new();
    for (doc_id, mut doc) in docs {
        let Ok(typed) = passerelle_model::open(&mut doc) else {
            continue;
        };
        let wanted = match typed.doc_type() {
            DocType::Project => doc_id == id,
            DocType::Mission | DocType::Journal | DocType::Actor | DocType::NewsItem => true,
            DocType::FundingCall => false,
        };
        if wanted {
            read.push((doc_id.to_string(), doc));
        }
    }
    let sources = match Sources::from_documents(&id.to_string(), read) {
        Ok(sources) => sources,
        Err(ReportError::NotAProject(_)) => return plain_not_found(),
        Err(error) => return internal(error),
    };
    let report = PeriodicReport::new(&sources, period, None);
    let report_lang = rep::report_lang(lang);
    let bytes = match format {
        Format::Md => passerelle_report::to_markdown(&report.document(report_lang)).into_bytes(),
        Format::Html => passerelle_report::to_html(&report.document(report_lang)).into_bytes(),
        Format::Xlsx => match report.workbook(report_lang) {
            Ok(bytes) => bytes,
            Err(error) => return internal(error),
        },
        Format::Docx => match passerelle_report::to_docx(&report.document(report_lang)) {
            Ok(bytes) => bytes,
            Err(error) => return internal(error),
        },
    };
    let stem = format!("{}-{period}", sources.project.doc.code);
    download(bytes, format, &stem)
}

/// `GET /doc/{id}/report/{md|html|docx}`: a mission's report.
pub(crate) async fn mission_report<B: Backend>(
    State(state): State<WebState<B>>,
    Path((id, format)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&headers);
    let asker = match reader_of(&state, &headers).await {
        Ok(asker) => asker,
        Err(response) => return response,
    };
    let (Ok(id), Some(format)) = (id.parse::<DocumentId>(), Format::parse(&format)) else {
        return plain_not_found();
    };
    if format == Format::Xlsx {
        return plain_not_found();
    }
    let mut doc = match state.backend.document(&asker.reader, id).await {
        Ok(Some(doc)) => doc,
        Ok(None) => return plain_not_found(),
        Err(error) => return internal(error),
    };
    let Ok(Document::Mission(mission)) = passerelle_model::open(&mut doc) else {
        return plain_not_found();
    };
    let start = mission.start.as_ref().map(|d| d.value().to_string());
    let source = Source::new(id.to_string(), *mission);
    let document = passerelle_report::mission_document(&source, rep::report_lang(lang));
    let bytes = match format {
        Format::Md => passerelle_report::to_markdown(&document).into_bytes(),
        Format::Html => passerelle_report::to_html(&document).into_bytes(),
        Format::Docx => match passerelle_report::to_docx(&document) {
            Ok(bytes) => bytes,
            Err(error) => return internal(error),
        },
        Format::Xlsx => return plain_not_found(),
    };
    let stem = format!("mission-{}", start.unwrap_or_else(|| id.to_string()));
    download(bytes, format, &stem)
}
