//! The `iptables-restore --noflush` input that takes the kernel from the rules last
//! applied to the rules wanted, touching only what differs.
//!
//! Under `--noflush`, declaring a chain (`:CHAIN - [0:0]`) creates or flushes it and
//! leaves every other chain alone. So a chain whose rules changed is declared and
//! rewritten; a chain that is no longer wanted is declared (emptied, dropping its jumps)
//! and deleted with `-X`; an unchanged chain is not mentioned at all. Every chain that
//! jumped to a deleted chain lost that rule, so it changed and is rewritten in the same
//! transaction: each table's section commits atomically, with no dangling jump at any
//! point.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::render::{RuleTable, Ruleset};

/// The restore input from `applied` (`None`: unknown, rewrite everything) to `wanted`,
/// also deleting `stale` chains (found in the kernel, not wanted). `None` when there is
/// nothing to do.
pub(crate) fn restore_input(
    applied: Option<&Ruleset>,
    wanted: &Ruleset,
    stale: &[(&str, String)],
) -> Option<String> {
    let mut out = String::new();
    for (name, table) in wanted.tables() {
        let before = applied.map(|a| match name {
            "filter" => &a.filter,
            _ => &a.nat,
        });
        let stale_here = stale
            .iter()
            .filter(|(t, _)| *t == name)
            .map(|(_, c)| c.as_str());
        write_table(&mut out, name, before, table, stale_here);
    }
    (!out.is_empty()).then_some(out)
}

fn write_table<'a>(
    out: &mut String,
    name: &str,
    before: Option<&'a RuleTable>,
    wanted: &'a RuleTable,
    stale: impl Iterator<Item = &'a str>,
) {
    let changed: Vec<(&str, &[String])> = wanted
        .chains()
        .filter(|(chain, rules)| before.and_then(|b| b.rules(chain)) != Some(*rules))
        .collect();
    let mut deleted: BTreeSet<&str> = before
        .map(|b| {
            b.chains()
                .map(|(c, _)| c)
                .filter(|c| !wanted.has_chain(c))
                .collect()
        })
        .unwrap_or_default();
    deleted.extend(stale.filter(|c| !wanted.has_chain(c)));
    if changed.is_empty() && deleted.is_empty() {
        return;
    }
    let _ = writeln!(out, "*{name}");
    for (chain, _) in &changed {
        let _ = writeln!(out, ":{chain} - [0:0]");
    }
    for chain in &deleted {
        let _ = writeln!(out, ":{chain} - [0:0]");
    }
    for (chain, rules) in &changed {
        for rule in *rules {
            let _ = writeln!(out, "-A {chain} {rule}");
        }
    }
    for chain in &deleted {
        let _ = writeln!(out, "-X {chain}");
    }
    out.push_str("COMMIT\n");
}
