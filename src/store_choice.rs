//! Which [`Store`] a control plane keeps its state in.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use kube_core::Store;
use kube_store::{DurableStore, MemoryStore};

use crate::error::BuildError;

/// The store a [`ControlPlane`](crate::ControlPlane) runs on.
///
/// [`StoreChoice::Memory`] is the default: nothing to set up, nothing kept after exit.
#[derive(Clone, Default)]
pub enum StoreChoice {
    /// [`MemoryStore`]: in memory, lost on exit. Tests, examples, simulations.
    #[default]
    Memory,
    /// [`DurableStore`] in this directory: survives restarts and `kill -9` without etcd.
    Durable(PathBuf),
    /// A real etcd v3 cluster (`kube_store::EtcdStore`).
    #[cfg(feature = "etcd")]
    Etcd(Box<kube_store::EtcdConfig>),
    /// Any other implementation of the trait (a user's own backend).
    Custom(Arc<dyn Store>),
}

impl fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Durable(dir) => f.debug_tuple("Durable").field(dir).finish(),
            #[cfg(feature = "etcd")]
            Self::Etcd(config) => f.debug_tuple("Etcd").field(config).finish(),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl StoreChoice {
    /// The choice a command line states: a durable store in `data_dir`, etcd at the
    /// comma-separated `etcd_urls`, or memory when neither is given. Both at once, or
    /// etcd in a build without the `etcd` feature, is a configuration error.
    pub fn from_options(
        data_dir: Option<PathBuf>,
        etcd_urls: Option<&str>,
    ) -> Result<Self, BuildError> {
        match (data_dir, etcd_urls) {
            (Some(_), Some(_)) => Err(BuildError::Config(
                "a data directory and etcd are two stores: choose one".into(),
            )),
            (Some(dir), None) => Ok(Self::Durable(dir)),
            (None, None) => Ok(Self::Memory),
            #[cfg(feature = "etcd")]
            (None, Some(urls)) => Ok(Self::Etcd(Box::new(kube_store::EtcdConfig::new(
                urls.split(',').map(str::trim),
            )))),
            #[cfg(not(feature = "etcd"))]
            (None, Some(_)) => Err(BuildError::Config(
                "etcd needs the `etcd` feature of kube-sdk (cargo run --features etcd ...)".into(),
            )),
        }
    }

    /// Opens (or connects to) the store.
    pub(crate) async fn open(self) -> Result<Arc<dyn Store>, BuildError> {
        match self {
            Self::Memory => Ok(Arc::new(MemoryStore::new())),
            Self::Durable(dir) => {
                // Opening reads the whole database back: keep it off the async runtime.
                let store = tokio::task::spawn_blocking(move || DurableStore::open(&dir))
                    .await
                    .map_err(|e| BuildError::Task(e.to_string()))??;
                Ok(Arc::new(store))
            }
            #[cfg(feature = "etcd")]
            Self::Etcd(config) => {
                let endpoints = config.endpoints.join(",");
                let store = kube_store::EtcdStore::connect(*config)
                    .await
                    .map_err(|source| BuildError::Etcd { endpoints, source })?;
                Ok(Arc::new(store))
            }
            Self::Custom(store) => Ok(store),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_choose_one_store() {
        assert!(matches!(
            StoreChoice::from_options(None, None),
            Ok(StoreChoice::Memory)
        ));
        assert!(matches!(
            StoreChoice::from_options(Some("d".into()), None),
            Ok(StoreChoice::Durable(dir)) if dir == std::path::Path::new("d")
        ));
        assert!(matches!(
            StoreChoice::from_options(Some("d".into()), Some("http://127.0.0.1:2379")),
            Err(BuildError::Config(_))
        ));
        #[cfg(not(feature = "etcd"))]
        assert!(matches!(
            StoreChoice::from_options(None, Some("http://127.0.0.1:2379")),
            Err(BuildError::Config(message)) if message.contains("etcd")
        ));
    }
}
