//! Reporting periods: a year (`2026`), a semester (`2026-S1`) or a quarter (`2026-Q3`), and
//! the months measurements may also be recorded for (`2026-05`).

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;

/// A period a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i16,
    span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Span {
    Year,
    Semester(i8),
    Quarter(i8),
    Month(i8),
}

/// Text that is not a report period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a period: expected YYYY-QN (2026-Q3), YYYY-SN (2026-S1) or YYYY (2026)")]
pub struct InvalidPeriod {
    /// The text given, cut to 40 characters.
    pub text: String,
}

impl Period {
    /// Parses a period as a measurement may carry it: a report period, or a month
    /// `YYYY-MM`. `None` when it is neither.
    pub fn parse_any(text: &str) -> Option<Period> {
        if let Ok(period) = text.parse::<Period>() {
            return Some(period);
        }
        let (year, month) = text.split_once('-')?;
        let year = parse_year(year)?;
        if month.len() != 2 || !month.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let month: i8 = month.parse().ok()?;
        (1..=12).contains(&month).then_some(Period {
            year,
            span: Span::Month(month),
        })
    }

    /// The first day.
    pub fn start(self) -> Date {
        let month = match self.span {
            Span::Year => 1,
            Span::Semester(s) => 1 + (s - 1) * 6,
            Span::Quarter(q) => 1 + (q - 1) * 3,
            Span::Month(m) => m,
        };
        Date::constant(self.year, month, 1)
    }

    /// The last day.
    pub fn end(self) -> Date {
        let month = match self.span {
            Span::Year => 12,
            Span::Semester(s) => s * 6,
            Span::Quarter(q) => q * 3,
            Span::Month(m) => m,
        };
        Date::constant(self.year, month, 1).last_of_month()
    }

    /// Whether `date` falls in the period.
    pub fn contains(self, date: Date) -> bool {
        self.start() <= date && date <= self.end()
    }

    /// Whether the dates `from` to `to` (inclusive) meet the period.
    pub fn overlaps(self, from: Date, to: Date) -> bool {
        from <= self.end() && to >= self.start()
    }

    /// The period of the same length that follows.
    pub fn next(self) -> Period {
        let (year, span) = match self.span {
            Span::Year => (self.year + 1, Span::Year),
            Span::Semester(2) => (self.year + 1, Span::Semester(1)),
            Span::Semester(s) => (self.year, Span::Semester(s + 1)),
            Span::Quarter(4) => (self.year + 1, Span::Quarter(1)),
            Span::Quarter(q) => (self.year, Span::Quarter(q + 1)),
            Span::Month(12) => (self.year + 1, Span::Month(1)),
            Span::Month(m) => (self.year, Span::Month(m + 1)),
        };
        Period {
            year: year.min(9999),
            span,
        }
    }
}

fn parse_year(text: &str) -> Option<i16> {
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i16 = text.parse().ok()?;
    // The last year kept below 9999, so that `next` stays a valid date.
    (1900..=9998).contains(&year).then_some(year)
}

impl FromStr for Period {
    type Err = InvalidPeriod;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidPeriod {
            text: text.chars().take(40).collect(),
        };
        let (year, rest) = match text.split_once('-') {
            Some((year, rest)) => (year, Some(rest)),
            None => (text, None),
        };
        let year = parse_year(year).ok_or_else(bad)?;
        let span = match rest {
            None => Span::Year,
            Some(rest) => {
                let mut chars = rest.chars();
                let (kind, digit) = (chars.next(), chars.next());
                if chars.next().is_some() {
                    return Err(bad());
                }
                let n = digit.and_then(|d| d.to_digit(10)).ok_or_else(bad)? as i8;
                match kind {
                    Some('Q' | 'q') if (1..=4).contains(&n) => Span::Quarter(n),
                    Some('S' | 's') if (1..=2).contains(&n) => Span::Semester(n),
                    _ => return Err(bad()),
                }
            }
        };
        Ok(Period { year, span })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Span::Year => write!(f, "{}", self.year),
            Span::Semester(s) => write!(f, "{}-S{s}", self.year),
            Span::Quarter(q) => write!(f, "{}-Q{q}", self.year),
            Span::Month(m) => write!(f, "{}-{m:02}", self.year),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_know_their_days() {
        let q3: Period = "2026-Q3".parse().unwrap();
        assert_eq!(q3.start().to_string(), "2026-07-01");
        assert_eq!(q3.end().to_string(), "2026-09-30");
        assert_eq!(q3.next().to_string(), "2026-Q4");
        assert_eq!(
            "2026-Q4".parse::<Period>().unwrap().next().to_string(),
            "2027-Q1"
        );
        let s1: Period = "2026-S1".parse().unwrap();
        assert_eq!(s1.end().to_string(), "2026-06-30");
        assert_eq!(s1.next().to_string(), "2026-S2");
        let year: Period = "2028".parse().unwrap();
        assert_eq!(year.end().to_string(), "2028-12-31");
        assert!(year.contains(Date::constant(2028, 2, 29)));
        let month = Period::parse_any("2026-02").unwrap();
        assert_eq!(month.end().to_string(), "2026-02-28");
        for bad in [
            "",
            "2026-Q5",
            "2026-Q0",
            "2026-S3",
            "26-Q1",
            "2026-Q",
            "2026-Q12",
            "2026-05",
            "Q3",
            "20260",
            "2026-W3",
            "１２３４",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
        assert!(Period::parse_any("2026-13").is_none());
    }
}
