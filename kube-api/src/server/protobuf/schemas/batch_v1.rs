//! `batch/v1`: Job.

use super::super::schema::{B, I32, I64, Message, OPT, PTR, REQ, S, TIME, f, m, rep};
use super::core_v1::POD_TEMPLATE_SPEC;
use super::meta_v1::{LABEL_SELECTOR, OBJECT_META};

/// `Job`.
pub(crate) static JOB: Message = Message::new(
    "Job",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&JOB_SPEC), OPT),
        f(3, "status", m(&JOB_STATUS), OPT),
    ],
);

/// `JobSpec`.
static JOB_SPEC: Message = Message::new(
    "JobSpec",
    &[
        f(1, "parallelism", I32, PTR),
        f(2, "completions", I32, PTR),
        f(3, "activeDeadlineSeconds", I64, PTR),
        f(11, "podFailurePolicy", m(&POD_FAILURE_POLICY), PTR),
        f(16, "successPolicy", m(&SUCCESS_POLICY), PTR),
        f(7, "backoffLimit", I32, PTR),
        f(12, "backoffLimitPerIndex", I32, PTR),
        f(13, "maxFailedIndexes", I32, PTR),
        f(4, "selector", m(&LABEL_SELECTOR), PTR),
        f(5, "manualSelector", B, PTR),
        f(6, "template", m(&POD_TEMPLATE_SPEC), REQ),
        f(8, "ttlSecondsAfterFinished", I32, PTR),
        f(9, "completionMode", S, PTR),
        f(10, "suspend", B, PTR),
        f(14, "podReplacementPolicy", S, PTR),
        f(15, "managedBy", S, PTR),
    ],
);

/// `PodFailurePolicy`: `rules` has no `omitempty`.
static POD_FAILURE_POLICY: Message = Message::new(
    "PodFailurePolicy",
    &[rep(1, "rules", m(&POD_FAILURE_POLICY_RULE), REQ)],
);

/// `PodFailurePolicyRule`.
static POD_FAILURE_POLICY_RULE: Message = Message::new(
    "PodFailurePolicyRule",
    &[
        f(1, "action", S, REQ),
        f(2, "onExitCodes", m(&ON_EXIT_CODES), PTR),
        rep(3, "onPodConditions", m(&ON_POD_CONDITIONS), OPT),
    ],
);

/// `PodFailurePolicyOnExitCodesRequirement`.
static ON_EXIT_CODES: Message = Message::new(
    "PodFailurePolicyOnExitCodesRequirement",
    &[
        f(1, "containerName", S, PTR),
        f(2, "operator", S, REQ),
        rep(3, "values", I32, REQ),
    ],
);

/// `PodFailurePolicyOnPodConditionsPattern`.
static ON_POD_CONDITIONS: Message = Message::new(
    "PodFailurePolicyOnPodConditionsPattern",
    &[f(1, "type", S, REQ), f(2, "status", S, REQ)],
);

/// `SuccessPolicy`: `rules` has no `omitempty`.
static SUCCESS_POLICY: Message = Message::new(
    "SuccessPolicy",
    &[rep(1, "rules", m(&SUCCESS_POLICY_RULE), REQ)],
);

/// `SuccessPolicyRule`.
static SUCCESS_POLICY_RULE: Message = Message::new(
    "SuccessPolicyRule",
    &[
        f(1, "succeededIndexes", S, PTR),
        f(2, "succeededCount", I32, PTR),
    ],
);

/// `JobStatus`.
static JOB_STATUS: Message = Message::new(
    "JobStatus",
    &[
        rep(1, "conditions", m(&JOB_CONDITION), OPT),
        f(2, "startTime", TIME, PTR),
        f(3, "completionTime", TIME, PTR),
        f(4, "active", I32, OPT),
        f(5, "succeeded", I32, OPT),
        f(6, "failed", I32, OPT),
        f(11, "terminating", I32, PTR),
        f(7, "completedIndexes", S, OPT),
        f(10, "failedIndexes", S, PTR),
        f(
            8,
            "uncountedTerminatedPods",
            m(&UNCOUNTED_TERMINATED_PODS),
            PTR,
        ),
        f(9, "ready", I32, PTR),
    ],
);

/// `JobCondition`.
static JOB_CONDITION: Message = Message::new(
    "JobCondition",
    &[
        f(1, "type", S, REQ),
        f(2, "status", S, REQ),
        f(3, "lastProbeTime", TIME, OPT),
        f(4, "lastTransitionTime", TIME, OPT),
        f(5, "reason", S, OPT),
        f(6, "message", S, OPT),
    ],
);

/// `UncountedTerminatedPods`.
static UNCOUNTED_TERMINATED_PODS: Message = Message::new(
    "UncountedTerminatedPods",
    &[rep(1, "succeeded", S, OPT), rep(2, "failed", S, OPT)],
);
