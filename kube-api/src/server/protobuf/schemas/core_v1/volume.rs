//! `core/v1` volumes and the volume sources a pod on a current cluster uses: host paths,
//! empty dirs, secrets, config maps, the downward API, projections, NFS, claims, CSI,
//! ephemeral claims and images. The in-tree cloud and storage plugins, removed from
//! Kubernetes, are skipped like any unknown field.

use super::super::super::schema::{
    B, I32, I64, Message, OPT, PTR, PTR_NULL, QTY, REQ, S, f, inline, m, map, rep,
};
use super::super::meta_v1::{LABEL_SELECTOR, OBJECT_META};
use super::LOCAL_OBJECT_REFERENCE;
use super::container::{OBJECT_FIELD_SELECTOR, RESOURCE_FIELD_SELECTOR};

/// `Volume`: a name and its source, inlined.
pub(crate) static VOLUME: Message =
    Message::new("Volume", &[f(1, "name", S, REQ), inline(2, &VOLUME_SOURCE)]);

/// `VolumeSource`.
static VOLUME_SOURCE: Message = Message::new(
    "VolumeSource",
    &[
        f(1, "hostPath", m(&HOST_PATH), PTR),
        f(2, "emptyDir", m(&EMPTY_DIR), PTR),
        f(6, "secret", m(&SECRET), PTR),
        f(7, "nfs", m(&NFS), PTR),
        f(
            10,
            "persistentVolumeClaim",
            m(&PERSISTENT_VOLUME_CLAIM),
            PTR,
        ),
        f(16, "downwardAPI", m(&DOWNWARD_API), PTR),
        f(19, "configMap", m(&CONFIG_MAP), PTR),
        f(26, "projected", m(&PROJECTED), PTR),
        f(28, "csi", m(&CSI), PTR),
        f(29, "ephemeral", m(&EPHEMERAL), PTR),
        f(30, "image", m(&IMAGE), PTR),
    ],
);

/// `HostPathVolumeSource`.
static HOST_PATH: Message = Message::new(
    "HostPathVolumeSource",
    &[f(1, "path", S, REQ), f(2, "type", S, PTR)],
);

/// `EmptyDirVolumeSource`.
static EMPTY_DIR: Message = Message::new(
    "EmptyDirVolumeSource",
    &[f(1, "medium", S, OPT), f(2, "sizeLimit", QTY, PTR)],
);

/// `SecretVolumeSource`.
static SECRET: Message = Message::new(
    "SecretVolumeSource",
    &[
        f(1, "secretName", S, OPT),
        rep(2, "items", m(&KEY_TO_PATH), OPT),
        f(3, "defaultMode", I32, PTR),
        f(4, "optional", B, PTR),
    ],
);

/// `NFSVolumeSource`.
static NFS: Message = Message::new(
    "NFSVolumeSource",
    &[
        f(1, "server", S, REQ),
        f(2, "path", S, REQ),
        f(3, "readOnly", B, OPT),
    ],
);

/// `PersistentVolumeClaimVolumeSource`.
static PERSISTENT_VOLUME_CLAIM: Message = Message::new(
    "PersistentVolumeClaimVolumeSource",
    &[f(1, "claimName", S, REQ), f(2, "readOnly", B, OPT)],
);

/// `DownwardAPIVolumeSource`.
static DOWNWARD_API: Message = Message::new(
    "DownwardAPIVolumeSource",
    &[
        rep(1, "items", m(&DOWNWARD_API_VOLUME_FILE), OPT),
        f(2, "defaultMode", I32, PTR),
    ],
);

/// `DownwardAPIVolumeFile`.
static DOWNWARD_API_VOLUME_FILE: Message = Message::new(
    "DownwardAPIVolumeFile",
    &[
        f(1, "path", S, REQ),
        f(2, "fieldRef", m(&OBJECT_FIELD_SELECTOR), PTR),
        f(3, "resourceFieldRef", m(&RESOURCE_FIELD_SELECTOR), PTR),
        f(4, "mode", I32, PTR),
    ],
);

/// `ConfigMapVolumeSource`.
static CONFIG_MAP: Message = Message::new(
    "ConfigMapVolumeSource",
    &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        rep(2, "items", m(&KEY_TO_PATH), OPT),
        f(3, "defaultMode", I32, PTR),
        f(4, "optional", B, PTR),
    ],
);

/// `KeyToPath`.
static KEY_TO_PATH: Message = Message::new(
    "KeyToPath",
    &[
        f(1, "key", S, REQ),
        f(2, "path", S, REQ),
        f(3, "mode", I32, PTR),
    ],
);

/// `ProjectedVolumeSource`: `sources` has no `omitempty`.
static PROJECTED: Message = Message::new(
    "ProjectedVolumeSource",
    &[
        rep(1, "sources", m(&VOLUME_PROJECTION), REQ),
        f(2, "defaultMode", I32, PTR),
    ],
);

/// `VolumeProjection`.
static VOLUME_PROJECTION: Message = Message::new(
    "VolumeProjection",
    &[
        f(1, "secret", m(&KEY_PROJECTION), PTR),
        f(2, "downwardAPI", m(&DOWNWARD_API_PROJECTION), PTR),
        f(3, "configMap", m(&KEY_PROJECTION), PTR),
        f(
            4,
            "serviceAccountToken",
            m(&SERVICE_ACCOUNT_TOKEN_PROJECTION),
            PTR,
        ),
        f(
            5,
            "clusterTrustBundle",
            m(&CLUSTER_TRUST_BUNDLE_PROJECTION),
            PTR,
        ),
    ],
);

/// `SecretProjection` and `ConfigMapProjection`, which have the same fields.
static KEY_PROJECTION: Message = Message::new(
    "KeyProjection",
    &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        rep(2, "items", m(&KEY_TO_PATH), OPT),
        f(4, "optional", B, PTR),
    ],
);

/// `DownwardAPIProjection`.
static DOWNWARD_API_PROJECTION: Message = Message::new(
    "DownwardAPIProjection",
    &[rep(1, "items", m(&DOWNWARD_API_VOLUME_FILE), OPT)],
);

/// `ServiceAccountTokenProjection`.
static SERVICE_ACCOUNT_TOKEN_PROJECTION: Message = Message::new(
    "ServiceAccountTokenProjection",
    &[
        f(1, "audience", S, OPT),
        f(2, "expirationSeconds", I64, PTR),
        f(3, "path", S, REQ),
    ],
);

/// `ClusterTrustBundleProjection`.
static CLUSTER_TRUST_BUNDLE_PROJECTION: Message = Message::new(
    "ClusterTrustBundleProjection",
    &[
        f(1, "name", S, PTR),
        f(2, "signerName", S, PTR),
        f(3, "labelSelector", m(&LABEL_SELECTOR), PTR),
        f(5, "optional", B, PTR),
        f(4, "path", S, REQ),
    ],
);

/// `CSIVolumeSource`.
static CSI: Message = Message::new(
    "CSIVolumeSource",
    &[
        f(1, "driver", S, REQ),
        f(2, "readOnly", B, PTR),
        f(3, "fsType", S, PTR),
        map(4, "volumeAttributes", S, OPT),
        f(5, "nodePublishSecretRef", m(&LOCAL_OBJECT_REFERENCE), PTR),
    ],
);

/// `EphemeralVolumeSource`.
static EPHEMERAL: Message = Message::new(
    "EphemeralVolumeSource",
    &[f(
        1,
        "volumeClaimTemplate",
        m(&PERSISTENT_VOLUME_CLAIM_TEMPLATE),
        PTR,
    )],
);

/// `PersistentVolumeClaimTemplate`.
static PERSISTENT_VOLUME_CLAIM_TEMPLATE: Message = Message::new(
    "PersistentVolumeClaimTemplate",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&PERSISTENT_VOLUME_CLAIM_SPEC), REQ),
    ],
);

/// `PersistentVolumeClaimSpec`.
static PERSISTENT_VOLUME_CLAIM_SPEC: Message = Message::new(
    "PersistentVolumeClaimSpec",
    &[
        rep(1, "accessModes", S, OPT),
        f(4, "selector", m(&LABEL_SELECTOR), PTR),
        f(2, "resources", m(&VOLUME_RESOURCE_REQUIREMENTS), OPT),
        f(3, "volumeName", S, OPT),
        f(5, "storageClassName", S, PTR),
        f(6, "volumeMode", S, PTR),
        f(7, "dataSource", m(&TYPED_LOCAL_OBJECT_REFERENCE), PTR),
        f(8, "dataSourceRef", m(&TYPED_OBJECT_REFERENCE), PTR),
        f(9, "volumeAttributesClassName", S, PTR),
    ],
);

/// `VolumeResourceRequirements`.
static VOLUME_RESOURCE_REQUIREMENTS: Message = Message::new(
    "VolumeResourceRequirements",
    &[map(1, "limits", QTY, OPT), map(2, "requests", QTY, OPT)],
);

/// `TypedLocalObjectReference`: `apiGroup` is a pointer Go writes as `null` when unset.
static TYPED_LOCAL_OBJECT_REFERENCE: Message = Message::new(
    "TypedLocalObjectReference",
    &[
        f(1, "apiGroup", S, PTR_NULL),
        f(2, "kind", S, REQ),
        f(3, "name", S, REQ),
    ],
);

/// `TypedObjectReference`.
static TYPED_OBJECT_REFERENCE: Message = Message::new(
    "TypedObjectReference",
    &[
        f(1, "apiGroup", S, PTR_NULL),
        f(2, "kind", S, REQ),
        f(3, "name", S, REQ),
        f(4, "namespace", S, PTR),
    ],
);

/// `ImageVolumeSource`.
static IMAGE: Message = Message::new(
    "ImageVolumeSource",
    &[f(1, "reference", S, OPT), f(2, "pullPolicy", S, OPT)],
);
