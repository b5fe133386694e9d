//! `passerelle actor export|erase`: the data-protection verbs of the actor directory (the
//! library side is `erasure.rs`).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::{anyhow, bail};
use passerelle_client::{ClientError, HttpTransport};
use passerelle_model::{DocType, Document};

use super::Ctx;

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
            bail!("refusing to erase {id} ({name}) without --yes when not on a terminal");
        }
        eprint!(
            "Erase {id} ({name}) for good, its history included, on the server and on every \
             replica? Type `yes` to confirm: "
        );
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "yes" | "oui") {
            bail!("not confirmed; nothing was erased");
        }
    }
    let Some(config) = ctx.replica.server()? else {
        bail!(
            "cannot erase {id} without the server: this replica has no server configured \
             (`passerelle init --server URL --token T`); nothing was erased"
        );
    };
    let transport = HttpTransport::new(&config)?;
    match transport.erase(id) {
        Ok(done) => {
            let deleted = ctx.replica.erase_here(id)?;
            eprintln!(
                "erased {id} on the server ({} keys, by {} at {}) and here ({deleted} keys); \
                 other replicas delete their copies at their next sync",
                done.deleted_keys, done.erased_by, done.erased_at
            );
            Ok(())
        }
        Err(ClientError::NotOnServer(_)) if ctx.replica.confirmed_heads(id)?.is_none() => {
            // Made here and never synced: the server never had it.
            let deleted = ctx.replica.erase_here(id)?;
            eprintln!("erased {id} here ({deleted} keys); the server never received it");
            Ok(())
        }
        Err(error @ ClientError::Unreachable { .. }) => Err(anyhow!(
            "cannot erase {id} without the server: {error}; nothing was erased (erasure must \
             reach the server, or the other replicas would keep it)"
        )),
        Err(error) => Err(anyhow!("{id} was not erased: {error}")),
    }
}
