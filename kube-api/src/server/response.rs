//! Building responses: JSON bodies and `Status` errors.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use kube_core::{Error, Status};
use serde::Serialize;

use super::body::{ApiBody, ApiResponse};

/// The JSON content type.
pub(crate) const JSON: &str = "application/json";

/// A response with a JSON body.
pub(crate) fn json_bytes(code: StatusCode, body: impl Into<Bytes>) -> ApiResponse {
    let mut res = http::Response::new(ApiBody::from_bytes(body.into()));
    *res.status_mut() = code;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    res
}

/// A response with a value encoded as JSON.
pub(crate) fn json<T: Serialize + ?Sized>(code: StatusCode, value: &T) -> ApiResponse {
    match serde_json::to_vec(value) {
        Ok(body) => json_bytes(code, body),
        Err(e) => error(&Error::Internal {
            message: format!("encoding the response failed: {e}"),
            source: Some(Box::new(e)),
        }),
    }
}

/// The `Status` response of an error.
pub(crate) fn error(err: &Error) -> ApiResponse {
    status(&err.to_status())
}

/// A `Status` response, with the HTTP code it carries.
pub(crate) fn status(status: &Status) -> ApiResponse {
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = match serde_json::to_vec(status) {
        Ok(body) => json_bytes(code, body),
        Err(_) => json_bytes(code, Bytes::from_static(b"{}")),
    };
    if let Some(secs) = status.details.as_ref().and_then(|d| d.retry_after_seconds) {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    res
}

/// A plain-text response (health endpoints, metrics).
pub(crate) fn text(
    code: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> ApiResponse {
    let mut res = http::Response::new(ApiBody::from_bytes(body.into()));
    *res.status_mut() = code;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}
