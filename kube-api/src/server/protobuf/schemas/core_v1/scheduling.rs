//! `core/v1` scheduling constraints of a pod: affinity, tolerations and topology spread.

use super::super::super::schema::{I32, I64, Message, OPT, PTR, REQ, S, f, m, rep};
use super::super::meta_v1::LABEL_SELECTOR;

/// `Affinity`.
pub(crate) static AFFINITY: Message = Message::new(
    "Affinity",
    &[
        f(1, "nodeAffinity", m(&NODE_AFFINITY), PTR),
        f(2, "podAffinity", m(&POD_AFFINITY), PTR),
        f(3, "podAntiAffinity", m(&POD_AFFINITY), PTR),
    ],
);

/// `NodeAffinity`.
static NODE_AFFINITY: Message = Message::new(
    "NodeAffinity",
    &[
        f(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            m(&NODE_SELECTOR),
            PTR,
        ),
        rep(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            m(&PREFERRED_SCHEDULING_TERM),
            OPT,
        ),
    ],
);

/// `NodeSelector`: `nodeSelectorTerms` has no `omitempty`.
static NODE_SELECTOR: Message = Message::new(
    "NodeSelector",
    &[rep(1, "nodeSelectorTerms", m(&NODE_SELECTOR_TERM), REQ)],
);

/// `NodeSelectorTerm`.
static NODE_SELECTOR_TERM: Message = Message::new(
    "NodeSelectorTerm",
    &[
        rep(1, "matchExpressions", m(&NODE_SELECTOR_REQUIREMENT), OPT),
        rep(2, "matchFields", m(&NODE_SELECTOR_REQUIREMENT), OPT),
    ],
);

/// `NodeSelectorRequirement`.
static NODE_SELECTOR_REQUIREMENT: Message = Message::new(
    "NodeSelectorRequirement",
    &[
        f(1, "key", S, REQ),
        f(2, "operator", S, REQ),
        rep(3, "values", S, OPT),
    ],
);

/// `PreferredSchedulingTerm`.
static PREFERRED_SCHEDULING_TERM: Message = Message::new(
    "PreferredSchedulingTerm",
    &[
        f(1, "weight", I32, REQ),
        f(2, "preference", m(&NODE_SELECTOR_TERM), REQ),
    ],
);

/// `PodAffinity` and `PodAntiAffinity`, which have the same fields.
static POD_AFFINITY: Message = Message::new(
    "PodAffinity",
    &[
        rep(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            m(&POD_AFFINITY_TERM),
            OPT,
        ),
        rep(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            m(&WEIGHTED_POD_AFFINITY_TERM),
            OPT,
        ),
    ],
);

/// `PodAffinityTerm`.
static POD_AFFINITY_TERM: Message = Message::new(
    "PodAffinityTerm",
    &[
        f(1, "labelSelector", m(&LABEL_SELECTOR), PTR),
        rep(2, "namespaces", S, OPT),
        f(3, "topologyKey", S, REQ),
        f(4, "namespaceSelector", m(&LABEL_SELECTOR), PTR),
        rep(5, "matchLabelKeys", S, OPT),
        rep(6, "mismatchLabelKeys", S, OPT),
    ],
);

/// `WeightedPodAffinityTerm`.
static WEIGHTED_POD_AFFINITY_TERM: Message = Message::new(
    "WeightedPodAffinityTerm",
    &[
        f(1, "weight", I32, REQ),
        f(2, "podAffinityTerm", m(&POD_AFFINITY_TERM), REQ),
    ],
);

/// `Toleration`.
pub(crate) static TOLERATION: Message = Message::new(
    "Toleration",
    &[
        f(1, "key", S, OPT),
        f(2, "operator", S, OPT),
        f(3, "value", S, OPT),
        f(4, "effect", S, OPT),
        f(5, "tolerationSeconds", I64, PTR),
    ],
);

/// `TopologySpreadConstraint`.
pub(crate) static TOPOLOGY_SPREAD_CONSTRAINT: Message = Message::new(
    "TopologySpreadConstraint",
    &[
        f(1, "maxSkew", I32, REQ),
        f(2, "topologyKey", S, REQ),
        f(3, "whenUnsatisfiable", S, REQ),
        f(4, "labelSelector", m(&LABEL_SELECTOR), PTR),
        f(5, "minDomains", I32, PTR),
        f(6, "nodeAffinityPolicy", S, PTR),
        f(7, "nodeTaintsPolicy", S, PTR),
        rep(8, "matchLabelKeys", S, OPT),
    ],
);
