//! [`RequestAttributes`]: what a request asks to do, in the terms RBAC rules use, read
//! from its method and path as Kubernetes' `RequestInfoFactory` reads them.

use http::{Method, Request};

use crate::server::UserInfo;

/// Who asks to do what: the verb, and either a resource (group, namespace, resource,
/// subresource, name) or a non-resource path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestAttributes {
    /// The user asking.
    pub user: UserInfo,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// or for non-resource requests the lower-cased HTTP method.
    pub verb: String,
    /// True for requests on API resources, false for other paths (`/healthz`, `/api`).
    pub resource_request: bool,
    /// The request path.
    pub path: String,
    /// The API group (`""` for the core group).
    pub api_group: String,
    /// The API version.
    pub api_version: String,
    /// The namespace, or `""` for cluster-wide requests.
    pub namespace: String,
    /// The resource, plural (`pods`).
    pub resource: String,
    /// The subresource (`status`, `binding`), or `""`.
    pub subresource: String,
    /// The object's name, or `""` when the request names none.
    pub name: String,
}

impl RequestAttributes {
    /// The attributes of a request by `user`.
    pub fn from_request<B>(request: &Request<B>, user: UserInfo) -> Self {
        let path = request.uri().path();
        let mut attrs = Self {
            user,
            verb: request.method().as_str().to_ascii_lowercase(),
            path: path.to_owned(),
            ..Self::default()
        };
        let parts: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        // At least a prefix, a version and a resource (`/api/v1/pods`), or a prefix, a
        // group, a version and a resource.
        if parts.len() < 3 {
            return attrs;
        }
        let mut rest: &[&str] = match parts[0] {
            "api" => &parts[1..],
            "apis" if parts.len() >= 4 => {
                attrs.api_group = parts[1].to_owned();
                &parts[2..]
            }
            _ => return attrs,
        };
        attrs.resource_request = true;
        attrs.api_version = rest[0].to_owned();
        rest = &rest[1..];

        let mut verb = match *request.method() {
            Method::POST => "create",
            Method::GET | Method::HEAD => "get",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "",
        };
        // `/api/v1/watch/...` is the legacy spelling of a watch.
        if rest.first() == Some(&"watch") && rest.len() >= 2 {
            verb = "watch";
            rest = &rest[1..];
        }
        if rest.first() == Some(&"namespaces") {
            if let Some(ns) = rest.get(1) {
                attrs.namespace = (*ns).to_owned();
                // `/namespaces/{ns}/status` and `/finalize` are the namespace's own
                // subresources; otherwise what follows is a resource in the namespace.
                if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                    rest = &rest[2..];
                }
            }
        }
        if let Some(resource) = rest.first() {
            attrs.resource = (*resource).to_owned();
        }
        if let Some(name) = rest.get(1) {
            attrs.name = (*name).to_owned();
        }
        if let Some(sub) = rest.get(2) {
            attrs.subresource = (*sub).to_owned();
        }
        if attrs.name.is_empty() && verb == "get" {
            verb = if watch_requested(request.uri().query()) {
                "watch"
            } else {
                "list"
            };
        }
        if attrs.name.is_empty() && verb == "delete" {
            verb = "deletecollection";
        }
        verb.clone_into(&mut attrs.verb);
        attrs
    }

    /// True for verbs that change state.
    pub fn is_mutating(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection" | "post" | "put"
        )
    }

    /// The Kubernetes wording of a denial: `User "x" cannot list resource "pods" in API
    /// group "" in the namespace "default"`.
    pub fn forbidden_message(&self) -> String {
        if !self.resource_request {
            return format!(
                "User {:?} cannot {} path {:?}",
                self.user.name, self.verb, self.path
            );
        }
        let resource = if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        };
        if self.namespace.is_empty() {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
                self.user.name, self.verb, resource, self.api_group
            )
        } else {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
                self.user.name, self.verb, resource, self.api_group, self.namespace
            )
        }
    }
}

/// True when the query asks for a watch (`watch=true`, `1`, `t`, as Go's `ParseBool`).
fn watch_requested(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            matches!(
                pair.split_once('='),
                Some(("watch", "1" | "t" | "T" | "true" | "TRUE" | "True"))
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, uri: &str) -> RequestAttributes {
        let req = Request::builder().method(method).uri(uri).body(()).unwrap();
        RequestAttributes::from_request(&req, UserInfo::new("x", Vec::<String>::new()))
    }

    /// verb, group, namespace, resource, subresource, name
    fn tuple(a: &RequestAttributes) -> (bool, &str, &str, &str, &str, &str, &str) {
        (
            a.resource_request,
            a.verb.as_str(),
            a.api_group.as_str(),
            a.namespace.as_str(),
            a.resource.as_str(),
            a.subresource.as_str(),
            a.name.as_str(),
        )
    }

    #[test]
    fn paths_parse_as_kubernetes_does() {
        let cases = [
            (
                "GET",
                "/api/v1/namespaces/default/pods",
                (true, "list", "", "default", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/default/pods?watch=true",
                (true, "watch", "", "default", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/watch/namespaces/default/pods",
                (true, "watch", "", "default", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/default/pods/web",
                (true, "get", "", "default", "pods", "", "web"),
            ),
            (
                "POST",
                "/api/v1/namespaces/default/pods",
                (true, "create", "", "default", "pods", "", ""),
            ),
            (
                "POST",
                "/api/v1/namespaces/ns/pods/web/binding",
                (true, "create", "", "ns", "pods", "binding", "web"),
            ),
            (
                "PUT",
                "/apis/apps/v1/namespaces/ns/deployments/d/scale",
                (true, "update", "apps", "ns", "deployments", "scale", "d"),
            ),
            (
                "PATCH",
                "/api/v1/nodes/n1/status",
                (true, "patch", "", "", "nodes", "status", "n1"),
            ),
            (
                "DELETE",
                "/api/v1/namespaces/ns/configmaps",
                (true, "deletecollection", "", "ns", "configmaps", "", ""),
            ),
            (
                "DELETE",
                "/api/v1/namespaces/ns",
                (true, "delete", "", "ns", "namespaces", "", "ns"),
            ),
            (
                "PUT",
                "/api/v1/namespaces/ns/finalize",
                (true, "update", "", "ns", "namespaces", "finalize", "ns"),
            ),
            (
                "GET",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                (
                    true,
                    "list",
                    "rbac.authorization.k8s.io",
                    "",
                    "clusterroles",
                    "",
                    "",
                ),
            ),
            (
                "GET",
                "/api/v1/pods",
                (true, "list", "", "", "pods", "", ""),
            ),
            ("GET", "/api/v1", (false, "get", "", "", "", "", "")),
            ("GET", "/apis/apps/v1", (false, "get", "", "", "", "", "")),
            ("GET", "/healthz", (false, "get", "", "", "", "", "")),
            ("POST", "/version", (false, "post", "", "", "", "", "")),
        ];
        for (method, uri, want) in cases {
            assert_eq!(tuple(&attrs(method, uri)), want, "{method} {uri}");
        }
    }

    #[test]
    fn denials_are_worded_as_kubernetes_words_them() {
        assert_eq!(
            attrs("GET", "/api/v1/namespaces/default/pods").forbidden_message(),
            r#"User "x" cannot list resource "pods" in API group "" in the namespace "default""#
        );
        assert_eq!(
            attrs("PATCH", "/api/v1/nodes/n1/status").forbidden_message(),
            r#"User "x" cannot patch resource "nodes/status" in API group "" at the cluster scope"#
        );
        assert_eq!(
            attrs("GET", "/metrics").forbidden_message(),
            r#"User "x" cannot get path "/metrics""#
        );
    }
}
