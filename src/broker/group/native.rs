//! The state machine of a native (broker-assigned) group, pure: members
//! with per-member epochs, the target assignment the assignors compute, and
//! the revoke-before-assign reconciliation that moves each member toward
//! its target (as KIP-848 reconciles). No locks, no clock, no I/O: the
//! coordinator in `mod.rs` passes the time in and publishes what changed.
//!
//! Each member has three sets of partitions:
//! - `target`: what the assignor wants it to own;
//! - `assigned`: what the broker has told it to own at its current epoch;
//! - `held`: `assigned` plus what it was told to give up but has not yet
//!   acknowledged giving up. Nobody else is assigned a partition while a
//!   member holds it.
//!
//! A member acknowledges by heartbeating with its current epoch, which it
//! does only once it stopped reading the revoked partitions. So a partition
//! moves only after its old owner released it, or after the old owner was
//! removed (session expired, rebalance timeout passed while it held
//! revoked partitions, or it left).

use super::assign::{self, Assignment, Subscriptions};
use super::types::Matcher;
use super::{AssignmentStrategy, Subscription, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::watch;

/// What a member may read now, published to its fetches (which wake when
/// it changes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MemberView {
    /// The member epoch.
    pub epoch: i32,
    /// Partitions assigned at that epoch.
    pub assigned: Arc<BTreeSet<TopicPartition>>,
    /// The member left or was removed.
    pub gone: bool,
}

#[derive(Debug)]
pub(crate) struct Member {
    pub client_id: String,
    pub client_host: String,
    pub subscription: Subscription,
    /// The subscription, compiled.
    pub matcher: Matcher,
    /// The topics the subscription names among those that exist.
    pub resolved: BTreeSet<String>,
    pub session_timeout_ms: i64,
    pub rebalance_timeout_ms: i64,
    pub last_heartbeat_ms: i64,
    pub epoch: i32,
    pub assigned: BTreeSet<TopicPartition>,
    pub held: BTreeSet<TopicPartition>,
    /// When the member was first asked to give up partitions it still holds.
    pub revoking_since_ms: Option<i64>,
    /// Wakes the member's waiting fetches when its epoch changes.
    pub view: watch::Sender<MemberView>,
}

impl Member {
    pub fn new(
        client_id: String,
        client_host: String,
        (subscription, matcher): (Subscription, Matcher),
        session_timeout_ms: i64,
        rebalance_timeout_ms: i64,
        now: i64,
    ) -> Member {
        Member {
            client_id,
            client_host,
            subscription,
            matcher,
            resolved: BTreeSet::new(),
            session_timeout_ms,
            rebalance_timeout_ms,
            last_heartbeat_ms: now,
            epoch: 0,
            assigned: BTreeSet::new(),
            held: BTreeSet::new(),
            revoking_since_ms: None,
            view: watch::channel(MemberView::default()).0,
        }
    }

    /// Publishes the member's epoch and partitions to its fetches.
    fn publish(&self) {
        self.view.send_replace(MemberView {
            epoch: self.epoch,
            assigned: Arc::new(self.assigned.clone()),
            gone: false,
        });
    }

    /// Whether the member's session or its rebalance timeout ran out.
    fn timed_out(&self, now: i64) -> bool {
        now.saturating_sub(self.last_heartbeat_ms) > self.session_timeout_ms
            || self
                .revoking_since_ms
                .is_some_and(|t| now.saturating_sub(t) > self.rebalance_timeout_ms)
    }
}

/// A native group's members and assignment.
#[derive(Debug, Default)]
pub(crate) struct NativeGroup {
    /// Bumped whenever the target assignment changes.
    pub epoch: i32,
    pub strategy: AssignmentStrategy,
    pub members: BTreeMap<String, Member>,
    pub target: Assignment,
}

impl NativeGroup {
    /// Whether every member owns exactly its target and has said so.
    pub fn settled(&self) -> bool {
        self.members.iter().all(|(id, m)| {
            let target: BTreeSet<&TopicPartition> = self
                .target
                .get(id)
                .map(|t| t.iter().collect())
                .unwrap_or_default();
            m.held == m.assigned && m.assigned.iter().collect::<BTreeSet<_>>() == target
        })
    }

    /// Recomputes the target assignment from the members' resolved
    /// subscriptions; bumps the group epoch if it changed. Whether it did.
    pub fn retarget(&mut self, topics: &BTreeMap<String, u32>) -> bool {
        let subs: Subscriptions = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.resolved.clone()))
            .collect();
        let counts: BTreeMap<String, u32> = topics
            .iter()
            .filter(|(t, _)| subs.values().any(|s| s.contains(*t)))
            .map(|(t, &n)| (t.clone(), n))
            .collect();
        let target = assign::assign(self.strategy, &subs, &counts, &self.target);
        if target == self.target {
            return false;
        }
        self.target = target;
        self.epoch += 1;
        true
    }

    /// Moves every member toward its target: first takes away what it must
    /// give up, then grants what no other member holds. A member whose
    /// assignment changes gets a new epoch and is woken. Returns whether
    /// any did.
    pub fn reconcile(&mut self, now: i64) -> bool {
        let mut changed = BTreeSet::new();
        for (id, m) in &mut self.members {
            let target: BTreeSet<TopicPartition> = self
                .target
                .get(id)
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            let kept: BTreeSet<TopicPartition> =
                m.assigned.intersection(&target).cloned().collect();
            if kept != m.assigned {
                m.assigned = kept;
                changed.insert(id.clone());
            }
            if m.held != m.assigned {
                m.revoking_since_ms.get_or_insert(now);
            }
        }
        let held: BTreeMap<TopicPartition, String> = self
            .members
            .iter()
            .flat_map(|(id, m)| m.held.iter().map(move |tp| (tp.clone(), id.clone())))
            .collect();
        for (id, m) in &mut self.members {
            let Some(target) = self.target.get(id) else {
                continue;
            };
            for tp in target {
                let free = held.get(tp).is_none_or(|owner| owner == id);
                if free && !m.assigned.contains(tp) {
                    m.assigned.insert(tp.clone());
                    m.held.insert(tp.clone());
                    changed.insert(id.clone());
                }
            }
        }
        for id in &changed {
            if let Some(m) = self.members.get_mut(id) {
                m.epoch += 1;
                m.publish();
            }
        }
        !changed.is_empty()
    }

    /// Records that `member_id` runs at `epoch`: if that is its current
    /// epoch, what it was asked to give up is released.
    pub fn acknowledge(&mut self, member_id: &str, epoch: i32) {
        if let Some(m) = self.members.get_mut(member_id)
            && m.epoch == epoch
            && m.held != m.assigned
        {
            m.held = m.assigned.clone();
            m.revoking_since_ms = None;
        }
    }

    /// Removes a member, waking its fetches.
    pub fn remove(&mut self, member_id: &str) -> bool {
        match self.members.remove(member_id) {
            Some(m) => {
                m.view.send_modify(|v| v.gone = true);
                true
            }
            None => false,
        }
    }

    /// Removes members whose session or rebalance timeout ran out; how many.
    pub fn expire(&mut self, now: i64) -> usize {
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.timed_out(now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.remove(id);
        }
        gone.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(partitions: u32, members: &[&str]) -> (NativeGroup, BTreeMap<String, u32>) {
        let topics: BTreeMap<String, u32> = [("t".to_owned(), partitions)].into_iter().collect();
        let mut g = NativeGroup::default();
        for id in members {
            add(&mut g, id);
        }
        g.retarget(&topics);
        g.reconcile(0);
        (g, topics)
    }

    fn add(g: &mut NativeGroup, id: &str) {
        let mut m = Member::new(
            id.into(),
            String::new(),
            (
                Subscription::topic("t"),
                Matcher::new(&Subscription::topic("t")).unwrap(),
            ),
            10_000,
            10_000,
            0,
        );
        m.resolved.insert("t".into());
        g.members.insert(id.into(), m);
    }

    fn holders(g: &NativeGroup) -> BTreeMap<TopicPartition, usize> {
        let mut out = BTreeMap::new();
        for m in g.members.values() {
            for tp in &m.held {
                *out.entry(tp.clone()).or_default() += 1;
            }
        }
        out
    }

    #[test]
    fn a_new_member_gets_partitions_only_after_their_owner_acknowledges() {
        let (mut g, topics) = group(4, &["a"]);
        assert_eq!(g.members["a"].assigned.len(), 4);
        let a_epoch = g.members["a"].epoch;
        add(&mut g, "b");
        assert!(g.retarget(&topics));
        g.reconcile(5);
        // `a` is told to give two up, `b` gets nothing yet.
        assert_eq!(g.members["a"].assigned.len(), 2);
        assert_eq!(g.members["a"].held.len(), 4);
        assert!(g.members["a"].epoch > a_epoch);
        assert!(g.members["b"].assigned.is_empty());
        assert!(holders(&g).values().all(|&n| n == 1));
        // An acknowledgement of an older epoch releases nothing.
        g.acknowledge("a", a_epoch);
        g.reconcile(6);
        assert!(g.members["b"].assigned.is_empty());
        let now_a = g.members["a"].epoch;
        g.acknowledge("a", now_a);
        assert!(g.reconcile(7));
        assert_eq!(g.members["b"].assigned.len(), 2);
        assert!(holders(&g).values().all(|&n| n == 1));
        assert!(g.settled());
    }

    #[test]
    fn a_member_holding_revoked_partitions_past_its_rebalance_timeout_is_removed() {
        let (mut g, topics) = group(2, &["a"]);
        add(&mut g, "b");
        g.retarget(&topics);
        g.reconcile(1_000);
        g.members.get_mut("a").unwrap().last_heartbeat_ms = 11_001;
        g.members.get_mut("b").unwrap().last_heartbeat_ms = 11_001;
        assert_eq!(g.expire(11_001), 1);
        assert!(!g.members.contains_key("a"));
        g.retarget(&topics);
        g.reconcile(11_000);
        assert_eq!(g.members["b"].assigned.len(), 2);
    }
}
