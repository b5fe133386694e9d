//! A report as a Word document (.docx, with `docx-rs`): the same sections, fields, lists and
//! tables as the Markdown and HTML, with Word's own heading styles so the navigation pane
//! and a table of contents work. Text goes in as text runs (docx-rs escapes it).

use std::io::Cursor;

use docx_rs::{
    BreakType, Docx, Paragraph, Run, Style, StyleType, Table as DocxTable, TableCell, TableRow,
};

use crate::document::{Block, Cell, Line, ReportDocument, Section};
use crate::error::ReportError;
use crate::labels::Lang;
use crate::markdown::{cell_text, plain_line};

/// Writes `report` as a .docx file.
pub fn to_docx(report: &ReportDocument) -> Result<Vec<u8>, ReportError> {
    let lang = if report.lang == "en" {
        Lang::En
    } else {
        Lang::Fr
    };
    let mut docx = Docx::new()
        .add_style(
            Style::new("Title", StyleType::Paragraph)
                .name("Title")
                .size(36)
                .bold(),
        )
        .add_style(
            Style::new("Heading1", StyleType::Paragraph)
                .name("heading 1")
                .size(30)
                .bold(),
        )
        .add_style(
            Style::new("Heading2", StyleType::Paragraph)
                .name("heading 2")
                .size(26)
                .bold(),
        )
        .add_style(
            Style::new("Heading3", StyleType::Paragraph)
                .name("heading 3")
                .size(24)
                .bold(),
        )
        .add_style(
            Style::new("Heading4", StyleType::Paragraph)
                .name("heading 4")
                .size(22)
                .bold(),
        )
        .add_paragraph(
            Paragraph::new()
                .style("Title")
                .add_run(Run::new().add_text(plain_line(&report.title))),
        );
    for section in &report.sections {
        docx = write_section(docx, section, 1, lang);
    }
    let mut out = Cursor::new(Vec::new());
    docx.build()
        .pack(&mut out)
        .map_err(|e| ReportError::Docx(e.to_string()))?;
    Ok(out.into_inner())
}

fn text_runs(mut paragraph: Paragraph, text: &str) -> Paragraph {
    for (i, line) in text.lines().enumerate() {
        let mut run = Run::new();
        if i > 0 {
            run = run.add_break(BreakType::TextWrapping);
        }
        paragraph = paragraph.add_run(run.add_text(line));
    }
    paragraph
}

fn line_paragraph(line: &Line) -> Paragraph {
    text_runs(Paragraph::new(), &plain_line(line))
}

fn write_section(mut docx: Docx, section: &Section, depth: usize, lang: Lang) -> Docx {
    let style = format!("Heading{}", depth.min(4));
    docx = docx.add_paragraph(
        Paragraph::new()
            .style(&style)
            .add_run(Run::new().add_text(plain_line(&section.heading))),
    );
    for block in &section.blocks {
        docx = match block {
            Block::Paragraph(span) => docx.add_paragraph(text_runs(Paragraph::new(), &span.text)),
            Block::Fields(fields) => fields.iter().fold(docx, |docx, (label, value)| {
                let paragraph =
                    Paragraph::new().add_run(Run::new().add_text(format!("{label} : ")).bold());
                docx.add_paragraph(text_runs(paragraph, &plain_line(value)))
            }),
            Block::List(items) => items.iter().fold(docx, |docx, item| {
                docx.add_paragraph(text_runs(
                    Paragraph::new().add_run(Run::new().add_text("• ")),
                    &plain_line(item),
                ))
            }),
            Block::Table(table) => {
                let header = TableRow::new(
                    table
                        .headers
                        .iter()
                        .map(|h| {
                            TableCell::new().add_paragraph(
                                Paragraph::new().add_run(Run::new().add_text(h).bold()),
                            )
                        })
                        .collect(),
                );
                let rows = table.rows.iter().map(|row| {
                    TableRow::new(
                        row.iter()
                            .map(|cell| {
                                let paragraph = match cell {
                                    Cell::Text(line) => line_paragraph(line),
                                    other => Paragraph::new().add_run(
                                        Run::new().add_text(cell_text(other, lang, false)),
                                    ),
                                };
                                TableCell::new().add_paragraph(paragraph)
                            })
                            .collect(),
                    )
                });
                docx.add_table(DocxTable::new(
                    std::iter::once(header).chain(rows).collect(),
                ))
            }
            Block::Nothing(text) => {
                docx.add_paragraph(Paragraph::new().add_run(Run::new().add_text(text).italic()))
            }
            Block::Note(text) => {
                docx.add_paragraph(Paragraph::new().add_run(Run::new().add_text(text)))
            }
            Block::Section(sub) => write_section(docx, sub, depth + 1, lang),
        };
    }
    docx
}
