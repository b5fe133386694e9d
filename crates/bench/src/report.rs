//! The results: every measurement of every run, and the Markdown table of their medians with
//! the spread (min–max) and the ratios passerelle / reference.

use std::fmt::Write as _;

use crate::servers::Kind;

/// How a metric's numbers are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Seconds,
    Millis,
    MiB,
    KiB,
    KB,
    /// Per second (documents/s).
    PerSecond,
    /// A count (transactions).
    Count,
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Millis => "ms",
            Unit::MiB => "MiB",
            Unit::KiB => "KiB",
            Unit::KB => "kB",
            Unit::PerSecond => "/s",
            Unit::Count => "",
        }
    }

    fn format(self, value: f64) -> String {
        let digits = match self {
            Unit::Seconds => 2,
            Unit::Count => 0,
            _ if value.abs() >= 100.0 => 0,
            _ if value.abs() >= 10.0 => 1,
            _ => 2,
        };
        format!("{value:.digits$}")
    }

    /// A cell of a table: the median with its unit, then the spread (min–max) when the runs
    /// differ; `–` for no runs.
    pub(crate) fn cell(self, spread: Option<Spread>) -> String {
        let with_unit = |value: String| match self.suffix() {
            "" => value,
            "/s" => format!("{value}/s"),
            suffix => format!("{value} {suffix}"),
        };
        match spread {
            Some(s) if s.min == s.max => with_unit(self.format(s.median)),
            Some(s) => format!(
                "{} ({}–{})",
                with_unit(self.format(s.median)),
                self.format(s.min),
                self.format(s.max)
            ),
            None => "–".to_owned(),
        }
    }
}

/// One line of the table: a metric of a workload, its values per server.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    workload: String,
    metric: String,
    unit: Unit,
    target: String,
    values: [Vec<f64>; 3],
}

/// Median, min and max of some runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    /// `None` for no values. The median of an even count is the mean of the middle two.
    pub(crate) fn of(values: &[f64]) -> Option<Spread> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n == 0 {
            return None;
        }
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

/// Every measurement, in the order the rows were first recorded.
#[derive(Debug, Default)]
pub(crate) struct Results {
    rows: Vec<Row>,
}

impl Results {
    /// Records one run's `value` of `metric` for `kind`. `target` (may be empty) is passerelle's
    /// target for this metric, shown in the table.
    pub(crate) fn record(
        &mut self,
        workload: &str,
        metric: &str,
        unit: Unit,
        target: &str,
        kind: Kind,
        value: f64,
    ) {
        let index = match self
            .rows
            .iter()
            .position(|row| row.workload == workload && row.metric == metric)
        {
            Some(index) => index,
            None => {
                self.rows.push(Row {
                    workload: workload.to_owned(),
                    metric: metric.to_owned(),
                    unit,
                    target: target.to_owned(),
                    values: Default::default(),
                });
                self.rows.len() - 1
            }
        };
        self.rows[index].values[kind.index()].push(value);
    }

    /// The Markdown table: one column per server (median, then min–max), the ratios of
    /// passerelle's median to each reference's, and the target.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| workload | metric | JS reference | samod | passerelle | passerelle / JS | passerelle / samod | target |\n",
        );
        out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for row in &self.rows {
            let spreads = row.values.each_ref().map(|values| Spread::of(values));
            let cell = |spread: Option<Spread>| row.unit.cell(spread);
            let ratio =
                |reference: Option<Spread>| match (spreads[Kind::Passerelle.index()], reference) {
                    (Some(ours), Some(theirs)) if theirs.median > 0.0 => {
                        format!("{:.2}×", ours.median / theirs.median)
                    }
                    _ => "–".to_owned(),
                };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                row.workload,
                row.metric,
                cell(spreads[Kind::Js.index()]),
                cell(spreads[Kind::Samod.index()]),
                cell(spreads[Kind::Passerelle.index()]),
                ratio(spreads[Kind::Js.index()]),
                ratio(spreads[Kind::Samod.index()]),
                if row.target.is_empty() {
                    ""
                } else {
                    &row.target
                },
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_median_and_the_extremes() {
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(
            Spread::of(&[3.0, 1.0, 2.0]),
            Some(Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            })
        );
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
    }

    #[test]
    fn the_table_shows_medians_spreads_and_ratios() {
        let mut results = Results::default();
        for (kind, values) in [
            (Kind::Js, [6.0, 6.5, 7.0]),
            (Kind::Passerelle, [0.5, 0.6, 0.7]),
        ] {
            for value in values {
                results.record(
                    "1. create",
                    "server CPU",
                    Unit::Seconds,
                    "≤ 0.63 s",
                    kind,
                    value,
                );
            }
        }
        let table = results.table();
        let row = table.lines().nth(2).unwrap();
        assert_eq!(
            row,
            "| 1. create | server CPU | 6.50 s (6.00–7.00) | – | 0.60 s (0.50–0.70) | 0.09× | – | ≤ 0.63 s |"
        );
    }
}
