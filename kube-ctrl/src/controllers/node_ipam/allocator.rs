//! Which subnet of the cluster CIDR each node holds: a bitmap of the subnets in use, the
//! owner of each, and a cursor where the next search starts, so that allocating,
//! recording and releasing are O(1) amortised instead of a scan of every node.

use std::collections::HashMap;

/// The subnets handed out, by index into a [`CidrSet`](super::CidrSet) of `len` subnets.
#[derive(Debug)]
pub(super) struct Allocator {
    len: u32,
    /// One bit per subnet: set when some node holds it.
    used: Vec<u64>,
    owner: HashMap<u32, String>,
    held: HashMap<String, u32>,
    /// Where the next search for a free subnet starts: just after the last one handed out,
    /// as Kubernetes' cidrset does, so a released subnet is not reused at once.
    next: u32,
}

/// What [`Allocator::record`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Recorded {
    /// The subnet is the node's.
    Held,
    /// The subnet had been handed out to this other node, which has lost it.
    TakenFrom(String),
}

impl Allocator {
    /// No subnet in use, out of `len`.
    pub(super) fn new(len: u32) -> Self {
        Self {
            len,
            used: vec![0; (len as usize).div_ceil(64)],
            owner: HashMap::new(),
            held: HashMap::new(),
            next: 0,
        }
    }

    /// How many subnets are held.
    pub(super) fn in_use(&self) -> usize {
        self.owner.len()
    }

    /// The subnet `node` holds, if any.
    pub(super) fn held_by(&self, node: &str) -> Option<u32> {
        self.held.get(node).copied()
    }

    /// Records that `node` holds subnet `index` (its Node shows it): any other subnet it
    /// held is free again. A subnet that this allocator had handed to another node goes to
    /// `node`, which has it in its spec; the other node must be given a new one.
    pub(super) fn record(&mut self, node: &str, index: u32) -> Recorded {
        if index >= self.len {
            self.release(node);
            return Recorded::Held;
        }
        if self.held.get(node) == Some(&index) {
            return Recorded::Held;
        }
        self.release(node);
        let previous = self.owner.insert(index, node.to_owned());
        self.held.insert(node.to_owned(), index);
        self.set(index, true);
        match previous {
            Some(other) => {
                self.held.remove(&other);
                Recorded::TakenFrom(other)
            }
            None => Recorded::Held,
        }
    }

    /// The subnet `node` already holds, or the next free one, now held by `node`; `None`
    /// when every subnet is in use.
    pub(super) fn allocate(&mut self, node: &str) -> Option<u32> {
        if let Some(index) = self.held_by(node) {
            return Some(index);
        }
        let index = self.find_free()?;
        self.owner.insert(index, node.to_owned());
        self.held.insert(node.to_owned(), index);
        self.set(index, true);
        self.next = if index + 1 >= self.len { 0 } else { index + 1 };
        Some(index)
    }

    /// Frees the subnet `node` holds, if any.
    pub(super) fn release(&mut self, node: &str) {
        if let Some(index) = self.held.remove(node) {
            self.owner.remove(&index);
            self.set(index, false);
        }
    }

    fn set(&mut self, index: u32, used: bool) {
        let (word, bit) = ((index / 64) as usize, index % 64);
        if let Some(w) = self.used.get_mut(word) {
            if used {
                *w |= 1 << bit;
            } else {
                *w &= !(1 << bit);
            }
        }
    }

    /// The first free subnet at or after the cursor, wrapping around once.
    fn find_free(&self) -> Option<u32> {
        if self.in_use() >= self.len as usize {
            return None;
        }
        let words = self.used.len();
        let start = (self.next / 64) as usize;
        // The cursor's word twice: first from the cursor on, last (after wrapping) below it.
        for step in 0..=words {
            let w = (start + step) % words;
            let mut free = !self.used[w];
            if step == 0 {
                free &= u64::MAX << (self.next % 64);
            }
            if free != 0 {
                // The lowest free bit; bits past the last subnet are never free.
                let index = u32::try_from(w * 64).ok()? + free.trailing_zeros();
                if index < self.len {
                    return Some(index);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn hands_out_in_order_and_moves_on_past_a_release() {
        let mut a = Allocator::new(4);
        assert_eq!(a.allocate("a"), Some(0));
        assert_eq!(a.allocate("b"), Some(1));
        assert_eq!(a.allocate("a"), Some(0), "a node keeps its subnet");
        a.release("a");
        assert_eq!(a.allocate("c"), Some(2), "the cursor moved on");
        assert_eq!(a.allocate("d"), Some(3));
        assert_eq!(a.allocate("e"), Some(0), "wraps to the freed one");
        assert_eq!(a.allocate("f"), None, "full");
        assert_eq!(a.in_use(), 4);
    }

    #[test]
    fn recording_a_nodes_subnet_frees_its_old_one_and_wins_over_a_hand_out() {
        let mut a = Allocator::new(130);
        assert_eq!(a.allocate("a"), Some(0));
        assert_eq!(a.record("a", 129), Recorded::Held);
        assert_eq!(a.held_by("a"), Some(129));
        assert_eq!(a.allocate("b"), Some(1));
        assert_eq!(a.record("c", 1), Recorded::TakenFrom("b".to_owned()));
        assert_eq!(a.held_by("b"), None);
        assert_eq!(a.allocate("b"), Some(2));
        assert_eq!(a.record("d", 500), Recorded::Held, "outside the range");
        assert_eq!(a.held_by("d"), None);
        assert_eq!(a.in_use(), 3);
    }

    #[test]
    fn finds_the_last_free_subnet_of_a_large_range() {
        let mut a = Allocator::new(1 << 16);
        for i in 0..(1 << 16) - 1 {
            assert_eq!(a.allocate(&format!("n{i}")), Some(i));
        }
        a.release("n70");
        assert_eq!(a.allocate("last"), Some((1 << 16) - 1));
        assert_eq!(a.allocate("again"), Some(70));
        assert_eq!(a.allocate("none"), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Allocate(u8),
        Record(u8, u32),
        Release(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..40).prop_map(Op::Allocate),
            (0u8..40, 0u32..80).prop_map(|(n, i)| Op::Record(n, i)),
            (0u8..40).prop_map(Op::Release),
        ]
    }

    proptest! {
        /// No subnet is ever held by two nodes, the bitmap agrees with the owners, and a
        /// free subnet is always found while there is one.
        #[test]
        fn never_hands_one_subnet_to_two_nodes(
            len in 1u32..70,
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            let mut a = Allocator::new(len);
            for op in ops {
                match op {
                    Op::Allocate(n) => {
                        let before = a.in_use();
                        let had = a.held_by(&n.to_string()).is_some();
                        let got = a.allocate(&n.to_string());
                        prop_assert_eq!(got.is_none(), !had && before == len as usize);
                    }
                    Op::Record(n, i) => { a.record(&n.to_string(), i); }
                    Op::Release(n) => a.release(&n.to_string()),
                }
                let mut seen = HashSet::new();
                for (node, index) in &a.held {
                    prop_assert!(*index < len);
                    prop_assert!(seen.insert(*index));
                    prop_assert_eq!(a.owner.get(index), Some(node));
                }
                prop_assert_eq!(a.owner.len(), a.held.len());
                let bits: u32 = a.used.iter().map(|w| w.count_ones()).sum();
                prop_assert_eq!(bits as usize, a.in_use());
            }
        }
    }
}
