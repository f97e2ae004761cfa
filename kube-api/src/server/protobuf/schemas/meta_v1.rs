//! `meta/v1`: object metadata, label selectors, conditions and delete options.

use super::super::schema::{B, I64, Message, OMIT_ZERO, OPT, PTR, REQ, S, TIME, f, m, map, rep};

/// `ObjectMeta`.
pub(crate) static OBJECT_META: Message = Message::new(
    "ObjectMeta",
    &[
        f(1, "name", S, OPT),
        f(2, "generateName", S, OPT),
        f(3, "namespace", S, OPT),
        f(4, "selfLink", S, OPT),
        f(5, "uid", S, OPT),
        f(6, "resourceVersion", S, OPT),
        f(7, "generation", I64, OPT),
        f(8, "creationTimestamp", TIME, OMIT_ZERO),
        f(9, "deletionTimestamp", TIME, PTR),
        f(10, "deletionGracePeriodSeconds", I64, PTR),
        map(11, "labels", S, OPT),
        map(12, "annotations", S, OPT),
        rep(13, "ownerReferences", m(&OWNER_REFERENCE), OPT),
        rep(14, "finalizers", S, OPT),
    ],
);

/// `OwnerReference`.
pub(crate) static OWNER_REFERENCE: Message = Message::new(
    "OwnerReference",
    &[
        f(5, "apiVersion", S, REQ),
        f(1, "kind", S, REQ),
        f(3, "name", S, REQ),
        f(4, "uid", S, REQ),
        f(6, "controller", B, PTR),
        f(7, "blockOwnerDeletion", B, PTR),
    ],
);

/// `LabelSelector`.
pub(crate) static LABEL_SELECTOR: Message = Message::new(
    "LabelSelector",
    &[
        map(1, "matchLabels", S, OPT),
        rep(2, "matchExpressions", m(&LABEL_SELECTOR_REQUIREMENT), OPT),
    ],
);

/// `LabelSelectorRequirement`.
pub(crate) static LABEL_SELECTOR_REQUIREMENT: Message = Message::new(
    "LabelSelectorRequirement",
    &[
        f(1, "key", S, REQ),
        f(2, "operator", S, REQ),
        rep(3, "values", S, OPT),
    ],
);

/// `Condition`, the standard condition of `status.conditions`.
pub(crate) static CONDITION: Message = Message::new(
    "Condition",
    &[
        f(1, "type", S, REQ),
        f(2, "status", S, REQ),
        f(3, "observedGeneration", I64, OPT),
        f(4, "lastTransitionTime", TIME, REQ),
        f(5, "reason", S, REQ),
        f(6, "message", S, REQ),
    ],
);

/// `DeleteOptions`, the body of a DELETE and part of an Eviction.
pub(crate) static DELETE_OPTIONS: Message = Message::new(
    "DeleteOptions",
    &[
        f(1, "gracePeriodSeconds", I64, PTR),
        f(2, "preconditions", m(&PRECONDITIONS), PTR),
        f(3, "orphanDependents", B, PTR),
        f(4, "propagationPolicy", S, PTR),
        rep(5, "dryRun", S, OPT),
        f(
            6,
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            B,
            PTR,
        ),
    ],
);

/// `Preconditions` of a delete.
pub(crate) static PRECONDITIONS: Message = Message::new(
    "Preconditions",
    &[f(1, "uid", S, PTR), f(2, "resourceVersion", S, PTR)],
);
