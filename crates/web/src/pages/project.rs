//! Projects: the list, and a project's page with its logframe (objectives, results,
//! indicators with baseline, target, current value and progress), budget lines (planned
//! amounts per heading, one total per currency: euros and dirhams are never added together)
//! and partners. Narrative texts are editable in place (merged like a mission's minutes); an
//! indicator's current value is changed by recording a new measurement.

use std::collections::BTreeMap;

use jiff::civil::Date;
use maud::{Markup, html};
use passerelle_model::{Currency, Document, Indicator, Measurement, Money, Project};

use super::dashboard::Opened;
use super::mission::{text_area, text_input};
use super::{Reference, reference, shown, shown_status};
use crate::lang::Lang;

/// How far an indicator has gone from its baseline to its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Progress {
    /// The indicator has no target: nothing to measure progress against.
    NoTarget,
    /// Percent of the way from baseline to target: 0 at the baseline, 100 at the target;
    /// below 0 when it moved away, above 100 when it went past.
    Percent(f64),
}

impl Progress {
    /// The percentage as a bar shows it (0 to 100).
    pub(crate) fn bar(self) -> Option<f64> {
        match self {
            Progress::NoTarget => None,
            Progress::Percent(p) => Some(p.clamp(0.0, 100.0)),
        }
    }
}

/// Progress from `baseline` (0 when absent) to `target`, at `current` (the baseline when
/// nothing was measured). Works for indicators meant to fall (target below baseline).
pub(crate) fn progress(
    baseline: Option<f64>,
    target: Option<f64>,
    current: Option<f64>,
) -> Progress {
    let Some(target) = target.filter(|t| t.is_finite()) else {
        return Progress::NoTarget;
    };
    let baseline = baseline.filter(|b| b.is_finite()).unwrap_or(0.0);
    let current = current.filter(|c| c.is_finite()).unwrap_or(baseline);
    let span = target - baseline;
    if span == 0.0 {
        // Keep a level: reached while the value is the target.
        return Progress::Percent(if current == target { 100.0 } else { 0.0 });
    }
    Progress::Percent((current - baseline) / span * 100.0)
}

/// The indicator's current value: its most recently recorded measurement.
pub(crate) fn current<'a>(p: &'a Project, indicator: &'a Indicator) -> Option<&'a Measurement> {
    p.measurements_of(&indicator.id).max_by_key(|m| m.at)
}

/// The period a new measurement is recorded for by default: today's quarter (`2026-Q3`).
pub(crate) fn quarter_of(today: Date) -> String {
    format!("{}-Q{}", today.year(), (today.month() - 1) / 3 + 1)
}

/// Planned amounts per budget heading, one total per currency (never summed across
/// currencies), headings in the order they first appear.
pub(crate) fn planned_by_heading(p: &Project) -> Vec<(String, BTreeMap<Currency, Money>)> {
    let mut out: Vec<(String, Vec<Money>)> = Vec::new();
    for line in &p.budget {
        let amount = line.planned.as_ref().map(|r| *r.value());
        match out.iter_mut().find(|(h, _)| *h == line.heading) {
            Some((_, amounts)) => amounts.extend(amount),
            None => out.push((line.heading.clone(), amount.into_iter().collect())),
        }
    }
    out.into_iter()
        .map(|(heading, amounts)| (heading, Money::totals(amounts)))
        .collect()
}

/// Amounts per currency, as `12000.00 EUR + 50000.00 MAD` (or `—`).
pub(crate) fn totals_text(totals: &BTreeMap<Currency, Money>) -> String {
    if totals.is_empty() {
        return "—".to_owned();
    }
    totals
        .values()
        .map(Money::to_string)
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The list of projects.
pub(crate) fn list(lang: Lang, docs: &[Opened]) -> Markup {
    let mut projects: Vec<(&Opened, &Project)> = docs
        .iter()
        .filter_map(|o| match &o.typed {
            Ok(Document::Project(p)) => Some((o, p.as_ref())),
            _ => None,
        })
        .collect();
    projects.sort_by(|a, b| a.1.code.cmp(&b.1.code));
    html! {
        h1 { (lang.t("projects")) }
        @if projects.is_empty() { p.none { (lang.t("none")) } } @else {
            table #projects {
                thead { tr {
                    th { (lang.t("code")) } th { (lang.t("title")) } th { (lang.t("status")) }
                    th { (lang.t("dates")) } th { (lang.t("theme")) }
                } }
                tbody {
                    @for (opened, p) in &projects {
                        tr.project {
                            td { bdi { (p.code) } }
                            td { (super::doc_link(lang, opened)) }
                            td { (shown_status(lang, &p.status)) }
                            td { bdi { (shown(&p.start)) " → " (shown(&p.end)) } }
                            td { (shown(&p.theme)) }
                        }
                    }
                }
            }
        }
    }
}

/// What a project's page needs besides the project.
pub(crate) struct ProjectView<'a> {
    pub(crate) heads: &'a str,
    pub(crate) lead: &'a [Reference],
    pub(crate) partners: &'a [Reference],
    pub(crate) today: Date,
}

/// A project's page.
pub(crate) fn page(lang: Lang, p: &Project, view: &ProjectView<'_>) -> Markup {
    let heads = view.heads;
    let prefs = lang.preference();
    let title = p.title.preferred(&prefs).unwrap_or("—");
    html! {
        p.kind { (lang.t("project")) " · " bdi { (p.code) } }
        h1 #title { (title) }
        dl.facts {
            dt { (lang.t("status")) } dd #project-status { (shown_status(lang, &p.status)) }
            dt { (lang.t("dates")) } dd { bdi { (shown(&p.start)) " → " (shown(&p.end)) } }
            dt { (lang.t("theme")) } dd { (shown(&p.theme)) }
            dt { (lang.t("lead")) } dd { (references(lang, view.lead)) }
        }
        section #partners {
            h2 { (lang.t("partners")) }
            @if view.partners.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for r in view.partners { li.partner { (reference(lang, r)) } }
            }
        }
        (text_area(lang.t("context"), "context", &p.context, heads, 3))

        section #objectives {
            h2 { (lang.t("objectives")) }
            @if p.objectives.is_empty() { p.none { (lang.t("none")) } }
            ol.items {
                @for o in &p.objectives {
                    li.item data-item=(o.id.as_str()) {
                        (text_input(lang.t("objective"), &format!("objectives[{}].text", o.id), &o.text, heads))
                    }
                }
            }
        }

        section #logframe {
            h2 { (lang.t("logframe")) }
            @if p.logframe.is_empty() { p.none { (lang.t("none")) } }
            @for r in &p.logframe {
                article.result data-item=(r.id.as_str()) {
                    p.kind { (lang.status(r.level.as_str())) }
                    (text_area(lang.t("statement"), &format!("logframe[{}].statement", r.id), &r.statement, heads, 2))
                    @if !r.indicators.is_empty() {
                        table.indicators {
                            thead { tr {
                                th { (lang.t("indicator")) } th { (lang.t("baseline")) }
                                th { (lang.t("target")) } th { (lang.t("current_value")) }
                                th { (lang.t("progress")) }
                            } }
                            tbody {
                                @for i in &r.indicators { (indicator_row(lang, p, i, view)) }
                            }
                        }
                    }
                }
            }
        }

        section #budget {
            h2 { (lang.t("budget")) }
            @if p.budget.is_empty() { p.none { (lang.t("none")) } } @else {
                table.budget {
                    thead { tr {
                        th { (lang.t("heading")) } th { (lang.t("label")) } th { (lang.t("planned")) }
                    } }
                    tbody {
                        @for line in &p.budget {
                            tr {
                                td { (line.heading) }
                                td { (line.label.as_deref().unwrap_or("—")) }
                                td { bdi { (shown(&line.planned)) } }
                            }
                        }
                    }
                }
                h3 { (lang.t("planned_by_heading")) }
                table #budget-headings {
                    tbody {
                        @for (heading, totals) in planned_by_heading(p) {
                            tr { th { (heading) } td { bdi { (totals_text(&totals)) } } }
                        }
                        tr.total {
                            th { (lang.t("total")) }
                            td { bdi { (totals_text(&p.planned_by_currency())) } }
                        }
                    }
                }
            }
        }

        (text_area(lang.t("lessons"), "lessons", &p.lessons, heads, 3))
    }
}

fn references(lang: Lang, refs: &[Reference]) -> Markup {
    html! {
        @if refs.is_empty() { "—" }
        @for (n, r) in refs.iter().enumerate() {
            @if n > 0 { ", " }
            (reference(lang, r))
        }
    }
}

fn indicator_row(lang: Lang, p: &Project, i: &Indicator, view: &ProjectView<'_>) -> Markup {
    let now = current(p, i);
    let value = |r: &Option<passerelle_model::Register<passerelle_model::Quantity>>| {
        r.as_ref().map(|r| r.value().to_f64())
    };
    let progress = progress(
        value(&i.baseline),
        value(&i.target),
        now.map(|m| m.value.to_f64()),
    );
    let unit = i.unit.as_deref().unwrap_or("");
    html! {
        tr.indicator data-item=(i.id.as_str()) {
            td {
                (i.name)
                @if let Some(source) = &i.source { br; small { (lang.t("source")) " : " (source) } }
            }
            td { bdi { (quantity(&i.baseline)) " " (unit) } }
            td { bdi { (quantity(&i.target)) " " (unit) } }
            td {
                @match now {
                    Some(m) => {
                        bdi.current { (m.value.as_str()) " " (unit) }
                        small { " (" (m.period) ")" }
                    },
                    None => span.current { "—" },
                }
                form.add.measure data-insert="measurements" {
                    input type="hidden" name="indicator" value=(i.id.as_str());
                    input name="value" inputmode="decimal" required size="6"
                        aria-label=(lang.t("new_value")) placeholder=(lang.t("new_value"));
                    input name="period" required size="7" value=(quarter_of(view.today))
                        aria-label=(lang.t("period"));
                    button type="submit" { (lang.t("record")) }
                }
            }
            td.progress {
                @match progress.bar() {
                    None => span.no-target { (lang.t("no_target")) },
                    Some(bar) => {
                        progress max="100" value=(format!("{bar:.0}")) {}
                        " " span.pct { (percent_text(progress)) }
                    }
                }
            }
        }
    }
}

/// A progress as a page writes it: `42 %`.
pub(crate) fn percent_text(progress: Progress) -> String {
    match progress {
        Progress::NoTarget => String::new(),
        Progress::Percent(p) => format!("{p:.0} %"),
    }
}

fn quantity(register: &Option<passerelle_model::Register<passerelle_model::Quantity>>) -> String {
    match register {
        None => "—".to_owned(),
        Some(r) if r.is_conflicted() => r
            .assignments()
            .iter()
            .map(|a| a.value.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        Some(r) => r.value().as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(p: Progress) -> f64 {
        match p {
            Progress::Percent(p) => p,
            Progress::NoTarget => panic!("expected a percentage"),
        }
    }

    #[test]
    fn progress_goes_from_baseline_to_target() {
        assert_eq!(pct(progress(Some(10.0), Some(30.0), Some(20.0))), 50.0);
        assert_eq!(pct(progress(Some(10.0), Some(30.0), Some(30.0))), 100.0);
        // Nothing measured yet: at the baseline.
        assert_eq!(pct(progress(Some(10.0), Some(30.0), None)), 0.0);
        // No baseline: from zero.
        assert_eq!(pct(progress(None, Some(40.0), Some(10.0))), 25.0);
        // An indicator meant to fall (e.g. energy use): 100 → 60, now 80.
        assert_eq!(pct(progress(Some(100.0), Some(60.0), Some(80.0))), 50.0);
        // Past the target, or moving away: the text says so, the bar stays within 0..100.
        let over = progress(Some(0.0), Some(10.0), Some(15.0));
        assert_eq!(pct(over), 150.0);
        assert_eq!(over.bar(), Some(100.0));
        let away = progress(Some(10.0), Some(20.0), Some(5.0));
        assert_eq!(pct(away), -50.0);
        assert_eq!(away.bar(), Some(0.0));
        // Target equal to the baseline: reached or not.
        assert_eq!(pct(progress(Some(5.0), Some(5.0), Some(5.0))), 100.0);
        assert_eq!(pct(progress(Some(5.0), Some(5.0), Some(4.0))), 0.0);
    }

    #[test]
    fn no_target_is_said_not_computed() {
        assert_eq!(progress(Some(1.0), None, Some(3.0)), Progress::NoTarget);
        assert_eq!(
            progress(Some(1.0), Some(f64::NAN), Some(3.0)),
            Progress::NoTarget
        );
        assert_eq!(Progress::NoTarget.bar(), None);
        assert_eq!(percent_text(Progress::Percent(33.333)), "33 %");
    }

    #[test]
    fn quarters_and_budget_totals_per_currency() {
        use jiff::civil::date;
        use passerelle_model::{Stamp, TypedDocument, project as model};
        assert_eq!(quarter_of(date(2026, 1, 1)), "2026-Q1");
        assert_eq!(quarter_of(date(2026, 6, 30)), "2026-Q2");
        assert_eq!(quarter_of(date(2026, 11, 29)), "2026-Q4");

        let stamp = Stamp::new("samira", jiff::Timestamp::UNIX_EPOCH);
        let mut doc = model::new_project(&model::NewProject::new("PAED", "Plan"), &stamp).unwrap();
        let eur = |n: i64| Money::new(n * 100, Currency::Eur);
        let mad = |n: i64| Money::new(n * 100, Currency::Mad);
        for (heading, amount) in [
            ("Études", eur(1000)),
            ("Missions", eur(500)),
            ("Études", mad(20000)),
            ("Études", eur(250)),
        ] {
            model::add_budget_line(&mut doc, heading, None, Some(amount), &stamp).unwrap();
        }
        let p = Project::read(&doc).unwrap();
        let by_heading = planned_by_heading(&p);
        assert_eq!(by_heading.len(), 2);
        assert_eq!(by_heading[0].0, "Études");
        assert_eq!(totals_text(&by_heading[0].1), "1250.00 EUR + 20000.00 MAD");
        assert_eq!(totals_text(&by_heading[1].1), "500.00 EUR");
        assert_eq!(totals_text(&BTreeMap::new()), "—");
    }
}
