//! The handlers of the programme's pages (issue 7): the lists `/projects`, `/journal`,
//! `/actors?q=`, `/calls` and `/news`, and what the page of a project, journal, actor, call
//! or news item needs besides the document (references to other documents, resolved for the
//! reader). Every list is built from the documents the backend lets the reader read.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::Markup;
use passerelle_core::DocumentId;
use passerelle_model::Document;
use serde::Deserialize;

use crate::backend::{Backend, BackendError};
use crate::lang::Lang;
use crate::pages::dashboard::{Opened, listed_title};
use crate::pages::{self, Reference};
use crate::routes::{
    DASHBOARD_LIMIT, Meta, WebState, html_page, internal, lang_of, open, reader_of,
};

/// The most references of one document resolved (each is a document read); the others are
/// shown as ids.
const MAX_REFERENCES: usize = 50;

/// A list page: the reader's documents, rendered by `render` (given the reader's name).
async fn listing<B: Backend>(
    state: &WebState<B>,
    headers: &HeaderMap,
    here: &str,
    title_key: &str,
    render: impl FnOnce(Lang, &[Opened], &str) -> Markup,
) -> Response {
    let lang = lang_of(headers);
    let sync = state.backend.sync_view();
    let asker = match reader_of(state, headers).await {
        Ok(asker) => asker,
        Err(response) => return response,
    };
    let docs = match state
        .backend
        .documents(&asker.reader, DASHBOARD_LIMIT)
        .await
    {
        Ok(docs) => docs,
        Err(error) => return internal(error),
    };
    let opened: Vec<Opened> = docs.into_iter().map(|(id, doc)| open(id, doc)).collect();
    let reader = state.backend.reader_name(&asker.reader);
    let content = render(lang, &opened, &reader);
    html_page(
        &sync,
        Some(&asker),
        lang,
        Meta {
            title: lang.t(title_key),
            here,
            doc: None,
            status: StatusCode::OK,
        },
        content,
    )
}

fn today() -> jiff::civil::Date {
    jiff::Zoned::now().date()
}

/// `GET /projects`.
pub(crate) async fn projects<B: Backend>(
    State(state): State<WebState<B>>,
    headers: HeaderMap,
) -> Response {
    listing(
        &state,
        &headers,
        "/projects",
        "projects",
        |lang, docs, _| pages::project::list(lang, docs),
    )
    .await
}

/// `GET /journal`: the entries of every journal the reader may read.
pub(crate) async fn journal<B: Backend>(
    State(state): State<WebState<B>>,
    headers: HeaderMap,
) -> Response {
    listing(
        &state,
        &headers,
        "/journal",
        "journal",
        pages::journal::page,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct Search {
    q: Option<String>,
}

/// `GET /actors?q=…`: the directory, filtered on the server.
pub(crate) async fn actors<B: Backend>(
    State(state): State<WebState<B>>,
    Query(search): Query<Search>,
    headers: HeaderMap,
) -> Response {
    let query: String = search
        .q
        .unwrap_or_default()
        .chars()
        .take(pages::actor::MAX_QUERY_CHARS)
        .collect();
    // The language switch comes back to the directory (without the search).
    listing(&state, &headers, "/actors", "actors", |lang, docs, _| {
        pages::actor::directory(lang, docs, &query)
    })
    .await
}

/// `GET /calls`: calls for proposals by deadline.
pub(crate) async fn calls<B: Backend>(
    State(state): State<WebState<B>>,
    headers: HeaderMap,
) -> Response {
    let today = today();
    listing(&state, &headers, "/calls", "calls", |lang, docs, _| {
        pages::call::list(lang, docs, today)
    })
    .await
}

/// `GET /news`.
pub(crate) async fn news<B: Backend>(
    State(state): State<WebState<B>>,
    headers: HeaderMap,
) -> Response {
    listing(&state, &headers, "/news", "news", |lang, docs, _| {
        pages::news::list(lang, docs)
    })
    .await
}

/// The page of a project, journal, actor, call or news item (`None` for other types).
pub(crate) async fn document<B: Backend>(
    state: &WebState<B>,
    reader: &B::Reader,
    lang: Lang,
    opened: &Opened,
) -> Result<Option<Markup>, BackendError> {
    let Ok(doc) = &opened.typed else {
        return Ok(None);
    };
    let backend = state.backend.as_ref();
    Ok(Some(match doc {
        Document::Project(p) => {
            let lead = references(backend, reader, lang, &p.lead).await?;
            let partners = references(backend, reader, lang, &p.partners).await?;
            let view = pages::project::ProjectView {
                heads: &opened.heads,
                lead: &lead,
                partners: &partners,
                today: today(),
            };
            pages::project::page(lang, p, &view)
        }
        Document::Journal(_) => {
            let name = backend.reader_name(reader);
            pages::journal::page(lang, std::slice::from_ref(opened), &name)
        }
        Document::Actor(a) => {
            let parent = match &a.parent {
                Some(parent) => Some(reference(backend, reader, lang, parent).await?),
                None => None,
            };
            pages::actor::page(lang, a, parent.as_ref())
        }
        Document::FundingCall(c) => {
            let project = match &c.project {
                Some(project) => Some(reference(backend, reader, lang, project).await?),
                None => None,
            };
            pages::call::page(lang, c, project.as_ref(), &opened.heads, today())
        }
        Document::NewsItem(n) => pages::news::page(lang, n, &opened.heads),
        Document::Mission(_) => return Ok(None),
    }))
}

/// `values` (document ids or names) as the reader may see them; at most
/// [`MAX_REFERENCES`] are looked up.
async fn references<B: Backend>(
    backend: &B,
    reader: &B::Reader,
    lang: Lang,
    values: &[String],
) -> Result<Vec<Reference>, BackendError> {
    let mut out = Vec::with_capacity(values.len());
    for (n, value) in values.iter().enumerate() {
        if n >= MAX_REFERENCES {
            out.push(match value.trim().parse::<DocumentId>() {
                Ok(id) => Reference::Unseen(id.to_string()),
                Err(_) => Reference::Name(value.clone()),
            });
            continue;
        }
        out.push(reference(backend, reader, lang, value).await?);
    }
    Ok(out)
}

/// One reference: a document the reader may read (with its title), an erased one, an id
/// the reader cannot see, or a plain name.
async fn reference<B: Backend>(
    backend: &B,
    reader: &B::Reader,
    lang: Lang,
    value: &str,
) -> Result<Reference, BackendError> {
    let Ok(id) = value.trim().parse::<DocumentId>() else {
        return Ok(Reference::Name(value.to_owned()));
    };
    if let Some(doc) = backend.document(reader, id).await? {
        let opened = open(id, doc);
        return Ok(Reference::Document {
            id: id.to_string(),
            title: listed_title(lang, &opened),
        });
    }
    if backend.erased(reader, id).await? {
        return Ok(Reference::Erased(id.to_string()));
    }
    Ok(Reference::Unseen(id.to_string()))
}
