//! [`EtcdStore`]: the [`Store`] on a real etcd v3 cluster, through the etcd-client crate.
//!
//! Every store key lives under a configurable prefix ([`EtcdConfig::prefix`]): the store's
//! key `k` is `prefix + k` in etcd, and ranges and watches never leave the prefix, so that
//! several stores (or clusters) can share one etcd. The contract maps onto etcd directly:
//!
//! | [`Store`] | etcd |
//! |---|---|
//! | `create` | `Txn(create_revision(k) == 0).Then(Put(k))` |
//! | `update` | `Txn(mod_revision(k) == expected).Then(Put(k, ignore_lease, prev_kv)).Else(Get(k))` |
//! | `delete` | `Txn(mod_revision(k) == expected).Then(DeleteRange(k, prev_kv)).Else(Get(k))` |
//! | `range` | `Range(prefix, limit, revision)` with the total count |
//! | `watch` | `Watch(prefix, prev_kv, start_revision)`, resumed after a broken stream |
//! | leases | etcd leases (`LeaseGrant`, one `LeaseKeepAlive` round, `LeaseRevoke`) |
//! | `revoke_lease` | one guarded `DeleteRange` per key of the lease, then `LeaseRevoke` |
//! | `compact` | `Compact(revision, physical)` |
//!
//! # What differs from an embedded store
//!
//! - **Revisions are etcd's.** They are global to the etcd cluster: with other writers on
//!   the same etcd (other prefixes), this store sees gaps between its revisions. Every
//!   write of the store still gets a revision of its own, greater than all earlier ones.
//! - **Compaction is global too**: compacting through one store compacts the history of
//!   every prefix on that etcd.
//! - **Leases are global**, and when a lease *expires* etcd deletes all its keys in one
//!   transaction: they share one revision (the contract wants one each; a revoke through
//!   this store deletes the keys one by one first, so it honours that). etcd rounds TTLs up
//!   to whole seconds, and never grants less than its minimum TTL (about 2 s by default).
//! - **A watch resumes by itself.** When its stream breaks (etcd restarts, the network
//!   fails), the watch reconnects and starts again at the revision of the last event it
//!   delivered, skipping the events of that revision already delivered, so nothing is lost
//!   or repeated. If that revision has been compacted meanwhile, the stream yields
//!   [`StoreError::Compacted`] (the informer above relists). It gives up with
//!   [`StoreError::Unavailable`] after [`EtcdConfig::watch_retry_timeout`] without a message.
//!
//! # Securing etcd
//!
//! **Access to etcd is root access to the cluster.** Everything the API server stores is
//! there in the clear: every object, every Secret, every service-account token, the RBAC
//! rules that decide who may do what. Whoever can read etcd reads every secret; whoever can
//! write it can grant themselves any permission or run any workload on any node, past every
//! authentication, authorization and admission check of the API server. Treat it so:
//!
//! - **Authenticate clients with certificates.** Start etcd with `--client-cert-auth` and
//!   `--trusted-ca-file`, so that only holders of a client certificate signed by that CA
//!   get in, and give one to the API server only. Use a CA dedicated to etcd: one shared
//!   with anything else lets every holder of its certificates in.
//! - **Encrypt every connection** with TLS: clients (`--cert-file`, `--key-file`) and peers
//!   (`--peer-cert-file`, `--peer-key-file`, `--peer-client-cert-auth`,
//!   `--peer-trusted-ca-file`). Plain `http://` endpoints are for a loopback test etcd only.
//! - **Firewall it.** Ports 2379 (clients) and 2380 (peers) must be reachable from the API
//!   servers and the other etcd members, and from nothing else.
//! - **Encrypt at rest.** etcd writes values to disk as they are: put its data directory on
//!   an encrypted volume, and protect backups and snapshots (`etcdctl snapshot save`) like
//!   the live data.
//! - **Keep the key files private** (mode 0600, owned by the user running the API server),
//!   and rotate the certificates before they expire.
//!
//! Starting etcd with TLS and client-certificate authentication for this store (the
//! certificates from your CA; the server certificate must name the address clients use,
//! here `127.0.0.1`):
//!
//! ```text
//! etcd --name etcd-0 --data-dir /var/lib/etcd \
//!   --listen-client-urls https://127.0.0.1:2379 \
//!   --advertise-client-urls https://127.0.0.1:2379 \
//!   --cert-file server.pem --key-file server-key.pem \
//!   --client-cert-auth --trusted-ca-file ca.pem \
//!   --listen-peer-urls https://127.0.0.1:2380 \
//!   --initial-advertise-peer-urls https://127.0.0.1:2380 \
//!   --initial-cluster etcd-0=https://127.0.0.1:2380 \
//!   --peer-cert-file peer.pem --peer-key-file peer-key.pem \
//!   --peer-client-cert-auth --peer-trusted-ca-file ca.pem
//! ```
//!
//! and connecting to it:
//!
//! ```no_run
//! # async fn connect() -> Result<(), Box<dyn std::error::Error>> {
//! use kube_store::{EtcdConfig, EtcdStore, EtcdTls};
//!
//! let tls = EtcdTls::from_pem_files("ca.pem", "apiserver.pem", "apiserver-key.pem")?;
//! let store = EtcdStore::connect(
//!     EtcdConfig::new(["https://127.0.0.1:2379"]).prefix("/kube-sdk").tls(tls),
//! )
//! .await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
pub mod testing;
mod watch;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions,
    KvClient, LeaseTimeToLiveOptions, PutOptions, Txn, TxnOp, TxnOpResponse, TxnResponse,
    WatchOptions,
};
use kube_core::{
    KeyValue, LeaseId, RangeRequest, RangeResponse, Revision, Store, StoreError, WatchStream,
};

pub use self::config::{EtcdConfig, EtcdTls};
use self::error::{Failure, classify, plain};

/// The largest response decoded from etcd (a range of many objects, a watch batch):
/// `i32::MAX`, gRPC's own ceiling, as the Kubernetes API server sets it.
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// The etcd-client crate this store is built on, for [`EtcdStore::client`].
#[doc(no_inline)]
pub use etcd_client;

/// How long [`EtcdStore::compacted_revision`] waits for etcd to report its compaction.
const COMPACTION_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] on etcd v3. See the [module docs](self) for the mapping and for how to
/// secure etcd.
///
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct EtcdStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: EtcdConfig,
}

impl fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.inner.config.endpoints)
            .field(
                "prefix",
                &String::from_utf8_lossy(&self.inner.config.prefix),
            )
            .field("tls", &self.inner.config.tls.is_some())
            .finish()
    }
}

impl EtcdStore {
    /// Connects to etcd. Fails with [`StoreError::InvalidRequest`] on a bad setting (no
    /// endpoint, a malformed URL or certificate) and [`StoreError::Unavailable`] when no
    /// endpoint answers.
    pub async fn connect(config: EtcdConfig) -> Result<Self, StoreError> {
        if config.endpoints.is_empty() {
            return Err(StoreError::InvalidRequest(
                "etcd: no endpoint configured".into(),
            ));
        }
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.connect_timeout)
            .with_timeout(config.request_timeout)
            .with_keep_alive(config.keep_alive_interval, config.keep_alive_timeout)
            .with_keep_alive_while_idle(true);
        if let Some(tls) = &config.tls {
            options = options.with_tls(tls.to_options());
        }
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(|err| match err {
                etcd_client::Error::InvalidArgs(_)
                | etcd_client::Error::InvalidUri(_)
                | etcd_client::Error::TransportError(_) => {
                    StoreError::InvalidRequest(format!("etcd: bad connection settings: {err}"))
                }
                other => plain("connect", other),
            })?;
        let store = Self {
            inner: Arc::new(Inner { client, config }),
        };
        // The channel connects lazily: one request tells now whether etcd answers.
        store.current_revision().await?;
        Ok(store)
    }

    /// The settings this store was connected with.
    pub fn config(&self) -> &EtcdConfig {
        &self.inner.config
    }

    /// The underlying etcd client, for what the [`Store`] trait does not cover
    /// (maintenance, cluster membership). Keys written through it bypass the prefix.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    fn kv(&self) -> KvClient {
        // A list of many objects is one response: lift gRPC's 4 MiB default, as the
        // Kubernetes API server does (etcd limits requests, not responses).
        self.inner
            .client
            .kv_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    fn prefix(&self) -> &[u8] {
        &self.inner.config.prefix
    }

    /// The etcd key of a store key.
    fn etcd_key(&self, key: &[u8]) -> Vec<u8> {
        let prefix = self.prefix();
        let mut full = Vec::with_capacity(prefix.len() + key.len());
        full.extend_from_slice(prefix);
        full.extend_from_slice(key);
        full
    }

    /// A key that always exists as a name (even if never written), for requests that only
    /// want the response header or a revision check.
    fn probe_key(&self) -> Vec<u8> {
        if self.prefix().is_empty() {
            vec![0]
        } else {
            self.prefix().to_vec()
        }
    }

    /// Converts an etcd key-value into the store's, stripping the prefix.
    fn store_kv(&self, kv: etcd_client::KeyValue) -> KeyValue {
        convert_kv(self.prefix().len(), kv)
    }

    /// The revision history was compacted at, asked of etcd: a range at revision 1 works
    /// until the first compaction; after it, a watch from revision 1 is refused with the
    /// compaction revision.
    async fn probe_compacted(&self) -> Result<Revision, StoreError> {
        let options = GetOptions::new().with_revision(1).with_count_only();
        match self.kv().get(self.probe_key(), Some(options)).await {
            Ok(_) => return Ok(0),
            Err(err) => match classify("range", err) {
                Failure::Compacted => {}
                Failure::Other(err) => return Err(err),
                Failure::FutureRevision | Failure::LeaseNotFound => {
                    return Err(StoreError::Backend {
                        message: "etcd: unexpected answer to a range at revision 1".into(),
                        source: None,
                    });
                }
            },
        }
        let mut watch_client = self.inner.client.watch_client();
        let options = WatchOptions::new().with_start_revision(1);
        let probe = async {
            let mut stream = watch_client
                .watch(self.probe_key(), Some(options))
                .await
                .map_err(|err| plain("watch", err))?;
            loop {
                match stream.message().await {
                    Ok(Some(response)) if response.compact_revision() > 0 => {
                        return Ok(response.compact_revision());
                    }
                    Ok(Some(response)) if response.canceled() => {
                        return Err(StoreError::Backend {
                            message: format!(
                                "etcd: compaction probe canceled: {}",
                                response.cancel_reason()
                            ),
                            source: None,
                        });
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        return Err(StoreError::Unavailable {
                            message: "etcd: watch stream closed during compaction probe".into(),
                            source: None,
                        });
                    }
                    Err(err) => return Err(plain("watch", err)),
                }
            }
        };
        tokio::time::timeout(COMPACTION_PROBE_TIMEOUT, probe)
            .await
            .map_err(|_| StoreError::Unavailable {
                message: "etcd: no answer to the compaction probe".into(),
                source: None,
            })?
    }

    /// Maps an error of a read at `requested` (range, revision check).
    async fn read_failure(
        &self,
        op: &'static str,
        requested: Revision,
        err: etcd_client::Error,
    ) -> StoreError {
        match classify(op, err) {
            Failure::Compacted => match self.probe_compacted().await {
                Ok(compacted) => StoreError::Compacted {
                    requested,
                    compacted,
                },
                Err(err) => err,
            },
            Failure::FutureRevision => match self.current_revision().await {
                Ok(current) => StoreError::FutureRevision { requested, current },
                Err(err) => err,
            },
            Failure::LeaseNotFound => StoreError::Backend {
                message: format!("etcd {op}: unexpected lease-not-found error"),
                source: None,
            },
            Failure::Other(err) => err,
        }
    }

    /// Fails with `Compacted` or `FutureRevision` unless history at `revision` can be read.
    async fn check_revision(&self, revision: Revision) -> Result<(), StoreError> {
        let options = GetOptions::new().with_revision(revision).with_count_only();
        match self.kv().get(self.probe_key(), Some(options)).await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.read_failure("range", revision, err).await),
        }
    }
}

/// Converts an etcd key-value, stripping `prefix_len` bytes of prefix from its key.
fn convert_kv(prefix_len: usize, kv: etcd_client::KeyValue) -> KeyValue {
    let create_revision = kv.create_revision();
    let mod_revision = kv.mod_revision();
    let version = kv.version();
    let lease = (kv.lease() != 0).then_some(kv.lease());
    let (key, value) = kv.into_key_value();
    let key = Bytes::from(key);
    let key = if key.len() >= prefix_len {
        key.slice(prefix_len..)
    } else {
        key
    };
    KeyValue {
        key,
        value: Bytes::from(value),
        create_revision,
        mod_revision,
        version,
        lease,
    }
}

/// The smallest key greater than every key that starts with `prefix`; `[0]` (etcd's "to the
/// end") when there is none.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn check_key(key: &[u8]) -> Result<(), StoreError> {
    if key.is_empty() {
        Err(StoreError::InvalidRequest("empty key".into()))
    } else {
        Ok(())
    }
}

fn header_revision(response: &TxnResponse) -> Result<Revision, StoreError> {
    response
        .header()
        .map(etcd_client::ResponseHeader::revision)
        .ok_or_else(|| missing("txn response header"))
}

fn missing(what: &str) -> StoreError {
    StoreError::Backend {
        message: format!("etcd: malformed response: no {what}"),
        source: None,
    }
}

/// The key-value read by the `Get` that a failed transaction ran in its `else` branch.
fn else_get(response: &TxnResponse) -> Result<Option<etcd_client::KeyValue>, StoreError> {
    match response.op_responses().into_iter().next() {
        Some(TxnOpResponse::Get(mut get)) => Ok(get.take_kvs().into_iter().next()),
        _ => Err(missing("range result in the transaction's else branch")),
    }
}

/// The outcome of a failed compare-and-swap: `NotFound`, or `Conflict` with the current value.
fn cas_failure(
    prefix_len: usize,
    expected: Revision,
    response: &TxnResponse,
) -> Result<StoreError, StoreError> {
    Ok(match else_get(response)? {
        None => StoreError::NotFound,
        Some(current) => StoreError::Conflict {
            expected,
            current: Box::new(convert_kv(prefix_len, current)),
        },
    })
}

/// Compares that hold when the key exists with this `mod_revision`. (A missing key has
/// `mod_revision` 0 in etcd: the version check keeps `expected == 0` from matching it.)
fn exists_at(key: &[u8], expected: Revision) -> [Compare; 2] {
    [
        Compare::mod_revision(key, CompareOp::Equal, expected),
        Compare::version(key, CompareOp::Greater, 0),
    ]
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        check_key(key)?;
        let mut response = self
            .kv()
            .get(self.etcd_key(key), None)
            .await
            .map_err(|err| plain("get", err))?;
        Ok(response
            .take_kvs()
            .into_iter()
            .next()
            .map(|kv| self.store_kv(kv)))
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse, StoreError> {
        if request.revision < 0 {
            return Err(StoreError::InvalidRequest(format!(
                "negative revision {}",
                request.revision
            )));
        }
        let start = self.etcd_key(&request.prefix);
        let end = prefix_end(&start);
        // Never start before the prefix, however the start key was chosen.
        let from = match &request.start {
            Some(key) => {
                let key = self.etcd_key(key);
                if key > start { key } else { start }
            }
            None => start,
        };
        let from = if from.is_empty() { vec![0] } else { from };
        let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
        let mut options = GetOptions::new()
            .with_range(end)
            .with_limit(limit)
            .with_revision(request.revision);
        if request.count_only {
            options = options.with_count_only();
        }
        let mut response = match self.kv().get(from, Some(options)).await {
            Ok(response) => response,
            Err(err) => return Err(self.read_failure("range", request.revision, err).await),
        };
        let revision = if request.revision > 0 {
            request.revision
        } else {
            response
                .header()
                .map(etcd_client::ResponseHeader::revision)
                .ok_or_else(|| missing("range response header"))?
        };
        let count = usize::try_from(response.count()).unwrap_or(0);
        let more = response.more();
        let kvs = response
            .take_kvs()
            .into_iter()
            .map(|kv| self.store_kv(kv))
            .collect();
        Ok(RangeResponse {
            kvs,
            more,
            count,
            revision,
        })
    }

    async fn create(
        &self,
        key: Bytes,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<KeyValue, StoreError> {
        check_key(&key)?;
        let full = self.etcd_key(&key);
        let mut put = PutOptions::new();
        if let Some(lease) = lease {
            put = put.with_lease(lease);
        }
        let txn = Txn::new()
            .when([Compare::create_revision(full.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(full, value.to_vec(), Some(put))]);
        let response = self
            .kv()
            .txn(txn)
            .await
            .map_err(|err| lease_failure("txn", lease.unwrap_or_default(), err))?;
        if !response.succeeded() {
            return Err(StoreError::AlreadyExists);
        }
        let revision = header_revision(&response)?;
        Ok(KeyValue {
            key,
            value,
            create_revision: revision,
            mod_revision: revision,
            version: 1,
            lease,
        })
    }

    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        check_key(&key)?;
        let full = self.etcd_key(&key);
        let put = PutOptions::new().with_ignore_lease().with_prev_key();
        let txn = Txn::new()
            .when(exists_at(&full, expected))
            .and_then([TxnOp::put(full.clone(), value.to_vec(), Some(put))])
            .or_else([TxnOp::get(full, None)]);
        let response = self.kv().txn(txn).await.map_err(|err| plain("txn", err))?;
        if !response.succeeded() {
            return Err(cas_failure(self.prefix().len(), expected, &response)?);
        }
        let revision = header_revision(&response)?;
        let previous = match response.op_responses().into_iter().next() {
            Some(TxnOpResponse::Put(mut put)) => put.take_prev_key(),
            _ => None,
        }
        .ok_or_else(|| missing("previous value of an update"))?;
        Ok(KeyValue {
            key,
            value,
            create_revision: previous.create_revision(),
            mod_revision: revision,
            version: previous.version() + 1,
            lease: (previous.lease() != 0).then_some(previous.lease()),
        })
    }

    async fn delete(&self, key: &[u8], expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        let full = self.etcd_key(key);
        let delete = DeleteOptions::new().with_prev_key();
        let (revision, previous) = match expected {
            Some(expected) => {
                let txn = Txn::new()
                    .when(exists_at(&full, expected))
                    .and_then([TxnOp::delete(full.clone(), Some(delete))])
                    .or_else([TxnOp::get(full, None)]);
                let response = self.kv().txn(txn).await.map_err(|err| plain("txn", err))?;
                if !response.succeeded() {
                    return Err(cas_failure(self.prefix().len(), expected, &response)?);
                }
                let previous = match response.op_responses().into_iter().next() {
                    Some(TxnOpResponse::Delete(mut delete)) => {
                        delete.take_prev_kvs().into_iter().next()
                    }
                    _ => None,
                }
                .ok_or_else(|| missing("previous value of a delete"))?;
                (header_revision(&response)?, previous)
            }
            None => {
                let mut response = self
                    .kv()
                    .delete(full, Some(delete))
                    .await
                    .map_err(|err| plain("delete", err))?;
                let revision = response
                    .header()
                    .map(etcd_client::ResponseHeader::revision)
                    .ok_or_else(|| missing("delete response header"))?;
                match response.take_prev_kvs().into_iter().next() {
                    Some(previous) => (revision, previous),
                    None => return Err(StoreError::NotFound),
                }
            }
        };
        let mut deleted = self.store_kv(previous);
        deleted.mod_revision = revision;
        Ok(deleted)
    }

    async fn watch(&self, prefix: Bytes, after: Revision) -> Result<WatchStream, StoreError> {
        if after < 0 {
            return Err(StoreError::InvalidRequest(format!(
                "negative revision {after}"
            )));
        }
        // The watch starts *at* `after` (and skips that revision's events), so that etcd's
        // own check refuses it when `after` is below the compaction, as the contract wants;
        // checking with a range first turns that (and a future revision) into an error here
        // rather than in the stream.
        self.check_revision(after.max(1)).await?;
        let key = self.etcd_key(&prefix);
        let range_end = prefix_end(&key);
        let key = if key.is_empty() { vec![0] } else { key };
        let stream = watch::ResumableWatch::start(
            self.inner
                .client
                .watch_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            watch::WatchTarget {
                key,
                range_end,
                prefix_len: self.prefix().len(),
            },
            after,
            self.inner.config.watch_retry_timeout,
        )
        .await?;
        Ok(stream.into_stream())
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let options = GetOptions::new().with_count_only();
        let response = self
            .kv()
            .get(self.probe_key(), Some(options))
            .await
            .map_err(|err| plain("range", err))?;
        response
            .header()
            .map(etcd_client::ResponseHeader::revision)
            .ok_or_else(|| missing("range response header"))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        if revision <= 0 {
            return Ok(());
        }
        let options = CompactionOptions::new().with_physical();
        match self.kv().compact(revision, Some(options)).await {
            Ok(_) => Ok(()),
            Err(err) => match classify("compact", err) {
                // At or below an earlier compaction: nothing to do.
                Failure::Compacted => Ok(()),
                Failure::FutureRevision => Err(StoreError::FutureRevision {
                    requested: revision,
                    current: self.current_revision().await?,
                }),
                Failure::LeaseNotFound => Err(StoreError::Backend {
                    message: "etcd compact: unexpected lease-not-found error".into(),
                    source: None,
                }),
                Failure::Other(err) => Err(err),
            },
        }
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        self.probe_compacted().await
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        // etcd counts whole seconds: round up, so a key never goes before its TTL.
        let mut seconds = ttl.as_secs();
        if ttl.subsec_nanos() > 0 || seconds == 0 {
            seconds += 1;
        }
        let seconds = i64::try_from(seconds)
            .map_err(|_| StoreError::InvalidRequest(format!("lease TTL {ttl:?} is too long")))?;
        let response = self
            .inner
            .client
            .lease_client()
            .grant(seconds, None)
            .await
            .map_err(|err| plain("lease grant", err))?;
        if !response.error().is_empty() {
            return Err(StoreError::Backend {
                message: format!("etcd lease grant: {}", response.error()),
                source: None,
            });
        }
        Ok(response.id())
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
        // etcd-client's keep-alive opens a stream, sends one renewal and waits for its
        // answer (a TTL of 0 means the lease is gone); dropping both ends closes it.
        let renewal = self.inner.client.lease_client().keep_alive(lease).await;
        renewal
            .map(drop)
            .map_err(|err| lease_failure("lease keep-alive", lease, err))
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError> {
        // etcd's own revoke deletes all the lease's keys in one transaction, at one
        // revision; the contract wants each deletion to be a write of its own. So the keys
        // go first, one guarded delete each (a key re-created meanwhile without the lease
        // stays), then the lease (with any key attached in between).
        let mut leases = self.inner.client.lease_client();
        let options = LeaseTimeToLiveOptions::new().with_keys();
        let status = leases
            .time_to_live(lease, Some(options))
            .await
            .map_err(|err| lease_failure("lease time-to-live", lease, err))?;
        if status.ttl() < 0 {
            return Err(StoreError::LeaseNotFound(lease));
        }
        for key in status.keys() {
            let txn = Txn::new()
                .when([Compare::lease(key.clone(), CompareOp::Equal, lease)])
                .and_then([TxnOp::delete(key.clone(), None)]);
            self.kv().txn(txn).await.map_err(|err| plain("txn", err))?;
        }
        leases
            .revoke(lease)
            .await
            .map_err(|err| lease_failure("lease revoke", lease, err))?;
        Ok(())
    }
}

/// Maps an error of a lease operation on `lease`.
fn lease_failure(op: &'static str, lease: LeaseId, err: etcd_client::Error) -> StoreError {
    match classify(op, err) {
        Failure::LeaseNotFound => StoreError::LeaseNotFound(lease),
        Failure::Other(err) => err,
        Failure::Compacted | Failure::FutureRevision => StoreError::Backend {
            message: format!("etcd {op}: unexpected revision error"),
            source: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_first_key_past_the_prefix() {
        assert_eq!(prefix_end(b"/a/"), b"/a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), [0]);
        assert_eq!(prefix_end(b""), [0]);
    }

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<EtcdStore>();
    }
}
