//! [`Api`], typed access to one kind in one namespace, all namespaces or the cluster.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use http::{Method, Request};
use kube_core::{ApiResource, Error, ObjectList, Resource, Status};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::params::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Query, WatchParams};
use super::watch::WatchStream;
use super::{Client, decode, error_from_body, read_body};

/// What a delete returns: the object (still there while finalizers or a grace period hold
/// it, or as it was last), or a `Status` for kinds the server answers that way.
#[derive(Clone, Debug, PartialEq)]
// `K` is a whole object, far larger than a Status in practice; the lint sizes it as nothing.
#[allow(clippy::large_enum_variant)]
pub enum Deleted<K> {
    /// The object as the server returned it.
    Object(K),
    /// A `Status` (usually `Success`).
    Status(Status),
}

/// Typed access to one kind `K`, in a namespace, across all namespaces, or cluster-wide.
///
/// ```no_run
/// # async fn demo(client: kube_api::client::Client) -> kube_core::Result<()> {
/// use kube_api::client::{Api, PostParams};
/// use kube_core::{ConfigMap, ObjectMeta};
///
/// let cms: Api<ConfigMap> = Api::namespaced(client, "default");
/// let cm = ConfigMap {
///     metadata: ObjectMeta { name: Some("settings".into()), ..Default::default() },
///     ..Default::default()
/// };
/// let created = cms.create(&PostParams::default(), &cm).await?;
/// let again = cms.get("settings").await?;
/// assert_eq!(created.metadata.uid, again.metadata.uid);
/// # Ok(())
/// # }
/// ```
pub struct Api<K> {
    client: Client,
    resource: ApiResource,
    namespace: Option<String>,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("resource", &self.resource.plural)
            .field("group", &self.resource.group)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl<K: Resource> Api<K>
where
    K::DynamicType: Default,
{
    /// Objects of a namespaced kind in one namespace.
    pub fn namespaced(client: Client, namespace: &str) -> Self {
        Self::namespaced_with(client, namespace, &K::DynamicType::default())
    }

    /// Objects in the client's default namespace.
    pub fn default_namespaced(client: Client) -> Self {
        let ns = client.default_namespace().to_owned();
        Self::namespaced(client, &ns)
    }

    /// Objects of a namespaced kind across all namespaces, or of a cluster-scoped kind.
    pub fn all(client: Client) -> Self {
        Self::all_with(client, &K::DynamicType::default())
    }
}

impl<K: Resource> Api<K> {
    /// Like [`Api::namespaced`], for a kind known at run time.
    pub fn namespaced_with(client: Client, namespace: &str, dt: &K::DynamicType) -> Self {
        let resource = K::api_resource(dt).into_owned();
        let namespace = resource.namespaced.then(|| namespace.to_owned());
        Self {
            client,
            resource,
            namespace,
            _kind: PhantomData,
        }
    }

    /// Like [`Api::all`], for a kind known at run time.
    pub fn all_with(client: Client, dt: &K::DynamicType) -> Self {
        Self {
            client,
            resource: K::api_resource(dt).into_owned(),
            namespace: None,
            _kind: PhantomData,
        }
    }

    /// The kind's group, version, plural and scope.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    /// The namespace, if this handle is bound to one.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn collection_path(&self) -> String {
        self.resource.collection_path(self.namespace.as_deref())
    }

    fn object_path(&self, name: &str, subresource: Option<&str>) -> String {
        let mut path = self
            .resource
            .object_path(self.namespace.as_deref(), &encode_segment(name));
        if let Some(sub) = subresource {
            path.push('/');
            path.push_str(sub);
        }
        path
    }
}

impl<K> Api<K>
where
    K: Resource + Serialize + DeserializeOwned,
{
    /// One object by name.
    pub async fn get(&self, name: &str) -> Result<K, Error> {
        self.get_at(name, None, K::accept(false)).await
    }

    /// One object by name, or `None` when there is none.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>, Error> {
        match self.get(name).await {
            Ok(obj) => Ok(Some(obj)),
            Err(err) if err.code() == 404 => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// A page of objects (all of them when no limit is set).
    pub async fn list(&self, params: &ListParams) -> Result<ObjectList<K>, Error> {
        let mut q = Query::default();
        params.write_query(&mut q);
        let uri = format!("{}{}", self.collection_path(), q.as_str());
        self.client
            .request(build(Method::GET, &uri, None, K::accept(true))?)
            .await
    }

    /// Every object, fetched page by page with `page_size` objects a page, as one list:
    /// its `resourceVersion` is the first page's (the snapshot every page was read from,
    /// the version to watch from), and it has no continue token.
    pub async fn list_all(
        &self,
        params: &ListParams,
        page_size: u32,
    ) -> Result<ObjectList<K>, Error> {
        let mut params = params.clone().limit(page_size);
        let mut all = self.list(&params).await?;
        while let Some(token) = all.metadata.continue_.take().filter(|t| !t.is_empty()) {
            params = params.next_page(&token);
            let page = self.list(&params).await?;
            all.items.extend(page.items);
            all.metadata.continue_ = page.metadata.continue_;
        }
        all.metadata.remaining_item_count = None;
        Ok(all)
    }

    /// Creates an object.
    pub async fn create(&self, params: &PostParams, object: &K) -> Result<K, Error> {
        let mut q = Query::default();
        params.write_query(&mut q);
        let uri = format!("{}{}", self.collection_path(), q.as_str());
        let body = encode(object)?;
        self.client
            .request(build(Method::POST, &uri, Some(body), K::accept(false))?)
            .await
    }

    /// Replaces an object; its resourceVersion, when set, must still be current.
    pub async fn replace(&self, name: &str, params: &PostParams, object: &K) -> Result<K, Error> {
        self.put(name, None, params, object, K::accept(false)).await
    }

    /// Patches an object.
    pub async fn patch<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K, Error> {
        self.patch_sub(name, None, params, patch, K::accept(false))
            .await
    }

    /// Deletes an object.
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<Deleted<K>, Error> {
        let mut q = Query::default();
        params.write_query(&mut q);
        let uri = format!("{}{}", self.object_path(name, None), q.as_str());
        let body = encode(&params.to_body())?;
        let request = build(Method::DELETE, &uri, Some(body), K::accept(false))?;
        let response = self.client.send(request).await?;
        let status = response.status();
        let body = read_body(response.into_body()).await?;
        if !status.is_success() {
            return Err(error_from_body(status, &body));
        }
        let value: serde_json::Value = decode(&body)?;
        if value.get("kind").and_then(serde_json::Value::as_str) == Some("Status") {
            return serde_json::from_value(value)
                .map(Deleted::Status)
                .map_err(|e| Error::internal("cannot decode the response", e));
        }
        serde_json::from_value(value)
            .map(Deleted::Object)
            .map_err(|e| Error::internal("cannot decode the response", e))
    }

    /// Deletes every object the list parameters select; returns what was deleted.
    pub async fn delete_collection(
        &self,
        delete: &DeleteParams,
        list: &ListParams,
    ) -> Result<ObjectList<K>, Error> {
        let mut q = Query::default();
        list.write_query(&mut q);
        delete.write_query(&mut q);
        let uri = format!("{}{}", self.collection_path(), q.as_str());
        let body = encode(&delete.to_body())?;
        self.client
            .request(build(Method::DELETE, &uri, Some(body), K::accept(true))?)
            .await
    }

    /// Watches the objects from a resourceVersion (`"0"` or empty: from any recent state,
    /// the existing objects first as `ADDED`).
    pub async fn watch(
        &self,
        params: &WatchParams,
        resource_version: &str,
    ) -> Result<WatchStream<K>, Error> {
        let mut q = Query::default();
        params.write_query(&mut q, resource_version);
        let uri = format!("{}{}", self.collection_path(), q.as_str());
        let response = self
            .client
            .send(build(Method::GET, &uri, None, K::accept(false))?)
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = read_body(response.into_body()).await?;
            return Err(error_from_body(status, &body));
        }
        Ok(WatchStream::new(response.into_body()))
    }

    /// An object's status subresource.
    pub async fn get_status(&self, name: &str) -> Result<K, Error> {
        self.get_at(name, Some("status"), K::accept(false)).await
    }

    /// Replaces an object's status (spec changes in `object` are ignored by the server).
    pub async fn replace_status(
        &self,
        name: &str,
        params: &PostParams,
        object: &K,
    ) -> Result<K, Error> {
        self.put(name, Some("status"), params, object, K::accept(false))
            .await
    }

    /// Patches an object's status.
    pub async fn patch_status<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K, Error> {
        self.patch_sub(name, Some("status"), params, patch, K::accept(false))
            .await
    }

    /// An object's scale subresource (an `autoscaling/v1` `Scale`).
    pub async fn get_scale<S: DeserializeOwned>(&self, name: &str) -> Result<S, Error> {
        self.get_subresource("scale", name).await
    }

    /// Replaces an object's scale.
    pub async fn replace_scale<S: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        params: &PostParams,
        scale: &S,
    ) -> Result<S, Error> {
        self.put(name, Some("scale"), params, scale, JSON).await
    }

    /// Patches an object's scale.
    pub async fn patch_scale<P: Serialize, S: DeserializeOwned>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<S, Error> {
        self.patch_sub(name, Some("scale"), params, patch, JSON)
            .await
    }

    /// A subresource of an object, decoded as `T`.
    pub async fn get_subresource<T: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
    ) -> Result<T, Error> {
        self.get_at(name, Some(subresource), JSON).await
    }

    /// A GET of an object or one of its subresources, read as `T`.
    async fn get_at<T: DeserializeOwned>(
        &self,
        name: &str,
        subresource: Option<&str>,
        accept: &'static str,
    ) -> Result<T, Error> {
        let uri = self.object_path(name, subresource);
        self.client
            .request(build(Method::GET, &uri, None, accept)?)
            .await
    }

    /// Creates a subresource of an object (`binding`, `eviction`) with `POST`.
    pub async fn create_subresource<B: Serialize, T: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
        params: &PostParams,
        body: &B,
    ) -> Result<T, Error> {
        let mut q = Query::default();
        params.write_query(&mut q);
        let uri = format!(
            "{}{}",
            self.object_path(name, Some(subresource)),
            q.as_str()
        );
        self.client
            .request(build(Method::POST, &uri, Some(encode(body)?), JSON)?)
            .await
    }

    async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        name: &str,
        subresource: Option<&str>,
        params: &PostParams,
        body: &B,
        accept: &'static str,
    ) -> Result<T, Error> {
        let mut q = Query::default();
        params.write_query(&mut q);
        let uri = format!("{}{}", self.object_path(name, subresource), q.as_str());
        self.client
            .request(build(Method::PUT, &uri, Some(encode(body)?), accept)?)
            .await
    }

    async fn patch_sub<P: Serialize, T: DeserializeOwned>(
        &self,
        name: &str,
        subresource: Option<&str>,
        params: &PatchParams,
        patch: &Patch<P>,
        accept: &'static str,
    ) -> Result<T, Error> {
        let mut q = Query::default();
        params.write_query(&mut q);
        let uri = format!("{}{}", self.object_path(name, subresource), q.as_str());
        let body = patch
            .to_body()
            .map_err(|e| Error::BadRequest(format!("cannot encode the patch: {e}")))?;
        let mut request = build(Method::PATCH, &uri, Some(body.into()), accept)?;
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(patch.content_type()),
        );
        self.client.request(request).await
    }
}

impl<K> Api<K>
where
    K: Resource + Serialize + DeserializeOwned,
{
    /// Binds a pod to a node through its `binding` subresource, as a scheduler does.
    ///
    /// Only pods have this subresource: on any other kind this is a 405 without a request.
    pub async fn bind(&self, name: &str, node: &str) -> Result<Status, Error> {
        if !(self.resource.group.is_empty() && self.resource.plural == "pods") {
            return Err(Error::MethodNotAllowed(format!(
                "{} have no binding subresource",
                self.resource.plural
            )));
        }
        let binding = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": self.namespace.as_deref().unwrap_or("default")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        self.create_subresource("binding", name, &PostParams::default(), &binding)
            .await
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Bytes, Error> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::BadRequest(format!("cannot encode the object: {e}")))
}

/// The `Accept` header of requests whose answer is not a `K` (scales, bindings).
const JSON: &str = "application/json";

fn build(
    method: Method,
    uri: &str,
    body: Option<Bytes>,
    accept: &'static str,
) -> Result<Request<Bytes>, Error> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::ACCEPT, accept)
        .body(body.unwrap_or_default())
        .map_err(|e| Error::BadRequest(format!("invalid request to {uri}: {e}")))
}

/// Percent-encodes what may not stand in a path segment.
fn encode_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
