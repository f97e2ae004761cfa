//! [`Selector`]: a parsed, evaluatable label selector (`labels.Selector`), and its string
//! syntax (`labels.Parse`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::error::{Location, SelectorError};
use super::names::{validate_label_key, validate_label_value};

/// How a [`Requirement`] compares a label with its values.
///
/// The order of the variants is the order requirements on the same key are sorted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// `key in (a,b)`: the label is present with one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key=a` or `key==a`: the label is present with this value.
    Equals,
    /// `key!=a`: the label is absent or has another value.
    NotEquals,
    /// `key>5`: the label is present and an integer greater than the value.
    GreaterThan,
    /// `key<5`: the label is present and an integer less than the value.
    LessThan,
}

/// One condition of a [`Selector`]: a key, an [`Operator`] and values (sorted, without
/// duplicates).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// A requirement, validated as Kubernetes' `NewRequirement` does: the key is a
    /// qualified name, values are label values, `In`/`NotIn` have values, `Equals` and
    /// `NotEquals` one, `Exists`/`DoesNotExist` none, and `>`/`<` one integer.
    pub fn new<I, V>(
        key: impl Into<String>,
        operator: Operator,
        values: I,
    ) -> Result<Self, SelectorError>
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        Self::build(
            key.into(),
            operator,
            values.into_iter().map(Into::into).collect(),
            &Location::Unspecified,
        )
    }

    pub(crate) fn build(
        key: String,
        operator: Operator,
        mut values: Vec<String>,
        location: &Location,
    ) -> Result<Self, SelectorError> {
        let reasons = validate_label_key(&key);
        if !reasons.is_empty() {
            return Err(SelectorError::InvalidKey {
                key,
                location: location.clone(),
                reasons,
            });
        }
        values.sort();
        values.dedup();
        let count_error = match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                Some("for 'in', 'notin' operators, values set can't be empty")
            }
            Operator::Equals | Operator::NotEquals if values.len() != 1 => {
                Some("exact-match compatibility requires one single value")
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                Some("values set must be empty for exists and does not exist")
            }
            Operator::GreaterThan | Operator::LessThan if values.len() != 1 => {
                Some("for 'Gt', 'Lt' operators, exactly one value is required")
            }
            _ => None,
        };
        if let Some(reason) = count_error {
            return Err(SelectorError::ValueCount {
                key,
                location: location.clone(),
                reason,
            });
        }
        if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            if let Some(value) = values.iter().find(|v| v.parse::<i64>().is_err()) {
                return Err(SelectorError::NotAnInteger {
                    value: value.clone(),
                    key,
                    location: location.clone(),
                });
            }
        }
        for value in &values {
            let reasons = validate_label_value(value);
            if !reasons.is_empty() {
                return Err(SelectorError::InvalidValue {
                    value: value.clone(),
                    key,
                    location: location.clone(),
                    reasons,
                });
            }
        }
        Ok(Self {
            key,
            operator,
            values,
        })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and without duplicates; empty for `Exists` and `DoesNotExist`.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label with this requirement's key, present with `value` or absent
    /// (`None`), satisfies it (Kubernetes' `Requirement.Matches`).
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals => value.is_some_and(has),
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !has(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), Some(bound)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }

    /// The one value a label must have to satisfy this requirement, for `key=value` and
    /// `key in (value)`.
    pub fn exact_value(&self) -> Option<&str> {
        match (self.operator, self.values.as_slice()) {
            (Operator::Equals | Operator::In, [value]) => Some(value),
            _ => None,
        }
    }
}

impl fmt::Display for Requirement {
    /// Kubernetes' `Requirement.String()`: `!key`, `key`, `key=v`, `key!=v`, `key>v`,
    /// `key<v`, `key in (a,b)`, `key notin (a,b)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let op = match self.operator {
            Operator::Exists => return f.write_str(key),
            Operator::DoesNotExist => return write!(f, "!{key}"),
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
        };
        let values = self.values.join(",");
        if matches!(self.operator, Operator::In | Operator::NotIn) {
            write!(f, "{key}{op}({values})")
        } else {
            write!(f, "{key}{op}{values}")
        }
    }
}

/// A parsed label selector: requirements that must all hold (`labels.Selector`).
///
/// Parse one from Kubernetes' string syntax, or convert a
/// [`LabelSelector`](super::LabelSelector):
///
/// ```
/// use std::collections::BTreeMap;
/// use kube_core::selector::Selector;
///
/// let sel: Selector = "app=web, tier in (db,cache), !canary".parse().unwrap();
/// assert_eq!(sel.to_string(), "app=web,!canary,tier in (cache,db)");
/// assert_eq!(sel.exact_value("app"), Some("web"));
///
/// let labels = BTreeMap::from([("app".to_owned(), "web".to_owned()), ("tier".to_owned(), "db".to_owned())]);
/// assert!(sel.matches(&labels));
/// ```
///
/// Requirements are kept sorted by key, then operator, then values, so equal selectors
/// compare equal and print the same. `==` reads as [`Operator::Equals`] and prints as `=`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl Selector {
    /// The selector that matches every label set (the empty string).
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches nothing (Kubernetes' `labels.Nothing()`).
    ///
    /// It has no string form: like Kubernetes', it prints as the empty string, which
    /// parses as [`Selector::everything`]. Check [`Selector::is_nothing`] before sending a
    /// selector as text.
    pub fn nothing() -> Self {
        Self {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// A selector of the given requirements (in any order).
    pub fn from_requirements(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        let mut requirements: Vec<Requirement> = requirements.into_iter().collect();
        requirements.sort();
        Self {
            requirements,
            nothing: false,
        }
    }

    /// The selector `k1=v1,k2=v2,...` of a label set (`labels.SelectorFromValidatedSet`
    /// with validation), failing on an invalid key or value.
    pub fn from_labels<'a>(
        labels: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Self, SelectorError> {
        let requirements = labels
            .into_iter()
            .map(|(k, v)| {
                Requirement::build(
                    k.clone(),
                    Operator::Equals,
                    vec![v.clone()],
                    &Location::Unspecified,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::from_requirements(requirements))
    }

    /// Parses Kubernetes' label selector syntax; the same as `str::parse`.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let tokens = lex(text);
        let requirements = Parser { tokens, pos: 0 }.parse()?;
        Ok(Self::from_requirements(requirements))
    }

    /// Adds a requirement.
    #[must_use]
    pub fn with(mut self, requirement: Requirement) -> Self {
        let at = self.requirements.partition_point(|r| *r <= requirement);
        self.requirements.insert(at, requirement);
        self
    }

    /// True when this selector matches every label set.
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for [`Selector::nothing`].
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key, then operator, then values.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether a label set satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    /// Whether the labels that `get` looks up satisfy every requirement; `get` returns
    /// `None` for an absent label.
    pub fn matches_with<'a, F>(&self, get: F) -> bool
    where
        F: Fn(&str) -> Option<&'a str>,
    {
        !self.nothing
            && self
                .requirements
                .iter()
                .all(|r| r.matches_value(get(&r.key)))
    }

    /// The value every matching label set has for `key`, when a requirement pins it
    /// (`key=value` or `key in (value)`), so a lookup can use an index on that label.
    pub fn exact_value(&self, key: &str) -> Option<&str> {
        self.requirements
            .iter()
            .filter(|r| r.key == key)
            .find_map(Requirement::exact_value)
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Selector {
    /// Kubernetes' canonical `String()`: requirements joined by `,`, in sorted order.
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

// ---------------------------------------------------------------------------------------
// Lexer and parser, following Kubernetes' labels.Parse grammar.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Ident,
    In,
    NotIn,
    OpenPar,
    ClosePar,
    Comma,
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    Greater,
    Less,
    End,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok,
    text: &'a str,
    position: usize,
}

impl Token<'_> {
    fn found(&self) -> String {
        if self.tok == Tok::End {
            "end of string".to_owned()
        } else {
            format!("'{}'", self.text)
        }
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn lex(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && is_whitespace(bytes[pos]) {
            pos += 1;
        }
        let start = pos;
        let Some(&b) = bytes.get(pos) else {
            tokens.push(Token {
                tok: Tok::End,
                text: "",
                position: pos,
            });
            return tokens;
        };
        let tok = if is_special(b) {
            // The longest symbol: `==` and `!=` are the only two-character ones.
            let two = bytes.get(pos + 1) == Some(&b'=') && matches!(b, b'=' | b'!');
            pos += if two { 2 } else { 1 };
            match (b, two) {
                (b'=', true) => Tok::DoubleEquals,
                (b'!', true) => Tok::NotEquals,
                (b'=', false) => Tok::Equals,
                (b'!', false) => Tok::Not,
                (b'(', _) => Tok::OpenPar,
                (b')', _) => Tok::ClosePar,
                (b',', _) => Tok::Comma,
                (b'>', _) => Tok::Greater,
                _ => Tok::Less,
            }
        } else {
            while pos < bytes.len() && !is_whitespace(bytes[pos]) && !is_special(bytes[pos]) {
                pos += 1;
            }
            match &text[start..pos] {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Ident,
            }
        };
        // Token boundaries fall on ASCII bytes, so they are character boundaries.
        tokens.push(Token {
            tok,
            text: &text[start..pos],
            position: start,
        });
    }
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    /// The next token where a value may stand: `in` and `notin` are identifiers there.
    fn peek(&self) -> Token<'a> {
        let mut t = self.tokens[self.pos.min(self.tokens.len() - 1)];
        if matches!(t.tok, Tok::In | Tok::NotIn) {
            t.tok = Tok::Ident;
        }
        t
    }

    fn next(&mut self) -> Token<'a> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    /// The next token where an operator stands: `in` and `notin` are keywords there.
    fn next_operator(&mut self) -> Token<'a> {
        let t = self.tokens[self.pos.min(self.tokens.len() - 1)];
        self.pos += 1;
        t
    }

    fn parse(mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let t = self.peek();
            match t.tok {
                Tok::Ident | Tok::Not => {
                    requirements.push(self.requirement()?);
                    let t = self.next();
                    match t.tok {
                        Tok::End => return Ok(requirements),
                        Tok::Comma => {
                            let t2 = self.peek();
                            if !matches!(t2.tok, Tok::Ident | Tok::Not) {
                                return Err(syntax(&t2, "an identifier or '!' after ','"));
                            }
                        }
                        _ => return Err(syntax(&t, "',' or end of string")),
                    }
                }
                Tok::End => return Ok(requirements),
                _ => return Err(syntax(&t, "'!', an identifier or end of string")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut t = self.next();
        let negated = t.tok == Tok::Not;
        if negated {
            t = self.next();
        }
        if t.tok != Tok::Ident {
            return Err(syntax(&t, "an identifier"));
        }
        let key = t.text.to_owned();
        let location = Location::Byte(t.position);
        let reasons = validate_label_key(&key);
        if !reasons.is_empty() {
            return Err(SelectorError::InvalidKey {
                key,
                location,
                reasons,
            });
        }
        if negated {
            return Requirement::build(key, Operator::DoesNotExist, Vec::new(), &location);
        }
        if matches!(self.peek().tok, Tok::End | Tok::Comma) {
            return Requirement::build(key, Operator::Exists, Vec::new(), &location);
        }
        let op = self.next_operator();
        let operator = match op.tok {
            Tok::In => Operator::In,
            Tok::NotIn => Operator::NotIn,
            Tok::Equals | Tok::DoubleEquals => Operator::Equals,
            Tok::NotEquals => Operator::NotEquals,
            Tok::Greater => Operator::GreaterThan,
            Tok::Less => Operator::LessThan,
            _ => return Err(syntax(&op, "one of in, notin, =, ==, !=, >, <")),
        };
        let values = if matches!(operator, Operator::In | Operator::NotIn) {
            self.set_values()?
        } else {
            self.exact_value()?
        };
        Requirement::build(key, operator, values, &location)
    }

    /// `(a,b,c)`; empty members are the empty value, as in Kubernetes (`()`, `(a,)`).
    fn set_values(&mut self) -> Result<Vec<String>, SelectorError> {
        let t = self.next();
        if t.tok != Tok::OpenPar {
            return Err(syntax(&t, "'('"));
        }
        let first = self.peek();
        match first.tok {
            Tok::ClosePar => {
                self.next();
                return Ok(vec![String::new()]);
            }
            Tok::Ident | Tok::Comma => {}
            _ => return Err(syntax(&first, "',', ')' or an identifier")),
        }
        let mut values = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Ident => {
                    values.push(t.text.to_owned());
                    let t2 = self.peek();
                    match t2.tok {
                        Tok::Comma => {}
                        Tok::ClosePar => {
                            self.next();
                            return Ok(values);
                        }
                        _ => return Err(syntax(&t2, "',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    let t2 = self.peek();
                    if t2.tok == Tok::ClosePar {
                        values.push(String::new());
                        self.next();
                        return Ok(values);
                    }
                    if t2.tok == Tok::Comma {
                        self.next();
                        values.push(String::new());
                    }
                }
                _ => return Err(syntax(&t, "',' or an identifier")),
            }
        }
    }

    /// The operand of `=`, `==`, `!=`, `>`, `<`: one identifier, or nothing (the empty
    /// value) before `,` or the end.
    fn exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        let t = self.peek();
        if matches!(t.tok, Tok::End | Tok::Comma) {
            return Ok(vec![String::new()]);
        }
        let t = self.next();
        if t.tok == Tok::Ident {
            Ok(vec![t.text.to_owned()])
        } else {
            Err(syntax(&t, "an identifier"))
        }
    }
}

fn syntax(t: &Token<'_>, expected: &'static str) -> SelectorError {
    SelectorError::Syntax {
        position: t.position,
        found: t.found(),
        expected,
    }
}
