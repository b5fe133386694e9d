//! A report as a Word document (.docx, with `docx-rs`): the same sections, fields, lists and
//! tables as the Markdown and HTML, with Word's own heading styles so the navigation pane
//! and a table of contents work. Text goes in as text runs (docx-rs escapes it). A paragraph
//! whose text is mostly Arabic is a right-to-left paragraph (`w:bidi`).

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
        .add_paragraph(directed(
            Paragraph::new()
                .style("Title")
                .add_run(Run::new().add_text(plain_line(&report.title))),
            &plain_line(&report.title),
        ));
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
    let text = plain_line(line);
    directed(text_runs(Paragraph::new(), &text), &text)
}

/// Whether most letters of `text` are Arabic (digits, spaces and punctuation not counted).
pub(crate) fn mostly_arabic(text: &str) -> bool {
    let (mut letters, mut arabic) = (0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        if matches!(c,
            '\u{0600}'..='\u{06FF}'
            | '\u{0750}'..='\u{077F}'
            | '\u{08A0}'..='\u{08FF}'
            | '\u{FB50}'..='\u{FDFF}'
            | '\u{FE70}'..='\u{FEFF}')
        {
            arabic += 1;
        }
    }
    arabic * 2 > letters
}

/// A paragraph whose text (`text`, all of it) is mostly Arabic gets Word's right-to-left
/// paragraph property (`w:bidi`): it starts on the right and its runs read right to left.
fn directed(mut paragraph: Paragraph, text: &str) -> Paragraph {
    if mostly_arabic(text) {
        paragraph.property = paragraph.property.bidi(true);
    }
    paragraph
}

fn write_section(mut docx: Docx, section: &Section, depth: usize, lang: Lang) -> Docx {
    let style = format!("Heading{}", depth.min(4));
    let heading = plain_line(&section.heading);
    docx = docx.add_paragraph(directed(
        Paragraph::new()
            .style(&style)
            .add_run(Run::new().add_text(&heading)),
        &heading,
    ));
    for block in &section.blocks {
        docx = match block {
            Block::Paragraph(span) => docx.add_paragraph(directed(
                text_runs(Paragraph::new(), &span.text),
                &span.text,
            )),
            Block::Fields(fields) => fields.iter().fold(docx, |docx, (label, value)| {
                let label = format!("{label} : ");
                let value = plain_line(value);
                let paragraph = Paragraph::new().add_run(Run::new().add_text(&label).bold());
                docx.add_paragraph(directed(
                    text_runs(paragraph, &value),
                    &format!("{label}{value}"),
                ))
            }),
            Block::List(items) => items.iter().fold(docx, |docx, item| {
                let item = plain_line(item);
                docx.add_paragraph(directed(
                    text_runs(Paragraph::new().add_run(Run::new().add_text("• ")), &item),
                    &item,
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

#[cfg(test)]
mod tests {
    use super::mostly_arabic;

    #[test]
    fn a_text_is_mostly_arabic_by_its_letters() {
        assert!(mostly_arabic("مخطط العمل للطاقة المستدامة لوجدة"));
        assert!(mostly_arabic(
            "Titre (ar) : مخطط العمل للطاقة المستدامة لوجدة"
        ));
        assert!(!mostly_arabic("Plan d'action — خطة"));
        assert!(!mostly_arabic("2026-09-25 12 000,00"));
        assert!(!mostly_arabic(""));
    }
}
