//! Why the durable store could not open its data directory.

use std::path::PathBuf;

/// Why [`DurableStore::open`](super::DurableStore::open) failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory could not be created or is not a directory.
    #[error("cannot use {} as the store's data directory: {source}", .path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Another store (in this process or another) has the database open.
    #[error("the store database {} is already open elsewhere", .path.display())]
    AlreadyOpen {
        /// The database file.
        path: PathBuf,
    },
    /// The database file could not be opened or read: not writable, not a database, or
    /// damaged.
    #[error("cannot open the store database {}: {source}", .path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// The engine's error.
        #[source]
        source: Box<redb::Error>,
    },
    /// The database holds data this version cannot read back.
    #[error("the store database {} is corrupt: {message}", .path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}
