//! `coordination.k8s.io/v1`: Lease.

use super::super::schema::{I32, MICRO, Message, OPT, PTR, S, f, m};
use super::meta_v1::OBJECT_META;

/// `Lease`.
pub(crate) static LEASE: Message = Message::new(
    "Lease",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&LEASE_SPEC), OPT),
    ],
);

/// `LeaseSpec`: every field is a pointer.
static LEASE_SPEC: Message = Message::new(
    "LeaseSpec",
    &[
        f(1, "holderIdentity", S, PTR),
        f(2, "leaseDurationSeconds", I32, PTR),
        f(3, "acquireTime", MICRO, PTR),
        f(4, "renewTime", MICRO, PTR),
        f(5, "leaseTransitions", I32, PTR),
        f(6, "strategy", S, PTR),
        f(7, "preferredHolder", S, PTR),
    ],
);
