//! Consumer groups: membership with session timeouts read from the broker's
//! clock, committed offsets (kept in `__consumer_offsets` by `offsets.rs`),
//! and the operator's list/describe/reset/delete. Two group types share one
//! namespace and one offsets store:
//! - native groups (this file and `native.rs`), whose partitions the broker
//!   assigns, as Kafka's KIP-848 does;
//! - Kafka's classic groups (`classic.rs`), whose leader assigns client-side;
//!   the broker keeps their metadata and assignments as opaque bytes.
//!
//! Native protocol: a member joins and gets whatever of its target no
//! other member holds; a partition moves only once its old owner has
//! released it (revoke before assign, with per-member epochs: `native.rs`),
//! or once the old owner was removed (session expired, or its rebalance
//! timeout passed while it held revoked partitions). Members learn of a
//! change from their next heartbeat, and their waiting fetches are woken at
//! once. Fetches and commits carry the member epoch: a stale one is refused
//! (`STALE_MEMBER_EPOCH`), a commit names only partitions the member holds.
//!
//! Locking: the registry (name → group) is locked only to look a group up;
//! each group has its own lock, so work sized by one group (matching its
//! patterns, assigning its partitions, writing its commits) never holds up
//! another. Lock order: a group's lock, then the topics lock (read), then a
//! partition's locks; the member-view map is a leaf. Nothing here holds a
//! lock across an `.await`.

mod admin;
mod assign;
mod classic;
mod native;
mod types;

pub use types::MAX_GROUP_ID_LEN;

pub use types::{
    AssignmentStrategy, CommitRequest, CommittedOffset, GroupDescription, GroupListing, GroupState,
    JoinGroupRequest, MemberAssignment, MemberDescription, MemberRef, NATIVE_PROTOCOL_TYPE,
    PartitionLag, ResetTarget, Subscription, TopicPartition,
};

use super::error::BrokerError;
use super::fetch::{FetchRequest, FetchedPartition};
use super::metrics::add;
use super::offsets::{OFFSETS_TOPIC, OffsetRecord};
use super::{Broker, lock, read};
use native::{Member, MemberView, NativeGroup};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use types::Matcher;

/// One group: its members (of one type at a time) and its offsets.
#[derive(Debug, Default)]
pub(crate) struct Group {
    native: NativeGroup,
    offsets: BTreeMap<TopicPartition, CommittedOffset>,
    /// Removed from the registry: whoever still holds it looks again.
    deleted: bool,
}

impl Group {
    fn has_members(&self) -> bool {
        !self.native.members.is_empty()
    }

    fn member_count(&self) -> usize {
        self.native.members.len()
    }
}

/// Every group the broker knows.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    registry: Mutex<BTreeMap<String, Arc<Mutex<Group>>>>,
    /// What each native member may fetch, by (group, member id): fetches
    /// check it without taking the group's lock, which a commit holds while
    /// it writes.
    views: Mutex<HashMap<(String, String), watch::Receiver<MemberView>>>,
    next_member: AtomicU64,
}

impl Groups {
    /// The group named `name`, if it exists.
    fn get(&self, name: &str) -> Option<Arc<Mutex<Group>>> {
        lock(&self.registry).get(name).cloned()
    }

    /// The group named `name`, created empty if needed.
    fn get_or_create(&self, name: &str) -> Arc<Mutex<Group>> {
        Arc::clone(lock(&self.registry).entry(name.to_owned()).or_default())
    }

    /// Every group, by name.
    fn all(&self) -> Vec<(String, Arc<Mutex<Group>>)> {
        lock(&self.registry)
            .iter()
            .map(|(n, g)| (n.clone(), Arc::clone(g)))
            .collect()
    }

    pub fn apply_offset_record(&self, o: OffsetRecord) {
        let group = self.get_or_create(&o.group);
        let mut group = lock(&group);
        match o.value {
            Some(v) => {
                group.offsets.insert(o.tp, v);
            }
            None => {
                group.offsets.remove(&o.tp);
            }
        }
    }

    pub fn clear(&self) {
        for (_, g) in self.all() {
            let mut g = lock(&g);
            let ids: Vec<String> = g.native.members.keys().cloned().collect();
            for id in ids {
                g.native.remove(&id);
            }
            g.deleted = true;
        }
        lock(&self.registry).clear();
        lock(&self.views).clear();
    }

    fn publish_view(&self, group: &str, member_id: &str, view: watch::Receiver<MemberView>) {
        let mut views = lock(&self.views);
        views.retain(|_, v| !v.borrow().gone);
        views.insert((group.to_owned(), member_id.to_owned()), view);
    }

    fn view(&self, group: &str, member_id: &str) -> Option<watch::Receiver<MemberView>> {
        lock(&self.views)
            .get(&(group.to_owned(), member_id.to_owned()))
            .cloned()
    }
}

fn validate_group(group: &str) -> Result<(), BrokerError> {
    if group.is_empty() || group.len() > MAX_GROUP_ID_LEN {
        return Err(BrokerError::InvalidGroupId {
            group: group.to_owned(),
        });
    }
    Ok(())
}

fn unknown_member(group: &str, member_id: &str) -> BrokerError {
    BrokerError::UnknownMember {
        group: group.to_owned(),
        member_id: member_id.to_owned(),
    }
}

fn assignment_of(member_id: &str, m: &Member) -> MemberAssignment {
    MemberAssignment {
        member_id: member_id.to_owned(),
        member_epoch: m.epoch,
        partitions: m.assigned.iter().cloned().collect(),
    }
}

impl Broker {
    /// Topic → partition count of every client topic.
    pub(super) fn partition_counts(&self) -> BTreeMap<String, u32> {
        read(&self.shared.topics)
            .iter()
            .filter(|(n, _)| n.as_str() != OFFSETS_TOPIC)
            .map(|(n, t)| (n.clone(), t.partition_count()))
            .collect()
    }

    fn notify_groups(&self) {
        self.shared.group_events.send_modify(|v| *v += 1);
    }

    /// Runs `f` on the live group `name` under its lock, creating the
    /// group first if `create`.
    ///
    /// # Errors
    /// [`BrokerError::UnknownGroup`] without `create` if there is none, or `f`'s error.
    fn with_group<R>(
        &self,
        name: &str,
        create: bool,
        f: impl FnOnce(&mut Group) -> Result<R, BrokerError>,
    ) -> Result<R, BrokerError> {
        loop {
            let arc = if create {
                self.shared.groups.get_or_create(name)
            } else {
                self.shared
                    .groups
                    .get(name)
                    .ok_or_else(|| BrokerError::UnknownGroup {
                        group: name.to_owned(),
                    })?
            };
            let mut g = lock(&arc);
            if !g.deleted {
                return f(&mut g);
            }
        }
    }

    /// Recomputes a native group's target from fresh topic metadata and
    /// moves its members toward it; whether anything changed.
    fn rebalance_native(&self, g: &mut NativeGroup, resolve: bool) -> bool {
        let topics = self.partition_counts();
        if resolve {
            for m in g.members.values_mut() {
                m.resolved = m.matcher.resolve(&topics);
            }
        }
        let retargeted = g.retarget(&topics);
        if retargeted {
            add(&self.shared.metrics.rebalances, 1);
        }
        let moved = g.reconcile(self.shared.clock.now_ms());
        retargeted || moved
    }

    /// Expires the timed-out members of a group; whether any went.
    fn expire_group(&self, g: &mut Group) -> bool {
        let now = self.shared.clock.now_ms();
        if g.native.expire(now) > 0 {
            self.rebalance_native(&mut g.native, false);
            true
        } else {
            false
        }
    }

    /// Removes members of every group whose session (or rebalance) timed
    /// out on the broker's clock, rebalancing their groups. Returns how many
    /// went. Group calls expire their own group first, so only idle groups
    /// need this.
    pub fn expire_sessions(&self) -> usize {
        let now = self.shared.clock.now_ms();
        let mut expired = 0;
        for (_, g) in self.shared.groups.all() {
            let mut g = lock(&g);
            let n = g.native.expire(now);
            if n > 0 {
                expired += n;
                self.rebalance_native(&mut g.native, false);
            }
        }
        lock(&self.shared.groups.views).retain(|_, v| !v.borrow().gone);
        if expired > 0 {
            self.notify_groups();
        }
        expired
    }

    /// Rebalances every group whose assignment changes because topics or
    /// partitions appeared or went. Each group's patterns are matched under
    /// that group's lock only.
    pub(crate) fn topics_changed(&self) {
        let mut changed = false;
        for (_, g) in self.shared.groups.all() {
            let mut g = lock(&g);
            if g.native.members.is_empty() {
                continue;
            }
            changed |= self.rebalance_native(&mut g.native, true);
        }
        if changed {
            self.notify_groups();
        }
    }

    /// Joins a native group as a new member (or rejoins with `member_id`).
    /// The member gets at once the partitions of its target that no other
    /// member holds; the rest come once their owners released them.
    ///
    /// # Errors
    /// [`BrokerError::InvalidGroupId`], [`BrokerError::InvalidSessionTimeout`],
    /// [`BrokerError::InvalidPattern`] for a pattern that is not a valid
    /// regular expression, [`BrokerError::UnknownMember`] when rejoining
    /// with an id the group does not know (expired or left: join anew),
    /// [`BrokerError::InconsistentGroupProtocol`] if the group is a classic
    /// group with members, [`BrokerError::Closed`].
    pub fn join_group(&self, request: JoinGroupRequest) -> Result<MemberAssignment, BrokerError> {
        self.check_open()?;
        validate_group(&request.group)?;
        // Compiled before any lock is taken: a pattern is user input.
        let matcher = Matcher::new(&request.subscription)?;
        let cfg = &self.shared.config.group;
        let timeout = request
            .session_timeout_ms
            .unwrap_or(cfg.default_session_timeout_ms);
        if !(cfg.min_session_timeout_ms..=cfg.max_session_timeout_ms).contains(&timeout) {
            return Err(BrokerError::InvalidSessionTimeout {
                requested_ms: timeout,
                min_ms: cfg.min_session_timeout_ms,
                max_ms: cfg.max_session_timeout_ms,
            });
        }
        let rebalance_timeout = request.rebalance_timeout_ms.unwrap_or(timeout).max(1);
        let now = self.shared.clock.now_ms();
        let group = request.group.clone();
        let (answer, view) = self.with_group(&group, true, |g| {
            self.check_native(&group, g)?;
            self.expire_group(g);
            g.native.strategy = request.strategy;
            let member_id = match request.member_id {
                Some(id) => {
                    let m = g
                        .native
                        .members
                        .get_mut(&id)
                        .ok_or_else(|| unknown_member(&group, &id))?;
                    m.last_heartbeat_ms = now;
                    m.session_timeout_ms = timeout;
                    m.rebalance_timeout_ms = rebalance_timeout;
                    let resubscribed = m.subscription != request.subscription;
                    m.subscription = request.subscription;
                    m.matcher = matcher;
                    self.rebalance_native(&mut g.native, resubscribed);
                    id
                }
                None => {
                    let seq = self
                        .shared
                        .groups
                        .next_member
                        .fetch_add(1, Ordering::Relaxed);
                    // The open time keeps ids unique across restarts of the broker.
                    let id = format!("{}-{:x}-{seq}", request.client_id, self.shared.opened_ms);
                    let member = Member::new(
                        request.client_id,
                        request.client_host,
                        (request.subscription, matcher),
                        timeout,
                        rebalance_timeout,
                        now,
                    );
                    g.native.members.insert(id.clone(), member);
                    self.rebalance_native(&mut g.native, true);
                    id
                }
            };
            let m = &g.native.members[&member_id];
            Ok((assignment_of(&member_id, m), m.view.subscribe()))
        })?;
        self.shared
            .groups
            .publish_view(&group, &answer.member_id, view);
        self.notify_groups();
        Ok(answer)
    }

    /// Refuses native calls on a classic group that has members.
    fn check_native(&self, group: &str, g: &Group) -> Result<(), BrokerError> {
        let _ = (group, g);
        Ok(())
    }

    /// Keeps a member's session alive and returns its current epoch and
    /// partitions. `member_epoch` is the epoch whose assignment the member
    /// runs now: when it is the member's current epoch, the partitions
    /// that epoch took away are released to their new owners.
    ///
    /// # Errors
    /// [`BrokerError::UnknownMember`] if it left or its session expired
    /// (join anew), [`BrokerError::UnknownGroup`], [`BrokerError::Closed`].
    pub fn heartbeat(
        &self,
        group: &str,
        member_id: &str,
        member_epoch: i32,
    ) -> Result<MemberAssignment, BrokerError> {
        self.check_open()?;
        let (answer, changed) = self.with_group(group, false, |g| {
            let expired = self.expire_group(g);
            let now = self.shared.clock.now_ms();
            let settled = g.native.settled();
            let m = g
                .native
                .members
                .get_mut(member_id)
                .ok_or_else(|| unknown_member(group, member_id))?;
            m.last_heartbeat_ms = now;
            let before = (settled, m.epoch);
            g.native.acknowledge(member_id, member_epoch);
            let moved = g.native.reconcile(now);
            let m = &g.native.members[member_id];
            let changed = expired || moved || before != (g.native.settled(), m.epoch);
            Ok((assignment_of(member_id, m), changed))
        })?;
        if changed {
            self.notify_groups();
        }
        Ok(answer)
    }

    /// Leaves a group; the others rebalance.
    ///
    /// # Errors
    /// [`BrokerError::UnknownGroup`], [`BrokerError::UnknownMember`].
    pub fn leave_group(&self, group: &str, member_id: &str) -> Result<(), BrokerError> {
        self.check_open()?;
        self.with_group(group, false, |g| {
            if !g.native.remove(member_id) {
                return Err(unknown_member(group, member_id));
            }
            self.rebalance_native(&mut g.native, false);
            Ok(())
        })?;
        self.notify_groups();
        Ok(())
    }

    /// Checks that `member` may fetch every partition of `request` now;
    /// returns the member's view, whose change means a rebalance.
    fn fence_fetch(
        &self,
        member: &MemberRef,
        request: &FetchRequest,
    ) -> Result<watch::Receiver<MemberView>, BrokerError> {
        let mut view = self
            .shared
            .groups
            .view(&member.group, &member.member_id)
            .ok_or_else(|| unknown_member(&member.group, &member.member_id))?;
        let now = view.borrow_and_update().clone();
        if now.gone {
            return Err(unknown_member(&member.group, &member.member_id));
        }
        if now.epoch != member.member_epoch {
            return Err(BrokerError::StaleMemberEpoch {
                group: member.group.clone(),
                member_id: member.member_id.clone(),
                epoch: member.member_epoch,
                current: now.epoch,
            });
        }
        if let Some(fp) = request.partitions.iter().find(|fp| {
            !now.assigned
                .contains(&TopicPartition::new(fp.topic.clone(), fp.partition))
        }) {
            return Err(BrokerError::NotAssigned {
                group: member.group.clone(),
                member_id: member.member_id.clone(),
                topic: fp.topic.clone(),
                partition: fp.partition,
            });
        }
        Ok(view)
    }

    /// [`Broker::fetch_now`] on behalf of a native group member: refused
    /// unless `member` runs its current epoch and owns every partition asked for.
    ///
    /// # Errors
    /// [`BrokerError::UnknownMember`], [`BrokerError::StaleMemberEpoch`]
    /// (heartbeat to learn the new epoch), [`BrokerError::NotAssigned`].
    pub fn fetch_now_as_member(
        &self,
        member: &MemberRef,
        request: &FetchRequest,
    ) -> Result<Vec<FetchedPartition>, BrokerError> {
        self.fence_fetch(member, request)?;
        Ok(self.fetch_now(request))
    }

    /// [`Broker::fetch`] on behalf of a native group member, fenced as
    /// [`Broker::fetch_now_as_member`]. The wait also ends, with
    /// [`BrokerError::RebalanceInProgress`], as soon as the member's
    /// assignment changes (partitions to give up or to take), so a member
    /// learns of a rebalance at once. With no partitions it just waits for
    /// that, up to `max_wait`.
    ///
    /// # Errors
    /// As [`Broker::fetch_now_as_member`], and [`BrokerError::RebalanceInProgress`].
    pub async fn fetch_as_member(
        &self,
        member: &MemberRef,
        request: FetchRequest,
    ) -> Result<Vec<FetchedPartition>, BrokerError> {
        let mut view = self.fence_fetch(member, &request)?;
        let rebalance = || BrokerError::RebalanceInProgress {
            group: member.group.clone(),
        };
        if request.partitions.is_empty() {
            return match tokio::time::timeout(request.max_wait, view.changed()).await {
                Ok(_) => Err(rebalance()),
                Err(_) => Ok(Vec::new()),
            };
        }
        tokio::select! {
            r = self.fetch(request) => Ok(r),
            _ = view.changed() => Err(rebalance()),
        }
    }

    /// Commits offsets for a group. With a member id, the epoch must be the
    /// member's current one and every partition one it holds (including
    /// partitions it was asked to give up and has not released yet: their
    /// progress can still be saved); without, the group must have no members
    /// (a standalone consumer, Kafka's simple commit).
    ///
    /// # Errors
    /// [`BrokerError::UnknownMember`] (fenced: expired or left),
    /// [`BrokerError::StaleMemberEpoch`] (heartbeat to learn the new one),
    /// [`BrokerError::NotAssigned`], [`BrokerError::IllegalGeneration`]
    /// (a member-less commit while the group has members),
    /// [`BrokerError::InvalidGroupId`], or a log error writing `__consumer_offsets`.
    pub fn commit_offsets(&self, request: CommitRequest) -> Result<(), BrokerError> {
        self.check_open()?;
        validate_group(&request.group)?;
        let group = request.group.as_str();
        let now = self.shared.clock.now_ms();
        self.with_group(group, true, |g| {
            self.expire_group(g);
            let generation = match &request.member_id {
                Some(id) => {
                    let m = g
                        .native
                        .members
                        .get(id)
                        .ok_or_else(|| unknown_member(group, id))?;
                    if request.generation != m.epoch {
                        return Err(BrokerError::StaleMemberEpoch {
                            group: group.to_owned(),
                            member_id: id.clone(),
                            epoch: request.generation,
                            current: m.epoch,
                        });
                    }
                    if let Some((tp, _)) =
                        request.offsets.iter().find(|(tp, _)| !m.held.contains(tp))
                    {
                        return Err(BrokerError::NotAssigned {
                            group: group.to_owned(),
                            member_id: id.clone(),
                            topic: tp.topic.clone(),
                            partition: tp.partition,
                        });
                    }
                    m.epoch
                }
                None if g.has_members() => {
                    return Err(BrokerError::IllegalGeneration {
                        group: group.to_owned(),
                        generation: -1,
                        current: g.native.epoch,
                    });
                }
                None => -1,
            };
            self.write_commit(
                group,
                g,
                &request.offsets,
                &request.metadata,
                generation,
                now,
            )
        })?;
        self.notify_groups();
        Ok(())
    }

    /// Writes `offsets` to `__consumer_offsets` and the group's map, under
    /// the group's lock so the log's order is the map's.
    fn write_commit(
        &self,
        group: &str,
        g: &mut Group,
        offsets: &[(TopicPartition, i64)],
        metadata: &str,
        generation: i32,
        now: i64,
    ) -> Result<(), BrokerError> {
        let entries: Vec<(TopicPartition, Option<CommittedOffset>)> = offsets
            .iter()
            .map(|(tp, offset)| {
                (
                    tp.clone(),
                    Some(CommittedOffset {
                        offset: *offset,
                        metadata: metadata.to_owned(),
                        commit_timestamp_ms: now,
                        generation,
                    }),
                )
            })
            .collect();
        self.write_offsets(group, &entries)?;
        for (tp, v) in entries {
            g.offsets.insert(tp, v.expect("commits carry a value"));
        }
        Ok(())
    }

    /// A group's committed offsets (empty for an unknown group).
    pub fn fetch_offsets(&self, group: &str) -> BTreeMap<TopicPartition, CommittedOffset> {
        match self.shared.groups.get(group) {
            Some(g) => lock(&g).offsets.clone(),
            None => BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{BrokerConfig, StorageConfig, TopicConfig};
    use std::time::Duration;

    fn broker() -> Broker {
        Broker::open(BrokerConfig::with_storage(StorageConfig::Memory)).unwrap()
    }

    /// The pattern, as a regex: a backtracking matcher needs seconds
    /// for a 44-character name; this one is linear.
    const PATHOLOGICAL: &str = ".*a.*a.*a.*a.*a.*a.*a.*a.*b";

    #[test]
    fn a_pathological_pattern_resolves_correctly_and_the_glob_form_is_refused() {
        let b = broker();
        let miss = "a".repeat(44);
        let hit = format!("{}b", "a".repeat(43));
        for name in [&miss, &hit] {
            b.create_topic(name, TopicConfig::default()).unwrap();
        }
        let m = b
            .join_group(JoinGroupRequest::new(
                "g",
                Subscription::Pattern(PATHOLOGICAL.into()),
            ))
            .unwrap();
        assert_eq!(m.partitions, vec![TopicPartition::new(hit, 0)]);
        // The glob spelling is not a regex: a clear error, not a slow match.
        let err = b
            .join_group(JoinGroupRequest::new(
                "g2",
                Subscription::Pattern("*a*a*a*a*a*a*a*a*b".into()),
            ))
            .unwrap_err();
        assert!(matches!(err, BrokerError::InvalidPattern { .. }), "{err:?}");
    }

    #[test]
    fn a_group_busy_under_its_lock_does_not_block_another_groups_join() {
        let b = broker();
        b.create_topic("t", TopicConfig::default()).unwrap();
        b.join_group(JoinGroupRequest::new(
            "busy",
            Subscription::Pattern(PATHOLOGICAL.into()),
        ))
        .unwrap();
        // Hold the busy group's lock, as a long match or assignment would.
        let busy = b.shared.groups.get("busy").unwrap();
        let held = lock(&busy);
        let (tx, rx) = std::sync::mpsc::channel();
        let other = b.clone();
        std::thread::spawn(move || {
            let r = other.join_group(JoinGroupRequest::new("other", Subscription::topic("t")));
            tx.send(r.map(|m| m.partitions.len())).unwrap();
        });
        let joined = rx.recv_timeout(Duration::from_secs(30));
        assert_eq!(joined.unwrap().unwrap(), 1, "the other group joined");
        // Listing reaches the busy group only once it is free.
        drop(held);
        assert_eq!(b.list_groups().len(), 2);
    }
}
