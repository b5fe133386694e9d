//! `passerelle edit DOC FIELD VALUE`, `passerelle conflicts [DOC]` and `passerelle resolve
//! DOC FIELD VALUE`: any field of any programme document, and the concurrent values that
//! wait for a person.

use std::fmt::Write as _;
use std::path::Path;

use automerge::AutoCommit;
use passerelle_core::DocumentId;
use passerelle_model::{Conflict, FieldPath};
use serde_json::{Value as Json, json};

use super::{Ctx, fill, invalid, model_error};
use crate::lang::t;

fn field_path(field: &str) -> anyhow::Result<FieldPath> {
    field
        .parse::<FieldPath>()
        .map_err(|e| invalid("FIELD", field, &e.to_string()))
}

/// `passerelle edit`.
pub(crate) fn edit(home: &Path, doc: &str, field: &str, value: &str) -> anyhow::Result<()> {
    let path = field_path(field)?;
    let mut ctx = Ctx::open(home, false)?;
    let mut loaded = ctx.load(doc, "DOC", None)?;
    let stamp = ctx.stamp();
    // `true`/`false` are booleans where the field holds one (a checklist's `met`), else text.
    let as_bool = matches!(value, "true" | "false").then(|| Json::Bool(value == "true"));
    let outcome = match &as_bool {
        Some(b) => passerelle_model::set(&mut loaded.doc, &path, b, &stamp)
            .or_else(|_| passerelle_model::set(&mut loaded.doc, &path, &json!(value), &stamp)),
        None => passerelle_model::set(&mut loaded.doc, &path, &json!(value), &stamp),
    };
    outcome.map_err(model_error)?;
    ctx.save(loaded.id, &mut loaded.doc)?;
    println!("{}", fill("updated", &[&format!("{} {path}", loaded.id)]));
    Ok(())
}

/// `passerelle conflicts`.
pub(crate) fn list(home: &Path, doc: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    let mut ctx = Ctx::open(home, false)?;
    let docs = match doc {
        Some(doc) => vec![ctx.load(doc, "DOC", None)?],
        None => ctx.all(None)?,
    };
    let mut found: Vec<(DocumentId, Conflict)> = Vec::new();
    for loaded in &docs {
        for conflict in passerelle_model::conflicts(&loaded.doc).map_err(model_error)? {
            found.push((loaded.id, conflict));
        }
    }
    if as_json {
        let list: Vec<Json> = found
            .iter()
            .map(|(id, c)| {
                let mut value = serde_json::to_value(c).unwrap_or_default();
                value["document"] = id.to_string().into();
                value["path"] = c.path.to_string().into();
                value
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if found.is_empty() {
        println!("{}", t("conflicts_none"));
    }
    for (id, conflict) in &found {
        print!("{}", conflict_text(*id, conflict));
    }
    Ok(())
}

/// One conflict for a person: the field, each value with who set it and when, and how to
/// choose.
pub(crate) fn conflict_text(id: DocumentId, conflict: &Conflict) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{id}  {}.{}", conflict.doc_type, conflict.path);
    for (i, value) in conflict.values.iter().enumerate() {
        let at = value
            .at
            .and_then(|at| at.round(jiff::Unit::Minute).ok())
            .map_or("-".to_owned(), |at| at.to_string());
        let by = if value.by.is_empty() { "?" } else { &value.by };
        let mut line = fill("conflict_value", &[&value.value, &by, &at]);
        if i == 0 {
            line.push_str(&format!("  ← {}", t("conflict_shown")));
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{}", fill("conflict_hint", &[&id, &conflict.path]));
    out
}

/// The conflicts and resolutions of a document, for `show`.
pub(crate) fn conflict_lines(id: DocumentId, doc: &AutoCommit) -> anyhow::Result<String> {
    let mut out = String::new();
    let conflicts = passerelle_model::conflicts(doc).map_err(model_error)?;
    if !conflicts.is_empty() {
        writeln!(out, "{}:", t("f_conflicts"))?;
        for conflict in &conflicts {
            for line in conflict_text(id, conflict).lines() {
                writeln!(out, "  {line}")?;
            }
        }
    }
    let resolutions = passerelle_model::resolutions(doc).map_err(model_error)?;
    if !resolutions.is_empty() {
        writeln!(out, "{}:", t("f_resolutions"))?;
        for r in &resolutions {
            let at = r.at.round(jiff::Unit::Minute).unwrap_or(r.at);
            writeln!(
                out,
                "  {} = {}  ({} {}; {})",
                r.path,
                r.value,
                r.by,
                at,
                r.replaced.join(" | ")
            )?;
        }
    }
    Ok(out)
}

/// `passerelle resolve`.
pub(crate) fn resolve(home: &Path, doc: &str, field: &str, value: &str) -> anyhow::Result<()> {
    let path = field_path(field)?;
    let mut ctx = Ctx::open(home, false)?;
    let mut loaded = ctx.load(doc, "DOC", None)?;
    let stamp = ctx.stamp();
    let resolution =
        passerelle_model::resolve(&mut loaded.doc, &path, value, &stamp).map_err(model_error)?;
    ctx.save(loaded.id, &mut loaded.doc)?;
    let replaced = resolution.replaced.join(" | ");
    println!(
        "{}",
        fill(
            "resolved",
            &[&resolution.path, &resolution.value, &replaced]
        )
    );
    Ok(())
}
