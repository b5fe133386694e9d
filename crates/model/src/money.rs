//! Amounts of money, always with their currency.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::ModelError;

/// The currencies of the programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Currency {
    /// Euro (Lille, French and EU funders).
    Eur,
    /// Moroccan dirham (Oujda).
    Mad,
}

impl Currency {
    /// The ISO 4217 code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Mad => "MAD",
        }
    }
}

/// An amount in a currency, held exactly in hundredths (cents, centimes). Stored in
/// documents as text such as `1250.00 EUR`, so no replica ever reads it as a bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// Hundredths of the currency unit.
    pub cents: i64,
    /// The currency.
    pub currency: Currency,
}

/// What an amount must look like, for errors.
pub(crate) const MONEY_EXPECTED: &str = "an amount with its currency, like 1250.00 EUR or 300 MAD";

impl Money {
    /// `cents` hundredths of `currency`.
    pub fn new(cents: i64, currency: Currency) -> Self {
        Money { cents, currency }
    }

    /// The sum, refused across currencies.
    pub fn checked_add(self, other: Money) -> Result<Money, ModelError> {
        if self.currency != other.currency {
            return Err(ModelError::CurrencyMismatch {
                left: self.to_string(),
                right: other.to_string(),
            });
        }
        Ok(Money::new(
            self.cents.saturating_add(other.cents),
            self.currency,
        ))
    }

    /// Totals per currency: the only way this crate adds amounts of mixed currencies.
    pub fn totals(amounts: impl IntoIterator<Item = Money>) -> BTreeMap<Currency, Money> {
        let mut totals = BTreeMap::new();
        for amount in amounts {
            let total = totals
                .entry(amount.currency)
                .or_insert(Money::new(0, amount.currency));
            total.cents = total.cents.saturating_add(amount.cents);
        }
        totals
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.cents < 0 { "-" } else { "" };
        let abs = self.cents.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:02} {}",
            abs / 100,
            abs % 100,
            self.currency.code()
        )
    }
}

/// Text that is not an amount with a currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {MONEY_EXPECTED}")]
pub struct InvalidMoney;

impl FromStr for Money {
    type Err = InvalidMoney;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (number, code) = s.trim().rsplit_once(' ').ok_or(InvalidMoney)?;
        let currency = match code {
            "EUR" => Currency::Eur,
            "MAD" => Currency::Mad,
            _ => return Err(InvalidMoney),
        };
        let number = number.trim();
        let (negative, digits) = match number.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, number),
        };
        let (units, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if units.is_empty() || units.len() > 15 || !all_digits(units) {
            return Err(InvalidMoney);
        }
        if fraction.len() > 2
            || !all_digits(fraction)
            || (digits.contains('.') && fraction.is_empty())
        {
            return Err(InvalidMoney);
        }
        let units: i64 = units.parse().map_err(|_| InvalidMoney)?;
        let fraction: i64 = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<i64>().map_err(|_| InvalidMoney)? * 10,
            _ => fraction.parse().map_err(|_| InvalidMoney)?,
        };
        let cents = units * 100 + fraction;
        Ok(Money::new(if negative { -cents } else { cents }, currency))
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_and_print() {
        let m: Money = "1250 EUR".parse().unwrap();
        assert_eq!(m, Money::new(125_000, Currency::Eur));
        assert_eq!(m.to_string(), "1250.00 EUR");
        assert_eq!(
            "-3.5 MAD".parse::<Money>().unwrap().to_string(),
            "-3.50 MAD"
        );
        for bad in ["12", "12 USD", "1.234 EUR", "1. EUR", "a EUR", "", " EUR"] {
            assert!(bad.parse::<Money>().is_err(), "{bad}");
        }
    }

    #[test]
    fn currencies_are_never_summed() {
        let eur = Money::new(100, Currency::Eur);
        let mad = Money::new(100, Currency::Mad);
        assert!(eur.checked_add(mad).is_err());
        assert_eq!(eur.checked_add(eur).unwrap().cents, 200);
        let totals = Money::totals([eur, mad, eur]);
        assert_eq!(totals[&Currency::Eur].cents, 200);
        assert_eq!(totals[&Currency::Mad].cents, 100);
    }
}
