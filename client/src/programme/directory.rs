//! `passerelle actor add|find|show`, `actor contact add`, `call add|list`, `news add|list`: the actor directory, the
//! calls for proposals and the news watch.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::anyhow;
use clap::Subcommand;
use jiff::civil::Date;
use passerelle_model::{
    ActorCategory, ActorKind, ContactKind, DocType, Document, FundingCall, LegalBasis,
    NewsLanguage, actor, funding_call, news_item,
};
use serde_json::json;

use super::{
    Ctx, field_path, fill, model_error, non_empty, parse_choice, parse_date, register_json, shown,
};
use crate::lang::t;

/// `passerelle actor …`. (Parsed once per run: its size does not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum ActorCommand {
    /// Add a person or an organisation to the directory; prints its id as the last line.
    /// A person's record needs --basis: on what ground it is kept.
    Add {
        /// The name (in Latin script for a person, in French for an organisation).
        name: String,
        /// A person (default: an organisation).
        #[arg(long)]
        person: bool,
        /// The name in Arabic script.
        #[arg(long, value_name = "NAME")]
        name_ar: Option<String>,
        /// commune, wilaya, university, association, business, funder, media, training,
        /// cultural, institution or other.
        #[arg(long)]
        category: Option<String>,
        /// Why a person's record is kept: consent, legitimate-interest, public-role or
        /// contract.
        #[arg(long)]
        basis: Option<String>,
        /// The organisation they belong to (its actor document id).
        #[arg(long, value_name = "ACTOR")]
        parent: Option<String>,
        /// An e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// A phone number.
        #[arg(long)]
        phone: Option<String>,
        /// A theme; repeat for several.
        #[arg(long)]
        theme: Vec<String>,
        /// Who in the programme keeps the relationship.
        #[arg(long)]
        owner: Option<String>,
        /// Notes (text).
        #[arg(long)]
        notes: Option<String>,
    },
    /// Find actors whose name, contact, theme or category holds TEXT (any case).
    Find {
        /// What to look for.
        text: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an actor: names, kind, basis, contacts (with their ids), themes, notes.
    Show {
        /// The actor's document id.
        actor: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ways to reach an actor.
    #[command(subcommand)]
    Contact(ContactCommand),
    /// Everything held on an actor, as JSON: the record, every value it ever had (its whole
    /// history), the server's record of who wrote what (if reachable), and the documents
    /// that mention it. Works offline with what this replica holds.
    Export {
        /// The actor's document id.
        actor: String,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Erase an actor for good, history included: on the server (needed), here, and on
    /// every other replica at its next sync. Asks for confirmation on a terminal.
    Erase {
        /// The actor's document id.
        actor: String,
        /// Do not ask (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// `passerelle actor contact …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ContactCommand {
    /// Add a way to reach an actor; prints its id. (`passerelle remove ACTOR ID` removes
    /// one.)
    Add {
        /// The actor's document id.
        actor: String,
        /// email, phone, address, web or other.
        kind: String,
        /// The address, number or URL.
        value: String,
        /// What it is, e.g. "office", "mobile".
        #[arg(long)]
        label: Option<String>,
    },
}

/// `passerelle call …`.
#[derive(Debug, Subcommand)]
pub(crate) enum CallCommand {
    /// Add a call for proposals (status watching); prints its id as the last line.
    Add {
        /// The call's title.
        title: String,
        /// Who funds it, e.g. AFD, "EU", "MEAE".
        #[arg(long)]
        funder: String,
        /// The deadline, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        deadline: Option<String>,
        /// Its web page.
        #[arg(long)]
        url: Option<String>,
        /// The funding scheme.
        #[arg(long)]
        scheme: Option<String>,
        /// The project it would fund (document id).
        #[arg(long)]
        project: Option<String>,
    },
    /// List the calls, soonest deadline first.
    List {
        /// Only the open calls whose deadline is within this many days (`30d`) or weeks
        /// (`4w`), or already passed.
        #[arg(long, value_name = "DURATION")]
        due_within: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `passerelle news …`.
#[derive(Debug, Subcommand)]
pub(crate) enum NewsCommand {
    /// Add a news item (its URL is its key: the same URL twice is refused); prints its id
    /// as the last line.
    Add {
        /// The article's URL.
        url: String,
        /// Its title.
        #[arg(long)]
        title: String,
        /// fr, ar, en or other [default: fr].
        #[arg(long, default_value = "fr")]
        language: String,
        /// Its date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// The source, e.g. "Le360", "Oujda City".
        #[arg(long)]
        source: Option<String>,
        /// A summary (text).
        #[arg(long)]
        summary: Option<String>,
        /// A tag; repeat for several.
        #[arg(long)]
        tag: Vec<String>,
    },
    /// List the news items, newest first.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run_actor(command: ActorCommand, home: &Path) -> anyhow::Result<()> {
    match command {
        ActorCommand::Export { actor, output } => {
            return super::erase::export(home, &actor, output.as_deref());
        }
        ActorCommand::Erase { actor, yes } => return super::erase::erase(home, &actor, yes),
        ActorCommand::Show { actor, json } => return show_actor(home, &actor, json),
        ActorCommand::Contact(ContactCommand::Add {
            actor,
            kind,
            value,
            label,
        }) => {
            let kind = parse_choice::<ContactKind>("actor.contacts.kind (KIND)", &kind)?;
            let value = non_empty("actor.contacts.value (VALUE)", &value)?;
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&actor, "ACTOR", Some(DocType::Actor))?;
            let stamp = ctx.stamp();
            let label = label.as_deref().map(str::trim).filter(|l| !l.is_empty());
            let id = actor::add_contact(&mut loaded.doc, kind, &value, label, &stamp)
                .map_err(model_error)?;
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("added", &[&"actor.contacts", &value]));
            println!("{id}");
        }
        ActorCommand::Add {
            name,
            person,
            name_ar,
            category,
            basis,
            parent,
            email,
            phone,
            theme,
            owner,
            notes,
        } => {
            let name = non_empty("actor.names (NAME)", &name)?;
            let kind = if person {
                ActorKind::Person
            } else {
                ActorKind::Organisation
            };
            let category = category
                .map(|c| parse_choice::<ActorCategory>("actor.category (--category)", &c))
                .transpose()?;
            let basis = basis
                .map(|b| parse_choice::<LegalBasis>("actor.basis (--basis)", &b))
                .transpose()?;
            if person && basis.is_none() {
                return Err(anyhow!(fill("err_missing", &[&"actor.basis (--basis)"])));
            }
            let script = if person { "latin" } else { "fr" };
            let mut names = vec![(script.to_owned(), name.clone())];
            if let Some(ar) = name_ar.filter(|n| !n.trim().is_empty()) {
                names.push(("ar".to_owned(), ar.trim().to_owned()));
            }
            let mut ctx = Ctx::open(home, true)?;
            let stamp = ctx.stamp();
            let new = actor::NewActor {
                kind,
                category,
                names,
                basis,
            };
            let mut doc = actor::new_actor(&new, &stamp).map_err(model_error)?;
            if let Some(parent) = &parent {
                passerelle_model::set(
                    &mut doc,
                    &field_path("parent"),
                    &json!(parent.trim()),
                    &stamp,
                )
                .map_err(model_error)?;
            }
            for (kind, value) in [(ContactKind::Email, &email), (ContactKind::Phone, &phone)] {
                if let Some(value) = value {
                    actor::add_contact(&mut doc, kind, value.trim(), None, &stamp)
                        .map_err(model_error)?;
                }
            }
            for theme in &theme {
                passerelle_model::add_member(&mut doc, &field_path("themes"), theme.trim(), &stamp)
                    .map_err(model_error)?;
            }
            for (field, value) in [("owner", &owner), ("notes", &notes)] {
                if let Some(value) = value {
                    passerelle_model::set(&mut doc, &field_path(field), &json!(value), &stamp)
                        .map_err(model_error)?;
                }
            }
            let id = ctx.create(&mut doc)?;
            println!("{}", fill("created", &[&t("type_actor"), &name]));
            println!("{id}");
        }
        ActorCommand::Find { text, json } => {
            let needle = text.trim().to_lowercase();
            let mut ctx = Ctx::open(home, false)?;
            let mut found = Vec::new();
            for loaded in ctx.all(Some(DocType::Actor))? {
                let Document::Actor(a) = loaded.typed else {
                    continue;
                };
                let mut haystack: Vec<String> = a.names.iter().map(|(_, n)| n.to_owned()).collect();
                haystack.extend(a.contacts.iter().map(|c| c.value.clone()));
                haystack.extend(a.themes.iter().cloned());
                haystack.extend(a.category.map(|c| c.as_str().to_owned()));
                haystack.push(a.notes.clone());
                if haystack.iter().any(|h| h.to_lowercase().contains(&needle)) {
                    found.push((loaded.id, a));
                }
            }
            if json {
                let list: Vec<_> = found
                    .iter()
                    .map(|(id, a)| {
                        json!({
                            "id": id.to_string(), "kind": a.kind.as_str(),
                            "category": a.category.map(|c| c.as_str()),
                            "names": a.names.iter().map(|(l, n)| (l.to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
                            "contacts": a.contacts.iter().map(|c| json!({"kind": c.kind.as_str(), "value": c.value})).collect::<Vec<_>>(),
                            "themes": a.themes, "basis": register_json(&a.basis),
                            "owner": register_json(&a.owner),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if found.is_empty() {
                println!("{}", t("found_none"));
            } else {
                for (id, a) in &found {
                    let names: Vec<&str> = a.names.iter().map(|(_, n)| n).collect();
                    let contacts: Vec<&str> = a.contacts.iter().map(|c| c.value.as_str()).collect();
                    println!(
                        "{id}  {}  {}  {}  {}",
                        a.kind,
                        a.category.map_or("-", |c| c.as_str()),
                        names.join(" / "),
                        contacts.join(", ")
                    );
                }
            }
        }
    }
    Ok(())
}

/// `actor show ACTOR [--json]`.
fn show_actor(home: &Path, actor: &str, json: bool) -> anyhow::Result<()> {
    let mut ctx = Ctx::open(home, false)?;
    let loaded = ctx.load(actor, "ACTOR", Some(DocType::Actor))?;
    let Document::Actor(a) = &loaded.typed else {
        unreachable!("load checks the type")
    };
    let parent = a.parent.as_deref().map(|p| ctx.reference(p));
    if json {
        let out = json!({
            "id": loaded.id.to_string(), "kind": a.kind.as_str(),
            "category": a.category.map(|c| c.as_str()),
            "names": a.names.iter().map(|(l, n)| (l.to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "parent": a.parent, "basis": register_json(&a.basis),
            "contacts": a.contacts.iter().map(|c| json!({
                "id": c.id.as_str(), "kind": c.kind.as_str(), "value": c.value, "label": c.label,
            })).collect::<Vec<_>>(),
            "themes": a.themes, "notes": a.notes,
            "last_contact": register_json(&a.last_contact), "owner": register_json(&a.owner),
            "conflicts": passerelle_model::conflicts(&loaded.doc).map_err(model_error)?,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let mut out = String::new();
    let names: Vec<&str> = a
        .names
        .iter()
        .map(|(_, n)| n)
        .filter(|n| !n.is_empty())
        .collect();
    writeln!(out, "{}", names.join(" / "))?;
    writeln!(out, "  id: {}", loaded.id)?;
    let category = a.category.map_or("-", |c| c.as_str());
    writeln!(out, "  {}: {} ({category})", t("f_kind"), a.kind)?;
    if let Some(parent) = &parent {
        writeln!(out, "  {}: {parent}", t("f_parent"))?;
    }
    writeln!(out, "  {}: {}", t("f_basis"), shown(&a.basis))?;
    writeln!(out, "  {}: {}", t("f_owner"), shown(&a.owner))?;
    writeln!(out, "  {}: {}", t("f_last_contact"), shown(&a.last_contact))?;
    if !a.themes.is_empty() {
        writeln!(out, "  {}: {}", t("f_themes"), a.themes.join(", "))?;
    }
    writeln!(out, "{}:", t("f_contacts"))?;
    if a.contacts.is_empty() {
        writeln!(out, "  {}", t("f_none"))?;
    }
    for c in &a.contacts {
        let label = c
            .label
            .as_deref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        writeln!(out, "  - {}: {}{label}  [{}]", c.kind, c.value, c.id)?;
    }
    if !a.notes.is_empty() {
        writeln!(out, "  {}: {}", t("f_notes"), a.notes)?;
    }
    out.push_str(&super::conflicts::conflict_lines(loaded.id, &loaded.doc)?);
    print!("{out}");
    Ok(())
}

/// `30d`, `4w` or `30` as days.
fn parse_days(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let (number, unit) = match text.strip_suffix(['d', 'j']) {
        Some(n) => (n, 1),
        None => match text.strip_suffix(['w', 's']) {
            Some(n) => (n, 7),
            None => (text, 1),
        },
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|n| (0..=3650).contains(n))
        .map(|n| n * unit)
        .ok_or_else(|| anyhow!(fill("err_duration", &[&text])))
}

/// Today's date where this computer is.
pub(crate) fn today() -> Date {
    jiff::Zoned::now().date()
}

/// How far a call's deadline is, in words.
pub(crate) fn deadline_words(call: &FundingCall, today: Date) -> String {
    let Some(deadline) = &call.deadline else {
        return "-".to_owned();
    };
    let days = (*deadline.value() - today).get_days();
    let when = if days >= 0 {
        fill("days_left", &[&days])
    } else {
        fill("days_late", &[&-days])
    };
    format!("{} ({when})", fill("deadline", &[&shown(&call.deadline)]))
}

pub(crate) fn run_call(command: CallCommand, home: &Path) -> anyhow::Result<()> {
    match command {
        CallCommand::Add {
            title,
            funder,
            deadline,
            url,
            scheme,
            project,
        } => {
            let title = non_empty("funding_call.title", &title)?;
            let funder = non_empty("funding_call.funder (--funder)", &funder)?;
            let deadline = deadline
                .map(|d| parse_date("funding_call.deadline (--deadline)", &d))
                .transpose()?;
            let mut ctx = Ctx::open(home, true)?;
            let stamp = ctx.stamp();
            let mut doc =
                funding_call::new_funding_call(&title, &funder, deadline, url.as_deref(), &stamp)
                    .map_err(model_error)?;
            for (field, value) in [("scheme", &scheme), ("project", &project)] {
                if let Some(value) = value {
                    passerelle_model::set(
                        &mut doc,
                        &field_path(field),
                        &json!(value.trim()),
                        &stamp,
                    )
                    .map_err(model_error)?;
                }
            }
            let id = ctx.create(&mut doc)?;
            println!("{}", fill("created", &[&t("type_funding_call"), &title]));
            println!("{id}");
        }
        CallCommand::List { due_within, json } => {
            let days = due_within.as_deref().map(parse_days).transpose()?;
            let today = today();
            let mut ctx = Ctx::open(home, false)?;
            let mut calls = Vec::new();
            for loaded in ctx.all(Some(DocType::FundingCall))? {
                if let Document::FundingCall(c) = loaded.typed
                    && days.is_none_or(|days| c.closes_within(today, days))
                {
                    calls.push((loaded.id, c));
                }
            }
            calls.sort_by_key(|(_, c)| c.deadline.as_ref().map(|d| *d.value()));
            if json {
                let list: Vec<_> = calls
                    .iter()
                    .map(|(id, c)| {
                        json!({
                            "id": id.to_string(), "title": c.title, "funder": c.funder,
                            "deadline": register_json(&c.deadline), "status": register_json(&c.status),
                            "url": c.url,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if calls.is_empty() {
                println!("{}", t("list_empty"));
            } else {
                for (id, c) in &calls {
                    println!(
                        "{id}  {}  {}  {}  {}",
                        deadline_words(c, today),
                        shown(&c.status),
                        c.funder,
                        c.title
                    );
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn run_news(command: NewsCommand, home: &Path) -> anyhow::Result<()> {
    match command {
        NewsCommand::Add {
            url,
            title,
            language,
            date,
            source,
            summary,
            tag,
        } => {
            let title = non_empty("news_item.title (--title)", &title)?;
            let language =
                parse_choice::<NewsLanguage>("news_item.language (--language)", &language)?;
            let date = date
                .map(|d| parse_date("news_item.date (--date)", &d))
                .transpose()?;
            let url = url.trim().to_owned();
            let mut ctx = Ctx::open(home, true)?;
            let existing = ctx
                .all(Some(DocType::NewsItem))?
                .into_iter()
                .find(|l| matches!(&l.typed, Document::NewsItem(n) if n.url == url));
            if let Some(existing) = existing {
                return Err(anyhow!(fill("err_duplicate_news", &[&existing.id])));
            }
            let stamp = ctx.stamp();
            let mut doc =
                news_item::new_news_item(&url, &title, language, date, source.as_deref(), &stamp)
                    .map_err(model_error)?;
            if let Some(summary) = &summary {
                passerelle_model::set(&mut doc, &field_path("summary"), &json!(summary), &stamp)
                    .map_err(model_error)?;
            }
            for tag in &tag {
                passerelle_model::add_member(&mut doc, &field_path("tags"), tag.trim(), &stamp)
                    .map_err(model_error)?;
            }
            let id = ctx.create(&mut doc)?;
            println!("{}", fill("created", &[&t("type_news_item"), &title]));
            println!("{id}");
        }
        NewsCommand::List { json } => {
            let mut ctx = Ctx::open(home, false)?;
            let mut items = Vec::new();
            for loaded in ctx.all(Some(DocType::NewsItem))? {
                if let Document::NewsItem(n) = loaded.typed {
                    items.push((loaded.id, n));
                }
            }
            items.sort_by_key(|(_, n)| std::cmp::Reverse(n.date));
            if json {
                let list: Vec<_> = items
                    .iter()
                    .map(|(id, n)| {
                        json!({
                            "id": id.to_string(), "url": n.url, "title": n.title,
                            "date": n.date.map(|d| d.to_string()), "source": n.source,
                            "language": n.language.map(|l| l.as_str()),
                            "relevance": register_json(&n.relevance), "tags": n.tags,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if items.is_empty() {
                println!("{}", t("list_empty"));
            } else {
                for (id, n) in &items {
                    println!(
                        "{id}  {}  {}  {}  {}",
                        n.date.map_or("-".to_owned(), |d| d.to_string()),
                        n.source.as_deref().unwrap_or("-"),
                        n.title,
                        n.url
                    );
                }
            }
        }
    }
    Ok(())
}
