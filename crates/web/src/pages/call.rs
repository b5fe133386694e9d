//! Calls for proposals by deadline: the open ones (still live for us and not past their
//! deadline) soonest first with the days left, the closed ones apart; and a call's page.

use jiff::civil::Date;
use maud::{Markup, html};
use passerelle_model::{CallStatus, Document, FundingCall};

use super::dashboard::Opened;
use super::{Reference, reference, shown, shown_status};
use crate::lang::Lang;

/// Whether a call is still open for us on `today`: watching, go or drafting (or no status
/// yet), and its deadline (if any) not past.
pub(crate) fn is_open(call: &FundingCall, today: Date) -> bool {
    let live = call.status.as_ref().is_none_or(|s| {
        matches!(
            s.value(),
            CallStatus::Watching | CallStatus::Go | CallStatus::Drafting
        )
    });
    live && call.deadline.as_ref().is_none_or(|d| *d.value() >= today)
}

/// Days from `today` to the call's deadline (negative when past).
pub(crate) fn days_left(call: &FundingCall, today: Date) -> Option<i64> {
    let deadline = *call.deadline.as_ref()?.value();
    today
        .until(deadline)
        .ok()
        .map(|span| i64::from(span.get_days()))
}

/// Calls with their documents.
pub(crate) type Calls<'a> = Vec<(&'a Opened, &'a FundingCall)>;

/// The calls among `docs`: open ones by deadline, soonest first (no deadline last), then
/// closed ones, latest deadline first.
pub(crate) fn by_deadline(docs: &[Opened], today: Date) -> (Calls<'_>, Calls<'_>) {
    let (mut open, mut closed): (Vec<_>, Vec<_>) = docs
        .iter()
        .filter_map(|o| match &o.typed {
            Ok(Document::FundingCall(c)) => Some((o, c)),
            _ => None,
        })
        .partition(|(_, c)| is_open(c, today));
    let deadline = |c: &FundingCall| c.deadline.as_ref().map(|d| *d.value());
    // `None` sorts first in `Option`'s order; open calls without a deadline go last.
    open.sort_by_key(|(_, c)| (deadline(c).is_none(), deadline(c)));
    closed.sort_by_key(|(_, c)| std::cmp::Reverse(deadline(c)));
    (open, closed)
}

fn days_text(lang: Lang, days: Option<i64>) -> String {
    match days {
        None => lang.t("no_deadline").to_owned(),
        Some(0) => lang.t("today").to_owned(),
        Some(d) if d > 0 => format!("{d} {}", lang.t("days_left")),
        Some(_) => lang.t("past").to_owned(),
    }
}

/// The calls page.
pub(crate) fn list(lang: Lang, docs: &[Opened], today: Date) -> Markup {
    let (open, closed) = by_deadline(docs, today);
    html! {
        h1 { (lang.t("calls")) }
        section #open-calls {
            h2 { (lang.t("open_calls")) }
            @if open.is_empty() { p.none { (lang.t("none")) } }
            ol.calls {
                @for (o, c) in &open {
                    @let days = days_left(c, today);
                    li.call data-days=[days] {
                        (super::doc_link(lang, o)) " · " (c.funder)
                        " · " (lang.t("deadline")) " " bdi { (shown(&c.deadline)) }
                        " · " strong.days { (days_text(lang, days)) }
                        " · " (shown_status(lang, &c.status))
                    }
                }
            }
        }
        section #closed-calls {
            h2 { (lang.t("closed_calls")) }
            @if closed.is_empty() { p.none { (lang.t("none")) } }
            ul.calls {
                @for (o, c) in &closed {
                    li.call {
                        (super::doc_link(lang, o)) " · " (c.funder)
                        " · " (lang.t("deadline")) " " bdi { (shown(&c.deadline)) }
                        " · " (shown_status(lang, &c.status))
                    }
                }
            }
        }
    }
}

/// A call's page. `project` is the linked project, resolved.
pub(crate) fn page(
    lang: Lang,
    c: &FundingCall,
    project: Option<&Reference>,
    heads: &str,
    today: Date,
) -> Markup {
    let money = |m: &Option<passerelle_model::Money>| m.map_or("—".to_owned(), |m| m.to_string());
    html! {
        p.kind { (lang.t("funding_call")) }
        h1 #title { (c.title) }
        dl.facts {
            dt { (lang.t("funder")) } dd { (c.funder) }
            @if let Some(scheme) = &c.scheme { dt { (lang.t("scheme")) } dd { (scheme) } }
            dt { (lang.t("status")) } dd { (shown_status(lang, &c.status)) }
            dt { (lang.t("deadline")) } dd {
                bdi { (shown(&c.deadline)) }
                @if is_open(c, today) { " · " strong.days { (days_text(lang, days_left(c, today))) } }
            }
            @if let Some(opens) = c.opens { dt { (lang.t("opens")) } dd { bdi { (opens) } } }
            dt { (lang.t("amounts")) } dd { bdi { (money(&c.amount_min)) " – " (money(&c.amount_max)) } }
            @if let Some(share) = &c.own_share_percent {
                dt { (lang.t("own_share")) } dd { bdi { (share.as_str()) " %" } }
            }
            @if let Some(url) = &c.url {
                dt { (lang.t("link")) } dd { a href=(url) rel="noopener noreferrer" { bdi { (url) } } }
            }
            @if let Some(project) = project {
                dt { (lang.t("project")) } dd { (reference(lang, project)) }
            }
        }
        (super::mission::text_area(lang.t("eligibility"), "eligibility", &c.eligibility, heads, 3))
        section #checklist {
            h2 { (lang.t("checklist")) }
            @if c.checklist.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for k in &c.checklist {
                    @let met = k.met.as_ref().is_some_and(|m| *m.value());
                    li data-met=(met) { (if met { "✓ " } else { "✗ " }) (k.criterion) }
                }
            }
        }
        section #deliverables {
            h2 { (lang.t("deliverables")) }
            @if c.deliverables.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for d in &c.deliverables {
                    @let done = d.done.as_ref().is_some_and(|m| *m.value());
                    li data-done=(done) { (if done { "✓ " } else { "○ " }) (d.title) }
                }
            }
        }
        (super::mission::text_area(lang.t("draft_text"), "draft", &c.draft, heads, 6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use passerelle_core::DocumentId;
    use passerelle_model::{Stamp, funding_call};

    fn call(title: &str, deadline: Option<Date>, status: Option<&str>) -> Opened {
        let stamp = Stamp::new("samira", jiff::Timestamp::UNIX_EPOCH);
        let mut doc = funding_call::new_funding_call(title, "AFD", deadline, None, &stamp).unwrap();
        if let Some(status) = status {
            passerelle_model::set(&mut doc, &"status".parse().unwrap(), &status.into(), &stamp)
                .unwrap();
        }
        let typed = passerelle_model::open(&mut doc).map_err(|e| e.to_string());
        Opened {
            id: DocumentId::random(),
            heads: String::new(),
            doc,
            typed,
        }
    }

    #[test]
    fn open_calls_soonest_first_closed_ones_apart() {
        let today = date(2026, 11, 29);
        let docs = vec![
            call("later", Some(date(2027, 1, 15)), None),
            call("no deadline", None, Some("go")),
            call("past", Some(date(2026, 11, 1)), None),
            call("soon", Some(date(2026, 12, 3)), Some("drafting")),
            call("today", Some(today), None),
            call("submitted", Some(date(2026, 12, 20)), Some("submitted")),
            call("lost long ago", Some(date(2025, 3, 1)), Some("lost")),
        ];
        let (open, closed) = by_deadline(&docs, today);
        let titles = |v: &[(&Opened, &FundingCall)]| {
            v.iter().map(|(_, c)| c.title.clone()).collect::<Vec<_>>()
        };
        assert_eq!(titles(&open), ["today", "soon", "later", "no deadline"]);
        assert_eq!(titles(&closed), ["submitted", "past", "lost long ago"]);
        assert_eq!(days_left(open[1].1, today), Some(4));
        assert_eq!(days_left(open[0].1, today), Some(0));
        assert_eq!(days_left(open[3].1, today), None);
        assert_eq!(days_left(closed[1].1, today), Some(-28));
        assert_eq!(days_text(Lang::En, Some(4)), "4 days left");
        assert_eq!(days_text(Lang::En, Some(0)), "today");
    }
}
