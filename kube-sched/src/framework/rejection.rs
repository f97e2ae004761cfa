//! [`Rejection`]: why a plugin rejects a pod on a node, with its [`Reasons`].
//!
//! A cycle may reject thousands of nodes; a rejection with one reason (the common case)
//! therefore allocates nothing.

use std::borrow::Cow;
use std::fmt;

use kube_core::FitCode;

/// Why a plugin rejects a pod (on one node, or on every node at PreFilter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Whether evicting pods could help.
    pub code: FitCode,
    /// The reasons, as Kubernetes words them.
    pub reasons: Reasons,
}

impl Rejection {
    /// The pod does not fit now; preemption may make room.
    pub fn unschedulable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: FitCode::Unschedulable,
            reasons: Reasons::one(reason),
        }
    }

    /// The pod cannot fit this node whatever is evicted.
    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: FitCode::UnschedulableAndUnresolvable,
            reasons: Reasons::one(reason),
        }
    }
}

/// The reasons of a rejection: one, kept inline, or several.
#[derive(Clone, PartialEq, Eq)]
pub struct Reasons(Inner);

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    One(Cow<'static, str>),
    Many(Vec<Cow<'static, str>>),
}

impl Reasons {
    /// A single reason.
    pub fn one(reason: impl Into<Cow<'static, str>>) -> Self {
        Self(Inner::One(reason.into()))
    }

    /// The reasons, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Cow<'static, str>> {
        let (one, many) = match &self.0 {
            Inner::One(r) => (Some(r), &[][..]),
            Inner::Many(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many)
    }

    /// How many reasons there are.
    pub fn len(&self) -> usize {
        match &self.0 {
            Inner::One(_) => 1,
            Inner::Many(v) => v.len(),
        }
    }

    /// True when there is no reason.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a reason.
    pub fn push(&mut self, reason: impl Into<Cow<'static, str>>) {
        let reason = reason.into();
        match &mut self.0 {
            Inner::Many(v) if v.is_empty() => self.0 = Inner::One(reason),
            Inner::Many(v) => v.push(reason),
            Inner::One(first) => {
                let first = std::mem::take(first);
                self.0 = Inner::Many(vec![first, reason]);
            }
        }
    }

    /// The reasons as a vector.
    pub fn into_vec(self) -> Vec<Cow<'static, str>> {
        match self.0 {
            Inner::One(r) => vec![r],
            Inner::Many(v) => v,
        }
    }
}

impl Default for Reasons {
    /// No reason yet.
    fn default() -> Self {
        Self(Inner::Many(Vec::new()))
    }
}

impl From<Vec<Cow<'static, str>>> for Reasons {
    fn from(mut v: Vec<Cow<'static, str>>) -> Self {
        if v.len() == 1
            && let Some(r) = v.pop()
        {
            return Self(Inner::One(r));
        }
        Self(Inner::Many(v))
    }
}

impl fmt::Debug for Reasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Reasons {
    fn eq(&self, other: &Vec<S>) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Reasons {
    fn eq(&self, other: &[S; N]) -> bool {
        self.len() == N && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reason_stays_inline_and_more_grow() {
        let mut r = Reasons::one("a");
        assert_eq!(r, ["a"]);
        r.push("b");
        assert_eq!(r, vec!["a", "b"]);
        assert_eq!(r.len(), 2);
        assert_eq!(Reasons::from(vec![Cow::Borrowed("x")]), ["x"]);
        assert!(Reasons::from(Vec::new()).is_empty());
        let mut empty = Reasons::default();
        empty.push("only");
        assert_eq!(empty, ["only"]);
        assert_eq!(format!("{:?}", Reasons::one("z")), "[\"z\"]");
        assert_eq!(Reasons::one("z").into_vec(), vec![Cow::Borrowed("z")]);
    }
}
