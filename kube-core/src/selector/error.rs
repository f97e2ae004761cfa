//! [`SelectorError`]: why a label or field selector is invalid, and where.

use std::fmt;

/// Where in a selector an error was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A byte offset in the selector text.
    Byte(usize),
    /// A field of a `LabelSelector` (`matchExpressions[1]`).
    Field(String),
    /// Built in code: no text or field to point at.
    Unspecified,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Byte(at) => write!(f, " at byte {at}"),
            Self::Field(path) => write!(f, " in {path}"),
            Self::Unspecified => Ok(()),
        }
    }
}

/// Why a label or field selector is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The text does not follow the label selector grammar.
    #[error(
        "unable to parse label selector at byte {position}: found {found}, expected {expected}"
    )]
    Syntax {
        /// Byte offset of the unexpected token.
        position: usize,
        /// The token found, quoted, or `end of string`.
        found: String,
        /// What the grammar allows there.
        expected: &'static str,
    },
    /// A label key that is not a qualified name.
    #[error("invalid label key {key:?}{location}: {}", .reasons.join("; "))]
    InvalidKey {
        /// The key.
        key: String,
        /// Where it is.
        location: Location,
        /// Kubernetes' reasons.
        reasons: Vec<String>,
    },
    /// A value that is not a valid label value.
    #[error("invalid value {value:?} for label {key:?}{location}: {}", .reasons.join("; "))]
    InvalidValue {
        /// The label key the value is for.
        key: String,
        /// The value.
        value: String,
        /// Where it is.
        location: Location,
        /// Kubernetes' reasons.
        reasons: Vec<String>,
    },
    /// A `LabelSelector` operator other than `In`, `NotIn`, `Exists` and `DoesNotExist`.
    #[error(
        "{operator:?} is not a valid label selector operator{location}: expected In, NotIn, \
         Exists or DoesNotExist"
    )]
    UnknownOperator {
        /// The operator as written.
        operator: String,
        /// Where it is.
        location: Location,
    },
    /// The number of values does not suit the operator.
    #[error("invalid values for label {key:?}{location}: {reason}")]
    ValueCount {
        /// The label key.
        key: String,
        /// Where it is.
        location: Location,
        /// Kubernetes' reason, such as "exact-match compatibility requires one single value".
        reason: &'static str,
    },
    /// A `>` or `<` operand that is not an integer.
    #[error(
        "invalid value {value:?} for label {key:?}{location}: for 'Gt', 'Lt' operators, the \
         value must be an integer"
    )]
    NotAnInteger {
        /// The label key.
        key: String,
        /// The value.
        value: String,
        /// Where it is.
        location: Location,
    },
    /// A field selector term without `=`, `==` or `!=`.
    #[error(
        "invalid field selector: can't understand {term:?} at byte {position}: expected \
         field=value, field==value or field!=value"
    )]
    FieldTerm {
        /// The term.
        term: String,
        /// Its byte offset in the selector.
        position: usize,
    },
    /// A field selector value with a bad escape or an unescaped `,` or `=`.
    #[error("invalid field selector value {value:?} at byte {position}: {reason}")]
    FieldValue {
        /// The value as written.
        value: String,
        /// Its byte offset in the selector.
        position: usize,
        /// What is wrong with it.
        reason: String,
    },
}
