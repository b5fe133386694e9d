//! `passerelle today`: what needs attention, from the local replica alone (works offline).
//!
//! Missions starting in the coming weeks (or under way), calls for proposals closing soon
//! (or past their deadline and still open), follow-up actions past due, conflicts waiting
//! for a person, and documents whose changes the server has not confirmed yet.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::ToSpan as _;
use passerelle_model::Document;
use serde_json::{Value as Json, json};

use crate::lang::{Lang, fill, t};
use crate::programme::directory::{deadline_words, today};
use crate::programme::mission::direction_text;
use crate::programme::{Ctx, localized, model_error, one_line, shown};

/// Runs `passerelle today`.
pub(crate) fn run(home: &Path, weeks: u16, days: u16, as_json: bool) -> anyhow::Result<()> {
    let today = today();
    let horizon = today.checked_add((i64::from(weeks) * 7).days())?;
    let mut ctx = Ctx::open(home, false)?;
    let docs = ctx.all(None)?;

    let mut missions = Vec::new();
    let mut overdue = Vec::new();
    let mut calls = Vec::new();
    let mut conflicts = Vec::new();
    for loaded in &docs {
        for conflict in passerelle_model::conflicts(&loaded.doc).map_err(model_error)? {
            conflicts.push((loaded.id, conflict));
        }
        match &loaded.typed {
            Document::Mission(m) => {
                if m.is_coming_or_under_way(today, horizon) {
                    let start = m.start.as_ref().map(|s| *s.value());
                    missions.push((loaded.id, m.clone(), start));
                }
                for action in m.actions.iter().filter(|a| a.is_overdue(today)) {
                    overdue.push((loaded.id, localized(&m.title), action.clone()));
                }
            }
            Document::FundingCall(c) if c.closes_within(today, i64::from(days)) => {
                calls.push((loaded.id, c.clone()));
            }
            _ => {}
        }
    }
    missions.sort_by_key(|(_, _, start)| *start);
    calls.sort_by_key(|(_, c)| c.deadline.as_ref().map(|d| *d.value()));
    overdue.sort_by_key(|(_, _, a)| a.due.as_ref().map(|d| *d.value()));

    let titles: BTreeMap<_, _> = ctx
        .replica
        .list()?
        .into_iter()
        .map(|s| (s.id, s.title.unwrap_or_else(|| "-".to_owned())))
        .collect();
    let mut pending = Vec::new();
    for status in ctx.replica.sync_statuses()? {
        let refused = status.rejection.as_ref().map_or(0, |r| r.changes.len());
        let waiting = status.pending_changes.saturating_sub(refused);
        let reason = status.rejection.as_ref().map(|r| r.reason.clone());
        if waiting > 0 || reason.is_some() {
            let title = titles.get(&status.document_id).cloned().unwrap_or_default();
            pending.push((status.document_id, title, waiting, reason));
        }
    }

    if as_json {
        let out = json!({
            "date": today.to_string(),
            "missions": missions.iter().map(|(id, m, _)| json!({
                "id": id.to_string(), "title": localized(&m.title), "start": shown(&m.start),
                "end": shown(&m.end), "status": shown(&m.status),
            })).collect::<Vec<_>>(),
            "calls": calls.iter().map(|(id, c)| json!({
                "id": id.to_string(), "title": c.title, "funder": c.funder, "deadline": shown(&c.deadline),
            })).collect::<Vec<_>>(),
            "overdue_actions": overdue.iter().map(|(id, title, a)| json!({
                "mission": id.to_string(), "mission_title": title, "id": a.id.as_str(), "text": a.text,
                "due": shown(&a.due), "owner": shown(&a.owner),
            })).collect::<Vec<_>>(),
            "conflicts": conflicts.iter().map(|(id, c)| json!({
                "document": id.to_string(), "path": c.path.to_string(), "values": c.values.len(),
            })).collect::<Vec<_>>(),
            "pending": pending.iter().map(|(id, title, n, reason)| json!({
                "document": id.to_string(), "title": title, "changes": n, "refused": reason,
            })).collect::<Vec<Json>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }

    let mut out = String::new();
    let weekday = weekday(today);
    out.push_str(&fill("today_title", &[&weekday, &today]));
    out.push('\n');
    section(
        &mut out,
        &fill("today_missions", &[&weeks]),
        missions.iter().map(|(id, m, _)| {
            format!(
                "  {}  {}  {}  {}  {}",
                fill("today_starts", &[&shown(&m.start), &shown(&m.end)]),
                direction_text(m),
                shown(&m.status),
                localized(&m.title),
                id
            )
        }),
    );
    section(
        &mut out,
        t("today_calls"),
        calls.iter().map(|(id, c)| {
            format!(
                "  {}  {}  {}  {id}",
                deadline_words(c, today),
                c.funder,
                c.title
            )
        }),
    );
    section(
        &mut out,
        t("today_overdue"),
        overdue.iter().map(|(id, title, a)| {
            fill(
                "today_overdue_line",
                &[
                    &one_line(&a.text, 80),
                    &shown(&a.due),
                    &shown(&a.owner),
                    &format!("{title} ({id})"),
                ],
            )
        }),
    );
    section(
        &mut out,
        t("today_conflicts"),
        conflicts.iter().map(|(id, c)| {
            fill(
                "today_conflict_line",
                &[&id, &c.doc_type, &c.path, &c.values.len()],
            )
        }),
    );
    section(
        &mut out,
        t("today_pending"),
        pending.iter().map(|(id, title, n, reason)| match reason {
            Some(reason) => fill("today_refused_line", &[&id, title, reason]),
            None => fill("today_pending_line", &[&id, title, n]),
        }),
    );
    print!("{out}");
    Ok(())
}

fn section(out: &mut String, title: &str, lines: impl Iterator<Item = String>) {
    out.push('\n');
    out.push_str(title);
    out.push('\n');
    let mut any = false;
    for line in lines {
        out.push_str(&line);
        out.push('\n');
        any = true;
    }
    if !any {
        out.push_str(t("today_none"));
        out.push('\n');
    }
}

fn weekday(date: jiff::civil::Date) -> &'static str {
    let i = usize::from(date.weekday().to_monday_zero_offset() as u8);
    let (fr, en) = (
        [
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
        ],
        [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ],
    );
    match Lang::current() {
        Lang::Fr => fr[i],
        Lang::En => en[i],
    }
}
