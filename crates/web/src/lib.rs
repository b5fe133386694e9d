//! The passerelle web pages, written once and served two ways: by `passerelle-server` over
//! its store and access rules, for people online; and by `passerelle ui` over the local
//! replica, for people offline. Both implement [`Backend`] and serve [`router`]:
//!
//! ```ignore
//! let pages: axum::Router = passerelle_web::router(Arc::new(my_backend), WebOptions::server());
//! ```
//!
//! The pages are HTML rendered on the server (maud, which escapes every value), with one
//! small embedded script (`assets/app.js`) that saves edits as the person types and
//! follows live updates (Server-Sent Events on `/live`), and one stylesheet. Everything is
//! compiled into the binary: no CDN, no web font, nothing fetched from elsewhere (the
//! Content-Security-Policy says so too).
//!
//! Text edits are merged, not overwritten: the page sends the heads it showed, the edit is
//! made on a fork at those heads and merged (see `edit`).
//!
//! Security: sign-in with the user's token (server) gives an HttpOnly, SameSite=Strict
//! session cookie; every POST carries the session's CSRF token and must come from the same
//! origin; the local UI answers only requests addressed to a loopback name. What a reader
//! sees is what the backend lets it read, which for the server is exactly the sync API's
//! access rules.
//!
//! # Layout
//! - `backend`: [`Backend`], [`Applied`], [`SyncView`], [`LiveEvent`], [`BackendError`].
//! - `routes`: [`router`], [`WebOptions`], the handlers, the live event stream, and the
//!   security middleware (same-origin POSTs, loopback `Host`, headers).
//! - `session`: the in-memory sessions, their cookies and CSRF tokens.
//! - `edit`: an edit from a page, made on a fork at the page's heads, then merged.
//! - `pages/`: the HTML: `layout` (frame, sync badge, language switch), `dashboard`,
//!   `mission`, and the sign-in and message pages.
//! - `programme`: the handlers of the programme's lists (`/projects`, `/journal`,
//!   `/actors?q=`, `/calls`, `/news`) and what a project, journal, actor, call or news
//!   item's page needs (references to other documents resolved, erased ones said so).
//! - `published`: [`Published`], what the public page may show of a published project or
//!   mission (and nothing else), chosen and cut down the same way by both backends.
//! - `pages/public`, `pages/history`, `pages/reports`: the public page, a document's history
//!   and the dashboard's recent changes, report downloads.
//! - `lang`: [`Lang`] (French default, English, Arabic right to left) and the labels.

mod backend;
mod edit;
mod lang;
mod pages;
mod programme;
mod public_routes;
mod published;
mod routes;
mod session;
#[cfg(test)]
mod test_backend;

pub use backend::{Applied, Authored, Backend, BackendError, LiveEvent, SyncView};
pub use lang::Lang;
pub use published::{Published, PublishedKind, organisation_name};
pub use routes::{WebOptions, router};
