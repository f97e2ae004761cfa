//! The protobuf wire format, read without trusting the input: every length is checked
//! against what is left, varints stop at ten bytes, and nothing here allocates or recurses
//! on the input's behalf except to skip the deprecated groups, whose depth is capped.

use super::ProtobufError;

/// How deep deprecated groups may nest inside an unknown field before the input is refused.
const MAX_GROUP_DEPTH: usize = 64;

/// The wire type of a field: the low three bits of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireType {
    /// An integer or boolean, base-128.
    Varint,
    /// Eight little-endian bytes.
    Fixed64,
    /// A length, then that many bytes: strings, bytes, messages, packed scalars.
    LengthDelimited,
    /// The start of a deprecated group.
    StartGroup,
    /// The end of a deprecated group.
    EndGroup,
    /// Four little-endian bytes.
    Fixed32,
}

impl WireType {
    fn from_bits(bits: u64, at: usize) -> Result<Self, ProtobufError> {
        Ok(match bits {
            0 => Self::Varint,
            1 => Self::Fixed64,
            2 => Self::LengthDelimited,
            3 => Self::StartGroup,
            4 => Self::EndGroup,
            5 => Self::Fixed32,
            other => {
                return Err(ProtobufError::InvalidWireType {
                    wire_type: other,
                    at,
                });
            }
        })
    }

    /// The name the protobuf documentation uses, for error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Varint => "varint",
            Self::Fixed64 => "fixed64",
            Self::LengthDelimited => "length-delimited",
            Self::StartGroup => "start-group",
            Self::EndGroup => "end-group",
            Self::Fixed32 => "fixed32",
        }
    }
}

/// One field as it appears on the wire, its payload not yet interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// A varint payload.
    Varint(u64),
    /// A fixed64 payload.
    Fixed64(u64),
    /// A fixed32 payload.
    Fixed32(u32),
    /// A length-delimited payload.
    Bytes(&'a [u8]),
    /// A group, skipped: its content is never interpreted.
    Group,
}

impl Value<'_> {
    /// The wire type the payload came with.
    pub(crate) fn wire_type(&self) -> WireType {
        match self {
            Self::Varint(_) => WireType::Varint,
            Self::Fixed64(_) => WireType::Fixed64,
            Self::Fixed32(_) => WireType::Fixed32,
            Self::Bytes(_) => WireType::LengthDelimited,
            Self::Group => WireType::StartGroup,
        }
    }
}

/// A cursor over a message's bytes that yields its fields in wire order.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Where `buf` starts in the whole body, so that errors name absolute offsets.
    base: usize,
}

impl<'a> Reader<'a> {
    /// Reads `buf`, which starts at byte `base` of the request body.
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    fn at(&self) -> usize {
        self.base + self.pos
    }

    /// True when every byte was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// A base-128 varint of at most ten bytes.
    pub(crate) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let start = self.at();
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(ProtobufError::Truncated { at: start });
            };
            self.pos += 1;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(ProtobufError::VarintOverflow { at: start });
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::VarintOverflow { at: start })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let start = self.at();
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or(ProtobufError::Truncated { at: start })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ProtobufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// The next field: its number, where its payload starts in the body, and its
    /// payload. `None` at the end of the message.
    pub(crate) fn field(&mut self) -> Result<Option<(u32, usize, Value<'a>)>, ProtobufError> {
        if self.is_empty() {
            return Ok(None);
        }
        let key_at = self.at();
        let key = self.varint()?;
        let wire_type = WireType::from_bits(key & 7, key_at)?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|n| *n != 0 && *n < (1 << 29))
            .ok_or(ProtobufError::InvalidFieldNumber {
                number: key >> 3,
                at: key_at,
            })?;
        let mut payload_at = self.at();
        let value = match wire_type {
            WireType::Varint => Value::Varint(self.varint()?),
            WireType::Fixed64 => Value::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            WireType::Fixed32 => Value::Fixed32(u32::from_le_bytes(self.fixed::<4>()?)),
            WireType::LengthDelimited => {
                let len = self.varint()?;
                let len = usize::try_from(len)
                    .map_err(|_| ProtobufError::Truncated { at: payload_at })?;
                payload_at = self.at();
                Value::Bytes(self.take(len)?)
            }
            WireType::StartGroup => {
                self.skip_group(number)?;
                Value::Group
            }
            WireType::EndGroup => {
                return Err(ProtobufError::UnexpectedEndGroup { at: key_at });
            }
        };
        Ok(Some((number, payload_at, value)))
    }

    /// Skips a group whose start key (field `number`) was just read, up to and including
    /// its matching end key. Iterative, with the nesting depth capped.
    fn skip_group(&mut self, number: u32) -> Result<(), ProtobufError> {
        let mut open = vec![number];
        while let Some(&innermost) = open.last() {
            let key_at = self.at();
            if self.is_empty() {
                return Err(ProtobufError::Truncated { at: key_at });
            }
            let key = self.varint()?;
            let inner = u32::try_from(key >> 3).unwrap_or(u32::MAX);
            match WireType::from_bits(key & 7, key_at)? {
                WireType::Varint => {
                    self.varint()?;
                }
                WireType::Fixed64 => {
                    self.take(8)?;
                }
                WireType::Fixed32 => {
                    self.take(4)?;
                }
                WireType::LengthDelimited => {
                    let len_at = self.at();
                    let len = usize::try_from(self.varint()?)
                        .map_err(|_| ProtobufError::Truncated { at: len_at })?;
                    self.take(len)?;
                }
                WireType::StartGroup => {
                    if open.len() >= MAX_GROUP_DEPTH {
                        return Err(ProtobufError::TooDeep { at: key_at });
                    }
                    open.push(inner);
                }
                WireType::EndGroup => {
                    if inner != innermost {
                        return Err(ProtobufError::UnexpectedEndGroup { at: key_at });
                    }
                    open.pop();
                }
            }
        }
        Ok(())
    }
}

/// The values of a packed repeated varint field.
pub(crate) fn packed_varints(bytes: &[u8], base: usize) -> Result<Vec<u64>, ProtobufError> {
    let mut reader = Reader::new(bytes, base);
    let mut out = Vec::new();
    while !reader.is_empty() {
        out.push(reader.varint()?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(bytes: &[u8]) -> Result<Vec<(u32, Value<'_>)>, ProtobufError> {
        let mut r = Reader::new(bytes, 0);
        let mut out = Vec::new();
        while let Some((n, _, v)) = r.field()? {
            out.push((n, v));
        }
        Ok(out)
    }

    #[test]
    fn varints_decode_up_to_ten_bytes() {
        assert_eq!(Reader::new(&[0x00], 0).varint().unwrap(), 0);
        assert_eq!(Reader::new(&[0x96, 0x01], 0).varint().unwrap(), 150);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max, 0).varint().unwrap(), u64::MAX);
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(
            Reader::new(&too_big, 0).varint(),
            Err(ProtobufError::VarintOverflow { at: 0 })
        ));
        let eleven = [0x80; 11];
        assert!(Reader::new(&eleven, 0).varint().is_err());
        assert!(matches!(
            Reader::new(&[0x80], 3).varint(),
            Err(ProtobufError::Truncated { at: 3 })
        ));
    }

    #[test]
    fn every_wire_type_is_read() {
        let bytes = [
            0x08, 0x96, 0x01, // 1: varint 150
            0x11, 1, 0, 0, 0, 0, 0, 0, 0, // 2: fixed64 1
            0x1a, 0x02, b'h', b'i', // 3: "hi"
            0x25, 2, 0, 0, 0, // 4: fixed32 2
            0x2b, 0x08, 0x01, 0x2c, // 5: group { 1: 1 }
        ];
        assert_eq!(
            fields(&bytes).unwrap(),
            vec![
                (1, Value::Varint(150)),
                (2, Value::Fixed64(1)),
                (3, Value::Bytes(b"hi")),
                (4, Value::Fixed32(2)),
                (5, Value::Group),
            ]
        );
    }

    #[test]
    fn nested_groups_are_skipped_and_mismatches_refused() {
        // 1: group { 2: group { 3: "x" } }, then 4: varint 7
        let bytes = [0x0b, 0x13, 0x1a, 0x01, b'x', 0x14, 0x0c, 0x20, 0x07];
        assert_eq!(
            fields(&bytes).unwrap(),
            vec![(1, Value::Group), (4, Value::Varint(7))]
        );
        // A group closed with another field's end key.
        assert!(matches!(
            fields(&[0x0b, 0x14]),
            Err(ProtobufError::UnexpectedEndGroup { .. })
        ));
        // An end key with no group open.
        assert!(fields(&[0x0c]).is_err());
        // A group never closed.
        assert!(matches!(
            fields(&[0x0b, 0x08, 0x01]),
            Err(ProtobufError::Truncated { .. })
        ));
        // Groups nested past the cap.
        let deep: Vec<u8> = std::iter::repeat_n(0x0b, MAX_GROUP_DEPTH + 1).collect();
        assert!(matches!(fields(&deep), Err(ProtobufError::TooDeep { .. })));
    }

    #[test]
    fn bad_keys_and_lengths_are_errors() {
        assert!(matches!(
            fields(&[0x0e]),
            Err(ProtobufError::InvalidWireType { wire_type: 6, .. })
        ));
        assert!(matches!(
            fields(&[0x02, 0x00]),
            Err(ProtobufError::InvalidFieldNumber { number: 0, .. })
        ));
        // A length past the end.
        assert!(matches!(
            fields(&[0x0a, 0x05, b'a']),
            Err(ProtobufError::Truncated { at: 2 })
        ));
        // A length near u64::MAX must not overflow.
        let huge = [
            0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert!(matches!(
            fields(&huge),
            Err(ProtobufError::Truncated { .. })
        ));
        assert!(fields(&[0x11, 0x01]).is_err());
        assert!(fields(&[0x15, 0x01]).is_err());
    }

    #[test]
    fn packed_varints_decode() {
        assert_eq!(
            packed_varints(&[0x01, 0x96, 0x01], 0).unwrap(),
            vec![1, 150]
        );
        assert!(packed_varints(&[0x96], 0).is_err());
    }
}
