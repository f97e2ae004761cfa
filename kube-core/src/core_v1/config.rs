//! `ConfigMap` and `Secret`: configuration and credentials that pods consume as files or
//! environment variables, and [`ByteString`], the base64-encoded bytes they carry.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::meta::ObjectMeta;

/// Bytes, held raw in memory and encoded as standard base64 on the wire (Go's `[]byte`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteString(pub Vec<u8>);

impl ByteString {
    /// The bytes as UTF-8 text, if they are.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl From<Vec<u8>> for ByteString {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&str> for ByteString {
    fn from(s: &str) -> Self {
        Self(s.as_bytes().to_vec())
    }
}

impl AsRef<[u8]> for ByteString {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for ByteString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for ByteString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(Self)
            .map_err(|e| serde::de::Error::custom(format!("invalid base64 data: {e}")))
    }
}

impl JsonSchema for ByteString {
    fn schema_name() -> Cow<'static, str> {
        "ByteString".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "byte" })
    }
}

/// Non-confidential configuration as key/value pairs (`v1.ConfigMap`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// UTF-8 values by key. Keys must not also appear in `binaryData`.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub data: BTreeMap<String, String>,
    /// Binary values by key, base64 on the wire.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub binary_data: BTreeMap<String, ByteString>,
    /// When true, the data cannot be changed any more (only the metadata can).
    #[serde(default)]
    pub immutable: Option<bool>,
}

crate::impl_resource!(ConfigMap {
    group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true,
    short_names: ["cm"], categories: [],
    fields: { metadata: "metadata" },
    omit_empty: { immutable: "immutable", data: "data", binary_data: "binaryData" }
});

/// Confidential data, such as passwords, tokens and keys (`v1.Secret`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// When true, the data cannot be changed any more (only the metadata can).
    #[serde(default)]
    pub immutable: Option<bool>,
    /// The secret values by key: raw bytes, base64 on the wire.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub data: BTreeMap<String, ByteString>,
    /// Write-only plain-text values: on write the server merges them into `data`
    /// (overriding it) and never returns them.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub string_data: BTreeMap<String, String>,
    /// How the data is to be used; `Opaque` when not set.
    #[serde(rename = "type", default)]
    pub type_: Option<SecretType>,
}

crate::impl_resource!(Secret {
    group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true,
    short_names: [], categories: [],
    fields: { metadata: "metadata" },
    omit_empty: {
        immutable: "immutable", data: "data", string_data: "stringData", type_: "type"
    }
});

impl Secret {
    /// The secret's type, `Opaque` when not set.
    pub fn secret_type(&self) -> SecretType {
        self.type_.clone().unwrap_or_default()
    }

    /// The value of `key`: from `stringData` if the secret has one there (it overrides
    /// `data` on write), else from `data`.
    pub fn value(&self, key: &str) -> Option<&[u8]> {
        self.string_data
            .get(key)
            .map(String::as_bytes)
            .or_else(|| self.data.get(key).map(|v| v.0.as_slice()))
    }
}

/// What a [`Secret`] holds, which decides the keys it must have.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SecretType {
    /// Arbitrary user data; the default.
    #[default]
    Opaque,
    /// A service account token (`token`, `ca.crt`, `namespace`).
    #[serde(rename = "kubernetes.io/service-account-token")]
    ServiceAccountToken,
    /// A legacy `~/.dockercfg` file (`.dockercfg`).
    #[serde(rename = "kubernetes.io/dockercfg")]
    DockerCfg,
    /// A `~/.docker/config.json` file (`.dockerconfigjson`).
    #[serde(rename = "kubernetes.io/dockerconfigjson")]
    DockerConfigJson,
    /// Basic authentication (`username`, `password`).
    #[serde(rename = "kubernetes.io/basic-auth")]
    BasicAuth,
    /// SSH authentication (`ssh-privatekey`).
    #[serde(rename = "kubernetes.io/ssh-auth")]
    SshAuth,
    /// A TLS certificate and key (`tls.crt`, `tls.key`).
    #[serde(rename = "kubernetes.io/tls")]
    Tls,
    /// A bootstrap token (`token-id`, `token-secret`, ...).
    #[serde(rename = "bootstrap.kubernetes.io/token")]
    BootstrapToken,
    /// Any other type: Kubernetes accepts user-defined types.
    #[serde(untagged)]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_strings_are_base64_on_the_wire() {
        let b = ByteString::from("hello");
        assert_eq!(serde_json::to_string(&b).unwrap(), r#""aGVsbG8=""#);
        let back: ByteString = serde_json::from_str(r#""aGVsbG8=""#).unwrap();
        assert_eq!(back.as_str(), Some("hello"));
        let err = serde_json::from_str::<ByteString>(r#""not base64!""#).unwrap_err();
        assert!(err.to_string().contains("invalid base64"), "{err}");
    }

    #[test]
    fn secret_types_decode_and_default_to_opaque() {
        let s: Secret = serde_json::from_str(
            r#"{"type":"kubernetes.io/tls","data":{"tls.crt":"Y2VydA=="},"stringData":{"tls.key":"k"}}"#,
        )
        .unwrap();
        assert_eq!(s.secret_type(), SecretType::Tls);
        assert_eq!(s.value("tls.crt"), Some(&b"cert"[..]));
        assert_eq!(s.value("tls.key"), Some(&b"k"[..]));
        assert_eq!(s.value("missing"), None);
        let s: Secret = serde_json::from_str(r#"{"type":"example.com/custom"}"#).unwrap();
        assert_eq!(
            s.secret_type(),
            SecretType::Other("example.com/custom".into())
        );
        assert_eq!(Secret::default().secret_type(), SecretType::Opaque);
    }

    #[test]
    fn empty_config_maps_encode_without_data() {
        let cm = ConfigMap {
            data: [("a".to_owned(), "b".to_owned())].into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&cm).unwrap(),
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{},"data":{"a":"b"}}"#
        );
    }
}
