//! `passerelle move DOC ITEM --before|--after OTHER|--first|--last` and `passerelle remove
//! DOC ITEM`: any list item of any programme document (agenda items, actions, delegates,
//! meetings, logistics, budget lines, co-financing, contacts, checklists…), named by its id
//! alone (the record of resolved conflicts is not a list `find_item` searches: it stays as
//! written).
//!
//! A move rewrites only the item's order key, so an edit made inside the item meanwhile, on
//! another replica, is kept, and two concurrent moves leave the item once, in one of the two
//! places. A removal deletes the item; an edit made inside it concurrently is lost with it.

use std::path::Path;

use anyhow::anyhow;
use passerelle_model::{
    Document, FieldPath, ItemId, ItemLocation, Place, Project, Segment, find_item,
};

use super::{Ctx, fill, invalid, model_error};
use crate::lang::t;

/// Where `passerelle move` puts the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Where {
    Before,
    After,
    First,
    Last,
}

/// The item named by `arg` in `doc`: its id (searched in every list of the document), or its
/// path (`agenda[k3f9a0c2]`).
fn locate(doc: &automerge::AutoCommit, field: &str, arg: &str) -> anyhow::Result<ItemLocation> {
    let arg = arg.trim();
    let not_found = || anyhow!(fill("err_no_item", &[&format!("{field} {arg}")]));
    let id = if arg.contains('[') {
        let path: FieldPath = arg
            .parse()
            .map_err(|e: passerelle_model::InvalidFieldPath| invalid(field, arg, &e.to_string()))?;
        match path.segments().last() {
            Some(Segment::Item(id)) => id.clone(),
            _ => return Err(invalid(field, arg, t("exp_item"))),
        }
    } else {
        arg.parse::<ItemId>()
            .map_err(|_| invalid(field, arg, t("exp_item")))?
    };
    let found = find_item(doc, &id)
        .map_err(model_error)?
        .ok_or_else(not_found)?;
    if arg.contains('[') && found.path.to_string() != arg {
        return Err(not_found());
    }
    Ok(found)
}

/// `passerelle move`.
pub(crate) fn move_item(
    home: &Path,
    doc: &str,
    item: &str,
    place: Where,
    other: Option<&str>,
) -> anyhow::Result<()> {
    let mut ctx = Ctx::open(home, false)?;
    let mut loaded = ctx.load(doc, "DOC", None)?;
    let doc_type = loaded.typed.doc_type();
    let found = locate(&loaded.doc, "ITEM", item)?;
    if !found.ordered {
        return Err(anyhow!(fill(
            "err_log_order",
            &[&format!("{}.{}", doc_type.name(), found.path)]
        )));
    }
    let place = match (place, other) {
        (Where::First, _) => Place::Start,
        (Where::Last, _) => Place::End,
        (side, Some(other)) => {
            let flag = if side == Where::Before {
                "--before"
            } else {
                "--after"
            };
            let other_found = locate(&loaded.doc, flag, other)?;
            if other_found.path.parent() != found.path.parent() {
                return Err(anyhow!(fill(
                    "err_other_list",
                    &[&flag, &other_found.path, &found.path.parent()]
                )));
            }
            let Some(Segment::Item(other_id)) = other_found.path.segments().last() else {
                unreachable!("find_item returns item paths")
            };
            if found.path == other_found.path {
                return Err(invalid(flag, other, t("exp_other_item")));
            }
            if side == Where::Before {
                Place::Before(other_id.clone())
            } else {
                Place::After(other_id.clone())
            }
        }
        (_, None) => unreachable!("clap requires the other item with --before and --after"),
    };
    passerelle_model::move_item(&mut loaded.doc, &found.path, place).map_err(model_error)?;
    ctx.save(loaded.id, &mut loaded.doc)?;
    println!(
        "{}",
        fill("moved", &[&format!("{}.{}", doc_type.name(), found.path)])
    );
    Ok(())
}

/// `passerelle remove`.
pub(crate) fn remove_item(home: &Path, doc: &str, item: &str) -> anyhow::Result<()> {
    let mut ctx = Ctx::open(home, false)?;
    let mut loaded = ctx.load(doc, "DOC", None)?;
    let doc_type = loaded.typed.doc_type();
    let found = locate(&loaded.doc, "ITEM", item)?;
    if let Document::Project(p) = &loaded.typed {
        still_referenced(p, &found.path)?;
    }
    let stamp = ctx.stamp();
    passerelle_model::remove_item(&mut loaded.doc, &found.path, &stamp).map_err(model_error)?;
    ctx.save(loaded.id, &mut loaded.doc)?;
    println!(
        "{}",
        fill("removed", &[&format!("{}.{}", doc_type.name(), found.path)])
    );
    Ok(())
}

/// Refuses to remove a budget line that expenses are recorded on, or an indicator (or the
/// result holding it) that has measurements: they would point at nothing.
fn still_referenced(p: &Project, path: &FieldPath) -> anyhow::Result<()> {
    let Some(Segment::Item(id)) = path.segments().last() else {
        return Ok(());
    };
    let field = path.segments().first();
    let is = |name: &str| field == Some(&Segment::Field(name.into()));
    let users: Vec<&str> = if is("budget") && path.segments().len() == 2 {
        p.expenses
            .iter()
            .filter(|e| &e.line == id)
            .map(|e| e.id.as_str())
            .collect()
    } else if is("logframe") {
        let indicators: Vec<&ItemId> = match path.segments().len() {
            2 => p
                .logframe
                .iter()
                .filter(|r| &r.id == id)
                .flat_map(|r| r.indicators.iter().map(|i| &i.id))
                .collect(),
            _ => vec![id],
        };
        p.measurements
            .iter()
            .filter(|m| indicators.contains(&&m.indicator))
            .map(|m| m.id.as_str())
            .collect()
    } else {
        Vec::new()
    };
    if users.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(fill(
            "err_item_used",
            &[&format!("project.{path}"), &users.join(", ")]
        )))
    }
}
