//! [`ObjectList`], the body of list responses (`PodList`, `NodeList`, ...).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::meta::ListMeta;

/// A page of objects of one kind, as a list request returns it.
///
/// Encodes as `{"apiVersion": "v1", "kind": "PodList", "metadata": {...}, "items": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: DeserializeOwned"))]
pub struct ObjectList<T> {
    /// The API version of the items.
    #[serde(default)]
    pub api_version: String,
    /// The item kind followed by `List`.
    #[serde(default)]
    pub kind: String,
    /// The revision of the list and its continue token.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The objects.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub items: Vec<T>,
}

impl<T> ObjectList<T> {
    /// An iterator over the items.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }
}

impl<T> IntoIterator for ObjectList<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}
