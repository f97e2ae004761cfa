//! How etcd's errors map onto [`StoreError`].
//!
//! etcd reports its domain errors as gRPC statuses whose message is one of a fixed set
//! (`etcdserver: mvcc: required revision has been compacted`, ...); those that the store
//! contract names get their own [`Failure`] so that the caller can fill in the details
//! (which revision was compacted, which lease is missing).

use kube_core::StoreError;
use tonic::Code;

/// An etcd error, sorted by what the store must do with it.
#[derive(Debug)]
pub(super) enum Failure {
    /// The revision asked for has been compacted.
    Compacted,
    /// The revision asked for is newer than the current one.
    FutureRevision,
    /// The lease does not exist.
    LeaseNotFound,
    /// Anything else, already mapped.
    Other(StoreError),
}

/// Whether an error is worth retrying (a broken or refused connection, a timeout).
pub(super) fn is_transient(err: &etcd_client::Error) -> bool {
    match err {
        etcd_client::Error::GRpcStatus(status) => transient_code(status.code()),
        etcd_client::Error::TransportError(_)
        | etcd_client::Error::IoError(_)
        | etcd_client::Error::WatchError(_) => true,
        _ => false,
    }
}

fn transient_code(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Aborted
            | Code::Unknown
            | Code::Internal
            | Code::ResourceExhausted
    )
}

/// Sorts an error of the etcd operation `op`.
pub(super) fn classify(op: &'static str, err: etcd_client::Error) -> Failure {
    if let etcd_client::Error::GRpcStatus(status) = &err {
        let message = status.message();
        if message.contains("required revision has been compacted") {
            return Failure::Compacted;
        }
        if message.contains("required revision is a future revision") {
            return Failure::FutureRevision;
        }
        if message.contains("requested lease not found") {
            return Failure::LeaseNotFound;
        }
        if status.code() == Code::InvalidArgument {
            return Failure::Other(StoreError::InvalidRequest(format!("etcd {op}: {message}")));
        }
        if message.contains("database space exceeded") {
            return Failure::Other(StoreError::backend(
                format!("etcd {op}: the database is full (compact and defragment it)"),
                err,
            ));
        }
    }
    if let etcd_client::Error::LeaseKeepAliveError(message) = &err {
        if message.contains("not found") {
            return Failure::LeaseNotFound;
        }
    }
    if is_transient(&err) {
        Failure::Other(StoreError::unavailable(format!("etcd {op} failed"), err))
    } else {
        Failure::Other(StoreError::backend(format!("etcd {op} failed"), err))
    }
}

/// Maps an error of an operation where the contract's special cases cannot occur (or carry
/// no detail worth a second request).
pub(super) fn plain(op: &'static str, err: etcd_client::Error) -> StoreError {
    match classify(op, err) {
        Failure::Other(err) => err,
        Failure::Compacted => StoreError::Backend {
            message: format!("etcd {op}: unexpected compaction error"),
            source: None,
        },
        Failure::FutureRevision => StoreError::Backend {
            message: format!("etcd {op}: unexpected future-revision error"),
            source: None,
        },
        Failure::LeaseNotFound => StoreError::Backend {
            message: format!("etcd {op}: unexpected lease-not-found error"),
            source: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: Code, message: &str) -> etcd_client::Error {
        etcd_client::Error::GRpcStatus(tonic::Status::new(code, message))
    }

    #[test]
    fn etcd_messages_map_to_contract_errors() {
        assert!(matches!(
            classify(
                "range",
                status(
                    Code::OutOfRange,
                    "etcdserver: mvcc: required revision has been compacted"
                )
            ),
            Failure::Compacted
        ));
        assert!(matches!(
            classify(
                "range",
                status(
                    Code::OutOfRange,
                    "etcdserver: mvcc: required revision is a future revision"
                )
            ),
            Failure::FutureRevision
        ));
        assert!(matches!(
            classify(
                "txn",
                status(Code::NotFound, "etcdserver: requested lease not found")
            ),
            Failure::LeaseNotFound
        ));
        assert!(matches!(
            classify(
                "keep-alive",
                etcd_client::Error::LeaseKeepAliveError("lease not found".into())
            ),
            Failure::LeaseNotFound
        ));
    }

    #[test]
    fn transport_trouble_is_unavailable_and_the_rest_backend() {
        assert!(matches!(
            plain("get", status(Code::Unavailable, "connection refused")),
            StoreError::Unavailable { .. }
        ));
        assert!(matches!(
            plain(
                "get",
                status(Code::PermissionDenied, "etcdserver: permission denied")
            ),
            StoreError::Backend { .. }
        ));
        assert!(matches!(
            plain(
                "put",
                status(Code::InvalidArgument, "etcdserver: key is not provided")
            ),
            StoreError::InvalidRequest(_)
        ));
        assert!(is_transient(&status(Code::Unavailable, "")));
        assert!(!is_transient(&status(Code::PermissionDenied, "")));
    }
}
