//! [`Parallelizer`]: the framework's worker pool, as plugins see it (Kubernetes' plugins
//! get the same through `Handle.Parallelizer()`), for work they spread over nodes
//! themselves, such as preemption's dry runs.

use std::fmt;

/// Runs work over the framework's pool, or on the calling thread when it has none.
#[derive(Clone, Copy)]
pub struct Parallelizer<'a> {
    pool: Option<&'a rayon::ThreadPool>,
}

impl fmt::Debug for Parallelizer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parallelizer")
            .field("threads", &self.threads())
            .finish()
    }
}

impl<'a> Parallelizer<'a> {
    /// Everything on the calling thread.
    pub fn serial() -> Self {
        Self { pool: None }
    }

    pub(crate) fn new(pool: Option<&'a rayon::ThreadPool>) -> Self {
        Self { pool }
    }

    /// How many threads work at once (1 when serial).
    pub fn threads(&self) -> usize {
        self.pool.map_or(1, |p| p.current_num_threads().max(1))
    }

    /// `f(0)`, `f(1)`, ... `f(n - 1)`, in that order, computed over the pool.
    pub fn map<T, F>(&self, n: usize, f: F) -> Vec<T>
    where
        T: Send,
        F: Fn(usize) -> T + Sync + Send,
    {
        match self.pool {
            Some(pool) if n > 1 => {
                use rayon::prelude::*;
                pool.install(|| (0..n).into_par_iter().map(f).collect())
            }
            _ => (0..n).map(f).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_order_with_or_without_a_pool() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let squares: Vec<usize> = (0..50).map(|i| i * i).collect();
        assert_eq!(Parallelizer::new(Some(&pool)).map(50, |i| i * i), squares);
        assert_eq!(Parallelizer::serial().map(50, |i| i * i), squares);
        assert_eq!(Parallelizer::new(Some(&pool)).threads(), 3);
    }
}
