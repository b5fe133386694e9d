//! A mission's page: agenda, delegation, meetings with their minutes, logistics and
//! follow-up actions. Text fields are editable in place (saved as the person types, merged
//! with others' typing); items are added with small forms; actions are marked done with one
//! button.
//!
//! Every editable element carries `data-field` (its field path) and `data-heads` (the
//! document heads it was rendered at): the script sends both with each edit.

use maud::{Markup, html};
use passerelle_model::{ActionStatus, Direction, Mission};

use super::{shown, shown_status};
use crate::lang::Lang;

/// The mission page's content. `heads` are the document's heads (see [`super::heads_attr`]).
pub(crate) fn mission(lang: Lang, m: &Mission, heads: &str) -> Markup {
    let prefs = lang.preference();
    let title = m.title.preferred(&prefs).unwrap_or("—");
    let direction = match m.direction {
        Some(Direction::LilleToOujda) => "Lille → Oujda",
        Some(Direction::OujdaToLille) => "Oujda → Lille",
        None => "—",
    };
    html! {
        p.kind { (lang.t("mission")) }
        h1 #title { (title) }
        dl.facts {
            dt { (lang.t("direction")) } dd { bdi { (direction) } }
            dt { (lang.t("status")) } dd #status-value { (shown_status(lang, &m.status)) }
            dt { (lang.t("dates")) } dd { bdi { (shown(&m.start)) " → " (shown(&m.end)) } }
        }
        // Publishing: the public page shows the mission's title, status, dates, direction,
        // purpose and partner organisations only (see `crate::published`).
        label.publish {
            input #public type="checkbox" data-toggle="public" data-heads=(heads)
                checked[m.is_public()];
            " " (lang.t("publish"))
        }
        (text_area(lang.t("purpose"), "purpose", &m.purpose, heads, 2))

        section #delegation {
            h2 { (lang.t("delegation")) }
            @if m.delegation.is_empty() { p.none { (lang.t("none")) } } @else {
                table {
                    thead { tr {
                        th { (lang.t("person")) } th { (lang.t("organisation")) }
                        th { (lang.t("role")) } th { (lang.t("dates")) } th { (lang.t("visa")) }
                    } }
                    tbody {
                        @for d in &m.delegation {
                            tr {
                                td { (d.person) }
                                td { (d.organisation.as_deref().unwrap_or("—")) }
                                td { (d.role.as_deref().unwrap_or("—")) }
                                td { bdi { (shown(&d.arrival)) " → " (shown(&d.departure)) } }
                                td { (shown_status(lang, &d.visa)) }
                            }
                        }
                    }
                }
            }
        }

        section #agenda {
            h2 { (lang.t("agenda")) }
            @if m.agenda.is_empty() { p.none { (lang.t("none")) } }
            ol.items {
                @for item in &m.agenda {
                    li.item data-item=(item.id.as_str()) {
                        div.line {
                            bdi.when { (shown(&item.starts_at)) }
                            " "
                            (text_input(lang.t("title"), &format!("agenda[{}].title", item.id), &item.title, heads))
                            @if let Some(place) = &item.place { " · " span.place { (place) } }
                        }
                        (text_area(lang.t("notes"), &format!("agenda[{}].notes", item.id), &item.notes, heads, 2))
                    }
                }
            }
            form.add data-insert="agenda" {
                input name="title" placeholder=(lang.t("title")) required;
                input name="place" placeholder=(lang.t("place"));
                button type="submit" { (lang.t("add_agenda_item")) }
            }
        }

        section #meetings {
            h2 { (lang.t("meetings")) }
            @if m.meetings.is_empty() { p.none { (lang.t("none")) } }
            @for meeting in &m.meetings {
                article.meeting data-item=(meeting.id.as_str()) {
                    h3 { (text_input(lang.t("title"), &format!("meetings[{}].title", meeting.id), &meeting.title, heads)) }
                    @if !meeting.attendees.is_empty() {
                        p.attendees { (lang.t("attendees")) " : " (meeting.attendees.join(", ")) }
                    }
                    (text_area(lang.t("minutes"), &format!("meetings[{}].minutes", meeting.id), &meeting.minutes, heads, 6))
                    (text_area(lang.t("decisions"), &format!("meetings[{}].decisions", meeting.id), &meeting.decisions, heads, 2))
                }
            }
            form.add data-insert="meetings" {
                input name="title" placeholder=(lang.t("title")) required;
                button type="submit" { (lang.t("add_meeting")) }
            }
        }

        section #logistics {
            h2 { (lang.t("logistics")) }
            @if m.logistics.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for l in &m.logistics {
                    li { (l.kind.to_string()) " · " (l.details) " · " (shown_status(lang, &l.status)) " · " bdi { (shown(&l.cost)) } }
                }
            }
        }

        section #actions {
            h2 { (lang.t("actions")) }
            @if m.actions.is_empty() { p.none { (lang.t("none")) } }
            ul.items {
                @for a in &m.actions {
                    @let done = a.status.as_ref().is_some_and(|s| *s.value() == ActionStatus::Done);
                    li.action data-item=(a.id.as_str()) data-done=(done) {
                        span.text { (a.text) }
                        " · " (lang.t("owner")) " " (shown(&a.owner))
                        " · " (lang.t("due")) " " bdi { (shown(&a.due)) }
                        " · " span.status { (shown_status(lang, &a.status)) }
                        @if !done {
                            " "
                            button.done type="button" data-set=(format!("actions[{}].status", a.id))
                                data-value="done" data-heads=(heads) { (lang.t("mark_done")) }
                        }
                    }
                }
            }
            form.add data-insert="actions" {
                input name="text" placeholder=(lang.t("text")) required;
                input name="owner" placeholder=(lang.t("owner"));
                input name="due" type="date" aria-label=(lang.t("due"));
                button type="submit" { (lang.t("add_action")) }
            }
        }

        (text_area(lang.t("outcomes"), "outcomes", &m.outcomes, heads, 3))
    }
}

/// An editable text field of several lines.
pub(crate) fn text_area(label: &str, path: &str, value: &str, heads: &str, rows: u8) -> Markup {
    html! {
        label.field {
            span { (label) }
            // The newline is eaten by the HTML parser, so a text starting with one keeps it.
            textarea data-field=(path) data-heads=(heads) rows=(rows) dir="auto" { "\n" (value) }
        }
    }
}

/// An editable text field of one line.
pub(crate) fn text_input(label: &str, path: &str, value: &str, heads: &str) -> Markup {
    html! {
        input.inline data-field=(path) data-heads=(heads) value=(value) aria-label=(label) dir="auto";
    }
}
