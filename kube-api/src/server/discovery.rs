//! Discovery documents: `/api`, `/apis`, `/apis/{group}` and the resource lists of each
//! group version, built from the kinds table and the self reviews.

use serde_json::{Value, json};

use super::kinds::{KindSpec, Kinds};
use super::review::Review;

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// `/api`: the core group's versions.
pub(crate) fn core_versions(host: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    })
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// Every group served with its versions: the kinds' groups, then the reviews' groups
/// (a review's version is added to its group if the kinds serve that group too).
fn served_groups(kinds: &Kinds) -> Vec<(String, Vec<String>)> {
    let mut groups = kinds.groups();
    for review in Review::ALL {
        let version = Review::VERSION.to_owned();
        match groups.iter_mut().find(|(g, _)| g == review.group()) {
            Some((_, versions)) if !versions.contains(&version) => versions.push(version),
            Some(_) => {}
            None => groups.push((review.group().to_owned(), vec![version])),
        }
    }
    groups
}

/// `/apis`: every named group.
pub(crate) fn groups(kinds: &Kinds) -> Value {
    let groups: Vec<Value> = served_groups(kinds)
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| group_doc(&g, &v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`, if the group is served.
pub(crate) fn group(kinds: &Kinds, name: &str) -> Option<Value> {
    served_groups(kinds)
        .into_iter()
        .find(|(g, _)| g == name)
        .map(|(g, v)| {
            let mut doc = group_doc(&g, &v);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            doc
        })
}

fn resource_entries(k: &KindSpec) -> Vec<Value> {
    let r = &k.resource;
    let mut main = json!({
        "name": r.plural,
        "singularName": r.singular(),
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        main["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        main["categories"] = json!(r.categories);
    }
    let mut out = vec![main];
    let sub = |name: &str, kind: &str, verbs: &[&str]| json!({"name": format!("{}/{name}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs});
    if k.status {
        out.push(sub("status", &r.kind, &["get", "patch", "update"]));
    }
    if k.scale.is_some() {
        let mut s = sub("scale", "Scale", &["get", "patch", "update"]);
        s["group"] = json!("autoscaling");
        s["version"] = json!("v1");
        out.push(s);
    }
    for extra in &k.extra_subresources {
        match extra.as_str() {
            "binding" => out.push(sub("binding", "Binding", &["create"])),
            "eviction" => {
                let mut s = sub("eviction", "Eviction", &["create"]);
                s["group"] = json!("policy");
                s["version"] = json!("v1");
                out.push(s);
            }
            "finalize" => out.push(sub("finalize", &r.kind, &["update"])),
            _ => {}
        }
    }
    out
}

/// `/api/v1` or `/apis/{group}/{version}`, if served.
pub(crate) fn resources(kinds: &Kinds, group: &str, version: &str) -> Option<Value> {
    let list = kinds.of_group_version(group, version);
    let reviews: Vec<Value> = Review::ALL
        .into_iter()
        .filter(|r| r.group() == group && version == Review::VERSION)
        .map(|r| {
            json!({"name": r.resource(), "singularName": r.kind().to_ascii_lowercase(),
                   "namespaced": r.namespaced(), "kind": r.kind(), "verbs": ["create"]})
        })
        .collect();
    if list.is_empty() && reviews.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let mut resources: Vec<Value> = list.iter().flat_map(|k| resource_entries(k)).collect();
    resources.extend(reviews);
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// `/version`.
pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-kube-sdk",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_groups_and_subresources() {
        let kinds = Kinds::default();
        for k in super::super::builtin::kinds() {
            kinds.register(k);
        }
        let g = groups(&kinds);
        let names: Vec<&str> = g["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"apps") && !names.contains(&""));
        let core = resources(&kinds, "", "v1").unwrap();
        let res: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect();
        for want in [
            "pods",
            "pods/status",
            "pods/binding",
            "pods/eviction",
            "namespaces/finalize",
            "nodes",
        ] {
            assert!(res.contains(&want), "{want}");
        }
        let apps = resources(&kinds, "apps", "v1").unwrap();
        let scale = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(scale["group"], "autoscaling");
        assert!(resources(&kinds, "nope", "v1").is_none());
        for (group_name, resource) in [
            ("authorization.k8s.io", "selfsubjectaccessreviews"),
            ("authentication.k8s.io", "selfsubjectreviews"),
        ] {
            assert!(names.contains(&group_name), "{group_name}");
            let list = resources(&kinds, group_name, "v1").unwrap();
            assert_eq!(list["resources"][0]["name"], resource);
            assert_eq!(list["resources"][0]["verbs"], json!(["create"]));
            assert!(group(&kinds, group_name).is_some());
        }
        assert_eq!(
            group(&kinds, "apps").unwrap()["preferredVersion"]["version"],
            "v1"
        );
    }
}
