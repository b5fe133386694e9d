//! The frame of every page: language and direction, the sync state, the language switch.

use maud::{DOCTYPE, Markup, html};

use crate::backend::SyncView;
use crate::lang::Lang;

/// What the frame needs besides the page's own content.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) lang: Lang,
    pub(crate) title: &'a str,
    /// The session's CSRF token (`None` on the sign-in page).
    pub(crate) csrf: Option<&'a str>,
    pub(crate) sync: &'a SyncView,
    /// Whether a sign-out button is shown (signed in on the server).
    pub(crate) signed_in: bool,
    /// The path of this page, for the language switch to come back to.
    pub(crate) here: &'a str,
    /// The document this page shows, for live updates.
    pub(crate) doc: Option<String>,
}

/// The whole page around `content`.
pub(crate) fn page(frame: &Frame<'_>, content: Markup) -> Markup {
    let lang = frame.lang;
    html! {
        (DOCTYPE)
        html lang=(lang.code()) dir=(lang.dir()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(csrf) = frame.csrf {
                    meta name="csrf-token" content=(csrf);
                }
                title { (frame.title) " · " (lang.t("app")) }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body data-live=[frame.csrf.map(|_| "1")]
                data-saving=(lang.t("saving")) data-saved=(lang.t("saved"))
                data-failed=(lang.t("save_failed")) {
                header.top {
                    a.brand href="/" { (lang.t("app")) }
                    nav {
                        a href="/" { (lang.t("dashboard")) }
                        // The programme's pages (issue 7).
                        " " a href="/projects" { (lang.t("projects")) }
                        " " a href="/journal" { (lang.t("journal")) }
                        " " a href="/actors" { (lang.t("actors")) }
                        " " a href="/calls" { (lang.t("calls")) }
                        " " a href="/news" { (lang.t("news")) }
                    }
                    (sync_badge(lang, frame.sync))
                    span.langs aria-label=(lang.t("language")) {
                        @for other in Lang::ALL {
                            @if other == lang {
                                strong lang=(other.code()) { (other.own_name()) }
                            } @else {
                                a lang=(other.code()) href={ "/lang/" (other.code()) "?back=" (frame.here) } {
                                    (other.own_name())
                                }
                            }
                        }
                    }
                    @if frame.signed_in {
                        @if let Some(csrf) = frame.csrf {
                            form.sign-out method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { (lang.t("sign_out")) }
                            }
                        }
                    }
                }
                main #main data-doc=[frame.doc.as_deref()] {
                    (content)
                }
                div #status role="status" aria-live="polite" {}
            }
        }
    }
}

/// The sync state: online/offline and changes not yet on the server.
pub(crate) fn sync_badge(lang: Lang, sync: &SyncView) -> Markup {
    let state = if sync.is_server {
        "server"
    } else {
        match sync.online {
            Some(true) => "online",
            Some(false) => "offline",
            None => "connecting",
        }
    };
    html! {
        span #sync-state.sync data-state=(state) data-unsynced=(sync.unsynced_changes) {
            (sync_text(lang, sync))
        }
    }
}

/// The words of the sync badge.
pub(crate) fn sync_text(lang: Lang, sync: &SyncView) -> String {
    if sync.is_server {
        return format!("{} · {}", lang.t("server"), lang.t("online"));
    }
    let state = match sync.online {
        Some(true) => lang.t("online"),
        Some(false) => lang.t("offline"),
        None => lang.t("connecting"),
    };
    let mut text = format!("{state} · {} {}", sync.unsynced_changes, lang.t("unsynced"));
    if let Some(last) = &sync.last_sync {
        text.push_str(&format!(" · {} {last}", lang.t("last_sync")));
    }
    text
}
