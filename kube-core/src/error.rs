//! The API error type, and its one mapping to a Kubernetes [`Status`].
//!
//! Every component reports API-level failures as an [`Error`]; the API server turns it into
//! a `Status` body with [`Error::to_status`], and clients turn a `Status` they receive back
//! into an `Error` with [`Error::from`]. The reason decides the HTTP code.

use crate::status::{Status, StatusCause, StatusDetails, StatusReason};

/// A boxed error from user code (plugins, reconcilers, runtimes), its cause kept.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of kube-core's API-level operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which object an error is about: its group, resource (plural) and name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectRef {
    /// API group; empty for the core group.
    pub group: String,
    /// Resource name, plural (`"pods"`).
    pub resource: String,
    /// Object name; may be empty when the object has none yet.
    pub name: String,
}

impl ObjectRef {
    /// A reference from its parts.
    pub fn new(
        group: impl Into<String>,
        resource: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
        }
    }

    /// `pods` or `deployments.apps`, as Kubernetes names a resource in messages.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> StatusDetails {
        StatusDetails {
            name: self.name.clone(),
            group: self.group.clone(),
            kind: self.resource.clone(),
            ..StatusDetails::default()
        }
    }
}

/// An API-level failure. Each variant maps to one [`StatusReason`] and HTTP code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed (bad JSON, bad selector, bad patch, bad parameter).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: no valid credentials were presented.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: the user may not do this; the message says who, what and why.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: no such object.
    #[error("{} {:?} not found", .0.qualified_resource(), .0.name)]
    NotFound(ObjectRef),
    /// 405: the verb is not supported on this resource.
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// 406: the requested media type cannot be produced.
    #[error("not acceptable: {0}")]
    NotAcceptable(String),
    /// 409: an object with this name exists already.
    #[error("{} {:?} already exists", .0.qualified_resource(), .0.name)]
    AlreadyExists(ObjectRef),
    /// 409: the write was based on a stale resourceVersion, or conflicts otherwise.
    #[error("operation cannot be fulfilled on {} {:?}: {message}", .object.qualified_resource(), .object.name)]
    Conflict {
        /// The object concerned.
        object: ObjectRef,
        /// Why it conflicts.
        message: String,
    },
    /// 410: the resourceVersion asked for has been compacted away.
    #[error("gone: {0}")]
    Gone(String),
    /// 410: a continue token has expired (its revision was compacted).
    #[error("expired: {0}")]
    Expired(String),
    /// 413: the body exceeds the limit.
    #[error("request entity too large: {0}")]
    RequestEntityTooLarge(String),
    /// 415: the content type is not supported for this operation.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// 422: the object is invalid; one cause per field.
    #[error("{} {:?} is invalid: {}", .object.qualified_resource(), .object.name, causes_text(.causes))]
    Invalid {
        /// The object concerned.
        object: ObjectRef,
        /// One entry per invalid field.
        causes: Vec<StatusCause>,
    },
    /// 429: too many requests in flight; retry after the given seconds.
    #[error("too many requests, retry after {retry_after_seconds}s")]
    TooManyRequests {
        /// Seconds the client should wait.
        retry_after_seconds: i32,
    },
    /// 500: something failed that is not the client's fault.
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// 503: the server cannot serve right now (starting, shutting down, store unavailable).
    #[error("service unavailable: {0}")]
    ServiceUnavailable(String),
    /// 504: the operation did not complete in time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// A `Status` received from a server, with a reason this enum does not single out.
    #[error("{0}")]
    Status(Box<Status>),
}

fn causes_text(causes: &[StatusCause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| {
            if c.field.is_empty() {
                c.message.clone()
            } else {
                format!("{}: {}", c.field, c.message)
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

impl Error {
    /// A 500 with a cause.
    pub fn internal(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A 422 for one field.
    pub fn invalid_field(
        object: ObjectRef,
        field: impl Into<String>,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            object,
            causes: vec![StatusCause::new(reason, field, message)],
        }
    }

    /// The reason of this error.
    pub fn reason(&self) -> StatusReason {
        match self {
            Self::BadRequest(_) => StatusReason::BadRequest,
            Self::Unauthorized(_) => StatusReason::Unauthorized,
            Self::Forbidden(_) => StatusReason::Forbidden,
            Self::NotFound(_) => StatusReason::NotFound,
            Self::MethodNotAllowed(_) => StatusReason::MethodNotAllowed,
            Self::NotAcceptable(_) => StatusReason::NotAcceptable,
            Self::AlreadyExists(_) => StatusReason::AlreadyExists,
            Self::Conflict { .. } => StatusReason::Conflict,
            Self::Gone(_) => StatusReason::Gone,
            Self::Expired(_) => StatusReason::Expired,
            Self::RequestEntityTooLarge(_) => StatusReason::RequestEntityTooLarge,
            Self::UnsupportedMediaType(_) => StatusReason::UnsupportedMediaType,
            Self::Invalid { .. } => StatusReason::Invalid,
            Self::TooManyRequests { .. } => StatusReason::TooManyRequests,
            Self::Internal { .. } => StatusReason::InternalError,
            Self::ServiceUnavailable(_) => StatusReason::ServiceUnavailable,
            Self::Timeout(_) => StatusReason::Timeout,
            Self::Status(s) => s.reason().unwrap_or(match s.code {
                400 => StatusReason::BadRequest,
                401 => StatusReason::Unauthorized,
                403 => StatusReason::Forbidden,
                404 => StatusReason::NotFound,
                409 => StatusReason::Conflict,
                410 => StatusReason::Gone,
                422 => StatusReason::Invalid,
                429 => StatusReason::TooManyRequests,
                503 => StatusReason::ServiceUnavailable,
                504 => StatusReason::Timeout,
                _ => StatusReason::InternalError,
            }),
        }
    }

    /// The HTTP status code of this error.
    pub fn code(&self) -> u16 {
        match self {
            Self::Status(s) if s.code != 0 => s.code,
            other => other.reason().code(),
        }
    }

    /// True for errors a client may retry unchanged (429, 503, 504, and 500).
    pub fn is_retryable(&self) -> bool {
        matches!(self.code(), 429 | 500 | 503 | 504)
    }

    /// The `Status` body for this error.
    pub fn to_status(&self) -> Status {
        if let Self::Status(s) = self {
            return Status::clone(s);
        }
        let status = Status::failure(self.reason(), self.to_string());
        match self {
            Self::NotFound(o) | Self::AlreadyExists(o) | Self::Conflict { object: o, .. } => {
                status.with_details(o.details())
            }
            Self::Invalid { object, causes } => status.with_details(StatusDetails {
                causes: causes.clone(),
                ..object.details()
            }),
            Self::TooManyRequests {
                retry_after_seconds,
            } => status.with_details(StatusDetails {
                retry_after_seconds: Some(*retry_after_seconds),
                ..StatusDetails::default()
            }),
            _ => status,
        }
    }
}

impl From<Status> for Error {
    fn from(s: Status) -> Self {
        let details = s.details.clone().unwrap_or_default();
        let object = ObjectRef::new(details.group, details.kind, details.name);
        match s.reason() {
            Some(StatusReason::NotFound) => Self::NotFound(object),
            Some(StatusReason::AlreadyExists) => Self::AlreadyExists(object),
            Some(StatusReason::Conflict) => Self::Conflict {
                object,
                message: s.message,
            },
            Some(StatusReason::Invalid) => Self::Invalid {
                object,
                causes: details.causes,
            },
            Some(StatusReason::Gone) => Self::Gone(s.message),
            Some(StatusReason::Expired) => Self::Expired(s.message),
            Some(StatusReason::TooManyRequests) => Self::TooManyRequests {
                retry_after_seconds: details.retry_after_seconds.unwrap_or(1),
            },
            _ => Self::Status(Box::new(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> ObjectRef {
        ObjectRef::new("", "pods", name)
    }

    #[test]
    fn every_variant_has_the_kubernetes_code() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (Error::BadRequest("x".into()), 400, "BadRequest"),
            (Error::Unauthorized("x".into()), 401, "Unauthorized"),
            (Error::Forbidden("x".into()), 403, "Forbidden"),
            (Error::NotFound(pod("a")), 404, "NotFound"),
            (Error::AlreadyExists(pod("a")), 409, "AlreadyExists"),
            (
                Error::Conflict {
                    object: pod("a"),
                    message: "stale".into(),
                },
                409,
                "Conflict",
            ),
            (Error::Gone("compacted".into()), 410, "Gone"),
            (Error::Expired("token".into()), 410, "Expired"),
            (
                Error::invalid_field(pod("A"), "metadata.name", "FieldValueInvalid", "bad"),
                422,
                "Invalid",
            ),
            (
                Error::TooManyRequests {
                    retry_after_seconds: 1,
                },
                429,
                "TooManyRequests",
            ),
            (
                Error::Internal {
                    message: "x".into(),
                    source: None,
                },
                500,
                "InternalError",
            ),
            (
                Error::ServiceUnavailable("x".into()),
                503,
                "ServiceUnavailable",
            ),
        ];
        for (err, code, reason) in cases {
            let status = err.to_status();
            assert_eq!(
                (status.code, status.reason.as_str()),
                (code, reason),
                "{err}"
            );
            assert!(status.is_failure());
            // And back: the status a client receives gives the same reason and code.
            let back = Error::from(status);
            assert_eq!((back.code(), back.reason().as_str()), (code, reason));
        }
    }

    #[test]
    fn invalid_keeps_field_causes() {
        let err = Error::invalid_field(
            pod("A"),
            "metadata.name",
            "FieldValueInvalid",
            "must be lower case",
        );
        let status = err.to_status();
        let cause = &status.details.as_ref().unwrap().causes[0];
        assert_eq!(cause.field, "metadata.name");
        assert_eq!(
            status.message,
            r#"pods "A" is invalid: [metadata.name: must be lower case]"#
        );
    }

    #[test]
    fn messages_read_like_kubernetes() {
        let err = Error::NotFound(ObjectRef::new("apps", "deployments", "web"));
        assert_eq!(err.to_string(), r#"deployments.apps "web" not found"#);
    }

    #[test]
    fn unknown_reasons_fall_back_on_the_code() {
        let s = Status {
            code: 503,
            status: "Failure".into(),
            ..Status::default()
        };
        let err = Error::from(s);
        assert_eq!(err.reason(), StatusReason::ServiceUnavailable);
        assert!(err.is_retryable());
    }
}
