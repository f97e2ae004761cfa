//! The kubeconfig file, as kubectl reads and writes it (`apiVersion: v1`, `kind: Config`).
//!
//! YAML is read with `serde_yaml_ng`, a maintained fork of `serde_yaml` with the same API
//! that both reads and writes YAML, and whose minimum Rust version fits the workspace's.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ClientError;

/// A kubeconfig: clusters, users, contexts joining them, and the current context.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    /// Always `v1`.
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub api_version: Option<String>,
    /// Always `Config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The API servers.
    #[serde(default, deserialize_with = "nullable")]
    pub clusters: Vec<NamedCluster>,
    /// The credentials.
    #[serde(default, deserialize_with = "nullable")]
    pub users: Vec<NamedAuthInfo>,
    /// Pairs of a cluster and a user, with a default namespace.
    #[serde(default, deserialize_with = "nullable")]
    pub contexts: Vec<NamedContext>,
    /// The context used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// The directory relative file paths are resolved against (the file's own directory).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// A cluster with its name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    /// The name contexts refer to.
    pub name: String,
    /// The cluster.
    pub cluster: Cluster,
}

/// How to reach an API server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// `https://host:port` (or `http://` on loopback).
    pub server: String,
    /// A PEM file with the CA certificates that sign the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// The same PEM, base64-encoded inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    /// Do not verify the server's certificate (development only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,
    /// The name to verify the server's certificate against, when not the URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
}

/// A user's credentials with a name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedAuthInfo {
    /// The name contexts refer to.
    pub name: String,
    /// The credentials.
    #[serde(default)]
    pub user: AuthInfo,
}

/// Credentials: a client certificate and key, or a bearer token.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AuthInfo {
    /// A PEM file with the client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// The same PEM, base64-encoded inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    /// A PEM file with the client key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// The same PEM, base64-encoded inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    /// A bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A file holding a bearer token.
    #[serde(default, rename = "tokenFile", skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// Basic authentication user name (not supported by this client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// An exec credential plugin (not supported by this client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<serde_json::Value>,
}

impl std::fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed.
        f.debug_struct("AuthInfo")
            .field("client_certificate", &self.client_certificate)
            .field(
                "has_client_certificate_data",
                &self.client_certificate_data.is_some(),
            )
            .field("client_key", &self.client_key)
            .field("has_client_key_data", &self.client_key_data.is_some())
            .field("has_token", &self.token.is_some())
            .field("token_file", &self.token_file)
            .finish_non_exhaustive()
    }
}

/// A context with its name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    /// The name `current-context` refers to.
    pub name: String,
    /// The context.
    pub context: Context,
}

/// A cluster, a user and a default namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The cluster's name.
    pub cluster: String,
    /// The user's name.
    #[serde(default)]
    pub user: String,
    /// The default namespace; `default` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Kubeconfig {
    /// Parses a kubeconfig from YAML (or JSON, which is YAML too).
    pub fn from_yaml(text: &str) -> Result<Self, ClientError> {
        serde_yaml_ng::from_str(text)
            .map_err(|source| ClientError::KubeconfigParse { path: None, source })
    }

    /// Reads a kubeconfig file; relative paths in it are resolved against its directory.
    pub fn read_from(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ClientError::ReadFile {
            what: "kubeconfig",
            path: path.to_owned(),
            source,
        })?;
        let mut config: Self =
            serde_yaml_ng::from_str(&text).map_err(|source| ClientError::KubeconfigParse {
                path: Some(path.to_owned()),
                source,
            })?;
        config.base_dir = path.parent().map(Path::to_path_buf);
        Ok(config)
    }

    /// Reads the first file of `KUBECONFIG`, or `~/.kube/config`.
    pub fn from_env() -> Result<Self, ClientError> {
        if let Some(list) = std::env::var_os("KUBECONFIG") {
            if let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty()) {
                return Self::read_from(first);
            }
        }
        let home = std::env::var_os("HOME").ok_or(ClientError::NoKubeconfig)?;
        Self::read_from(Path::new(&home).join(".kube").join("config"))
    }

    /// Writes the kubeconfig as YAML.
    pub fn to_yaml(&self) -> Result<String, ClientError> {
        serde_yaml_ng::to_string(self)
            .map_err(|source| ClientError::KubeconfigParse { path: None, source })
    }

    /// The named context, or the current one.
    pub fn context(&self, name: Option<&str>) -> Result<&NamedContext, ClientError> {
        let name = match name.or(self.current_context.as_deref()) {
            Some(n) if !n.is_empty() => n,
            _ => return Err(ClientError::NoCurrentContext),
        };
        self.contexts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ClientError::UnknownName {
                what: "context",
                name: name.to_owned(),
            })
    }

    /// The cluster of that name.
    pub fn cluster(&self, name: &str) -> Result<&Cluster, ClientError> {
        self.clusters
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.cluster)
            .ok_or_else(|| ClientError::UnknownName {
                what: "cluster",
                name: name.to_owned(),
            })
    }

    /// The user of that name; an empty name means no credentials.
    pub fn user(&self, name: &str) -> Result<AuthInfo, ClientError> {
        if name.is_empty() {
            return Ok(AuthInfo::default());
        }
        self.users
            .iter()
            .find(|u| u.name == name)
            .map(|u| u.user.clone())
            .ok_or_else(|| ClientError::UnknownName {
                what: "user",
                name: name.to_owned(),
            })
    }

    /// A path from the file, resolved against its directory when relative.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        match &self.base_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }
}

fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r"
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: ca.crt
contexts:
- name: admin@local
  context:
    cluster: local
    user: admin
    namespace: team-a
current-context: admin@local
users:
- name: admin
  user:
    token: secret
preferences: {}
";

    #[test]
    fn reads_kubectl_style_yaml() {
        let kc = Kubeconfig::from_yaml(SAMPLE).unwrap();
        let ctx = kc.context(None).unwrap();
        assert_eq!(ctx.context.namespace.as_deref(), Some("team-a"));
        let cluster = kc.cluster(&ctx.context.cluster).unwrap();
        assert_eq!(cluster.server, "https://127.0.0.1:6443");
        assert_eq!(kc.user("admin").unwrap().token.as_deref(), Some("secret"));
    }

    #[test]
    fn round_trips_through_yaml() {
        let kc = Kubeconfig::from_yaml(SAMPLE).unwrap();
        let back = Kubeconfig::from_yaml(&kc.to_yaml().unwrap()).unwrap();
        assert_eq!(back, kc);
    }

    #[test]
    fn missing_names_are_clear_errors() {
        let kc = Kubeconfig::from_yaml(SAMPLE).unwrap();
        let err = kc.context(Some("nope")).unwrap_err();
        assert_eq!(err.to_string(), r#"kubeconfig has no context named "nope""#);
        let empty = Kubeconfig::from_yaml("apiVersion: v1\nkind: Config\n").unwrap();
        assert!(matches!(
            empty.context(None),
            Err(ClientError::NoCurrentContext)
        ));
        assert!(matches!(
            Kubeconfig::from_yaml("clusters: [1, 2"),
            Err(ClientError::KubeconfigParse { .. })
        ));
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let mut kc = Kubeconfig::from_yaml(SAMPLE).unwrap();
        kc.base_dir = Some(PathBuf::from("/etc/kube"));
        assert_eq!(kc.resolve("ca.crt"), PathBuf::from("/etc/kube/ca.crt"));
        assert_eq!(kc.resolve("/abs/ca.crt"), PathBuf::from("/abs/ca.crt"));
    }
}
