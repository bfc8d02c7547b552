//! Scaling a deployment without rolling it out, as Kubernetes' `sync.go` does for scaling
//! events and paused deployments (proportionally when a rollout is under way), and cleaning up
//! old ReplicaSets beyond the revision history limit.

use std::cmp::Ordering;

use super::replica_set::{DESIRED_REPLICAS, MAX_REPLICAS, Rs, by_creation};
use super::rollout::Rollout;
use crate::controllers::workload::{int_at, is_deleting};

impl Rollout<'_> {
    /// Kubernetes' `isScalingEvent`: an active ReplicaSet was sized for other replicas.
    pub(super) fn is_scaling_event(&self) -> bool {
        self.rses.iter().any(|rs| {
            rs.replicas() > 0
                && rs
                    .int_annotation(DESIRED_REPLICAS)
                    .is_some_and(|desired| desired != self.replicas)
        })
    }

    /// Kubernetes' `scale`: a scaling event (or a paused deployment) resizes the only active
    /// ReplicaSet, or scales old ones away when the new one is saturated, or spreads the
    /// change over every active ReplicaSet in proportion to its size.
    pub(super) fn scale(&mut self) {
        if let Some(target) = self.active_or_latest() {
            // Kubernetes stops here when the size is right; the annotations are brought up to
            // date too, so that a stale desired-replicas cannot make every sync a scaling event.
            self.scale_replica_set(target, self.replicas);
            return;
        }
        if let Some(new) = self.new_rs
            && self.is_saturated(new)
        {
            for i in self.active_olds() {
                self.scale_and_record(i, 0);
            }
            return;
        }
        if !self.recreate {
            self.scale_proportionally();
        }
    }

    /// Kubernetes' `FindActiveOrLatest`: the only active ReplicaSet, or the newest one when
    /// none is active; `None` when several are.
    fn active_or_latest(&self) -> Option<usize> {
        let mut olds: Vec<usize> = self.olds().collect();
        olds.sort_by(|a, b| by_creation(&self.rses[*b], &self.rses[*a]));
        let active: Vec<usize> = olds
            .iter()
            .copied()
            .chain(self.new_rs)
            .filter(|i| self.rses[*i].replicas() > 0)
            .collect();
        match active.len() {
            0 => self.new_rs.or(olds.first().copied()),
            1 => Some(active[0]),
            _ => None,
        }
    }

    /// Kubernetes' `IsSaturated`.
    fn is_saturated(&self, i: usize) -> bool {
        let rs = &self.rses[i];
        rs.int_annotation(DESIRED_REPLICAS) == Some(self.replicas)
            && rs.replicas() == self.replicas
            && rs.status("availableReplicas") == self.replicas
    }

    /// The proportional part of Kubernetes' `scale`.
    fn scale_proportionally(&mut self) {
        let mut active: Vec<usize> = self
            .olds()
            .chain(self.new_rs)
            .filter(|i| self.rses[*i].replicas() > 0)
            .collect();
        let current: i64 = active.iter().map(|i| self.rses[*i].replicas()).sum();
        let allowed = if self.replicas > 0 {
            self.replicas + self.max_surge
        } else {
            0
        };
        let to_add = allowed - current;
        let rses = &self.rses;
        match to_add.cmp(&0) {
            // Larger first; among equals the newer grows first and the older shrinks first.
            Ordering::Greater => active.sort_by(|a, b| {
                rses[*b]
                    .replicas()
                    .cmp(&rses[*a].replicas())
                    .then_with(|| by_creation(&rses[*b], &rses[*a]))
            }),
            Ordering::Less => active.sort_by(|a, b| {
                rses[*b]
                    .replicas()
                    .cmp(&rses[*a].replicas())
                    .then_with(|| by_creation(&rses[*a], &rses[*b]))
            }),
            Ordering::Equal => {}
        }
        let mut added = 0;
        let mut sizes = Vec::with_capacity(active.len());
        for &i in &active {
            let replicas = self.rses[i].replicas();
            let share = if to_add != 0 {
                self.proportion(i, to_add, added)
            } else {
                0
            };
            sizes.push(replicas + share);
            added += share;
        }
        for (k, &i) in active.iter().enumerate() {
            let mut size = sizes[k];
            if k == 0 && to_add != 0 {
                // Leftovers go to the largest ReplicaSet.
                size = (size + to_add - added).max(0);
            }
            self.scale_replica_set(i, size);
        }
    }

    /// Kubernetes' `GetProportion`.
    fn proportion(&self, i: usize, to_add: i64, added: i64) -> i64 {
        let replicas = self.rses[i].replicas();
        if replicas == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = self.fraction(i);
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// Kubernetes' `getReplicaSetFraction`: the ReplicaSet's share of the new size, in
    /// proportion to its share of the size it was scaled for (its max-replicas annotation).
    fn fraction(&self, i: usize) -> i64 {
        let rs = &self.rses[i];
        if self.replicas == 0 {
            return -rs.replicas();
        }
        let target = self.replicas + self.max_surge;
        let annotated = rs
            .int_annotation(MAX_REPLICAS)
            .unwrap_or_else(|| int_at(self.d, "/status/replicas", 0));
        if annotated <= 0 {
            return 0;
        }
        let size = (rs.replicas() as f64 * target as f64 / annotated as f64).round() as i64;
        size - rs.replicas()
    }

    /// Kubernetes' `cleanupDeployment`: old ReplicaSets beyond revisionHistoryLimit that have
    /// scaled to nothing are deleted, lowest revision first.
    pub(super) fn cleanup(&mut self) {
        let Some(limit) = self.history_limit else {
            return;
        };
        let mut cleanable: Vec<usize> = self
            .olds()
            .filter(|i| !is_deleting(&self.rses[*i].object))
            .collect();
        let surplus = cleanable
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(0));
        if surplus == 0 {
            return;
        }
        let rses = &self.rses;
        cleanable.sort_by(|a, b| {
            let revision = |rs: &Rs| rs.revision().unwrap_or(0);
            revision(&rses[*a])
                .cmp(&revision(&rses[*b]))
                .then_with(|| by_creation(&rses[*a], &rses[*b]))
        });
        for &i in cleanable.iter().take(surplus) {
            let rs = &self.rses[i];
            let observed = rs.status("observedGeneration");
            let generation = int_at(&rs.object, "/metadata/generation", 0);
            if rs.status("replicas") != 0
                || rs.replicas() != 0
                || generation > observed
                || rs.changed()
            {
                continue;
            }
            self.deletes.push(i);
        }
    }
}
