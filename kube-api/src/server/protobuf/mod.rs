//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//!
//! client-go's typed clients, and so `kubectl create deployment|namespace|secret|...` and
//! `kubectl drain`, send their bodies as protobuf with no fallback to JSON. This module turns
//! such a body into the JSON object the same Go object encodes to, so that admission,
//! defaulting, validation and storage see exactly what a JSON client would have sent.
//!
//! - `wire`: the protobuf wire format, read with bounds checks (malformed input is an
//!   error, never a panic).
//! - `envelope`: the `k8s\0` prefix and the `runtime.Unknown` message around the object.
//! - `schema`: how a message's fields are described; `schemas`: the tables, one file per
//!   API group, for every kind the server serves and the subresource bodies.
//! - `convert`: from bytes and a schema to JSON, with Go's `omitempty` and pointer rules.
//!
//! The server calls [`decode`] for every body sent as [`MEDIA_TYPE`]; it is public so that
//! other front ends (a webhook, a proxy) can read such bodies too.
//!
//! ```
//! use kube_api::server::protobuf;
//!
//! // A Namespace named "n1", as client-go encodes it.
//! let mut body = b"k8s\0".to_vec();
//! body.extend_from_slice(&[0x0a, 0x0f, 0x0a, 0x02, b'v', b'1', 0x12, 0x09]);
//! body.extend_from_slice(b"Namespace");
//! body.extend_from_slice(&[0x12, 0x08, 0x0a, 0x06, 0x0a, 0x02, b'n', b'1', 0x42, 0x00]);
//! let object = protobuf::decode(&body)?;
//! assert_eq!(
//!     object,
//!     serde_json::json!({
//!         "apiVersion": "v1",
//!         "kind": "Namespace",
//!         "metadata": {"name": "n1"},
//!         "spec": {},
//!         "status": {},
//!     })
//! );
//! # Ok::<(), protobuf::ProtobufError>(())
//! ```

mod convert;
mod envelope;
mod schema;
mod schemas;
mod wire;

use kube_core::{Error, QuantityError};
use serde_json::Value;

/// The media type of Kubernetes protobuf.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("the body does not start with the Kubernetes protobuf prefix \"k8s\\x00\"")]
    MissingMagic,
    /// A varint, a fixed-size value or a length-delimited payload runs past its end.
    #[error("the message is truncated at byte {at}")]
    Truncated {
        /// Offset in the body.
        at: usize,
    },
    /// A varint longer than ten bytes or wider than 64 bits.
    #[error("a varint at byte {at} overflows 64 bits")]
    VarintOverflow {
        /// Offset in the body.
        at: usize,
    },
    /// A key with wire type 6 or 7.
    #[error("invalid wire type {wire_type} at byte {at}")]
    InvalidWireType {
        /// The wire type found.
        wire_type: u64,
        /// Offset in the body.
        at: usize,
    },
    /// A key with field number 0 or above the protobuf maximum.
    #[error("invalid field number {number} at byte {at}")]
    InvalidFieldNumber {
        /// The field number found.
        number: u64,
        /// Offset in the body.
        at: usize,
    },
    /// An end-group key that closes no open group.
    #[error("an unmatched end-group at byte {at}")]
    UnexpectedEndGroup {
        /// Offset in the body.
        at: usize,
    },
    /// Groups or messages nested deeper than any Kubernetes object does.
    #[error("the message nests too deeply at byte {at}")]
    TooDeep {
        /// Offset in the body.
        at: usize,
    },
    /// A known field arrived with a wire type its type cannot have.
    #[error("field {field} of {message} has the wrong wire type ({found}) at byte {at}")]
    WireType {
        /// The Go name of the message.
        message: &'static str,
        /// The field number.
        field: u32,
        /// The wire type found.
        found: &'static str,
        /// Offset in the body.
        at: usize,
    },
    /// A quantity that does not parse.
    #[error("invalid quantity {value:?} at byte {at}")]
    Quantity {
        /// The string sent.
        value: String,
        /// Offset in the body.
        at: usize,
        /// Why it does not parse.
        #[source]
        source: QuantityError,
    },
    /// An `IntOrString` whose type is neither 0 (int) nor 1 (string).
    #[error("an IntOrString at byte {at} has type {found}; only 0 (int) and 1 (string) exist")]
    IntOrStringType {
        /// The type sent.
        found: u64,
        /// Offset in the body.
        at: usize,
    },
    /// A timestamp outside the years 0 to 9999.
    #[error("the timestamp {seconds}s at byte {at} is outside the years 0 to 9999")]
    TimeOutOfRange {
        /// Seconds from the Unix epoch.
        seconds: i64,
        /// Offset in the body.
        at: usize,
    },
    /// A `RawExtension` whose bytes are not JSON.
    #[error("the embedded object at byte {at} is not JSON")]
    RawExtension {
        /// Offset in the body.
        at: usize,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The body decodes to far more JSON than a body of its size may.
    #[error("the body expands to more than {limit} JSON values")]
    Expands {
        /// How many values a body of this size may make.
        limit: usize,
    },
    /// The envelope names no kind.
    #[error("the envelope names no kind (Object 'Kind' is missing)")]
    MissingKind,
    /// A kind this server has no protobuf schema for (custom resources are JSON only, as in
    /// Kubernetes).
    #[error("{api_version}, Kind={kind} cannot be sent as protobuf; send application/json")]
    UnknownKind {
        /// `apiVersion` from the envelope.
        api_version: String,
        /// `kind` from the envelope.
        kind: String,
    },
    /// The envelope's object is compressed or otherwise encoded.
    #[error("content encoding {0:?} is not supported")]
    ContentEncoding(String),
    /// The envelope's object is of another media type.
    #[error("an enveloped object of type {0:?} is not supported")]
    ContentType(String),
}

impl From<ProtobufError> for Error {
    fn from(e: ProtobufError) -> Self {
        match e {
            ProtobufError::UnknownKind { .. }
            | ProtobufError::ContentEncoding(_)
            | ProtobufError::ContentType(_) => Error::UnsupportedMediaType(e.to_string()),
            ProtobufError::Expands { .. } => Error::RequestEntityTooLarge(e.to_string()),
            _ => Error::BadRequest(format!("the body is not valid Kubernetes protobuf: {e}")),
        }
    }
}

/// The media type of a `Content-Type` value, without parameters, in lower case.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The JSON object of an enveloped protobuf body: `apiVersion` and `kind` from the
/// envelope, every other field as Go's `encoding/json` writes the same object.
///
/// # Errors
///
/// [`ProtobufError`] when the body is not a well-formed envelope around a message of a
/// kind this server serves; [`From`] maps it to 400 Bad Request, or to 415 Unsupported
/// Media Type for a kind or an encoding with no protobuf support.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = envelope::read(body)?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::ContentEncoding(envelope.content_encoding));
    }
    let inner_media = media_type(&envelope.content_type);
    if !inner_media.is_empty() && !inner_media.starts_with(MEDIA_TYPE) {
        return Err(ProtobufError::ContentType(envelope.content_type));
    }
    if envelope.kind.is_empty() {
        return Err(ProtobufError::MissingKind);
    }
    let schema = schemas::lookup(&envelope.api_version, &envelope.kind).ok_or_else(|| {
        ProtobufError::UnknownKind {
            api_version: envelope.api_version.clone(),
            kind: envelope.kind.clone(),
        }
    })?;
    let mut object = convert::message(envelope.raw, envelope.raw_at, schema)?;
    tracing::trace!(
        api_version = %envelope.api_version,
        kind = %envelope.kind,
        bytes = body.len(),
        "decoded a protobuf body"
    );
    object.insert("kind".into(), Value::String(envelope.kind));
    if !envelope.api_version.is_empty() {
        object.insert("apiVersion".into(), Value::String(envelope.api_version));
    }
    Ok(Value::Object(object))
}
