//! `passerelle report …` and `passerelle export csv …`: the replica's documents handed to
//! `passerelle-report`, and what it returns written to standard output or `--output FILE`.
//!
//! - `report periodic --project P --period 2026-Q3 [--format md|html|xlsx|docx] [--submitted]`:
//!   the periodic report from the documents as they are, or (`--submitted`) the latest
//!   submitted version, regenerated from the heads it recorded.
//! - `report mission M [--format md|html]`: a mission report.
//! - `report submit --project P --period Q`: records the heads of every document the report
//!   reads in a report document (`type: report`) of the replica, which syncs to Lille like
//!   any other; prints its id.
//! - `report show ID`: regenerates a submitted report by its id.
//! - `export csv projects|actors|calls|actions`: a collection as CSV.
//!
//! A submitted report records the heads of the documents as stored (before any in-memory
//! migration), so the same changes exist on every replica that has synced; regenerating
//! forks each document at those heads, then reads it as the model does.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use automerge::AutoCommit;
use clap::{Subcommand, ValueEnum};
use passerelle_client::{ClientError, Replica};
use passerelle_core::DocumentId;
use passerelle_model::{DocType, Document};
use passerelle_report::{
    Lang as ReportLang, Period, PeriodicReport, REPORT_TYPE, Source, Sources, Submission,
    Submitted, at_heads,
};

use crate::lang::Lang;
use crate::programme::{Ctx, user_name};

/// `passerelle report …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ReportCommand {
    /// The periodic report to Lille on a project (12 sections: identification, summary,
    /// context, activities, logframe, partners, difficulties, lessons, communication,
    /// finances, next period, annexed mission reports).
    Periodic {
        /// The project's id or code.
        #[arg(long)]
        project: String,
        /// The period: YYYY-QN (2026-Q3), YYYY-SN (2026-S1) or YYYY (2026).
        #[arg(long)]
        period: String,
        /// md or html (text, to standard output by default), xlsx (the financial workbook)
        /// or docx (Word); the binary formats need --output or a redirection.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The latest submitted version, as it was submitted, whatever was edited since.
        #[arg(long)]
        submitted: bool,
    },
    /// A mission report: delegation, agenda as held, minutes, decisions, follow-up actions.
    Mission {
        /// The mission's id.
        mission: String,
        /// md or html.
        #[arg(long, value_enum, default_value_t = TextFormat::Md)]
        format: TextFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Submit a periodic report: freezes it by recording the heads of every document it
    /// reads in a report document, which syncs like any other. Prints its id.
    Submit {
        /// The project's id or code.
        #[arg(long)]
        project: String,
        /// The period: YYYY-QN, YYYY-SN or YYYY.
        #[arg(long)]
        period: String,
    },
    /// Regenerate a submitted report by its id (as `report submit` printed it).
    Show {
        /// The report document's id.
        id: String,
        /// md, html, xlsx or docx.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// A periodic report's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Md,
    Html,
    Xlsx,
    Docx,
}

impl Format {
    /// Whether the format is binary (never written to a terminal).
    fn binary(self) -> bool {
        matches!(self, Format::Xlsx | Format::Docx)
    }
}

/// A mission report's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TextFormat {
    Md,
    Html,
}

/// This module's messages: key, French, English.
const MESSAGES: &[(&str, &str, &str)] = &[
    (
        "bad_period",
        "--period : « {0} » n'est pas une période : attendu AAAA-TN (2026-Q3), AAAA-SN (2026-S1) ou AAAA (2026)",
        "--period: `{0}` is not a period: expected YYYY-QN (2026-Q3), YYYY-SN (2026-S1) or YYYY (2026)",
    ),
    (
        "binary_to_terminal",
        "pas d'écriture d'un fichier binaire (xlsx, docx) sur le terminal : donnez --output FICHIER ou redirigez la sortie",
        "not writing a binary file (xlsx, docx) to a terminal; use --output FILE or redirect standard output",
    ),
    (
        "no_submitted",
        "aucun rapport soumis pour {0} sur {1} ; soumettez-le avec `passerelle report submit --project {0} --period {1}`",
        "no submitted report of {0} for {1}; submit one with `passerelle report submit --project {0} --period {1}`",
    ),
    (
        "not_a_report",
        "le document {0} n'est pas un rapport soumis ({1})",
        "document {0} is not a submitted report ({1})",
    ),
    (
        "missing_source",
        "le rapport lit le document {0}, absent de cette réplique ; synchronisez d'abord",
        "the report reads document {0}, which this replica does not hold; sync first",
    ),
    (
        "submitted",
        "rapport {0} {1} soumis et figé ({2} documents) ; partira à la prochaine synchronisation",
        "report {0} {1} submitted and frozen ({2} documents); will sync when the server is reachable",
    ),
    (
        "bad_collection",
        "export csv : « {0} » n'est pas une collection : projects, actors, calls ou actions",
        "export csv: `{0}` is not a collection: projects, actors, calls or actions",
    ),
    (
        "cannot_write",
        "impossible d'écrire {0}",
        "cannot write {0}",
    ),
];

/// The message `key` in the current language, `{0}`, `{1}`… filled with `args`.
fn say(key: &str, args: &[&dyn std::fmt::Display]) -> String {
    let (_, fr, en) = MESSAGES
        .iter()
        .find(|(k, _, _)| *k == key)
        .copied()
        .unwrap_or((key, key, key));
    let mut out = match Lang::current() {
        Lang::Fr => fr,
        Lang::En => en,
    }
    .to_owned();
    for (i, arg) in args.iter().enumerate() {
        out = out.replace(&format!("{{{i}}}"), &arg.to_string());
    }
    out
}

fn report_lang() -> ReportLang {
    match Lang::current() {
        Lang::Fr => ReportLang::Fr,
        Lang::En => ReportLang::En,
    }
}

fn parse_period(text: &str) -> anyhow::Result<Period> {
    text.trim().parse::<Period>().map_err(|_| {
        let shown: String = text.chars().take(40).collect();
        anyhow!(say("bad_period", &[&shown]))
    })
}

/// Runs a report command on the replica in `home`.
pub(crate) fn run(command: ReportCommand, home: &Path) -> anyhow::Result<()> {
    match command {
        ReportCommand::Periodic {
            project,
            period,
            format,
            output,
            submitted,
        } => {
            let period = parse_period(&period)?;
            let mut ctx = Ctx::open(home, false)?;
            let project_id = ctx.load(&project, "--project", Some(DocType::Project))?.id;
            if submitted {
                let (report_id, submission) =
                    latest_submission(&mut ctx.replica, project_id, period)?
                        .ok_or_else(|| anyhow!(say("no_submitted", &[&project, &period])))?;
                let bytes = regenerate(&mut ctx.replica, report_id, &submission, format)?;
                return write_output(&bytes, output.as_deref(), format.binary());
            }
            let sources = live_sources(&mut ctx.replica, project_id)?;
            let report = PeriodicReport::new(&sources, period, None);
            let bytes = render(&report, format)?;
            write_output(&bytes, output.as_deref(), format.binary())
        }
        ReportCommand::Mission {
            mission,
            format,
            output,
        } => {
            let mut ctx = Ctx::open(home, false)?;
            let loaded = ctx.load(&mission, "mission", Some(DocType::Mission))?;
            let Document::Mission(typed) = loaded.typed else {
                unreachable!("Ctx::load checked the type")
            };
            let source = Source::new(loaded.id.to_string(), *typed);
            let document = passerelle_report::mission_document(&source, report_lang());
            let text = match format {
                TextFormat::Md => passerelle_report::to_markdown(&document),
                TextFormat::Html => passerelle_report::to_html(&document),
            };
            write_output(text.as_bytes(), output.as_deref(), false)
        }
        ReportCommand::Submit { project, period } => {
            let period = parse_period(&period)?;
            let mut ctx = Ctx::open(home, false)?;
            let project_id = ctx.load(&project, "--project", Some(DocType::Project))?.id;
            let sources = live_sources(&mut ctx.replica, project_id)?;
            let mut heads = std::collections::BTreeMap::new();
            for id in sources.read_ids() {
                let Stored(mut doc) = stored(&mut ctx.replica, id)?;
                heads.insert(id.to_owned(), doc.get_heads());
            }
            let submission = Submission {
                project: project_id.to_string(),
                period,
                by: user_name(home),
                at: jiff::Timestamp::now().round(jiff::Unit::Second)?,
                sources: heads,
            };
            let mut json = submission.to_json();
            json["title"] = format!("{} {period}", sources.project.doc.code).into();
            let id = ctx.replica.create(&json)?;
            eprintln!(
                "{}",
                say(
                    "submitted",
                    &[
                        &sources.project.doc.code,
                        &period,
                        &submission.sources.len()
                    ]
                )
            );
            println!("{id}");
            Ok(())
        }
        ReportCommand::Show { id, format, output } => {
            let mut ctx = Ctx::open(home, false)?;
            let report_id: DocumentId = id
                .trim()
                .parse()
                .map_err(|_| anyhow!(say("not_a_report", &[&id.trim(), &"id"])))?;
            let json = match ctx.replica.get_json(report_id) {
                Ok(json) => json,
                Err(ClientError::UnknownDocument(_)) => {
                    bail!(say("not_a_report", &[&report_id, &"?"]))
                }
                Err(error) => return Err(error.into()),
            };
            let submission = Submission::from_json(&json)
                .map_err(|e| anyhow!(say("not_a_report", &[&report_id, &e])))?;
            let bytes = regenerate(&mut ctx.replica, report_id, &submission, format)?;
            write_output(&bytes, output.as_deref(), format.binary())
        }
    }
}

/// A document as stored in the replica (not migrated), by its id as text.
struct Stored(AutoCommit);

fn stored(replica: &mut Replica, id: &str) -> anyhow::Result<Stored> {
    let document_id: DocumentId = id
        .parse()
        .map_err(|_| anyhow!(say("missing_source", &[&id])))?;
    let bytes = match replica.export_automerge(document_id) {
        Ok(bytes) => bytes,
        Err(ClientError::UnknownDocument(_)) => bail!(say("missing_source", &[&id])),
        Err(error) => return Err(error.into()),
    };
    Ok(Stored(
        AutoCommit::load(&bytes).with_context(|| format!("document {id}"))?,
    ))
}

/// Every programme document of the replica a report may read (projects other than
/// `project`, funding calls and documents that do not read as their type are left out).
fn live_sources(replica: &mut Replica, project: DocumentId) -> anyhow::Result<Sources> {
    let mut documents = Vec::new();
    for summary in replica.list()? {
        let wanted = match summary.doc_type.as_deref() {
            Some("project") => summary.id == project,
            Some("mission" | "journal" | "actor" | "news_item") => true,
            _ => false,
        };
        if !wanted {
            continue;
        }
        let id = summary.id.to_string();
        let Stored(mut doc) = stored(replica, &id)?;
        match passerelle_model::open(&mut doc) {
            Ok(_) => documents.push((id, doc)),
            Err(error) if summary.id != project => {
                tracing::warn!(document = %id, %error, "left out of the report");
            }
            Err(error) => return Err(crate::programme::model_error(error)),
        }
    }
    Ok(Sources::from_documents(&project.to_string(), documents)?)
}

/// The latest report submitted for `project` and `period` in this replica.
fn latest_submission(
    replica: &mut Replica,
    project: DocumentId,
    period: Period,
) -> anyhow::Result<Option<(DocumentId, Submission)>> {
    let mut found: Option<(DocumentId, Submission)> = None;
    for summary in replica.list()? {
        if summary.doc_type.as_deref() != Some(REPORT_TYPE) {
            continue;
        }
        let Ok(submission) = Submission::from_json(&replica.get_json(summary.id)?) else {
            continue;
        };
        if submission.project != project.to_string() || submission.period != period {
            continue;
        }
        let later = found
            .as_ref()
            .is_none_or(|(id, s)| (submission.at, summary.id.to_string()) > (s.at, id.to_string()));
        if later {
            found = Some((summary.id, submission));
        }
    }
    Ok(found)
}

/// The submitted report, from the documents at the heads it recorded.
fn regenerate(
    replica: &mut Replica,
    report_id: DocumentId,
    submission: &Submission,
    format: Format,
) -> anyhow::Result<Vec<u8>> {
    let mut documents = Vec::new();
    for (id, heads) in &submission.sources {
        let Stored(mut doc) = stored(replica, id)?;
        documents.push((id.clone(), at_heads(&mut doc, heads)?));
    }
    let sources = Sources::from_documents(&submission.project, documents)?;
    let submitted = Submitted {
        report_id: report_id.to_string(),
        by: submission.by.clone(),
        at: submission.at,
    };
    render(
        &PeriodicReport::new(&sources, submission.period, Some(&submitted)),
        format,
    )
}

fn render(report: &PeriodicReport<'_>, format: Format) -> anyhow::Result<Vec<u8>> {
    let lang = report_lang();
    Ok(match format {
        Format::Md => passerelle_report::to_markdown(&report.document(lang)).into_bytes(),
        Format::Html => passerelle_report::to_html(&report.document(lang)).into_bytes(),
        Format::Xlsx => report.workbook(lang)?,
        Format::Docx => passerelle_report::to_docx(&report.document(lang))?,
    })
}

/// Writes `bytes` to `output`, else to standard output (binary never to a terminal).
fn write_output(bytes: &[u8], output: Option<&Path>, binary: bool) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| say("cannot_write", &[&path.display()]))?
        }
        None => {
            if binary && std::io::stdout().is_terminal() {
                bail!(say("binary_to_terminal", &[]));
            }
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            stdout.flush()?;
        }
    }
    Ok(())
}

/// `passerelle export csv COLLECTION [--output FILE]`.
pub(crate) fn export_csv(
    home: &Path,
    collection: &str,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let want = match collection.trim() {
        "projects" => DocType::Project,
        "actors" => DocType::Actor,
        "calls" => DocType::FundingCall,
        "actions" => DocType::Mission,
        other => {
            let shown: String = other.chars().take(40).collect();
            bail!(say("bad_collection", &[&shown]))
        }
    };
    let mut ctx = Ctx::open(home, false)?;
    let loaded = ctx.all(Some(want))?;
    let mut projects = Vec::new();
    let mut actors = Vec::new();
    let mut calls = Vec::new();
    let mut missions = Vec::new();
    for l in loaded {
        let id = l.id.to_string();
        match l.typed {
            Document::Project(p) => projects.push(Source::new(id, *p)),
            Document::Actor(a) => actors.push(Source::new(id, a)),
            Document::FundingCall(c) => calls.push(Source::new(id, c)),
            Document::Mission(m) => missions.push(Source::new(id, *m)),
            _ => {}
        }
    }
    let bytes = match want {
        DocType::Project => passerelle_report::projects_csv(&projects)?,
        DocType::Actor => passerelle_report::actors_csv(&actors)?,
        DocType::FundingCall => passerelle_report::calls_csv(&calls)?,
        _ => passerelle_report::actions_csv(&missions)?,
    };
    write_output(&bytes, output, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_used_is_in_the_table_in_both_languages() {
        let source = include_str!("report_cli.rs");
        let call = ["say", "(\""].concat();
        for (at, _) in source.match_indices(&call) {
            let key = source[at + call.len()..].split('"').next().unwrap();
            assert!(MESSAGES.iter().any(|(k, _, _)| *k == key), "{key}");
        }
        for (key, fr, en) in MESSAGES {
            assert_eq!(fr.matches('{').count(), en.matches('{').count(), "{key}");
        }
    }
}
