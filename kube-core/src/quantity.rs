//! `Quantity`: resource amounts such as `"100m"`, `"1Gi"` and `"129e6"`.
//!
//! PLACEHOLDER until the quantity work lands: keeps the string only.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A resource amount (`resource.Quantity`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Quantity(pub String);

/// Amounts by resource name (`cpu`, `memory`, `pods`, ...).
pub type ResourceList = std::collections::BTreeMap<String, Quantity>;
