//! Reports and exports of the cooperation programme: the periodic report to Lille, mission
//! reports, the financial workbook, CSV exports of the collections, and frozen (submitted)
//! reports.
//!
//! A pure library: typed documents of `passerelle-model` in, bytes out. No disk, no network,
//! no clock: the same documents give the same bytes, which is what makes a submitted report
//! reproducible. The CLI (`passerelle report …`, `passerelle export csv …`) loads the
//! documents from the replica and writes what this crate returns.
//!
//! ```
//! use passerelle_model::{Stamp, TypedDocument, Project, project};
//! use passerelle_report::{Lang, PeriodicReport, Source, Sources, to_markdown};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let stamp = Stamp::new("samira", "2026-07-01T09:00:00Z".parse()?);
//! let doc = project::new_project(&project::NewProject::new("PAED", "Plan énergie"), &stamp)?;
//! let sources = Sources::project(Source::new("doc-id", Project::read(&doc)?));
//! let report = PeriodicReport::new(&sources, "2026-Q3".parse()?, None);
//! let text = to_markdown(&report.document(Lang::Fr));
//! assert!(text.contains("## 10. Finances"));
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `period`: [`Period`] (`2026-Q3`, `2026-S1`, `2026`).
//! - `sources`: [`Sources`], the documents a report reads, and [`Submitted`].
//! - `periodic`: [`PeriodicReport`], the 12 sections and where each comes from;
//!   `mission_report`: [`mission_document`]; both build a [`ReportDocument`] (`document`).
//! - `markdown`, `html`, `docx`: [`to_markdown`], [`to_html`], [`to_docx`]; `workbook`: the .xlsx
//!   ([`PeriodicReport::workbook`]).
//! - `csv_export`: [`projects_csv`], [`actors_csv`], [`calls_csv`], [`actions_csv`].
//! - `freeze`: [`Submission`], the record of a submitted report, and [`at_heads`].
//! - `labels`: [`Lang`] and the French/English words; `error`: [`ReportError`].

mod attribution;
mod csv_export;
mod document;
mod docx;
mod error;
mod freeze;
mod html;
mod labels;
mod markdown;
mod mission_report;
mod period;
mod periodic;
mod sources;
mod workbook;

pub use csv_export::{Collection, actions_csv, actors_csv, calls_csv, projects_csv};
pub use document::{Block, Cell, Line, ReportDocument, Section, Span, Table};
pub use docx::to_docx;
pub use error::ReportError;
pub use freeze::{MAX_HEADS, MAX_SOURCES, REPORT_TYPE, Submission, at_heads};
pub use html::to_html;
pub use labels::Lang;
pub use markdown::to_markdown;
pub use mission_report::mission_document;
pub use period::{InvalidPeriod, Period};
pub use periodic::PeriodicReport;
pub use sources::{Source, Sources, Submitted};
pub use workbook::WorkbookError;
