//! [`Faults`]: failure injection for [`SimRuntime`](super::SimRuntime).

use std::collections::HashMap;

use kube_core::RuntimeError;
use parking_lot::Mutex;

/// The runtime calls a fault can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimOp {
    /// `run_pod_sandbox`.
    RunPodSandbox,
    /// `create_container`.
    CreateContainer,
    /// `start_container`.
    StartContainer,
    /// `stop_container`.
    StopContainer,
    /// `pull_image`.
    PullImage,
    /// `exec_sync`.
    ExecSync,
    /// `list_containers` and `list_pod_sandboxes`.
    List,
    /// `version` (a failing version makes the node agent report the runtime down).
    Version,
}

#[derive(Debug, Default)]
struct Rule {
    /// Fail this many more calls.
    remaining: u64,
    /// Fail every call whose sequence number is a multiple of this (0: never).
    every: u64,
    calls: u64,
}

/// Failure injection: make the next N calls of an operation fail, or every Nth one.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<HashMap<SimOp, Rule>>,
}

impl Faults {
    /// Fails the next `count` calls of `op`.
    pub fn fail_next(&self, op: SimOp, count: u64) {
        self.rules.lock().entry(op).or_default().remaining = count;
    }

    /// Fails every `n`th call of `op` (0 stops).
    pub fn fail_every(&self, op: SimOp, n: u64) {
        self.rules.lock().entry(op).or_default().every = n;
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    /// Counts a call of `op`; an error when a fault says this one fails.
    pub(crate) fn check(&self, op: SimOp) -> Result<(), RuntimeError> {
        let mut rules = self.rules.lock();
        let Some(rule) = rules.get_mut(&op) else {
            return Ok(());
        };
        rule.calls += 1;
        let fail = if rule.remaining > 0 {
            rule.remaining -= 1;
            true
        } else {
            rule.every > 0 && rule.calls % rule.every == 0
        };
        if fail {
            Err(RuntimeError::Unavailable {
                message: format!("injected failure of {op:?}"),
                source: None,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_and_every() {
        let f = Faults::default();
        assert!(f.check(SimOp::StartContainer).is_ok());
        f.fail_next(SimOp::StartContainer, 2);
        assert!(f.check(SimOp::StartContainer).is_err());
        assert!(f.check(SimOp::StartContainer).is_err());
        assert!(f.check(SimOp::StartContainer).is_ok());
        assert!(f.check(SimOp::PullImage).is_ok());
        f.fail_every(SimOp::PullImage, 3);
        let fails: Vec<bool> = (0..6).map(|_| f.check(SimOp::PullImage).is_err()).collect();
        assert_eq!(fails, [false, false, true, false, false, true]);
        f.clear();
        assert!(f.check(SimOp::PullImage).is_ok());
    }
}
