//! The on-disk side of the durable store: four redb tables, written in one transaction
//! (fsynced on commit) per operation, and read back at open.
//!
//! - `log`: revision -> the write made at that revision (see [`super::codec`]), for every
//!   revision after the base revision.
//! - `base`: key -> key-value, every live key as it was at the base revision.
//! - `meta`: the format version, the base revision (1 for a new store, then the compacted
//!   revision), the compacted revision (0 before any compaction), and the next lease id.
//! - `leases`: lease id -> TTL in milliseconds.
//!
//! Compaction folds the log up to the compacted revision into `base`. The latest state
//! is `base` with the log replayed on top, which is what [`load`] does.

// redb's own error is large (160 bytes); these helpers run once per fsynced write or at
// open, where moving it costs nothing next to the disk, and the public error boxes it.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube_core::{KeyValue, LeaseId, Revision, StoreError};
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

use super::codec::{self, Write};
use super::error::OpenError;
use crate::mvcc::{Mvcc, Persist, Record};
use crate::retention::Retention;

const LOG: TableDefinition<'static, i64, &[u8]> = TableDefinition::new("log");
const BASE: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("base");
const META: TableDefinition<'static, &str, i64> = TableDefinition::new("meta");
const LEASES: TableDefinition<'static, i64, u64> = TableDefinition::new("leases");

const FORMAT: &str = "format";
const FORMAT_VERSION: i64 = 1;
const BASE_REVISION: &str = "base_revision";
const COMPACTED: &str = "compacted";
const NEXT_LEASE: &str = "next_lease";

/// The database file in a data directory.
pub(super) const FILE_NAME: &str = "store.redb";

/// A [`Persist`] that commits every batch to redb before it is applied.
#[derive(Debug)]
pub(crate) struct Disk {
    db: Database,
}

fn backend(message: &str, err: impl Into<redb::Error>) -> StoreError {
    StoreError::backend(message.to_owned(), err.into())
}

impl Persist for Disk {
    const ENABLED: bool = true;

    fn commit(&self, records: &[Record<'_>]) -> Result<(), StoreError> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| backend("cannot start a write transaction", e))?;
        write_records(&txn, records).map_err(|e| backend("cannot write to the store", e))?;
        txn.commit()
            .map_err(|e| backend("cannot commit to the store", e))
    }
}

fn write_records(txn: &WriteTransaction, records: &[Record<'_>]) -> Result<(), redb::Error> {
    for record in records {
        match *record {
            Record::Put {
                revision,
                key,
                value,
                lease,
            } => {
                let mut log = txn.open_table(LOG)?;
                log.insert(revision, codec::encode_put(key, value, lease).as_slice())?;
            }
            Record::Delete { revision, key } => {
                let mut log = txn.open_table(LOG)?;
                log.insert(revision, codec::encode_delete(key).as_slice())?;
            }
            Record::GrantLease { id, ttl } => {
                let mut leases = txn.open_table(LEASES)?;
                let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                leases.insert(id, millis)?;
                // Ids are never reused, even those of leases revoked since.
                txn.open_table(META)?.insert(NEXT_LEASE, id + 1)?;
            }
            Record::RevokeLease { id } => {
                let mut leases = txn.open_table(LEASES)?;
                leases.remove(id)?;
            }
            Record::Compact { revision } => fold_log(txn, revision)?,
        }
    }
    Ok(())
}

/// Folds the log up to `revision` into the base snapshot.
fn fold_log(txn: &WriteTransaction, revision: Revision) -> Result<(), redb::Error> {
    let mut log = txn.open_table(LOG)?;
    let mut base = txn.open_table(BASE)?;
    let mut meta = txn.open_table(META)?;
    let entries: Vec<(Revision, Vec<u8>)> = log
        .range(..=revision)?
        .map(|entry| entry.map(|(rev, bytes)| (rev.value(), bytes.value().to_vec())))
        .collect::<Result<_, _>>()?;
    for (rev, bytes) in &entries {
        let write = codec::decode_write(bytes).map_err(corrupt)?;
        match write {
            Write::Put { key, value, lease } => {
                let current = match base.get(key)? {
                    Some(old) => Some(codec::decode_kv(key, old.value()).map_err(corrupt)?),
                    None => None,
                };
                let kv = KeyValue {
                    key: bytes::Bytes::new(),
                    value: bytes::Bytes::copy_from_slice(value),
                    create_revision: current.as_ref().map_or(*rev, |kv| kv.create_revision),
                    mod_revision: *rev,
                    version: current.as_ref().map_or(1, |kv| kv.version + 1),
                    lease,
                };
                base.insert(key, codec::encode_kv(&kv).as_slice())?;
            }
            Write::Delete { key } => {
                base.remove(key)?;
            }
        }
        log.remove(*rev)?;
    }
    let old_base = meta.get(BASE_REVISION)?.map_or(1, |v| v.value());
    meta.insert(BASE_REVISION, revision.max(old_base))?;
    meta.insert(COMPACTED, revision)?;
    Ok(())
}

fn corrupt(message: String) -> redb::Error {
    redb::Error::Corrupted(message)
}

/// Opens (or creates) the database in `dir` and rebuilds the state it holds.
pub(crate) fn load(dir: &Path, retention: Retention) -> Result<(Mvcc, Disk), OpenError> {
    std::fs::create_dir_all(dir).map_err(|source| OpenError::DataDir {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(FILE_NAME);
    let db = Database::create(&path).map_err(|err| match err {
        redb::DatabaseError::DatabaseAlreadyOpen => OpenError::AlreadyOpen { path: path.clone() },
        other => OpenError::Database {
            path: path.clone(),
            source: Box::new(other.into()),
        },
    })?;
    let database = |path: &PathBuf| {
        let path = path.clone();
        move |err: redb::Error| match err {
            redb::Error::Corrupted(message) => OpenError::Corrupt { path, message },
            source => OpenError::Database {
                path,
                source: Box::new(source),
            },
        }
    };
    init(&db).map_err(database(&path))?;
    let state = read_state(&db, retention).map_err(database(&path))?;
    Ok((state, Disk { db }))
}

/// Creates the tables and the meta of a new database; checks the format of an old one.
fn init(db: &Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let format = meta.get(FORMAT)?.map(|v| v.value());
        match format {
            None => {
                meta.insert(FORMAT, FORMAT_VERSION)?;
                meta.insert(BASE_REVISION, 1)?;
                meta.insert(COMPACTED, 0)?;
            }
            Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(corrupt(format!(
                    "format version {other}, this build reads {FORMAT_VERSION}"
                )));
            }
        }
        txn.open_table(LOG)?;
        txn.open_table(BASE)?;
        txn.open_table(LEASES)?;
    }
    txn.commit()?;
    Ok(())
}

/// Reads the base snapshot and replays the log on it.
fn read_state(db: &Database, retention: Retention) -> Result<Mvcc, redb::Error> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    let base_revision = meta.get(BASE_REVISION)?.map_or(1, |v| v.value());
    let compacted = meta.get(COMPACTED)?.map_or(0, |v| v.value());
    if base_revision < 1 || compacted > base_revision {
        return Err(corrupt(format!(
            "base revision {base_revision} with compacted revision {compacted}"
        )));
    }
    let mut state = Mvcc::new(retention);
    state.set_base(base_revision, compacted);
    if let Some(next) = meta.get(NEXT_LEASE)? {
        state.next_lease = state.next_lease.max(next.value());
    }

    let now = Instant::now();
    for entry in txn.open_table(LEASES)?.iter()? {
        let (id, millis) = entry?;
        let id: LeaseId = id.value();
        state.restore_lease(id, Duration::from_millis(millis.value()), now);
    }
    for entry in txn.open_table(BASE)?.iter()? {
        let (key, bytes) = entry?;
        let kv = codec::decode_kv(key.value(), bytes.value()).map_err(corrupt)?;
        if kv.mod_revision > base_revision {
            return Err(corrupt(format!(
                "a key of the base snapshot at revision {} after the base revision {base_revision}",
                kv.mod_revision
            )));
        }
        state.restore_key(kv);
    }
    for entry in txn.open_table(LOG)?.iter()? {
        let (revision, bytes) = entry?;
        let revision = revision.value();
        let record = match codec::decode_write(bytes.value()).map_err(corrupt)? {
            Write::Put { key, value, lease } => Record::Put {
                revision,
                key,
                value,
                lease,
            },
            Write::Delete { key } => Record::Delete { revision, key },
        };
        state.replay(&record).map_err(corrupt)?;
    }
    Ok(state)
}
