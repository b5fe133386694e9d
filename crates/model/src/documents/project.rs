//! The project document: logframe, indicators, measurements, budget, co-financing, expenses.

use std::collections::BTreeMap;

use automerge::AutoCommit;
use automerge::transaction::Transactable;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::{TypedDocument, path};
use crate::choices::{CofinancingStatus, Level, ProjectStatus};
use crate::error::ModelError;
use crate::item_id::ItemId;
use crate::money::{Currency, Money};
use crate::register::{Localized, Quantity, Register};
use crate::schema::DocType;
use crate::stamp::Stamp;
use crate::write::{Place, create, insert};

/// A cooperation project.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Project {
    /// Short code, e.g. `PAED-OUJDA`.
    pub code: String,
    /// Title per language.
    pub title: Localized,
    pub status: Option<Register<ProjectStatus>>,
    pub start: Option<Register<Date>>,
    pub end: Option<Register<Date>>,
    /// Lead actors (actor document ids or names).
    pub lead: Vec<String>,
    pub partners: Vec<String>,
    pub theme: Option<Register<String>>,
    pub context: String,
    pub objectives: Vec<Objective>,
    pub logframe: Vec<LogframeResult>,
    pub measurements: Vec<Measurement>,
    pub budget: Vec<BudgetLine>,
    pub expenses: Vec<Expense>,
    pub lessons: String,
    /// Published on the public page (see [`Project::is_public`]).
    pub public: Option<Register<bool>>,
}

impl TypedDocument for Project {
    const DOC_TYPE: DocType = DocType::Project;
}

impl Project {
    /// Whether the project is published: `public` is true, and every concurrent value of it
    /// too (a publish concurrent with a withdrawal is not a publication).
    pub fn is_public(&self) -> bool {
        crate::register::all_true(self.public.as_ref())
    }
}

/// An objective.
#[derive(Debug, Clone, Deserialize)]
pub struct Objective {
    pub id: ItemId,
    #[serde(default)]
    pub text: String,
}

/// A result of the logframe, at one level, with its indicators.
#[derive(Debug, Clone, Deserialize)]
pub struct LogframeResult {
    pub id: ItemId,
    pub level: Level,
    #[serde(default)]
    pub statement: String,
    #[serde(default)]
    pub indicators: Vec<Indicator>,
}

/// An indicator: baseline and target are registers (a changed target is a decision).
#[derive(Debug, Clone, Deserialize)]
pub struct Indicator {
    pub id: ItemId,
    pub name: String,
    pub unit: Option<String>,
    pub baseline: Option<Register<Quantity>>,
    pub target: Option<Register<Quantity>>,
    /// Source of verification.
    pub source: Option<String>,
}

/// A value of an indicator for a period (append-only).
#[derive(Debug, Clone, Deserialize)]
pub struct Measurement {
    pub id: ItemId,
    pub indicator: ItemId,
    pub period: String,
    pub value: Quantity,
    pub source: Option<String>,
    pub by: String,
    pub at: Timestamp,
}

/// A budget line and its co-financing.
#[derive(Debug, Clone, Deserialize)]
pub struct BudgetLine {
    pub id: ItemId,
    pub heading: String,
    pub label: Option<String>,
    pub planned: Option<Register<Money>>,
    #[serde(default)]
    pub cofinancing: Vec<Cofinancing>,
}

/// A funder's share of a budget line.
#[derive(Debug, Clone, Deserialize)]
pub struct Cofinancing {
    pub id: ItemId,
    pub funder: String,
    pub amount: Option<Register<Money>>,
    pub status: Option<Register<CofinancingStatus>>,
}

/// Money spent on a budget line (append-only).
#[derive(Debug, Clone, Deserialize)]
pub struct Expense {
    pub id: ItemId,
    pub line: ItemId,
    pub date: Date,
    pub amount: Money,
    pub payee: Option<String>,
    pub by: String,
    pub at: Timestamp,
}

impl Project {
    /// The indicator with this id, wherever it is in the logframe.
    pub fn indicator(&self, id: &ItemId) -> Option<&Indicator> {
        self.logframe
            .iter()
            .flat_map(|r| &r.indicators)
            .find(|i| &i.id == id)
    }

    /// The measurements of an indicator, oldest first.
    pub fn measurements_of<'a>(
        &'a self,
        indicator: &'a ItemId,
    ) -> impl Iterator<Item = &'a Measurement> {
        self.measurements
            .iter()
            .filter(move |m| &m.indicator == indicator)
    }

    /// Planned amounts per currency (never summed across currencies).
    pub fn planned_by_currency(&self) -> BTreeMap<Currency, Money> {
        Money::totals(
            self.budget
                .iter()
                .filter_map(|l| l.planned.as_ref().map(|p| *p.value())),
        )
    }

    /// Spent amounts per currency.
    pub fn spent_by_currency(&self) -> BTreeMap<Currency, Money> {
        Money::totals(self.expenses.iter().map(|e| e.amount))
    }
}

/// What a new project starts with.
#[derive(Debug, Clone)]
pub struct NewProject {
    pub code: String,
    /// `(language, title)` pairs: `fr`, `ar`, `en`.
    pub title: Vec<(String, String)>,
    pub status: ProjectStatus,
}

impl NewProject {
    /// A project `code` with a French title, status `idea`.
    pub fn new(code: impl Into<String>, title_fr: impl Into<String>) -> Self {
        NewProject {
            code: code.into(),
            title: vec![("fr".into(), title_fr.into())],
            status: ProjectStatus::Idea,
        }
    }
}

/// Makes a new project document.
pub fn new_project(new: &NewProject, stamp: &Stamp) -> Result<AutoCommit, ModelError> {
    let title: serde_json::Map<String, Json> = new
        .title
        .iter()
        .map(|(l, t)| (l.clone(), json!(t)))
        .collect();
    create(
        DocType::Project,
        &json!({"code": new.code, "title": title, "status": new.status.as_str()}),
        stamp,
    )
}

/// Adds a logframe result at `level`; returns its id.
pub fn add_result<D: Transactable>(
    doc: &mut D,
    level: Level,
    statement: &str,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    insert(
        doc,
        &path("logframe"),
        Place::End,
        &json!({"level": level.as_str(), "statement": statement}),
        stamp,
    )
}

/// What a new indicator says.
#[derive(Debug, Clone, Default)]
pub struct NewIndicator {
    pub name: String,
    pub unit: Option<String>,
    pub baseline: Option<String>,
    pub target: Option<String>,
    pub source: Option<String>,
}

/// Adds an indicator to the logframe result `result`; returns its id.
pub fn add_indicator<D: Transactable>(
    doc: &mut D,
    result: &ItemId,
    new: &NewIndicator,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let item = json!({
        "name": new.name, "unit": new.unit, "baseline": new.baseline, "target": new.target, "source": new.source,
    });
    insert(
        doc,
        &path("logframe").item(result).field("indicators"),
        Place::End,
        &item,
        stamp,
    )
}

/// Records a value of `indicator` for `period` (`2026-Q3`); returns the measurement's id.
pub fn add_measurement<D: Transactable>(
    doc: &mut D,
    indicator: &ItemId,
    period: &str,
    value: &str,
    source: Option<&str>,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let project = Project::read(&*doc)?;
    if project.indicator(indicator).is_none() {
        return Err(ModelError::NoSuchItem {
            path: format!("project.measurements: indicator {indicator}"),
        });
    }
    let item = json!({
        "indicator": indicator.as_str(), "period": period, "value": value, "source": source,
        "by": stamp.by, "at": stamp.at.to_string(),
    });
    insert(doc, &path("measurements"), Place::End, &item, stamp)
}

/// Adds a budget line; returns its id.
pub fn add_budget_line<D: Transactable>(
    doc: &mut D,
    heading: &str,
    label: Option<&str>,
    planned: Option<Money>,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let item =
        json!({"heading": heading, "label": label, "planned": planned.map(|m| m.to_string())});
    insert(doc, &path("budget"), Place::End, &item, stamp)
}

/// Adds a funder's share to budget line `line`; returns its id.
pub fn add_cofinancing<D: Transactable>(
    doc: &mut D,
    line: &ItemId,
    funder: &str,
    amount: Money,
    status: CofinancingStatus,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let item = json!({"funder": funder, "amount": amount.to_string(), "status": status.as_str()});
    insert(
        doc,
        &path("budget").item(line).field("cofinancing"),
        Place::End,
        &item,
        stamp,
    )
}

/// Records an expense on budget line `line`; returns its id.
pub fn add_expense<D: Transactable>(
    doc: &mut D,
    line: &ItemId,
    date: Date,
    amount: Money,
    payee: Option<&str>,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let project = Project::read(&*doc)?;
    if !project.budget.iter().any(|l| &l.id == line) {
        return Err(ModelError::NoSuchItem {
            path: format!("project.expenses: budget line {line}"),
        });
    }
    let item = json!({
        "line": line.as_str(), "date": date.to_string(), "amount": amount.to_string(), "payee": payee,
        "by": stamp.by, "at": stamp.at.to_string(),
    });
    insert(doc, &path("expenses"), Place::End, &item, stamp)
}
