//! The public page (`/public`): the published projects and missions, readable without
//! signing in. It receives only [`Published`] views (see `crate::published`), so it cannot
//! show anything the programme did not choose to publish.

use maud::{Markup, html};

use crate::lang::Lang;
use crate::published::{Published, PublishedKind};

/// The public page's content.
pub(crate) fn public(lang: Lang, docs: &[Published]) -> Markup {
    let prefs = lang.preference();
    let of = |kind| docs.iter().filter(move |d| d.kind == kind);
    let section = |kind, id: &str, heading: &str| {
        let list: Vec<&Published> = of(kind).collect();
        html! {
            section id=(id) {
                h2 { (heading) }
                @if list.is_empty() { p.none { (lang.t("none")) } }
                @for d in list {
                    article.published {
                        h3 { (d.title.preferred(&prefs).unwrap_or("—")) }
                        dl.facts {
                            @if let Some(status) = &d.status {
                                dt { (lang.t("status")) } dd { (status) }
                            }
                            @if d.start.is_some() || d.end.is_some() {
                                dt { (lang.t("dates")) }
                                dd { bdi {
                                    (d.start.map_or("—".to_owned(), |s| s.to_string())) " → "
                                    (d.end.map_or("—".to_owned(), |s| s.to_string()))
                                } }
                            }
                            @if let Some(place) = &d.place {
                                dt { (lang.t("place")) } dd { bdi { (place) } }
                            }
                            @if !d.partners.is_empty() {
                                dt { (lang.t("partners")) } dd { (d.partners.join(", ")) }
                            }
                        }
                        @if !d.summary.is_empty() {
                            @match d.kind {
                                PublishedKind::Project => {
                                    h4 { (lang.t("objectives")) }
                                    ul { @for text in &d.summary { li dir="auto" { (text) } } }
                                }
                                PublishedKind::Mission => {
                                    @for text in &d.summary { p.summary dir="auto" { (text) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html! {
        h1 { (lang.t("public_page")) }
        p.intro { (lang.t("public_intro")) }
        @if docs.is_empty() { p.none { (lang.t("public_none")) } } @else {
            (section(PublishedKind::Project, "public-projects", lang.t("projects")))
            (section(PublishedKind::Mission, "public-missions", lang.t("missions")))
        }
    }
}
