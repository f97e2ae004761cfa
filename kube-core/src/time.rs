//! Timestamps as Kubernetes writes them.
//!
//! [`Time`] is `metav1.Time`: RFC 3339 in UTC with second precision
//! (`"2024-05-01T12:00:00Z"`). [`MicroTime`] is `metav1.MicroTime`, used by Leases and
//! Events: RFC 3339 with microseconds (`"2024-05-01T12:00:00.123456Z"`). Both accept any
//! RFC 3339 input (other offsets, other precisions) and normalise it to UTC.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! timestamp {
    ($(#[$doc:meta])* $name:ident, $format:expr, $digits:expr, $schema_name:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub DateTime<Utc>);

        impl $name {
            /// The current time, truncated to the precision this type encodes.
            pub fn now() -> Self {
                Self(Utc::now().trunc_subsecs($digits))
            }

            /// Parses an RFC 3339 timestamp.
            pub fn parse(s: &str) -> Result<Self, chrono::ParseError> {
                Ok(Self(DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc).trunc_subsecs($digits)))
            }
        }

        impl From<DateTime<Utc>> for $name {
            fn from(t: DateTime<Utc>) -> Self {
                Self(t.trunc_subsecs($digits))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0.to_rfc3339_opts($format, true))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Cow::<'de, str>::deserialize(d)?;
                Self::parse(&s).map_err(|e| {
                    serde::de::Error::custom(format!("invalid RFC 3339 timestamp {s:?}: {e}"))
                })
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                $schema_name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "format": "date-time" })
            }
        }
    };
}

timestamp!(
    /// `metav1.Time`: a UTC instant encoded as RFC 3339 with second precision.
    Time,
    SecondsFormat::Secs,
    0,
    "Time"
);

timestamp!(
    /// `metav1.MicroTime`: a UTC instant encoded as RFC 3339 with microseconds.
    MicroTime,
    SecondsFormat::Micros,
    6,
    "MicroTime"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_encodes_seconds_in_utc() {
        let t: Time = serde_json::from_str(r#""2024-05-01T14:00:00+02:00""#).unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#""2024-05-01T12:00:00Z""#
        );
        let t: Time = serde_json::from_str(r#""2024-05-01T12:00:00.999Z""#).unwrap();
        assert_eq!(t.to_string(), "2024-05-01T12:00:00Z");
    }

    #[test]
    fn micro_time_keeps_microseconds() {
        let t: MicroTime = serde_json::from_str(r#""2024-05-01T12:00:00.123456789Z""#).unwrap();
        assert_eq!(t.to_string(), "2024-05-01T12:00:00.123456Z");
    }

    #[test]
    fn bad_timestamps_are_errors() {
        assert!(serde_json::from_str::<Time>(r#""yesterday""#).is_err());
        assert!(serde_json::from_str::<Time>("12").is_err());
    }
}
