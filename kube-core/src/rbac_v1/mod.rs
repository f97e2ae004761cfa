//! The `rbac.authorization.k8s.io/v1` API group: `Role`, `ClusterRole`, `RoleBinding`,
//! `ClusterRoleBinding`.

mod role;

pub use role::*;
