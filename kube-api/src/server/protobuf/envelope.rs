//! The envelope every Kubernetes protobuf body comes in: the four bytes `k8s\0`, then a
//! `runtime.Unknown` message: typeMeta = 1 (apiVersion = 1, kind = 2), raw = 2 (the
//! object's own message), contentEncoding = 3, contentType = 4.

use super::ProtobufError;
use super::wire::{Reader, Value};

/// The prefix of every Kubernetes protobuf body.
pub(crate) const MAGIC: &[u8; 4] = b"k8s\0";

/// A decoded envelope; `raw` borrows from the body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    /// `apiVersion` of the object, as `apps/v1` or `v1`.
    pub(crate) api_version: String,
    /// `kind` of the object.
    pub(crate) kind: String,
    /// The object's message.
    pub(crate) raw: &'a [u8],
    /// Where `raw` starts in the body, for error offsets.
    pub(crate) raw_at: usize,
    /// How `raw` is encoded; empty means not at all.
    pub(crate) content_encoding: String,
    /// The media type of `raw`; empty means protobuf.
    pub(crate) content_type: String,
}

/// Reads the envelope of a request body.
pub(crate) fn read(body: &[u8]) -> Result<Envelope<'_>, ProtobufError> {
    let rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ProtobufError::MissingMagic)?;
    let mut envelope = Envelope {
        api_version: String::new(),
        kind: String::new(),
        raw: &[],
        raw_at: MAGIC.len(),
        content_encoding: String::new(),
        content_type: String::new(),
    };
    let mut reader = Reader::new(rest, MAGIC.len());
    while let Some((number, at, value)) = reader.field()? {
        let bytes = match (number, value) {
            (1..=4, Value::Bytes(b)) => b,
            (1..=4, other) => {
                return Err(ProtobufError::WireType {
                    message: "Unknown",
                    field: number,
                    found: other.wire_type().name(),
                    at,
                });
            }
            _ => continue,
        };
        match number {
            1 => read_type_meta(bytes, at, &mut envelope)?,
            2 => {
                envelope.raw = bytes;
                envelope.raw_at = at;
            }
            3 => envelope.content_encoding = String::from_utf8_lossy(bytes).into_owned(),
            _ => envelope.content_type = String::from_utf8_lossy(bytes).into_owned(),
        }
    }
    Ok(envelope)
}

fn read_type_meta(
    bytes: &[u8],
    at: usize,
    envelope: &mut Envelope<'_>,
) -> Result<(), ProtobufError> {
    let mut reader = Reader::new(bytes, at);
    while let Some((number, at, value)) = reader.field()? {
        let target = match number {
            1 => &mut envelope.api_version,
            2 => &mut envelope.kind,
            _ => continue,
        };
        match value {
            Value::Bytes(b) => *target = String::from_utf8_lossy(b).into_owned(),
            other => {
                return Err(ProtobufError::WireType {
                    message: "TypeMeta",
                    field: number,
                    found: other.wire_type().name(),
                    at,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, payload: &[u8]) -> Vec<u8> {
        let len = u8::try_from(payload.len()).unwrap();
        [vec![number << 3 | 2, len], payload.to_vec()].concat()
    }

    #[test]
    fn reads_type_meta_raw_and_encoding() {
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [
            MAGIC.to_vec(),
            field(1, &type_meta),
            field(2, b"\x0a\x00"),
            field(3, b""),
            field(4, b""),
            field(9, b"ignored"),
        ]
        .concat();
        let e = read(&body).unwrap();
        assert_eq!(e.api_version, "apps/v1");
        assert_eq!(e.kind, "Deployment");
        assert_eq!(e.raw, b"\x0a\x00");
        assert_eq!(e.raw_at, 4 + type_meta.len() + 2 + 2);
        assert!(e.content_encoding.is_empty() && e.content_type.is_empty());
    }

    #[test]
    fn refuses_bodies_that_are_not_envelopes() {
        assert!(matches!(read(b"{}"), Err(ProtobufError::MissingMagic)));
        assert!(matches!(read(b"k8s"), Err(ProtobufError::MissingMagic)));
        let wrong = [MAGIC.to_vec(), vec![0x08, 0x01]].concat();
        assert!(matches!(read(&wrong), Err(ProtobufError::WireType { .. })));
        let truncated = [MAGIC.to_vec(), vec![0x0a, 0x09, 0x0a]].concat();
        assert!(matches!(
            read(&truncated),
            Err(ProtobufError::Truncated { .. })
        ));
    }
}
