//! Properties of `Quantity`: parsing agrees with an exact reference computation, the
//! canonical form is a fixed point that parses back to the same amount, ordering and
//! arithmetic agree with exact integers, and serde round-trips.
#![allow(clippy::unwrap_used)]

use kube_core::Quantity;
use kube_core::quantity::Format;
use proptest::prelude::*;

const UNIT: i128 = 1_000_000_000;
const BINARY_CAP: i128 = i64::MAX as i128 * UNIT;

/// A quantity as written: sign, digits, fraction digits, suffix.
#[derive(Clone, Debug)]
struct Written {
    negative: bool,
    explicit_plus: bool,
    int: String,
    frac: Option<String>,
    suffix: Suffix,
}

#[derive(Clone, Copy, Debug)]
enum Suffix {
    Binary(&'static str, u32),
    Decimal(&'static str, i32),
    Exponent(char, i32, bool),
}

impl Written {
    fn text(&self) -> String {
        let mut s = String::new();
        if self.negative {
            s.push('-');
        } else if self.explicit_plus {
            s.push('+');
        }
        s.push_str(&self.int);
        if let Some(frac) = &self.frac {
            s.push('.');
            s.push_str(frac);
        }
        match self.suffix {
            Suffix::Binary(name, _) | Suffix::Decimal(name, _) => s.push_str(name),
            Suffix::Exponent(e, exp, plus) => {
                s.push(e);
                if plus && exp >= 0 {
                    s.push('+');
                }
                s.push_str(&exp.to_string());
            }
        }
        s
    }

    /// The exact amount in nano units, rounded up away from zero, and the format,
    /// computed from the definition with plain integer arithmetic.
    fn reference(&self) -> (i128, Format) {
        let frac = self.frac.as_deref().unwrap_or("");
        let digits: i128 = format!("0{}{}", self.int, frac).parse().unwrap();
        let frac_len = i32::try_from(frac.len()).unwrap();
        // Amount = digits * multiplier * 10^(9 + exp10 - frac_len) nano units.
        let (multiplier, exp10, format) = match self.suffix {
            Suffix::Binary(_, shift) => (1i128 << shift, 0, Format::BinarySI),
            Suffix::Decimal(_, exp) => (1, exp, Format::DecimalSI),
            Suffix::Exponent(_, exp, _) => (1, exp, Format::DecimalExponent),
        };
        let scaled = digits * multiplier;
        let shift = 9 + exp10 - frac_len;
        let mut magnitude = if shift >= 0 {
            scaled * 10i128.pow(shift.unsigned_abs())
        } else {
            let div = 10i128.pow(shift.unsigned_abs());
            scaled / div + i128::from(scaled % div != 0)
        };
        let mut format = format;
        if format == Format::BinarySI {
            magnitude = magnitude.min(BINARY_CAP);
            if magnitude > 0 && magnitude < UNIT {
                format = Format::DecimalSI;
            }
        }
        (if self.negative { -magnitude } else { magnitude }, format)
    }
}

/// Written quantities whose exact amount stays within i128 in the reference computation
/// and within the range `Quantity` holds.
fn written() -> impl Strategy<Value = Written> {
    let suffix = prop_oneof![
        prop::sample::select(vec![
            ("Ki", 10u32),
            ("Mi", 20),
            ("Gi", 30),
            ("Ti", 40),
            ("Pi", 50),
            ("Ei", 60)
        ])
        .prop_map(|(n, s)| Suffix::Binary(n, s)),
        prop::sample::select(vec![
            ("n", -9i32),
            ("u", -6),
            ("m", -3),
            ("", 0),
            ("k", 3),
            ("M", 6),
            ("G", 9),
            ("T", 12),
            ("P", 15),
            ("E", 18)
        ])
        .prop_map(|(n, e)| Suffix::Decimal(n, e)),
        (
            prop::sample::select(vec!['e', 'E']),
            -15i32..=18,
            any::<bool>()
        )
            .prop_map(|(c, e, plus)| Suffix::Exponent(c, e, plus)),
    ];
    (
        any::<bool>(),
        any::<bool>(),
        "[0-9]{0,8}",
        prop::option::of("[0-9]{0,12}"),
        suffix,
    )
        .prop_filter("a number needs a digit", |(_, _, int, frac, _)| {
            !int.is_empty() || frac.as_ref().is_some_and(|f| !f.is_empty())
        })
        .prop_map(|(negative, explicit_plus, int, frac, suffix)| Written {
            negative,
            explicit_plus,
            int,
            frac,
            suffix,
        })
}

/// Arbitrary quantities: any exact amount up to 10^35 nano units in any format.
fn quantity() -> impl Strategy<Value = Quantity> {
    let format = prop::sample::select(vec![
        Format::BinarySI,
        Format::DecimalSI,
        Format::DecimalExponent,
    ]);
    let nanos = prop_oneof![
        -10i128.pow(35)..10i128.pow(35),
        -10i128.pow(12)..10i128.pow(12),
        // Whole numbers of bytes, often multiples of powers of 1024.
        (-(1i128 << 40)..(1i128 << 40), 0u32..=30).prop_map(|(v, s)| (v << s) * UNIT),
        // Round decimal amounts.
        (-1000i128..1000, 0u32..=30).prop_map(|(v, e)| v * 10i128.pow(e)),
    ];
    (nanos, format).prop_map(|(nanos, format)| {
        let q: Quantity = format!("{nanos}n").parse().unwrap();
        assert_eq!(q.as_nanos(), nanos);
        q.with_format(format)
    })
}

/// Whether printing `parsed` again must give `s` back. It always does except in one case,
/// as in Kubernetes: a binary SI amount printed without a suffix (a whole number of units,
/// not a multiple of 1024) that is a multiple of 1000 reads back as decimal SI, which
/// prints it with `k`, `M`, ... (`"692000"` becomes `"692k"`), the same amount.
fn reprints_identically(q: &Quantity, s: &str) -> bool {
    !(q.format() == Format::BinarySI
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && q.as_nanos() % (1000 * UNIT) == 0)
}

/// Checks that `q` prints in a form that parses back to `q`, and that the printed form is
/// a fixed point of parse-then-print (after at most the one format change above).
fn check_round_trip(q: &Quantity) -> Result<(), TestCaseError> {
    let s = q.to_string();
    assert_canonical_shape(q, &s);
    let back: Quantity = s
        .parse()
        .map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
    prop_assert_eq!(back.as_nanos(), q.as_nanos(), "{}", s);
    let s2 = back.to_string();
    if reprints_identically(q, &s) {
        prop_assert_eq!(&s2, &s);
    }
    let again: Quantity = s2.parse().unwrap();
    prop_assert_eq!(&again, q);
    prop_assert_eq!(again.to_string(), s2);
    Ok(())
}

/// The canonical form: no fraction, no plus sign, no leading zero, and the largest exact
/// suffix (the mantissa is not a multiple of 1000, or of 1024 below `Ei`).
fn assert_canonical_shape(q: &Quantity, s: &str) {
    assert!(!s.contains('.') && !s.contains('+'), "{s}");
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    if unsigned == "0" {
        assert!(!s.starts_with('-'), "{s}");
        return;
    }
    let end = unsigned
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(unsigned.len());
    let (mantissa, suffix) = unsigned.split_at(end);
    assert!(!mantissa.starts_with('0'), "{s}");
    let m: u128 = mantissa.parse().unwrap();
    // Binary SI prints whole amounts of 1024 units or more with a binary suffix, or none.
    let binary = q.format() == Format::BinarySI
        && q.as_nanos() % UNIT == 0
        && q.as_nanos().abs() >= 1024 * UNIT
        && q.as_nanos().abs() <= BINARY_CAP;
    if binary {
        assert!(suffix.is_empty() || suffix.ends_with('i'), "{s}");
        assert!(suffix == "Ei" || m % 1024 != 0, "{s}");
    } else {
        assert!(m % 1000 != 0, "{s}");
    }
}

fn round_away(nanos: i128, per: i128) -> i64 {
    let q = nanos.div_euclid(per);
    let exact = nanos.rem_euclid(per) == 0;
    // Euclidean division floors, which is away from zero for negative amounts already.
    let q = if exact || nanos < 0 { q } else { q + 1 };
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsing_matches_the_exact_reference(w in written()) {
        let text = w.text();
        let q: Quantity = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let (nanos, format) = w.reference();
        prop_assert_eq!(q.as_nanos(), nanos, "{}", text);
        if nanos != 0 {
            prop_assert_eq!(q.format(), format, "{}", text);
        }
        prop_assert_eq!(q.milli_value(), round_away(nanos, 1_000_000), "{}", text);
        prop_assert_eq!(q.value(), round_away(nanos, UNIT), "{}", text);
    }

    #[test]
    fn canonical_string_parses_back_and_is_a_fixed_point(w in written()) {
        let q: Quantity = w.text().parse().unwrap();
        check_round_trip(&q)?;
    }

    #[test]
    fn any_quantity_round_trips_through_its_string(q in quantity()) {
        check_round_trip(&q)?;
    }

    #[test]
    fn ordering_agrees_with_exact_amounts(a in written(), b in written()) {
        let (qa, qb): (Quantity, Quantity) = (a.text().parse().unwrap(), b.text().parse().unwrap());
        let (na, nb) = (a.reference().0, b.reference().0);
        prop_assert_eq!(qa.cmp(&qb), na.cmp(&nb));
        prop_assert_eq!(qa == qb, na == nb);
    }

    #[test]
    fn arithmetic_agrees_with_exact_amounts(a in quantity(), b in quantity()) {
        let sum = a.checked_add(&b).unwrap();
        prop_assert_eq!(sum.as_nanos(), a.as_nanos() + b.as_nanos());
        prop_assert_eq!(&a.saturating_add(&b), &sum);
        let diff = a.saturating_sub(&b);
        prop_assert_eq!(diff.as_nanos(), a.as_nanos() - b.as_nanos());
        let expected_format = if a.is_zero() { b.format() } else { a.format() };
        prop_assert_eq!(sum.format(), expected_format);
    }

    #[test]
    fn serde_round_trips(q in quantity()) {
        let json = serde_json::to_string(&q).unwrap();
        prop_assert_eq!(&json, &format!("\"{q}\""));
        let back: Quantity = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &q);
        if reprints_identically(&q, &q.to_string()) {
            prop_assert_eq!(back.to_string(), q.to_string());
        }
    }

    #[test]
    fn integers_deserialize_as_their_value(v in any::<i64>()) {
        let q: Quantity = serde_json::from_str(&v.to_string()).unwrap();
        prop_assert_eq!(q.value(), v);
        prop_assert_eq!(q, Quantity::from_value(v));
    }

    #[test]
    fn parsing_never_panics(s in "[-+0-9.eEinumkKMGTP ]{0,24}|\\PC{0,16}") {
        if let Ok(q) = s.parse::<Quantity>() {
            let back: Quantity = q.to_string().parse().unwrap();
            prop_assert_eq!(back, q);
        }
    }
}
