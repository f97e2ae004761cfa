//! The local image catalog: how [`ProcessRuntime`](super::ProcessRuntime) resolves an
//! image on a machine with no registry.
//!
//! A container whose `command` is set runs that command from the host's `PATH`, whatever
//! its image: the image only matters when `command` is empty. Then the catalog decides:
//! an entry maps an image name to an executable and its default arguments (the image's
//! `ENTRYPOINT` and `CMD`), optionally a working directory, environment, and a root
//! filesystem to `chroot` into (root only). An image the catalog does not know fails to
//! create with [`RuntimeError::ImageUnavailable`], which the node agent shows as
//! `ErrImagePull`.
//!
//! Names match exactly first, then without the tag, then without a `docker.io/library/`
//! or `docker.io/` prefix: `nginx`, `nginx:1.27` and `docker.io/library/nginx:1.27` all
//! find an entry named `nginx`. The catalog reads from JSON:
//!
//! ```json
//! {
//!   "images": {
//!     "nginx": {"command": ["/usr/sbin/nginx"], "args": ["-g", "daemon off;"]},
//!     "busybox": {"command": ["sh"], "rootfs": "/srv/rootfs/busybox"}
//!   }
//! }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kube_core::RuntimeError;
use serde::{Deserialize, Serialize};

/// One image of the catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogImage {
    /// The executable and its fixed arguments (the image's `ENTRYPOINT`).
    pub command: Vec<String>,
    /// The default arguments (the image's `CMD`), replaced by the container's `args`.
    #[serde(default)]
    pub args: Vec<String>,
    /// The default working directory.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Environment variables the image sets (the container's own win).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A root filesystem to run in (`chroot`, needs root).
    #[serde(default)]
    pub rootfs: Option<PathBuf>,
}

/// Image names to what they run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCatalog {
    /// The entries, by image name.
    #[serde(default)]
    pub images: BTreeMap<String, CatalogImage>,
}

impl ImageCatalog {
    /// An empty catalog: only containers with a `command` run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry.
    #[must_use]
    pub fn with(mut self, name: &str, image: CatalogImage) -> Self {
        self.images.insert(name.to_owned(), image);
        self
    }

    /// Reads a catalog from a JSON file.
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        let data = std::fs::read(path).map_err(|e| {
            RuntimeError::other(format!("reading the image catalog {}", path.display()), e)
        })?;
        serde_json::from_slice(&data).map_err(|e| {
            RuntimeError::InvalidArgument(format!("the image catalog {}: {e}", path.display()))
        })
    }

    /// The entry for an image name, by the matching rules above.
    pub fn lookup(&self, image: &str) -> Option<&CatalogImage> {
        let untagged = |name: &str| -> String {
            let last = name.rsplit('/').next().unwrap_or(name);
            match last.rsplit_once(':') {
                Some((base, _)) => name[..name.len() - last.len()].to_owned() + base,
                None => name.to_owned(),
            }
        };
        let short = image
            .strip_prefix("docker.io/library/")
            .or_else(|| image.strip_prefix("docker.io/"))
            .unwrap_or(image);
        let short = short.split('@').next().unwrap_or(short);
        [
            image.to_owned(),
            untagged(image),
            short.to_owned(),
            untagged(short),
        ]
        .iter()
        .find_map(|name| self.images.get(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_with_or_without_tag_and_registry() {
        let c: ImageCatalog = serde_json::from_value(serde_json::json!({"images": {
            "nginx": {"command": ["/usr/sbin/nginx"], "args": ["-g", "daemon off;"]},
            "registry:5000/team/app:v2": {"command": ["app"]}
        }}))
        .unwrap();
        for name in [
            "nginx",
            "nginx:1.27",
            "docker.io/library/nginx:1.27",
            "docker.io/nginx",
            "nginx@sha256:00",
        ] {
            assert!(c.lookup(name).is_some(), "{name}");
        }
        assert!(c.lookup("registry:5000/team/app:v2").is_some());
        assert!(c.lookup("registry:5000/team/app:v3").is_none());
        assert!(c.lookup("redis").is_none());
        assert_eq!(c.lookup("nginx").unwrap().args, ["-g", "daemon off;"]);
    }
}
