//! Discovery: which resources the API server serves, from `/api/v1` and `/apis`, for the
//! controllers that act on every kind (the garbage collector, the namespace controller).

use std::collections::HashMap;

use bytes::Bytes;
use http::{Method, Request};
use kube_api::client::Client;
use kube_core::ApiResource;
use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Deserialize)]
struct ResourceList {
    #[serde(rename = "groupVersion", default)]
    group_version: String,
    #[serde(default)]
    resources: Vec<ResourceEntry>,
}

#[derive(Deserialize)]
struct ResourceEntry {
    name: String,
    #[serde(default)]
    namespaced: bool,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    verbs: Vec<String>,
}

#[derive(Deserialize)]
struct GroupList {
    #[serde(default)]
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    #[serde(rename = "preferredVersion")]
    preferred: Option<GroupVersion>,
    #[serde(default)]
    versions: Vec<GroupVersion>,
}

#[derive(Clone, Deserialize)]
struct GroupVersion {
    #[serde(rename = "groupVersion")]
    group_version: String,
}

/// A served resource and the verbs it supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Discovered {
    pub(crate) resource: ApiResource,
    pub(crate) verbs: Vec<String>,
}

impl Discovered {
    pub(crate) fn supports(&self, verbs: &[&str]) -> bool {
        verbs.iter().all(|v| self.verbs.iter().any(|x| x == v))
    }
}

async fn get<T: serde::de::DeserializeOwned>(client: &Client, path: &str) -> Result<T> {
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .body(Bytes::new())
        .map_err(|e| Error::Config(format!("bad discovery path {path}: {e}")))?;
    Ok(client.request(request).await?)
}

/// Every resource (not subresource) of the core group and of each group's preferred
/// version.
pub(crate) async fn resources(client: &Client) -> Result<Vec<Discovered>> {
    let mut lists = vec![get::<ResourceList>(client, "/api/v1").await?];
    let groups: GroupList = get(client, "/apis").await?;
    for g in groups.groups {
        let Some(gv) = g.preferred.or_else(|| g.versions.first().cloned()) else {
            continue;
        };
        match get::<ResourceList>(client, &format!("/apis/{}", gv.group_version)).await {
            Ok(list) => lists.push(list),
            // A group going away between the two reads.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    let mut out = Vec::new();
    for list in lists {
        let (group, version) = match list.group_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), list.group_version.clone()),
        };
        for r in list.resources {
            if r.name.contains('/') {
                continue;
            }
            out.push(Discovered {
                resource: ApiResource::new(
                    group.clone(),
                    version.clone(),
                    r.kind,
                    r.name,
                    r.namespaced,
                ),
                verbs: r.verbs,
            });
        }
    }
    Ok(out)
}

/// Resolves owner references' `apiVersion` and `kind` to resources.
#[derive(Clone, Debug, Default)]
pub(crate) struct KindMap {
    by_group_kind: HashMap<(String, String), ApiResource>,
}

impl KindMap {
    pub(crate) fn new(found: &[Discovered]) -> Self {
        let by_group_kind = found
            .iter()
            .map(|d| {
                (
                    (d.resource.group.to_string(), d.resource.kind.to_string()),
                    d.resource.clone(),
                )
            })
            .collect();
        Self { by_group_kind }
    }

    /// The resource of an `apiVersion` (any version of the group) and `kind`.
    pub(crate) fn resolve(&self, api_version: &str, kind: &str) -> Option<ApiResource> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        self.by_group_kind
            .get(&(group.to_owned(), kind.to_owned()))
            .cloned()
    }
}
