//! Serde helpers for the Kubernetes JSON wire format.
//!
//! Kubernetes clients send `null` where a list or a map is empty (Go's nil slices and maps),
//! and omit empty fields when they encode. Our types hold plain `Vec`s and `BTreeMap`s, so
//! these helpers turn `null` into the empty value on the way in.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// A collection that can hand back the room its decoding left unused.
///
/// serde_json does not say how long a list is before it is read, so a decoded `Vec`
/// grows as its items come, and keeps room for at least four: a pod's one container,
/// decoded, holds the room of four. Informers keep every pod they see, so that spare room
/// was a quarter of a simulated cluster's heap.
pub trait Compact {
    /// Gives back unused capacity (a no-op where there is none to give).
    fn compact(&mut self);
}

impl<T> Compact for Vec<T> {
    fn compact(&mut self) {
        self.shrink_to_fit();
    }
}

impl<K, V> Compact for BTreeMap<K, V> {
    fn compact(&mut self) {}
}

/// Deserializes `null` as `T::default()`, anything else as `T`, without spare capacity.
///
/// Use with `#[serde(default, deserialize_with = "crate::wire::nullable")]` on collection
/// fields, so that `"labels": null` decodes like a missing field.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default + Compact,
{
    let mut value = Option::<T>::deserialize(deserializer)?.unwrap_or_default();
    value.compact();
    Ok(value)
}

/// True for `false`, so that boolean fields that default to false are omitted when encoding.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
pub fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    #[derive(Deserialize, Default)]
    struct Holder {
        #[serde(default, deserialize_with = "super::nullable")]
        map: BTreeMap<String, String>,
        #[serde(default, deserialize_with = "super::nullable")]
        list: Vec<u32>,
    }

    #[test]
    fn null_and_missing_collections_decode_as_empty() {
        let h: Holder = serde_json::from_str(r#"{"map": null, "list": null}"#).unwrap();
        assert!(h.map.is_empty() && h.list.is_empty());
        let h: Holder = serde_json::from_str("{}").unwrap();
        assert!(h.map.is_empty() && h.list.is_empty());
        let h: Holder = serde_json::from_str(r#"{"map": {"a": "b"}, "list": [1]}"#).unwrap();
        assert_eq!(h.map["a"], "b");
        assert_eq!(h.list, vec![1]);
    }

    #[test]
    fn decoded_lists_keep_no_spare_room() {
        let h: Holder = serde_json::from_str(r#"{"list": [1]}"#).unwrap();
        assert_eq!(h.list.capacity(), 1);
        let h: Holder = serde_json::from_str(r#"{"list": [1, 2, 3, 4, 5]}"#).unwrap();
        assert_eq!(h.list.capacity(), 5);
    }
}
