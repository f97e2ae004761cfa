//! [`Quantity`]: resource amounts such as `"100m"`, `"1Gi"` and `"129e6"`, with the
//! semantics of Kubernetes' `resource.Quantity`.
//!
//! # Syntax
//!
//! ```text
//! <quantity>        ::= <sign>? <number> <suffix>
//! <number>          ::= <digits> | <digits> "." <digits>? | "." <digits>
//! <suffix>          ::= <binarySI> | <decimalSI> | <decimalExponent>
//! <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei            (powers of 2^10)
//! <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E (powers of 10^3)
//! <decimalExponent> ::= ("e" | "E") <sign>? <digits>
//! ```
//!
//! A quantity remembers which of the three families its suffix came from ([`Format`]) and
//! prints in that family, in canonical form: no fraction, the largest suffix that keeps the
//! value exact, no sign unless negative. So `"0.5"` prints as `"500m"`, `"1.5Gi"` as
//! `"1536Mi"`, `"1000m"` as `"1"` and `"129e6"` as `"129e6"`.
//!
//! # Precision and range
//!
//! As in Kubernetes, precision stops at the nano unit: a non-zero amount finer than that is
//! rounded up, away from zero (`"0.1n"` is `1n`, `"3.001n"` is `4n`). A binary SI amount
//! below 1024 units or not a whole number of units prints in decimal SI (`"0.5Ki"` is
//! `"512"`, `".001Ki"` is `"1024m"`), and one above 2^63 - 1 is capped there when parsed.
//!
//! Kubernetes keeps arbitrary-precision decimals; this type keeps magnitudes below 10^29
//! units (10^38 nano units), far beyond any resource amount, and rejects larger ones with
//! [`QuantityError::OutOfRange`].
//!
//! # Representation
//!
//! A `Quantity` is the exact amount as an `i128` count of nano units plus a one-byte
//! [`Format`] tag: no allocation, exact comparison, and [`Quantity::milli_value`] and
//! [`Quantity::value`] are a division each. Equality, ordering and hashing are numeric and
//! ignore the format: `"1Gi" == "1024Mi"` and `"1" == "1000m" < "1001m"`.
//!
//! ```
//! use kube_core::Quantity;
//!
//! let q: Quantity = "1.5Gi".parse().unwrap();
//! assert_eq!(q.to_string(), "1536Mi");
//! assert_eq!(q.value(), 1_610_612_736);
//!
//! let cpu: Quantity = "0.5".parse().unwrap();
//! assert_eq!(cpu.to_string(), "500m");
//! assert_eq!(cpu.milli_value(), 500);
//! assert_eq!(cpu, "500m".parse().unwrap());
//! ```

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Amounts by resource name (`cpu`, `memory`, `pods`, ...).
pub type ResourceList = std::collections::BTreeMap<String, Quantity>;

/// Nano units in one unit.
const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// Nano units in one milli unit.
const NANOS_PER_MILLI: i128 = 1_000_000;
/// The largest magnitude a quantity holds, in nano units: 10^38 - 1.
const MAX_NANOS: u128 = 10u128.pow(38) - 1;
/// Where a binary SI amount is capped when parsed, as Kubernetes does: 2^63 - 1 units.
const BINARY_CAP_NANOS: u128 = i64::MAX as u128 * NANOS_PER_UNIT as u128;

/// How a quantity prints: the family of suffixes it was written with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// Powers of 1024: `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei` (`"12Mi"`).
    BinarySI,
    /// Powers of 1000: `n`, `u`, `m`, none, `k`, `M`, `G`, `T`, `P`, `E` (`"12M"`).
    #[default]
    DecimalSI,
    /// A decimal exponent: `"12e6"`.
    DecimalExponent,
}

/// Why a string is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string is empty.
    #[error("quantity is empty; expected a number with an optional suffix, such as 500m or 1Gi")]
    Empty,
    /// No digit where the number should be (`"Mi"`, `"."`, `"--1"`).
    #[error(
        "quantity {input:?} has no number: expected digits, optionally signed and with a \
         decimal point, before any suffix"
    )]
    NoDigits {
        /// The rejected input.
        input: String,
    },
    /// A second decimal point (`"1.2.3"`).
    #[error("quantity {input:?} has more than one decimal point")]
    ExtraDecimalPoint {
        /// The rejected input.
        input: String,
    },
    /// A character that no quantity contains (`"1 Mi"`).
    #[error("quantity {input:?} has an unexpected character {found:?} at byte {position}")]
    UnexpectedCharacter {
        /// The rejected input.
        input: String,
        /// The offending character.
        found: char,
        /// Its byte offset in the input.
        position: usize,
    },
    /// A suffix that is none of the known ones (`"1mi"`, `"1Ki2"`).
    #[error(
        "quantity {input:?} has an unknown suffix {suffix:?}; expected one of n, u, m, k, M, \
         G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e6"
    )]
    UnknownSuffix {
        /// The rejected input.
        input: String,
        /// The suffix as written.
        suffix: String,
    },
    /// An `e`/`E` exponent without a well-formed integer after it (`"1e"`, `"1e+"`).
    #[error(
        "quantity {input:?} has an invalid exponent {suffix:?}: expected e or E and an integer"
    )]
    InvalidExponent {
        /// The rejected input.
        input: String,
        /// The exponent as written.
        suffix: String,
    },
    /// The magnitude is 10^29 units or more (binary SI amounts are capped instead).
    #[error("quantity {input:?} is out of range: magnitudes must be below 10^29")]
    OutOfRange {
        /// The rejected input.
        input: String,
    },
}

/// A resource amount (`resource.Quantity`): the exact value in nano units and the
/// [`Format`] it prints in. See the [module documentation](self).
#[derive(Clone, Debug, Default)]
pub struct Quantity {
    /// The exact amount, in units of 10^-9. Its magnitude is at most `MAX_NANOS`.
    nanos: i128,
    /// The suffix family it prints in.
    format: Format,
}

impl Quantity {
    /// An amount in thousandths of a unit (millicores for CPU), in decimal SI:
    /// `from_milli(1500)` prints as `"1500m"`, `from_milli(2000)` as `"2"`.
    pub fn from_milli(milli: i64) -> Self {
        Self {
            nanos: i128::from(milli) * NANOS_PER_MILLI,
            format: Format::DecimalSI,
        }
    }

    /// A whole amount in decimal SI: `from_value(3000)` prints as `"3k"`.
    pub fn from_value(value: i64) -> Self {
        Self {
            nanos: i128::from(value) * NANOS_PER_UNIT,
            format: Format::DecimalSI,
        }
    }

    /// An amount of bytes in binary SI: `from_bytes(1 << 30)` prints as `"1Gi"`.
    pub fn from_bytes(bytes: i64) -> Self {
        Self {
            nanos: i128::from(bytes) * NANOS_PER_UNIT,
            format: Format::BinarySI,
        }
    }

    /// The amount in thousandths of a unit, rounded up away from zero (Kubernetes'
    /// `MilliValue`), saturating at the bounds of `i64`.
    #[inline]
    pub fn milli_value(&self) -> i64 {
        scale_down_away_from_zero(self.nanos, NANOS_PER_MILLI)
    }

    /// The amount in units, rounded up away from zero (Kubernetes' `Value`), saturating
    /// at the bounds of `i64`.
    #[inline]
    pub fn value(&self) -> i64 {
        scale_down_away_from_zero(self.nanos, NANOS_PER_UNIT)
    }

    /// The exact amount in nano units (10^-9).
    #[inline]
    pub fn as_nanos(&self) -> i128 {
        self.nanos
    }

    /// True when the amount is zero, whatever its format.
    #[inline]
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// True when the amount is below zero.
    #[inline]
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// The format this quantity prints in.
    #[inline]
    pub fn format(&self) -> Format {
        self.format
    }

    /// The same amount, printed in `format`.
    #[must_use]
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// The sum, or `None` when its magnitude would reach 10^29. The sum keeps the format
    /// of `self`, or takes that of `other` when `self` is zero (Kubernetes' `Add`).
    pub fn checked_add(&self, other: &Self) -> Option<Self> {
        let nanos = self.nanos.checked_add(other.nanos)?;
        (nanos.unsigned_abs() <= MAX_NANOS).then(|| Self {
            nanos,
            format: self.combined_format(other),
        })
    }

    /// The difference, or `None` when its magnitude would reach 10^29; formats as
    /// [`Quantity::checked_add`].
    pub fn checked_sub(&self, other: &Self) -> Option<Self> {
        let nanos = self.nanos.checked_sub(other.nanos)?;
        (nanos.unsigned_abs() <= MAX_NANOS).then(|| Self {
            nanos,
            format: self.combined_format(other),
        })
    }

    /// The sum, clamped to the representable range; formats as [`Quantity::checked_add`].
    pub fn saturating_add(&self, other: &Self) -> Self {
        Self {
            nanos: clamp(self.nanos.saturating_add(other.nanos)),
            format: self.combined_format(other),
        }
    }

    /// The difference, clamped to the representable range; formats as
    /// [`Quantity::checked_add`].
    pub fn saturating_sub(&self, other: &Self) -> Self {
        Self {
            nanos: clamp(self.nanos.saturating_sub(other.nanos)),
            format: self.combined_format(other),
        }
    }

    fn combined_format(&self, other: &Self) -> Format {
        if self.nanos == 0 {
            other.format
        } else {
            self.format
        }
    }
}

/// Clamps an amount to the representable range.
fn clamp(nanos: i128) -> i128 {
    const MAX: i128 = MAX_NANOS as i128;
    nanos.clamp(-MAX, MAX)
}

/// `nanos / per`, rounded away from zero, saturating into `i64`.
#[inline]
fn scale_down_away_from_zero(nanos: i128, per: i128) -> i64 {
    // Most amounts fit 64 bits, where division is much cheaper than on 128.
    if let (Ok(n), Ok(p)) = (i64::try_from(nanos), i64::try_from(per)) {
        let (q, r) = (n / p, n % p);
        return q + i64::from(r > 0) - i64::from(r < 0);
    }
    let (q, r) = (nanos / per, nanos % per);
    let q = q + i128::from(r > 0) - i128::from(r < 0);
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl<'a> std::iter::Sum<&'a Quantity> for Quantity {
    /// Sums with [`Quantity::saturating_add`].
    fn sum<I: Iterator<Item = &'a Quantity>>(iter: I) -> Self {
        iter.fold(Self::default(), |acc, q| acc.saturating_add(q))
    }
}

// ---------------------------------------------------------------------------------------
// Parsing

/// What a suffix means: the value is multiplied by `2^binary_shift` (binary SI) or by
/// `10^exponent` (the decimal forms).
#[derive(Clone, Copy)]
enum Scale {
    Binary(u32),
    Decimal(i64),
}

fn binary_suffix(suffix: &str) -> Option<u32> {
    Some(match suffix {
        "Ki" => 10,
        "Mi" => 20,
        "Gi" => 30,
        "Ti" => 40,
        "Pi" => 50,
        "Ei" => 60,
        _ => return None,
    })
}

fn decimal_suffix(suffix: &str) -> Option<i64> {
    Some(match suffix {
        "n" => -9,
        "u" => -6,
        "m" => -3,
        "" => 0,
        "k" => 3,
        "M" => 6,
        "G" => 9,
        "T" => 12,
        "P" => 15,
        "E" => 18,
        _ => return None,
    })
}

/// Characters a suffix may contain (Kubernetes' scanner accepts these letters, a sign and
/// digits, and checks the combination afterwards).
fn is_suffix_char(c: char) -> bool {
    matches!(
        c,
        'e' | 'E' | 'i' | 'n' | 'u' | 'm' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P' | '+' | '-'
    ) || c.is_ascii_digit()
}

/// Parses the integer of a decimal exponent: an optional sign and at least one digit.
fn parse_exponent(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: i64 = 0;
    for b in digits.bytes() {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

fn interpret_suffix(
    input: &str,
    suffix: &str,
    offset: usize,
) -> Result<(Scale, Format), QuantityError> {
    if let Some(exp) = decimal_suffix(suffix) {
        return Ok((Scale::Decimal(exp), Format::DecimalSI));
    }
    if let Some(shift) = binary_suffix(suffix) {
        return Ok((Scale::Binary(shift), Format::BinarySI));
    }
    if suffix.starts_with('.') {
        return Err(QuantityError::ExtraDecimalPoint {
            input: input.to_owned(),
        });
    }
    if let Some((i, found)) = suffix.char_indices().find(|&(_, c)| !is_suffix_char(c)) {
        return Err(QuantityError::UnexpectedCharacter {
            input: input.to_owned(),
            found,
            position: offset + i,
        });
    }
    if let Some(rest) = suffix.strip_prefix(['e', 'E']) {
        return match parse_exponent(rest) {
            Some(exp) => Ok((Scale::Decimal(exp), Format::DecimalExponent)),
            None => Err(QuantityError::InvalidExponent {
                input: input.to_owned(),
                suffix: suffix.to_owned(),
            }),
        };
    }
    Err(QuantityError::UnknownSuffix {
        input: input.to_owned(),
        suffix: suffix.to_owned(),
    })
}

/// `ceil(D * 10^shift * multiplier)` where `D` is the decimal number `int.frac`, or `None`
/// when it does not fit 128 bits. Exact for any number of digits.
fn scaled_magnitude(int: &[u8], frac: &[u8], shift: i64, multiplier: u128) -> Option<u128> {
    let digits = || int.iter().chain(frac).map(|b| u128::from(b - b'0'));
    let len = i64::try_from(int.len() + frac.len()).ok()?;
    // Where the decimal point falls in the digit string once shifted; may lie outside it.
    let point = i64::try_from(int.len()).ok()?.checked_add(shift)?;

    // The integer part: the digits before the point, then zeros if the point lies beyond.
    let int_len = usize::try_from(point.clamp(0, len)).ok()?;
    let mut whole: u128 = 0;
    for d in digits().take(int_len) {
        whole = whole.checked_mul(10)?.checked_add(d)?;
    }
    if whole != 0 {
        for _ in len..point {
            whole = whole.checked_mul(10)?;
        }
    }
    let whole = whole.checked_mul(multiplier)?;

    // The fraction times the multiplier: its whole part carries into the result, and any
    // remainder rounds the result up.
    let leading_zeros = u64::try_from((-point).max(0)).ok()?;
    let mut carry: u128 = 0;
    let mut remainder = false;
    // A fraction below 10^-20 times a multiplier below 2^61 stays below one.
    if multiplier == 1 || leading_zeros > 20 {
        remainder = digits().skip(int_len).any(|d| d != 0);
    } else {
        let frac_len = usize::try_from(len).ok()? - int_len;
        for d in digits().rev().take(frac_len) {
            let t = d * multiplier + carry;
            remainder |= t % 10 != 0;
            carry = t / 10;
        }
        for _ in 0..leading_zeros {
            remainder |= carry % 10 != 0;
            carry /= 10;
        }
    }
    whole.checked_add(carry)?.checked_add(u128::from(remainder))
}

impl FromStr for Quantity {
    type Err = QuantityError;

    /// Parses a quantity as Kubernetes' `ParseQuantity` does, except that a number must
    /// contain at least one digit (`"."` and `"-"` are errors here).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bytes = input.as_bytes();
        let Some(&first) = bytes.first() else {
            return Err(QuantityError::Empty);
        };
        let negative = first == b'-';
        let mut pos = usize::from(first == b'-' || first == b'+');
        let int_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let int = &bytes[int_start..pos];
        let mut frac: &[u8] = &[];
        if pos < bytes.len() && bytes[pos] == b'.' {
            pos += 1;
            let frac_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            frac = &bytes[frac_start..pos];
        }
        if int.is_empty() && frac.is_empty() {
            return Err(QuantityError::NoDigits {
                input: input.to_owned(),
            });
        }
        // `pos` only ever advanced over ASCII bytes, so it is a character boundary.
        let (scale, mut format) = interpret_suffix(input, &input[pos..], pos)?;

        let magnitude = match scale {
            Scale::Decimal(exp) => exp
                .checked_add(9)
                .and_then(|shift| scaled_magnitude(int, frac, shift, 1))
                .filter(|m| *m <= MAX_NANOS)
                .ok_or_else(|| QuantityError::OutOfRange {
                    input: input.to_owned(),
                })?,
            // Binary SI amounts are capped rather than rejected, as Kubernetes does.
            Scale::Binary(shift) => scaled_magnitude(int, frac, 9, 1u128 << shift)
                .map_or(BINARY_CAP_NANOS, |m| m.min(BINARY_CAP_NANOS)),
        };
        if format == Format::BinarySI && magnitude > 0 && magnitude < NANOS_PER_UNIT as u128 {
            // Below one unit, binary SI would only round: Kubernetes switches to decimal.
            format = Format::DecimalSI;
        }
        // The magnitude is at most MAX_NANOS < i128::MAX.
        let nanos = i128::try_from(magnitude).map_err(|_| QuantityError::OutOfRange {
            input: input.to_owned(),
        })?;
        Ok(Self {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Canonical formatting

impl fmt::Display for Quantity {
    /// Kubernetes' canonical form (`Quantity.String()`): the format of the input, no
    /// fraction, the largest exact suffix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        if self.nanos < 0 {
            f.write_str("-")?;
        }
        let magnitude = self.nanos.unsigned_abs();
        let per_unit = NANOS_PER_UNIT as u128;

        // Binary SI only for whole amounts of at least 1024 units; below, or with a
        // fraction, Kubernetes prints decimal SI. Amounts above the parse cap (reachable
        // only by arithmetic) print in decimal SI too, so that they parse back unchanged.
        if self.format == Format::BinarySI
            && magnitude >= 1024 * per_unit
            && magnitude % per_unit == 0
            && magnitude <= BINARY_CAP_NANOS
        {
            let mut units = magnitude / per_unit;
            let mut power = 0;
            while power < 6 && units % 1024 == 0 {
                units /= 1024;
                power += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
            return write!(f, "{units}{suffix}");
        }

        let (mut mantissa, mut exponent) = (magnitude, -9i32);
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        // Each step undoes a factor of ten removed above, so this cannot overflow.
        while exponent % 3 != 0 {
            mantissa *= 10;
            exponent -= 1;
        }
        let suffix = match (self.format, exponent) {
            (Format::DecimalExponent, 0) => "",
            (Format::DecimalExponent, _) => return write!(f, "{mantissa}e{exponent}"),
            (_, -9) => "n",
            (_, -6) => "u",
            (_, -3) => "m",
            (_, 0) => "",
            (_, 3) => "k",
            (_, 6) => "M",
            (_, 9) => "G",
            (_, 12) => "T",
            (_, 15) => "P",
            (_, 18) => "E",
            // Decimal SI has no suffix beyond E: Kubernetes falls back to an exponent.
            _ => return write!(f, "{mantissa}e{exponent}"),
        };
        write!(f, "{mantissa}{suffix}")
    }
}

// ---------------------------------------------------------------------------------------
// Serde and schema

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// Accepts a string (surrounding whitespace ignored, as Kubernetes does), a JSON
    /// number (`cpu: 2`, `0.5`) or `null` (zero).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quantity: a string such as \"500m\" or \"1Gi\", or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        v.trim().parse().map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        Ok(Quantity::from_value(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        Ok(Quantity {
            nanos: i128::from(v) * NANOS_PER_UNIT,
            format: Format::DecimalSI,
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        if !v.is_finite() {
            return Err(E::custom(format!("quantity {v} is not a finite number")));
        }
        // Rust prints the shortest decimal that reads back as `v`: the number as written.
        v.to_string().parse().map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Quantity, E> {
        Ok(Quantity::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<Quantity, E> {
        Ok(Quantity::default())
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "x-kubernetes-int-or-string": true,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use super::*;

    const UNIT: i128 = NANOS_PER_UNIT;
    const KI: i128 = 1024 * UNIT;
    const CAP: i128 = BINARY_CAP_NANOS as i128;

    fn q(s: &str) -> Quantity {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    /// Kubernetes' `TestQuantityParse` table: input, exact amount in nano units, format.
    const PARSE: &[(&str, i128, Format)] = {
        use Format::{BinarySI as B, DecimalExponent as X, DecimalSI as D};
        &[
            ("0", 0, D),
            ("0n", 0, D),
            ("0u", 0, D),
            ("0m", 0, D),
            ("0Ki", 0, B),
            ("0k", 0, D),
            ("0Mi", 0, B),
            ("0M", 0, D),
            ("0Gi", 0, B),
            ("0G", 0, D),
            ("0Ti", 0, B),
            ("0T", 0, D),
            ("1", UNIT, D),
            // Binary suffixes.
            ("1Ki", KI, B),
            ("8Ki", 8 * KI, B),
            ("7Mi", 7 * KI * 1024, B),
            ("6Gi", 6 * KI * 1024 * 1024, B),
            ("5Ti", 5 * KI * 1024 * 1024 * 1024, B),
            ("4Pi", 4 * KI * 1024 * 1024 * 1024 * 1024, B),
            ("3Ei", 3 * KI * 1024 * 1024 * 1024 * 1024 * 1024, B),
            ("10Ti", 10 * KI * 1024 * 1024 * 1024, B),
            ("100Ti", 100 * KI * 1024 * 1024 * 1024, B),
            // Decimal suffixes.
            ("5n", 5, D),
            ("4u", 4_000, D),
            ("3m", 3_000_000, D),
            ("9", 9 * UNIT, D),
            ("8k", 8_000 * UNIT, D),
            ("50k", 50_000 * UNIT, D),
            ("7M", 7_000_000 * UNIT, D),
            ("6G", 6_000_000_000 * UNIT, D),
            ("5T", 5 * 10i128.pow(12) * UNIT, D),
            ("40T", 4 * 10i128.pow(13) * UNIT, D),
            ("300T", 3 * 10i128.pow(14) * UNIT, D),
            ("2P", 2 * 10i128.pow(15) * UNIT, D),
            ("1E", 10i128.pow(18) * UNIT, D),
            // Decimal exponents.
            ("1E-3", 1_000_000, X),
            ("1e3", 1_000 * UNIT, X),
            ("1E6", 1_000_000 * UNIT, X),
            ("1e9", 10i128.pow(9) * UNIT, X),
            ("1E12", 10i128.pow(12) * UNIT, X),
            ("1e15", 10i128.pow(15) * UNIT, X),
            ("1E18", 10i128.pow(18) * UNIT, X),
            ("1e14", 10i128.pow(14) * UNIT, X),
            ("1e13", 10i128.pow(13) * UNIT, X),
            ("129e6", 129 * 10i128.pow(6) * UNIT, X),
            ("100.035k", 100_035 * UNIT, D),
            // Things that look like floating point.
            ("0.001", 1_000_000, D),
            ("0.0005k", 500_000_000, D),
            ("0.005", 5_000_000, D),
            ("0.05", 50_000_000, D),
            ("0.5", 500_000_000, D),
            ("0.00050k", 500_000_000, D),
            ("0.00500", 5_000_000, D),
            ("0.05000", 50_000_000, D),
            ("0.50000", 500_000_000, D),
            ("0.5e0", 500_000_000, X),
            ("0.5e-1", 50_000_000, X),
            ("0.5e-2", 5_000_000, X),
            ("10.035M", 10_035_000 * UNIT, D),
            ("1.2e3", 1_200 * UNIT, X),
            ("1.3E+6", 1_300_000 * UNIT, X),
            ("1.40e9", 1_400_000_000 * UNIT, X),
            ("1.53E12", 153 * 10i128.pow(10) * UNIT, X),
            ("1.6e15", 16 * 10i128.pow(14) * UNIT, X),
            ("1.7E18", 17 * 10i128.pow(17) * UNIT, X),
            ("9.01", 9_010_000_000, D),
            ("8.1k", 8_100 * UNIT, D),
            ("7.123456M", 7_123_456 * UNIT, D),
            ("6.987654321G", 6_987_654_321 * UNIT, D),
            ("5.444T", 5_444 * 10i128.pow(9) * UNIT, D),
            ("40.1T", 401 * 10i128.pow(11) * UNIT, D),
            ("300.2T", 3_002 * 10i128.pow(11) * UNIT, D),
            ("2.5P", 25 * 10i128.pow(14) * UNIT, D),
            ("1.01E", 101 * 10i128.pow(16) * UNIT, D),
            // Things that saturate or round up to the nano unit.
            ("3.001n", 4, D),
            ("1.1E-9", 2, X),
            ("0.0000000001", 1, D),
            ("0.0000000005", 1, D),
            ("0.00000000050", 1, D),
            ("0.5e-9", 1, X),
            ("0.9n", 1, D),
            ("0.00000012345", 124, D),
            ("0.00000012354", 124, D),
            ("9Ei", CAP, B),
            ("9223372036854775807Ki", CAP, B),
            ("12E", 12 * 10i128.pow(18) * UNIT, D),
            // Fractional binary amounts.
            ("100.035Ki", 102_435_840_000_000, B),
            ("0.5Mi", 524_288 * UNIT, B),
            ("0.05Gi", 53_687_091_200_000_000, B),
            ("0.025Ti", 27_487_790_694_400_000_000, B),
            // Things written by trolls.
            ("0.000000000001Ki", 2, D),
            (".001", 1_000_000, D),
            (".0001k", 100_000_000, D),
            ("1.", UNIT, D),
            ("1.G", 10i128.pow(9) * UNIT, D),
            ("007", 7 * UNIT, D),
            ("1e-20", 1, X),
            ("0e999", 0, X),
            // The range limit, exactly.
            (
                "99999999999999999999999999999.999999999",
                MAX_NANOS as i128,
                D,
            ),
        ]
    };

    #[test]
    fn parses_kubernetes_table_with_every_sign() {
        for &(input, nanos, format) in PARSE {
            let got = q(input);
            assert_eq!((got.as_nanos(), got.format()), (nanos, format), "{input}");
            let neg = q(&format!("-{input}"));
            assert_eq!((neg.as_nanos(), neg.format()), (-nanos, format), "-{input}");
            let pos = q(&format!("+{input}"));
            assert_eq!((pos.as_nanos(), pos.format()), (nanos, format), "+{input}");
        }
    }

    #[test]
    fn rejects_malformed_input() {
        let long = format!("1{}", "0".repeat(29));
        for bad in [
            "",
            "1.1.M",
            "1+1.0M",
            "0.1mi",
            "0.1am",
            "aoeu",
            ".5i",
            "1i",
            "-3.01i",
            "-3.01e-",
            " 1",
            "1 ",
            "1.2.3",
            "Mi",
            "1 Mi",
            "1mi",
            "--1",
            "1e",
            ".",
            "-",
            "+",
            "-.",
            "1e+",
            "1Ki2",
            "1e3.5",
            "1Ee3",
            "1KiB",
            "1k ",
            "1e40",
            &long,
            "1e99999999999999999999",
            "99999999999999999999999999999.9999999991",
            "1\u{e9}",
        ] {
            assert!(bad.parse::<Quantity>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = |s: &str| s.parse::<Quantity>().unwrap_err();
        assert_eq!(err(""), QuantityError::Empty);
        assert!(matches!(err("Mi"), QuantityError::NoDigits { .. }));
        assert!(matches!(err("--1"), QuantityError::NoDigits { .. }));
        assert!(matches!(err("."), QuantityError::NoDigits { .. }));
        assert!(matches!(
            err("1.2.3"),
            QuantityError::ExtraDecimalPoint { .. }
        ));
        assert_eq!(
            err("1 Mi"),
            QuantityError::UnexpectedCharacter {
                input: "1 Mi".into(),
                found: ' ',
                position: 1
            }
        );
        assert!(
            matches!(err("1mi"), QuantityError::UnknownSuffix { suffix, .. } if suffix == "mi")
        );
        assert!(matches!(err("1e"), QuantityError::InvalidExponent { .. }));
        assert!(matches!(err("1e+"), QuantityError::InvalidExponent { .. }));
        assert!(matches!(err("1e40"), QuantityError::OutOfRange { .. }));
        let text = err("1mi").to_string();
        assert!(text.contains("\"mi\"") && text.contains("Mi"), "{text}");
        let text = err("1 Mi").to_string();
        assert!(text.contains("' '") && text.contains("byte 1"), "{text}");
    }

    /// Kubernetes' `TestQuantityString` and `TestQuantityParseEmit` tables, and the
    /// examples of its documentation: input, canonical form.
    const CANONICAL: &[(&str, &str)] = &[
        ("1Gi", "1Gi"),
        ("1024Mi", "1Gi"),
        ("300Mi", "300Mi"),
        ("307200Ki", "300Mi"),
        ("6Ki", "6Ki"),
        ("1001Gi", "1001Gi"),
        ("1025024Mi", "1001Gi"),
        ("1Ti", "1Ti"),
        ("1024Gi", "1Ti"),
        ("5", "5"),
        ("5000m", "5"),
        ("500m", "500m"),
        ("0.5", "500m"),
        ("1G", "1G"),
        ("1000M", "1G"),
        ("0.001T", "1G"),
        ("1m", "1m"),
        ("1000u", "1m"),
        ("80m", "80m"),
        ("1080m", "1080m"),
        ("1.08", "1080m"),
        ("1080000000n", "1080m"),
        ("300M", "300M"),
        ("1T", "1T"),
        ("1E", "1E"),
        ("1000E", "1e21"),
        ("5000E", "5e21"),
        ("1000000E", "1e24"),
        ("1234567M", "1234567M"),
        ("3k", "3k"),
        ("0", "0"),
        ("00", "0"),
        ("0Ki", "0"),
        ("-0", "0"),
        ("1e9", "1e9"),
        (".001e12", "1e9"),
        ("1e-3", "1e-3"),
        ("0.001e0", "1e-3"),
        ("1e-9", "1e-9"),
        ("1000e-12", "1e-9"),
        ("80e-3", "80e-3"),
        ("300e6", "300e6"),
        ("1e12", "1e12"),
        ("1e3", "1e3"),
        ("3e3", "3e3"),
        ("1e0", "1"),
        ("1.5e0", "1500e-3"),
        ("1n", "1n"),
        ("80n", "80n"),
        ("1080n", "1080n"),
        ("1u", "1u"),
        ("80u", "80u"),
        ("1080u", "1080u"),
        ("1Ki", "1Ki"),
        ("1Mi", "1Mi"),
        (".001Ki", "1024m"),
        (".000001Ki", "1024u"),
        (".000000001Ki", "1024n"),
        (".000000000001Ki", "2n"),
        ("0.5Mi", "512Ki"),
        ("0.5Ki", "512"),
        ("1.5Gi", "1536Mi"),
        ("129e6", "129e6"),
        ("1500Mi", "1500Mi"),
        ("1000m", "1"),
        ("0.1", "100m"),
        ("1.5", "1500m"),
        ("1024Ki", "1Mi"),
        ("1023Ki", "1023Ki"),
        ("1.5Ki", "1536"),
        ("100.035Ki", "102435840m"),
        ("+1Mi", "1Mi"),
        ("01", "1"),
        ("1.500", "1500m"),
        ("9Ei", "9223372036854775807"),
        ("8Ei", "9223372036854775807"),
        ("7Ei", "7Ei"),
        (
            "99999999999999999999999999999",
            "99999999999999999999999999999",
        ),
    ];

    #[test]
    fn prints_canonical_form_as_kubernetes_does() {
        for &(input, expect) in CANONICAL {
            let parsed = q(input);
            assert_eq!(parsed.to_string(), expect, "{input}");
            // The canonical form parses to the same amount and prints unchanged.
            assert_eq!(q(expect), parsed, "{input}");
            assert_eq!(q(expect).to_string(), expect, "{input}");
            if !parsed.is_zero() && !input.starts_with('+') {
                assert_eq!(q(&format!("-{input}")).to_string(), format!("-{expect}"));
            }
        }
    }

    #[test]
    fn constructors_print_like_kubernetes_new_quantity() {
        assert_eq!(Quantity::from_milli(1).to_string(), "1m");
        assert_eq!(Quantity::from_milli(1000).to_string(), "1");
        assert_eq!(Quantity::from_milli(1_234_000).to_string(), "1234");
        assert_eq!(Quantity::from_milli(1500).to_string(), "1500m");
        assert_eq!(Quantity::from_value(1).to_string(), "1");
        assert_eq!(Quantity::from_value(1000).to_string(), "1k");
        assert_eq!(Quantity::from_value(1_234_000).to_string(), "1234k");
        assert_eq!(Quantity::from_bytes(1024).to_string(), "1Ki");
        assert_eq!(Quantity::from_bytes(1024 * 1024).to_string(), "1Mi");
        assert_eq!(Quantity::from_bytes(1025).to_string(), "1025");
        assert_eq!(Quantity::from_bytes(5).to_string(), "5");
        assert_eq!(Quantity::from_bytes(0).to_string(), "0");
        // A binary SI amount that is not whole prints in decimal SI.
        let milli = |v| Quantity::from_milli(v).with_format(Format::BinarySI);
        assert_eq!(milli(1024).to_string(), "1024m");
        assert_eq!(milli(1024 * 1024).to_string(), "1048576m");
        assert_eq!(milli(500).to_string(), "500m");
        assert_eq!(
            Quantity::from_milli(1_000_000)
                .with_format(Format::DecimalExponent)
                .to_string(),
            "1e3"
        );
        assert_eq!(
            Quantity::from_value(1_000_000)
                .with_format(Format::DecimalExponent)
                .to_string(),
            "1e6"
        );
        assert_eq!(Quantity::from_value(i64::MIN).value(), i64::MIN);
        assert_eq!(Quantity::from_bytes(i64::MAX).value(), i64::MAX);
    }

    #[test]
    fn milli_value_and_value_round_up_away_from_zero_and_saturate() {
        for (input, milli, value) in [
            ("0", 0, 0),
            ("1", 1000, 1),
            ("100m", 100, 1),
            ("1.5", 1500, 2),
            ("0.0001", 1, 1),
            ("1n", 1, 1),
            ("999m", 999, 1),
            ("1000m", 1000, 1),
            ("1001m", 1001, 2),
            ("-1.5", -1500, -2),
            ("-1n", -1, -1),
            ("1Gi", 1_073_741_824_000, 1_073_741_824),
            ("128974848", 128_974_848_000, 128_974_848),
            ("129e6", 129_000_000_000, 129_000_000),
            ("123Mi", 128_974_848_000, 128_974_848),
            ("9223372036854775807", i64::MAX, i64::MAX),
            ("9223372036854775.807", i64::MAX, 9_223_372_036_854_776),
            ("1e28", i64::MAX, i64::MAX),
            ("-1e28", i64::MIN, i64::MIN),
            ("9Ei", i64::MAX, i64::MAX),
        ] {
            let parsed = q(input);
            assert_eq!(parsed.milli_value(), milli, "milli_value of {input}");
            assert_eq!(parsed.value(), value, "value of {input}");
        }
    }

    #[test]
    fn equality_ordering_and_hash_are_numeric() {
        let hash = |q: &Quantity| {
            let mut h = DefaultHasher::new();
            q.hash(&mut h);
            h.finish()
        };
        for (a, b) in [
            ("1Gi", "1024Mi"),
            ("1", "1000m"),
            ("1k", "1e3"),
            ("0", "0Ki"),
        ] {
            assert_eq!(q(a), q(b));
            assert_eq!(hash(&q(a)), hash(&q(b)));
        }
        assert!(q("1") < q("1001m"));
        assert!(q("100m") > q("50m"));
        assert!(q("10000T") > q("100Gi"));
        assert!(q("-1") < q("0"));
        assert!(q("1Ki") > q("1k"));
        assert_eq!(q("0").cmp(&q("0")), Ordering::Equal);
    }

    #[test]
    fn arithmetic_keeps_formats_as_kubernetes_add_does() {
        let sum = q("1").checked_add(&q("500m")).unwrap();
        assert_eq!(sum.to_string(), "1500m");
        // Zero takes the format of the other operand.
        assert_eq!(
            Quantity::default()
                .checked_add(&q("1Gi"))
                .unwrap()
                .to_string(),
            "1Gi"
        );
        assert_eq!(
            q("1Gi")
                .checked_add(&Quantity::default())
                .unwrap()
                .to_string(),
            "1Gi"
        );
        assert_eq!(q("10Ki").checked_add(&q("1")).unwrap().to_string(), "10241");
        assert_eq!(q("1").saturating_sub(&q("1500m")).to_string(), "-500m");
        assert_eq!(
            Quantity::default().saturating_sub(&q("1Mi")).to_string(),
            "-1Mi"
        );
        assert_eq!(q("5").checked_sub(&q("5")).unwrap(), Quantity::default());

        let max = q("99999999999999999999999999999.999999999");
        assert_eq!(max.checked_add(&q("1n")), None);
        assert_eq!(max.saturating_add(&max), max);
        assert_eq!(max.checked_sub(&q("-1n")), None);
        let min = q("-99999999999999999999999999999.999999999");
        assert_eq!(min.saturating_sub(&max), min);
        assert_eq!(min.saturating_add(&q("1")).checked_sub(&q("1")), Some(min));

        let total: Quantity = [q("100m"), q("250m"), q("1")].iter().sum();
        assert_eq!(total.to_string(), "1350m");
        assert_eq!(total.milli_value(), 1350);

        // Beyond the binary SI parse cap, arithmetic results print in decimal SI so that
        // they parse back to the same amount.
        let big = Quantity::from_bytes(i64::MAX).saturating_add(&Quantity::from_bytes(1));
        assert_eq!(big.to_string(), "9223372036854775808");
        assert_eq!(q(&big.to_string()), big);
    }

    #[test]
    fn is_compact() {
        assert!(std::mem::size_of::<Quantity>() <= 32);
        assert!(!q("1Gi").is_negative() && q("-1").is_negative());
        assert!(q("0Mi").is_zero() && !q("1n").is_zero());
    }

    #[test]
    fn serde_reads_strings_numbers_and_null_and_writes_canonical_strings() {
        let ser = |v: &Quantity| serde_json::to_string(v).unwrap();
        let de = |s: &str| serde_json::from_str::<Quantity>(s);
        assert_eq!(ser(&q("1.5Gi")), r#""1536Mi""#);
        assert_eq!(ser(&q("0.5")), r#""500m""#);
        assert_eq!(de(r#""500m""#).unwrap(), q("500m"));
        assert_eq!(de("2").unwrap().to_string(), "2");
        assert_eq!(de("-1").unwrap().to_string(), "-1");
        assert_eq!(de("0.5").unwrap().to_string(), "500m");
        assert_eq!(de("1e3").unwrap(), q("1k"));
        assert_eq!(de("18446744073709551615").unwrap().value(), i64::MAX);
        assert_eq!(de(r#"" 1""#).unwrap().to_string(), "1");
        assert_eq!(de(r#""1 ""#).unwrap().to_string(), "1");
        assert_eq!(de("null").unwrap(), Quantity::default());
        let err = de(r#""1.2.3""#).unwrap_err().to_string();
        assert!(err.contains("more than one decimal point"), "{err}");
        let err = de("true").unwrap_err().to_string();
        assert!(err.contains("a quantity"), "{err}");
        let err = de("[1]").unwrap_err().to_string();
        assert!(err.contains("a quantity"), "{err}");

        let list: ResourceList =
            serde_json::from_str(r#"{"cpu": 2, "memory": "1024Mi", "pods": "110"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"cpu":"2","memory":"1Gi","pods":"110"}"#
        );
    }

    #[test]
    fn schema_is_int_or_string() {
        let schema = serde_json::to_value(schemars::schema_for!(Quantity)).unwrap();
        assert_eq!(schema["x-kubernetes-int-or-string"], true);
        assert_eq!(schema["anyOf"][0]["type"], "integer");
        assert_eq!(schema["anyOf"][1]["type"], "string");
    }
}
