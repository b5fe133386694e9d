//! `passerelle project new|list|show|edit`, `project result add`, `project indicator add`,
//! `project measure`, `project budget add`, `project cofinancing add`, `project expense add`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::anyhow;
use automerge::AutoCommit;
use clap::Subcommand;
use passerelle_core::DocumentId;
use passerelle_model::{
    CofinancingStatus, Currency, DocType, Document, ItemId, Level, Money, Project, ProjectStatus,
    Stamp, project,
};
use serde_json::{Value as Json, json};

use super::{
    Ctx, FieldEdits, check_number, conflicts::conflict_lines, field_path, fill, localized,
    model_error, non_empty, parse_choice, parse_date, parse_money, pick_item, register_json, shown,
    titles,
};
use crate::lang::t;

/// `passerelle project …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ProjectCommand {
    /// Create a project; prints its id as the last line.
    New {
        /// Its short code, e.g. PAED-OUJDA (letters, digits, `-`, `_`, `.`, `:`).
        #[arg(long)]
        code: String,
        /// The French title.
        #[arg(long)]
        title: String,
        /// The Arabic title.
        #[arg(long, value_name = "TITLE")]
        title_ar: Option<String>,
        /// The English title.
        #[arg(long, value_name = "TITLE")]
        title_en: Option<String>,
        /// idea, applying, approved, ongoing, closed or suspended [default: idea].
        #[arg(long)]
        status: Option<String>,
        /// The start date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        start: Option<String>,
        /// The end date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        end: Option<String>,
        /// The theme, e.g. "sustainable development".
        #[arg(long)]
        theme: Option<String>,
        /// A partner (actor document id or short name); repeat for several.
        #[arg(long, value_name = "ACTOR")]
        partner: Vec<String>,
        /// A lead actor; repeat for several.
        #[arg(long, value_name = "ACTOR")]
        lead: Vec<String>,
    },
    /// List the projects: id, code, status, title.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a project (by id or code).
    Show {
        /// The project's id or code.
        project: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a project's fields.
    Edit {
        /// The project's id or code.
        project: String,
        #[command(flatten)]
        fields: ProjectFields,
    },
    /// Publish a project on the public page (title, status, dates, context, objectives,
    /// partners' names; never budgets or contacts), or withdraw it with --undo.
    Publish {
        /// The project's id or code.
        project: String,
        /// Withdraw it from the public page.
        #[arg(long)]
        undo: bool,
    },
    /// The logframe's results.
    #[command(subcommand)]
    Result(ResultCommand),
    /// Indicators of the logframe.
    #[command(subcommand)]
    Indicator(IndicatorCommand),
    /// Budget lines: what is planned, by heading.
    #[command(subcommand)]
    Budget(BudgetCommand),
    /// Co-financing: a funder's share of a budget line.
    #[command(subcommand)]
    Cofinancing(CofinancingCommand),
    /// Expenses: money spent on a budget line.
    #[command(subcommand)]
    Expense(ExpenseCommand),
    /// Record an indicator's value for a period; prints the measurement's id.
    Measure {
        /// The project's id or code.
        project: String,
        /// The indicator: its id or its name.
        indicator: String,
        /// The period, e.g. 2026-Q3, 2026-S1, 2026-05 or 2026.
        #[arg(long)]
        period: String,
        /// The value, e.g. 12 or 0.75.
        #[arg(long)]
        value: String,
        /// Where the value comes from.
        #[arg(long)]
        source: Option<String>,
    },
}

/// What `project edit` may change.
#[derive(Debug, clap::Args)]
pub(crate) struct ProjectFields {
    /// The French title.
    #[arg(long)]
    title: Option<String>,
    /// The Arabic title.
    #[arg(long, value_name = "TITLE")]
    title_ar: Option<String>,
    /// The English title.
    #[arg(long, value_name = "TITLE")]
    title_en: Option<String>,
    /// idea, applying, approved, ongoing, closed or suspended.
    #[arg(long)]
    status: Option<String>,
    /// The start date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    start: Option<String>,
    /// The end date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    end: Option<String>,
    /// The theme.
    #[arg(long)]
    theme: Option<String>,
    /// The context (text; others' concurrent typing is kept).
    #[arg(long)]
    context: Option<String>,
    /// Lessons learned (text).
    #[arg(long)]
    lessons: Option<String>,
    /// Add a partner; repeat for several.
    #[arg(long, value_name = "ACTOR")]
    add_partner: Vec<String>,
    /// Remove a partner.
    #[arg(long, value_name = "ACTOR")]
    remove_partner: Vec<String>,
}

/// `passerelle project result …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ResultCommand {
    /// Add a result to the logframe; prints its id.
    Add {
        /// The project's id or code.
        project: String,
        /// What the result says.
        statement: String,
        /// impact, outcome, output or activity.
        #[arg(long, default_value = "outcome")]
        level: String,
    },
}

/// `passerelle project indicator …`.
#[derive(Debug, Subcommand)]
pub(crate) enum IndicatorCommand {
    /// Add an indicator to a result of the logframe; prints its id.
    Add {
        /// The project's id or code.
        project: String,
        /// The indicator's name.
        name: String,
        /// The result it measures (its id); needed when the logframe has several. With
        /// none, an `outcome` result is made for it.
        #[arg(long, value_name = "RESULT")]
        result: Option<String>,
        /// The unit, e.g. "households".
        #[arg(long)]
        unit: Option<String>,
        /// The baseline value.
        #[arg(long, value_name = "NUMBER")]
        baseline: Option<String>,
        /// The target value.
        #[arg(long, value_name = "NUMBER")]
        target: Option<String>,
        /// The source of verification.
        #[arg(long)]
        source: Option<String>,
    },
}

/// `passerelle project budget …`.
#[derive(Debug, Subcommand)]
pub(crate) enum BudgetCommand {
    /// Add a budget line with its planned amount; prints its id.
    Add {
        /// The project's id or code.
        project: String,
        /// The heading, e.g. "Personnel", "Missions", "Équipement".
        heading: String,
        /// The planned amount, e.g. 12000 or 12000.50.
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// EUR or MAD.
        currency: String,
        /// A label that says more than the heading.
        #[arg(long)]
        label: Option<String>,
    },
}

/// `passerelle project cofinancing …`.
#[derive(Debug, Subcommand)]
pub(crate) enum CofinancingCommand {
    /// Add a funder's share of a budget line; prints its id.
    Add {
        /// The project's id or code.
        project: String,
        /// Who funds it, e.g. AFD, "Région Hauts-de-France".
        funder: String,
        /// The amount, e.g. 5000.
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// EUR or MAD.
        currency: String,
        /// The budget line: its id or its heading; needed when the budget has several.
        #[arg(long, value_name = "LINE")]
        line: Option<String>,
        /// requested, granted or received [default: requested].
        #[arg(long)]
        status: Option<String>,
    },
}

/// `passerelle project expense …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ExpenseCommand {
    /// Record money spent on a budget line; prints the expense's id.
    Add {
        /// The project's id or code.
        project: String,
        /// The amount, e.g. 350.20.
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// EUR or MAD.
        currency: String,
        /// The budget line: its id or its heading; needed when the budget has several.
        #[arg(long, value_name = "LINE")]
        line: Option<String>,
        /// The date of the expense, YYYY-MM-DD [default: today].
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// Who was paid.
        #[arg(long)]
        payee: Option<String>,
    },
}

/// The budget line named by `--line`, or the only one.
fn pick_line(p: &Project, line: Option<&str>, field: &str) -> anyhow::Result<ItemId> {
    match (line, p.budget.as_slice()) {
        (Some(arg), lines) => pick_item(
            field,
            arg,
            lines.iter().map(|l| (&l.id, l.heading.as_str())),
        ),
        (None, [only]) => Ok(only.id.clone()),
        (None, []) => Err(anyhow!(fill("err_no_budget", &[&field]))),
        (None, several) => {
            let ids: Vec<String> = several
                .iter()
                .map(|l| format!("{} {}", l.id, l.heading))
                .collect();
            Err(anyhow!(fill(
                "err_several_lines",
                &[&field, &ids.join(", ")]
            )))
        }
    }
}

fn run_budget(command: BudgetCommand, home: &Path) -> anyhow::Result<()> {
    let BudgetCommand::Add {
        project,
        heading,
        amount,
        currency,
        label,
    } = command;
    let heading = non_empty("project.budget.heading (HEADING)", &heading)?;
    let planned = parse_money(
        "project.budget.planned (AMOUNT CURRENCY)",
        &amount,
        &currency,
    )?;
    let mut ctx = Ctx::open(home, false)?;
    let mut loaded = ctx.load(&project, "project", Some(DocType::Project))?;
    let stamp = ctx.stamp();
    let label = label.as_deref().map(str::trim).filter(|l| !l.is_empty());
    let id = project::add_budget_line(&mut loaded.doc, &heading, label, Some(planned), &stamp)
        .map_err(model_error)?;
    ctx.save(loaded.id, &mut loaded.doc)?;
    println!(
        "{}",
        fill(
            "added",
            &[&"project.budget", &format!("{heading}: {planned}")]
        )
    );
    println!("{id}");
    Ok(())
}

fn run_cofinancing(command: CofinancingCommand, home: &Path) -> anyhow::Result<()> {
    let CofinancingCommand::Add {
        project,
        funder,
        amount,
        currency,
        line,
        status,
    } = command;
    let funder = non_empty("project.budget.cofinancing.funder (FUNDER)", &funder)?;
    let amount = parse_money(
        "project.budget.cofinancing.amount (AMOUNT CURRENCY)",
        &amount,
        &currency,
    )?;
    let status = match &status {
        Some(s) => {
            parse_choice::<CofinancingStatus>("project.budget.cofinancing.status (--status)", s)?
        }
        None => CofinancingStatus::Requested,
    };
    let mut ctx = Ctx::open(home, false)?;
    let mut loaded = ctx.load(&project, "project", Some(DocType::Project))?;
    let Document::Project(p) = &loaded.typed else {
        unreachable!("load checks the type")
    };
    let line = pick_line(p, line.as_deref(), "project.budget (--line)")?;
    let stamp = ctx.stamp();
    let id = project::add_cofinancing(&mut loaded.doc, &line, &funder, amount, status, &stamp)
        .map_err(model_error)?;
    ctx.save(loaded.id, &mut loaded.doc)?;
    println!(
        "{}",
        fill(
            "added",
            &[
                &"project.budget.cofinancing",
                &format!("{funder}: {amount}")
            ]
        )
    );
    println!("{id}");
    Ok(())
}

fn run_expense(command: ExpenseCommand, home: &Path) -> anyhow::Result<()> {
    let ExpenseCommand::Add {
        project,
        amount,
        currency,
        line,
        date,
        payee,
    } = command;
    let amount = parse_money(
        "project.expenses.amount (AMOUNT CURRENCY)",
        &amount,
        &currency,
    )?;
    let date = match &date {
        Some(d) => parse_date("project.expenses.date (--date)", d)?,
        None => super::directory::today(),
    };
    let mut ctx = Ctx::open(home, false)?;
    let mut loaded = ctx.load(&project, "project", Some(DocType::Project))?;
    let Document::Project(p) = &loaded.typed else {
        unreachable!("load checks the type")
    };
    let line = pick_line(p, line.as_deref(), "project.expenses.line (--line)")?;
    let stamp = ctx.stamp();
    let payee = payee.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let id = project::add_expense(&mut loaded.doc, &line, date, amount, payee, &stamp)
        .map_err(model_error)?;
    ctx.save(loaded.id, &mut loaded.doc)?;
    println!(
        "{}",
        fill(
            "added",
            &[&"project.expenses", &format!("{date}: {amount}")]
        )
    );
    println!("{id}");
    Ok(())
}

pub(crate) fn run(command: ProjectCommand, home: &Path) -> anyhow::Result<()> {
    match command {
        ProjectCommand::Budget(command) => return run_budget(command, home),
        ProjectCommand::Cofinancing(command) => return run_cofinancing(command, home),
        ProjectCommand::Expense(command) => return run_expense(command, home),
        ProjectCommand::New {
            code,
            title,
            title_ar,
            title_en,
            status,
            start,
            end,
            theme,
            partner,
            lead,
        } => {
            let status = match &status {
                Some(s) => parse_choice::<ProjectStatus>("project.status (--status)", s)?,
                None => ProjectStatus::Idea,
            };
            let title = non_empty("project.title (--title)", &title)?;
            let new = project::NewProject {
                code: code.trim().to_owned(),
                title: titles(Some(&title), title_ar.as_deref(), title_en.as_deref()),
                status,
            };
            let mut ctx = Ctx::open(home, true)?;
            if ctx_has_code(&mut ctx, &new.code)? {
                return Err(super::invalid(
                    "project.code (--code)",
                    &new.code,
                    "a code no other project of this replica has",
                ));
            }
            let stamp = ctx.stamp();
            let mut doc = project::new_project(&new, &stamp).map_err(model_error)?;
            let fields = ProjectFields {
                title: None,
                title_ar: None,
                title_en: None,
                status: None,
                start,
                end,
                theme,
                context: None,
                lessons: None,
                add_partner: partner,
                remove_partner: Vec::new(),
            };
            apply_fields(&mut doc, &fields, &stamp)?;
            for actor in &lead {
                passerelle_model::add_member(&mut doc, &field_path("lead"), actor, &stamp)
                    .map_err(model_error)?;
            }
            let id = ctx.create(&mut doc)?;
            println!("{}", fill("created", &[&t("type_project"), &new.code]));
            println!("{id}");
        }
        ProjectCommand::List { json } => {
            let mut ctx = Ctx::open(home, false)?;
            let mut rows = Vec::new();
            for loaded in ctx.all(Some(DocType::Project))? {
                if let Document::Project(p) = loaded.typed {
                    rows.push((loaded.id, *p));
                }
            }
            rows.sort_by(|a, b| a.1.code.cmp(&b.1.code));
            if json {
                let list: Vec<Json> = rows.iter().map(|(id, p)| summary_json(*id, p)).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if rows.is_empty() {
                println!("{}", t("list_empty"));
            } else {
                for (id, p) in &rows {
                    println!(
                        "{id}  {}  {}  {}",
                        p.code,
                        shown(&p.status),
                        localized(&p.title)
                    );
                }
            }
        }
        ProjectCommand::Show { project, json } => {
            let mut ctx = Ctx::open(home, false)?;
            let loaded = ctx.load(&project, "project", Some(DocType::Project))?;
            let Document::Project(p) = &loaded.typed else {
                unreachable!("load checks the type")
            };
            if json {
                let mut out = summary_json(loaded.id, p);
                out["context"] = p.context.clone().into();
                out["partners"] = json!(p.partners);
                out["lead"] = json!(p.lead);
                out["theme"] = register_json(&p.theme);
                out["logframe"] = p
                    .logframe
                    .iter()
                    .map(|r| {
                        json!({
                            "id": r.id.as_str(), "level": r.level.as_str(), "statement": r.statement,
                            "indicators": r.indicators.iter().map(|i| json!({
                                "id": i.id.as_str(), "name": i.name, "unit": i.unit,
                                "baseline": i.baseline.as_ref().map(|b| b.value().as_str().to_owned()),
                                "target": i.target.as_ref().map(|b| b.value().as_str().to_owned()),
                                "measurements": p.measurements_of(&i.id).map(|m| json!({
                                    "period": m.period, "value": m.value.as_str(), "by": m.by,
                                })).collect::<Vec<_>>(),
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                out["budget"] = budget_json(p);
                out["expenses"] = expenses_json(p);
                out["conflicts"] = serde_json::to_value(
                    passerelle_model::conflicts(&loaded.doc).map_err(model_error)?,
                )?;
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", show_text(&mut ctx, loaded.id, p, &loaded.doc)?);
            }
        }
        ProjectCommand::Edit { project, fields } => {
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&project, "project", Some(DocType::Project))?;
            let stamp = ctx.stamp();
            if !apply_fields(&mut loaded.doc, &fields, &stamp)? {
                return Err(anyhow!(t("nothing_to_change")));
            }
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("updated", &[&loaded.id]));
        }
        ProjectCommand::Publish { project, undo } => {
            super::publish(home, &project, "project", DocType::Project, !undo)?;
        }
        ProjectCommand::Result(ResultCommand::Add {
            project,
            statement,
            level,
        }) => {
            let level = parse_choice::<Level>("project.logframe.level (--level)", &level)?;
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&project, "project", Some(DocType::Project))?;
            let stamp = ctx.stamp();
            let id = project::add_result(&mut loaded.doc, level, &statement, &stamp)
                .map_err(model_error)?;
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("added", &[&"project.logframe", &statement]));
            println!("{id}");
        }
        ProjectCommand::Indicator(IndicatorCommand::Add {
            project,
            name,
            result,
            unit,
            baseline,
            target,
            source,
        }) => {
            let name = non_empty("project.logframe.indicators.name", &name)?;
            let baseline = baseline
                .map(|b| check_number("indicator.baseline (--baseline)", &b))
                .transpose()?;
            let target = target
                .map(|b| check_number("indicator.target (--target)", &b))
                .transpose()?;
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&project, "project", Some(DocType::Project))?;
            let Document::Project(p) = &loaded.typed else {
                unreachable!("load checks the type")
            };
            let stamp = ctx.stamp();
            let result = match (result, p.logframe.as_slice()) {
                (Some(arg), results) => pick_item(
                    "--result",
                    &arg,
                    results.iter().map(|r| (&r.id, r.statement.as_str())),
                )?,
                (None, [only]) => only.id.clone(),
                (None, []) => project::add_result(&mut loaded.doc, Level::Outcome, "", &stamp)
                    .map_err(model_error)?,
                (None, several) => {
                    let ids: Vec<&str> = several.iter().map(|r| r.id.as_str()).collect();
                    return Err(anyhow!(fill("err_several_results", &[&ids.join(", ")])));
                }
            };
            let new = project::NewIndicator {
                name: name.clone(),
                unit,
                baseline,
                target,
                source,
            };
            let id = project::add_indicator(&mut loaded.doc, &result, &new, &stamp)
                .map_err(model_error)?;
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!("{}", fill("added", &[&"project.logframe", &name]));
            println!("{id}");
        }
        ProjectCommand::Measure {
            project,
            indicator,
            period,
            value,
            source,
        } => {
            let value = check_number("project.measurements.value (--value)", &value)?;
            let mut ctx = Ctx::open(home, false)?;
            let mut loaded = ctx.load(&project, "project", Some(DocType::Project))?;
            let Document::Project(p) = &loaded.typed else {
                unreachable!("load checks the type")
            };
            let indicator = pick_item(
                "project.measurements.indicator",
                &indicator,
                p.logframe
                    .iter()
                    .flat_map(|r| &r.indicators)
                    .map(|i| (&i.id, i.name.as_str())),
            )?;
            let stamp = ctx.stamp();
            let id = project::add_measurement(
                &mut loaded.doc,
                &indicator,
                period.trim(),
                &value,
                source.as_deref(),
                &stamp,
            )
            .map_err(model_error)?;
            ctx.save(loaded.id, &mut loaded.doc)?;
            println!(
                "{}",
                fill(
                    "added",
                    &[&"project.measurements", &format!("{period} = {value}")]
                )
            );
            println!("{id}");
        }
    }
    Ok(())
}

/// Applies the options given; `false` when none was.
fn apply_fields(
    doc: &mut AutoCommit,
    fields: &ProjectFields,
    stamp: &Stamp,
) -> anyhow::Result<bool> {
    let mut edits = FieldEdits::new(doc, stamp, "project");
    edits.titles([&fields.title, &fields.title_ar, &fields.title_en])?;
    edits.status(&fields.status, ProjectStatus::as_str)?;
    edits.dates(&fields.start, &fields.end)?;
    edits.set_given("theme", &fields.theme)?;
    edits.set_given("context", &fields.context)?;
    edits.set_given("lessons", &fields.lessons)?;
    for partner in &fields.add_partner {
        edits.member("partners", partner, true)?;
    }
    for partner in &fields.remove_partner {
        edits.member("partners", partner, false)?;
    }
    Ok(edits.changed)
}

/// The project whose code is `code`, if one is in the replica.
pub(crate) fn by_code(ctx: &mut Ctx, code: &str) -> anyhow::Result<Option<DocumentId>> {
    Ok(ctx
        .all(Some(DocType::Project))?
        .into_iter()
        .find(|l| matches!(&l.typed, Document::Project(p) if p.code.eq_ignore_ascii_case(code)))
        .map(|l| l.id))
}

fn ctx_has_code(ctx: &mut Ctx, code: &str) -> anyhow::Result<bool> {
    Ok(by_code(ctx, code)?.is_some())
}

fn summary_json(id: DocumentId, p: &Project) -> Json {
    json!({
        "id": id.to_string(),
        "code": p.code,
        "title": p.title.iter().map(|(l, t)| (l.to_owned(), Json::from(t))).collect::<serde_json::Map<_, _>>(),
        "status": register_json(&p.status),
        "start": register_json(&p.start),
        "end": register_json(&p.end),
    })
}

fn show_text(
    ctx: &mut Ctx,
    id: DocumentId,
    p: &Project,
    doc: &AutoCommit,
) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(out, "{}  {}", p.code, localized(&p.title))?;
    writeln!(out, "  id: {id}")?;
    for (lang, title) in p.title.iter().filter(|(_, title)| !title.is_empty()) {
        writeln!(out, "  {}.{lang}: {title}", t("f_title"))?;
    }
    writeln!(out, "  {}: {}", t("f_status"), shown(&p.status))?;
    writeln!(
        out,
        "  {}: {} → {}",
        t("f_dates"),
        shown(&p.start),
        shown(&p.end)
    )?;
    writeln!(out, "  {}: {}", t("f_theme"), shown(&p.theme))?;
    writeln!(out, "  {}: {}", t("f_lead"), ctx.references(&p.lead))?;
    writeln!(
        out,
        "  {}: {}",
        t("f_partners"),
        ctx.references(&p.partners)
    )?;
    if !p.context.is_empty() {
        writeln!(out, "  {}: {}", t("f_context"), p.context)?;
    }
    if !p.logframe.is_empty() {
        writeln!(out, "{}:", t("f_logframe"))?;
    }
    for result in &p.logframe {
        writeln!(
            out,
            "  [{}] {}  ({})",
            result.level, result.statement, result.id
        )?;
        for indicator in &result.indicators {
            let values: Vec<String> = p
                .measurements_of(&indicator.id)
                .map(|m| format!("{} = {}", m.period, m.value.as_str()))
                .collect();
            writeln!(
                out,
                "    {} {} ({}): {} {}, {} {} {}; {}: {}",
                t("f_indicator"),
                indicator.name,
                indicator.id,
                t("f_baseline"),
                quantity(&indicator.baseline),
                t("f_target"),
                quantity(&indicator.target),
                indicator.unit.as_deref().unwrap_or(""),
                t("f_measures"),
                if values.is_empty() {
                    "-".to_owned()
                } else {
                    values.join(", ")
                }
            )?;
        }
    }
    writeln!(
        out,
        "  {}: {}; {}: {}",
        t("f_budget"),
        totals(p.planned_by_currency()),
        t("f_spent"),
        totals(p.spent_by_currency())
    )?;
    for line in &p.budget {
        let label = line
            .label
            .as_deref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        writeln!(
            out,
            "    - {}{label}: {} {}; {} {}  [{}]",
            line.heading,
            t("f_planned"),
            shown(&line.planned),
            t("f_spent"),
            totals(spent_on(p, &line.id)),
            line.id
        )?;
        for share in &line.cofinancing {
            writeln!(
                out,
                "        {} {}: {} ({})  [{}]",
                t("f_cofinancing"),
                share.funder,
                shown(&share.amount),
                shown(&share.status),
                share.id
            )?;
        }
    }
    if !p.expenses.is_empty() {
        writeln!(out, "  {}:", t("f_expenses"))?;
    }
    for expense in &p.expenses {
        let heading = p
            .budget
            .iter()
            .find(|l| l.id == expense.line)
            .map_or(expense.line.as_str(), |l| l.heading.as_str());
        let payee = expense
            .payee
            .as_deref()
            .map(|p| format!(", {p}"))
            .unwrap_or_default();
        writeln!(
            out,
            "    - {}  {}  {heading}{payee}  ({})  [{}]",
            expense.date, expense.amount, expense.by, expense.id
        )?;
    }
    out.push_str(&conflict_lines(id, doc)?);
    Ok(out)
}

fn quantity(register: &Option<passerelle_model::Register<passerelle_model::Quantity>>) -> String {
    match register {
        None => "-".to_owned(),
        Some(r) if r.is_conflicted() => {
            let v: Vec<&str> = r.assignments().iter().map(|a| a.value.as_str()).collect();
            format!("{} ⚠ {}", r.value().as_str(), v.join(" | "))
        }
        Some(r) => r.value().as_str().to_owned(),
    }
}

/// Amounts per currency, joined with `+` (never summed across currencies), or `-`.
fn totals(amounts: BTreeMap<Currency, Money>) -> String {
    let shown: Vec<String> = amounts.values().map(|m| m.to_string()).collect();
    if shown.is_empty() {
        "-".to_owned()
    } else {
        shown.join(" + ")
    }
}

/// What was spent on budget line `line`, per currency.
fn spent_on(p: &Project, line: &ItemId) -> BTreeMap<Currency, Money> {
    Money::totals(
        p.expenses
            .iter()
            .filter(|e| &e.line == line)
            .map(|e| e.amount),
    )
}

fn budget_json(p: &Project) -> Json {
    p.budget
        .iter()
        .map(|line| {
            json!({
                "id": line.id.as_str(), "heading": line.heading, "label": line.label,
                "planned": register_json(&line.planned),
                "spent": spent_on(p, &line.id).values().map(|m| m.to_string()).collect::<Vec<_>>(),
                "cofinancing": line.cofinancing.iter().map(|c| json!({
                    "id": c.id.as_str(), "funder": c.funder, "amount": register_json(&c.amount),
                    "status": register_json(&c.status),
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn expenses_json(p: &Project) -> Json {
    p.expenses
        .iter()
        .map(|e| {
            json!({
                "id": e.id.as_str(), "line": e.line.as_str(), "date": e.date.to_string(),
                "amount": e.amount.to_string(), "payee": e.payee, "by": e.by,
            })
        })
        .collect()
}
