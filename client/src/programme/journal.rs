//! `passerelle journal add|list|edit`: the field journal.
//!
//! A replica usually holds one journal; `journal add` makes it on first use (and prints its
//! id). With several, `--journal` chooses.

use std::path::Path;

use anyhow::anyhow;
use clap::Subcommand;
use passerelle_core::DocumentId;
use passerelle_model::{DocType, Document, ItemId, journal};
use serde_json::json;

use super::{Ctx, Loaded, fill, model_error, non_empty, one_line};
use crate::lang::t;

/// `passerelle journal …`.
#[derive(Debug, Subcommand)]
pub(crate) enum JournalCommand {
    /// Write an entry (by you, now); prints the entry's id, then the journal's id last.
    Add {
        /// The entry.
        text: String,
        /// The mission it is about (document id).
        #[arg(long)]
        mission: Option<String>,
        /// The project it is about (document id).
        #[arg(long)]
        project: Option<String>,
        /// A tag; repeat for several.
        #[arg(long)]
        tag: Vec<String>,
        /// Where it was written.
        #[arg(long)]
        place: Option<String>,
        /// The journal (document id), when the replica holds several.
        #[arg(long)]
        journal: Option<String>,
    },
    /// List the entries, oldest first.
    List {
        /// Only the entries about this mission.
        #[arg(long)]
        mission: Option<String>,
        /// Only the entries with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rewrite one of your entries (others' concurrent typing in it is kept).
    Edit {
        /// The entry's id.
        entry: String,
        /// Its new text.
        text: String,
    },
}

pub(crate) fn run(command: JournalCommand, home: &Path) -> anyhow::Result<()> {
    match command {
        JournalCommand::Add {
            text,
            mission,
            project,
            tag,
            place,
            journal: chosen,
        } => {
            let text = non_empty("journal.entries.body", &text)?;
            for (field, value) in [
                ("journal.entries.mission (--mission)", &mission),
                ("journal.entries.project (--project)", &project),
            ] {
                if let Some(value) = value
                    && value.parse::<DocumentId>().is_err()
                {
                    return Err(anyhow!(fill("err_bad_id", &[&field, value])));
                }
            }
            let mut ctx = Ctx::open(home, true)?;
            let stamp = ctx.stamp();
            let mut target = match chosen {
                Some(id) => Some(ctx.load(&id, "--journal", Some(DocType::Journal))?),
                None => {
                    let mut all = ctx.all(Some(DocType::Journal))?;
                    match all.len() {
                        0 => None,
                        1 => all.pop(),
                        _ => {
                            let ids: Vec<String> = all.iter().map(|l| l.id.to_string()).collect();
                            return Err(anyhow!(fill("err_several_journals", &[&ids.join(", ")])));
                        }
                    }
                }
            };
            let (id, mut doc, created) = match target.take() {
                Some(Loaded { id, doc, .. }) => (id, doc, false),
                None => {
                    let title = format!("{} — {}", t("type_journal"), stamp.by);
                    let doc = journal::new_journal(&title, &stamp).map_err(model_error)?;
                    (DocumentId::random(), doc, true)
                }
            };
            let entry = journal::NewEntry {
                body: text,
                place,
                mission,
                project,
                tags: tag.into_iter().map(|t| t.trim().to_owned()).collect(),
            };
            let entry = journal::add_entry(&mut doc, &entry, &stamp).map_err(model_error)?;
            ctx.save(id, &mut doc)?;
            if created {
                println!("{}", fill("journal_created", &[&id]));
            }
            println!("{entry}");
            println!("{id}");
        }
        JournalCommand::List { mission, tag, json } => {
            let mut ctx = Ctx::open(home, false)?;
            let mut entries = Vec::new();
            for loaded in ctx.all(Some(DocType::Journal))? {
                if let Document::Journal(j) = loaded.typed {
                    for entry in j.entries {
                        entries.push((loaded.id, entry));
                    }
                }
            }
            entries.retain(|(_, e)| {
                mission
                    .as_ref()
                    .is_none_or(|m| e.mission.as_ref() == Some(m))
                    && tag.as_ref().is_none_or(|t| e.tags.contains(t))
            });
            entries.sort_by_key(|(_, e)| e.at);
            if json {
                let list: Vec<_> = entries
                    .iter()
                    .map(|(journal, e)| {
                        json!({
                            "journal": journal.to_string(), "id": e.id.as_str(), "author": e.author,
                            "at": e.at.to_string(), "place": e.place, "mission": e.mission,
                            "project": e.project, "tags": e.tags, "body": e.body,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if entries.is_empty() {
                println!("{}", t("list_empty"));
            } else {
                for (_, e) in &entries {
                    let at = e.at.round(jiff::Unit::Minute).unwrap_or(e.at);
                    let tags = if e.tags.is_empty() {
                        String::new()
                    } else {
                        format!("  #{}", e.tags.join(" #"))
                    };
                    println!(
                        "{}  {}  [{}]{tags}",
                        fill("entry_by", &[&at, &e.author]),
                        one_line(&e.body, 100),
                        e.id
                    );
                }
            }
        }
        JournalCommand::Edit { entry, text } => {
            let id: ItemId = entry.parse().map_err(|_| {
                anyhow!(fill("err_no_item", &[&format!("journal.entries[{entry}]")]))
            })?;
            let mut ctx = Ctx::open(home, false)?;
            let stamp = ctx.stamp();
            let found = ctx.all(Some(DocType::Journal))?.into_iter().find(|l| {
                matches!(&l.typed, Document::Journal(j) if j.entries.iter().any(|e| e.id == id))
            });
            let Some(mut loaded) = found else {
                return Err(anyhow!(fill(
                    "err_no_item",
                    &[&format!("journal.entries[{id}]")]
                )));
            };
            journal::edit_entry(&mut loaded.doc, &id, &text, &stamp).map_err(model_error)?;
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("updated", &[&format!("journal.entries[{id}]")]));
        }
    }
    Ok(())
}
