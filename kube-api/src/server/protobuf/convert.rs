//! From a message's bytes and its schema to the JSON object Go's `encoding/json` writes
//! for the same Go struct.
//!
//! Decoding follows Go's generated unmarshalers: the last value of a singular scalar wins,
//! repeated occurrences of a singular message merge, repeated scalars come packed or not,
//! unknown fields are skipped. Encoding follows Go's JSON rules field by field: a value
//! without `omitempty` is always written (its zero value when absent), one with
//! `omitempty` only when not zero, a pointer only when the sender set it, and a struct
//! always, since Go never considers a struct empty.

use std::borrow::Cow;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use kube_core::Quantity;
use serde_json::{Map, Value};

use super::ProtobufError;
use super::schema::{Field, Go, Message, Shape, Ty};
use super::wire::{self, Reader, Value as Wire};

/// How deep messages may nest. The served kinds nest about a dozen levels.
const MAX_DEPTH: usize = 48;

/// Seconds from the Unix epoch back to Go's zero `time.Time` (January 1, year 1, UTC).
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// The JSON object for the message in `bytes` (which start at byte `at` of the body).
pub(crate) fn message(
    bytes: &[u8],
    at: usize,
    schema: &'static Message,
) -> Result<Map<String, Value>, ProtobufError> {
    let mut cx = Decoder {
        depth: 0,
        budget: MIN_VALUE_BUDGET + bytes.len(),
        limit: MIN_VALUE_BUDGET + bytes.len(),
    };
    decode_message(bytes, at, schema, &mut cx)
}

/// How many JSON values any body may decode to, on top of one per byte of the body.
///
/// Go's JSON writes fields a body does not carry (`"resources": {}`, `"status": {}`), so a
/// few bytes can stand for many values: a list of empty container statuses is two bytes an
/// element and seven values. The budget keeps that expansion within what a JSON body of the
/// same size could make the server hold, instead of letting 3 MiB of protobuf become
/// gigabytes of JSON. Real objects stay far below it (a pod with everything set makes one
/// value per five bytes).
const MIN_VALUE_BUDGET: usize = 4096;

/// The state of one decode: how deep it is and how many JSON values it may still make.
struct Decoder {
    depth: usize,
    budget: usize,
    limit: usize,
}

impl Decoder {
    fn spend(&mut self) -> Result<(), ProtobufError> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or(ProtobufError::Expands { limit: self.limit })?;
        Ok(())
    }
}

/// What was read for one field of a message.
enum Slot<'a> {
    Absent,
    /// A scalar: the last occurrence wins.
    Scalar(Value),
    /// The one occurrence of a singular message-typed field (the usual case, kept without
    /// allocating).
    Chunk([(&'a [u8], usize); 1]),
    /// The occurrences of a singular message-typed field sent more than once, merged when
    /// decoded.
    Chunks(Vec<(&'a [u8], usize)>),
    List(Vec<Value>),
    Map(Map<String, Value>),
}

fn decode_message(
    bytes: &[u8],
    at: usize,
    schema: &'static Message,
    cx: &mut Decoder,
) -> Result<Map<String, Value>, ProtobufError> {
    if cx.depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep { at });
    }
    cx.spend()?;
    let mut slots: Vec<Slot<'_>> = schema.fields.iter().map(|_| Slot::Absent).collect();
    let mut reader = Reader::new(bytes, at);
    while let Some((number, value_at, value)) = reader.field()? {
        let Some((index, field)) = schema.field(number) else {
            continue;
        };
        let slot = &mut slots[index];
        if matches!(field.shape, Shape::Repeated | Shape::Map) {
            cx.spend()?;
        }
        match field.shape {
            Shape::One | Shape::Inline if field.ty.is_struct() => {
                let chunk = expect_bytes(schema, field, value, value_at)?;
                match slot {
                    Slot::Chunk([first]) => *slot = Slot::Chunks(vec![*first, (chunk, value_at)]),
                    Slot::Chunks(chunks) => chunks.push((chunk, value_at)),
                    _ => *slot = Slot::Chunk([(chunk, value_at)]),
                }
            }
            Shape::One | Shape::Inline => {
                *slot = Slot::Scalar(scalar(schema, field, value, value_at)?);
            }
            Shape::Repeated => {
                if !matches!(slot, Slot::List(_)) {
                    *slot = Slot::List(Vec::new());
                }
                let Slot::List(list) = slot else {
                    continue;
                };
                match (field.ty, value) {
                    (ty, value) if ty.is_struct() => {
                        let chunk = expect_bytes(schema, field, value, value_at)?;
                        list.push(struct_value(ty, &[(chunk, value_at)], cx)?);
                    }
                    (Ty::Bool | Ty::Int32 | Ty::Int64, Wire::Bytes(packed)) => {
                        for v in wire::packed_varints(packed, value_at)? {
                            cx.spend()?;
                            list.push(scalar(schema, field, Wire::Varint(v), value_at)?);
                        }
                    }
                    (_, value) => list.push(scalar(schema, field, value, value_at)?),
                }
            }
            Shape::Map => {
                let entry = expect_bytes(schema, field, value, value_at)?;
                let (key, value) = map_entry(schema, field, entry, value_at, cx)?;
                match slot {
                    Slot::Map(map) => {
                        map.insert(key, value);
                    }
                    _ => *slot = Slot::Map(Map::from_iter([(key, value)])),
                }
            }
        }
    }

    let mut out = Map::new();
    for (field, slot) in schema.fields.iter().zip(slots) {
        emit(field, slot, &mut out, cx)?;
    }
    Ok(out)
}

/// Writes one field into `out` as Go's JSON encoder would.
fn emit(
    field: &'static Field,
    slot: Slot<'_>,
    out: &mut Map<String, Value>,
    cx: &mut Decoder,
) -> Result<(), ProtobufError> {
    if field.shape == Shape::Inline {
        let chunks = match &slot {
            Slot::Chunk(chunk) => chunk.as_slice(),
            Slot::Chunks(chunks) => chunks.as_slice(),
            _ => &[],
        };
        if let Value::Object(inner) = struct_value(field.ty, chunks, cx)? {
            for (k, v) in inner {
                out.entry(k).or_insert(v);
            }
        }
    } else if let Some(value) = json_value(field, slot, cx)? {
        cx.spend()?;
        // The name is only allocated for a field that is written.
        out.insert(field.json.to_owned(), value);
    }
    Ok(())
}

/// The JSON value Go writes for a field that is not inlined, or `None` when Go leaves the
/// field out.
fn json_value(
    field: &'static Field,
    slot: Slot<'_>,
    cx: &mut Decoder,
) -> Result<Option<Value>, ProtobufError> {
    Ok(match field.shape {
        Shape::Repeated | Shape::Map => match slot {
            Slot::List(list) => Some(Value::Array(list)),
            Slot::Map(map) => Some(Value::Object(map)),
            // A nil slice or map: `null` unless `omitempty`.
            _ if matches!(field.go, Go::Req | Go::PtrNull) => Some(Value::Null),
            _ => None,
        },
        Shape::One | Shape::Inline if field.ty.is_struct() => match (slot, field.go) {
            (Slot::Chunk(chunk), Go::OmitZero) => {
                Some(struct_value(field.ty, &chunk, cx)?).filter(|v| !is_zero(v))
            }
            (Slot::Chunk(chunk), _) => Some(struct_value(field.ty, &chunk, cx)?),
            (Slot::Chunks(chunks), Go::OmitZero) => {
                Some(struct_value(field.ty, &chunks, cx)?).filter(|v| !is_zero(v))
            }
            (Slot::Chunks(chunks), _) => Some(struct_value(field.ty, &chunks, cx)?),
            (_, Go::Req | Go::Opt) => Some(struct_value(field.ty, &[], cx)?),
            (_, Go::PtrNull) => Some(Value::Null),
            (_, Go::Ptr | Go::OmitZero) => None,
        },
        Shape::One | Shape::Inline => match (slot, field.go) {
            (Slot::Scalar(v), Go::Opt | Go::OmitZero) => Some(v).filter(|v| !is_zero(v)),
            (Slot::Scalar(v), _) => Some(v),
            (_, Go::Req) => Some(zero_scalar(field.ty)),
            (_, Go::PtrNull) => Some(Value::Null),
            (_, Go::Opt | Go::Ptr | Go::OmitZero) => None,
        },
    })
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0) || n.as_u64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn zero_scalar(ty: Ty) -> Value {
    match ty {
        Ty::Bool => Value::Bool(false),
        Ty::Int32 | Ty::Int64 => Value::from(0),
        // A nil []byte.
        Ty::Bytes => Value::Null,
        _ => Value::String(String::new()),
    }
}

fn wrong_wire_type(
    schema: &'static Message,
    field: &'static Field,
    value: Wire<'_>,
    at: usize,
) -> ProtobufError {
    ProtobufError::WireType {
        message: schema.name,
        field: field.number,
        found: value.wire_type().name(),
        at,
    }
}

fn expect_bytes<'a>(
    schema: &'static Message,
    field: &'static Field,
    value: Wire<'a>,
    at: usize,
) -> Result<&'a [u8], ProtobufError> {
    match value {
        Wire::Bytes(b) => Ok(b),
        other => Err(wrong_wire_type(schema, field, other, at)),
    }
}

/// A string as Go's JSON writes it: invalid UTF-8 becomes U+FFFD.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scalar(
    schema: &'static Message,
    field: &'static Field,
    value: Wire<'_>,
    at: usize,
) -> Result<Value, ProtobufError> {
    Ok(match (field.ty, value) {
        (Ty::String, Wire::Bytes(b)) => Value::String(text(b)),
        (Ty::Bytes, Wire::Bytes(b)) => Value::String(BASE64.encode(b)),
        (Ty::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        // Go accumulates the varint into an int32: the low 32 bits.
        #[allow(clippy::cast_possible_truncation)]
        (Ty::Int32, Wire::Varint(v)) => Value::from(v as u32 as i32),
        #[allow(clippy::cast_possible_wrap)]
        (Ty::Int64, Wire::Varint(v)) => Value::from(v as i64),
        (_, other) => return Err(wrong_wire_type(schema, field, other, at)),
    })
}

/// One `map<string, T>` entry: key = 1, value = 2.
fn map_entry(
    schema: &'static Message,
    field: &'static Field,
    entry: &[u8],
    at: usize,
    cx: &mut Decoder,
) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut value: Option<Value> = None;
    let mut chunks = Vec::new();
    let mut reader = Reader::new(entry, at);
    while let Some((number, value_at, v)) = reader.field()? {
        match number {
            1 => key = text(expect_bytes(schema, field, v, value_at)?),
            2 if field.ty.is_struct() => {
                chunks.push((expect_bytes(schema, field, v, value_at)?, value_at));
            }
            2 => value = Some(scalar(schema, field, v, value_at)?),
            _ => {}
        }
    }
    let value = match field.ty {
        ty if ty.is_struct() => struct_value(ty, &chunks, cx)?,
        // Go's unmarshaler starts a bytes value at `[]byte{}`, which JSON writes as "".
        Ty::Bytes => value.unwrap_or_else(|| Value::String(String::new())),
        ty => value.unwrap_or_else(|| zero_scalar(ty)),
    };
    Ok((key, value))
}

/// A struct-typed value from its occurrences on the wire (none: its zero value).
fn struct_value(
    ty: Ty,
    chunks: &[(&[u8], usize)],
    cx: &mut Decoder,
) -> Result<Value, ProtobufError> {
    let joined: Cow<'_, [u8]> = match chunks {
        [] => Cow::Borrowed(&[]),
        [(one, _)] => Cow::Borrowed(*one),
        many => Cow::Owned(many.iter().flat_map(|(b, _)| b.iter().copied()).collect()),
    };
    let at = chunks.first().map_or(0, |(_, at)| *at);
    let bytes = joined.as_ref();
    match ty {
        Ty::Message(schema) => {
            cx.depth += 1;
            let object = decode_message(bytes, at, schema, cx);
            cx.depth -= 1;
            Ok(Value::Object(object?))
        }
        Ty::Time => timestamp(bytes, at, false),
        Ty::MicroTime => timestamp(bytes, at, true),
        Ty::Quantity => quantity(bytes, at),
        Ty::IntOrString => int_or_string(bytes, at),
        Ty::Duration => duration(bytes, at),
        Ty::RawExtension => raw_extension(bytes, at),
        Ty::String | Ty::Bool | Ty::Int32 | Ty::Int64 | Ty::Bytes => Ok(Value::Null),
    }
}

/// The last value of fields 1 to 3 of a small well-known message (Time, Quantity,
/// IntOrString, ...), read without allocating; a fixed-size or group value there is an
/// error, other fields are skipped.
fn small_fields<'a>(
    bytes: &'a [u8],
    at: usize,
    name: &'static str,
) -> Result<[Option<Wire<'a>>; 3], ProtobufError> {
    let mut out = [None; 3];
    let mut reader = Reader::new(bytes, at);
    while let Some((number, value_at, value)) = reader.field()? {
        let Some(slot) = number.checked_sub(1).and_then(|i| out.get_mut(i as usize)) else {
            continue;
        };
        if matches!(value, Wire::Fixed32(_) | Wire::Fixed64(_) | Wire::Group) {
            return Err(ProtobufError::WireType {
                message: name,
                field: number,
                found: value.wire_type().name(),
                at: value_at,
            });
        }
        *slot = Some(value);
    }
    Ok(out)
}

fn varint_field(fields: &[Option<Wire<'_>>; 3], number: usize) -> Option<u64> {
    match fields[number - 1] {
        Some(Wire::Varint(x)) => Some(x),
        _ => None,
    }
}

fn bytes_field<'a>(fields: &[Option<Wire<'a>>; 3], number: usize) -> Option<&'a [u8]> {
    match fields[number - 1] {
        Some(Wire::Bytes(b)) => Some(b),
        _ => None,
    }
}

/// `meta/v1 Time` (whole seconds: Go drops the nanoseconds of a `Time` when decoding) or
/// `MicroTime` (microseconds), as Kubernetes writes them in JSON; `null` when zero.
fn timestamp(bytes: &[u8], at: usize, micro: bool) -> Result<Value, ProtobufError> {
    let fields = small_fields(bytes, at, if micro { "MicroTime" } else { "Time" })?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    #[allow(clippy::cast_possible_wrap)]
    let seconds = varint_field(&fields, 1).unwrap_or(0) as i64;
    #[allow(clippy::cast_possible_truncation)]
    let nanos = if micro {
        i64::from(varint_field(&fields, 2).unwrap_or(0) as u32 as i32)
    } else {
        0
    };
    // time.Unix normalises nanoseconds outside [0, 1e9) into the seconds.
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    if total == i128::from(GO_ZERO_TIME_SECONDS) * 1_000_000_000 {
        return Ok(Value::Null);
    }
    let out_of_range = || ProtobufError::TimeOutOfRange { seconds, at };
    let secs = i64::try_from(total.div_euclid(1_000_000_000)).map_err(|_| out_of_range())?;
    let nsec = u32::try_from(total.rem_euclid(1_000_000_000)).map_err(|_| out_of_range())?;
    let time: DateTime<Utc> = DateTime::from_timestamp(secs, nsec)
        .filter(|t| (0..=9999).contains(&t.year()))
        .ok_or_else(out_of_range)?;
    let format = if micro {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Secs
    };
    Ok(Value::String(time.to_rfc3339_opts(format, true)))
}

/// `resource.Quantity` (string = 1), written in canonical form as Go re-encodes it.
fn quantity(bytes: &[u8], at: usize) -> Result<Value, ProtobufError> {
    let fields = small_fields(bytes, at, "Quantity")?;
    let raw = bytes_field(&fields, 1).map(text).unwrap_or_default();
    if raw.is_empty() {
        return Ok(Value::String("0".into()));
    }
    let q = Quantity::from_str(&raw).map_err(|source| ProtobufError::Quantity {
        value: raw.clone(),
        at,
        source,
    })?;
    Ok(Value::String(q.to_string()))
}

/// `intstr.IntOrString`: type = 1 (0 int, 1 string), intVal = 2, strVal = 3.
fn int_or_string(bytes: &[u8], at: usize) -> Result<Value, ProtobufError> {
    let fields = small_fields(bytes, at, "IntOrString")?;
    match varint_field(&fields, 1).unwrap_or(0) {
        #[allow(clippy::cast_possible_truncation)]
        0 => Ok(Value::from(
            varint_field(&fields, 2).unwrap_or(0) as u32 as i32
        )),
        1 => Ok(Value::String(
            bytes_field(&fields, 3).map(text).unwrap_or_default(),
        )),
        other => Err(ProtobufError::IntOrStringType { found: other, at }),
    }
}

/// `meta/v1 Duration` (nanoseconds = 1), as Go's `time.Duration.String()`.
fn duration(bytes: &[u8], at: usize) -> Result<Value, ProtobufError> {
    let fields = small_fields(bytes, at, "Duration")?;
    #[allow(clippy::cast_possible_wrap)]
    let nanos = varint_field(&fields, 1).unwrap_or(0) as i64;
    Ok(Value::String(go_duration(nanos)))
}

/// Go's `time.Duration.String()`: `"1h2m3.5s"`, `"1.5ms"`, `"0s"`.
pub(crate) fn go_duration(nanos: i64) -> String {
    fn fraction(value: u64, digits: u32) -> String {
        let s = format!("{value:0width$}", width = digits as usize);
        let s = s.trim_end_matches('0');
        if s.is_empty() {
            String::new()
        } else {
            format!(".{s}")
        }
    }
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}{}µs", u / 1_000, fraction(u % 1_000, 3))
    } else if u < 1_000_000_000 {
        format!("{}{}ms", u / 1_000_000, fraction(u % 1_000_000, 6))
    } else {
        let secs = u / 1_000_000_000;
        let frac = fraction(u % 1_000_000_000, 9);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            format!("{h}h{m}m{s}{frac}s")
        } else if m > 0 {
            format!("{m}m{s}{frac}s")
        } else {
            format!("{s}{frac}s")
        }
    };
    format!("{sign}{body}")
}

/// `runtime.RawExtension` (raw = 1): the bytes are the JSON of the embedded object.
fn raw_extension(bytes: &[u8], at: usize) -> Result<Value, ProtobufError> {
    let fields = small_fields(bytes, at, "RawExtension")?;
    match bytes_field(&fields, 1) {
        None | Some([]) => Ok(Value::Null),
        Some(raw) => {
            serde_json::from_slice(raw).map_err(|source| ProtobufError::RawExtension { at, source })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::schema::{
        B, BYTES, I32, I64, INT_OR_STR, OMIT_ZERO, OPT, PTR, PTR_NULL, QTY, REQ, S,
    };
    use super::super::schema::{MICRO, TIME, f, inline, m, map, rep};
    use super::*;

    /// A tiny encoder for the tests: key, then payload.
    fn key(number: u32, wire_type: u8) -> Vec<u8> {
        varint(u64::from(number) << 3 | u64::from(wire_type))
    }
    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }
    fn vint(number: u32, v: u64) -> Vec<u8> {
        [key(number, 0), varint(v)].concat()
    }
    fn bytes(number: u32, b: &[u8]) -> Vec<u8> {
        [key(number, 2), varint(b.len() as u64), b.to_vec()].concat()
    }

    static INNER: Message = Message::new(
        "Inner",
        &[f(1, "a", S, OPT), f(2, "b", I32, OPT), f(3, "c", B, REQ)],
    );
    static EMBEDDED: Message = Message::new("Embedded", &[f(1, "name", S, OPT)]);
    static OUTER: Message = Message::new(
        "Outer",
        &[
            f(1, "req", S, REQ),
            f(2, "opt", S, OPT),
            f(3, "ptr", I32, PTR),
            f(4, "ptrNull", S, PTR_NULL),
            f(5, "inner", m(&INNER), OPT),
            f(6, "innerPtr", m(&INNER), PTR),
            rep(7, "list", S, OPT),
            rep(8, "listReq", S, REQ),
            rep(9, "ints", I64, OPT),
            map(10, "labels", S, OPT),
            map(11, "data", BYTES, OPT),
            map(12, "resources", QTY, OPT),
            f(13, "created", TIME, OPT),
            f(14, "renewed", MICRO, PTR),
            f(15, "port", INT_OR_STR, OPT),
            inline(16, &EMBEDDED),
            f(17, "flag", B, OPT),
            f(18, "count", I64, REQ),
            f(19, "stamped", TIME, OMIT_ZERO),
        ],
    );

    fn decode(bytes: &[u8]) -> Result<Value, ProtobufError> {
        message(bytes, 0, &OUTER).map(Value::Object)
    }

    #[test]
    fn absent_fields_follow_go_json_rules() {
        assert_eq!(
            decode(&[]).unwrap(),
            json!({
                "req": "",
                "ptrNull": null,
                "inner": {"c": false},
                "listReq": null,
                "created": null,
                "port": 0,
                "count": 0,
            })
        );
    }

    #[test]
    fn present_zero_values_follow_go_json_rules() {
        let body = [
            bytes(2, b""),
            vint(3, 0),
            bytes(4, b""),
            bytes(6, b""),
            vint(17, 0),
            bytes(19, b""),
        ]
        .concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({
                "req": "",
                "ptr": 0,
                "ptrNull": "",
                "inner": {"c": false},
                "innerPtr": {"c": false},
                "listReq": null,
                "created": null,
                "port": 0,
                "count": 0,
            })
        );
    }

    #[test]
    fn values_of_every_type_decode() {
        let entry = |k: &str, v: &[u8]| [bytes(1, k.as_bytes()), bytes(2, v)].concat();
        let body = [
            bytes(1, b"r"),
            bytes(2, b"o"),
            vint(3, u64::MAX), // -1 as a sign-extended int32
            bytes(5, &[bytes(1, b"x"), vint(2, 7)].concat()),
            bytes(7, b"a"),
            bytes(7, b"b"),
            bytes(9, &[varint(1), varint(300)].concat()), // packed
            vint(9, 5),                                   // and unpacked
            bytes(10, &entry("app", b"web")),
            bytes(11, &entry("k", b"\x00\xffhi")),
            bytes(12, &entry("cpu", &bytes(1, b"0.5"))),
            bytes(13, &[vint(1, 1_714_564_800), vint(2, 999)].concat()),
            bytes(14, &[vint(1, 1_714_564_800), vint(2, 123_456_789)].concat()),
            bytes(15, &[vint(1, 1), bytes(3, b"http")].concat()),
            bytes(16, &bytes(1, b"embedded")),
            vint(17, 1),
            vint(18, u64::MAX),
            bytes(19, &vint(1, 1)),
        ]
        .concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({
                "req": "r",
                "opt": "o",
                "ptr": -1,
                "ptrNull": null,
                "inner": {"a": "x", "b": 7, "c": false},
                "list": ["a", "b"],
                "listReq": null,
                "ints": [1, 300, 5],
                "labels": {"app": "web"},
                "data": {"k": "AP9oaQ=="},
                "resources": {"cpu": "500m"},
                "created": "2024-05-01T12:00:00Z",
                "renewed": "2024-05-01T12:00:00.123456Z",
                "port": "http",
                "name": "embedded",
                "flag": true,
                "count": -1,
                "stamped": "1970-01-01T00:00:01Z",
            })
        );
    }

    #[test]
    fn singular_messages_merge_and_scalars_take_the_last_value() {
        let body = [
            bytes(1, b"first"),
            bytes(1, b"second"),
            bytes(5, &bytes(1, b"x")),
            bytes(5, &vint(2, 3)),
            bytes(5, &bytes(1, b"y")),
        ]
        .concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["req"], "second");
        assert_eq!(v["inner"], json!({"a": "y", "b": 3, "c": false}));
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped() {
        let body = [
            vint(100, 1),
            bytes(101, b"junk"),
            [key(102, 1), vec![0; 8]].concat(),
            [key(103, 5), vec![0; 4]].concat(),
            [key(104, 3), vint(1, 1), key(104, 4)].concat(),
            bytes(1, b"kept"),
        ]
        .concat();
        assert_eq!(decode(&body).unwrap()["req"], "kept");
    }

    #[test]
    fn wrong_wire_types_and_bad_special_values_are_errors() {
        assert!(matches!(
            decode(&vint(1, 1)),
            Err(ProtobufError::WireType { field: 1, .. })
        ));
        assert!(matches!(
            decode(&bytes(3, b"x")),
            Err(ProtobufError::WireType { field: 3, .. })
        ));
        assert!(matches!(
            decode(&bytes(
                12,
                &[bytes(1, b"cpu"), bytes(2, &bytes(1, b"lots"))].concat()
            )),
            Err(ProtobufError::Quantity { .. })
        ));
        assert!(matches!(
            decode(&bytes(15, &vint(1, 2))),
            Err(ProtobufError::IntOrStringType { found: 2, .. })
        ));
        assert!(matches!(
            decode(&bytes(13, &vint(1, 1 << 40))),
            Err(ProtobufError::TimeOutOfRange { .. })
        ));
    }

    #[test]
    fn times_follow_kubernetes() {
        let t = |seconds: i64, nanos: i32, micro: bool| {
            let body = [vint(1, seconds as u64), vint(2, nanos as u32 as u64)].concat();
            timestamp(&body, 0, micro).unwrap()
        };
        assert_eq!(t(0, 0, false), json!("1970-01-01T00:00:00Z"));
        assert_eq!(t(GO_ZERO_TIME_SECONDS, 0, false), Value::Null);
        assert_eq!(t(-1, 0, false), json!("1969-12-31T23:59:59Z"));
        assert_eq!(
            t(10, 1_500_000_000, true),
            json!("1970-01-01T00:00:11.500000Z")
        );
        assert_eq!(t(10, -1, true), json!("1970-01-01T00:00:09.999999Z"));
        assert_eq!(timestamp(&[], 0, true).unwrap(), Value::Null);
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1), "1ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(-3_723_000_000_001), "-1h2m3.000000001s");
        assert_eq!(go_duration(i64::MIN), "-2562047h47m16.854775808s");
        assert_eq!(duration(&vint(1, 2_000_000_000), 0).unwrap(), json!("2s"));
    }

    #[test]
    fn raw_extensions_hold_json() {
        assert_eq!(
            raw_extension(&bytes(1, br#"{"a":[1]}"#), 0).unwrap(),
            json!({"a": [1]})
        );
        assert_eq!(raw_extension(&[], 0).unwrap(), Value::Null);
        assert!(matches!(
            raw_extension(&bytes(1, b"k8s\0"), 0),
            Err(ProtobufError::RawExtension { .. })
        ));
    }
}
