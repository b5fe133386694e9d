//! `passerelle mission new|list|show|edit`, `mission agenda add`, `mission delegation add`,
//! `mission action add|done`, `mission meeting add|edit`, `mission logistics add`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::anyhow;
use automerge::AutoCommit;
use clap::Subcommand;
use passerelle_core::DocumentId;
use passerelle_model::{
    Direction, DocType, Document, LogisticsKind, LogisticsStatus, Mission, MissionStatus, Money,
    Place, Stamp, mission,
};
use serde_json::{Value as Json, json};

use super::{
    Ctx, FieldEdits, conflicts::conflict_lines, field_path, fill, localized, model_error,
    non_empty, one_line, parse_choice, parse_date, parse_money, parse_when, pick_item,
    register_json, shown, titles,
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
    /// Publish a mission on the public page (title, status, dates, direction, purpose,
    /// partner organisations' names; never the delegation, costs or minutes), or withdraw it
    /// with --undo.
    Publish {
        /// The mission's id.
        mission: String,
        /// Withdraw it from the public page.
        #[arg(long)]
        undo: bool,
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
    /// Meetings and their minutes.
    #[command(subcommand)]
    Meeting(MeetingCommand),
    /// Logistics: flights, hotels, vehicles, interpreters, per diems.
    #[command(subcommand)]
    Logistics(LogisticsCommand),
}

/// `passerelle mission meeting …`.
#[derive(Debug, Subcommand)]
pub(crate) enum MeetingCommand {
    /// Add a meeting; prints its id.
    Add {
        /// The mission's id.
        mission: String,
        /// What the meeting is, e.g. "Comité de pilotage".
        title: String,
        /// Someone who attends; repeat for several.
        #[arg(long, value_name = "NAME")]
        attendee: Vec<String>,
        /// The minutes (text).
        #[arg(long, value_name = "TEXT")]
        minutes: Option<String>,
        /// The decisions taken (text).
        #[arg(long, value_name = "TEXT")]
        decisions: Option<String>,
    },
    /// Change a meeting: its minutes and decisions are text, so others' concurrent typing
    /// in them is kept.
    Edit {
        /// The mission's id.
        mission: String,
        /// The meeting: its id, or its title.
        meeting: String,
        /// The new title.
        #[arg(long)]
        title: Option<String>,
        /// The minutes, whole (only what differs from the current text is written).
        #[arg(long, value_name = "TEXT")]
        minutes: Option<String>,
        /// The decisions, whole.
        #[arg(long, value_name = "TEXT")]
        decisions: Option<String>,
        /// Add someone who attends; repeat for several.
        #[arg(long, value_name = "NAME")]
        add_attendee: Vec<String>,
        /// Remove someone from the attendees.
        #[arg(long, value_name = "NAME")]
        remove_attendee: Vec<String>,
    },
}

/// `passerelle mission logistics …`.
#[derive(Debug, Subcommand)]
pub(crate) enum LogisticsCommand {
    /// Add a logistics line (status to-book); prints its id.
    Add {
        /// The mission's id.
        mission: String,
        /// flight, hotel, vehicle, interpreter or per-diem.
        kind: String,
        /// The details, e.g. "Lille-Oujda via Paris, 12 May, AT 781".
        details: String,
        /// What it costs: an amount and EUR or MAD, e.g. `--cost 1200 MAD`.
        #[arg(long, num_args = 2, value_names = ["AMOUNT", "CURRENCY"], allow_hyphen_values = true)]
        cost: Vec<String>,
        /// to-book, booked, paid or cancelled [default: to-book].
        #[arg(long)]
        status: Option<String>,
    },
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

fn run_meeting(command: MeetingCommand, home: &Path) -> anyhow::Result<()> {
    match command {
        MeetingCommand::Add {
            mission,
            title,
            attendee,
            minutes,
            decisions,
        } => {
            let title = non_empty("mission.meetings.title (TITLE)", &title)?;
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&mission, "mission", Some(DocType::Mission))?;
            let stamp = ctx.stamp();
            let attendees: Vec<&str> = attendee
                .iter()
                .map(|a| a.trim())
                .filter(|a| !a.is_empty())
                .collect();
            let id = mission::add_meeting(&mut loaded.doc, &title, &attendees, &stamp)
                .map_err(model_error)?;
            let item = field_path("meetings").item(&id);
            let mut edits = FieldEdits::new(&mut loaded.doc, &stamp, "mission");
            edits.set_given(&item.field("minutes").to_string(), &minutes)?;
            edits.set_given(&item.field("decisions").to_string(), &decisions)?;
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("added", &[&"mission.meetings", &title]));
            println!("{id}");
        }
        MeetingCommand::Edit {
            mission,
            meeting,
            title,
            minutes,
            decisions,
            add_attendee,
            remove_attendee,
        } => {
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&mission, "mission", Some(DocType::Mission))?;
            let Document::Mission(m) = &loaded.typed else {
                unreachable!("load checks the type")
            };
            let id = pick_item(
                "mission.meetings",
                &meeting,
                m.meetings.iter().map(|m| (&m.id, m.title.as_str())),
            )?;
            if let Some(title) = &title {
                non_empty("mission.meetings.title (--title)", title)?;
            }
            let stamp = ctx.stamp();
            let item = field_path("meetings").item(&id);
            let mut edits = FieldEdits::new(&mut loaded.doc, &stamp, "mission");
            edits.set_given(&item.field("title").to_string(), &title)?;
            edits.set_given(&item.field("minutes").to_string(), &minutes)?;
            edits.set_given(&item.field("decisions").to_string(), &decisions)?;
            let attendees = item.field("attendees").to_string();
            for name in &add_attendee {
                edits.member(&attendees, name, true)?;
            }
            for name in &remove_attendee {
                edits.member(&attendees, name, false)?;
            }
            if !edits.changed {
                return Err(anyhow!(t("nothing_to_change")));
            }
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("updated", &[&format!("mission.meetings[{id}]")]));
        }
    }
    Ok(())
}

fn run_logistics(command: LogisticsCommand, home: &Path) -> anyhow::Result<()> {
    let LogisticsCommand::Add {
        mission,
        kind,
        details,
        cost,
        status,
    } = command;
    let kind = parse_choice::<LogisticsKind>("mission.logistics.kind (KIND)", &kind)?;
    let details = non_empty("mission.logistics.details (DETAILS)", &details)?;
    let cost = match cost.as_slice() {
        [amount, currency] => Some(parse_money(
            "mission.logistics.cost (--cost)",
            amount,
            currency,
        )?),
        _ => None,
    };
    let status = status
        .map(|s| parse_choice::<LogisticsStatus>("mission.logistics.status (--status)", &s))
        .transpose()?;
    let mut ctx = Ctx::open(home, false)?;
    let mut loaded = ctx.load(&mission, "mission", Some(DocType::Mission))?;
    let stamp = ctx.stamp();
    let id = mission::add_logistics(&mut loaded.doc, kind, &details, cost, &stamp)
        .map_err(model_error)?;
    if let Some(status) = status.filter(|s| *s != LogisticsStatus::ToBook) {
        let at = field_path("logistics").item(&id).field("status");
        passerelle_model::set(&mut loaded.doc, &at, &json!(status.as_str()), &stamp)
            .map_err(model_error)?;
    }
    ctx.save(loaded.id, &mut loaded.doc)?;
    println!(
        "{}",
        fill(
            "added",
            &[&"mission.logistics", &format!("{kind}: {details}")]
        )
    );
    println!("{id}");
    Ok(())
}

pub(crate) fn run(command: MissionCommand, home: &Path) -> anyhow::Result<()> {
    match command {
        MissionCommand::Meeting(command) => return run_meeting(command, home),
        MissionCommand::Logistics(command) => return run_logistics(command, home),
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
                out["meetings"] = m
                    .meetings
                    .iter()
                    .map(|meeting| {
                        json!({
                            "id": meeting.id.as_str(), "title": meeting.title,
                            "attendees": meeting.attendees, "minutes": meeting.minutes,
                            "decisions": meeting.decisions,
                        })
                    })
                    .collect();
                out["logistics"] = m
                    .logistics
                    .iter()
                    .map(|l| {
                        json!({
                            "id": l.id.as_str(), "kind": l.kind.as_str(), "details": l.details,
                            "status": register_json(&l.status), "cost": register_json(&l.cost),
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
                print!("{}", show_text(Some(&mut ctx), loaded.id, m, &loaded.doc)?);
            }
        }
        MissionCommand::Publish { mission, undo } => {
            super::publish(home, &mission, "mission", DocType::Mission, !undo)?;
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
/// With `ctx`, references to other documents (linked projects, a delegate named by their
/// actor id) are shown with their names, or as erased.
pub(crate) fn show_text(
    mut ctx: Option<&mut Ctx>,
    id: DocumentId,
    m: &Mission,
    doc: &AutoCommit,
) -> anyhow::Result<String> {
    let mut reference = |value: &str| match ctx.as_deref_mut() {
        Some(ctx) => ctx.reference(value),
        None => value.to_owned(),
    };
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
    if !m.projects.is_empty() {
        let projects: Vec<String> = m.projects.iter().map(|p| reference(p)).collect();
        writeln!(out, "  {}: {}", t("f_projects"), projects.join(", "))?;
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
        writeln!(out, "  - {}{org}{role}  [{}]", reference(&d.person), d.id)?;
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
    writeln!(out, "{}:", t("f_meetings"))?;
    if m.meetings.is_empty() {
        writeln!(out, "  {}", t("f_none"))?;
    }
    for meeting in &m.meetings {
        let attendees = if meeting.attendees.is_empty() {
            String::new()
        } else {
            format!(" ({})", meeting.attendees.join(", "))
        };
        writeln!(out, "  - {}{attendees}  [{}]", meeting.title, meeting.id)?;
        for (label, text) in [
            ("f_minutes", &meeting.minutes),
            ("f_decisions", &meeting.decisions),
        ] {
            if !text.is_empty() {
                writeln!(out, "      {}:", t(label))?;
                for line in text.lines() {
                    writeln!(out, "        {line}")?;
                }
            }
        }
    }
    writeln!(out, "{}:", t("f_logistics"))?;
    if m.logistics.is_empty() {
        writeln!(out, "  {}", t("f_none"))?;
    }
    for l in &m.logistics {
        writeln!(
            out,
            "  - {}: {}  ({}: {}, {}: {})  [{}]",
            l.kind,
            one_line(&l.details, 80),
            t("f_status"),
            shown(&l.status),
            t("f_cost"),
            shown(&l.cost),
            l.id
        )?;
    }
    let costs = Money::totals(
        m.logistics
            .iter()
            .filter_map(|l| l.cost.as_ref().map(|c| *c.value())),
    );
    if !costs.is_empty() {
        let costs: Vec<String> = costs.values().map(|c| c.to_string()).collect();
        writeln!(out, "  {}: {}", t("f_cost_total"), costs.join(" + "))?;
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
