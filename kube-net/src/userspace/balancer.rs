//! [`Balancer`]: which endpoint a new connection of a service port goes to. Round robin,
//! or ClientIP affinity with a timeout; failed endpoints skipped; endpoints replaced
//! atomically by a sync.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Sticky {
    endpoint: SocketAddr,
    last_used: Instant,
}

#[derive(Debug)]
struct State {
    endpoints: Vec<SocketAddr>,
    generation: u64,
    next: usize,
    affinity: Option<Duration>,
    clients: HashMap<IpAddr, Sticky>,
    last_purge: Option<Instant>,
}

/// The endpoints of one service port and how to choose among them.
#[derive(Debug)]
pub(crate) struct Balancer {
    state: Mutex<State>,
}

impl Balancer {
    pub(crate) fn new(endpoints: Vec<SocketAddr>, affinity: Option<Duration>) -> Self {
        Self {
            state: Mutex::new(State {
                endpoints,
                generation: 0,
                next: 0,
                affinity,
                clients: HashMap::new(),
                last_purge: None,
            }),
        }
    }

    /// Replaces the endpoints and the affinity setting. Clients stuck to an endpoint that
    /// went away are released; nothing changes (not even the generation) when nothing
    /// differs.
    pub(crate) fn update(&self, endpoints: Vec<SocketAddr>, affinity: Option<Duration>) {
        let mut s = self.state.lock();
        if s.endpoints == endpoints && s.affinity == affinity {
            return;
        }
        s.generation += 1;
        if affinity.is_none() {
            s.clients.clear();
        } else {
            s.clients
                .retain(|_, sticky| endpoints.contains(&sticky.endpoint));
        }
        s.affinity = affinity;
        if !endpoints.is_empty() {
            s.next %= endpoints.len();
        }
        s.endpoints = endpoints;
    }

    /// Bumped by every [`update`](Self::update) that changed something.
    pub(crate) fn generation(&self) -> u64 {
        self.state.lock().generation
    }

    /// True when `endpoint` may still receive new traffic.
    pub(crate) fn contains(&self, endpoint: SocketAddr) -> bool {
        self.state.lock().endpoints.contains(&endpoint)
    }

    /// The endpoint for a new connection from `client`, never one of `exclude` (those that
    /// failed for this connection); `None` when no endpoint is left.
    pub(crate) fn pick(
        &self,
        client: IpAddr,
        exclude: &[SocketAddr],
        now: Instant,
    ) -> Option<SocketAddr> {
        let mut guard = self.state.lock();
        let s = &mut *guard;
        if let Some(timeout) = s.affinity {
            s.purge(timeout, now);
            if let Some(sticky) = s.clients.get_mut(&client) {
                if now.saturating_duration_since(sticky.last_used) <= timeout
                    && s.endpoints.contains(&sticky.endpoint)
                    && !exclude.contains(&sticky.endpoint)
                {
                    sticky.last_used = now;
                    return Some(sticky.endpoint);
                }
            }
        }
        let n = s.endpoints.len();
        let endpoint = (0..n)
            .map(|i| (s.next + i) % n)
            .find(|&i| !exclude.contains(&s.endpoints[i]))
            .map(|i| {
                s.next = (i + 1) % n;
                s.endpoints[i]
            })?;
        if s.affinity.is_some() {
            s.clients.insert(
                client,
                Sticky {
                    endpoint,
                    last_used: now,
                },
            );
        }
        Some(endpoint)
    }

    /// A connection from `client` to `endpoint` failed: the client is no longer stuck to
    /// it.
    pub(crate) fn failed(&self, client: IpAddr, endpoint: SocketAddr) {
        let mut s = self.state.lock();
        if s.clients
            .get(&client)
            .is_some_and(|st| st.endpoint == endpoint)
        {
            s.clients.remove(&client);
        }
    }
}

impl State {
    /// Forgets clients idle for longer than the timeout, at most once per timeout (and at
    /// least once a minute), so the map does not grow with every client ever seen.
    fn purge(&mut self, timeout: Duration, now: Instant) {
        let every = timeout.min(Duration::from_secs(60));
        if self
            .last_purge
            .is_some_and(|at| now.saturating_duration_since(at) < every)
        {
            return;
        }
        self.last_purge = Some(now);
        self.clients
            .retain(|_, st| now.saturating_duration_since(st.last_used) <= timeout);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn ep(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 80))
    }

    fn client(i: u8) -> IpAddr {
        IpAddr::from([192, 168, 0, i])
    }

    #[test]
    fn round_robin_visits_every_endpoint_in_turn() {
        let b = Balancer::new(vec![ep(1), ep(2), ep(3)], None);
        let now = Instant::now();
        let picks: Vec<_> = (0..6)
            .map(|_| b.pick(client(1), &[], now).unwrap())
            .collect();
        assert_eq!(picks, [ep(1), ep(2), ep(3), ep(1), ep(2), ep(3)]);
    }

    #[test]
    fn failed_endpoints_are_skipped_and_exhaustion_is_none() {
        let b = Balancer::new(vec![ep(1), ep(2)], None);
        let now = Instant::now();
        assert_eq!(b.pick(client(1), &[ep(1)], now), Some(ep(2)));
        assert_eq!(b.pick(client(1), &[ep(1), ep(2)], now), None);
        assert_eq!(
            Balancer::new(Vec::new(), None).pick(client(1), &[], now),
            None
        );
    }

    #[test]
    fn affinity_sticks_until_the_timeout_or_a_failure() {
        let timeout = Duration::from_secs(10);
        let b = Balancer::new(vec![ep(1), ep(2), ep(3)], Some(timeout));
        let t0 = Instant::now();
        let first = b.pick(client(1), &[], t0).unwrap();
        for s in 1..20 {
            // Each use renews the stickiness.
            assert_eq!(
                b.pick(client(1), &[], t0 + Duration::from_secs(s)),
                Some(first)
            );
        }
        let other = b.pick(client(2), &[], t0).unwrap();
        assert_ne!(other, first, "a new client takes the next endpoint");
        // Idle past the timeout: round robin again.
        let later = t0 + Duration::from_secs(19) + timeout + Duration::from_secs(1);
        let after = b.pick(client(1), &[], later).unwrap();
        assert_ne!(after, first);
        // A failure releases the client.
        b.failed(client(1), after);
        assert_ne!(b.pick(client(1), &[after], later), Some(after));
    }

    #[test]
    fn update_releases_clients_of_removed_endpoints() {
        let b = Balancer::new(vec![ep(1), ep(2)], Some(Duration::from_secs(100)));
        let now = Instant::now();
        let stuck = b.pick(client(1), &[], now).unwrap();
        let g = b.generation();
        b.update(vec![ep(1), ep(2)], Some(Duration::from_secs(100)));
        assert_eq!(b.generation(), g, "an identical update changes nothing");
        let remaining: Vec<_> = [ep(1), ep(2)].into_iter().filter(|e| *e != stuck).collect();
        b.update(remaining.clone(), Some(Duration::from_secs(100)));
        assert_eq!(b.generation(), g + 1);
        assert!(!b.contains(stuck));
        assert_eq!(b.pick(client(1), &[], now), Some(remaining[0]));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Pick { client: u8, advance_ms: u64 },
        Fail { client: u8 },
        Update { endpoints: Vec<u8> },
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        let op = prop_oneof![
            6 => (0u8..6, 0u64..3_000).prop_map(|(client, advance_ms)| Op::Pick { client, advance_ms }),
            1 => (0u8..6).prop_map(|client| Op::Fail { client }),
            1 => prop::collection::vec(1u8..8, 0..5).prop_map(|endpoints| Op::Update { endpoints }),
        ];
        prop::collection::vec(op, 1..300)
    }

    proptest! {
        /// Whatever happens: a pick is always a current endpoint; with affinity, a client
        /// keeps its endpoint while it stays, is used within the timeout and did not fail.
        #[test]
        fn picks_are_current_and_sticky(ops in ops(), affinity in prop::option::of(1u64..5)) {
            let timeout = affinity.map(Duration::from_secs);
            let b = Balancer::new(vec![ep(1), ep(2), ep(3)], timeout);
            let mut current = vec![ep(1), ep(2), ep(3)];
            let mut now = Instant::now();
            let mut model: BTreeMap<u8, (SocketAddr, Instant)> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Pick { client: c, advance_ms } => {
                        now += Duration::from_millis(advance_ms);
                        let got = b.pick(client(c), &[], now);
                        match got {
                            None => prop_assert!(current.is_empty()),
                            Some(e) => {
                                prop_assert!(current.contains(&e));
                                if let (Some(t), Some((stuck, last))) = (timeout, model.get(&c)) {
                                    if now.saturating_duration_since(*last) <= t && current.contains(stuck) {
                                        prop_assert_eq!(e, *stuck);
                                    }
                                }
                                model.insert(c, (e, now));
                            }
                        }
                    }
                    Op::Fail { client: c } => {
                        if let Some((e, _)) = model.remove(&c) {
                            b.failed(client(c), e);
                        }
                    }
                    Op::Update { endpoints } => {
                        let mut eps: Vec<_> = endpoints.into_iter().map(ep).collect();
                        eps.sort();
                        eps.dedup();
                        b.update(eps.clone(), timeout);
                        model.retain(|_, (e, _)| eps.contains(e));
                        current = eps;
                    }
                }
            }
        }

        /// Without affinity, k rounds of picks over n endpoints reach each exactly k times.
        #[test]
        fn round_robin_is_exactly_fair(n in 1u8..10, k in 1usize..20) {
            let eps: Vec<_> = (1..=n).map(ep).collect();
            let b = Balancer::new(eps.clone(), None);
            let now = Instant::now();
            let mut counts: BTreeMap<SocketAddr, usize> = BTreeMap::new();
            for i in 0..(usize::from(n) * k) {
                let c = client(u8::try_from(i % 200).unwrap());
                *counts.entry(b.pick(c, &[], now).unwrap()).or_default() += 1;
            }
            prop_assert!(eps.iter().all(|e| counts.get(e) == Some(&k)));
        }
    }
}
