//! The reviews: `authorization.k8s.io/v1` SelfSubjectAccessReview (`kubectl auth can-i`),
//! SelfSubjectRulesReview (`kubectl auth can-i --list`), SubjectAccessReview and
//! LocalSubjectAccessReview, and `authentication.k8s.io/v1` SelfSubjectReview (`kubectl
//! auth whoami`) and TokenReview.

use super::super::schema::{B, Message, OPT, PTR, REQ, S, f, m, rep};
use super::meta_v1::OBJECT_META;

/// `authorization.k8s.io/v1 SelfSubjectAccessReview`.
pub(crate) static SELF_SUBJECT_ACCESS_REVIEW: Message = Message::new(
    "SelfSubjectAccessReview",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&SELF_SUBJECT_ACCESS_REVIEW_SPEC), REQ),
        f(3, "status", m(&SUBJECT_ACCESS_REVIEW_STATUS), OPT),
    ],
);

/// `SelfSubjectAccessReviewSpec`: one of the two attribute sets.
static SELF_SUBJECT_ACCESS_REVIEW_SPEC: Message = Message::new(
    "SelfSubjectAccessReviewSpec",
    &[
        f(1, "resourceAttributes", m(&RESOURCE_ATTRIBUTES), PTR),
        f(2, "nonResourceAttributes", m(&NON_RESOURCE_ATTRIBUTES), PTR),
    ],
);

/// `ResourceAttributes` (the field and label selectors, 8 and 9, are not modelled).
static RESOURCE_ATTRIBUTES: Message = Message::new(
    "ResourceAttributes",
    &[
        f(1, "namespace", S, OPT),
        f(2, "verb", S, OPT),
        f(3, "group", S, OPT),
        f(4, "version", S, OPT),
        f(5, "resource", S, OPT),
        f(6, "subresource", S, OPT),
        f(7, "name", S, OPT),
    ],
);

/// `NonResourceAttributes`.
static NON_RESOURCE_ATTRIBUTES: Message = Message::new(
    "NonResourceAttributes",
    &[f(1, "path", S, OPT), f(2, "verb", S, OPT)],
);

/// `SubjectAccessReviewStatus`.
static SUBJECT_ACCESS_REVIEW_STATUS: Message = Message::new(
    "SubjectAccessReviewStatus",
    &[
        f(1, "allowed", B, REQ),
        f(2, "reason", S, OPT),
        f(3, "evaluationError", S, OPT),
        f(4, "denied", B, OPT),
    ],
);

/// `authorization.k8s.io/v1 SubjectAccessReview` and `LocalSubjectAccessReview` (the
/// same message).
pub(crate) static SUBJECT_ACCESS_REVIEW: Message = Message::new(
    "SubjectAccessReview",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&SUBJECT_ACCESS_REVIEW_SPEC), REQ),
        f(3, "status", m(&SUBJECT_ACCESS_REVIEW_STATUS), OPT),
    ],
);

/// `SubjectAccessReviewSpec` (its `extra`, 5, is not modelled).
static SUBJECT_ACCESS_REVIEW_SPEC: Message = Message::new(
    "SubjectAccessReviewSpec",
    &[
        f(1, "resourceAttributes", m(&RESOURCE_ATTRIBUTES), PTR),
        f(2, "nonResourceAttributes", m(&NON_RESOURCE_ATTRIBUTES), PTR),
        f(3, "user", S, OPT),
        rep(4, "groups", S, OPT),
        f(6, "uid", S, OPT),
    ],
);

/// `authorization.k8s.io/v1 SelfSubjectRulesReview` (its status, which only the server
/// writes, is not modelled).
pub(crate) static SELF_SUBJECT_RULES_REVIEW: Message = Message::new(
    "SelfSubjectRulesReview",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&SELF_SUBJECT_RULES_REVIEW_SPEC), REQ),
    ],
);

/// `SelfSubjectRulesReviewSpec`.
static SELF_SUBJECT_RULES_REVIEW_SPEC: Message =
    Message::new("SelfSubjectRulesReviewSpec", &[f(1, "namespace", S, OPT)]);

/// `authentication.k8s.io/v1 TokenReview` (its status, which only the server writes, is
/// not modelled).
pub(crate) static TOKEN_REVIEW: Message = Message::new(
    "TokenReview",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&TOKEN_REVIEW_SPEC), REQ),
    ],
);

/// `TokenReviewSpec`.
static TOKEN_REVIEW_SPEC: Message = Message::new(
    "TokenReviewSpec",
    &[f(1, "token", S, OPT), rep(2, "audiences", S, OPT)],
);

/// `authentication.k8s.io/v1 SelfSubjectReview`.
pub(crate) static SELF_SUBJECT_REVIEW: Message = Message::new(
    "SelfSubjectReview",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "status", m(&SELF_SUBJECT_REVIEW_STATUS), OPT),
    ],
);

/// `SelfSubjectReviewStatus`.
static SELF_SUBJECT_REVIEW_STATUS: Message = Message::new(
    "SelfSubjectReviewStatus",
    &[f(1, "userInfo", m(&USER_INFO), OPT)],
);

/// `authentication.k8s.io/v1 UserInfo` (its `extra`, 4, is not modelled).
static USER_INFO: Message = Message::new(
    "UserInfo",
    &[
        f(1, "username", S, OPT),
        f(2, "uid", S, OPT),
        rep(3, "groups", S, OPT),
    ],
);
