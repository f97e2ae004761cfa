//! The table of kinds the server serves: each kind's [`ApiResource`], subresources,
//! defaulting and validation, table columns, field selectors and strategic-merge keys.
//!
//! Built-in kinds are registered when the server is built; custom resources are added at
//! run time (a CustomResourceDefinition created through the API registers its kind).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use kube_core::{ApiResource, StatusCause};
use parking_lot::RwLock;
use serde_json::Value;

/// Fills defaults into an object before it is validated and stored.
pub type Defaulter = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// Validates an object (with the old one on update); returns one cause per invalid field.
pub type Validator = Arc<dyn Fn(&Value, Option<&Value>) -> Vec<StatusCause> + Send + Sync>;

/// Computes one table cell from an object.
pub type CellFn = fn(&Value) -> Value;

/// Where the `scale` subresource reads and writes replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    /// The desired replicas (`.spec.replicas`).
    pub spec_replicas: String,
    /// The observed replicas (`.status.replicas`).
    pub status_replicas: String,
    /// The label selector (`.spec.selector`), if any.
    pub label_selector: Option<String>,
}

impl Default for ScalePaths {
    fn default() -> Self {
        Self {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".spec.selector".into()),
        }
    }
}

/// How a table cell is computed.
#[derive(Clone)]
pub enum CellSource {
    /// A JSON path such as `.spec.replicas` (dots only; a missing field is an empty cell).
    Path(String),
    /// The object's age, from `metadata.creationTimestamp`.
    Age,
    /// A function of the object.
    Func(CellFn),
}

impl fmt::Debug for CellSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(p) => write!(f, "Path({p})"),
            Self::Age => f.write_str("Age"),
            Self::Func(_) => f.write_str("Func"),
        }
    }
}

/// One column of the table output.
#[derive(Clone, Debug)]
pub struct Column {
    /// The header (`"Ready"`).
    pub name: String,
    /// The OpenAPI type of the cells: `string`, `integer`, `number`, `boolean`, `date`.
    pub type_: String,
    /// The format (`name` for the name column).
    pub format: String,
    /// What the column shows.
    pub description: String,
    /// 0 shows by default; higher only with `-o wide`.
    pub priority: i32,
    /// How each cell is computed.
    pub source: CellSource,
}

impl Column {
    /// A column with type `string` and priority 0.
    pub fn new(name: impl Into<String>, source: CellSource) -> Self {
        Self {
            name: name.into(),
            type_: "string".into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            source,
        }
    }

    /// Sets the type.
    #[must_use]
    pub fn typed(mut self, type_: &str) -> Self {
        self.type_ = type_.into();
        self
    }

    /// Sets the priority (1 shows only with `-o wide`).
    #[must_use]
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// The AGE column.
    pub fn age() -> Self {
        Self::new("Age", CellSource::Age)
    }
}

/// How a list field merges in a strategic merge patch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeStrategy {
    /// A list of objects merged by the value of this key.
    Key(String),
    /// A list of primitives merged as a set (`finalizers`).
    Primitives,
}

/// Everything the server knows about one kind.
#[derive(Clone)]
pub struct KindSpec {
    /// Group, version, kind, plural, scope, short names and categories.
    pub resource: ApiResource,
    /// True when the kind has a `status` subresource (spec and status updated apart).
    pub status: bool,
    /// The `scale` subresource, if any.
    pub scale: Option<ScalePaths>,
    /// Other subresources served (`binding`, `eviction`, ...).
    pub extra_subresources: Vec<String>,
    /// The table columns after NAME; empty gives NAME and AGE.
    pub columns: Vec<Column>,
    /// Field selectors allowed besides `metadata.name` and `metadata.namespace`.
    pub field_selectors: Vec<String>,
    /// Strategic-merge rules: a field path (dotted, list items transparent) matched as a
    /// suffix, and how that list merges.
    pub merge_keys: Vec<(String, MergeStrategy)>,
    /// An OpenAPI v3 schema of the kind, if known (custom resources).
    pub schema: Option<Value>,
    /// Defaulting, run on create and update.
    pub defaulter: Option<Defaulter>,
    /// Defaulting of a status write or a binding, whose other fields are the stored
    /// object's (defaulted when they were written); `None` runs [`Self::defaulter`].
    pub status_defaulter: Option<Defaulter>,
    /// Validation, run on create and update.
    pub validator: Option<Validator>,
    /// Deleting sets a deletionTimestamp and a grace period first (pods).
    pub graceful_deletion: bool,
    /// False for kinds whose writes bump no generation (no spec).
    pub tracks_generation: bool,
}

impl fmt::Debug for KindSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KindSpec")
            .field("resource", &self.resource)
            .field("status", &self.status)
            .field("scale", &self.scale)
            .finish_non_exhaustive()
    }
}

impl KindSpec {
    /// Whether this kind is served in this group version.
    fn is(&self, group: &str, version: &str) -> bool {
        self.resource.group == group && self.resource.version == version
    }

    /// A kind with no subresources, default columns and no hooks.
    pub fn new(resource: ApiResource) -> Self {
        Self {
            resource,
            status: false,
            scale: None,
            extra_subresources: Vec::new(),
            columns: Vec::new(),
            field_selectors: Vec::new(),
            merge_keys: Vec::new(),
            schema: None,
            defaulter: None,
            status_defaulter: None,
            validator: None,
            graceful_deletion: false,
            tracks_generation: false,
        }
    }

    /// Adds the `status` subresource; spec changes then bump `metadata.generation`.
    #[must_use]
    pub fn with_status(mut self) -> Self {
        self.status = true;
        self.tracks_generation = true;
        self
    }

    /// Adds the `scale` subresource.
    #[must_use]
    pub fn with_scale(mut self, paths: ScalePaths) -> Self {
        self.scale = Some(paths);
        self
    }

    /// Sets the table columns (after NAME).
    #[must_use]
    pub fn with_columns(mut self, columns: Vec<Column>) -> Self {
        self.columns = columns;
        self
    }

    /// Allows field selectors on these paths.
    #[must_use]
    pub fn with_field_selectors(mut self, fields: &[&str]) -> Self {
        self.field_selectors = fields.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Sets a defaulter.
    #[must_use]
    pub fn with_defaulter(mut self, f: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.defaulter = Some(Arc::new(f));
        self
    }

    /// Sets the defaulter of status writes and bindings (see
    /// [`KindSpec::status_defaulter`]).
    #[must_use]
    pub fn with_status_defaulter(mut self, f: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.status_defaulter = Some(Arc::new(f));
        self
    }

    /// Sets a validator.
    #[must_use]
    pub fn with_validator(
        mut self,
        f: impl Fn(&Value, Option<&Value>) -> Vec<StatusCause> + Send + Sync + 'static,
    ) -> Self {
        self.validator = Some(Arc::new(f));
        self
    }

    /// The qualified resource name (`deployments.apps`, `pods`).
    pub fn qualified(&self) -> String {
        if self.resource.group.is_empty() {
            self.resource.plural.to_string()
        } else {
            format!("{}.{}", self.resource.plural, self.resource.group)
        }
    }

    /// The store key prefix of the kind: `/registry/{group}/{plural}/` or, for the core
    /// group, `/registry/{plural}/`.
    pub fn key_prefix(&self) -> String {
        if self.resource.group.is_empty() {
            format!("/registry/{}/", self.resource.plural)
        } else {
            format!(
                "/registry/{}/{}/",
                self.resource.group, self.resource.plural
            )
        }
    }

    /// The store key prefix of a namespace's objects (or of every object when `None`).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.resource.namespaced => format!("{}{ns}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.namespace_prefix(namespace))
    }

    /// The merge strategy of the list at `path` (dotted field names), if one is set.
    pub fn merge_strategy(&self, path: &str) -> Option<&MergeStrategy> {
        self.merge_keys
            .iter()
            .filter(|(suffix, _)| path == suffix || path.ends_with(&format!(".{suffix}")))
            .max_by_key(|(suffix, _)| suffix.len())
            .map(|(_, s)| s)
    }
}

/// The kinds a server serves, shared by the server and the CRD registrar.
#[derive(Debug, Default)]
pub struct Kinds {
    inner: RwLock<Registered>,
    order: RwLock<Vec<String>>,
}

/// The registered kinds, ordered for listing and by plural for lookups.
#[derive(Debug, Default)]
struct Registered {
    /// By (group, version, plural): the order discovery lists them in.
    ordered: BTreeMap<(String, String, String), Arc<KindSpec>>,
    /// By plural, the kinds of that name in every group version: what a request's
    /// lookup reads (a hash of its plural and a scan of a few entries, where the ordered
    /// map compared three strings at each of its levels and needed three owned ones).
    by_plural: HashMap<String, Vec<Arc<KindSpec>>>,
}

impl Registered {
    fn insert(&mut self, spec: Arc<KindSpec>) {
        self.remove(
            &spec.resource.group,
            &spec.resource.version,
            &spec.resource.plural,
        );
        let key = (
            spec.resource.group.to_string(),
            spec.resource.version.to_string(),
            spec.resource.plural.to_string(),
        );
        self.by_plural
            .entry(key.2.clone())
            .or_default()
            .push(spec.clone());
        self.ordered.insert(key, spec);
    }

    fn remove(&mut self, group: &str, version: &str, plural: &str) {
        self.ordered
            .remove(&(group.to_owned(), version.to_owned(), plural.to_owned()));
        if let Some(specs) = self.by_plural.get_mut(plural) {
            specs.retain(|k| !k.is(group, version));
            if specs.is_empty() {
                self.by_plural.remove(plural);
            }
        }
    }

    fn get(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<KindSpec>> {
        self.by_plural
            .get(plural)?
            .iter()
            .find(|k| k.is(group, version))
    }
}

impl Kinds {
    /// Adds (or replaces) a kind.
    pub fn register(&self, spec: KindSpec) {
        let group = spec.resource.group.to_string();
        {
            let mut order = self.order.write();
            if !order.contains(&group) {
                order.push(group);
            }
        }
        self.inner.write().insert(Arc::new(spec));
    }

    /// Removes a kind.
    pub fn unregister(&self, group: &str, version: &str, plural: &str) {
        self.inner.write().remove(group, version, plural);
    }

    /// A kind by group, version and plural.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<KindSpec>> {
        self.inner.read().get(group, version, plural).cloned()
    }

    /// A kind by group and kind name (any version).
    pub fn by_kind(&self, group: &str, kind: &str) -> Option<Arc<KindSpec>> {
        self.inner
            .read()
            .ordered
            .values()
            .find(|k| k.resource.group == group && k.resource.kind == kind)
            .cloned()
    }

    /// True when the group version serves this plural.
    pub fn has_plural(&self, group: &str, version: &str, plural: &str) -> bool {
        self.get(group, version, plural).is_some()
    }

    /// Every kind of a group version.
    pub fn of_group_version(&self, group: &str, version: &str) -> Vec<Arc<KindSpec>> {
        self.inner
            .read()
            .ordered
            .values()
            .filter(|k| k.is(group, version))
            .cloned()
            .collect()
    }

    /// Every group (core first) with its versions, in registration order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let inner = self.inner.read();
        let order = self.order.read();
        order
            .iter()
            .filter_map(|g| {
                let mut versions: Vec<String> = inner
                    .ordered
                    .values()
                    .filter(|k| k.resource.group == *g)
                    .map(|k| k.resource.version.to_string())
                    .collect();
                versions.dedup();
                (!versions.is_empty()).then(|| (g.clone(), versions))
            })
            .collect()
    }

    /// Every kind.
    pub fn all(&self) -> Vec<Arc<KindSpec>> {
        self.inner.read().ordered.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_kubernetes_layout() {
        let pods = KindSpec::new(ApiResource::new("", "v1", "Pod", "pods", true));
        assert_eq!(
            pods.key(Some("default"), "web"),
            "/registry/pods/default/web"
        );
        assert_eq!(pods.namespace_prefix(None), "/registry/pods/");
        let deploy = KindSpec::new(ApiResource::new(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            true,
        ));
        assert_eq!(deploy.key(Some("a"), "b"), "/registry/apps/deployments/a/b");
        assert_eq!(deploy.qualified(), "deployments.apps");
        let nodes = KindSpec::new(ApiResource::new("", "v1", "Node", "nodes", false));
        assert_eq!(nodes.key(Some("ignored"), "n1"), "/registry/nodes/n1");
    }

    #[test]
    fn merge_keys_match_the_longest_suffix() {
        let mut k = KindSpec::new(ApiResource::new("", "v1", "Pod", "pods", true));
        k.merge_keys = vec![
            ("spec.containers".into(), MergeStrategy::Key("name".into())),
            (
                "containers.ports".into(),
                MergeStrategy::Key("containerPort".into()),
            ),
        ];
        assert_eq!(
            k.merge_strategy("spec.template.spec.containers"),
            Some(&MergeStrategy::Key("name".into()))
        );
        assert_eq!(
            k.merge_strategy("spec.containers.ports"),
            Some(&MergeStrategy::Key("containerPort".into()))
        );
        assert_eq!(k.merge_strategy("spec.volumes"), None);
        let kinds = Kinds::default();
        kinds.register(k);
        assert!(kinds.has_plural("", "v1", "pods"));
        assert_eq!(kinds.groups(), vec![(String::new(), vec!["v1".to_owned()])]);
    }

    #[test]
    fn a_plural_is_found_in_its_own_group_version_only() {
        let kinds = Kinds::default();
        let spec = |group: &str, version: &str, kind: &str| {
            KindSpec::new(ApiResource::new(group, version, kind, "events", true))
        };
        kinds.register(spec("", "v1", "Event"));
        kinds.register(spec("events.k8s.io", "v1", "Event"));
        kinds.register(spec("events.k8s.io", "v1beta1", "Event"));
        // Registered again: replaced, not added twice.
        kinds.register(spec("events.k8s.io", "v1", "Event"));
        assert_eq!(kinds.all().len(), 3);
        for (group, version) in [
            ("", "v1"),
            ("events.k8s.io", "v1"),
            ("events.k8s.io", "v1beta1"),
        ] {
            let found = kinds.get(group, version, "events").expect("registered");
            assert_eq!(
                (&*found.resource.group, &*found.resource.version),
                (group, version)
            );
        }
        assert!(kinds.get("", "v1beta1", "events").is_none());
        assert!(kinds.get("", "v1", "event").is_none());

        kinds.unregister("events.k8s.io", "v1", "events");
        assert!(kinds.get("events.k8s.io", "v1", "events").is_none());
        assert!(kinds.get("events.k8s.io", "v1beta1", "events").is_some());
        assert!(kinds.get("", "v1", "events").is_some());
        assert_eq!(kinds.all().len(), 2);
    }
}
