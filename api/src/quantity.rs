//! Kubernetes resource quantities (`100m`, `0.5`, `128Mi`, `1G`, `1e3`).

use std::fmt;

/// A quantity that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Syntax,
    #[error("quantity is too large")]
    TooLarge,
}

/// A parsed quantity, held exactly in billionths of a unit (fractions below that round up,
/// as Kubernetes does). Compares by value: `1Gi > 1G`, `500m == 0.5`.
#[derive(Debug, Clone)]
pub struct Quantity {
    nanos: i128,
    text: String,
}

const NANOS: i128 = 1_000_000_000;

impl Quantity {
    /// The value in thousandths, rounded up: `100m` → 100, `1` → 1000.
    pub fn milli_value(&self) -> i64 {
        saturate(ceil_div(self.nanos, NANOS / 1000))
    }

    /// The value in whole units (bytes for memory), rounded up: `128Mi` → 134217728, `100m` → 1.
    pub fn value(&self) -> i64 {
        saturate(ceil_div(self.nanos, NANOS))
    }

    /// Synonym of [`Quantity::value`] for memory and storage.
    pub fn bytes(&self) -> i64 {
        self.value()
    }

    /// The value as a float, for display and ratios.
    pub fn as_f64(&self) -> f64 {
        self.nanos as f64 / NANOS as f64
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl fmt::Display for Quantity {
    /// The text the quantity was parsed from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_quantity(s)
    }
}

fn saturate(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Division rounding away from zero, so no positive amount rounds to nothing.
fn ceil_div(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d == 0 {
        q
    } else if n > 0 {
        q + 1
    } else {
        q - 1
    }
}

/// A multiplier as `numerator / denominator`.
fn suffix_multiplier(suffix: &str) -> Result<(i128, i128), QuantityError> {
    let pow = |base: i128, exp: u32| base.checked_pow(exp).ok_or(QuantityError::TooLarge);
    Ok(match suffix {
        "" => (1, 1),
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1000),
        "k" => (1000, 1),
        "M" => (pow(10, 6)?, 1),
        "G" => (pow(10, 9)?, 1),
        "T" => (pow(10, 12)?, 1),
        "P" => (pow(10, 15)?, 1),
        "E" => (pow(10, 18)?, 1),
        "Ki" => (pow(2, 10)?, 1),
        "Mi" => (pow(2, 20)?, 1),
        "Gi" => (pow(2, 30)?, 1),
        "Ti" => (pow(2, 40)?, 1),
        "Pi" => (pow(2, 50)?, 1),
        "Ei" => (pow(2, 60)?, 1),
        other => {
            let exp = other
                .strip_prefix(['e', 'E'])
                .ok_or(QuantityError::Syntax)?;
            let exp: i32 = exp.parse().map_err(|_| QuantityError::Syntax)?;
            if exp.abs() > 30 {
                return Err(QuantityError::TooLarge);
            }
            if exp >= 0 {
                (pow(10, exp.unsigned_abs())?, 1)
            } else {
                (1, pow(10, exp.unsigned_abs())?)
            }
        }
    })
}

/// Parses a quantity: an optionally signed decimal number and an SI (`m`, `k`, `M`, `G`),
/// binary (`Ki`, `Mi`, `Gi`) or exponent (`e3`) suffix.
pub fn parse_quantity(s: &str) -> Result<Quantity, QuantityError> {
    let text = s.trim();
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let number_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (number, suffix) = rest.split_at(number_len);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
        return Err(QuantityError::Syntax);
    }
    let digits = format!("{whole}{frac}");
    if digits.len() > 30 {
        return Err(QuantityError::TooLarge);
    }
    let mantissa: i128 = digits.parse().map_err(|_| QuantityError::Syntax)?;
    let frac_scale = 10i128
        .checked_pow(frac.len() as u32)
        .ok_or(QuantityError::TooLarge)?;
    let (num, den) = suffix_multiplier(suffix)?;
    let numerator = mantissa
        .checked_mul(num)
        .and_then(|v| v.checked_mul(NANOS))
        .ok_or(QuantityError::TooLarge)?;
    let denominator = frac_scale.checked_mul(den).ok_or(QuantityError::TooLarge)?;
    let nanos = ceil_div(numerator, denominator);
    Ok(Quantity {
        nanos: if negative { -nanos } else { nanos },
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases: &[(&str, i64, i64)] = &[
            ("100m", 100, 1),
            ("0.5", 500, 1),
            ("1", 1000, 1),
            ("2", 2000, 2),
            ("128Mi", 134_217_728_000, 134_217_728),
            ("1G", 1_000_000_000_000, 1_000_000_000),
            ("1Gi", 1_073_741_824_000, 1_073_741_824),
            ("1e3", 1_000_000, 1000),
            ("1E3", 1_000_000, 1000),
            ("1.5k", 1_500_000, 1500),
            ("250u", 1, 1),
            ("10n", 1, 1),
            ("-1", -1000, -1),
            ("+2Ki", 2_048_000, 2048),
            (".5", 500, 1),
        ];
        for (text, milli, value) in cases {
            let q = parse_quantity(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((q.milli_value(), q.value()), (*milli, *value), "{text}");
            assert_eq!(q.to_string(), *text);
        }
    }

    #[test]
    fn rejects() {
        for bad in ["", "abc", "1.2.3", "1Zi", "1e", "m", "1 Gi", "1e99", "-"] {
            assert!(parse_quantity(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn compares_by_value() {
        let q = |s: &str| parse_quantity(s).expect("quantity");
        assert!(q("1Gi") > q("1G"));
        assert_eq!(q("500m"), q("0.5"));
        assert!(q("100Mi") < q("1Gi"));
    }
}
