//! The `nft -f` script that takes the table from what was applied last to what is wanted,
//! in one transaction (nft applies a whole script atomically or not at all).
//!
//! A full script recreates the table (`add table` + `delete table` + everything), which
//! also removes whatever an earlier run left. An incremental script declares new sets and
//! chains, flushes changed and removed chains (dropping their references), updates map
//! elements, writes the rules of changed chains, and deletes removed chains and sets last,
//! once nothing refers to them.

use std::fmt::Write as _;

use super::render::{Chain, Collection, NftRuleset};

fn add_collection(out: &mut String, kind: &str, prefix: &str, name: &str, c: &Collection) {
    let _ = writeln!(out, "add {kind} {prefix} {name} {{ {} }}", c.decl);
}

fn add_chain(out: &mut String, prefix: &str, name: &str, chain: &Chain) {
    match &chain.base {
        Some(spec) => {
            let _ = writeln!(out, "add chain {prefix} {name} {{ {spec} }}");
        }
        None => {
            let _ = writeln!(out, "add chain {prefix} {name}");
        }
    }
}

fn add_rules(out: &mut String, prefix: &str, name: &str, chain: &Chain) {
    for rule in &chain.rules {
        let _ = writeln!(out, "add rule {prefix} {name} {rule}");
    }
}

fn elements<'a>(
    out: &mut String,
    verb: &str,
    prefix: &str,
    map: &str,
    elements: impl Iterator<Item = &'a String>,
) {
    let list: Vec<&str> = elements.map(String::as_str).collect();
    if !list.is_empty() {
        let _ = writeln!(
            out,
            "{verb} element {prefix} {map} {{ {} }}",
            list.join(", ")
        );
    }
}

/// The script recreating the whole table `prefix` (`ip kube-net`).
pub(crate) fn full(prefix: &str, wanted: &NftRuleset) -> String {
    let mut out = String::new();
    // Adding first makes the delete valid whether or not the table exists.
    let _ = writeln!(out, "add table {prefix}");
    let _ = writeln!(out, "delete table {prefix}");
    let _ = writeln!(out, "add table {prefix}");
    for (name, set) in &wanted.sets {
        add_collection(&mut out, "set", prefix, name, set);
    }
    for (name, chain) in &wanted.chains {
        add_chain(&mut out, prefix, name, chain);
    }
    for (name, map) in &wanted.maps {
        add_collection(&mut out, "map", prefix, name, map);
    }
    for (name, chain) in &wanted.chains {
        add_rules(&mut out, prefix, name, chain);
    }
    for (name, map) in &wanted.maps {
        elements(&mut out, "add", prefix, name, map.elements.iter());
    }
    out
}

/// The script from `applied` to `wanted`; `None` when they are equal.
pub(crate) fn incremental(
    prefix: &str,
    applied: &NftRuleset,
    wanted: &NftRuleset,
) -> Option<String> {
    if applied == wanted {
        return None;
    }
    let mut out = String::new();
    // New sets and chains first: rules and elements below may refer to them.
    for (name, set) in &wanted.sets {
        if !applied.sets.contains_key(name) {
            add_collection(&mut out, "set", prefix, name, set);
        }
    }
    for (name, chain) in &wanted.chains {
        if !applied.chains.contains_key(name) {
            add_chain(&mut out, prefix, name, chain);
        }
    }
    // Chains that changed or go away lose their rules (and so their references).
    let changed: Vec<(&String, &Chain)> = wanted
        .chains
        .iter()
        .filter(|(name, chain)| applied.chains.get(*name).is_some_and(|old| old != *chain))
        .collect();
    for (name, _) in &changed {
        let _ = writeln!(out, "flush chain {prefix} {name}");
    }
    let removed: Vec<&String> = applied
        .chains
        .keys()
        .filter(|name| !wanted.chains.contains_key(*name))
        .collect();
    for name in &removed {
        let _ = writeln!(out, "flush chain {prefix} {name}");
    }
    // Map elements: the stale ones out, then the new ones in.
    for (name, map) in &wanted.maps {
        let old = applied.maps.get(name).map(|m| &m.elements);
        if let Some(old) = old {
            elements(
                &mut out,
                "delete",
                prefix,
                name,
                old.iter().filter(|e| !map.elements.contains(*e)),
            );
        }
    }
    for (name, chain) in &wanted.chains {
        let new = !applied.chains.contains_key(name);
        let differs = changed.iter().any(|(n, _)| *n == name);
        if new || differs {
            add_rules(&mut out, prefix, name, chain);
        }
    }
    for (name, map) in &wanted.maps {
        let old = applied.maps.get(name).map(|m| &m.elements);
        elements(
            &mut out,
            "add",
            prefix,
            name,
            map.elements
                .iter()
                .filter(|e| old.is_none_or(|o| !o.contains(*e))),
        );
    }
    // Nothing refers to these any more.
    for name in &removed {
        let _ = writeln!(out, "delete chain {prefix} {name}");
    }
    for name in applied.sets.keys() {
        if !wanted.sets.contains_key(name) {
            let _ = writeln!(out, "delete set {prefix} {name}");
        }
    }
    Some(out)
}
