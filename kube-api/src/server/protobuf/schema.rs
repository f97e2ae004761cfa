//! How a message schema is written: a table of fields, each with its number, its JSON
//! name, its type, its shape, and how Go declares it, which decides when Go's JSON
//! encoder writes it.
//!
//! The tables are written in the `schemas` module, one file per API group, with the short
//! constructors below, so that a message reads like its Go struct:
//!
//! ```text
//! f(1, "name", S, REQ)          Name string `json:"name"`
//! f(2, "image", S, OPT)         Image string `json:"image,omitempty"`
//! f(4, "replicas", I32, PTR)    Replicas *int32 `json:"replicas,omitempty"`
//! rep(3, "command", S, OPT)     Command []string `json:"command,omitempty"`
//! map(11, "labels", S, OPT)     Labels map[string]string `json:"labels,omitempty"`
//! inline(2, &VOLUME_SOURCE)     VolumeSource `json:",inline"`
//! ```

/// One protobuf message: its Go name (for error messages) and its fields.
#[derive(Debug)]
pub(crate) struct Message {
    /// The Go type name, as `ObjectMeta`.
    pub(crate) name: &'static str,
    /// The fields, in any order.
    pub(crate) fields: &'static [Field],
}

impl Message {
    /// A message named `name` with these fields.
    pub(crate) const fn new(name: &'static str, fields: &'static [Field]) -> Self {
        Self { name, fields }
    }

    /// The field with this number, if the schema knows it.
    pub(crate) fn field(&self, number: u32) -> Option<(usize, &'static Field)> {
        self.fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.number == number)
    }
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    /// The protobuf field number.
    pub(crate) number: u32,
    /// The JSON name (empty for an inlined message).
    pub(crate) json: &'static str,
    /// The type of the value, or of each element or map value.
    pub(crate) ty: Ty,
    /// Single, repeated, a map keyed by strings, or inlined into the parent.
    pub(crate) shape: Shape,
    /// How Go declares the field.
    pub(crate) go: Go,
}

/// The type of a value on the wire and in JSON.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ty {
    /// `string`: a JSON string.
    String,
    /// `bool`: a JSON boolean.
    Bool,
    /// `int32`: a JSON number.
    Int32,
    /// `int64`: a JSON number.
    Int64,
    /// `bytes`: base64 in JSON, as Go writes a `[]byte`.
    Bytes,
    /// A nested message: a JSON object.
    Message(&'static Message),
    /// `meta/v1 Time`: RFC 3339 in UTC with seconds, or `null` when zero.
    Time,
    /// `meta/v1 MicroTime`: RFC 3339 in UTC with microseconds, or `null` when zero.
    MicroTime,
    /// `resource.Quantity`: its canonical string.
    Quantity,
    /// `intstr.IntOrString`: a JSON number or string.
    IntOrString,
    /// `meta/v1 Duration`: Go's duration string, such as `"1m30s"`.
    // No field of a served kind has this type yet; the conversion is tested on its own.
    #[allow(dead_code)]
    Duration,
    /// `runtime.RawExtension`: its raw bytes, which are JSON.
    // No field of a served kind has this type yet; the conversion is tested on its own.
    #[allow(dead_code)]
    RawExtension,
}

impl Ty {
    /// Whether Go holds the value as a struct, which `omitempty` never omits.
    pub(crate) fn is_struct(self) -> bool {
        matches!(
            self,
            Self::Message(_)
                | Self::Time
                | Self::MicroTime
                | Self::Quantity
                | Self::IntOrString
                | Self::Duration
                | Self::RawExtension
        )
    }
}

/// The shape of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One value.
    One,
    /// A Go slice: a repeated field, a JSON array.
    Repeated,
    /// A Go `map[string]T`: repeated key/value entries, a JSON object.
    Map,
    /// An embedded Go struct tagged `json:",inline"`: its fields join the parent's.
    Inline,
}

/// How Go declares a field, which decides when `encoding/json` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Go {
    /// A value without `omitempty`: always written, its zero value when absent (`null`
    /// for a nil slice or map).
    Req,
    /// A value with `omitempty`: written unless zero or empty. Structs are never empty
    /// to Go, so a struct-typed field is always written.
    Opt,
    /// A value with Go 1.24's `omitzero` (Kubernetes tags `creationTimestamp` so since
    /// 1.33): written unless it is its type's zero value, structs included.
    OmitZero,
    /// A pointer with `omitempty`: written when the sender set it, even to zero.
    Ptr,
    /// A pointer without `omitempty`: `null` when the sender did not set it.
    PtrNull,
}

/// A string.
pub(crate) const S: Ty = Ty::String;
/// A boolean.
pub(crate) const B: Ty = Ty::Bool;
/// A 32-bit integer.
pub(crate) const I32: Ty = Ty::Int32;
/// A 64-bit integer.
pub(crate) const I64: Ty = Ty::Int64;
/// Bytes, base64 in JSON.
pub(crate) const BYTES: Ty = Ty::Bytes;
/// A `meta/v1 Time`.
pub(crate) const TIME: Ty = Ty::Time;
/// A `meta/v1 MicroTime`.
pub(crate) const MICRO: Ty = Ty::MicroTime;
/// A `resource.Quantity`.
pub(crate) const QTY: Ty = Ty::Quantity;
/// An `intstr.IntOrString`.
pub(crate) const INT_OR_STR: Ty = Ty::IntOrString;
/// A nested message.
pub(crate) const fn m(message: &'static Message) -> Ty {
    Ty::Message(message)
}

/// Value, always written.
pub(crate) const REQ: Go = Go::Req;
/// Value, `omitempty`.
pub(crate) const OPT: Go = Go::Opt;
/// Value, `omitzero`.
pub(crate) const OMIT_ZERO: Go = Go::OmitZero;
/// Pointer, `omitempty`.
pub(crate) const PTR: Go = Go::Ptr;
/// Pointer, `null` when unset.
pub(crate) const PTR_NULL: Go = Go::PtrNull;

/// A single field.
pub(crate) const fn f(number: u32, json: &'static str, ty: Ty, go: Go) -> Field {
    Field {
        number,
        json,
        ty,
        shape: Shape::One,
        go,
    }
}

/// A repeated field (a Go slice).
pub(crate) const fn rep(number: u32, json: &'static str, ty: Ty, go: Go) -> Field {
    Field {
        number,
        json,
        ty,
        shape: Shape::Repeated,
        go,
    }
}

/// A `map[string]T` field.
pub(crate) const fn map(number: u32, json: &'static str, ty: Ty, go: Go) -> Field {
    Field {
        number,
        json,
        ty,
        shape: Shape::Map,
        go,
    }
}

/// An embedded struct whose fields Go's JSON writes inline.
pub(crate) const fn inline(number: u32, message: &'static Message) -> Field {
    Field {
        number,
        json: "",
        ty: Ty::Message(message),
        shape: Shape::Inline,
        go: Go::Req,
    }
}
