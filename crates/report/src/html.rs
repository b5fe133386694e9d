//! A report as one self-contained HTML page: inline CSS, nothing fetched (a
//! Content-Security-Policy says so to the browser), every piece of people's text escaped.
//! Arabic text carries `lang="ar" dir="rtl"`; other free text `dir="auto"`, so an Arabic
//! journal entry or minutes also read right-to-left.

use std::fmt::Write as _;

use crate::document::{Block, Cell, Line, ReportDocument, Section};
use crate::labels::Lang;
use crate::markdown::{cell_text, plain_line};

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','Noto Naskh Arabic',sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45}\
h1{font-size:1.6rem;border-bottom:2px solid #1b4f72;padding-bottom:.3rem}\
h2{font-size:1.3rem;color:#1b4f72;margin-top:2rem}\
h3{font-size:1.1rem}h4,h5,h6{font-size:1rem}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}\
th,td{border:1px solid #bbb;padding:.25rem .45rem;vertical-align:top;text-align:start}\
th{background:#eef3f7}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}\
p.nothing{font-style:italic;color:#555}p.text{white-space:pre-wrap}\
[dir=rtl]{font-family:'Noto Naskh Arabic','Amiri','Arial',sans-serif}\
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table{break-inside:auto}}";

/// Writes `report` as an HTML page.
pub fn to_html(report: &ReportDocument) -> String {
    let lang = if report.lang == "en" {
        Lang::En
    } else {
        Lang::Fr
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        report.lang,
        escape(&plain_line(&report.title)),
        line_html(&report.title)
    );
    for section in &report.sections {
        write_section(&mut out, section, 2, lang);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn write_section(out: &mut String, section: &Section, depth: usize, lang: Lang) {
    let h = depth.min(6);
    let _ = writeln!(
        out,
        "<section>\n<h{h}>{}</h{h}>",
        line_html(&section.heading)
    );
    for block in &section.blocks {
        match block {
            Block::Paragraph(span) => {
                let dir = if span.is_rtl() {
                    " lang=\"ar\" dir=\"rtl\"".to_owned()
                } else {
                    match span.lang {
                        Some(code) if code != lang.code() => {
                            format!(" lang=\"{code}\" dir=\"auto\"")
                        }
                        _ => " dir=\"auto\"".to_owned(),
                    }
                };
                let _ = writeln!(out, "<p class=\"text\"{dir}>{}</p>", escape(&span.text));
            }
            Block::Fields(fields) => {
                out.push_str("<dl>\n");
                for (label, value) in fields {
                    let _ = writeln!(
                        out,
                        "<dt>{}</dt><dd dir=\"auto\">{}</dd>",
                        escape(label),
                        line_html(value)
                    );
                }
                out.push_str("</dl>\n");
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(out, "<li dir=\"auto\">{}</li>", line_html(item));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(table) => {
                out.push_str("<table>\n<thead><tr>");
                for header in &table.headers {
                    let _ = write!(out, "<th scope=\"col\">{}</th>", escape(header));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in &table.rows {
                    out.push_str("<tr>");
                    for cell in row {
                        match cell {
                            Cell::Text(line) => {
                                let _ = write!(out, "<td dir=\"auto\">{}</td>", line_html(line));
                            }
                            Cell::Money(_) | Cell::Number(_) | Cell::PerMille(_) => {
                                let _ = write!(
                                    out,
                                    "<td class=\"num\">{}</td>",
                                    escape(&cell_text(cell, lang, false))
                                );
                            }
                            other => {
                                let _ = write!(
                                    out,
                                    "<td>{}</td>",
                                    escape(&cell_text(other, lang, false))
                                );
                            }
                        }
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::Nothing(text) => {
                let _ = writeln!(out, "<p class=\"nothing\">{}</p>", escape(text));
            }
            Block::Note(text) => {
                let _ = writeln!(out, "<p>{}</p>", escape(text));
            }
            Block::Section(sub) => write_section(out, sub, depth + 1, lang),
        }
    }
    out.push_str("</section>\n");
}

/// A line as HTML: each span in a language marked with it (Arabic right-to-left).
fn line_html(line: &Line) -> String {
    let mut out = String::new();
    let mut previous_in_language = false;
    for span in line {
        if previous_in_language && span.lang.is_some() {
            out.push_str(" / ");
        }
        match span.lang {
            Some("ar") => {
                let _ = write!(
                    out,
                    "<span lang=\"ar\" dir=\"rtl\">{}</span>",
                    escape(&span.text)
                );
            }
            Some(code) => {
                let _ = write!(out, "<span lang=\"{code}\">{}</span>", escape(&span.text));
            }
            None => out.push_str(&escape(&span.text)),
        }
        previous_in_language = span.lang.is_some();
    }
    out.replace('\n', "<br>")
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Span;

    #[test]
    fn text_is_escaped_and_arabic_is_right_to_left() {
        let line = vec![
            Span {
                text: "<b>Plan</b> & co".into(),
                lang: Some("fr"),
            },
            Span {
                text: "خطة".into(),
                lang: Some("ar"),
            },
        ];
        assert_eq!(
            line_html(&line),
            "<span lang=\"fr\">&lt;b&gt;Plan&lt;/b&gt; &amp; co</span> / <span lang=\"ar\" dir=\"rtl\">خطة</span>"
        );
        assert_eq!(escape("\"'"), "&quot;&#39;");
    }
}
