//! [`IntOrString`], for fields such as `targetPort` and `maxSurge`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A value that is either an integer or a string (`intstr.IntOrString`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// An integer, such as a port number or a count.
    Int(i32),
    /// A string, such as a port name or a percentage (`"25%"`).
    String(String),
}

impl Default for IntOrString {
    fn default() -> Self {
        Self::Int(0)
    }
}

impl IntOrString {
    /// Resolves an absolute value or a percentage of `total`, rounding up or down as
    /// Kubernetes does (`maxSurge` rounds up, `maxUnavailable` rounds down).
    ///
    /// A string that is neither a percentage nor a number is an error.
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32, String> {
        match self {
            Self::Int(v) => Ok(*v),
            Self::String(s) => {
                let Some(pct) = s.strip_suffix('%') else {
                    return s
                        .parse()
                        .map_err(|_| format!("invalid value {s:?}: not a percentage"));
                };
                let pct: i64 = pct
                    .parse()
                    .map_err(|_| format!("invalid percentage {s:?}"))?;
                let product = i64::from(total) * pct;
                let value = if round_up {
                    (product + 99).div_euclid(100)
                } else {
                    product.div_euclid(100)
                };
                i32::try_from(value).map_err(|_| format!("percentage {s:?} of {total} overflows"))
            }
        }
    }
}

impl From<i32> for IntOrString {
    fn from(v: i32) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for IntOrString {
    fn from(v: &str) -> Self {
        Self::String(v.to_owned())
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

impl JsonSchema for IntOrString {
    fn schema_name() -> Cow<'static, str> {
        "IntOrString".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_forms() {
        assert_eq!(
            serde_json::from_str::<IntOrString>("8080").unwrap(),
            IntOrString::Int(8080)
        );
        assert_eq!(
            serde_json::from_str::<IntOrString>(r#""http""#).unwrap(),
            "http".into()
        );
    }

    #[test]
    fn percentages_round_as_kubernetes_does() {
        let pct = IntOrString::from("25%");
        assert_eq!(pct.scaled_value(10, true), Ok(3));
        assert_eq!(pct.scaled_value(10, false), Ok(2));
        assert_eq!(IntOrString::Int(4).scaled_value(10, true), Ok(4));
        assert!(IntOrString::from("lots").scaled_value(10, true).is_err());
    }
}
