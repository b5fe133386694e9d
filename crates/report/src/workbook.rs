//! The financial workbook of a periodic report (.xlsx, with `rust_xlsxwriter`), as AFD asks
//! for it: sheets for the logframe, the budget against spending by heading, co-financing by
//! funder, the expenses and the missions. Amounts and indicator values are numbers (the
//! currency in a column of its own), dates are dates, header rows are frozen. The file is
//! the same bytes for the same report: its creation time is the submission's (or the
//! period's last day for a draft), never the clock's.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use passerelle_model::{Currency, Money};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use crate::document::per_mille;
use crate::labels::Lang;
use crate::markdown::plain_line;
use crate::mission_report::{mission_title, status_text};
use crate::periodic::{HeadingAmounts, PeriodicReport};

/// A workbook that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the workbook: {0}")]
pub struct WorkbookError(#[from] XlsxError);

struct Formats {
    header: Format,
    date: Format,
    money: Format,
    percent: Format,
    text: Format,
}

fn excel_date(date: Date) -> Result<ExcelDateTime, XlsxError> {
    let year = u16::try_from(date.year()).unwrap_or(1900);
    ExcelDateTime::from_ymd(year, date.month() as u8, date.day() as u8)
}

fn amount(cents: i64) -> f64 {
    cents as f64 / 100.0
}

fn headers(
    sheet: &mut Worksheet,
    names: &[&str],
    widths: &[f64],
    f: &Formats,
) -> Result<(), XlsxError> {
    for (col, name) in names.iter().enumerate() {
        let col = col as u16;
        sheet.write_string_with_format(0, col, *name, &f.header)?;
        sheet.set_column_width(col, widths.get(col as usize).copied().unwrap_or(14.0))?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

fn write_text(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    text: &str,
    f: &Formats,
) -> Result<(), XlsxError> {
    if !text.is_empty() {
        sheet.write_string_with_format(row, col, text, &f.text)?;
    }
    Ok(())
}

/// A decimal as stored: a number when it reads as one, else text.
fn write_quantity(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    value: Option<&str>,
    f: &Formats,
) -> Result<(), XlsxError> {
    match value {
        None => Ok(()),
        Some(v) => match v.parse::<f64>() {
            Ok(n) if n.is_finite() => sheet.write_number(row, col, n).map(|_| ()),
            _ => write_text(sheet, row, col, v, f),
        },
    }
}

fn write_money(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cents: i64,
    f: &Formats,
) -> Result<(), XlsxError> {
    sheet.write_number_with_format(row, col, amount(cents), &f.money)?;
    Ok(())
}

fn write_date(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    date: Option<Date>,
    f: &Formats,
) -> Result<(), XlsxError> {
    if let Some(date) = date {
        sheet.write_datetime_with_format(row, col, excel_date(date)?, &f.date)?;
    }
    Ok(())
}

impl PeriodicReport<'_> {
    /// The workbook, labels in `lang`.
    pub fn workbook(&self, lang: Lang) -> Result<Vec<u8>, WorkbookError> {
        Ok(self.write_workbook(lang)?)
    }

    fn write_workbook(&self, lang: Lang) -> Result<Vec<u8>, XlsxError> {
        let l = |key: &str| lang.label(key);
        let f = Formats {
            header: Format::new()
                .set_bold()
                .set_background_color("#EEF3F7")
                .set_text_wrap(),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            money: Format::new().set_num_format("#,##0.00"),
            percent: Format::new().set_num_format("0.0%"),
            text: Format::new().set_text_wrap(),
        };
        let mut workbook = Workbook::new();
        let created = match self.submitted {
            Some(s) => {
                let dt = s.at.to_zoned(TimeZone::UTC).datetime();
                excel_date(dt.date())?.and_hms(
                    dt.hour() as u16,
                    dt.minute() as u8,
                    dt.second() as f64,
                )?
            }
            None => excel_date(self.period.end())?,
        };
        let project = &self.sources.project.doc;
        let title = match project.title.preferred(&lang.preference()) {
            Some(t) => format!("{} — {} — {}", l("periodic_title"), self.period, t),
            None => format!(
                "{} — {} — {}",
                l("periodic_title"),
                self.period,
                project.code
            ),
        };
        workbook.set_properties(
            &DocProperties::new()
                .set_title(title)
                .set_subject(project.code.clone())
                .set_creation_datetime(&created),
        );

        // Logframe.
        let sheet = workbook.add_worksheet();
        sheet.set_name(l("sheet_logframe"))?;
        headers(
            sheet,
            &[
                l("h_level"),
                l("h_result"),
                l("h_indicator"),
                l("h_unit"),
                l("h_baseline"),
                l("h_target"),
                l("h_current"),
                l("h_period"),
                l("h_source"),
            ],
            &[12.0, 40.0, 36.0, 10.0, 12.0, 12.0, 12.0, 10.0, 30.0],
            &f,
        )?;
        for (i, row) in self.indicators.iter().enumerate() {
            let r = i as u32 + 1;
            write_text(sheet, r, 0, &lang.word(row.level.as_str()), &f)?;
            write_text(sheet, r, 1, &row.statement, &f)?;
            write_text(sheet, r, 2, &row.name, &f)?;
            write_text(sheet, r, 3, &row.unit, &f)?;
            write_quantity(sheet, r, 4, row.baseline.as_deref(), &f)?;
            write_quantity(sheet, r, 5, row.target.as_deref(), &f)?;
            write_quantity(
                sheet,
                r,
                6,
                row.current.as_ref().map(|(v, _)| v.as_str()),
                &f,
            )?;
            write_text(
                sheet,
                r,
                7,
                row.current.as_ref().map_or("", |(_, p)| p.as_str()),
                &f,
            )?;
            write_text(sheet, r, 8, &row.source, &f)?;
        }

        // Budget against spending, by heading; one row per currency, totals per currency.
        let sheet = workbook.add_worksheet();
        sheet.set_name(l("sheet_budget"))?;
        headers(
            sheet,
            &[
                l("h_heading"),
                l("h_currency"),
                l("h_planned"),
                l("h_spent_period"),
                l("h_spent_to_date"),
                l("h_percent"),
            ],
            &[32.0, 9.0, 15.0, 15.0, 15.0, 11.0],
            &f,
        )?;
        let mut r = 1;
        let mut totals: std::collections::BTreeMap<Currency, (i64, i64, i64)> = Default::default();
        let mut rows: Vec<(String, Currency, i64, i64, i64)> = Vec::new();
        for (heading, by_currency) in &self.headings {
            for (currency, a) in by_currency {
                let t = totals.entry(*currency).or_default();
                t.0 = t.0.saturating_add(a.planned);
                t.1 = t.1.saturating_add(a.spent_in_period);
                t.2 = t.2.saturating_add(a.spent_to_date);
                rows.push((
                    heading.clone(),
                    *currency,
                    a.planned,
                    a.spent_in_period,
                    a.spent_to_date,
                ));
            }
        }
        for (currency, (p, s, d)) in &totals {
            rows.push((
                format!("{} {}", l("total"), currency.code()),
                *currency,
                *p,
                *s,
                *d,
            ));
        }
        for (heading, currency, planned, period, to_date) in rows {
            write_text(sheet, r, 0, &heading, &f)?;
            write_text(sheet, r, 1, currency.code(), &f)?;
            write_money(sheet, r, 2, planned, &f)?;
            write_money(sheet, r, 3, period, &f)?;
            write_money(sheet, r, 4, to_date, &f)?;
            if let Some(pm) = per_mille(to_date, planned) {
                sheet.write_number_with_format(r, 5, pm as f64 / 1000.0, &f.percent)?;
            }
            r += 1;
        }

        // Co-financing by funder, spending attributed pro rata of the shares; one block of
        // rows per currency with what no share covers and a total.
        let sheet = workbook.add_worksheet();
        sheet.set_name(l("sheet_funders"))?;
        headers(
            sheet,
            &[
                l("h_funder"),
                l("h_currency"),
                l("h_requested"),
                l("h_granted"),
                l("h_received"),
                l("h_funder_planned"),
                l("h_spent_period"),
                l("h_spent_to_date"),
                l("h_percent"),
            ],
            &[32.0, 9.0, 15.0, 15.0, 15.0, 15.0, 15.0, 15.0, 11.0],
            &f,
        )?;
        let mut r = 1;
        for block in self.funder_rows() {
            let code = block.currency.code();
            let spent = |sheet: &mut Worksheet, r: u32, a: &HeadingAmounts| {
                write_money(sheet, r, 5, a.planned, &f)?;
                write_money(sheet, r, 6, a.spent_in_period, &f)?;
                write_money(sheet, r, 7, a.spent_to_date, &f)?;
                if let Some(pm) = per_mille(a.spent_to_date, a.planned) {
                    sheet.write_number_with_format(r, 8, pm as f64 / 1000.0, &f.percent)?;
                }
                Ok::<(), XlsxError>(())
            };
            for (funder, a) in &block.funders {
                write_text(sheet, r, 0, funder, &f)?;
                write_text(sheet, r, 1, code, &f)?;
                write_money(sheet, r, 2, a.requested, &f)?;
                write_money(sheet, r, 3, a.granted, &f)?;
                write_money(sheet, r, 4, a.received, &f)?;
                let amounts = HeadingAmounts {
                    planned: a.planned(),
                    spent_in_period: a.spent_in_period,
                    spent_to_date: a.spent_to_date,
                };
                spent(sheet, r, &amounts)?;
                r += 1;
            }
            if let Some(u) = &block.unattributed {
                write_text(sheet, r, 0, l("unattributed"), &f)?;
                write_text(sheet, r, 1, code, &f)?;
                spent(sheet, r, u)?;
                r += 1;
            }
            write_text(sheet, r, 0, &format!("{} {code}", l("total")), &f)?;
            write_text(sheet, r, 1, code, &f)?;
            spent(sheet, r, &block.total)?;
            r += 1;
        }
        if r > 1 {
            // The rule, a row below the table.
            sheet.write_string(r + 1, 0, l("funder_rule"))?;
        }

        // Expenses up to the period's end.
        let sheet = workbook.add_worksheet();
        sheet.set_name(l("sheet_expenses"))?;
        headers(
            sheet,
            &[
                l("h_date"),
                l("h_heading"),
                l("h_label"),
                l("h_payee"),
                l("h_amount"),
                l("h_currency"),
            ],
            &[11.0, 28.0, 28.0, 24.0, 14.0, 9.0],
            &f,
        )?;
        for (i, e) in self.expenses.iter().enumerate() {
            let r = i as u32 + 1;
            write_date(sheet, r, 0, Some(e.date), &f)?;
            write_text(sheet, r, 1, &e.heading, &f)?;
            write_text(sheet, r, 2, &e.label, &f)?;
            write_text(sheet, r, 3, &e.payee, &f)?;
            let Money { cents, currency } = e.amount;
            write_money(sheet, r, 4, cents, &f)?;
            write_text(sheet, r, 5, currency.code(), &f)?;
        }

        // Missions of the period.
        let sheet = workbook.add_worksheet();
        sheet.set_name(l("sheet_missions"))?;
        headers(
            sheet,
            &[
                l("h_mission"),
                l("h_direction"),
                l("h_start"),
                l("h_end"),
                l("h_status"),
                l("f_document"),
            ],
            &[40.0, 16.0, 11.0, 11.0, 14.0, 30.0],
            &f,
        )?;
        let preferred = lang.preference();
        for (i, m) in self.missions.iter().enumerate() {
            let r = i as u32 + 1;
            write_text(
                sheet,
                r,
                0,
                &plain_line(&mission_title(&m.doc, &preferred)),
                &f,
            )?;
            write_text(
                sheet,
                r,
                1,
                &m.doc
                    .direction
                    .map(|d| lang.word(d.as_str()))
                    .unwrap_or_default(),
                &f,
            )?;
            write_date(sheet, r, 2, m.doc.start.as_ref().map(|d| *d.value()), &f)?;
            write_date(sheet, r, 3, m.doc.end.as_ref().map(|d| *d.value()), &f)?;
            write_text(sheet, r, 4, &status_text(&m.doc, lang), &f)?;
            write_text(sheet, r, 5, &m.id, &f)?;
        }

        workbook.save_to_buffer()
    }
}
