//! `Status`, the object the API server returns for errors (and some successes).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::ListMeta;

/// `metav1.Status`: the body of every error response, with a machine-readable reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Always `"v1"`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Always `"Status"`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Unused list metadata, kept for wire compatibility.
    #[serde(default)]
    pub metadata: ListMeta,
    /// `"Success"` or `"Failure"`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// A human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// A machine-readable reason (see [`StatusReason`]); empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Extra data about the reason, such as field-level causes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP status code of the response.
    #[serde(default)]
    pub code: u16,
}

impl Status {
    /// A failure with a reason and a message; the code follows from the reason.
    pub fn failure(reason: StatusReason, message: impl Into<String>) -> Self {
        Self {
            api_version: "v1".into(),
            kind: "Status".into(),
            metadata: ListMeta::default(),
            status: "Failure".into(),
            message: message.into(),
            reason: reason.as_str().into(),
            details: None,
            code: reason.code(),
        }
    }

    /// A success, as returned by deletes of some kinds.
    pub fn success() -> Self {
        Self {
            api_version: "v1".into(),
            kind: "Status".into(),
            status: "Success".into(),
            code: 200,
            ..Self::default()
        }
    }

    /// Attaches details.
    #[must_use]
    pub fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(details);
        self
    }

    /// The parsed reason, if it is one we know.
    pub fn reason(&self) -> Option<StatusReason> {
        StatusReason::parse(&self.reason)
    }

    /// True for a `"Failure"` status.
    pub fn is_failure(&self) -> bool {
        self.status == "Failure"
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.reason, self.code, self.message)
    }
}

/// `metav1.StatusDetails`: which object a status is about, and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// The name of the object concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its API group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Its kind, or resource name, as the server knows it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Its uid, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Field-level causes, for `Invalid`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub causes: Vec<StatusCause>,
    /// Seconds the client should wait before retrying (for 429 and some 5xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<i32>,
}

/// `metav1.StatusCause`: one reason an operation failed, usually tied to a field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusCause {
    /// A machine-readable cause, such as `FieldValueInvalid` or `FieldValueRequired`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The path of the field concerned, such as `metadata.name` or `spec.containers[0].image`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl StatusCause {
    /// A cause for one field.
    pub fn new(
        reason: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            reason: reason.into(),
            message: message.into(),
            field: field.into(),
        }
    }
}

/// The reasons a [`Status`] can carry, each with its HTTP code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusReason {
    /// 400: the request is malformed.
    BadRequest,
    /// 401: no valid credentials.
    Unauthorized,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: no such object or path.
    NotFound,
    /// 405: the verb is not supported on this resource.
    MethodNotAllowed,
    /// 406: none of the accepted media types can be produced.
    NotAcceptable,
    /// 409: the object already exists.
    AlreadyExists,
    /// 409: the write conflicts with the current state (stale resourceVersion).
    Conflict,
    /// 410: the requested resourceVersion is no longer available.
    Gone,
    /// 410: a continue token has expired.
    Expired,
    /// 413: the request body is too large.
    RequestEntityTooLarge,
    /// 415: the content type is not supported.
    UnsupportedMediaType,
    /// 422: the object is invalid; the causes say which fields.
    Invalid,
    /// 429: too many requests; retry later.
    TooManyRequests,
    /// 500: a bug or an unexpected failure in the server.
    InternalError,
    /// 503: the server cannot serve now.
    ServiceUnavailable,
    /// 504: the operation did not finish in time.
    Timeout,
}

impl StatusReason {
    /// Every reason, for tables and tests.
    pub const ALL: [StatusReason; 17] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::NotAcceptable,
        Self::AlreadyExists,
        Self::Conflict,
        Self::Gone,
        Self::Expired,
        Self::RequestEntityTooLarge,
        Self::UnsupportedMediaType,
        Self::Invalid,
        Self::TooManyRequests,
        Self::InternalError,
        Self::ServiceUnavailable,
        Self::Timeout,
    ];

    /// The HTTP status code of this reason.
    pub const fn code(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::NotAcceptable => 406,
            Self::AlreadyExists | Self::Conflict => 409,
            Self::Gone | Self::Expired => 410,
            Self::RequestEntityTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Invalid => 422,
            Self::TooManyRequests => 429,
            Self::InternalError => 500,
            Self::ServiceUnavailable => 503,
            Self::Timeout => 504,
        }
    }

    /// The reason as Kubernetes spells it on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BadRequest",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "NotFound",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::NotAcceptable => "NotAcceptable",
            Self::AlreadyExists => "AlreadyExists",
            Self::Conflict => "Conflict",
            Self::Gone => "Gone",
            Self::Expired => "Expired",
            Self::RequestEntityTooLarge => "RequestEntityTooLarge",
            Self::UnsupportedMediaType => "UnsupportedMediaType",
            Self::Invalid => "Invalid",
            Self::TooManyRequests => "TooManyRequests",
            Self::InternalError => "InternalError",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::Timeout => "Timeout",
        }
    }

    /// The reason for a wire spelling, if it is one we know.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for StatusReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_their_spelling() {
        for r in StatusReason::ALL {
            assert_eq!(StatusReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(StatusReason::parse("Nonsense"), None);
    }

    #[test]
    fn status_matches_kubernetes_shape() {
        let s = Status::failure(StatusReason::NotFound, r#"pods "x" not found"#).with_details(
            StatusDetails {
                name: "x".into(),
                kind: "pods".into(),
                ..Default::default()
            },
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                "message": "pods \"x\" not found", "reason": "NotFound",
                "details": {"name": "x", "kind": "pods"}, "code": 404
            })
        );
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
