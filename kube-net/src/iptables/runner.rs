//! [`Iptables`]: the three things the iptables data plane asks of the kernel. The reference
//! implementation runs the iptables 1.8 programs ([`IptablesCommand`]); [`FakeIptables`]
//! is a model of the kernel's tables that checks what a real one would refuse (a rule in a
//! chain that does not exist, a jump to nowhere, deleting a chain still referenced), and
//! applies each table of a restore atomically.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::Family;
use crate::command;
use crate::error::{Error, Result};

/// What the iptables data plane needs from the kernel.
#[async_trait]
pub trait Iptables: Send + Sync + 'static {
    /// Applies `iptables-restore --noflush` input: each table's section atomically.
    async fn restore(&self, input: &str) -> Result<()>;
    /// The names of the chains of `table` (built-in ones included).
    async fn chains(&self, table: &str) -> Result<Vec<String>>;
    /// Puts `rule` first in `chain` of `table`, unless the chain has it already.
    async fn ensure_rule(&self, table: &str, chain: &str, rule: &[&str]) -> Result<()>;
    /// Removes `rule` from `chain` of `table`; a rule that is not there is not an error.
    async fn delete_rule(&self, table: &str, chain: &str, rule: &[&str]) -> Result<()>;
}

/// [`Iptables`] with the iptables programs (`iptables-restore`, `iptables-save`, `iptables`;
/// the `ip6tables` ones for IPv6). They act on the network namespace of the thread that
/// calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IptablesCommand {
    restore: String,
    save: String,
    iptables: String,
}

impl IptablesCommand {
    /// The programs of one address family, found on the `PATH`.
    pub fn new(family: Family) -> Self {
        let prefix = match family {
            Family::Ipv4 => "iptables",
            Family::Ipv6 => "ip6tables",
        };
        Self {
            restore: format!("{prefix}-restore"),
            save: format!("{prefix}-save"),
            iptables: prefix.to_owned(),
        }
    }
}

/// How long to wait for the xtables lock (held by other programs changing rules).
const WAIT_SECONDS: &str = "5";

#[async_trait]
impl Iptables for IptablesCommand {
    async fn restore(&self, input: &str) -> Result<()> {
        command::run(
            &self.restore,
            &["-w", WAIT_SECONDS, "--noflush"],
            Some(input.as_bytes()),
        )
        .await
        .map(drop)
    }

    async fn chains(&self, table: &str) -> Result<Vec<String>> {
        let out = command::run(&self.save, &["-t", table], None).await?;
        Ok(out
            .lines()
            .filter_map(|l| l.strip_prefix(':'))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect())
    }

    async fn ensure_rule(&self, table: &str, chain: &str, rule: &[&str]) -> Result<()> {
        let mut check = vec!["-w", WAIT_SECONDS, "-t", table, "-C", chain];
        check.extend_from_slice(rule);
        if command::run(&self.iptables, &check, None).await.is_ok() {
            return Ok(());
        }
        let mut insert = vec!["-w", WAIT_SECONDS, "-t", table, "-I", chain, "1"];
        insert.extend_from_slice(rule);
        command::run(&self.iptables, &insert, None).await.map(drop)
    }

    async fn delete_rule(&self, table: &str, chain: &str, rule: &[&str]) -> Result<()> {
        let mut check = vec!["-w", WAIT_SECONDS, "-t", table, "-C", chain];
        check.extend_from_slice(rule);
        if command::run(&self.iptables, &check, None).await.is_err() {
            return Ok(());
        }
        let mut delete = vec!["-w", WAIT_SECONDS, "-t", table, "-D", chain];
        delete.extend_from_slice(rule);
        command::run(&self.iptables, &delete, None).await.map(drop)
    }
}

const TARGETS: [&str; 8] = [
    "ACCEPT",
    "DROP",
    "REJECT",
    "RETURN",
    "MARK",
    "DNAT",
    "SNAT",
    "MASQUERADE",
];

fn builtin(table: &str) -> &'static [&'static str] {
    match table {
        "filter" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        _ => &[],
    }
}

type Chains = BTreeMap<String, Vec<String>>;

#[derive(Debug, Default)]
struct Model {
    tables: BTreeMap<String, Chains>,
    restores: Vec<String>,
    fail_next: bool,
}

/// An [`Iptables`] test double: a model of the kernel's tables, strict where the kernel
/// is, recording every restore input.
#[derive(Clone, Default)]
pub struct FakeIptables {
    model: Arc<Mutex<Model>>,
}

impl fmt::Debug for FakeIptables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.model.lock();
        f.debug_struct("FakeIptables")
            .field("tables", &m.tables)
            .field("restores", &m.restores.len())
            .finish()
    }
}

fn fail(message: String) -> Error {
    Error::Rejected { message }
}

fn jump_target(rule: &str) -> Option<&str> {
    let mut words = rule.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-j" {
            return words.next();
        }
    }
    None
}

fn check_jumps(table: &str, chains: &Chains) -> Result<()> {
    for (chain, rules) in chains {
        for rule in rules {
            if let Some(target) = jump_target(rule) {
                if !TARGETS.contains(&target) && !chains.contains_key(target) {
                    return Err(fail(format!(
                        "{table}: {chain} jumps to {target}, which does not exist"
                    )));
                }
            }
        }
    }
    Ok(())
}

impl FakeIptables {
    /// Empty tables (only the built-in chains).
    pub fn new() -> Self {
        Self::default()
    }

    /// Every restore input applied (or refused), in order.
    pub fn restores(&self) -> Vec<String> {
        self.model.lock().restores.clone()
    }

    /// The rules of `chain` in `table`, as written.
    pub fn rules(&self, table: &str, chain: &str) -> Option<Vec<String>> {
        self.model
            .lock()
            .tables
            .get(table)
            .and_then(|t| t.get(chain))
            .cloned()
    }

    /// The chains of `table` that are not built in, sorted.
    pub fn user_chains(&self, table: &str) -> Vec<String> {
        let m = self.model.lock();
        m.tables
            .get(table)
            .map(|t| {
                t.keys()
                    .filter(|c| !builtin(table).contains(&c.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Makes the next restore fail, as a kernel refusing it would.
    pub fn fail_next_restore(&self) {
        self.model.lock().fail_next = true;
    }

    /// Adds a chain with rules, as another program (or an earlier run) would have.
    pub fn add_chain(&self, table: &str, chain: &str, rules: &[&str]) {
        let mut m = self.model.lock();
        let t = Self::table(&mut m, table);
        t.insert(
            chain.to_owned(),
            rules.iter().map(|r| (*r).to_owned()).collect(),
        );
    }

    fn table<'m>(m: &'m mut Model, name: &str) -> &'m mut Chains {
        m.tables.entry(name.to_owned()).or_insert_with(|| {
            builtin(name)
                .iter()
                .map(|c| ((*c).to_owned(), Vec::new()))
                .collect()
        })
    }

    fn apply(m: &mut Model, input: &str) -> Result<()> {
        // Each table commits on its own, as iptables-restore does.
        let mut current: Option<(String, Chains)> = None;
        for (n, line) in input.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |msg: &str| fail(format!("line {}: {msg}: {line}", n + 1));
            if let Some(name) = line.strip_prefix('*') {
                if current.is_some() {
                    return Err(at("table started before COMMIT"));
                }
                current = Some((name.to_owned(), Self::table(m, name).clone()));
                continue;
            }
            if line == "COMMIT" {
                let (name, chains) = current.take().ok_or_else(|| at("COMMIT outside a table"))?;
                check_jumps(&name, &chains)?;
                m.tables.insert(name, chains);
                continue;
            }
            let (name, chains) = current.as_mut().ok_or_else(|| at("rule outside a table"))?;
            if let Some(decl) = line.strip_prefix(':') {
                let chain = decl.split_whitespace().next().unwrap_or_default();
                if !builtin(name).contains(&chain) {
                    chains.insert(chain.to_owned(), Vec::new());
                }
            } else if let Some(rest) = line.strip_prefix("-A ") {
                let (chain, rule) = rest.split_once(' ').ok_or_else(|| at("empty rule"))?;
                chains
                    .get_mut(chain)
                    .ok_or_else(|| at("no such chain"))?
                    .push(rule.to_owned());
            } else if let Some(chain) = line.strip_prefix("-X ") {
                let chain = chain.trim();
                match chains.get(chain) {
                    None => return Err(at("no such chain")),
                    Some(rules) if !rules.is_empty() => return Err(at("chain not empty")),
                    Some(_) => {}
                }
                let referenced = chains
                    .values()
                    .flatten()
                    .any(|r| jump_target(r) == Some(chain));
                if referenced {
                    return Err(at("chain still referenced"));
                }
                chains.remove(chain);
            } else {
                return Err(at("unknown line"));
            }
        }
        if current.is_some() {
            return Err(fail("input ends without COMMIT".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Iptables for FakeIptables {
    async fn restore(&self, input: &str) -> Result<()> {
        let mut m = self.model.lock();
        m.restores.push(input.to_owned());
        if std::mem::take(&mut m.fail_next) {
            return Err(fail("iptables-restore: injected failure".into()));
        }
        // Work on a copy: a failing table leaves the tables as they were.
        let mut copy = Model {
            tables: m.tables.clone(),
            ..Model::default()
        };
        Self::apply(&mut copy, input)?;
        m.tables = copy.tables;
        Ok(())
    }

    async fn chains(&self, table: &str) -> Result<Vec<String>> {
        let mut m = self.model.lock();
        Ok(Self::table(&mut m, table).keys().cloned().collect())
    }

    async fn ensure_rule(&self, table: &str, chain: &str, rule: &[&str]) -> Result<()> {
        let rule = rule.join(" ");
        let mut m = self.model.lock();
        let t = Self::table(&mut m, table);
        if let Some(target) = jump_target(&rule) {
            if !TARGETS.contains(&target) && !t.contains_key(target) {
                return Err(fail(format!("{table}: no chain {target} to jump to")));
            }
        }
        let rules = t
            .get_mut(chain)
            .ok_or_else(|| fail(format!("{table}: no chain {chain}")))?;
        if !rules.contains(&rule) {
            rules.insert(0, rule);
        }
        Ok(())
    }

    async fn delete_rule(&self, table: &str, chain: &str, rule: &[&str]) -> Result<()> {
        let rule = rule.join(" ");
        let mut m = self.model.lock();
        if let Some(rules) = Self::table(&mut m, table).get_mut(chain) {
            rules.retain(|r| *r != rule);
        }
        Ok(())
    }
}
