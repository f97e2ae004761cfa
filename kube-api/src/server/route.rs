//! Parsing request paths into routes: discovery, health, and resource paths such as
//! `/apis/apps/v1/namespaces/default/deployments/web/scale`.

use super::review::Review;

/// Where a request path leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/api`: the core group's versions.
    CoreVersions,
    /// `/apis`: every group.
    Groups,
    /// `/apis/{group}`: one group.
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`: the resources of a group version.
    Resources {
        /// The group; empty for core.
        group: String,
        /// The version.
        version: String,
    },
    /// A path under a group version that names a resource.
    Resource(ResourcePath),
    /// A review (`selfsubjectaccessreviews`, `subjectaccessreviews`...), with the
    /// namespace a local one is posted in.
    Review(Review, Option<String>),
    /// `/version`.
    Version,
    /// `/healthz`, `/livez`, `/readyz` and their `/...` checks.
    Health(String),
    /// `/metrics`.
    Metrics,
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3`.
    OpenApiV3Root,
    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/{version}`.
    OpenApiV3 {
        /// The group; empty for core.
        group: String,
        /// The version.
        version: String,
    },
    /// Nothing we serve.
    NotFound,
}

/// A resource path, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResourcePath {
    /// The group; empty for core.
    pub(crate) group: String,
    /// The version.
    pub(crate) version: String,
    /// The resource (plural).
    pub(crate) plural: String,
    /// The namespace in the path, if any.
    pub(crate) namespace: Option<String>,
    /// The object's name, if any.
    pub(crate) name: Option<String>,
    /// The subresource, if any.
    pub(crate) subresource: Option<String>,
    /// True for the legacy `/watch/` prefix.
    pub(crate) legacy_watch: bool,
}

/// Parses a path. `is_plural` tells whether a segment names a resource of a group
/// version, to tell `/api/v1/namespaces/{ns}/pods` from `/api/v1/namespaces/{ns}/status`.
pub(crate) fn parse(path: &str, is_plural: &dyn Fn(&str, &str, &str) -> bool) -> Route {
    let path = path.trim_end_matches('/');
    let segs: Vec<String> = path.split('/').skip(1).map(super::query::decode).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["apis", g, v, r] => {
            if let Some(review) = Review::of_path(g, v, r).filter(|r| !r.namespaced()) {
                return Route::Review(review, None);
            }
        }
        ["apis", g, v, "namespaces", ns, r] => {
            if let Some(review) = Review::of_path(g, v, r).filter(|r| r.namespaced()) {
                return Route::Review(review, Some((*ns).to_owned()));
            }
        }
        _ => {}
    }
    match segs.as_slice() {
        [] | [""] => Route::NotFound,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group((*g).to_owned()),
        ["version"] => Route::Version,
        ["metrics"] => Route::Metrics,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Root,
        ["openapi", "v3", "api", v] => Route::OpenApiV3 {
            group: String::new(),
            version: (*v).to_owned(),
        },
        ["openapi", "v3", "apis", g, v] => Route::OpenApiV3 {
            group: (*g).to_owned(),
            version: (*v).to_owned(),
        },
        [h, ..] if matches!(*h, "healthz" | "livez" | "readyz") => Route::Health(segs.join("/")),
        ["api", v, rest @ ..] => resource(String::new(), v, rest, is_plural),
        ["apis", g, v, rest @ ..] => resource((*g).to_owned(), v, rest, is_plural),
        _ => Route::NotFound,
    }
}

fn resource(
    group: String,
    version: &str,
    rest: &[&str],
    is_plural: &dyn Fn(&str, &str, &str) -> bool,
) -> Route {
    if rest.is_empty() {
        return Route::Resources {
            group,
            version: version.to_owned(),
        };
    }
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] if !tail.is_empty() => (true, tail),
        _ => (false, rest),
    };
    let mut p = ResourcePath {
        group,
        version: version.to_owned(),
        legacy_watch,
        ..ResourcePath::default()
    };
    match rest {
        ["namespaces", ns, plural, tail @ ..] if is_plural(&p.group, &p.version, plural) => {
            p.namespace = Some((*ns).to_owned());
            p.plural = (*plural).to_owned();
            match tail {
                [] => {}
                [name] => p.name = Some((*name).to_owned()),
                [name, sub] => {
                    p.name = Some((*name).to_owned());
                    p.subresource = Some((*sub).to_owned());
                }
                _ => return Route::NotFound,
            }
        }
        [plural] => p.plural = (*plural).to_owned(),
        [plural, name] => {
            p.plural = (*plural).to_owned();
            p.name = Some((*name).to_owned());
        }
        [plural, name, sub] => {
            p.plural = (*plural).to_owned();
            p.name = Some((*name).to_owned());
            p.subresource = Some((*sub).to_owned());
        }
        _ => return Route::NotFound,
    }
    Route::Resource(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(_: &str, _: &str, plural: &str) -> bool {
        matches!(plural, "pods" | "deployments")
    }

    fn res(path: &str) -> ResourcePath {
        match parse(path, &known) {
            Route::Resource(p) => p,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn parses_discovery_and_health() {
        assert_eq!(parse("/api", &known), Route::CoreVersions);
        assert_eq!(parse("/apis/", &known), Route::Groups);
        assert_eq!(parse("/apis/apps", &known), Route::Group("apps".into()));
        assert_eq!(
            parse("/apis/apps/v1", &known),
            Route::Resources {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(
            parse("/readyz/ping", &known),
            Route::Health("readyz/ping".into())
        );
        assert_eq!(parse("/nope", &known), Route::NotFound);
        assert_eq!(
            parse(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                &known
            ),
            Route::Review(Review::Access, None)
        );
        assert_eq!(
            parse(
                "/apis/authorization.k8s.io/v1/namespaces/a/localsubjectaccessreviews",
                &known
            ),
            Route::Review(Review::LocalSubject, Some("a".into()))
        );
    }

    #[test]
    fn parses_resource_paths() {
        let p = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(
            (p.namespace.as_deref(), p.plural.as_str(), p.name.as_deref()),
            (Some("default"), "pods", Some("web"))
        );
        assert_eq!(p.subresource.as_deref(), Some("status"));
        let p = res("/api/v1/namespaces/kube-system");
        assert_eq!(
            (p.plural.as_str(), p.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let p = res("/api/v1/namespaces/gone/finalize");
        assert_eq!(p.subresource.as_deref(), Some("finalize"));
        let p = res("/apis/apps/v1/watch/namespaces/a/deployments");
        assert!(p.legacy_watch && p.name.is_none());
        assert_eq!(res("/api/v1/nodes/n1").name.as_deref(), Some("n1"));
        assert_eq!(res("/api/v1/pods").namespace, None);
    }
}
