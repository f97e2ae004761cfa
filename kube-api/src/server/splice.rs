//! Stored objects made servable without decoding them into a `serde_json::Value`.
//!
//! The store holds an object's JSON without `metadata.resourceVersion` (the revision is
//! the store's). Serving it means writing the revision back in: [`splice`] copies the
//! bytes, rebuilding only the top-level `metadata` object with `"resourceVersion"` in it,
//! and reads one more field on the way when asked (the watch cache's index, such as a
//! pod's `spec.nodeName`). The rest of the document is validated by `serde_json` (syntax
//! and UTF-8) but never built into a tree.
//!
//! The output parses to the same value as decoding the bytes, setting
//! `metadata.resourceVersion` and encoding again; for bytes the API server wrote (keys in
//! order, no whitespace) it is the same bytes, since `resourceVersion` goes in at its
//! place in key order.

use std::borrow::Cow;
use std::fmt;

use kube_core::{Error, Revision};
use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

/// An object made servable: its JSON with `metadata.resourceVersion`, and the value of
/// the field it was asked for.
#[derive(Debug)]
pub(crate) struct Spliced {
    /// The object's JSON, with its resourceVersion.
    pub(crate) json: Vec<u8>,
    /// The asked-for field as a field selector sees it (see [`field`]).
    pub(crate) field: Option<String>,
}

/// Why stored bytes cannot be served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpliceError {
    /// The bytes are not JSON, or not an object whose `metadata` is an object.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// A value the parser handed back lies outside the input (cannot happen with a
    /// borrowing parser; checked rather than assumed).
    #[error("the parser returned a value outside of its input")]
    Offsets,
}

impl From<SpliceError> for Error {
    fn from(e: SpliceError) -> Self {
        Error::Internal {
            message: format!("decoding a stored object failed: {e}"),
            source: Some(Box::new(e)),
        }
    }
}

/// Copies a stored object with `metadata.resourceVersion` set to `revision` (replacing
/// one already there), reading the field at the dotted `field` path on the way
/// (`spec.nodeName`; numeric segments index arrays). The field reads as a field selector
/// sees it, as [`super::object::field_value`] does: strings as they are, numbers and
/// booleans printed, anything else (missing, null, objects, arrays) as the empty string.
///
/// Only the top-level `metadata` counts; a missing one is added. Fails when the bytes
/// are not a JSON object, or its `metadata` is not an object.
pub(crate) fn splice(
    bytes: &[u8],
    revision: Revision,
    field: Option<&str>,
) -> Result<Spliced, SpliceError> {
    let path: Vec<&str> = field.map(segments).unwrap_or_default();
    // Read as a string, its UTF-8 checked once rather than string by string (see
    // `kube_core::wire::from_json`).
    let text = std::str::from_utf8(bytes).map_err(|e| {
        SpliceError::Json(serde::de::Error::custom(format_args!("invalid UTF-8: {e}")))
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let top = de
        .deserialize_map(TopVisitor {
            path: field.map(|_| path.as_slice()),
        })
        .map_err(SpliceError::Json)?;
    de.end().map_err(SpliceError::Json)?;
    let rv = revision.to_string();
    let mut json = Vec::with_capacity(bytes.len() + rv.len() + 32);
    let mut field = top.field;
    match top.metadata {
        Some(meta) => {
            let start = offset(bytes, meta.get())?;
            let end = start + meta.get().len();
            json.extend_from_slice(&bytes[..start]);
            write_metadata(&mut json, meta.get(), &rv)?;
            json.extend_from_slice(&bytes[end..]);
            if let (Some(_), Some(rest)) = (&field, path.strip_prefix(&["metadata"][..])) {
                field = Some(field_of_raw(meta.get(), rest)?);
            }
        }
        None => {
            // No metadata at all: it goes first.
            let open = bytes
                .iter()
                .position(|b| *b == b'{')
                .ok_or(SpliceError::Offsets)?;
            json.extend_from_slice(&bytes[..=open]);
            json.extend_from_slice(b"\"metadata\":{\"resourceVersion\":");
            write_str(&mut json, &rv)?;
            json.push(b'}');
            if top.keys > 0 {
                json.push(b',');
            }
            json.extend_from_slice(&bytes[open + 1..]);
        }
    }
    Ok(Spliced { json, field })
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect()
}

/// The value at `path` of a JSON document (the part of `metadata` asked for).
fn field_of_raw(raw: &str, path: &[&str]) -> Result<String, SpliceError> {
    let mut de = serde_json::Deserializer::from_str(raw);
    PathSeed(path)
        .deserialize(&mut de)
        .map_err(SpliceError::Json)
}

/// Where a value the parser borrowed from `bytes` starts in it.
fn offset(bytes: &[u8], inner: &str) -> Result<usize, SpliceError> {
    let start = inner
        .as_ptr()
        .addr()
        .checked_sub(bytes.as_ptr().addr())
        .ok_or(SpliceError::Offsets)?;
    if start + inner.len() > bytes.len() {
        return Err(SpliceError::Offsets);
    }
    Ok(start)
}

fn write_str(out: &mut Vec<u8>, s: &str) -> Result<(), SpliceError> {
    serde_json::to_writer(out, s).map_err(SpliceError::Json)
}

/// Writes the `metadata` object again with `"resourceVersion":"<rv>"` in it: before the
/// first key that sorts after it (its place when the keys are in order), other
/// resourceVersions left out, every other entry copied as it is.
fn write_metadata(out: &mut Vec<u8>, raw: &str, rv: &str) -> Result<(), SpliceError> {
    let mut de = serde_json::Deserializer::from_str(raw);
    de.deserialize_map(MetaWriter { out, rv })
        .map_err(SpliceError::Json)?
}

/// A map key, borrowed from the input unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// What the top level holds: the (last) `metadata` value, how many keys, and the field
/// asked for when it lies outside `metadata`.
struct Top<'a> {
    metadata: Option<&'a RawValue>,
    keys: usize,
    field: Option<String>,
}

/// Visits the top-level object. `path` is `Some` when a field is asked for.
struct TopVisitor<'p> {
    path: Option<&'p [&'p str]>,
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut top = Top {
            metadata: None,
            keys: 0,
            // A missing field reads as the empty string.
            field: self.path.map(|_| String::new()),
        };
        let first = self.path.and_then(|p| p.first().copied());
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            top.keys += 1;
            if key == "metadata" {
                // A later duplicate wins, as it does when decoding into a map. The
                // earlier one stays in the output and is overridden the same way.
                top.metadata = Some(map.next_value()?);
            } else if Some(key.as_ref()) == first {
                let rest = self.path.map_or(&[][..], |p| &p[1..]);
                top.field = Some(map.next_value_seed(PathSeed(rest))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if let Some(meta) = top.metadata {
            if !meta.get().starts_with('{') {
                return Err(de::Error::custom("metadata is not an object"));
            }
        }
        Ok(top)
    }
}

/// Writes a `metadata` object with the resourceVersion spliced in.
struct MetaWriter<'o> {
    out: &'o mut Vec<u8>,
    rv: &'o str,
}

impl MetaWriter<'_> {
    fn entry(&mut self, first: &mut bool, key: &str, raw: &str) -> Result<(), SpliceError> {
        if !std::mem::take(first) {
            self.out.push(b',');
        }
        write_str(self.out, key)?;
        self.out.push(b':');
        self.out.extend_from_slice(raw.as_bytes());
        Ok(())
    }

    fn resource_version(&mut self, first: &mut bool) -> Result<(), SpliceError> {
        if !std::mem::take(first) {
            self.out.push(b',');
        }
        self.out.extend_from_slice(b"\"resourceVersion\":");
        write_str(self.out, self.rv)
    }
}

impl<'de> Visitor<'de> for MetaWriter<'_> {
    /// Writing can fail only in ways the parser does not know of: kept apart.
    type Value = Result<(), SpliceError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut first = true;
        let mut written = false;
        self.out.push(b'{');
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let raw: &RawValue = map.next_value()?;
            if key == "resourceVersion" {
                continue;
            }
            if !written && key.as_ref() > "resourceVersion" {
                written = true;
                if let Err(e) = self.resource_version(&mut first) {
                    return Ok(Err(e));
                }
            }
            if let Err(e) = self.entry(&mut first, &key, raw.get()) {
                return Ok(Err(e));
            }
        }
        if !written {
            if let Err(e) = self.resource_version(&mut first) {
                return Ok(Err(e));
            }
        }
        self.out.push(b'}');
        Ok(Ok(()))
    }
}

/// Reads the value at a path of segments (object keys, or indexes into arrays), skipping
/// everything else.
struct PathSeed<'p>(&'p [&'p str]);

impl<'de> DeserializeSeed<'de> for PathSeed<'_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PathSeed<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(if self.0.is_empty() {
            v.to_string()
        } else {
            String::new()
        })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(if self.0.is_empty() {
            serde_json::Number::from(v).to_string()
        } else {
            String::new()
        })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(if self.0.is_empty() {
            serde_json::Number::from(v).to_string()
        } else {
            String::new()
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(match serde_json::Number::from_f64(v) {
            Some(n) if self.0.is_empty() => n.to_string(),
            _ => String::new(),
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(if self.0.is_empty() {
            v.to_owned()
        } else {
            String::new()
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        let mut found = String::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match self.0.split_first() {
                Some((first, rest)) if key == *first => {
                    found = map.next_value_seed(PathSeed(rest))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        let wanted = self
            .0
            .split_first()
            .and_then(|(first, rest)| Some((first.parse::<usize>().ok()?, rest)));
        let mut found = String::new();
        let mut i = 0;
        loop {
            let more = match wanted {
                Some((n, rest)) if n == i => seq.next_element_seed(PathSeed(rest))?.map(|v| {
                    found = v;
                }),
                _ => seq.next_element::<IgnoredAny>()?.map(|_| ()),
            };
            if more.is_none() {
                return Ok(found);
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::server::object::{decode_stored, encode_for_store, field_value};

    fn spliced(input: &str, rv: Revision) -> String {
        String::from_utf8(splice(input.as_bytes(), rv, None).unwrap().json).unwrap()
    }

    /// What decoding, setting the resourceVersion and encoding again gives.
    fn by_value(input: &[u8], rv: Revision) -> Value {
        decode_stored(input, rv).unwrap()
    }

    fn parsed(json: &[u8]) -> Value {
        serde_json::from_slice(json).unwrap()
    }

    #[test]
    fn the_resource_version_goes_into_top_level_metadata_in_key_order() {
        for (input, want) in [
            // metadata first, last, only, empty, and no metadata at all
            (
                r#"{"metadata":{"name":"a"},"spec":{}}"#,
                r#"{"metadata":{"name":"a","resourceVersion":"7"},"spec":{}}"#,
            ),
            (
                r#"{"kind":"Pod","metadata":{"name":"a","uid":"u"}}"#,
                r#"{"kind":"Pod","metadata":{"name":"a","resourceVersion":"7","uid":"u"}}"#,
            ),
            (
                r#"{"metadata":{}}"#,
                r#"{"metadata":{"resourceVersion":"7"}}"#,
            ),
            (r#"{}"#, r#"{"metadata":{"resourceVersion":"7"}}"#),
            (
                r#"{"kind":"X"}"#,
                r#"{"metadata":{"resourceVersion":"7"},"kind":"X"}"#,
            ),
            // one already there is replaced where it was
            (
                r#"{"metadata":{"name":"a","resourceVersion":"3","uid":"u"}}"#,
                r#"{"metadata":{"name":"a","resourceVersion":"7","uid":"u"}}"#,
            ),
            // keys out of order: before the first key that sorts after it
            (
                r#"{"metadata":{"uid":"u","name":"a"}}"#,
                r#"{"metadata":{"resourceVersion":"7","uid":"u","name":"a"}}"#,
            ),
            // a nested metadata (a Deployment's pod template) is left alone
            (
                r#"{"spec":{"template":{"metadata":{"labels":{"a":"b"}}}},"metadata":{"name":"d"}}"#,
                r#"{"spec":{"template":{"metadata":{"labels":{"a":"b"}}}},"metadata":{"name":"d","resourceVersion":"7"}}"#,
            ),
        ] {
            assert_eq!(spliced(input, 7), want, "{input}");
            assert_eq!(parsed(want.as_bytes()), by_value(input.as_bytes(), 7));
        }
    }

    #[test]
    fn strings_escapes_unicode_and_whitespace_are_kept() {
        for input in [
            // "metadata" inside strings, escaped quotes, escaped keys
            r#"{"note":"\"metadata\":{\"name\":1}","a\"b":"metadata","metadata":{"name":"x\"y","na\u006De2":"v","labels":{"metadata":"x"}}}"#,
            // an escaped key that is resourceVersion itself is replaced too
            r#"{"metadata":{"resource\u0056ersion":"3","name":"a"}}"#,
            // unicode, raw and escaped
            r#"{"metadata":{"name":"ünï","annotations":{"x":"日本\ud83d\ude00"}},"data":{"k":"\u00e9"}}"#,
            // whitespace everywhere
            " \n{ \"kind\" : \"Pod\" ,\t\"metadata\" : { \"name\" : \"a\" , \"labels\" : { } } , \"x\" : [ 1 , 2.5 , -3e2 ] }\n ",
        ] {
            let out = splice(input.as_bytes(), 42, None).unwrap().json;
            assert_eq!(parsed(&out), by_value(input.as_bytes(), 42), "{input}");
        }
        // Outside metadata the bytes are copied as they are.
        let input = r#"  {"a" : "metadata\n" , "metadata":{ }} "#;
        assert_eq!(
            spliced(input, 1),
            r#"  {"a" : "metadata\n" , "metadata":{"resourceVersion":"1"}} "#
        );
    }

    #[test]
    fn anything_but_an_object_with_an_object_metadata_is_rejected() {
        for input in [
            "",
            "[1]",
            r#""s""#,
            "1",
            "null",
            "{",
            r#"{"a":}"#,
            "{} x",
            "{}{}",
            "\u{0}",
            r#"{"metadata":[]}"#,
            r#"{"metadata":"x"}"#,
            r#"{"metadata":null}"#,
            r#"{"metadata":1}"#,
            r#"{"metadata":{"name":}}"#,
            "{\"metadata\":{\"name\":\"\x01\"}}",
        ] {
            assert!(splice(input.as_bytes(), 1, None).is_err(), "{input:?}");
        }
        // Not UTF-8.
        assert!(splice(b"{\"metadata\":{\"name\":\"\xff\"}}", 1, None).is_err());
        let err: Error = splice(b"[]", 1, None).unwrap_err().into();
        assert_eq!(err.code(), 500);
    }

    #[test]
    fn the_asked_field_reads_as_field_selectors_see_it() {
        let doc = json!({
            "metadata": {"name": "a", "namespace": "ns"},
            "spec": {
                "nodeName": "n1", "replicas": 3, "ratio": 0.5, "paused": true,
                "none": null, "obj": {"x": 1}, "list": [{"name": "c0"}, {"name": "c1"}],
            },
        });
        let bytes = serde_json::to_vec(&doc).unwrap();
        for path in [
            "spec.nodeName",
            "spec.replicas",
            "spec.ratio",
            "spec.paused",
            "spec.none",
            "spec.obj",
            "spec.list",
            "spec.list.1.name",
            "spec.list.2.name",
            "spec.list.x",
            "spec.missing",
            "status.phase",
            "metadata.name",
            "metadata.namespace",
            "metadata.missing",
            "spec.nodeName.deeper",
            ".spec.nodeName",
        ] {
            let got = splice(&bytes, 1, Some(path)).unwrap().field;
            assert_eq!(
                got.as_deref(),
                Some(field_value(&doc, path).as_str()),
                "{path}"
            );
        }
        assert_eq!(splice(&bytes, 1, None).unwrap().field, None);
        // A later duplicate wins, as it does in a decoded map.
        let dup = br#"{"spec":{"nodeName":"a","nodeName":"b"},"metadata":{}}"#;
        assert_eq!(
            splice(dup, 1, Some("spec.nodeName"))
                .unwrap()
                .field
                .as_deref(),
            Some("b")
        );
    }

    #[test]
    fn stored_objects_come_out_as_decoding_and_encoding_made_them() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "d", "uid": "u", "labels": {"a": "b"}},
            "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running"},
        });
        let stored = encode_for_store(&pod).unwrap();
        let old = serde_json::to_vec(&decode_stored(&stored, 99).unwrap()).unwrap();
        assert_eq!(splice(&stored, 99, None).unwrap().json, old);
    }

    /// Any JSON value, nested a few levels.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Keys, with the ones that matter here often.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("metadata".to_owned()),
            Just("resourceVersion".to_owned()),
            Just("name".to_owned()),
            "[a-z]{0,12}",
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn splicing_is_decoding_setting_and_encoding(
            top in prop::collection::btree_map(key(), value(), 0..5),
            meta in prop::collection::btree_map(key(), value(), 0..6),
            rv in 1..i64::MAX,
            pretty in any::<bool>(),
        ) {
            let mut obj: serde_json::Map<String, Value> = top.into_iter().collect();
            obj.insert("metadata".into(), Value::Object(meta.into_iter().collect()));
            let obj = Value::Object(obj);
            let bytes = if pretty {
                serde_json::to_vec_pretty(&obj).unwrap()
            } else {
                serde_json::to_vec(&obj).unwrap()
            };
            let want = by_value(&bytes, rv);
            let out = splice(&bytes, rv, None).unwrap();
            prop_assert_eq!(&parsed(&out.json), &want);
            // Compact, keys in order (what the API server stores): the very same bytes.
            if !pretty {
                prop_assert_eq!(out.json, serde_json::to_vec(&want).unwrap());
            }
            for path in ["metadata.name", "name", "metadata.metadata.name", "resourceVersion"] {
                let field = splice(&bytes, rv, Some(path)).unwrap().field;
                prop_assert_eq!(field, Some(field_value(&obj, path)));
            }
        }
    }
}
