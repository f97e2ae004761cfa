//! Kubernetes' protobuf encoding of request bodies (`application/vnd.kubernetes.protobuf`),
//! decoded to the JSON the rest of the server works on.
//!
//! client-go's typed clients, and so kubectl's generators (`kubectl create configmap`,
//! `create deployment`, `create role`, ...), send protobuf bodies. A body is the magic
//! `k8s\0` followed by a `runtime.Unknown` envelope holding the type (apiVersion and kind)
//! and the object's own message. Decoding is driven by tables of the messages we model
//! ([`schema`]), with Go's JSON conventions: fields Go omits when empty are left out,
//! pointer fields keep their zero values, zero timestamps are null. A kind or a field the
//! tables do not describe gets 415, telling the client to send JSON, rather than a
//! half-decoded object.

mod schema;
mod wire;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat};
use kube_core::Error;
use serde_json::{Map, Value, json};

use schema::{Field, Msg, Ty};
use wire::{Reader, WireValue};

/// The media type of Kubernetes' protobuf encoding.
pub(crate) const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every protobuf-encoded body starts with.
const MAGIC: &[u8] = b"k8s\0";

/// Go's zero `time.Time` in Unix seconds: encoded for unset timestamps.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The bytes are not valid protobuf.
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    /// The kind or a field is not described by our tables.
    #[error("{0} is not supported in protobuf; send the object as application/json")]
    Unsupported(String),
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Malformed(_) => Error::BadRequest(e.to_string()),
            DecodeError::Unsupported(_) => Error::UnsupportedMediaType(e.to_string()),
        }
    }
}

/// Decodes a protobuf request body to the object's JSON.
pub(crate) fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| DecodeError::Malformed("the body does not start with k8s\\0".into()))?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut r = Reader::new(rest);
    while let Some((no, v)) = r.next_field()? {
        match (no, v) {
            (1, WireValue::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((no, v)) = t.next_field()? {
                    match (no, v) {
                        (1, WireValue::Bytes(b)) => api_version = utf8(b)?,
                        (2, WireValue::Bytes(b)) => kind = utf8(b)?,
                        _ => {}
                    }
                }
            }
            (2, WireValue::Bytes(b)) => raw = b,
            (3, WireValue::Bytes(b)) if !b.is_empty() => {
                return Err(DecodeError::Unsupported(format!(
                    "content encoding {:?}",
                    String::from_utf8_lossy(b)
                )));
            }
            _ => {}
        }
    }
    let msg = schema::top_level(&api_version, &kind)
        .ok_or_else(|| DecodeError::Unsupported(format!("kind {kind} of {api_version}")))?;
    let mut obj = message(msg, raw, &kind)?;
    if let Value::Object(map) = &mut obj {
        let mut out = Map::with_capacity(map.len() + 2);
        out.insert("apiVersion".into(), json!(api_version));
        out.insert("kind".into(), json!(kind));
        out.append(map);
        obj = Value::Object(out);
    }
    Ok(obj)
}

fn utf8(b: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec())
        .map_err(|_| DecodeError::Malformed("a string field is not UTF-8".into()))
}

fn message(msg: &Msg, bytes: &[u8], path: &str) -> Result<Value, DecodeError> {
    let mut out = Map::new();
    decode_into(msg, bytes, path, &mut out)?;
    Ok(Value::Object(out))
}

fn decode_into(
    msg: &Msg,
    bytes: &[u8],
    path: &str,
    out: &mut Map<String, Value>,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(bytes);
    while let Some((no, v)) = r.next_field()? {
        let Some(field) = msg.fields.iter().find(|f| f.no == no) else {
            return Err(DecodeError::Unsupported(format!(
                "field {no} of {} (at {path})",
                msg.name
            )));
        };
        let here = format!("{path}.{}", field.name);
        if let Ty::Inline(inner) = field.ty {
            let WireValue::Bytes(b) = v else {
                return Err(wrong_wire(&here));
            };
            decode_into(inner, b, &here, out)?;
            continue;
        }
        if field.repeated {
            for value in scalars(field, v, &here)? {
                let list = out
                    .entry(field.name)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = list {
                    a.push(value);
                }
            }
            continue;
        }
        if let Some((key, value)) = map_entry(field, &v, &here)? {
            let m = out
                .entry(field.name)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = m {
                m.insert(key, value);
            }
            continue;
        }
        match single(field, v, &here)? {
            Some(value) => {
                out.insert(field.name.to_owned(), value);
            }
            None => {
                out.remove(field.name);
            }
        }
    }
    Ok(())
}

fn wrong_wire(path: &str) -> DecodeError {
    DecodeError::Malformed(format!("unexpected wire type at {path}"))
}

/// The values of a repeated field's occurrence (several when packed).
fn scalars(field: &Field, v: WireValue<'_>, path: &str) -> Result<Vec<Value>, DecodeError> {
    match (field.ty, v) {
        (Ty::I32 | Ty::I32P | Ty::I64 | Ty::I64P, WireValue::Bytes(packed)) => {
            let mut r = Reader::new(packed);
            let mut out = Vec::new();
            while !r.is_empty() {
                out.push(int_value(field.ty, r.varint()?));
            }
            Ok(out)
        }
        (_, v) => Ok(single(field, v, path)?
            .or_else(|| matches!(field.ty, Ty::Str).then(|| json!("")))
            .into_iter()
            .collect()),
    }
}

fn int_value(ty: Ty, v: u64) -> Value {
    // Negative numbers are sign-extended to 64 bits on the wire, for int32 as for int64.
    let n = v as i64;
    match ty {
        Ty::I32 | Ty::I32P => json!(n as i32),
        _ => json!(n),
    }
}

/// A map field's entry (a message with key 1 and value 2).
fn map_entry(
    field: &Field,
    v: &WireValue<'_>,
    path: &str,
) -> Result<Option<(String, Value)>, DecodeError> {
    let value_ty = match field.ty {
        Ty::MapStr => Ty::Str,
        Ty::MapBytes => Ty::Bytes,
        Ty::MapQuantity => Ty::Quantity,
        _ => return Ok(None),
    };
    let WireValue::Bytes(b) = v else {
        return Err(wrong_wire(path));
    };
    let mut key = String::new();
    let mut value = match value_ty {
        Ty::Quantity => json!("0"),
        _ => json!(""),
    };
    let mut r = Reader::new(b);
    while let Some((no, v)) = r.next_field()? {
        match (no, v) {
            (1, WireValue::Bytes(k)) => key = utf8(k)?,
            (2, v) => {
                let vf = Field {
                    no: 2,
                    name: "value",
                    ty: value_ty,
                    repeated: false,
                };
                value = single(&vf, v, path)?.unwrap_or(value);
            }
            _ => return Err(wrong_wire(path)),
        }
    }
    Ok(Some((key, value)))
}

/// One value; `None` for what Go's JSON omits (empty strings, zero non-pointer numbers).
fn single(field: &Field, v: WireValue<'_>, path: &str) -> Result<Option<Value>, DecodeError> {
    Ok(match (field.ty, v) {
        (Ty::Str, WireValue::Bytes(b)) => {
            let s = utf8(b)?;
            (!s.is_empty()).then(|| json!(s))
        }
        (Ty::Bytes, WireValue::Bytes(b)) => Some(json!(STANDARD.encode(b))),
        (Ty::I32 | Ty::I64, WireValue::Varint(n)) => (n != 0).then(|| int_value(field.ty, n)),
        (Ty::I32P | Ty::I64P, WireValue::Varint(n)) => Some(int_value(field.ty, n)),
        (Ty::Bool, WireValue::Varint(n)) => (n != 0).then_some(Value::Bool(true)),
        (Ty::BoolP, WireValue::Varint(n)) => Some(Value::Bool(n != 0)),
        (Ty::Msg(m), WireValue::Bytes(b)) => Some(message(m, b, path)?),
        (Ty::Time, WireValue::Bytes(b)) => time(b, false)?,
        (Ty::MicroTime, WireValue::Bytes(b)) => time(b, true)?,
        (Ty::Quantity, WireValue::Bytes(b)) => {
            let mut r = Reader::new(b);
            let mut s = String::from("0");
            while let Some((no, v)) = r.next_field()? {
                if let (1, WireValue::Bytes(q)) = (no, v) {
                    s = utf8(q)?;
                }
            }
            Some(json!(s))
        }
        (Ty::IntOrString, WireValue::Bytes(b)) => Some(int_or_string(b)?),
        (Ty::RawJson, WireValue::Bytes(b)) => {
            let mut r = Reader::new(b);
            let mut out = Value::Null;
            while let Some((no, v)) = r.next_field()? {
                if let (1, WireValue::Bytes(raw)) = (no, v) {
                    out = serde_json::from_slice(raw)
                        .map_err(|e| DecodeError::Malformed(format!("raw JSON at {path}: {e}")))?;
                }
            }
            Some(out)
        }
        (Ty::Ignore, _) => None,
        (Ty::Unsupported, _) => return Err(DecodeError::Unsupported(format!("the field {path}"))),
        _ => return Err(wrong_wire(path)),
    })
}

/// A `metav1.Time` (seconds, nanos); Go's zero time is null.
fn time(b: &[u8], micro: bool) -> Result<Option<Value>, DecodeError> {
    let mut seconds = 0i64;
    let mut nanos = 0i64;
    let mut r = Reader::new(b);
    while let Some((no, v)) = r.next_field()? {
        match (no, v) {
            (1, WireValue::Varint(n)) => seconds = n as i64,
            (2, WireValue::Varint(n)) => nanos = i64::from(n as i32),
            _ => {}
        }
    }
    if seconds == GO_ZERO_TIME && nanos == 0 {
        return Ok(None);
    }
    let t = DateTime::from_timestamp(seconds, u32::try_from(nanos).unwrap_or(0))
        .ok_or_else(|| DecodeError::Malformed(format!("timestamp {seconds} out of range")))?;
    let format = if micro {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Secs
    };
    Ok(Some(json!(t.to_rfc3339_opts(format, true))))
}

/// An `intstr.IntOrString` (type 0 int, 1 string).
fn int_or_string(b: &[u8]) -> Result<Value, DecodeError> {
    let mut is_string = false;
    let mut int = 0i64;
    let mut s = String::new();
    let mut r = Reader::new(b);
    while let Some((no, v)) = r.next_field()? {
        match (no, v) {
            (1, WireValue::Varint(t)) => is_string = t == 1,
            (2, WireValue::Varint(n)) => int = i64::from(n as i32),
            (3, WireValue::Bytes(b)) => s = utf8(b)?,
            _ => {}
        }
    }
    Ok(if is_string { json!(s) } else { json!(int) })
}

#[cfg(test)]
mod tests;
