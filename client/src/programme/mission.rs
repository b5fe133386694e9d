//! `passerelle mission new|list|show|edit`, `mission agenda add`, `mission delegation add`,
//! `mission action add|done`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::anyhow;
use automerge::AutoCommit;
use clap::Subcommand;
use passerelle_core::DocumentId;
use passerelle_model::{
    Direction, DocType, Document, Mission, MissionStatus, Place, Stamp, mission,
};
use serde_json::{Value as Json, json};

use super::{
    Ctx, FieldEdits, conflicts::conflict_lines, field_path, fill, localized, model_error,
    non_empty, parse_choice, parse_date, parse_when, pick_item, register_json, shown, titles,
};
use crate::lang::t;

/// `passerelle mission …`.
#[derive(Debug, Subcommand)]
pub(crate) enum MissionCommand {
    /// Plan a mission (status draft); prints its id as the last line.
    New {
        /// lille-to-oujda or oujda-to-lille.
        #[arg(long)]
        direction: String,
        /// The French title.
        #[arg(long)]
        title: String,
        /// The Arabic title.
        #[arg(long, value_name = "TITLE")]
        title_ar: Option<String>,
        /// The English title.
        #[arg(long, value_name = "TITLE")]
        title_en: Option<String>,
        /// The first day, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        start: Option<String>,
        /// The last day, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        end: Option<String>,
        /// Its purpose (text).
        #[arg(long)]
        purpose: Option<String>,
        /// A linked project (document id); repeat for several.
        #[arg(long, value_name = "PROJECT")]
        project: Vec<String>,
    },
    /// List the missions: id, dates, status, title.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a mission.
    Show {
        /// The mission's id.
        mission: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a mission's fields.
    Edit {
        /// The mission's id.
        mission: String,
        #[command(flatten)]
        fields: MissionFields,
    },
    /// The agenda.
    #[command(subcommand)]
    Agenda(AgendaCommand),
    /// The delegation.
    #[command(subcommand)]
    Delegation(DelegationCommand),
    /// Follow-up actions.
    #[command(subcommand)]
    Action(ActionCommand),
}

/// What `mission edit` may change.
#[derive(Debug, clap::Args)]
pub(crate) struct MissionFields {
    /// The French title.
    #[arg(long)]
    title: Option<String>,
    /// The Arabic title.
    #[arg(long, value_name = "TITLE")]
    title_ar: Option<String>,
    /// The English title.
    #[arg(long, value_name = "TITLE")]
    title_en: Option<String>,
    /// draft, planned, confirmed, done or cancelled.
    #[arg(long)]
    status: Option<String>,
    /// The first day, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    start: Option<String>,
    /// The last day, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    end: Option<String>,
    /// Its purpose (text; others' concurrent typing is kept).
    #[arg(long)]
    purpose: Option<String>,
    /// Its outcomes (text).
    #[arg(long)]
    outcomes: Option<String>,
    /// Link a project (document id).
    #[arg(long, value_name = "PROJECT")]
    add_project: Vec<String>,
}

/// `passerelle mission agenda …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AgendaCommand {
    /// Add an agenda item; prints its id.
    Add {
        /// The mission's id.
        mission: String,
        /// What happens.
        title: String,
        /// When: 2026-05-12T09:30, in the zone of --zone, or with its zone
        /// 2026-05-12T09:30[Europe/Paris].
        #[arg(long, value_name = "DATE-TIME")]
        at: Option<String>,
        /// The time zone of --at [default: where the mission goes: Africa/Casablanca for
        /// Lille → Oujda, Europe/Paris for Oujda → Lille].
        #[arg(long)]
        zone: Option<String>,
        /// Where.
        #[arg(long)]
        place: Option<String>,
    },
}

/// `passerelle mission delegation …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DelegationCommand {
    /// Add a member of the delegation; prints their id.
    Add {
        /// The mission's id.
        mission: String,
        /// The person's name.
        person: String,
        /// Their organisation.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// Their role in the mission.
        #[arg(long)]
        role: Option<String>,
        /// Arrival date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        arrival: Option<String>,
        /// Departure date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        departure: Option<String>,
    },
}

/// `passerelle mission action …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ActionCommand {
    /// Add a follow-up action; prints its id.
    Add {
        /// The mission's id.
        mission: String,
        /// What is to be done.
        text: String,
        /// Who does it.
        #[arg(long)]
        owner: Option<String>,
        /// By when, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        due: Option<String>,
    },
    /// Mark a follow-up action done.
    Done {
        /// The mission's id.
        mission: String,
        /// The action: its id, or its text.
        action: String,
    },
}

pub(crate) fn run(command: MissionCommand, home: &Path) -> anyhow::Result<()> {
    match command {
        MissionCommand::New {
            direction,
            title,
            title_ar,
            title_en,
            start,
            end,
            purpose,
            project,
        } => {
            let direction = parse_direction(&direction)?;
            let title = non_empty("mission.title (--title)", &title)?;
            let start = start
                .map(|d| parse_date("mission.start (--start)", &d))
                .transpose()?;
            let end = end
                .map(|d| parse_date("mission.end (--end)", &d))
                .transpose()?;
            let new = mission::NewMission {
                direction,
                title: titles(Some(&title), title_ar.as_deref(), title_en.as_deref()),
                start,
                end,
            };
            let mut ctx = Ctx::open(home, true)?;
            let stamp = ctx.stamp();
            let mut doc = mission::new_mission(&new, &stamp).map_err(model_error)?;
            if let Some(purpose) = &purpose {
                passerelle_model::set(&mut doc, &field_path("purpose"), &json!(purpose), &stamp)
                    .map_err(model_error)?;
            }
            for project in &project {
                passerelle_model::add_member(
                    &mut doc,
                    &field_path("projects"),
                    project.trim(),
                    &stamp,
                )
                .map_err(model_error)?;
            }
            let id = ctx.create(&mut doc)?;
            println!("{}", fill("created", &[&t("type_mission"), &title]));
            println!("{id}");
        }
        MissionCommand::List { json } => {
            let mut ctx = Ctx::open(home, false)?;
            let mut rows = Vec::new();
            for loaded in ctx.all(Some(DocType::Mission))? {
                if let Document::Mission(m) = loaded.typed {
                    rows.push((loaded.id, *m));
                }
            }
            rows.sort_by_key(|(_, m)| m.start.as_ref().map(|s| *s.value()));
            if json {
                let list: Vec<Json> = rows.iter().map(|(id, m)| summary_json(*id, m)).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if rows.is_empty() {
                println!("{}", t("list_empty"));
            } else {
                for (id, m) in &rows {
                    println!(
                        "{id}  {} → {}  {}  {}  {}",
                        shown(&m.start),
                        shown(&m.end),
                        shown(&m.status),
                        direction_text(m),
                        localized(&m.title)
                    );
                }
            }
        }
        MissionCommand::Show { mission, json } => {
            let mut ctx = Ctx::open(home, false)?;
            let loaded = ctx.load(&mission, "mission", Some(DocType::Mission))?;
            let Document::Mission(m) = &loaded.typed else {
                unreachable!("load checks the type")
            };
            if json {
                let mut out = summary_json(loaded.id, m);
                out["purpose"] = m.purpose.clone().into();
                out["outcomes"] = m.outcomes.clone().into();
                out["projects"] = json!(m.projects);
                out["delegation"] = m
                    .delegation
                    .iter()
                    .map(|d| {
                        json!({
                            "id": d.id.as_str(), "person": d.person, "organisation": d.organisation,
                            "role": d.role, "arrival": register_json(&d.arrival),
                            "departure": register_json(&d.departure),
                        })
                    })
                    .collect();
                out["agenda"] = m
                    .agenda
                    .iter()
                    .map(|a| {
                        json!({
                            "id": a.id.as_str(), "starts_at": register_json(&a.starts_at),
                            "title": a.title, "place": a.place, "notes": a.notes,
                        })
                    })
                    .collect();
                out["actions"] = m
                    .actions
                    .iter()
                    .map(|a| {
                        json!({
                            "id": a.id.as_str(), "text": a.text, "owner": register_json(&a.owner),
                            "due": register_json(&a.due), "status": register_json(&a.status),
                        })
                    })
                    .collect();
                out["conflicts"] = serde_json::to_value(
                    passerelle_model::conflicts(&loaded.doc).map_err(model_error)?,
                )?;
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", show_text(loaded.id, m, &loaded.doc)?);
            }
        }
        MissionCommand::Edit { mission, fields } => {
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&mission, "mission", Some(DocType::Mission))?;
            let stamp = ctx.stamp();
            if !apply_fields(&mut loaded.doc, &fields, &stamp)? {
                return Err(anyhow!(t("nothing_to_change")));
            }
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("updated", &[&loaded.id]));
        }
        MissionCommand::Agenda(AgendaCommand::Add {
            mission,
            title,
            at,
            zone,
            place,
        }) => {
            let title = non_empty("mission.agenda.title", &title)?;
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&mission, "mission", Some(DocType::Mission))?;
            let Document::Mission(m) = &loaded.typed else {
                unreachable!("load checks the type")
            };
            let zone = zone.unwrap_or_else(|| match m.direction {
                Some(Direction::OujdaToLille) => "Europe/Paris".to_owned(),
                _ => "Africa/Casablanca".to_owned(),
            });
            let at = at
                .map(|at| parse_when("mission.agenda.starts_at (--at)", &at, &zone))
                .transpose()?;
            let stamp = ctx.stamp();
            let id = mission::add_agenda_item(
                &mut loaded.doc,
                Place::End,
                at,
                &title,
                place.as_deref(),
                &stamp,
            )
            .map_err(model_error)?;
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("added", &[&"mission.agenda", &title]));
            println!("{id}");
        }
        MissionCommand::Delegation(DelegationCommand::Add {
            mission,
            person,
            org,
            role,
            arrival,
            departure,
        }) => {
            let person = non_empty("mission.delegation.person", &person)?;
            let arrival = arrival
                .map(|d| parse_date("mission.delegation.arrival (--arrival)", &d))
                .transpose()?;
            let departure = departure
                .map(|d| parse_date("mission.delegation.departure (--departure)", &d))
                .transpose()?;
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&mission, "mission", Some(DocType::Mission))?;
            let stamp = ctx.stamp();
            let id = mission::add_delegate(
                &mut loaded.doc,
                &person,
                org.as_deref(),
                role.as_deref(),
                &stamp,
            )
            .map_err(model_error)?;
            for (field, date) in [("arrival", arrival), ("departure", departure)] {
                if let Some(date) = date {
                    let at = field_path("delegation").item(&id).field(field);
                    passerelle_model::set(&mut loaded.doc, &at, &json!(date.to_string()), &stamp)
                        .map_err(model_error)?;
                }
            }
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("added", &[&"mission.delegation", &person]));
            println!("{id}");
        }
        MissionCommand::Action(ActionCommand::Add {
            mission,
            text,
            owner,
            due,
        }) => {
            let text = non_empty("mission.actions.text", &text)?;
            let due = due
                .map(|d| parse_date("mission.actions.due (--due)", &d))
                .transpose()?;
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&mission, "mission", Some(DocType::Mission))?;
            let stamp = ctx.stamp();
            let id = mission::add_action(&mut loaded.doc, &text, owner.as_deref(), due, &stamp)
                .map_err(model_error)?;
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("added", &[&"mission.actions", &text]));
            println!("{id}");
        }
        MissionCommand::Action(ActionCommand::Done { mission, action }) => {
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&mission, "mission", Some(DocType::Mission))?;
            let Document::Mission(m) = &loaded.typed else {
                unreachable!("load checks the type")
            };
            let id = pick_item(
                "mission.actions",
                &action,
                m.actions.iter().map(|a| (&a.id, a.text.as_str())),
            )?;
            let stamp = ctx.stamp();
            mission::mark_action_done(&mut loaded.doc, &id, &stamp).map_err(model_error)?;
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("updated", &[&format!("mission.actions[{id}]")]));
        }
    }
    Ok(())
}

fn parse_direction(text: &str) -> anyhow::Result<Direction> {
    let word = text.trim().to_lowercase().replace(['-', '>', ' '], "_");
    let word = match word.as_str() {
        "lille_oujda" | "lille__oujda" => "lille_to_oujda".to_owned(),
        "oujda_lille" | "oujda__lille" => "oujda_to_lille".to_owned(),
        _ => word,
    };
    parse_choice::<Direction>("mission.direction (--direction)", &word).map_err(|_| {
        super::invalid(
            "mission.direction (--direction)",
            text,
            "lille-to-oujda, oujda-to-lille",
        )
    })
}

fn apply_fields(
    doc: &mut AutoCommit,
    fields: &MissionFields,
    stamp: &Stamp,
) -> anyhow::Result<bool> {
    let mut edits = FieldEdits::new(doc, stamp, "mission");
    edits.titles([&fields.title, &fields.title_ar, &fields.title_en])?;
    edits.status(&fields.status, MissionStatus::as_str)?;
    edits.dates(&fields.start, &fields.end)?;
    edits.set_given("purpose", &fields.purpose)?;
    edits.set_given("outcomes", &fields.outcomes)?;
    for project in &fields.add_project {
        edits.member("projects", project, true)?;
    }
    Ok(edits.changed)
}

pub(crate) fn direction_text(m: &Mission) -> &'static str {
    match m.direction {
        Some(Direction::LilleToOujda) => t("lille_to_oujda"),
        Some(Direction::OujdaToLille) => t("oujda_to_lille"),
        None => "-",
    }
}

fn summary_json(id: DocumentId, m: &Mission) -> Json {
    json!({
        "id": id.to_string(),
        "title": m.title.iter().map(|(l, t)| (l.to_owned(), Json::from(t))).collect::<serde_json::Map<_, _>>(),
        "direction": m.direction.map(|d| d.as_str()),
        "status": register_json(&m.status),
        "start": register_json(&m.start),
        "end": register_json(&m.end),
    })
}

/// A mission for a person to read (`mission show`, and the demo).
pub(crate) fn show_text(id: DocumentId, m: &Mission, doc: &AutoCommit) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(out, "{}", localized(&m.title))?;
    writeln!(out, "  id: {id}")?;
    for (lang, title) in m.title.iter().filter(|(_, title)| !title.is_empty()) {
        writeln!(out, "  {}.{lang}: {title}", t("f_title"))?;
    }
    writeln!(out, "  {}: {}", t("f_direction"), direction_text(m))?;
    writeln!(out, "  {}: {}", t("f_status"), shown(&m.status))?;
    writeln!(
        out,
        "  {}: {} → {}",
        t("f_dates"),
        shown(&m.start),
        shown(&m.end)
    )?;
    if !m.purpose.is_empty() {
        writeln!(out, "  {}: {}", t("f_purpose"), m.purpose)?;
    }
    writeln!(out, "{}:", t("f_delegation"))?;
    if m.delegation.is_empty() {
        writeln!(out, "  {}", t("f_none"))?;
    }
    for d in &m.delegation {
        let org = d
            .organisation
            .as_deref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        let role = d
            .role
            .as_deref()
            .map(|r| format!(", {r}"))
            .unwrap_or_default();
        writeln!(out, "  - {}{org}{role}  [{}]", d.person, d.id)?;
    }
    writeln!(out, "{}:", t("f_agenda"))?;
    if m.agenda.is_empty() {
        writeln!(out, "  {}", t("f_none"))?;
    }
    for a in &m.agenda {
        let place = a
            .place
            .as_deref()
            .map(|p| format!(", {p}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  - {}  {}{place}  [{}]",
            shown(&a.starts_at),
            a.title,
            a.id
        )?;
        for line in a.notes.lines() {
            writeln!(out, "      {line}")?;
        }
    }
    writeln!(out, "{}:", t("f_actions"))?;
    if m.actions.is_empty() {
        writeln!(out, "  {}", t("f_none"))?;
    }
    for a in &m.actions {
        writeln!(
            out,
            "  - {}  ({}: {}, {}: {}, {}: {})  [{}]",
            a.text,
            t("f_owner"),
            shown(&a.owner),
            t("f_due"),
            shown(&a.due),
            t("f_status"),
            shown(&a.status),
            a.id
        )?;
    }
    if !m.outcomes.is_empty() {
        writeln!(out, "  {}: {}", t("f_outcomes"), m.outcomes)?;
    }
    out.push_str(&conflict_lines(id, doc)?);
    Ok(out)
}
