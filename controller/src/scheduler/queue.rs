//! The scheduling queue, as kube-scheduler keeps it: pending pods wait in an active FIFO; a pod
//! whose bind failed waits out a backoff (1 s doubling to 10 s); a pod that fits no node is
//! parked as unschedulable until the cluster changes (a node, or a pod leaving a node), or for
//! at most five minutes. Pure: the caller passes the time.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// First backoff after a failed attempt (kube-scheduler's `podInitialBackoffSeconds`).
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest backoff (`podMaxBackoffSeconds`).
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// An unschedulable pod is tried again after this long even if nothing changed
/// (`podMaxInUnschedulablePodsDuration`).
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

/// Where a pod is in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active,
    /// Waiting until the instant before it may be tried again.
    Backoff(Instant),
    /// Fits no node; parked since the instant.
    Unschedulable(Instant),
}

/// Pods waiting to be scheduled, by key.
#[derive(Debug, Default)]
pub struct Queue {
    active: VecDeque<String>,
    backoff: BTreeSet<(Instant, String)>,
    places: HashMap<String, Place>,
    attempts: HashMap<String, u32>,
}

impl Queue {
    /// Adds a newly pending pod; a pod already queued keeps its place.
    pub fn add(&mut self, key: &str) {
        if !self.places.contains_key(key) {
            self.places.insert(key.to_owned(), Place::Active);
            self.active.push_back(key.to_owned());
        }
    }

    /// Forgets a pod (bound, deleted, or no longer ours).
    pub fn remove(&mut self, key: &str) {
        if let Some(Place::Backoff(at)) = self.places.remove(key) {
            self.backoff.remove(&(at, key.to_owned()));
        }
        self.attempts.remove(key);
        // A stale entry left in `active` is skipped by `pop`.
    }

    /// The next pod to try, in FIFO order.
    pub fn pop(&mut self) -> Option<String> {
        while let Some(key) = self.active.pop_front() {
            if self.places.get(&key) == Some(&Place::Active) {
                // Out of the queue while it is being tried; `requeue`/`park`/`remove` follow.
                self.places.remove(&key);
                return Some(key);
            }
        }
        None
    }

    /// How many pods wait in every part of the queue.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Whether a pod is ready to be popped now.
    pub fn has_active(&self) -> bool {
        self.places.values().any(|p| *p == Place::Active)
    }

    /// An attempt failed for a reason other than fit (the bind was refused, a write failed):
    /// try again after the pod's backoff.
    pub fn requeue(&mut self, key: &str, now: Instant) {
        let until = now + self.next_backoff(key);
        self.set(key, Place::Backoff(until));
    }

    /// The pod fits no node: park it until the cluster changes.
    pub fn park(&mut self, key: &str, now: Instant) {
        self.next_backoff(key);
        self.set(key, Place::Unschedulable(now));
    }

    /// Something changed that may make parked pods fit: each goes back to active, or to
    /// backoff while its backoff since `parked` has not run out.
    pub fn cluster_changed(&mut self, now: Instant) {
        let parked: Vec<(String, Instant)> = self
            .places
            .iter()
            .filter_map(|(key, place)| match place {
                Place::Unschedulable(since) => Some((key.clone(), *since)),
                _ => None,
            })
            .collect();
        for (key, since) in parked {
            let until = since + self.backoff_of(&key);
            if until > now {
                self.set(&key, Place::Backoff(until));
            } else {
                self.set(&key, Place::Active);
            }
        }
    }

    /// Moves pods whose backoff ran out, and pods parked for too long, back to active.
    pub fn tick(&mut self, now: Instant) {
        while let Some((until, key)) = self.backoff.first().cloned() {
            if until > now {
                break;
            }
            self.backoff.pop_first();
            self.places.insert(key.clone(), Place::Active);
            self.active.push_back(key);
        }
        let stale: Vec<String> = self
            .places
            .iter()
            .filter_map(|(key, place)| match place {
                Place::Unschedulable(since) if now.duration_since(*since) >= MAX_UNSCHEDULABLE => {
                    Some(key.clone())
                }
                _ => None,
            })
            .collect();
        for key in stale {
            self.set(&key, Place::Active);
        }
    }

    /// When `tick` next has something to do, if ever.
    pub fn next_wake(&self) -> Option<Instant> {
        let backoff = self.backoff.first().map(|(at, _)| *at);
        let parked = self
            .places
            .values()
            .filter_map(|place| match place {
                Place::Unschedulable(since) => Some(*since + MAX_UNSCHEDULABLE),
                _ => None,
            })
            .min();
        match (backoff, parked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn set(&mut self, key: &str, place: Place) {
        if let Some(Place::Backoff(at)) = self.places.get(key) {
            self.backoff.remove(&(*at, key.to_owned()));
        }
        match place {
            Place::Active => self.active.push_back(key.to_owned()),
            Place::Backoff(at) => {
                self.backoff.insert((at, key.to_owned()));
            }
            Place::Unschedulable(_) => {}
        }
        self.places.insert(key.to_owned(), place);
    }

    /// Counts an attempt and returns the backoff it earns.
    fn next_backoff(&mut self, key: &str) -> Duration {
        *self.attempts.entry(key.to_owned()).or_default() += 1;
        self.backoff_of(key)
    }

    fn backoff_of(&self, key: &str) -> Duration {
        let attempts = self.attempts.get(key).copied().unwrap_or(0);
        let doublings = attempts.saturating_sub(1).min(8);
        (INITIAL_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_come_out_in_order_once() {
        let mut q = Queue::default();
        for key in ["a", "b", "a", "c"] {
            q.add(key);
        }
        q.remove("b");
        assert_eq!(q.pop().as_deref(), Some("a"));
        assert_eq!(q.pop().as_deref(), Some("c"));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn failed_attempts_back_off_doubling_to_the_cap() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.add("p");
        q.pop();
        let mut waits = Vec::new();
        for _ in 0..6 {
            q.requeue("p", t0);
            let until = q.next_wake().expect("backing off");
            waits.push(until.duration_since(t0).as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn backoff_ends_on_tick() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.add("p");
        q.pop();
        q.requeue("p", t0);
        assert!(!q.has_active());
        q.tick(t0 + Duration::from_millis(500));
        assert_eq!(q.pop(), None);
        q.tick(t0 + INITIAL_BACKOFF);
        assert_eq!(q.pop().as_deref(), Some("p"));
    }

    #[test]
    fn parked_pods_wait_for_a_change_or_five_minutes() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.add("p");
        q.pop();
        q.park("p", t0);
        q.tick(t0 + Duration::from_secs(60));
        assert_eq!(q.pop(), None, "nothing changed");
        // A change after the backoff ran out makes it active at once.
        q.cluster_changed(t0 + Duration::from_secs(60));
        assert_eq!(q.pop().as_deref(), Some("p"));
        // A change right after parking sends it to backoff first.
        q.park("p", t0);
        q.cluster_changed(t0);
        assert_eq!(q.pop(), None);
        q.tick(t0 + MAX_BACKOFF);
        assert_eq!(q.pop().as_deref(), Some("p"));
        // Left alone, it is retried after MAX_UNSCHEDULABLE.
        q.park("p", t0);
        assert_eq!(q.next_wake(), Some(t0 + MAX_UNSCHEDULABLE));
        q.tick(t0 + MAX_UNSCHEDULABLE);
        assert_eq!(q.pop().as_deref(), Some("p"));
    }
}
