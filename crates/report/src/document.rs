//! A report as data: sections of paragraphs, fields and tables, before any format. Each
//! renderer (Markdown, HTML) writes this same structure, so the formats say the same things.

use jiff::civil::Date;
use passerelle_model::{Localized, Money};

/// A piece of text and the language it is in, when known: Arabic text is written
/// right-to-left where the format can say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The text.
    pub text: String,
    /// `ar`, `fr` or `en` when the text is known to be in that language.
    pub lang: Option<&'static str>,
}

impl Span {
    /// Text in no particular language (names, labels typed by people).
    pub fn plain(text: impl Into<String>) -> Span {
        Span {
            text: text.into(),
            lang: None,
        }
    }

    /// Whether the text is written right-to-left.
    pub fn is_rtl(&self) -> bool {
        self.lang == Some("ar")
    }
}

/// One line: spans side by side.
pub type Line = Vec<Span>;

/// Per-language text as a line: the text in the preferred language, then the Arabic text
/// (marked as such) when there is one and it was not the preferred.
pub(crate) fn localized_line(text: &Localized, preferred: &[&'static str]) -> Line {
    let mut line = Vec::new();
    let first = preferred
        .iter()
        .copied()
        .find(|l| text.get(l).is_some_and(|t| !t.trim().is_empty()));
    if let Some(lang) = first {
        line.push(Span {
            text: text.get(lang).unwrap_or_default().to_owned(),
            lang: Some(lang),
        });
    }
    if first != Some("ar")
        && let Some(ar) = text.get("ar").filter(|t| !t.trim().is_empty())
    {
        line.push(Span {
            text: ar.to_owned(),
            lang: Some("ar"),
        });
    }
    line
}

/// A table cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text.
    Text(Line),
    /// A decimal number as stored (`12`, `0.75`).
    Number(String),
    /// An amount with its currency.
    Money(Money),
    /// A percentage in tenths of a percent (`125` is 12.5 %).
    PerMille(i64),
    /// A date.
    Date(Date),
    /// Nothing.
    Empty,
}

impl Cell {
    /// A cell of plain text (`Empty` when `text` is empty).
    pub fn text(text: impl Into<String>) -> Cell {
        let text = text.into();
        if text.trim().is_empty() {
            Cell::Empty
        } else {
            Cell::Text(vec![Span::plain(text)])
        }
    }
}

/// A table: a header row and rows of cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The column headings.
    pub headers: Vec<String>,
    /// The rows, each as long as `headers`.
    pub rows: Vec<Vec<Cell>>,
}

/// What a section holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A paragraph of text (may span lines).
    Paragraph(Span),
    /// Label: value pairs.
    Fields(Vec<(String, Line)>),
    /// A list of items.
    List(Vec<Line>),
    /// A table.
    Table(Table),
    /// A sentence saying there is nothing to report, so a section never vanishes.
    Nothing(String),
    /// A note about how figures are shown (currencies kept apart…).
    Note(String),
    /// A subsection.
    Section(Section),
}

/// A titled section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Its heading.
    pub heading: Line,
    /// What it holds, in order.
    pub blocks: Vec<Block>,
}

impl Section {
    /// A section headed by plain text.
    pub fn new(heading: impl Into<String>) -> Section {
        Section {
            heading: vec![Span::plain(heading)],
            blocks: Vec::new(),
        }
    }
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportDocument {
    /// The language of its labels (`fr`, `en`).
    pub lang: &'static str,
    /// Its title.
    pub title: Line,
    /// Its sections.
    pub sections: Vec<Section>,
}

/// A per-mille share of `part` in `whole` (rounded half up), `None` when `whole` is zero.
pub(crate) fn per_mille(part: i64, whole: i64) -> Option<i64> {
    if whole == 0 {
        return None;
    }
    let scaled = i128::from(part) * 1000;
    let whole = i128::from(whole);
    let rounded = (2 * scaled + whole.signum() * whole) / (2 * whole);
    i64::try_from(rounded).ok()
}

/// A per-mille value as people read it: `12.5 %`, or with `decimal` `,`: `12,5 %`.
pub(crate) fn per_mille_text(value: i64, decimal: char) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    format!("{sign}{}{decimal}{} %", abs / 10, abs % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_half_up_in_tenths() {
        assert_eq!(per_mille(1, 8), Some(125));
        assert_eq!(per_mille(2, 3), Some(667));
        assert_eq!(per_mille(5, 0), None);
        assert_eq!(per_mille_text(125, '.'), "12.5 %");
        assert_eq!(per_mille_text(1000, ','), "100,0 %");
    }
}
