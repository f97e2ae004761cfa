//! `CycleState`: what plugins compute for one pod in one scheduling cycle (PreFilter's
//! counts, PreScore's terms) and read back at later extension points.

use std::any::{Any, TypeId};
use std::fmt;

/// Data a plugin keeps in the [`CycleState`]. Implemented for every `Clone + Send + Sync`
/// type; the clone is what preemption uses to simulate removing pods.
pub trait StateData: Any + Send + Sync {
    /// A boxed copy.
    fn clone_data(&self) -> Box<dyn StateData>;
    /// Itself, for downcasting.
    fn as_any(&self) -> &dyn Any;
    /// Itself, for downcasting.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_data(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Per-cycle data keyed by type: each plugin stores its own private type, so plugins never
/// collide and lookups are a short scan with no hashing.
#[derive(Default)]
pub struct CycleState {
    entries: Vec<(TypeId, Box<dyn StateData>)>,
    pub(crate) skip_filter: Vec<&'static str>,
    pub(crate) skip_score: Vec<&'static str>,
    /// The skipped Filter plugins as a bit per position in the profile, computed once
    /// after PreFilter so the per-node loop compares no names.
    pub(crate) filter_mask: Option<u64>,
    /// The same for Score plugins, after PreScore.
    pub(crate) score_mask: Option<u64>,
}

impl CycleState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value`, replacing any value of the same type.
    pub fn write<T: StateData>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        match self.entries.iter_mut().find(|(t, _)| *t == id) {
            Some(slot) => slot.1 = Box::new(value),
            None => self.entries.push((id, Box::new(value))),
        }
    }

    /// The stored value of type `T`.
    pub fn read<T: StateData>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.as_ref().as_any().downcast_ref())
    }

    /// The stored value of type `T`, mutable.
    pub fn read_mut<T: StateData>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter_mut()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.as_mut().as_any_mut().downcast_mut())
    }

    /// True when the named plugin's Filter is skipped this cycle (its PreFilter said so).
    pub fn skips_filter(&self, plugin: &str) -> bool {
        self.skip_filter.contains(&plugin)
    }

    /// True when the named plugin's Score is skipped this cycle (its PreScore said so).
    pub fn skips_score(&self, plugin: &str) -> bool {
        self.skip_score.contains(&plugin)
    }

    /// True when the Filter plugin at `index` in its profile, named by `plugin`, is skipped.
    #[inline]
    pub(crate) fn skips_filter_at<'a>(
        &self,
        index: usize,
        plugin: impl FnOnce() -> &'a str,
    ) -> bool {
        match self.filter_mask {
            Some(mask) if index < 64 => mask & (1 << index) != 0,
            _ => !self.skip_filter.is_empty() && self.skips_filter(plugin()),
        }
    }

    /// True when the Score plugin at `index` in its profile, named by `plugin`, is skipped.
    #[inline]
    pub(crate) fn skips_score_at<'a>(
        &self,
        index: usize,
        plugin: impl FnOnce() -> &'a str,
    ) -> bool {
        match self.score_mask {
            Some(mask) if index < 64 => mask & (1 << index) != 0,
            _ => !self.skip_score.is_empty() && self.skips_score(plugin()),
        }
    }

    /// Freezes the skipped Filter plugins of `names` (a profile's, in order) into a mask.
    pub(crate) fn freeze_filter_skips<'a>(&mut self, names: impl Iterator<Item = &'a str>) {
        self.filter_mask = Some(mask(&self.skip_filter, names));
    }

    /// Freezes the skipped Score plugins of `names` into a mask.
    pub(crate) fn freeze_score_skips<'a>(&mut self, names: impl Iterator<Item = &'a str>) {
        self.score_mask = Some(mask(&self.skip_score, names));
    }
}

fn mask<'a>(skipped: &[&'static str], names: impl Iterator<Item = &'a str>) -> u64 {
    let mut mask = 0;
    for (i, name) in names.take(64).enumerate() {
        if skipped.contains(&name) {
            mask |= 1 << i;
        }
    }
    mask
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        Self {
            entries: self
                .entries
                .iter()
                .map(|(t, v)| (*t, v.as_ref().clone_data()))
                .collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
            filter_mask: self.filter_mask,
            score_mask: self.score_mask,
        }
    }
}

impl fmt::Debug for CycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CycleState")
            .field("entries", &self.entries.len())
            .field("skip_filter", &self.skip_filter)
            .field("skip_score", &self.skip_score)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct A(u32);
    #[derive(Clone, Debug, PartialEq)]
    struct B(&'static str);

    #[test]
    fn values_are_keyed_by_type_and_clone_deeply() {
        let mut s = CycleState::new();
        s.write(A(1));
        s.write(B("x"));
        s.write(A(2));
        assert_eq!(s.read::<A>(), Some(&A(2)));
        assert_eq!(s.read::<B>(), Some(&B("x")));
        let mut copy = s.clone();
        copy.read_mut::<A>().unwrap().0 = 9;
        assert_eq!(s.read::<A>(), Some(&A(2)));
        assert_eq!(copy.read::<A>(), Some(&A(9)));
        assert_eq!(s.read::<u8>(), None);
    }
}
