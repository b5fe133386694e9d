//! The periodic report to Lille: what the documents say about one project in one period,
//! computed once ([`PeriodicReport::new`]) and then written as a report
//! ([`PeriodicReport::document`]) or a workbook (`workbook.rs`).
//!
//! Where each section comes from:
//! 1. identification: the project's code, titles, status, theme, dates, lead; the period;
//! 2. summary: the objectives, then figures (missions, indicators measured, spending);
//! 3. context: the project's `context`, then journal entries of the period tagged
//!    `context`/`contexte`;
//! 4. activities: the logframe's activity results, and the missions of the period (linked
//!    to the project, dates meeting the period) with their status: done against planned;
//! 5. logframe: each indicator's baseline, target, latest value up to the period's end, and
//!    source;
//! 6. partners: the lead and partner actors, named from their actor documents;
//! 7. difficulties: entries tagged `difficulty`/`difficulté`/`risk`/`risque`, and the
//!    follow-up actions still open past their due date at the period's end;
//! 8. lessons: the project's `lessons`;
//! 9. communication: entries tagged `communication`/`visibility`/`visibilité`, and the news
//!    items of the period linked to the project;
//! 10. finances: budget lines by heading (planned, spent in the period, spent to its end,
//!     %), co-financing by funder with the spending attributed to it pro rata of its shares
//!     (`attribution.rs`) and what no share covers; one row per currency, never summed
//!     across currencies;
//! 11. next period: the missions of the next period, open actions due by its end, entries
//!     tagged `plan`;
//! 12. annexes: a mission report for each mission of the period.
//!
//! Before section 1, when there are any, the points to check ([`PeriodicReport::points_to_check`]).

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use passerelle_model::{
    ActionStatus, CofinancingStatus, Currency, Entry, Level, Mission, MissionStatus, Money,
    Register,
};

use crate::attribution::attribute;
use crate::document::{
    Block, Cell, Line, ReportDocument, Section, Span, Table, localized_line, per_mille,
    per_mille_text,
};
use crate::labels::Lang;
use crate::mission_report::{mission_section, mission_title, status_text};
use crate::period::Period;
use crate::sources::{Source, Sources, Submitted};

/// Journal tags that put an entry in a section (compared without case).
const CONTEXT_TAGS: &[&str] = &["context", "contexte"];
const DIFFICULTY_TAGS: &[&str] = &["difficulty", "difficulté", "difficulte", "risk", "risque"];
const COMMUNICATION_TAGS: &[&str] = &["communication", "visibility", "visibilité", "visibilite"];
const PLAN_TAGS: &[&str] = &["plan"];
/// Words naming the French foreign ministry as a funder (compared lowercased, `’` as `'`).
const MINISTRY_NAMES: &[&str] = &[
    "meae",
    "ministère de l'europe",
    "ministere de l'europe",
    "affaires étrangères",
    "affaires etrangeres",
    "daect",
    "ministry for europe",
    "foreign affairs",
    "foreign ministry",
];
/// Words marking a budget line (heading or label) as monitoring and evaluation.
const MONITORING_WORDS: &[&str] = &[
    "suivi",
    "évaluation",
    "evaluation",
    "monitoring",
    "s&e",
    "m&e",
];
/// The share of the budget the French ministry wants on monitoring and evaluation, in %.
const MINISTRY_MONITORING_PERCENT: i64 = 7;

fn mentions(text: &str, words: &[&str]) -> bool {
    let text = text.to_lowercase().replace('\u{2019}', "'");
    words.iter().any(|w| text.contains(w))
}

/// Amounts of one heading (or funder) in one currency, in hundredths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HeadingAmounts {
    pub(crate) planned: i64,
    pub(crate) spent_in_period: i64,
    pub(crate) spent_to_date: i64,
}

/// A funder's shares in one currency, by status, and the spending attributed to it pro
/// rata of its shares (`attribution.rs`), in hundredths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FunderAmounts {
    pub(crate) requested: i64,
    pub(crate) granted: i64,
    pub(crate) received: i64,
    pub(crate) spent_in_period: i64,
    pub(crate) spent_to_date: i64,
}

impl FunderAmounts {
    /// What the funder's shares plan, whatever their status.
    pub(crate) fn planned(&self) -> i64 {
        self.requested
            .saturating_add(self.granted)
            .saturating_add(self.received)
    }
}

/// The rows of the table by funder in one currency: each funder's amounts, then what no
/// share covers (planned: the part of lines' plans beyond their shares; spent: the
/// unattributed remainder), then the total.
pub(crate) struct FunderRows<'r> {
    pub(crate) currency: Currency,
    pub(crate) funders: Vec<(&'r str, FunderAmounts)>,
    pub(crate) unattributed: Option<HeadingAmounts>,
    pub(crate) total: HeadingAmounts,
}

/// An indicator's row of the logframe table.
#[derive(Debug, Clone)]
pub(crate) struct IndicatorRow {
    pub(crate) level: Level,
    pub(crate) statement: String,
    pub(crate) name: String,
    pub(crate) unit: String,
    pub(crate) baseline: Option<String>,
    pub(crate) target: Option<String>,
    /// The latest value up to the period's end, and the period it was measured for.
    pub(crate) current: Option<(String, String)>,
    pub(crate) source: String,
}

/// An expense up to the period's end, for the workbook.
#[derive(Debug, Clone)]
pub(crate) struct ExpenseRow {
    pub(crate) date: Date,
    pub(crate) heading: String,
    pub(crate) label: String,
    pub(crate) payee: String,
    pub(crate) amount: Money,
}

/// The periodic report of one project for one period, computed from its sources.
#[derive(Debug)]
pub struct PeriodicReport<'a> {
    pub(crate) sources: &'a Sources,
    pub(crate) period: Period,
    pub(crate) submitted: Option<&'a Submitted>,
    /// Missions linked to the project whose dates meet the period, by start date.
    pub(crate) missions: Vec<&'a Source<Mission>>,
    /// Missions linked to the project whose dates meet the next period.
    pub(crate) next_missions: Vec<&'a Source<Mission>>,
    /// Journal entries about the project dated in the period, oldest first.
    pub(crate) entries: Vec<&'a Entry>,
    pub(crate) indicators: Vec<IndicatorRow>,
    /// Headings in the order of the budget, and their amounts per currency.
    pub(crate) headings: Vec<(String, BTreeMap<Currency, HeadingAmounts>)>,
    /// Funders in order of first appearance, and their shares per currency.
    pub(crate) funders: Vec<(String, BTreeMap<Currency, FunderAmounts>)>,
    /// Per currency, what no share covers: planned beyond the shares, spending unattributed.
    pub(crate) unattributed: BTreeMap<Currency, HeadingAmounts>,
    pub(crate) expenses: Vec<ExpenseRow>,
}

fn dates_of(mission: &Mission) -> Option<(Date, Date)> {
    let start = mission.start.as_ref().map(|r| *r.value());
    let end = mission.end.as_ref().map(|r| *r.value());
    match (start, end) {
        (Some(s), Some(e)) => Some((s.min(e), s.max(e))),
        (Some(d), None) | (None, Some(d)) => Some((d, d)),
        (None, None) => None,
    }
}

fn has_tag(entry: &Entry, tags: &[&str]) -> bool {
    entry
        .tags
        .iter()
        .any(|t| tags.iter().any(|w| t.trim().to_lowercase() == *w))
}

/// The day of an instant, in UTC (the report has no clock and no time-zone database).
fn day_of(at: jiff::Timestamp) -> Date {
    at.to_zoned(TimeZone::UTC).date()
}

fn push_amount<K: Clone + PartialEq>(
    list: &mut Vec<(K, BTreeMap<Currency, HeadingAmounts>)>,
    key: &K,
) -> usize {
    match list.iter().position(|(k, _)| k == key) {
        Some(i) => i,
        None => {
            list.push((key.clone(), BTreeMap::new()));
            list.len() - 1
        }
    }
}

impl<'a> PeriodicReport<'a> {
    /// Computes the report of `sources.project` for `period`; `submitted` when it is the
    /// frozen version of a submitted report.
    pub fn new(
        sources: &'a Sources,
        period: Period,
        submitted: Option<&'a Submitted>,
    ) -> PeriodicReport<'a> {
        let project = &sources.project.doc;
        let linked = |m: &&Source<Mission>| m.doc.projects.iter().any(|p| sources.names_project(p));
        let mut dated: Vec<(Date, &Source<Mission>)> = sources
            .missions
            .iter()
            .filter(linked)
            .filter_map(|m| dates_of(&m.doc).map(|(from, to)| (from, to, m)))
            .filter(|(from, to, _)| period.overlaps(*from, *to))
            .map(|(from, _, m)| (from, m))
            .collect();
        dated.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        let missions = dated.into_iter().map(|(_, m)| m).collect();
        let next = period.next();
        let mut next_dated: Vec<(Date, &Source<Mission>)> = sources
            .missions
            .iter()
            .filter(linked)
            .filter_map(|m| dates_of(&m.doc).map(|(from, to)| (from, to, m)))
            .filter(|(from, to, _)| next.overlaps(*from, *to))
            .map(|(from, _, m)| (from, m))
            .collect();
        next_dated.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        let next_missions = next_dated.into_iter().map(|(_, m)| m).collect();

        let mut entries: Vec<&Entry> = sources
            .journals
            .iter()
            .flat_map(|j| &j.doc.entries)
            .filter(|e| {
                e.project
                    .as_deref()
                    .is_some_and(|p| sources.names_project(p))
            })
            .filter(|e| period.contains(day_of(e.at)))
            .collect();
        entries.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));

        let mut indicators = Vec::new();
        for result in &project.logframe {
            for indicator in &result.indicators {
                let current = project
                    .measurements_of(&indicator.id)
                    .filter_map(|m| Period::parse_any(&m.period).map(|p| (p, m)))
                    .filter(|(p, _)| p.end() <= period.end())
                    .max_by(|(pa, a), (pb, b)| {
                        (pa.end(), a.at, &a.id).cmp(&(pb.end(), b.at, &b.id))
                    });
                let source = current
                    .and_then(|(_, m)| m.source.clone())
                    .or_else(|| indicator.source.clone())
                    .unwrap_or_default();
                indicators.push(IndicatorRow {
                    level: result.level,
                    statement: result.statement.clone(),
                    name: indicator.name.clone(),
                    unit: indicator.unit.clone().unwrap_or_default(),
                    baseline: indicator
                        .baseline
                        .as_ref()
                        .map(|r| r.value().as_str().to_owned()),
                    target: indicator
                        .target
                        .as_ref()
                        .map(|r| r.value().as_str().to_owned()),
                    current: current.map(|(_, m)| (m.value.as_str().to_owned(), m.period.clone())),
                    source,
                });
            }
        }

        let mut headings: Vec<(String, BTreeMap<Currency, HeadingAmounts>)> = Vec::new();
        let mut funders: Vec<(String, BTreeMap<Currency, FunderAmounts>)> = Vec::new();
        for line in &project.budget {
            let index = push_amount(&mut headings, &line.heading.trim().to_owned());
            if let Some(planned) = &line.planned {
                let planned = planned.value();
                let amounts = headings[index].1.entry(planned.currency).or_default();
                amounts.planned = amounts.planned.saturating_add(planned.cents);
            }
            for share in &line.cofinancing {
                let funder = share.funder.trim().to_owned();
                let index = match funders.iter().position(|(f, _)| *f == funder) {
                    Some(i) => i,
                    None => {
                        funders.push((funder, BTreeMap::new()));
                        funders.len() - 1
                    }
                };
                if let Some(amount) = &share.amount {
                    let amount = amount.value();
                    let sums = funders[index].1.entry(amount.currency).or_default();
                    let status = share
                        .status
                        .as_ref()
                        .map_or(CofinancingStatus::Requested, |s| *s.value());
                    let slot = match status {
                        CofinancingStatus::Requested => &mut sums.requested,
                        CofinancingStatus::Granted => &mut sums.granted,
                        CofinancingStatus::Received => &mut sums.received,
                    };
                    *slot = slot.saturating_add(amount.cents);
                }
            }
        }
        let mut expenses = Vec::new();
        // Spending per budget line (its index) and currency: in the period, to its end.
        let mut by_line: BTreeMap<(Option<usize>, Currency), (i64, i64)> = BTreeMap::new();
        for expense in &project.expenses {
            if expense.date > period.end() {
                continue;
            }
            let line_index = project.budget.iter().position(|l| l.id == expense.line);
            let line = line_index.map(|i| &project.budget[i]);
            let spent = by_line
                .entry((line_index, expense.amount.currency))
                .or_default();
            spent.1 = spent.1.saturating_add(expense.amount.cents);
            if period.contains(expense.date) {
                spent.0 = spent.0.saturating_add(expense.amount.cents);
            }
            let heading = line.map_or_else(|| "?".to_owned(), |l| l.heading.trim().to_owned());
            let index = push_amount(&mut headings, &heading);
            let amounts = headings[index]
                .1
                .entry(expense.amount.currency)
                .or_default();
            amounts.spent_to_date = amounts.spent_to_date.saturating_add(expense.amount.cents);
            if period.contains(expense.date) {
                amounts.spent_in_period =
                    amounts.spent_in_period.saturating_add(expense.amount.cents);
            }
            expenses.push(ExpenseRow {
                date: expense.date,
                heading,
                label: line.and_then(|l| l.label.clone()).unwrap_or_default(),
                payee: expense.payee.clone().unwrap_or_default(),
                amount: expense.amount,
            });
        }
        expenses.sort_by_key(|a| a.date);
        let unattributed = attribute_spending(project, &by_line, &mut funders);

        PeriodicReport {
            sources,
            period,
            submitted,
            missions,
            next_missions,
            entries,
            indicators,
            headings,
            funders,
            unattributed,
            expenses,
        }
    }

    fn tagged(&self, tags: &[&str]) -> Vec<&'a Entry> {
        self.entries
            .iter()
            .copied()
            .filter(|e| has_tag(e, tags))
            .collect()
    }

    /// Open follow-up actions of the project's missions, with their mission, whose due date
    /// is on or before `by` (those without a due date are left out).
    fn open_actions_due(
        &self,
        by: Date,
    ) -> Vec<(&'a Source<Mission>, &'a passerelle_model::Action)> {
        let mut found: Vec<_> = self
            .sources
            .missions
            .iter()
            .filter(|m| m.doc.projects.iter().any(|p| self.sources.names_project(p)))
            .flat_map(|m| m.doc.actions.iter().map(move |a| (m, a)))
            .filter(|(_, a)| {
                a.status
                    .as_ref()
                    .is_none_or(|s| *s.value() == ActionStatus::Open)
                    && a.due.as_ref().is_some_and(|d| *d.value() <= by)
            })
            .collect();
        found.sort_by(|(ma, a), (mb, b)| {
            let due = |a: &passerelle_model::Action| a.due.as_ref().map(|d| *d.value());
            due(a)
                .cmp(&due(b))
                .then_with(|| ma.id.cmp(&mb.id))
                .then_with(|| a.id.cmp(&b.id))
        });
        found
    }

    /// The report as data, with labels in `lang`.
    pub fn document(&self, lang: Lang) -> ReportDocument {
        let l = |key: &str| lang.label(key);
        let project = &self.sources.project.doc;
        let preferred = lang.preference();
        let mut title = vec![Span::plain(format!(
            "{} — {} — ",
            l("periodic_title"),
            self.period
        ))];
        title.extend(project_name(project, &preferred));

        let mut sections = Vec::new();

        // Points to check, first, when funders' rules or the logframe call for a look.
        let points = self.points_to_check(lang);
        if !points.is_empty() {
            let mut s = Section::new(l("s_points"));
            s.blocks.push(Block::Note(l("points_note").to_owned()));
            s.blocks.push(Block::List(
                points.into_iter().map(|p| vec![Span::plain(p)]).collect(),
            ));
            sections.push(s);
        }

        // 1. Identification and period.
        let mut s = Section::new(format!("1. {}", l("s_identification")));
        let mut fields = vec![(l("f_code").to_owned(), text_line(&project.code))];
        for lang_code in ["fr", "ar", "en"] {
            if let Some(t) = project
                .title
                .get(lang_code)
                .filter(|t| !t.trim().is_empty())
            {
                fields.push((
                    format!("{} ({lang_code})", l("f_title")),
                    vec![Span {
                        text: t.to_owned(),
                        lang: Some(lang_code),
                    }],
                ));
            }
        }
        fields.push((
            l("f_status").to_owned(),
            text_line(&shown(&project.status, |s| lang.word(s.as_str()))),
        ));
        fields.push((
            l("f_theme").to_owned(),
            text_line(&shown(&project.theme, |t| t.clone())),
        ));
        fields.push((
            l("f_project_dates").to_owned(),
            text_line(&format!(
                "{} → {}",
                shown(&project.start, Date::to_string),
                shown(&project.end, Date::to_string)
            )),
        ));
        fields.push((
            l("f_lead").to_owned(),
            text_line(&self.actor_names(&project.lead).join(", ")),
        ));
        fields.push((
            l("f_period").to_owned(),
            text_line(&format!(
                "{} ({} → {})",
                self.period,
                self.period.start(),
                self.period.end()
            )),
        ));
        let version = match self.submitted {
            Some(s) => lang.fill(
                "submitted_version",
                &[
                    &s.at.to_zoned(TimeZone::UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    &s.by,
                    &s.report_id,
                ],
            ),
            None => l("draft_version").to_owned(),
        };
        fields.push((l("f_version").to_owned(), text_line(&version)));
        s.blocks.push(Block::Fields(fields));
        sections.push(s);

        // 2. Summary.
        let mut s = Section::new(format!("2. {}", l("s_summary")));
        let objectives: Vec<Line> = project
            .objectives
            .iter()
            .filter(|o| !o.text.trim().is_empty())
            .map(|o| text_line(&o.text))
            .collect();
        if !objectives.is_empty() {
            s.blocks.push(Block::Note(l("objectives").to_owned()));
            s.blocks.push(Block::List(objectives));
        }
        let done = self
            .missions
            .iter()
            .filter(|m| {
                m.doc
                    .status
                    .as_ref()
                    .is_some_and(|s| *s.value() == MissionStatus::Done)
            })
            .count();
        let measured = self
            .indicators
            .iter()
            .filter(|i| {
                i.current.as_ref().is_some_and(|(_, p)| {
                    Period::parse_any(p).is_some_and(|p| self.period.overlaps(p.start(), p.end()))
                })
            })
            .count();
        let mut facts = vec![
            text_line(&lang.fill("sum_missions", &[&done, &self.missions.len()])),
            text_line(&lang.fill("sum_indicators", &[&measured, &self.indicators.len()])),
        ];
        let spent: BTreeMap<Currency, i64> = self
            .headings
            .iter()
            .flat_map(|(_, by)| by.iter())
            .fold(BTreeMap::new(), |mut acc, (c, a)| {
                *acc.entry(*c).or_insert(0) += a.spent_in_period;
                acc
            });
        let spent: Vec<String> = spent
            .iter()
            .filter(|(_, cents)| **cents != 0)
            .map(|(c, cents)| lang.money(Money::new(*cents, *c)))
            .collect();
        facts.push(text_line(&if spent.is_empty() {
            l("sum_no_spending").to_owned()
        } else {
            let separator = if lang == Lang::Fr { " ; " } else { "; " };
            lang.fill("sum_spent", &[&spent.join(separator)])
        }));
        s.blocks.push(Block::List(facts));
        sections.push(s);

        // 3. Context and changes.
        let mut s = Section::new(format!("3. {}", l("s_context")));
        if !project.context.trim().is_empty() {
            s.blocks
                .push(Block::Paragraph(Span::plain(project.context.trim())));
        }
        self.entries_blocks(&mut s, CONTEXT_TAGS, lang);
        nothing_if_empty(&mut s, lang);
        sections.push(s);

        // 4. Activities done vs planned.
        let mut s = Section::new(format!("4. {}", l("s_activities")));
        let activities: Vec<Line> = project
            .logframe
            .iter()
            .filter(|r| r.level == Level::Activity && !r.statement.trim().is_empty())
            .map(|r| text_line(&r.statement))
            .collect();
        if !activities.is_empty() {
            s.blocks
                .push(Block::Note(l("planned_activities").to_owned()));
            s.blocks.push(Block::List(activities));
        }
        if self.missions.is_empty() {
            s.blocks.push(Block::Nothing(l("no_missions").to_owned()));
        } else {
            s.blocks.push(Block::Note(
                lang.fill("missions_done", &[&done, &self.missions.len()]),
            ));
            s.blocks
                .push(Block::Table(self.missions_table(&self.missions, lang)));
        }
        sections.push(s);

        // 5. Logframe.
        let mut s = Section::new(format!("5. {}", l("s_logframe")));
        if self.indicators.is_empty() {
            s.blocks.push(Block::Nothing(l("no_indicators").to_owned()));
        } else {
            let headers = [
                "h_level",
                "h_result",
                "h_indicator",
                "h_baseline",
                "h_target",
                "h_current",
                "h_source",
            ];
            let rows = self
                .indicators
                .iter()
                .map(|i| {
                    let with_unit = |v: &Option<String>| match v {
                        None => Cell::Empty,
                        Some(v) if i.unit.is_empty() => Cell::Number(v.clone()),
                        Some(v) => Cell::text(format!("{v} {}", i.unit)),
                    };
                    vec![
                        Cell::text(lang.word(i.level.as_str())),
                        Cell::text(&i.statement),
                        Cell::text(&i.name),
                        with_unit(&i.baseline),
                        with_unit(&i.target),
                        match &i.current {
                            None => Cell::text(l("not_measured")),
                            Some((value, period)) => {
                                let unit = if i.unit.is_empty() {
                                    String::new()
                                } else {
                                    format!(" {}", i.unit)
                                };
                                Cell::text(format!("{value}{unit} ({period})"))
                            }
                        },
                        Cell::text(&i.source),
                    ]
                })
                .collect();
            s.blocks.push(Block::Table(Table {
                headers: headers.iter().map(|h| l(h).to_owned()).collect(),
                rows,
            }));
        }
        sections.push(s);

        // 6. Partners.
        let mut s = Section::new(format!("6. {}", l("s_partners")));
        let mut rows = Vec::new();
        for (role, list) in [
            ("role_lead", &project.lead),
            ("role_partner", &project.partners),
        ] {
            for reference in list {
                let actor = self.sources.actors.iter().find(|a| &a.id == reference);
                let (name, category) = match actor {
                    Some(a) => (
                        localized_line(&a.doc.names, &[preferred[0], preferred[1], "latin", "ar"]),
                        a.doc
                            .category
                            .map(|c| lang.word(c.as_str()).to_owned())
                            .unwrap_or_default(),
                    ),
                    None => (text_line(reference), String::new()),
                };
                rows.push(vec![
                    Cell::text(l(role)),
                    Cell::Text(name),
                    Cell::text(category),
                ]);
            }
        }
        if rows.is_empty() {
            s.blocks.push(Block::Nothing(l("no_partners").to_owned()));
        } else {
            s.blocks.push(Block::Table(Table {
                headers: vec![l("h_role").into(), l("h_name").into(), l("h_type").into()],
                rows,
            }));
        }
        sections.push(s);

        // 7. Difficulties and risks.
        let mut s = Section::new(format!("7. {}", l("s_difficulties")));
        self.entries_blocks(&mut s, DIFFICULTY_TAGS, lang);
        let overdue: Vec<_> = self
            .open_actions_due(self.period.end())
            .into_iter()
            .filter(|(_, a)| {
                a.due
                    .as_ref()
                    .is_some_and(|d| *d.value() < self.period.end())
            })
            .collect();
        if !overdue.is_empty() {
            s.blocks.push(Block::Note(l("overdue_actions").to_owned()));
            s.blocks.push(Block::Table(actions_table(&overdue, lang)));
        }
        nothing_if_empty(&mut s, lang);
        sections.push(s);

        // 8. Lessons learned.
        let mut s = Section::new(format!("8. {}", l("s_lessons")));
        if !project.lessons.trim().is_empty() {
            s.blocks
                .push(Block::Paragraph(Span::plain(project.lessons.trim())));
        }
        nothing_if_empty(&mut s, lang);
        sections.push(s);

        // 9. Communication and visibility.
        let mut s = Section::new(format!("9. {}", l("s_communication")));
        self.entries_blocks(&mut s, COMMUNICATION_TAGS, lang);
        let mut news: Vec<_> = self
            .sources
            .news
            .iter()
            .filter(|n| n.doc.projects.iter().any(|p| self.sources.names_project(p)))
            .filter(|n| n.doc.date.is_some_and(|d| self.period.contains(d)))
            .collect();
        news.sort_by(|a, b| a.doc.date.cmp(&b.doc.date).then_with(|| a.id.cmp(&b.id)));
        if !news.is_empty() {
            s.blocks.push(Block::Note(l("news_of_period").to_owned()));
            s.blocks.push(Block::Table(Table {
                headers: vec![
                    l("h_date").into(),
                    l("h_title").into(),
                    l("h_source").into(),
                    "URL".into(),
                ],
                rows: news
                    .iter()
                    .map(|n| {
                        let lang_code = n.doc.language.and_then(|l| match l.as_str() {
                            "ar" => Some("ar"),
                            "fr" => Some("fr"),
                            "en" => Some("en"),
                            _ => None,
                        });
                        vec![
                            n.doc.date.map_or(Cell::Empty, Cell::Date),
                            Cell::Text(vec![Span {
                                text: n.doc.title.clone(),
                                lang: lang_code,
                            }]),
                            Cell::text(n.doc.source.clone().unwrap_or_default()),
                            Cell::text(&n.doc.url),
                        ]
                    })
                    .collect(),
            }));
        }
        nothing_if_empty(&mut s, lang);
        sections.push(s);

        // 10. Finances.
        let mut s = Section::new(format!("10. {}", l("s_finances")));
        s.blocks.push(Block::Note(l("currencies_apart").to_owned()));
        if self.headings.is_empty() {
            s.blocks.push(Block::Nothing(l("no_budget").to_owned()));
        } else {
            let mut by_heading = Section::new(l("by_heading"));
            by_heading
                .blocks
                .push(Block::Table(self.headings_table(lang)));
            s.blocks.push(Block::Section(by_heading));
        }
        let mut by_funder = Section::new(l("by_funder"));
        if self.funders.is_empty() {
            by_funder
                .blocks
                .push(Block::Nothing(l("no_cofinancing").to_owned()));
        }
        if !self.funders.is_empty() || !self.unattributed.is_empty() {
            by_funder
                .blocks
                .push(Block::Table(self.funders_table(lang)));
            by_funder
                .blocks
                .push(Block::Note(l("funder_rule").to_owned()));
        }
        s.blocks.push(Block::Section(by_funder));
        sections.push(s);

        // 11. Plan for the next period.
        let next = self.period.next();
        let mut s = Section::new(format!("11. {} ({next})", l("s_next")));
        if !self.next_missions.is_empty() {
            s.blocks.push(Block::Note(l("next_missions").to_owned()));
            s.blocks
                .push(Block::Table(self.missions_table(&self.next_missions, lang)));
        }
        let due: Vec<_> = self
            .open_actions_due(next.end())
            .into_iter()
            .filter(|(_, a)| a.due.as_ref().is_some_and(|d| *d.value() >= next.start()))
            .collect();
        if !due.is_empty() {
            s.blocks.push(Block::Note(l("actions_due_next").to_owned()));
            s.blocks.push(Block::Table(actions_table(&due, lang)));
        }
        self.entries_blocks(&mut s, PLAN_TAGS, lang);
        nothing_if_empty(&mut s, lang);
        sections.push(s);

        // 12. Annexes: mission reports.
        let mut s = Section::new(format!("12. {}", l("s_annexes")));
        for (i, mission) in self.missions.iter().enumerate() {
            let mut heading = vec![Span::plain(lang.fill("annex", &[&(i + 1)]))];
            heading.extend(mission_title(&mission.doc, &preferred));
            let mut annex = mission_section(mission, lang);
            annex.heading = heading;
            s.blocks.push(Block::Section(annex));
        }
        nothing_if_empty(&mut s, lang);
        sections.push(s);

        ReportDocument {
            lang: lang.code(),
            title,
            sections,
        }
    }

    /// What funders' rules (domain.md, "What a generated report contains") and the logframe
    /// ask that the documents do not show, one sentence each, for a person to check: the
    /// French ministry's 7 % of the budget on monitoring and evaluation when it co-finances
    /// the project (per currency, no rate applied; lines whose heading or label says
    /// monitoring or evaluation), and indicators without a baseline, a target or a value
    /// measured by the period's end. Not errors: the report is written all the same.
    pub fn points_to_check(&self, lang: Lang) -> Vec<String> {
        let project = &self.sources.project.doc;
        let mut points = Vec::new();
        let ministry = project
            .budget
            .iter()
            .flat_map(|line| &line.cofinancing)
            .map(|share| share.funder.trim())
            .find(|funder| mentions(funder, MINISTRY_NAMES));
        if let Some(ministry) = ministry {
            let mut planned: BTreeMap<Currency, (i64, i64)> = BTreeMap::new();
            for line in &project.budget {
                let Some(amount) = line.planned.as_ref().map(|p| *p.value()) else {
                    continue;
                };
                let sums = planned.entry(amount.currency).or_default();
                sums.0 = sums.0.saturating_add(amount.cents);
                let monitoring = mentions(&line.heading, MONITORING_WORDS)
                    || line
                        .label
                        .as_deref()
                        .is_some_and(|l| mentions(l, MONITORING_WORDS));
                if monitoring {
                    sums.1 = sums.1.saturating_add(amount.cents);
                }
            }
            for (currency, (total, monitoring)) in planned {
                let short = i128::from(monitoring) * 100
                    < i128::from(total) * i128::from(MINISTRY_MONITORING_PERCENT);
                if total > 0 && short {
                    let share = per_mille(monitoring, total).unwrap_or(0);
                    let decimal = if lang == Lang::Fr { ',' } else { '.' };
                    points.push(lang.fill(
                        "point_monitoring",
                        &[
                            &ministry,
                            &MINISTRY_MONITORING_PERCENT,
                            &per_mille_text(share, decimal),
                            &lang.money(Money::new(monitoring, currency)),
                            &lang.money(Money::new(total, currency)),
                        ],
                    ));
                }
            }
        }
        for row in &self.indicators {
            if row.baseline.is_none() {
                points.push(lang.fill("point_no_baseline", &[&row.name]));
            }
            if row.target.is_none() {
                points.push(lang.fill("point_no_target", &[&row.name]));
            }
            if row.current.is_none() {
                points.push(lang.fill("point_not_measured", &[&row.name, &self.period]));
            }
        }
        points
    }

    fn actor_names(&self, references: &[String]) -> Vec<String> {
        references
            .iter()
            .map(|r| {
                self.sources
                    .actors
                    .iter()
                    .find(|a| &a.id == r)
                    .and_then(|a| a.doc.names.preferred(&["fr", "en", "latin", "ar"]))
                    .unwrap_or(r)
                    .to_owned()
            })
            .collect()
    }

    fn entries_blocks(&self, section: &mut Section, tags: &[&str], lang: Lang) {
        let entries = self.tagged(tags);
        if entries.is_empty() {
            return;
        }
        section
            .blocks
            .push(Block::Note(lang.label("journal_entries").to_owned()));
        for entry in entries {
            section.blocks.push(Block::Fields(vec![(
                format!(
                    "{} {}{}",
                    day_of(entry.at),
                    entry.author,
                    entry
                        .place
                        .as_deref()
                        .map(|p| format!(", {p}"))
                        .unwrap_or_default()
                ),
                text_line(entry.body.trim()),
            )]));
        }
    }

    fn missions_table(&self, missions: &[&Source<Mission>], lang: Lang) -> Table {
        let l = |key: &str| lang.label(key);
        let preferred = lang.preference();
        Table {
            headers: vec![
                l("h_mission").into(),
                l("h_direction").into(),
                l("h_start").into(),
                l("h_end").into(),
                l("h_status").into(),
            ],
            rows: missions
                .iter()
                .map(|m| {
                    let dates = dates_of(&m.doc);
                    vec![
                        Cell::Text(mission_title(&m.doc, &preferred)),
                        Cell::text(
                            m.doc
                                .direction
                                .map(|d| lang.word(d.as_str()))
                                .unwrap_or_default(),
                        ),
                        dates.map_or(Cell::Empty, |(from, _)| Cell::Date(from)),
                        dates.map_or(Cell::Empty, |(_, to)| Cell::Date(to)),
                        Cell::text(status_text(&m.doc, lang)),
                    ]
                })
                .collect(),
        }
    }

    fn headings_table(&self, lang: Lang) -> Table {
        let l = |key: &str| lang.label(key);
        let mut rows = Vec::new();
        let mut totals: BTreeMap<Currency, HeadingAmounts> = BTreeMap::new();
        for (heading, by_currency) in &self.headings {
            for (currency, a) in by_currency {
                let total = totals.entry(*currency).or_default();
                total.planned = total.planned.saturating_add(a.planned);
                total.spent_in_period = total.spent_in_period.saturating_add(a.spent_in_period);
                total.spent_to_date = total.spent_to_date.saturating_add(a.spent_to_date);
                rows.push(heading_row(Cell::text(heading), *currency, a));
            }
        }
        for (currency, a) in &totals {
            rows.push(heading_row(
                Cell::text(format!("{} {}", l("total"), currency.code())),
                *currency,
                a,
            ));
        }
        Table {
            headers: vec![
                l("h_heading").into(),
                l("h_currency").into(),
                l("h_planned").into(),
                l("h_spent_period").into(),
                l("h_spent_to_date").into(),
                l("h_percent").into(),
            ],
            rows,
        }
    }

    /// The table by funder, one block of rows per currency (`funder_rows`).
    fn funders_table(&self, lang: Lang) -> Table {
        let l = |key: &str| lang.label(key);
        let mut rows = Vec::new();
        for block in self.funder_rows() {
            let currency = block.currency;
            let m = |cents| Cell::Money(Money::new(cents, currency));
            let spent = |planned: i64, in_period: i64, to_date: i64| {
                [
                    m(planned),
                    m(in_period),
                    m(to_date),
                    per_mille(to_date, planned).map_or(Cell::Empty, Cell::PerMille),
                ]
            };
            for (funder, a) in &block.funders {
                let mut row = vec![
                    Cell::text(*funder),
                    Cell::text(currency.code()),
                    m(a.requested),
                    m(a.granted),
                    m(a.received),
                ];
                row.extend(spent(a.planned(), a.spent_in_period, a.spent_to_date));
                rows.push(row);
            }
            let mut other = |name: String, a: &HeadingAmounts| {
                let mut row = vec![
                    Cell::text(name),
                    Cell::text(currency.code()),
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Empty,
                ];
                row.extend(spent(a.planned, a.spent_in_period, a.spent_to_date));
                rows.push(row);
            };
            if let Some(u) = &block.unattributed {
                other(l("unattributed").to_owned(), u);
            }
            other(format!("{} {}", l("total"), currency.code()), &block.total);
        }
        Table {
            headers: vec![
                l("h_funder").into(),
                l("h_currency").into(),
                l("h_requested").into(),
                l("h_granted").into(),
                l("h_received").into(),
                l("h_funder_planned").into(),
                l("h_spent_period").into(),
                l("h_spent_to_date").into(),
                l("h_percent").into(),
            ],
            rows,
        }
    }

    /// The funders' amounts grouped by currency (EUR, then MAD), each group with what no
    /// share covers and its total; currencies are never summed together.
    pub(crate) fn funder_rows(&self) -> Vec<FunderRows<'_>> {
        let mut currencies: Vec<Currency> = self
            .funders
            .iter()
            .flat_map(|(_, by)| by.keys().copied())
            .chain(self.unattributed.keys().copied())
            .collect();
        currencies.sort();
        currencies.dedup();
        currencies
            .into_iter()
            .map(|currency| {
                let funders: Vec<(&str, FunderAmounts)> = self
                    .funders
                    .iter()
                    .filter_map(|(f, by)| by.get(&currency).map(|a| (f.as_str(), *a)))
                    .collect();
                let unattributed = self.unattributed.get(&currency).copied();
                let mut total = unattributed.unwrap_or_default();
                for (_, a) in &funders {
                    total.planned = total.planned.saturating_add(a.planned());
                    total.spent_in_period = total.spent_in_period.saturating_add(a.spent_in_period);
                    total.spent_to_date = total.spent_to_date.saturating_add(a.spent_to_date);
                }
                FunderRows {
                    currency,
                    funders,
                    unattributed,
                    total,
                }
            })
            .collect()
    }
}

/// Attributes each line's spending (`by_line`: per line index, `None` for an unknown line,
/// and currency: in the period, to its end) to the line's shares in that currency
/// (`attribution.rs`), adding the parts to `funders`; returns per currency what no share
/// covers: the part of the lines' plans beyond their shares, and the spending left over.
fn attribute_spending(
    project: &passerelle_model::Project,
    by_line: &BTreeMap<(Option<usize>, Currency), (i64, i64)>,
    funders: &mut [(String, BTreeMap<Currency, FunderAmounts>)],
) -> BTreeMap<Currency, HeadingAmounts> {
    let mut unattributed: BTreeMap<Currency, HeadingAmounts> = BTreeMap::new();
    // A line's shares in `currency`: the funder's index in `funders`, and the amount.
    let shares_in =
        |line: &passerelle_model::BudgetLine, currency: Currency| -> Vec<(usize, i64)> {
            line.cofinancing
                .iter()
                .filter_map(|share| {
                    let amount = *share.amount.as_ref()?.value();
                    let funder = share.funder.trim();
                    let index = funders.iter().position(|(f, _)| f == funder)?;
                    (amount.currency == currency).then_some((index, amount.cents))
                })
                .collect()
        };
    let planned_in = |line: &passerelle_model::BudgetLine, currency: Currency| {
        line.planned
            .as_ref()
            .map(|p| *p.value())
            .filter(|p| p.currency == currency)
            .map_or(0, |p| p.cents.max(0))
    };
    for line in &project.budget {
        if let Some(planned) = &line.planned {
            let currency = planned.value().currency;
            let covered = shares_in(line, currency)
                .iter()
                .fold(0i64, |sum, (_, a)| sum.saturating_add((*a).max(0)));
            let beyond = planned_in(line, currency).saturating_sub(covered);
            if beyond > 0 {
                let u = unattributed.entry(currency).or_default();
                u.planned = u.planned.saturating_add(beyond);
            }
        }
    }
    let mut found = Vec::new();
    for (&(line, currency), &(in_period, to_date)) in by_line {
        let (shares, planned) = match line {
            Some(i) => (
                shares_in(&project.budget[i], currency),
                planned_in(&project.budget[i], currency),
            ),
            None => (Vec::new(), 0),
        };
        let amounts: Vec<i64> = shares.iter().map(|(_, a)| *a).collect();
        let period_parts = attribute(in_period, planned, &amounts);
        let to_date_parts = attribute(to_date, planned, &amounts);
        found.push((currency, shares, period_parts, to_date_parts));
    }
    for (currency, shares, in_period, to_date) in found {
        for (((index, _), p), d) in shares.iter().zip(&in_period.parts).zip(&to_date.parts) {
            let sums = funders[*index].1.entry(currency).or_default();
            sums.spent_in_period = sums.spent_in_period.saturating_add(*p);
            sums.spent_to_date = sums.spent_to_date.saturating_add(*d);
        }
        let u = unattributed.entry(currency).or_default();
        u.spent_in_period = u.spent_in_period.saturating_add(in_period.unattributed);
        u.spent_to_date = u.spent_to_date.saturating_add(to_date.unattributed);
    }
    unattributed.retain(|_, u| *u != HeadingAmounts::default());
    unattributed
}

fn heading_row(first: Cell, currency: Currency, a: &HeadingAmounts) -> Vec<Cell> {
    let m = |cents| Cell::Money(Money::new(cents, currency));
    vec![
        first,
        Cell::text(currency.code()),
        m(a.planned),
        m(a.spent_in_period),
        m(a.spent_to_date),
        per_mille(a.spent_to_date, a.planned).map_or(Cell::Empty, Cell::PerMille),
    ]
}

pub(crate) fn actions_table(
    actions: &[(&Source<Mission>, &passerelle_model::Action)],
    lang: Lang,
) -> Table {
    let l = |key: &str| lang.label(key);
    let preferred = lang.preference();
    Table {
        headers: vec![
            l("h_action").into(),
            l("h_mission").into(),
            l("h_owner").into(),
            l("h_due").into(),
            l("h_status").into(),
        ],
        rows: actions
            .iter()
            .map(|(m, a)| {
                vec![
                    Cell::text(&a.text),
                    Cell::Text(mission_title(&m.doc, &preferred)),
                    Cell::text(shown(&a.owner, String::clone)),
                    a.due
                        .as_ref()
                        .map_or(Cell::Empty, |d| Cell::Date(*d.value())),
                    Cell::text(shown(&a.status, |s| lang.word(s.as_str()).to_owned())),
                ]
            })
            .collect(),
    }
}

fn project_name(project: &passerelle_model::Project, preferred: &[&'static str]) -> Line {
    let line = localized_line(&project.title, preferred);
    if line.is_empty() {
        text_line(&project.code)
    } else {
        line
    }
}

/// Plain text as a line.
pub(crate) fn text_line(text: &str) -> Line {
    vec![Span::plain(text)]
}

/// A register's shown value as text; with concurrent values, all of them (`a | b`), so a
/// report never hides a conflict; `-` when unset.
pub(crate) fn shown<T: PartialEq>(
    register: &Option<Register<T>>,
    show: impl Fn(&T) -> String,
) -> String {
    match register {
        None => "-".to_owned(),
        Some(r) if r.is_conflicted() => {
            let all: Vec<String> = r.assignments().iter().map(|a| show(&a.value)).collect();
            format!("{} (⚠ {})", show(r.value()), all.join(" | "))
        }
        Some(r) => show(r.value()),
    }
}

/// Adds the "nothing to report" sentence to a section that holds nothing (or only notes).
pub(crate) fn nothing_if_empty(section: &mut Section, lang: Lang) {
    let holds_something = section
        .blocks
        .iter()
        .any(|b| !matches!(b, Block::Note(_) | Block::Nothing(_)));
    if !holds_something {
        section
            .blocks
            .push(Block::Nothing(lang.label("nothing").to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_model::{Stamp, journal, project};

    fn stamp(at: &str) -> Stamp {
        Stamp::new("samira", at.parse().unwrap())
    }

    /// Expenses, missions and news hold local dates (the day as people wrote it), so a
    /// period takes them by date, whatever the hour in Lille or Oujda; a journal entry
    /// holds an instant, and its day is the UTC day (the report has no zone database).
    #[test]
    fn period_boundaries_are_by_date_for_dates_and_by_utc_day_for_instants() {
        let s = stamp("2026-06-01T08:00:00Z");
        let mut p = project::new_project(&project::NewProject::new("B", "Bornes"), &s).unwrap();
        let eur = |units: i64| Money::new(units * 100, Currency::Eur);
        let line = project::add_budget_line(&mut p, "Travaux", None, Some(eur(1_000)), &s).unwrap();
        project::add_cofinancing(
            &mut p,
            &line,
            "AFD",
            eur(500),
            CofinancingStatus::Granted,
            &s,
        )
        .unwrap();
        for (date, units) in [
            ("2026-06-30", 1),
            ("2026-07-01", 10),
            ("2026-09-30", 100),
            ("2026-10-01", 1_000),
        ] {
            project::add_expense(&mut p, &line, date.parse().unwrap(), eur(units), None, &s)
                .unwrap();
        }
        let mut j = journal::new_journal("Journal", &s).unwrap();
        for (at, body) in [
            ("2026-06-30T23:59:59Z", "juin"),
            ("2026-07-01T00:00:00Z", "premier jour"),
            ("2026-09-30T23:30:00Z", "dernier soir"),
            ("2026-10-01T00:00:00Z", "octobre"),
        ] {
            let entry = journal::NewEntry {
                body: body.into(),
                place: None,
                mission: None,
                project: Some("p".into()),
                tags: vec!["context".into()],
            };
            journal::add_entry(&mut j, &entry, &stamp(at)).unwrap();
        }
        let sources =
            Sources::from_documents("p", [("p".to_owned(), p), ("j".to_owned(), j)]).unwrap();
        let report = PeriodicReport::new(&sources, "2026-Q3".parse().unwrap(), None);
        let amounts = report.headings[0].1[&Currency::Eur];
        assert_eq!(amounts.spent_in_period, 11_000, "1 July and 30 September");
        assert_eq!(amounts.spent_to_date, 11_100, "not 1 October");
        let afd = report.funders[0].1[&Currency::Eur];
        assert_eq!((afd.spent_in_period, afd.spent_to_date), (5_500, 5_550));
        let bodies: Vec<&str> = report.entries.iter().map(|e| e.body.as_str()).collect();
        assert_eq!(bodies, ["premier jour", "dernier soir"]);
    }
}
