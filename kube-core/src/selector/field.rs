//! [`FieldSelector`]: the `fieldSelector` query parameter (`fields.ParseSelector`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use super::error::SelectorError;

/// How a [`FieldRequirement`] compares a field with its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One term of a [`FieldSelector`]: a field path, an operator and a literal value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    field: String,
    operator: FieldOperator,
    value: String,
}

impl FieldRequirement {
    /// A term; the value is the literal (unescaped) value.
    pub fn new(
        field: impl Into<String>,
        operator: FieldOperator,
        value: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            operator,
            value: value.into(),
        }
    }

    /// The field path, such as `metadata.name` or `spec.nodeName`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The operator.
    pub fn operator(&self) -> FieldOperator {
        self.operator
    }

    /// The literal value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a field with value `actual` satisfies this term.
    pub fn matches_value(&self, actual: &str) -> bool {
        (actual == self.value) == (self.operator == FieldOperator::Equals)
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_value(&self.value))
    }
}

/// Escapes a literal value for a field selector: `\` as `\\`, `,` as `\,`, `=` as `\=`
/// (Kubernetes' `fields.EscapeValue`).
pub fn escape_value(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', ',', '=']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// Reverses [`escape_value`]; an unknown escape, a trailing `\`, or an unescaped `,` or `=`
/// is an error (Kubernetes' `fields.UnescapeValue`).
fn unescape_value(value: &str, position: usize) -> Result<String, SelectorError> {
    let error = |reason: String| SelectorError::FieldValue {
        value: value.to_owned(),
        position,
        reason,
    };
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => return Err(error(format!("invalid escape sequence: \\{e}"))),
                None => return Err(error("invalid escape sequence: \\".to_owned())),
            },
            ',' | '=' => return Err(error(format!("unescaped character in value: {c:?}"))),
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// A parsed field selector: terms that must all hold.
///
/// ```
/// use std::borrow::Cow;
/// use kube_core::selector::FieldSelector;
///
/// let sel: FieldSelector = "spec.nodeName=n1,status.phase!=Failed".parse().unwrap();
/// assert_eq!(sel.exact_value("spec.nodeName"), Some("n1"));
/// assert!(sel.matches_with(|f| match f {
///     "spec.nodeName" => Some(Cow::Borrowed("n1")),
///     _ => None,
/// }));
/// assert_eq!(sel.to_string(), "spec.nodeName=n1,status.phase!=Failed");
/// ```
///
/// Terms are kept sorted by their printed form, so equal selectors compare equal and print
/// the same; `==` reads as [`FieldOperator::Equals`] and prints as `=`, as in Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches every object (the empty string).
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector of the given terms (in any order).
    pub fn from_requirements(requirements: impl IntoIterator<Item = FieldRequirement>) -> Self {
        let mut requirements: Vec<FieldRequirement> = requirements.into_iter().collect();
        requirements.sort_by_cached_key(ToString::to_string);
        Self { requirements }
    }

    /// Parses the `fieldSelector` syntax; the same as `str::parse`. Terms are separated by
    /// unescaped commas; empty terms are ignored; field names and values are taken
    /// verbatim (no whitespace is trimmed), as Kubernetes does.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (start, term) in split_terms(text) {
            if term.is_empty() {
                continue;
            }
            let Some((i, operator, op_len)) = split_term(term) else {
                return Err(SelectorError::FieldTerm {
                    term: term.to_owned(),
                    position: start,
                });
            };
            let raw = &term[i + op_len..];
            let value = unescape_value(raw, start + i + op_len)?;
            requirements.push(FieldRequirement {
                field: term[..i].to_owned(),
                operator,
                value,
            });
        }
        Ok(Self::from_requirements(requirements))
    }

    /// True when this selector has no terms.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The terms.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// The field paths the terms use, in order, possibly repeated; the API server checks
    /// them against those each kind supports.
    pub fn fields(&self) -> impl Iterator<Item = &str> + '_ {
        self.requirements.iter().map(|r| r.field.as_str())
    }

    /// The value every matching object has in `field`, when a `field=value` term pins it,
    /// so a lookup can use an index on that field (`spec.nodeName=n1`).
    pub fn exact_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.operator == FieldOperator::Equals && r.field == field)
            .map(|r| r.value.as_str())
    }

    /// Whether the fields that `get` looks up satisfy every term; a field `get` does not
    /// know (`None`) compares as the empty string, as in Kubernetes.
    pub fn matches_with<'a, F>(&self, get: F) -> bool
    where
        F: Fn(&str) -> Option<Cow<'a, str>>,
    {
        self.requirements
            .iter()
            .all(|r| r.matches_value(get(&r.field).as_deref().unwrap_or("")))
    }
}

/// Splits at commas not escaped by a backslash, with each term's byte offset.
fn split_terms(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b',' => {
                terms.push((start, &text[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if !text.is_empty() {
        terms.push((start, &text[start..]));
    }
    terms.into_iter()
}

/// The first operator in a term: where it starts, which it is, and its length. At each
/// position `!=` is tried first, then `==`, then `=`.
fn split_term(term: &str) -> Option<(usize, FieldOperator, usize)> {
    let bytes = term.as_bytes();
    (0..bytes.len()).find_map(|i| {
        let rest = &bytes[i..];
        if rest.starts_with(b"!=") {
            Some((i, FieldOperator::NotEquals, 2))
        } else if rest.starts_with(b"==") {
            Some((i, FieldOperator::Equals, 2))
        } else if rest.starts_with(b"=") {
            Some((i, FieldOperator::Equals, 1))
        } else {
            None
        }
    })
}

impl FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for FieldSelector {
    /// Kubernetes' `String()`: `field=value` and `field!=value` terms joined by `,`, with
    /// values escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}
