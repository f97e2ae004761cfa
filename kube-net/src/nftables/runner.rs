//! [`Nft`]: applying an nft script. The reference implementation runs `nft -f -`
//! ([`NftCommand`]); [`FakeNft`] records the scripts and can refuse one.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::command;
use crate::error::{Error, Result};

/// What the nftables data plane needs from the kernel.
#[async_trait]
pub trait Nft: Send + Sync + 'static {
    /// Applies a script of nft commands in one transaction: all of it or nothing.
    async fn apply(&self, script: &str) -> Result<()>;
    /// Deletes the table `family name` (`ip kube-net`) if it exists.
    async fn delete_table(&self, family: &str, name: &str) -> Result<()>;
}

/// [`Nft`] with the `nft` program, in the network namespace of the calling thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftCommand {
    /// The program.
    pub program: String,
}

impl Default for NftCommand {
    fn default() -> Self {
        Self {
            program: "nft".into(),
        }
    }
}

#[async_trait]
impl Nft for NftCommand {
    async fn apply(&self, script: &str) -> Result<()> {
        command::run(&self.program, &["-f", "-"], Some(script.as_bytes()))
            .await
            .map(drop)
    }

    async fn delete_table(&self, family: &str, name: &str) -> Result<()> {
        // Adding first makes the delete valid whether or not the table exists.
        let script = format!("add table {family} {name}\ndelete table {family} {name}\n");
        self.apply(&script).await
    }
}

/// An [`Nft`] test double: records every script, and refuses the next one when told.
#[derive(Clone, Default)]
pub struct FakeNft {
    scripts: Arc<Mutex<Vec<String>>>,
    fail_next: Arc<Mutex<bool>>,
}

impl fmt::Debug for FakeNft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeNft")
            .field("scripts", &self.scripts.lock().len())
            .finish_non_exhaustive()
    }
}

impl FakeNft {
    /// A fake that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every script applied (or refused), in order.
    pub fn scripts(&self) -> Vec<String> {
        self.scripts.lock().clone()
    }

    /// Makes the next script fail.
    pub fn fail_next(&self) {
        *self.fail_next.lock() = true;
    }
}

#[async_trait]
impl Nft for FakeNft {
    async fn apply(&self, script: &str) -> Result<()> {
        self.scripts.lock().push(script.to_owned());
        if std::mem::take(&mut *self.fail_next.lock()) {
            return Err(Error::Rejected {
                message: "nft: injected failure".into(),
            });
        }
        Ok(())
    }

    async fn delete_table(&self, family: &str, name: &str) -> Result<()> {
        self.scripts
            .lock()
            .push(format!("delete table {family} {name}\n"));
        Ok(())
    }
}
