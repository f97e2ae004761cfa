//! Parameters of the API calls: list, watch, create, patch and delete options, encoded as
//! the API server expects them (query parameters, and a `DeleteOptions` body).

use std::fmt::Write as _;

use serde::Serialize;

/// Options of a list (`GET` on a collection).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    /// Only objects whose labels match (`app=web,tier!=db`).
    pub label_selector: Option<String>,
    /// Only objects whose fields match (`spec.nodeName=n1`).
    pub field_selector: Option<String>,
    /// At most this many objects in the page; the answer carries a continue token if more.
    pub limit: Option<u32>,
    /// The continue token of the previous page.
    pub continue_token: Option<String>,
    /// Read at (or not older than) this resourceVersion; `"0"` accepts any cached state.
    pub resource_version: Option<String>,
    /// How `resource_version` is matched: `Exact` or `NotOlderThan`.
    pub resource_version_match: Option<String>,
    /// The server gives up after this many seconds.
    pub timeout_seconds: Option<u32>,
}

impl ListParams {
    /// Sets the label selector.
    #[must_use]
    pub fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_owned());
        self
    }

    /// Sets the field selector.
    #[must_use]
    pub fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_owned());
        self
    }

    /// Sets the page size.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets the continue token.
    #[must_use]
    pub fn continue_token(mut self, token: &str) -> Self {
        self.continue_token = Some(token.to_owned());
        self
    }

    /// The parameters of the page after one that returned `token`: the same selectors and
    /// page size, no resourceVersion (the token carries the list's snapshot; the API
    /// server refuses both at once, as Kubernetes does).
    #[must_use]
    pub fn next_page(mut self, token: &str) -> Self {
        self.continue_token = Some(token.to_owned());
        self.resource_version = None;
        self.resource_version_match = None;
        self
    }

    /// Sets the resourceVersion to read at.
    #[must_use]
    pub fn at(mut self, resource_version: &str) -> Self {
        self.resource_version = Some(resource_version.to_owned());
        self
    }

    pub(crate) fn write_query(&self, q: &mut Query) {
        q.opt("labelSelector", self.label_selector.as_deref());
        q.opt("fieldSelector", self.field_selector.as_deref());
        if let Some(limit) = self.limit {
            q.push("limit", &limit.to_string());
        }
        q.opt("continue", self.continue_token.as_deref());
        q.opt("resourceVersion", self.resource_version.as_deref());
        q.opt(
            "resourceVersionMatch",
            self.resource_version_match.as_deref(),
        );
        if let Some(t) = self.timeout_seconds {
            q.push("timeoutSeconds", &t.to_string());
        }
    }
}

/// Options of a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchParams {
    /// Only objects whose labels match.
    pub label_selector: Option<String>,
    /// Only objects whose fields match.
    pub field_selector: Option<String>,
    /// The server ends the watch after this many seconds (it is then resumed).
    pub timeout_seconds: Option<u32>,
    /// Ask for `BOOKMARK` events, which move the resourceVersion on without a change.
    pub bookmarks: bool,
}

impl Default for WatchParams {
    fn default() -> Self {
        Self {
            label_selector: None,
            field_selector: None,
            timeout_seconds: Some(290),
            bookmarks: true,
        }
    }
}

impl WatchParams {
    /// Sets the label selector.
    #[must_use]
    pub fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_owned());
        self
    }

    /// Sets the field selector.
    #[must_use]
    pub fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_owned());
        self
    }

    /// Sets the server-side timeout.
    #[must_use]
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout_seconds = Some(seconds);
        self
    }

    pub(crate) fn write_query(&self, q: &mut Query, resource_version: &str) {
        q.push("watch", "true");
        q.opt("labelSelector", self.label_selector.as_deref());
        q.opt("fieldSelector", self.field_selector.as_deref());
        if let Some(t) = self.timeout_seconds {
            q.push("timeoutSeconds", &t.to_string());
        }
        if self.bookmarks {
            q.push("allowWatchBookmarks", "true");
        }
        if !resource_version.is_empty() {
            q.push("resourceVersion", resource_version);
        }
    }
}

/// Options of a create or replace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostParams {
    /// Validate and admit, but write nothing.
    pub dry_run: bool,
    /// The name of the actor making the change, for managed fields.
    pub field_manager: Option<String>,
}

impl PostParams {
    pub(crate) fn write_query(&self, q: &mut Query) {
        if self.dry_run {
            q.push("dryRun", "All");
        }
        q.opt("fieldManager", self.field_manager.as_deref());
    }
}

/// A patch, in one of the formats the API server accepts.
#[derive(Clone, Debug, PartialEq)]
pub enum Patch<T: Serialize> {
    /// An RFC 6902 JSON patch: a list of operations.
    Json(serde_json::Value),
    /// An RFC 7386 JSON merge patch.
    Merge(T),
    /// A Kubernetes strategic merge patch (lists merged by their keys).
    Strategic(T),
    /// A server-side apply patch.
    Apply(T),
}

impl<T: Serialize> Patch<T> {
    /// The `Content-Type` of this patch format.
    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Json(_) => "application/json-patch+json",
            Self::Merge(_) => "application/merge-patch+json",
            Self::Strategic(_) => "application/strategic-merge-patch+json",
            Self::Apply(_) => "application/apply-patch+yaml",
        }
    }

    /// The patch, encoded as JSON.
    pub fn to_body(&self) -> serde_json::Result<Vec<u8>> {
        match self {
            Self::Json(v) => serde_json::to_vec(v),
            Self::Merge(t) | Self::Strategic(t) | Self::Apply(t) => serde_json::to_vec(t),
        }
    }
}

/// Options of a patch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatchParams {
    /// Validate and admit, but write nothing.
    pub dry_run: bool,
    /// The name of the actor making the change; required by server-side apply.
    pub field_manager: Option<String>,
    /// Server-side apply only: take over fields other managers own.
    pub force: bool,
}

impl PatchParams {
    /// Options for a server-side apply by `manager`.
    pub fn apply(manager: &str) -> Self {
        Self {
            field_manager: Some(manager.to_owned()),
            ..Self::default()
        }
    }

    pub(crate) fn write_query(&self, q: &mut Query) {
        if self.dry_run {
            q.push("dryRun", "All");
        }
        q.opt("fieldManager", self.field_manager.as_deref());
        if self.force {
            q.push("force", "true");
        }
    }
}

/// What happens to the dependents of a deleted object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PropagationPolicy {
    /// Dependents are left alone (their owner reference removed).
    Orphan,
    /// The object goes now; the garbage collector deletes dependents afterwards.
    Background,
    /// The object stays (with a finalizer) until its dependents are gone.
    Foreground,
}

/// Conditions the object must still meet for the delete to happen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    /// The object's uid must be this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The object's resourceVersion must be this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// Options of a delete, sent as a `DeleteOptions` body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteParams {
    /// Validate, but delete nothing.
    pub dry_run: bool,
    /// Seconds of graceful termination; 0 deletes at once.
    pub grace_period_seconds: Option<u32>,
    /// What happens to dependents.
    pub propagation_policy: Option<PropagationPolicy>,
    /// Conditions the object must still meet.
    pub preconditions: Option<Preconditions>,
}

impl DeleteParams {
    /// Delete at once, without a grace period.
    pub fn immediate() -> Self {
        Self {
            grace_period_seconds: Some(0),
            ..Self::default()
        }
    }

    /// Delete in the background (dependents collected afterwards).
    pub fn background() -> Self {
        Self {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Self::default()
        }
    }

    /// Delete in the foreground (the object goes after its dependents).
    pub fn foreground() -> Self {
        Self {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..Self::default()
        }
    }

    /// Leave the dependents alone.
    pub fn orphan() -> Self {
        Self {
            propagation_policy: Some(PropagationPolicy::Orphan),
            ..Self::default()
        }
    }

    pub(crate) fn write_query(&self, q: &mut Query) {
        if self.dry_run {
            q.push("dryRun", "All");
        }
        if let Some(g) = self.grace_period_seconds {
            q.push("gracePeriodSeconds", &g.to_string());
        }
        if let Some(p) = self.propagation_policy {
            q.push(
                "propagationPolicy",
                match p {
                    PropagationPolicy::Orphan => "Orphan",
                    PropagationPolicy::Background => "Background",
                    PropagationPolicy::Foreground => "Foreground",
                },
            );
        }
    }

    /// The `DeleteOptions` body.
    pub fn to_body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({"apiVersion": "v1", "kind": "DeleteOptions"});
        if self.dry_run {
            body["dryRun"] = serde_json::json!(["All"]);
        }
        if let Some(g) = self.grace_period_seconds {
            body["gracePeriodSeconds"] = g.into();
        }
        if let Some(p) = self.propagation_policy {
            body["propagationPolicy"] = serde_json::to_value(p).unwrap_or_default();
        }
        if let Some(pre) = &self.preconditions {
            body["preconditions"] = serde_json::to_value(pre).unwrap_or_default();
        }
        body
    }
}

/// A URL query string under construction, percent-encoding values.
#[derive(Debug, Default)]
pub(crate) struct Query(String);

impl Query {
    pub(crate) fn push(&mut self, key: &str, value: &str) {
        self.0.push(if self.0.is_empty() { '?' } else { '&' });
        self.0.push_str(key);
        self.0.push('=');
        encode_into(&mut self.0, value);
    }

    pub(crate) fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.push(key, v);
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode_into(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_params_encode_as_query() {
        let lp = ListParams::default()
            .labels("app=web,tier!=db")
            .fields("spec.nodeName=n1")
            .limit(5)
            .continue_token("abc=");
        let mut q = Query::default();
        lp.write_query(&mut q);
        assert_eq!(
            q.as_str(),
            "?labelSelector=app%3Dweb%2Ctier%21%3Ddb&fieldSelector=spec.nodeName%3Dn1&limit=5&continue=abc%3D"
        );
    }

    #[test]
    fn watch_params_ask_for_bookmarks() {
        let mut q = Query::default();
        WatchParams::default().write_query(&mut q, "42");
        assert_eq!(
            q.as_str(),
            "?watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=42"
        );
    }

    #[test]
    fn delete_options_body_matches_kubernetes() {
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions {
                uid: Some("u1".into()),
                resource_version: None,
            }),
            dry_run: true,
        };
        assert_eq!(
            dp.to_body(),
            serde_json::json!({
                "apiVersion": "v1", "kind": "DeleteOptions", "dryRun": ["All"],
                "gracePeriodSeconds": 0, "propagationPolicy": "Foreground",
                "preconditions": {"uid": "u1"}
            })
        );
    }

    #[test]
    fn patch_content_types() {
        let v = serde_json::json!({"a": 1});
        assert_eq!(
            Patch::Merge(&v).content_type(),
            "application/merge-patch+json"
        );
        assert_eq!(
            Patch::Strategic(&v).content_type(),
            "application/strategic-merge-patch+json"
        );
        assert_eq!(
            Patch::<()>::Json(serde_json::json!([])).content_type(),
            "application/json-patch+json"
        );
    }
}
