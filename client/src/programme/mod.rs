//! The programme's documents on the command line: `passerelle project|mission|journal|actor|
//! call|news …`, `edit`, `conflicts`, `resolve` and `today`, over the typed documents of
//! `passerelle-model`.
//!
//! Every command works on the local replica only; the next `passerelle sync` carries the
//! change. A change is made on a copy of the document loaded from the replica
//! ([`Ctx::load`]: `passerelle_model::open` migrates a schema-1 document on the way), checked
//! whole by the model, and merged back with [`Replica::import_automerge`], which returns only
//! once it is durable. Input is checked before anything is written; an error names the field
//! (`mission.start (--start): …`) and nothing is saved.
//!
//! Who makes an edit ([`Stamp::by`]): `PASSERELLE_USER`, else the name given to
//! `passerelle init --user`, else the operating system's user name.
//!
//! Layout: `project`, `mission`, `journal` (field journals), `directory` (actors, funding
//! calls, news items), `conflicts` (`edit`, `conflicts`, `resolve`), `items` (`move`,
//! `remove` of list items), `erase` (`actor export|erase`); `crate::today` is the `today`
//! view.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::anyhow;
use automerge::AutoCommit;
use clap::Subcommand;
use jiff::civil::Date;
use passerelle_client::{ClientError, Replica};
use passerelle_core::DocumentId;
use passerelle_model::{
    DocType, Document, FieldPath, Localized, ModelError, Money, Register, Stamp, UnknownChoice,
    When,
};

use crate::lang::{Lang, fill, t};

pub(crate) mod conflicts;
pub(crate) mod directory;
pub(crate) mod erase;
pub(crate) mod items;
pub(crate) mod journal;
pub(crate) mod mission;
pub(crate) mod project;

/// The file in the replica directory that holds the user name given to `passerelle init
/// --user`.
const USER_FILE: &str = "user";

/// The programme's commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ProgrammeCommand {
    /// Projects: their logframe, indicators and measurements.
    #[command(subcommand)]
    Project(project::ProjectCommand),
    /// Missions: delegation, agenda, follow-up actions.
    #[command(subcommand)]
    Mission(mission::MissionCommand),
    /// The field journal.
    #[command(subcommand)]
    Journal(journal::JournalCommand),
    /// The directory of local actors (people and organisations).
    #[command(subcommand)]
    Actor(directory::ActorCommand),
    /// Calls for proposals and their deadlines.
    #[command(subcommand)]
    Call(directory::CallCommand),
    /// The news watch.
    #[command(subcommand)]
    News(directory::NewsCommand),
    /// Change one field of a programme document: text (merged with others' typing), a
    /// single value (a status, a date, an amount), or a per-language title, e.g.
    /// `edit DOC status confirmed`, `edit DOC title.ar "…"`, `edit DOC 'actions[ID].due'
    /// 2026-06-01`.
    Edit {
        /// The document id.
        doc: String,
        /// The field, e.g. `status`, `title.fr`, `agenda[ID].notes`.
        field: String,
        /// The new value.
        value: String,
    },
    /// Move a list item (an agenda item, an action, a budget line…) before or after another
    /// item of its list, or first or last. Only its place changes: an edit made inside it
    /// elsewhere meanwhile is kept.
    #[command(group(clap::ArgGroup::new("place").required(true).args(["before", "after", "first", "last"])))]
    Move {
        /// The document id.
        doc: String,
        /// The item's id (as `show` prints it in brackets).
        item: String,
        /// Put it right before this item (its id).
        #[arg(long, value_name = "ITEM")]
        before: Option<String>,
        /// Put it right after this item (its id).
        #[arg(long, value_name = "ITEM")]
        after: Option<String>,
        /// Put it first.
        #[arg(long)]
        first: bool,
        /// Put it last.
        #[arg(long)]
        last: bool,
    },
    /// Remove a list item (an agenda item, an action, a contact, a budget line…) by its id.
    Remove {
        /// The document id.
        doc: String,
        /// The item's id (as `show` prints it in brackets).
        item: String,
    },
    /// List the fields holding concurrent values (set by two people at once), with who set
    /// each and when; of one document, or of all.
    Conflicts {
        /// Only this document.
        doc: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Choose the value of a conflicting field; the choice and what it replaced are
    /// recorded in the document.
    Resolve {
        /// The document id.
        doc: String,
        /// The field, as `passerelle conflicts` names it.
        field: String,
        /// The value to keep (one of the conflicting values, or another).
        value: String,
    },
    /// What needs attention: missions in the coming weeks, calls closing soon, overdue
    /// follow-up actions, conflicts to resolve, changes not yet synced.
    Today {
        /// How many weeks ahead to look for missions.
        #[arg(long, default_value_t = 4, value_name = "WEEKS")]
        weeks: u16,
        /// How many days ahead to look for call deadlines.
        #[arg(long, default_value_t = 14, value_name = "DAYS")]
        days: u16,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a programme command on the replica in `home`.
pub(crate) fn run(command: ProgrammeCommand, home: &Path) -> anyhow::Result<()> {
    match command {
        ProgrammeCommand::Project(command) => project::run(command, home),
        ProgrammeCommand::Mission(command) => mission::run(command, home),
        ProgrammeCommand::Journal(command) => journal::run(command, home),
        ProgrammeCommand::Actor(command) => directory::run_actor(command, home),
        ProgrammeCommand::Call(command) => directory::run_call(command, home),
        ProgrammeCommand::News(command) => directory::run_news(command, home),
        ProgrammeCommand::Edit { doc, field, value } => conflicts::edit(home, &doc, &field, &value),
        ProgrammeCommand::Move {
            doc,
            item,
            before,
            after,
            first,
            last,
        } => {
            let (place, other) = match (before, after, first, last) {
                (Some(other), _, _, _) => (items::Where::Before, Some(other)),
                (_, Some(other), _, _) => (items::Where::After, Some(other)),
                (_, _, true, _) => (items::Where::First, None),
                _ => (items::Where::Last, None),
            };
            items::move_item(home, &doc, &item, place, other.as_deref())
        }
        ProgrammeCommand::Remove { doc, item } => items::remove_item(home, &doc, &item),
        ProgrammeCommand::Conflicts { doc, json } => conflicts::list(home, doc.as_deref(), json),
        ProgrammeCommand::Resolve { doc, field, value } => {
            conflicts::resolve(home, &doc, &field, &value)
        }
        ProgrammeCommand::Today { weeks, days, json } => crate::today::run(home, weeks, days, json),
    }
}

/// Records the user name `passerelle init --user` was given.
pub(crate) fn remember_user(home: &Path, name: &str) -> anyhow::Result<()> {
    let name = check_user(name).ok_or_else(|| {
        anyhow!("--user: `{name}` is not a user name (1 to 100 characters, no control characters)")
    })?;
    std::fs::write(home.join(USER_FILE), format!("{name}\n"))?;
    Ok(())
}

fn check_user(name: &str) -> Option<String> {
    let name = name.trim();
    (!name.is_empty() && name.chars().count() <= 100 && !name.chars().any(char::is_control))
        .then(|| name.to_owned())
}

/// Who edits: `PASSERELLE_USER`, the name given to `init --user`, the OS user, or `unknown`.
pub(crate) fn user_name(home: &Path) -> String {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| check_user(&v));
    env("PASSERELLE_USER")
        .or_else(|| {
            std::fs::read_to_string(home.join(USER_FILE))
                .ok()
                .and_then(|v| check_user(&v))
        })
        .or_else(|| env("USER"))
        .or_else(|| env("USERNAME"))
        .or_else(|| env("LOGNAME"))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A programme document loaded from the replica.
pub(crate) struct Loaded {
    pub(crate) id: DocumentId,
    pub(crate) doc: AutoCommit,
    pub(crate) typed: Document,
}

/// The replica and who works on it.
pub(crate) struct Ctx {
    pub(crate) replica: Replica,
    pub(crate) home: PathBuf,
}

/// `project publish` / `mission publish`: sets the document's `public` register (the public
/// page shows only documents whose `public` is true).
pub(crate) fn publish(
    home: &Path,
    arg: &str,
    what: &str,
    want: DocType,
    public: bool,
) -> anyhow::Result<()> {
    let mut ctx = Ctx::open(home, false)?;
    let mut loaded = ctx.load(arg, what, Some(want))?;
    let stamp = ctx.stamp();
    passerelle_model::set(
        &mut loaded.doc,
        &field_path("public"),
        &serde_json::Value::Bool(public),
        &stamp,
    )
    .map_err(model_error)?;
    ctx.save(loaded.id, &mut loaded.doc)?;
    let key = if public { "published" } else { "unpublished" };
    println!("{}", fill(key, &[&loaded.id]));
    Ok(())
}

impl Ctx {
    /// Opens the replica; `create` for commands that may start a new one.
    pub(crate) fn open(home: &Path, create: bool) -> anyhow::Result<Ctx> {
        if !create && !home.join("store").is_dir() {
            return Err(anyhow!(fill("err_no_replica", &[&home.display()])));
        }
        Ok(Ctx {
            replica: Replica::open(home)?,
            home: home.to_path_buf(),
        })
    }

    /// Who and when, for an edit made now.
    pub(crate) fn stamp(&self) -> Stamp {
        Stamp::new(user_name(&self.home), jiff::Timestamp::now())
    }

    /// The document named by `arg` (an id, or for a project its code), of type `want`.
    pub(crate) fn load(
        &mut self,
        arg: &str,
        field: &str,
        want: Option<DocType>,
    ) -> anyhow::Result<Loaded> {
        let id = match arg.parse::<DocumentId>() {
            Ok(id) => id,
            Err(_) if want == Some(DocType::Project) => project::by_code(self, arg)?
                .ok_or_else(|| anyhow!(fill("err_bad_id", &[&field, &arg])))?,
            Err(_) => return Err(anyhow!(fill("err_bad_id", &[&field, &arg]))),
        };
        let (doc, typed) = match load_document(&mut self.replica, id) {
            Ok(loaded) => loaded,
            Err(ClientError::UnknownDocument(_)) => {
                return Err(anyhow!(fill("err_no_doc", &[&field, &id])));
            }
            Err(error) => return Err(error.into()),
        }
        .map_err(|e| anyhow!(fill("err_not_model", &[&id, &model_text(&e)])))?;
        if let Some(want) = want
            && typed.doc_type() != want
        {
            return Err(anyhow!(fill(
                "err_wrong_type",
                &[&field, &id, &type_name(typed.doc_type()), &type_name(want)]
            )));
        }
        Ok(Loaded { id, doc, typed })
    }

    /// A reference to another document (a partner, a parent organisation, a linked
    /// project), for a person to read: `label (ID)` when this replica holds it, `ID
    /// (erased)` when it was erased for good (an actor's personal data), the id alone when
    /// it has not arrived here; a value that is not a document id (a name) as it is.
    pub(crate) fn reference(&mut self, value: &str) -> String {
        let Ok(id) = value.trim().parse::<DocumentId>() else {
            return value.to_owned();
        };
        if self.replica.is_erased(id).unwrap_or(false) {
            return fill("ref_erased", &[&id]);
        }
        match load_document(&mut self.replica, id) {
            Ok(Ok((_, typed))) => match document_label(&typed) {
                Some(label) => format!("{label} ({id})"),
                None => id.to_string(),
            },
            _ => id.to_string(),
        }
    }

    /// [`Ctx::reference`] of each value, or `-` for none.
    pub(crate) fn references(&mut self, values: &[String]) -> String {
        if values.is_empty() {
            return "-".to_owned();
        }
        let shown: Vec<String> = values.iter().map(|v| self.reference(v)).collect();
        shown.join(", ")
    }

    /// Every readable programme document of type `want` (others are skipped).
    pub(crate) fn all(&mut self, want: Option<DocType>) -> anyhow::Result<Vec<Loaded>> {
        let mut out = Vec::new();
        for summary in self.replica.list()? {
            let Some(doc_type) = summary.doc_type.as_deref() else {
                continue;
            };
            let Ok(doc_type) = doc_type.parse::<DocType>() else {
                continue;
            };
            if want.is_some_and(|w| w != doc_type) {
                continue;
            }
            let id = summary.id.to_string();
            match self.load(&id, "document", Some(doc_type)) {
                Ok(loaded) => out.push(loaded),
                Err(error) => tracing::warn!(document = %id, %error, "skipped"),
            }
        }
        Ok(out)
    }

    /// Saves the edits made to `loaded.doc` (durable when this returns).
    pub(crate) fn save(&mut self, id: DocumentId, doc: &mut AutoCommit) -> anyhow::Result<()> {
        // The change carries its time (advisory; the pages' history shows it).
        doc.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_time(jiff::Timestamp::now().as_second()),
        );
        save_document(&mut self.replica, id, doc)?;
        eprintln!("{}", t("saved"));
        Ok(())
    }

    /// Stores a new document and returns its id (durable when this returns).
    pub(crate) fn create(&mut self, doc: &mut AutoCommit) -> anyhow::Result<DocumentId> {
        let id = DocumentId::random();
        self.save(id, doc)?;
        Ok(id)
    }
}

/// Loads a programme document from the replica, migrated to the current schema in memory
/// (`passerelle_model::open`). The outer error is the replica's, the inner the model's.
#[allow(clippy::type_complexity)]
pub(crate) fn load_document(
    replica: &mut Replica,
    id: DocumentId,
) -> Result<Result<(AutoCommit, Document), ModelError>, ClientError> {
    let bytes = replica.export_automerge(id)?;
    let mut doc = match AutoCommit::load(&bytes) {
        Ok(doc) => doc,
        Err(error) => return Ok(Err(ModelError::Automerge(error))),
    };
    Ok(passerelle_model::open(&mut doc).map(|typed| (doc, typed)))
}

/// Merges `doc` (a programme document, new or loaded with [`load_document`] and edited)
/// into the replica's document `id`, after checking it whole; durable when this returns.
pub(crate) fn save_document(
    replica: &mut Replica,
    id: DocumentId,
    doc: &mut AutoCommit,
) -> anyhow::Result<()> {
    passerelle_model::validate(&*doc).map_err(model_error)?;
    replica.import_automerge(id, &doc.save())?;
    Ok(())
}

/// A short name for a document: an actor's names, a project's code, a title.
pub(crate) fn document_label(typed: &Document) -> Option<String> {
    let label = match typed {
        Document::Actor(a) => a
            .names
            .iter()
            .map(|(_, n)| n)
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
            .join(" / "),
        Document::Project(p) => p.code.clone(),
        Document::Mission(m) => localized(&m.title),
        Document::FundingCall(c) => c.title.clone(),
        Document::NewsItem(n) => n.title.clone(),
        Document::Journal(j) => j.title.clone(),
    };
    let label = one_line(&label, 60);
    (!label.is_empty() && label != "-").then_some(label)
}

/// An amount and its currency (`1250` or `1250.50` or `1250,50`, and `EUR` or `MAD`), not
/// negative.
pub(crate) fn parse_money(field: &str, amount: &str, currency: &str) -> anyhow::Result<Money> {
    let text = format!(
        "{} {}",
        amount.trim().replace(',', "."),
        currency.trim().to_uppercase()
    );
    match text.parse::<Money>() {
        Ok(money) if money.cents >= 0 => Ok(money),
        _ => Err(invalid(
            field,
            &format!("{amount} {currency}"),
            t("exp_money"),
        )),
    }
}

/// A document type's name in the current language.
pub(crate) fn type_name(doc_type: DocType) -> &'static str {
    t(&format!("type_{}", doc_type.name()))
}

/// A model error, said in the current language (what a value should look like stays as the
/// model words it).
pub(crate) fn model_error(error: ModelError) -> anyhow::Error {
    anyhow!(model_text(&error))
}

fn model_text(error: &ModelError) -> String {
    match error {
        ModelError::Invalid { path, expected } => fill("err_field", &[path, expected]),
        ModelError::Missing { path } => fill("err_missing", &[path]),
        ModelError::NoSuchItem { path } => fill("err_no_item", &[path]),
        ModelError::NoSuchField { path } => fill("err_no_field", &[path]),
        ModelError::NoConflict { path } => fill("err_no_conflict", &[path]),
        ModelError::NotAuthor { path, author } => fill("err_not_author", &[path, author]),
        other => other.to_string(),
    }
}

/// An error about the value of `field`.
pub(crate) fn invalid(field: &str, value: &str, expected: &str) -> anyhow::Error {
    let value: String = value.chars().take(60).collect();
    anyhow!(fill("err_invalid", &[&field, &value, &expected]))
}

/// A date `YYYY-MM-DD`.
pub(crate) fn parse_date(field: &str, text: &str) -> anyhow::Result<Date> {
    let text = text.trim();
    if text.len() == 10
        && let Ok(date) = text.parse::<Date>()
    {
        return Ok(date);
    }
    Err(invalid(field, text, t("exp_date")))
}

/// One of a fixed set of words (`-` accepted for `_`).
pub(crate) fn parse_choice<T: FromStr<Err = UnknownChoice>>(
    field: &str,
    text: &str,
) -> anyhow::Result<T> {
    let word = text.trim().to_lowercase().replace('-', "_");
    word.parse::<T>()
        .map_err(|e| invalid(field, text, &fill("exp_one_of", &[&e.expected])))
}

/// A decimal number (`12`, `0.75`).
pub(crate) fn check_number(field: &str, text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (units, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all = |s: &str| !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit());
    if all(units) && all(fraction) {
        Ok(text.to_owned())
    } else {
        Err(invalid(field, text, t("exp_number")))
    }
}

/// A date and time with its zone; without a zone, `zone` is taken.
pub(crate) fn parse_when(field: &str, text: &str, zone: &str) -> anyhow::Result<When> {
    let text = text.trim();
    let full = if text.ends_with(']') {
        text.to_owned()
    } else {
        format!("{}[{zone}]", text.replacen(' ', "T", 1))
    };
    full.parse::<When>()
        .map_err(|_| invalid(field, text, t("exp_when")))
}

/// A required piece of text.
pub(crate) fn non_empty(field: &str, text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(anyhow!(fill("err_empty", &[&field])));
    }
    Ok(text.to_owned())
}

/// `(language, text)` pairs from a `--title`, `--title-ar`, `--title-en` trio; the first is
/// French.
pub(crate) fn titles(
    fr: Option<&str>,
    ar: Option<&str>,
    en: Option<&str>,
) -> Vec<(String, String)> {
    [("fr", fr), ("ar", ar), ("en", en)]
        .into_iter()
        .filter_map(|(lang, text)| {
            text.filter(|t| !t.trim().is_empty())
                .map(|t| (lang.to_owned(), t.trim().to_owned()))
        })
        .collect()
}

/// Per-language text in the current language's order of preference.
pub(crate) fn localized(text: &Localized) -> String {
    text.preferred(&Lang::current().preference())
        .unwrap_or("-")
        .to_owned()
}

/// A register's shown value, with a mark when it holds concurrent values.
pub(crate) fn shown<T: PartialEq + std::fmt::Display>(register: &Option<Register<T>>) -> String {
    match register {
        None => "-".to_owned(),
        Some(r) if r.is_conflicted() => {
            let values: Vec<String> = r
                .assignments()
                .iter()
                .map(|a| a.value.to_string())
                .collect();
            format!("{} ⚠ {}", r.value(), values.join(" | "))
        }
        Some(r) => r.value().to_string(),
    }
}

/// A register's value as JSON (`null` when unset).
pub(crate) fn register_json<T: PartialEq + std::fmt::Display>(
    register: &Option<Register<T>>,
) -> serde_json::Value {
    register
        .as_ref()
        .map_or(serde_json::Value::Null, |r| r.value().to_string().into())
}

/// A user-facing text shortened to one line of at most `max` characters.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > max {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

/// The id of the list item named by `arg` among `(id, label)` pairs: its id, or a unique
/// label.
pub(crate) fn pick_item<'a>(
    field: &str,
    arg: &str,
    items: impl Iterator<Item = (&'a passerelle_model::ItemId, &'a str)>,
) -> anyhow::Result<passerelle_model::ItemId> {
    let items: Vec<_> = items.collect();
    if let Some((id, _)) = items.iter().find(|(id, _)| id.as_str() == arg) {
        return Ok((*id).clone());
    }
    let named: Vec<_> = items
        .iter()
        .filter(|(_, label)| label.trim().eq_ignore_ascii_case(arg.trim()))
        .collect();
    match named.as_slice() {
        [(id, _)] => Ok((*id).clone()),
        [] => Err(anyhow!(fill("err_no_item", &[&format!("{field} {arg}")]))),
        several => {
            let ids: Vec<&str> = several.iter().map(|(id, _)| id.as_str()).collect();
            Err(anyhow!(fill(
                "err_ambiguous",
                &[&field, &arg, &ids.join(", ")]
            )))
        }
    }
}

/// A field path written in the code (a literal, so always valid).
pub(crate) fn field_path(text: &str) -> FieldPath {
    text.parse().expect("a valid field path")
}

/// Applies the options of a `… new` or `… edit` command to a document, one model write per
/// option given, and remembers whether any was.
pub(crate) struct FieldEdits<'a> {
    doc: &'a mut AutoCommit,
    stamp: &'a Stamp,
    /// The document type's name in error messages (`project`, `mission`).
    kind: &'static str,
    /// Whether any option was applied.
    pub(crate) changed: bool,
}

impl<'a> FieldEdits<'a> {
    pub(crate) fn new(doc: &'a mut AutoCommit, stamp: &'a Stamp, kind: &'static str) -> Self {
        Self {
            doc,
            stamp,
            kind,
            changed: false,
        }
    }

    /// Sets `field` to the text `value`.
    pub(crate) fn set(&mut self, field: &str, value: &str) -> anyhow::Result<()> {
        passerelle_model::set(
            self.doc,
            &field_path(field),
            &serde_json::json!(value),
            self.stamp,
        )
        .map_err(model_error)?;
        self.changed = true;
        Ok(())
    }

    /// Sets `field` when the option was given.
    pub(crate) fn set_given(&mut self, field: &str, value: &Option<String>) -> anyhow::Result<()> {
        match value {
            Some(value) => self.set(field, value),
            None => Ok(()),
        }
    }

    /// The French, Arabic and English titles given.
    pub(crate) fn titles(&mut self, [fr, ar, en]: [&Option<String>; 3]) -> anyhow::Result<()> {
        for (lang, title) in [("fr", fr), ("ar", ar), ("en", en)] {
            self.set_given(&format!("title.{lang}"), title)?;
        }
        Ok(())
    }

    /// The status given, one of `T`'s words (`word` names it as stored).
    pub(crate) fn status<T>(
        &mut self,
        status: &Option<String>,
        word: fn(T) -> &'static str,
    ) -> anyhow::Result<()>
    where
        T: FromStr<Err = UnknownChoice>,
    {
        if let Some(status) = status {
            let field = format!("{}.status (--status)", self.kind);
            let status = parse_choice::<T>(&field, status)?;
            self.set("status", word(status))?;
        }
        Ok(())
    }

    /// The start and end dates given, `YYYY-MM-DD`.
    pub(crate) fn dates(
        &mut self,
        start: &Option<String>,
        end: &Option<String>,
    ) -> anyhow::Result<()> {
        for (name, value) in [("start", start), ("end", end)] {
            if let Some(value) = value {
                let date = parse_date(&format!("{}.{name} (--{name})", self.kind), value)?;
                self.set(name, &date.to_string())?;
            }
        }
        Ok(())
    }

    /// Adds (or removes) `member` to (from) the set `field`.
    pub(crate) fn member(&mut self, field: &str, member: &str, add: bool) -> anyhow::Result<()> {
        let path = field_path(field);
        let member = member.trim();
        if add {
            passerelle_model::add_member(self.doc, &path, member, self.stamp)
        } else {
            passerelle_model::remove_member(self.doc, &path, member, self.stamp)
        }
        .map_err(model_error)?;
        self.changed = true;
        Ok(())
    }
}
