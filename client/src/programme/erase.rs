//! `passerelle actor export|erase`: the data-protection verbs of the actor directory (the
//! library side is `erasure.rs`).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::{anyhow, bail};
use passerelle_client::{ClientError, HttpTransport, Mention};
use passerelle_model::{DocType, Document};

use super::{Ctx, type_name};
use crate::lang::{fill, t};

/// `actor export ACTOR [--output FILE]`.
pub(crate) fn export(home: &Path, actor: &str, output: Option<&Path>) -> anyhow::Result<()> {
    let mut ctx = Ctx::open(home, false)?;
    let loaded = ctx.load(actor, "ACTOR", Some(DocType::Actor))?;
    let transport = match ctx.replica.server()? {
        Some(config) => Some(HttpTransport::new(&config)?),
        None => None,
    };
    let export = ctx
        .replica
        .export_everything(loaded.id, transport.as_ref())?;
    let text = serde_json::to_string_pretty(&export)? + "\n";
    match output {
        None => print!("{text}"),
        Some(path) => {
            // Personal data: readable by its owner only.
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            eprintln!("{}", path.display());
        }
    }
    Ok(())
}

/// `actor erase ACTOR [--yes]`.
pub(crate) fn erase(home: &Path, actor: &str, yes: bool) -> anyhow::Result<()> {
    let mut ctx = Ctx::open(home, false)?;
    let loaded = ctx.load(actor, "ACTOR", Some(DocType::Actor))?;
    let id = loaded.id;
    let name = match &loaded.typed {
        Document::Actor(a) => a
            .names
            .iter()
            .map(|(_, n)| n)
            .collect::<Vec<_>>()
            .join(" / "),
        _ => String::new(),
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!(fill("erase_needs_yes", &[&id, &name]));
        }
        eprint!("{}", fill("erase_confirm", &[&id, &name]));
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "yes" | "oui") {
            bail!(t("erase_not_confirmed"));
        }
    }
    // What still names the actor, found before the erasure (its names are gone after).
    let mut needles = vec![id.to_string()];
    if let Document::Actor(a) = &loaded.typed {
        needles.extend(
            a.names
                .iter()
                .map(|(_, n)| n.trim().to_owned())
                .filter(|n| n.chars().count() >= 3),
        );
    }
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    let mentions = ctx.replica.documents_mentioning(id, &needles)?;
    let Some(config) = ctx.replica.server()? else {
        bail!(fill("erase_no_server", &[&id]));
    };
    let transport = HttpTransport::new(&config)?;
    match transport.erase(id) {
        Ok(done) => {
            let deleted = ctx.replica.erase_here(id)?;
            eprintln!(
                "{}",
                fill(
                    "erase_done",
                    &[
                        &id,
                        &done.deleted_keys,
                        &done.erased_by,
                        &done.erased_at,
                        &deleted
                    ]
                )
            );
            report_mentions(&mut ctx, &mentions);
            Ok(())
        }
        Err(ClientError::NotOnServer(_)) if ctx.replica.confirmed_heads(id)?.is_none() => {
            // Made here and never synced: the server never had it.
            let deleted = ctx.replica.erase_here(id)?;
            eprintln!("{}", fill("erase_done_here", &[&id, &deleted]));
            report_mentions(&mut ctx, &mentions);
            Ok(())
        }
        Err(error @ ClientError::Unreachable { .. }) => {
            Err(anyhow!(fill("erase_unreachable", &[&id, &error])))
        }
        Err(error) => Err(anyhow!(fill("erase_failed", &[&id, &error]))),
    }
}

/// Prints the documents that still mention an erased actor: its id stays in them (shown as
/// erased, it names no one any more), but a name typed into a field or a text is personal
/// data that a person must look at.
fn report_mentions(ctx: &mut Ctx, mentions: &[Mention]) {
    if mentions.is_empty() {
        println!("{}", t("erase_no_mentions"));
        return;
    }
    println!("{}", fill("erase_mentions", &[&mentions.len()]));
    for mention in mentions {
        let kind = mention
            .doc_type
            .as_deref()
            .and_then(|t| t.parse::<DocType>().ok())
            .map_or("document", type_name);
        println!(
            "  {kind} {}: {}",
            ctx.reference(&mention.id.to_string()),
            mention.fields.join(", ")
        );
    }
}
