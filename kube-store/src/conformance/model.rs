//! Model-based check: random operation sequences against the backend and against a
//! plain reference model must give the same results.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::Bytes;
use kube_core::{KeyValue, RangeRequest, RangeResponse, Revision, Store, StoreError};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use super::{Options, StoreFactory};

const KEYS: usize = 4;
const PREFIX: &str = "/registry/model/";
/// How many shrinking steps a failure gets before it is reported.
const MAX_SHRINK_STEPS: u32 = 300;

fn key(i: usize) -> Bytes {
    Bytes::from(format!("{PREFIX}k{i}"))
}

/// The revision a guarded write expects.
#[derive(Clone, Debug)]
enum Expect {
    /// The key's current `mod_revision` (the latest revision when it does not exist).
    Current,
    /// One below the current `mod_revision`.
    Stale,
    /// Any small number.
    Arbitrary(u8),
}

/// Where a range starts.
#[derive(Clone, Debug)]
enum Start {
    Prefix,
    At(usize),
    After(usize),
}

/// One operation of a sequence.
#[derive(Clone, Debug)]
enum Op {
    Create {
        key: usize,
        value: u8,
    },
    Update {
        key: usize,
        value: u8,
        expected: Expect,
    },
    Delete {
        key: usize,
        expected: Option<Expect>,
    },
    Get {
        key: usize,
    },
    Range {
        start: Start,
        limit: usize,
        at: Option<Index>,
        count_only: bool,
    },
}

fn expect_strategy() -> impl Strategy<Value = Expect> {
    prop_oneof![
        3 => Just(Expect::Current),
        1 => Just(Expect::Stale),
        1 => any::<u8>().prop_map(Expect::Arbitrary),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let key = 0..KEYS;
    let start = prop_oneof![
        2 => Just(Start::Prefix),
        1 => (0..KEYS).prop_map(Start::At),
        1 => (0..KEYS).prop_map(Start::After),
    ];
    prop_oneof![
        3 => (key.clone(), any::<u8>()).prop_map(|(key, value)| Op::Create { key, value }),
        4 => (key.clone(), any::<u8>(), expect_strategy())
            .prop_map(|(key, value, expected)| Op::Update { key, value, expected }),
        2 => (key.clone(), proptest::option::of(expect_strategy()))
            .prop_map(|(key, expected)| Op::Delete { key, expected }),
        1 => key.prop_map(|key| Op::Get { key }),
        3 => (start, 0..4usize, proptest::option::of(any::<Index>()), proptest::bool::weighted(0.2))
            .prop_map(|(start, limit, at, count_only)| Op::Range { start, limit, at, count_only }),
    ]
}

/// The reference: every state the keys went through, by revision.
struct Model {
    contiguous: bool,
    /// The revision of the last write seen (the store's revision at the start before any).
    revision: Revision,
    /// The state after each write, with its revision, oldest first; the first entry is the
    /// empty state at the starting revision.
    history: Vec<(Revision, BTreeMap<Bytes, KeyValue>)>,
}

impl Model {
    fn new(start: Revision, contiguous: bool) -> Self {
        Self {
            contiguous,
            revision: start,
            history: vec![(start, BTreeMap::new())],
        }
    }

    fn latest(&self) -> &BTreeMap<Bytes, KeyValue> {
        &self.history[self.history.len() - 1].1
    }

    fn at(&self, revision: Revision) -> &BTreeMap<Bytes, KeyValue> {
        let i = self.history.partition_point(|(r, _)| *r <= revision);
        &self.history[i.saturating_sub(1)].1
    }

    fn expected_revision(&self, key: &Bytes, expect: &Expect) -> Revision {
        let current = self.latest().get(key).map(|kv| kv.mod_revision);
        match expect {
            Expect::Current => current.unwrap_or(self.revision),
            Expect::Stale => current.unwrap_or(self.revision) - 1,
            Expect::Arbitrary(n) => Revision::from(*n),
        }
    }

    /// Checks the revision the store gave a successful write and records it.
    fn advance(&mut self, written: Revision) -> Result<(), String> {
        if written <= self.revision || (self.contiguous && written != self.revision + 1) {
            return Err(format!(
                "write got revision {written} after revision {} (contiguous: {})",
                self.revision, self.contiguous
            ));
        }
        self.revision = written;
        Ok(())
    }

    fn commit(&mut self, state: BTreeMap<Bytes, KeyValue>) {
        self.history.push((self.revision, state));
    }
}

/// Compares the outcome of a write the model says must succeed with what it must return.
fn written(
    model: &mut Model,
    got: Result<KeyValue, StoreError>,
    want: impl FnOnce(Revision) -> KeyValue,
) -> Result<KeyValue, String> {
    let kv = got.map_err(|err| format!("expected success, got {err:?}"))?;
    model.advance(kv.mod_revision)?;
    let want = want(kv.mod_revision);
    if kv == want {
        Ok(kv)
    } else {
        Err(format!("expected {want:?}, got {kv:?}"))
    }
}

fn expect_error(
    got: Result<KeyValue, StoreError>,
    want: &str,
    matches: impl FnOnce(&StoreError) -> bool,
) -> Result<(), String> {
    match got {
        Err(err) if matches(&err) => Ok(()),
        other => Err(format!("expected {want}, got {other:?}")),
    }
}

fn conflict_with(current: &KeyValue, expected: Revision) -> impl FnOnce(&StoreError) -> bool {
    move |err| {
        matches!(err, StoreError::Conflict { expected: e, current: c }
            if *e == expected && **c == *current)
    }
}

async fn step<S: Store>(store: &S, model: &mut Model, op: &Op) -> Result<(), String> {
    match op {
        Op::Create { key: k, value } => {
            let key = key(*k);
            let value = Bytes::from(vec![*value]);
            let got = store.create(key.clone(), value.clone(), None).await;
            if model.latest().contains_key(&key) {
                return expect_error(got, "AlreadyExists", |e| {
                    matches!(e, StoreError::AlreadyExists)
                });
            }
            let kv = written(model, got, |rev| KeyValue {
                key: key.clone(),
                value,
                create_revision: rev,
                mod_revision: rev,
                version: 1,
                lease: None,
            })?;
            let mut state = model.latest().clone();
            state.insert(key, kv);
            model.commit(state);
        }
        Op::Update {
            key: k,
            value,
            expected,
        } => {
            let key = key(*k);
            let value = Bytes::from(vec![*value]);
            let expected = model.expected_revision(&key, expected);
            let got = store.update(key.clone(), value.clone(), expected).await;
            let Some(current) = model.latest().get(&key).cloned() else {
                return expect_error(got, "NotFound", |e| matches!(e, StoreError::NotFound));
            };
            if current.mod_revision != expected {
                return expect_error(got, "Conflict", conflict_with(&current, expected));
            }
            let kv = written(model, got, |rev| KeyValue {
                value,
                mod_revision: rev,
                version: current.version + 1,
                ..current.clone()
            })?;
            let mut state = model.latest().clone();
            state.insert(key, kv);
            model.commit(state);
        }
        Op::Delete { key: k, expected } => {
            let key = key(*k);
            let expected = expected.as_ref().map(|e| model.expected_revision(&key, e));
            let got = store.delete(&key, expected).await;
            let Some(current) = model.latest().get(&key).cloned() else {
                return expect_error(got, "NotFound", |e| matches!(e, StoreError::NotFound));
            };
            if let Some(expected) = expected.filter(|e| *e != current.mod_revision) {
                return expect_error(got, "Conflict", conflict_with(&current, expected));
            }
            written(model, got, |rev| KeyValue {
                mod_revision: rev,
                ..current.clone()
            })?;
            let mut state = model.latest().clone();
            state.remove(&key);
            model.commit(state);
        }
        Op::Get { key: k } => {
            let key = key(*k);
            let got = store
                .get(&key)
                .await
                .map_err(|e| format!("get failed: {e}"))?;
            let want = model.latest().get(&key).cloned();
            if got != want {
                return Err(format!("get: expected {want:?}, got {got:?}"));
            }
        }
        Op::Range {
            start,
            limit,
            at,
            count_only,
        } => {
            let revision = match at {
                None => 0,
                Some(index) => model.history[index.index(model.history.len())].0,
            };
            let start = match start {
                Start::Prefix => None,
                Start::At(k) => Some(key(*k)),
                Start::After(k) => {
                    let mut after = key(*k).to_vec();
                    after.push(0);
                    Some(Bytes::from(after))
                }
            };
            let request = RangeRequest {
                prefix: Bytes::from_static(PREFIX.as_bytes()),
                start: start.clone(),
                limit: *limit,
                revision,
                count_only: *count_only,
            };
            let got = store
                .range(request)
                .await
                .map_err(|e| format!("range failed: {e}"))?;
            let state = if revision == 0 {
                model.latest()
            } else {
                model.at(revision)
            };
            let matching: Vec<KeyValue> = state
                .values()
                .filter(|kv| start.as_ref().is_none_or(|s| kv.key >= *s))
                .cloned()
                .collect();
            let count = matching.len();
            let shown = if *limit == 0 {
                count
            } else {
                count.min(*limit)
            };
            let want = RangeResponse {
                kvs: if *count_only {
                    Vec::new()
                } else {
                    matching.into_iter().take(shown).collect()
                },
                more: !*count_only && shown < count,
                count,
                revision: if revision == 0 {
                    model.revision
                } else {
                    revision
                },
            };
            let revision_ok = if revision == 0 && !model.contiguous {
                got.revision >= model.revision
            } else {
                got.revision == want.revision
            };
            let same = got.kvs == want.kvs && got.count == want.count && revision_ok;
            let more_ok = *count_only || got.more == want.more;
            if !same || !more_ok {
                return Err(format!("range: expected {want:?}, got {got:?}"));
            }
        }
    }
    Ok(())
}

/// Runs one sequence on a fresh store: `Ok(false)` when the backend is absent.
async fn run_case<F: StoreFactory>(
    factory: &F,
    options: &Options,
    ops: &[Op],
) -> Result<bool, String> {
    let Some(store) = factory.new_store().await else {
        return Ok(false);
    };
    let start = store
        .current_revision()
        .await
        .map_err(|e| format!("current_revision failed: {e}"))?;
    let mut model = Model::new(start, options.contiguous_revisions);
    for (i, op) in ops.iter().enumerate() {
        step(&store, &mut model, op)
            .await
            .map_err(|err| format!("operation {i} ({op:?}): {err}"))?;
    }
    Ok(true)
}

fn describe(ops: &[Op]) -> String {
    let mut text = String::new();
    for (i, op) in ops.iter().enumerate() {
        let _ = writeln!(text, "  {i}: {op:?}");
    }
    text
}

/// Random sequences of up to 40 operations (create, update with the right or a wrong
/// expected revision, delete with or without one, get, range with limits at past
/// revisions) are applied to a fresh store and to a reference model: every result must
/// match. A failing sequence is shrunk before it is reported.
pub async fn model_based<F: StoreFactory>(factory: &F) {
    let options = factory.options();
    let config = Config {
        cases: options.model_cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = proptest::collection::vec(op_strategy(), 1..40);
    for _ in 0..options.model_cases {
        let mut tree = strategy
            .new_tree(&mut runner)
            .expect("the operation strategy always generates");
        let failure = match run_case(factory, &options, &tree.current()).await {
            Ok(true) => continue,
            Ok(false) => return,
            Err(failure) => failure,
        };
        // Shrink: simplify while it still fails, step back when it passes.
        let mut smallest = (tree.current(), failure);
        let mut steps = 0;
        if tree.simplify() {
            while steps < MAX_SHRINK_STEPS {
                steps += 1;
                let ops = tree.current();
                match run_case(factory, &options, &ops).await {
                    Err(failure) => {
                        smallest = (ops, failure);
                        if !tree.simplify() {
                            break;
                        }
                    }
                    Ok(_) => {
                        if !tree.complicate() {
                            break;
                        }
                    }
                }
            }
        }
        panic!(
            "the store departs from the model: {}\nsequence ({} operations):\n{}",
            smallest.1,
            smallest.0.len(),
            describe(&smallest.0)
        );
    }
}
