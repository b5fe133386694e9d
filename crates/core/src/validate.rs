//! Checks every op of incoming changes against the document before automerge applies them.
//!
//! automerge 0.12 checks the structure of an op only with `debug_assert!`s: a release build
//! applies, and stores, a change whose ops name things that do not exist or do not fit, and the
//! document then fails to load, or reads back differently, after a restart. The engine
//! therefore runs [`check_incoming`] on the changes of every sync message and batch delta it
//! is about to apply, and refuses the whole message when one op is malformed.
//!
//! # What is checked
//! The changes are those of every chunk of the message (change, compressed change, bundle, or
//! a whole saved document), taken in causal order: a change is checked once every change it
//! depends on is in the document or has been checked earlier in the same message. For each
//! change:
//! - its `start_op` is above the `max_op` of each change it depends on, and none of its op ids
//!   is already taken (by the document or by another change of the message);
//! - each op's object is the root or an object made before it (in the document, in an earlier
//!   change, or earlier in the same change);
//! - the key fits the object: a string key, and no insertion and no mark, in a map or table; a
//!   list position in a list or text, and an update (not an insertion) names an element;
//! - each element an op names (to insert after it, or to update it) is an insertion into that
//!   same object;
//! - each op an op overwrites (`pred`) exists and lives at the same object and key (map key, or
//!   list element); an insertion overwrites nothing.
//!
//! # What is left to automerge
//! The change's own encoding (columns, actions, values, checksums of change chunks, hashes of
//! document chunks), duplicate sequence numbers, and semantic oddities that load back
//! identically (an increment of a value that is not a counter, an empty map key). Also not
//! checked: that the ops an op names were visible to its author (causality): that would need
//! a historical read per reference, and a change naming an op that exists where it says,
//! though concurrent to it, is structurally sound.
//!
//! # Changes waiting for their dependencies
//! automerge holds a change whose dependencies are missing, and applies it when they arrive,
//! maybe from another peer. Such a change cannot be checked when it arrives; the engine keeps
//! a copy ([`HeldChange`], at most [`MAX_HELD_OPS`] ops per document) and checks it, with the
//! message that completes it, before that message is applied. A held change that turns out
//! malformed is reported as [`Verdict::HeldMalformed`]: only reloading the document from
//! storage drops it from automerge's queue.
//!
//! # Cost
//! One pass over the message's ops with hash lookups. What an op names in the document is
//! looked up through automerge's public API: objects through `object_type`, map overwrites
//! through the key's current values, and everything else by reading the one document change
//! that holds the named op (`hash_for_opid`, `get_change_by_hash`). What was read is kept
//! ([`DocOps`], per loaded document, at most [`MAX_CACHED_DOC_OPS`] ops): ops never move,
//! and edits keep naming the same few changes (a text imported in one big change, then
//! typed into). So the work is linear in the message plus, at worst, the document.
//!
//! An empty document holds no op, so nothing is looked up in it. And the message that creates
//! a document usually carries it whole (one document chunk: automerge's sync sends that to a
//! peer that has nothing). Checking it here would mean loading it on its own, then automerge
//! loading it again; the engine instead lets automerge apply it to a copy of the empty
//! document and checks the result (`check_new_document`), the same check in the same order.
//! `benches/validation_replay.rs` measures the check on a workload-1-like stream.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType};
use automerge::{
    Automerge, Bundle, Change, ChangeHash, ExpandedChange, LoadOptions, ObjId, ObjType,
    OnPartialLoad, ReadDoc, VerificationMode,
};

use crate::PeerId;

/// The most ops of changes waiting for their dependencies that a document keeps; a message
/// that would hold more is refused.
pub const MAX_HELD_OPS: usize = 100_000;

/// The most document ops a [`DocOps`] keeps; past it, it starts again empty.
pub const MAX_CACHED_DOC_OPS: usize = 100_000;

/// Where the document's ops live, as read so far (whole changes at a time). The engine keeps
/// one per loaded document; valid only for the document (or later versions of it) it was
/// filled from.
#[derive(Debug, Default)]
pub struct DocOps {
    ops: HashMap<OpId, OpInfo>,
    changes_read: HashSet<ChangeHash>,
}

/// Why incoming changes were refused: which change, which op, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidChanges(String);

/// Checks the changes in `data` (what `Automerge::load_incremental` takes) against `doc`,
/// as the engine does before applying them. Changes whose dependencies `doc` lacks are not
/// checked (the engine keeps them and checks them once their dependencies arrive).
pub fn check_changes(doc: &Automerge, data: &[u8]) -> Result<(), InvalidChanges> {
    check_changes_with(doc, &mut DocOps::default(), data)
}

/// [`check_changes`], reusing (and filling) what `doc_ops` has read of `doc` before.
pub fn check_changes_with(
    doc: &Automerge,
    doc_ops: &mut DocOps,
    data: &[u8],
) -> Result<(), InvalidChanges> {
    match check_incoming(doc, &[], doc_ops, data) {
        Verdict::Apply { .. } => Ok(()),
        Verdict::Refuse(reason) | Verdict::HeldMalformed { reason, .. } => {
            Err(InvalidChanges(reason))
        }
    }
}

/// The hashes of the changes in `data` (what `Automerge::load_incremental` takes: change,
/// compressed change, bundle or whole-document chunks), in the order they appear; nothing is
/// checked beyond their encoding. Federation uses it to name the changes a batch carries, to
/// send or ask for who made them.
pub fn change_hashes(data: &[u8]) -> Result<Vec<ChangeHash>, InvalidChanges> {
    let changes = parse(&Automerge::new(), data).map_err(InvalidChanges)?;
    Ok(changes.iter().map(Change::hash).collect())
}

/// A change the engine let automerge hold until its dependencies arrive: not checked yet.
#[derive(Debug, Clone)]
pub(crate) struct HeldChange {
    /// Who sent it, to tell them if it turns out malformed.
    pub(crate) from: PeerId,
    pub(crate) change: Change,
}

/// What to do with an incoming message's changes.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Apply them; afterwards keep `wait` (the incoming changes whose dependencies are
    /// missing) as held changes.
    Apply { wait: Vec<Change> },
    /// Refuse the whole message.
    Refuse(String),
    /// The message is sound, but completes a held change that is malformed: automerge would
    /// apply that one too.
    HeldMalformed { from: PeerId, reason: String },
}

/// Checks `data` against `doc`, together with the changes automerge holds for `doc`.
pub(crate) fn check_incoming(
    doc: &Automerge,
    held: &[HeldChange],
    doc_ops: &mut DocOps,
    data: &[u8],
) -> Verdict {
    let incoming = match parse(doc, data) {
        Ok(changes) => changes,
        Err(reason) => return Verdict::Refuse(reason),
    };
    if doc_ops.ops.len() > MAX_CACHED_DOC_OPS {
        *doc_ops = DocOps::default();
    }
    let mut validator = Validator::new(doc, doc_ops);
    let mut seen = HashSet::new();
    // Held changes first: automerge skips an incoming change it already holds.
    let mut candidates: Vec<(Option<&PeerId>, Change)> = Vec::new();
    for entry in held {
        if seen.insert(entry.change.hash()) {
            candidates.push((Some(&entry.from), entry.change.clone()));
        }
    }
    for change in incoming {
        if seen.insert(change.hash()) {
            candidates.push((None, change));
        }
    }
    candidates.retain(|(_, change)| !validator.in_doc(&change.hash()));
    let order = causal_order(&mut validator, &candidates);
    let mut ready = vec![false; candidates.len()];
    for index in order {
        let (from, change) = &candidates[index];
        if let Err(reason) = validator.check_change(change) {
            let reason = format!("change {}: {reason}", change.hash());
            return match from {
                None => Verdict::Refuse(reason),
                Some(from) => Verdict::HeldMalformed {
                    from: (*from).clone(),
                    reason,
                },
            };
        }
        ready[index] = true;
    }
    let wait: Vec<Change> = candidates
        .iter()
        .zip(&ready)
        .filter(|((from, _), ready)| from.is_none() && !**ready)
        .map(|((_, change), _)| change.clone())
        .collect();
    let held_ops: usize = held.iter().map(|h| h.change.len()).sum();
    let wait_ops: usize = wait.iter().map(Change::len).sum();
    if held_ops + wait_ops > MAX_HELD_OPS {
        return Verdict::Refuse(format!(
            "{wait_ops} ops wait for changes this document lacks, and {held_ops} already do; \
             at most {MAX_HELD_OPS}"
        ));
    }
    Verdict::Apply { wait }
}

/// Whether `data` is exactly one whole-document chunk: what automerge's sync sends a peer
/// that has nothing of the document (every document a JS client creates arrives so).
pub(crate) fn is_one_document_chunk(data: &[u8]) -> bool {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    if data.len() < 9 || data[..4] != MAGIC || data[8] != 0 {
        return false;
    }
    let mut after_type = &data[9..];
    let Some(len) = read_leb128(&mut after_type) else {
        return false;
    };
    usize::try_from(len).is_ok_and(|len| after_type.len() == len)
}

/// Checks every change of `loaded`: what automerge made of an empty document and one
/// incoming whole-document chunk ([`is_one_document_chunk`]), in a copy, so that the chunk is
/// read once, not once more for the check. The same check, in the same order and with the same
/// reasons, as [`check_incoming`] on the empty document and the chunk. Returns the changes'
/// hashes, oldest first (`get_changes(&[])`), or `None` when this cannot decide (the engine
/// then takes the usual path).
pub(crate) fn check_new_document(loaded: &Automerge) -> Option<Result<Vec<ChangeHash>, String>> {
    let changes = catch_unwind(AssertUnwindSafe(|| loaded.get_changes(&[]))).ok()?;
    let empty = Automerge::new();
    let mut doc_ops = DocOps::default();
    let mut validator = Validator::new(&empty, &mut doc_ops);
    let candidates: Vec<(Option<&PeerId>, Change)> =
        changes.into_iter().map(|change| (None, change)).collect();
    let order = causal_order(&mut validator, &candidates);
    if order.len() != candidates.len() {
        return None;
    }
    for index in order {
        let change = &candidates[index].1;
        if let Err(reason) = validator.check_change(change) {
            return Some(Err(format!("change {}: {reason}", change.hash())));
        }
    }
    Some(Ok(candidates
        .iter()
        .map(|(_, change)| change.hash())
        .collect()))
}

/// The indices of the candidates whose dependencies are all met (by the document or by
/// earlier candidates), dependencies first, in the message's order otherwise.
fn causal_order(
    validator: &mut Validator<'_>,
    candidates: &[(Option<&PeerId>, Change)],
) -> Vec<usize> {
    let by_hash: HashMap<ChangeHash, usize> = candidates
        .iter()
        .enumerate()
        .map(|(index, (_, change))| (change.hash(), index))
        .collect();
    let mut waiting_on = vec![0usize; candidates.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); candidates.len()];
    let mut unmet = vec![false; candidates.len()];
    for (index, (_, change)) in candidates.iter().enumerate() {
        for dep in change.deps() {
            if let Some(&dep_index) = by_hash.get(dep) {
                waiting_on[index] += 1;
                dependents[dep_index].push(index);
            } else if !validator.in_doc(dep) {
                unmet[index] = true;
            }
        }
    }
    let mut queue: VecDeque<usize> = (0..candidates.len())
        .filter(|&index| waiting_on[index] == 0 && !unmet[index])
        .collect();
    let mut order = Vec::new();
    while let Some(index) = queue.pop_front() {
        order.push(index);
        for &dependent in &dependents[index] {
            waiting_on[dependent] -= 1;
            if waiting_on[dependent] == 0 && !unmet[dependent] {
                queue.push_back(dependent);
            }
        }
    }
    order
}

/// The changes in `data`, a sequence of automerge chunks, as `load_incremental` reads them.
/// A whole saved document is expanded into its changes, unless `doc` has all of them.
fn parse(doc: &Automerge, data: &[u8]) -> Result<Vec<Change>, String> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut changes = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 9 || rest[..4] != MAGIC {
            return Err("the changes are not a sequence of automerge chunks".into());
        }
        let mut after_type = &rest[9..];
        let len = read_leb128(&mut after_type).ok_or("a chunk's length is malformed")?;
        let header_len = rest.len() - after_type.len();
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| header_len.checked_add(len))
            .filter(|&end| end <= rest.len())
            .ok_or("a chunk is truncated")?;
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        match chunk[8] {
            0 => changes.extend(document_changes(doc, chunk)?),
            1 | 2 => {
                let change =
                    Change::try_from(chunk).map_err(|e| format!("malformed change: {e}"))?;
                if chunk[8] == 1 && change.hash().as_ref()[..4] != chunk[4..8] {
                    return Err(format!("change {}: bad checksum", change.hash()));
                }
                changes.push(change);
            }
            3 => {
                let bundle =
                    Bundle::try_from(chunk).map_err(|e| format!("malformed bundle: {e}"))?;
                changes.extend(
                    bundle
                        .to_changes()
                        .map_err(|e| format!("malformed bundle: {e}"))?,
                );
            }
            other => return Err(format!("unknown chunk type {other}")),
        }
    }
    Ok(changes)
}

/// The changes of a saved document, read by loading it on its own (automerge checks its
/// hashes, so these are exactly the changes `load_incremental` would apply).
fn document_changes(doc: &Automerge, chunk: &[u8]) -> Result<Vec<Change>, String> {
    let loaded = catch_unwind(|| {
        let options = LoadOptions::new()
            .on_partial_load(OnPartialLoad::Error)
            .verification_mode(VerificationMode::Check);
        let scratch = Automerge::load_with_options(chunk, options)?;
        let known = scratch
            .get_heads()
            .iter()
            .all(|head| doc.get_change_meta_by_hash(head).is_some());
        Ok::<_, automerge::AutomergeError>(if known {
            Vec::new()
        } else {
            scratch.get_changes(&[])
        })
    });
    match loaded {
        Ok(Ok(changes)) => Ok(changes),
        Ok(Err(error)) => Err(format!("malformed document: {error}")),
        Err(_panic) => Err("malformed document (automerge could not read it)".into()),
    }
}

/// One unsigned LEB128 number (at most 10 bytes), advancing `input`.
fn read_leb128(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (index, byte) in input.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            *input = &input[index + 1..];
            return Some(value);
        }
    }
    None
}

/// Where an op lives: the object (`None` for the root) and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OpInfo {
    obj: Option<OpId>,
    at: At,
    insert: bool,
    /// The type of the object it makes, if it makes one.
    made: Option<ObjType>,
}

/// The key an op lives at: a map key, or the list element it inserts or updates.
#[derive(Debug, Clone, PartialEq, Eq)]
enum At {
    Prop(String),
    Elem(OpId),
}

impl OpInfo {
    /// `None` for an update of a sequence's head, which names no element.
    fn of(op: &Op, id: &OpId) -> Option<Self> {
        let at = match (&op.key, op.insert) {
            (Key::Map(prop), _) => At::Prop(prop.to_string()),
            (Key::Seq(_), true) => At::Elem(id.clone()),
            (Key::Seq(ElementId::Id(elem)), false) => At::Elem(elem.clone()),
            (Key::Seq(ElementId::Head), false) => return None,
        };
        Some(Self {
            obj: match &op.obj {
                ObjectId::Root => None,
                ObjectId::Id(obj) => Some(obj.clone()),
            },
            at,
            insert: op.insert,
            made: op.obj_type(),
        })
    }
}

struct Validator<'a> {
    doc: &'a Automerge,
    /// The ops of the changes checked so far.
    checked: HashMap<OpId, OpInfo>,
    /// The `max_op` of the changes checked so far.
    checked_max_op: HashMap<ChangeHash, u64>,
    /// Ops of the document, read a whole change at a time.
    doc_ops: &'a mut DocOps,
    /// Object types of the document, as looked up so far.
    doc_objects: HashMap<OpId, Option<ObjType>>,
    /// The document has no changes, so no op of it needs looking up (the messages that
    /// create documents).
    doc_empty: bool,
}

fn exid(id: &OpId) -> ObjId {
    // The index is a hint automerge checks; a wrong one makes it look the actor up.
    ObjId::Id(id.counter(), id.actor().clone(), usize::MAX)
}

fn show(id: &OpId) -> String {
    format!("{}@{}", id.counter(), id.actor())
}

fn show_obj(obj: &Option<OpId>) -> String {
    obj.as_ref()
        .map_or_else(|| "the root".into(), |id| format!("object {}", show(id)))
}

impl<'a> Validator<'a> {
    fn new(doc: &'a Automerge, doc_ops: &'a mut DocOps) -> Self {
        Self {
            doc,
            checked: HashMap::new(),
            checked_max_op: HashMap::new(),
            doc_ops,
            doc_objects: HashMap::new(),
            doc_empty: doc.get_heads().is_empty(),
        }
    }

    /// Whether the document may hold the op `id` (false: it certainly does not).
    fn maybe_in_doc(&self, _id: &OpId) -> bool {
        !self.doc_empty
    }

    fn in_doc(&self, hash: &ChangeHash) -> bool {
        self.doc.get_change_meta_by_hash(hash).is_some()
    }

    fn check_change(&mut self, change: &Change) -> Result<(), String> {
        let mut deps_max_op = 0;
        for dep in change.deps() {
            let max_op = match self.checked_max_op.get(dep) {
                Some(max_op) => *max_op,
                None => self
                    .doc
                    .get_change_meta_by_hash(dep)
                    .map(|meta| meta.max_op)
                    .ok_or_else(|| format!("dependency {dep} is missing"))?,
            };
            deps_max_op = deps_max_op.max(max_op);
        }
        let start_op = change.start_op().get();
        if start_op <= deps_max_op {
            return Err(format!(
                "its first op id ({start_op}) is not above those of its dependencies \
                 ({deps_max_op})"
            ));
        }
        let expanded = catch_unwind(AssertUnwindSafe(|| change.decode()))
            .map_err(|_| "its ops could not be decoded".to_string())?;
        let ExpandedChange {
            operations,
            actor_id,
            ..
        } = expanded;
        for (index, op) in operations.iter().enumerate() {
            let counter = (index as u64)
                .checked_add(start_op)
                .ok_or("its op ids overflow")?;
            let id = OpId::new(counter, &actor_id);
            self.check_op(op, &id)
                .map_err(|reason| format!("op {}: {reason}", show(&id)))?;
        }
        self.checked_max_op
            .insert(change.hash(), change.max_op().max(start_op - 1));
        Ok(())
    }

    fn check_op(&mut self, op: &Op, id: &OpId) -> Result<(), String> {
        if self.checked.contains_key(id)
            || (self.maybe_in_doc(id) && self.doc.hash_for_opid(&exid(id)).is_some())
        {
            return Err("this op id is already taken".into());
        }
        let obj = match &op.obj {
            ObjectId::Root => None,
            ObjectId::Id(obj) => Some(obj.clone()),
        };
        let obj_type = self.object_type(&obj)?;
        let is_mark = matches!(op.action, OpType::MarkBegin(_) | OpType::MarkEnd(_));
        let at = match obj_type {
            ObjType::Map | ObjType::Table => {
                let Key::Map(prop) = &op.key else {
                    return Err(format!(
                        "a list position as the key in {}, a map",
                        show_obj(&obj)
                    ));
                };
                if op.insert {
                    return Err(format!("an insertion into {}, a map", show_obj(&obj)));
                }
                if is_mark {
                    return Err(format!("a mark in {}, a map", show_obj(&obj)));
                }
                At::Prop(prop.to_string())
            }
            ObjType::List | ObjType::Text => {
                let Key::Seq(elem) = &op.key else {
                    return Err(format!("a map key in {}, a list or text", show_obj(&obj)));
                };
                match (elem, op.insert) {
                    (ElementId::Head, true) => At::Elem(id.clone()),
                    (ElementId::Id(elem), true) => {
                        self.check_element(&obj, elem)?;
                        At::Elem(id.clone())
                    }
                    (ElementId::Head, false) => {
                        return Err("an update of the head of a list, which is no element".into());
                    }
                    (ElementId::Id(elem), false) => {
                        self.check_element(&obj, elem)?;
                        At::Elem(elem.clone())
                    }
                }
            }
        };
        if op.insert && !op.pred.is_empty() {
            return Err("an insertion that overwrites ops".into());
        }
        for pred in op.pred.iter() {
            self.check_pred(&obj, &at, pred)?;
        }
        self.checked.insert(
            id.clone(),
            OpInfo {
                obj,
                at,
                insert: op.insert,
                made: op.obj_type(),
            },
        );
        Ok(())
    }

    fn object_type(&mut self, obj: &Option<OpId>) -> Result<ObjType, String> {
        let Some(id) = obj else {
            return Ok(ObjType::Map);
        };
        let (exists, made) = match self.checked.get(id) {
            Some(info) => (true, info.made),
            None if !self.maybe_in_doc(id) => (false, None),
            None => {
                let doc = self.doc;
                let made = *self
                    .doc_objects
                    .entry(id.clone())
                    .or_insert_with(|| doc.object_type(exid(id)).ok());
                (
                    made.is_some() || doc.hash_for_opid(&exid(id)).is_some(),
                    made,
                )
            }
        };
        match (exists, made) {
            (_, Some(obj_type)) => Ok(obj_type),
            (true, None) => Err(format!("{} is not an object", show(id))),
            (false, None) => Err(format!("object {} does not exist", show(id))),
        }
    }

    /// `elem` is an insertion into `obj`.
    fn check_element(&mut self, obj: &Option<OpId>, elem: &OpId) -> Result<(), String> {
        match self.op(elem) {
            Some(info) if info.insert && info.obj == *obj => Ok(()),
            Some(_) => Err(format!(
                "{} is not an element of {}",
                show(elem),
                show_obj(obj)
            )),
            None => Err(format!("element {} does not exist", show(elem))),
        }
    }

    /// `pred` lives at `obj`, `at`.
    fn check_pred(&mut self, obj: &Option<OpId>, at: &At, pred: &OpId) -> Result<(), String> {
        let in_doc = !self.checked.contains_key(pred) && self.maybe_in_doc(pred);
        if let (true, At::Prop(prop)) = (in_doc, at) {
            // The usual case, an overwrite of the key's current value, without reading the
            // change that made it.
            let obj_id = obj.as_ref().map_or(automerge::ROOT, exid);
            let current = self.doc.get_all(obj_id, prop.as_str()).unwrap_or_default();
            let pred_id = exid(pred);
            if current.iter().any(|(_, id)| *id == pred_id) {
                return Ok(());
            }
        }
        match self.op(pred) {
            Some(info) if info.obj == *obj && info.at == *at => Ok(()),
            Some(_) => Err(format!("it overwrites {}, which is elsewhere", show(pred))),
            None => Err(format!(
                "it overwrites {}, which does not exist",
                show(pred)
            )),
        }
    }

    /// Where the op `id` lives, if it exists: among the checked changes, or in the document.
    fn op(&mut self, id: &OpId) -> Option<&OpInfo> {
        if self.checked.contains_key(id) {
            return self.checked.get(id);
        }
        if !self.maybe_in_doc(id) {
            return None;
        }
        if !self.doc_ops.ops.contains_key(id) {
            self.read_doc_change_of(id);
        }
        self.doc_ops.ops.get(id)
    }

    fn read_doc_change_of(&mut self, id: &OpId) {
        let Some(hash) = self.doc.hash_for_opid(&exid(id)) else {
            return;
        };
        if !self.doc_ops.changes_read.insert(hash) {
            return;
        }
        let doc = self.doc;
        let read = catch_unwind(AssertUnwindSafe(|| {
            doc.get_change_by_hash(&hash).map(|change| change.decode())
        }));
        let Ok(Some(expanded)) = read else {
            return;
        };
        let start_op = expanded.start_op.get();
        for (index, op) in expanded.operations.iter().enumerate() {
            let id = OpId::new(start_op + index as u64, &expanded.actor_id);
            if let Some(info) = OpInfo::of(op, &id) {
                self.doc_ops.ops.insert(id, info);
            }
        }
    }
}

#[cfg(test)]
mod change_hashes_tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    #[test]
    fn names_the_changes_of_whole_documents_and_of_increments() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "a", 1).unwrap();
        doc.commit();
        let first = doc.get_heads();
        doc.put(ROOT, "b", 2).unwrap();
        doc.commit();
        let all: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
        assert_eq!(all.len(), 2);
        let mut whole = change_hashes(&doc.save()).unwrap();
        whole.sort();
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(whole, expected);
        assert_eq!(
            change_hashes(&doc.save_after(&first)).unwrap(),
            doc.get_heads()
        );
        assert!(change_hashes(&[]).unwrap().is_empty());
        assert!(change_hashes(b"not automerge").is_err());
    }
}
