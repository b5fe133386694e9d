//! A report as Markdown (CommonMark with pipe tables). People's text is escaped, so a `*`,
//! a `|` or a `<script>` in a note stays text.

use std::fmt::Write as _;

use crate::document::{Block, Cell, Line, ReportDocument, Section, per_mille_text};
use crate::labels::Lang;

/// Writes `report` as Markdown.
pub fn to_markdown(report: &ReportDocument) -> String {
    let lang = if report.lang == "en" {
        Lang::En
    } else {
        Lang::Fr
    };
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", line_text(&report.title));
    for section in &report.sections {
        write_section(&mut out, section, 2, lang);
    }
    out
}

fn write_section(out: &mut String, section: &Section, depth: usize, lang: Lang) {
    let _ = writeln!(
        out,
        "{} {}\n",
        "#".repeat(depth.min(6)),
        line_text(&section.heading)
    );
    for block in &section.blocks {
        match block {
            Block::Paragraph(span) => {
                let _ = writeln!(out, "{}\n", paragraph(&span.text));
            }
            Block::Fields(fields) => {
                for (label, value) in fields {
                    let _ = writeln!(out, "- **{}** : {}", escape(label), line_text(value));
                }
                out.push('\n');
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(out, "- {}", line_text(item));
                }
                out.push('\n');
            }
            Block::Table(table) => {
                let row = |cells: Vec<String>| format!("| {} |", cells.join(" | "));
                let _ = writeln!(
                    out,
                    "{}",
                    row(table.headers.iter().map(|h| escape(h)).collect())
                );
                let aligns = table
                    .headers
                    .iter()
                    .enumerate()
                    .map(|(i, _)| {
                        let numeric = table.rows.iter().any(|r| {
                            matches!(
                                r.get(i),
                                Some(Cell::Money(_) | Cell::Number(_) | Cell::PerMille(_))
                            )
                        });
                        if numeric { "---:" } else { "---" }.to_owned()
                    })
                    .collect();
                let _ = writeln!(out, "{}", row(aligns));
                for cells in &table.rows {
                    let _ = writeln!(
                        out,
                        "{}",
                        row(cells.iter().map(|c| cell_text(c, lang, true)).collect())
                    );
                }
                out.push('\n');
            }
            Block::Nothing(text) => {
                let _ = writeln!(out, "_{}_\n", escape(text));
            }
            Block::Note(text) => {
                let _ = writeln!(out, "{}\n", escape(text));
            }
            Block::Section(sub) => write_section(out, sub, depth + 1, lang),
        }
    }
}

/// A cell's text; `escaped` for Markdown.
pub(crate) fn cell_text(cell: &Cell, lang: Lang, escaped: bool) -> String {
    match cell {
        Cell::Text(line) if escaped => line_text(line).replace('\n', "<br>"),
        Cell::Text(line) => plain_line(line),
        Cell::Number(n) => n.clone(),
        Cell::Money(m) => lang.money(*m),
        Cell::PerMille(p) => per_mille_text(*p, if lang == Lang::Fr { ',' } else { '.' }),
        Cell::Date(d) => d.to_string(),
        Cell::Empty => String::new(),
    }
}

/// A line as plain text: spans in a language separated by ` / `, others run on.
pub(crate) fn plain_line(line: &Line) -> String {
    let mut out = String::new();
    let mut previous_in_language = false;
    for span in line {
        if previous_in_language && span.lang.is_some() {
            out.push_str(" / ");
        }
        out.push_str(&span.text);
        previous_in_language = span.lang.is_some();
    }
    out
}

fn line_text(line: &Line) -> String {
    escape(&plain_line(line)).replace('\n', " ")
}

/// People's text as paragraphs: blank lines kept, other line breaks kept as hard breaks.
fn paragraph(text: &str) -> String {
    text.lines()
        .map(|l| escape(l.trim_end()))
        .collect::<Vec<_>>()
        .join("\\\n")
        .replace("\\\n\\\n", "\n\n")
}

/// Escapes what Markdown would read as markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        let at_start = i == 0;
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '!'
        ) || (at_start && matches!(c, '-' | '+' | '='))
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(escape("a|b *c* <script>"), "a\\|b \\*c\\* \\<script\\>");
        assert_eq!(escape("- item"), "\\- item");
        assert_eq!(paragraph("one\ntwo\n\nthree"), "one\\\ntwo\n\nthree");
    }
}
