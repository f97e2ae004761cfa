//! The byte layout of what the durable store keeps on disk.
//!
//! A write in the log: a tag byte (`P` put, `D` delete); for a put, the lease (a flag
//! byte, then 8 bytes little-endian when set), the key's length (4 bytes little-endian),
//! the key, then the value; for a delete, the key. A key-value of the base snapshot:
//! create revision, mod revision, version (8 bytes little-endian each), the lease as
//! above, then the value (the key is the table's key).

use bytes::Bytes;
use kube_core::{KeyValue, LeaseId, Revision};

const PUT: u8 = b'P';
const DELETE: u8 = b'D';

/// A write of the log, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Write<'a> {
    /// A key set to a value.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// Its lease.
        lease: Option<LeaseId>,
    },
    /// A key deleted.
    Delete {
        /// The key.
        key: &'a [u8],
    },
}

fn push_lease(out: &mut Vec<u8>, lease: Option<LeaseId>) {
    match lease {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(&id.to_le_bytes());
        }
        None => out.push(0),
    }
}

/// A cursor over bytes that fails instead of panicking on short input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("{} bytes left where {n} are needed", self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> Result<i64, String> {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(bytes))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let mut bytes = [0; 4];
        bytes.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(bytes))
    }

    fn lease(&mut self) -> Result<Option<LeaseId>, String> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.i64()?)),
            other => Err(format!("bad lease flag {other}")),
        }
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// Encodes a put for the log.
pub(super) fn encode_put(key: &[u8], value: &[u8], lease: Option<LeaseId>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 9 + 4 + key.len() + value.len());
    out.push(PUT);
    push_lease(&mut out, lease);
    let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

/// Encodes a delete for the log.
pub(super) fn encode_delete(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + key.len());
    out.push(DELETE);
    out.extend_from_slice(key);
    out
}

/// Decodes a write of the log.
pub(super) fn decode_write(bytes: &[u8]) -> Result<Write<'_>, String> {
    let mut reader = Reader(bytes);
    match reader.byte()? {
        PUT => {
            let lease = reader.lease()?;
            let len = reader.u32()? as usize;
            let key = reader.take(len)?;
            Ok(Write::Put {
                key,
                value: reader.rest(),
                lease,
            })
        }
        DELETE => Ok(Write::Delete { key: reader.rest() }),
        other => Err(format!("unknown write tag {other}")),
    }
}

/// Encodes a key-value of the base snapshot (without its key).
pub(super) fn encode_kv(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + 9 + kv.value.len());
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.version.to_le_bytes());
    push_lease(&mut out, kv.lease);
    out.extend_from_slice(&kv.value);
    out
}

/// Decodes a key-value of the base snapshot.
pub(super) fn decode_kv(key: &[u8], bytes: &[u8]) -> Result<KeyValue, String> {
    let mut reader = Reader(bytes);
    let create_revision: Revision = reader.i64()?;
    let mod_revision: Revision = reader.i64()?;
    let version = reader.i64()?;
    let lease = reader.lease()?;
    if version < 1 || create_revision < 1 || mod_revision < create_revision {
        return Err(format!(
            "impossible versions: create {create_revision}, mod {mod_revision}, version {version}"
        ));
    }
    Ok(KeyValue {
        key: Bytes::copy_from_slice(key),
        value: Bytes::copy_from_slice(reader.rest()),
        create_revision,
        mod_revision,
        version,
        lease,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_round_trip() {
        let put = encode_put(b"/k", b"value", Some(7));
        assert_eq!(
            decode_write(&put).unwrap(),
            Write::Put {
                key: b"/k",
                value: b"value",
                lease: Some(7)
            }
        );
        let put = encode_put(b"/k", b"", None);
        assert_eq!(
            decode_write(&put).unwrap(),
            Write::Put {
                key: b"/k",
                value: b"",
                lease: None
            }
        );
        let delete = encode_delete(b"/gone");
        assert_eq!(
            decode_write(&delete).unwrap(),
            Write::Delete { key: b"/gone" }
        );
    }

    #[test]
    fn key_values_round_trip() {
        let kv = KeyValue {
            key: Bytes::from_static(b"/k"),
            value: Bytes::from_static(b"v"),
            create_revision: 3,
            mod_revision: 9,
            version: 4,
            lease: Some(2),
        };
        assert_eq!(decode_kv(b"/k", &encode_kv(&kv)).unwrap(), kv);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"X",
            b"P",
            b"P\x01\x02",
            b"P\x00\xff\xff\xff\xff/k",
            b"P\x07",
        ] {
            assert!(decode_write(bytes).is_err(), "{bytes:?}");
        }
        assert!(decode_kv(b"/k", b"short").is_err());
        let mut bad = encode_kv(&KeyValue {
            key: Bytes::new(),
            value: Bytes::new(),
            create_revision: 5,
            mod_revision: 5,
            version: 1,
            lease: None,
        });
        bad[16] = 0; // version 0
        assert!(decode_kv(b"/k", &bad).is_err());
    }
}
