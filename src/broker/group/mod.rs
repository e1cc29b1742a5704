//! Consumer groups (docs/design.md §6): membership with session timeouts read from
//! the broker's clock, broker-side assignment, generations that fence
//! stale members, committed offsets (kept in `__consumer_offsets` by
//! `offsets.rs`), and the operator's list/describe/reset/delete.
//!
//! Protocol, close to KIP-848: a member joins and gets its assignment at
//! once; every membership or partition change recomputes the assignment
//! and bumps the generation; the other members learn theirs from their
//! next heartbeat. A commit must carry the current generation and name only
//! partitions the member owns in it, so a member that missed a rebalance
//! can never overwrite the new owner's offsets. The assignment is eager
//! (no revocation round): a moved partition may briefly be read by both
//! owners, which at-least-once delivery allows.
//!
//! Lock order: the groups lock, then the topics lock (read), then a
//! partition's locks. Nothing here holds a lock across an `.await`.

mod assign;
mod types;

pub use types::MAX_GROUP_ID_LEN;

pub use types::{
    AssignmentStrategy, CommitRequest, CommittedOffset, GroupDescription, GroupListing, GroupState,
    JoinGroupRequest, MemberAssignment, MemberDescription, PartitionLag, ResetTarget, Subscription,
    TopicPartition,
};

use super::error::BrokerError;
use super::fetch::OffsetSpec;
use super::metrics::{GroupCounters, add};
use super::offsets::{OFFSETS_TOPIC, OffsetRecord};
use super::{Broker, lock, read};
use assign::{Assignment, Subscriptions};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug)]
struct Member {
    client_id: String,
    client_host: String,
    subscription: Subscription,
    session_timeout_ms: i64,
    last_heartbeat_ms: i64,
    acked_generation: i32,
}

#[derive(Debug, Default)]
pub(crate) struct Group {
    generation: i32,
    strategy: AssignmentStrategy,
    members: BTreeMap<String, Member>,
    assignment: Assignment,
    offsets: BTreeMap<TopicPartition, CommittedOffset>,
}

impl Group {
    fn state(&self) -> GroupState {
        if self.members.is_empty() {
            GroupState::Empty
        } else if self
            .members
            .values()
            .all(|m| m.acked_generation == self.generation)
        {
            GroupState::Stable
        } else {
            GroupState::Rebalancing
        }
    }

    fn assignment_of(&self, member_id: &str) -> Vec<TopicPartition> {
        self.assignment.get(member_id).cloned().unwrap_or_default()
    }

    fn compute(&self, topics: &BTreeMap<String, u32>) -> Assignment {
        let subs: Subscriptions = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.subscription.resolve(topics)))
            .collect();
        assign::assign(self.strategy, &subs, topics, &self.assignment)
    }

    /// Recomputes the assignment and bumps the generation.
    fn rebalance(&mut self, topics: &BTreeMap<String, u32>) {
        self.assignment = self.compute(topics);
        self.generation += 1;
    }

    /// Removes members whose session ran out; whether any was.
    fn expire(&mut self, now: i64) -> bool {
        let before = self.members.len();
        self.members
            .retain(|_, m| now.saturating_sub(m.last_heartbeat_ms) <= m.session_timeout_ms);
        self.members.len() != before
    }
}

/// Every group the broker knows.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    groups: BTreeMap<String, Group>,
    next_member: u64,
}

impl Groups {
    /// The live state of `group`.
    ///
    /// # Errors
    /// [`BrokerError::UnknownGroup`] if there is none.
    fn get_mut(&mut self, group: &str) -> Result<&mut Group, BrokerError> {
        self.groups
            .get_mut(group)
            .ok_or_else(|| BrokerError::UnknownGroup {
                group: group.to_owned(),
            })
    }

    pub fn apply_offset_record(&mut self, o: OffsetRecord) {
        let group = self.groups.entry(o.group).or_default();
        match o.value {
            Some(v) => {
                group.offsets.insert(o.tp, v);
            }
            None => {
                group.offsets.remove(&o.tp);
            }
        }
    }

    pub fn clear(&mut self) {
        self.groups.clear();
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

impl Broker {
    /// Topic → partition count of every client topic.
    fn partition_counts(&self) -> BTreeMap<String, u32> {
        read(&self.shared.topics)
            .iter()
            .filter(|(n, _)| n.as_str() != OFFSETS_TOPIC)
            .map(|(n, t)| (n.clone(), t.partition_count()))
            .collect()
    }

    fn notify_groups(&self) {
        self.shared.group_events.send_modify(|v| *v += 1);
    }

    fn rebalance(&self, g: &mut Group, topics: &BTreeMap<String, u32>) {
        g.rebalance(topics);
        add(&self.shared.metrics.rebalances, 1);
    }

    /// Expires `group`'s timed-out members and rebalances if any went.
    fn expire_locked(&self, g: &mut Group) -> bool {
        if g.expire(self.shared.clock.now_ms()) {
            let topics = self.partition_counts();
            self.rebalance(g, &topics);
            true
        } else {
            false
        }
    }

    /// Removes members of every group whose session timed out on the
    /// broker's clock, rebalancing their groups. Returns how many went.
    /// Group calls expire their own group first, so only idle groups need this.
    pub fn expire_sessions(&self) -> usize {
        let mut groups = lock(&self.shared.groups);
        let now = self.shared.clock.now_ms();
        let mut expired = 0;
        let mut topics = None;
        for g in groups.groups.values_mut() {
            let before = g.members.len();
            if g.expire(now) {
                expired += before - g.members.len();
                let topics = topics.get_or_insert_with(|| self.partition_counts());
                self.rebalance(g, topics);
            }
        }
        drop(groups);
        if expired > 0 {
            self.notify_groups();
        }
        expired
    }

    /// Rebalances every group whose assignment changes because topics or
    /// partitions appeared or went.
    pub(crate) fn topics_changed(&self) {
        let topics = self.partition_counts();
        let mut changed = false;
        for g in lock(&self.shared.groups).groups.values_mut() {
            if !g.members.is_empty() && g.compute(&topics) != g.assignment {
                self.rebalance(g, &topics);
                changed = true;
            }
        }
        if changed {
            self.notify_groups();
        }
    }

    /// Joins a group as a new member (or rejoins with `member_id`): the group
    /// rebalances and the member gets its partitions at once.
    ///
    /// # Errors
    /// [`BrokerError::InvalidGroupId`], [`BrokerError::InvalidSessionTimeout`],
    /// [`BrokerError::UnknownMember`] when rejoining with an id the group
    /// does not know (expired or left: join anew), [`BrokerError::Closed`].
    pub fn join_group(&self, request: JoinGroupRequest) -> Result<MemberAssignment, BrokerError> {
        self.check_open()?;
        validate_group(&request.group)?;
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
        let now = self.shared.clock.now_ms();
        let mut groups = lock(&self.shared.groups);
        let seq = groups.next_member;
        groups.next_member += 1;
        let g = groups.groups.entry(request.group.clone()).or_default();
        self.expire_locked(g);
        g.strategy = request.strategy;
        let member_id = match request.member_id {
            Some(id) => {
                let m = g
                    .members
                    .get_mut(&id)
                    .ok_or_else(|| unknown_member(&request.group, &id))?;
                m.last_heartbeat_ms = now;
                m.session_timeout_ms = timeout;
                if m.subscription != request.subscription {
                    m.subscription = request.subscription;
                    let topics = self.partition_counts();
                    self.rebalance(g, &topics);
                }
                id
            }
            None => {
                // The open time keeps ids unique across restarts of the broker.
                let id = format!("{}-{:x}-{seq}", request.client_id, self.shared.opened_ms);
                g.members.insert(
                    id.clone(),
                    Member {
                        client_id: request.client_id,
                        client_host: request.client_host,
                        subscription: request.subscription,
                        session_timeout_ms: timeout,
                        last_heartbeat_ms: now,
                        acked_generation: -1,
                    },
                );
                let topics = self.partition_counts();
                self.rebalance(g, &topics);
                id
            }
        };
        let generation = g.generation;
        if let Some(m) = g.members.get_mut(&member_id) {
            m.acked_generation = generation;
        }
        let partitions = g.assignment_of(&member_id);
        drop(groups);
        self.notify_groups();
        Ok(MemberAssignment {
            member_id,
            generation,
            partitions,
        })
    }

    /// Keeps a member's session alive and returns its current generation
    /// and partitions (which change after a rebalance).
    ///
    /// # Errors
    /// [`BrokerError::UnknownMember`] if it left or its session expired
    /// (join anew), [`BrokerError::UnknownGroup`], [`BrokerError::Closed`].
    pub fn heartbeat(&self, group: &str, member_id: &str) -> Result<MemberAssignment, BrokerError> {
        self.check_open()?;
        let mut groups = lock(&self.shared.groups);
        let g = groups.get_mut(group)?;
        let expired = self.expire_locked(g);
        let generation = g.generation;
        let m = g
            .members
            .get_mut(member_id)
            .ok_or_else(|| unknown_member(group, member_id))?;
        m.last_heartbeat_ms = self.shared.clock.now_ms();
        let acked = m.acked_generation != generation;
        m.acked_generation = generation;
        let partitions = g.assignment_of(member_id);
        drop(groups);
        if expired || acked {
            self.notify_groups();
        }
        Ok(MemberAssignment {
            member_id: member_id.to_owned(),
            generation,
            partitions,
        })
    }

    /// Leaves a group; the others rebalance.
    ///
    /// # Errors
    /// [`BrokerError::UnknownGroup`], [`BrokerError::UnknownMember`].
    pub fn leave_group(&self, group: &str, member_id: &str) -> Result<(), BrokerError> {
        self.check_open()?;
        let mut groups = lock(&self.shared.groups);
        let g = groups.get_mut(group)?;
        if g.members.remove(member_id).is_none() {
            return Err(unknown_member(group, member_id));
        }
        let topics = self.partition_counts();
        self.rebalance(g, &topics);
        drop(groups);
        self.notify_groups();
        Ok(())
    }

    /// Commits offsets for a group. With a member id, the generation must be
    /// the group's current one and every partition the member's; without,
    /// the group must have no members (a standalone consumer).
    ///
    /// # Errors
    /// [`BrokerError::UnknownMember`] (fenced: expired or left),
    /// [`BrokerError::IllegalGeneration`] (a rebalance happened since),
    /// [`BrokerError::NotAssigned`], [`BrokerError::InvalidGroupId`], or a
    /// log error writing `__consumer_offsets`.
    pub fn commit_offsets(&self, request: CommitRequest) -> Result<(), BrokerError> {
        self.check_open()?;
        validate_group(&request.group)?;
        let group = request.group.as_str();
        let now = self.shared.clock.now_ms();
        let mut groups = lock(&self.shared.groups);
        let g = groups.groups.entry(group.to_owned()).or_default();
        self.expire_locked(g);
        let generation = match &request.member_id {
            Some(id) => {
                if !g.members.contains_key(id) {
                    return Err(unknown_member(group, id));
                }
                if request.generation != g.generation {
                    return Err(BrokerError::IllegalGeneration {
                        group: group.to_owned(),
                        generation: request.generation,
                        current: g.generation,
                    });
                }
                let owned = g.assignment.get(id);
                if let Some((tp, _)) = request
                    .offsets
                    .iter()
                    .find(|(tp, _)| !owned.is_some_and(|o| o.contains(tp)))
                {
                    return Err(BrokerError::NotAssigned {
                        group: group.to_owned(),
                        member_id: id.clone(),
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                    });
                }
                g.generation
            }
            None if !g.members.is_empty() => {
                return Err(BrokerError::IllegalGeneration {
                    group: group.to_owned(),
                    generation: -1,
                    current: g.generation,
                });
            }
            None => -1,
        };
        let entries: Vec<(TopicPartition, Option<CommittedOffset>)> = request
            .offsets
            .iter()
            .map(|(tp, offset)| {
                (
                    tp.clone(),
                    Some(CommittedOffset {
                        offset: *offset,
                        metadata: request.metadata.clone(),
                        commit_timestamp_ms: now,
                        generation,
                    }),
                )
            })
            .collect();
        // Written under the groups lock so the log's order is the map's.
        self.write_offsets(group, &entries)?;
        for (tp, v) in entries {
            g.offsets.insert(tp, v.expect("commits carry a value"));
        }
        drop(groups);
        self.notify_groups();
        Ok(())
    }

    /// A group's committed offsets (empty for an unknown group).
    pub fn fetch_offsets(&self, group: &str) -> BTreeMap<TopicPartition, CommittedOffset> {
        lock(&self.shared.groups)
            .groups
            .get(group)
            .map(|g| g.offsets.clone())
            .unwrap_or_default()
    }

    /// Every group with its state and member count.
    pub fn list_groups(&self) -> Vec<GroupListing> {
        let mut groups = lock(&self.shared.groups);
        let now = self.shared.clock.now_ms();
        let topics = self.partition_counts();
        groups
            .groups
            .iter_mut()
            .map(|(name, g)| {
                if g.expire(now) {
                    g.rebalance(&topics);
                }
                GroupListing {
                    group: name.clone(),
                    state: g.state(),
                    members: g.members.len(),
                }
            })
            .collect()
    }

    /// A group's members, assignment, and per partition its committed
    /// offset, high watermark and lag.
    ///
    /// # Errors
    /// [`BrokerError::UnknownGroup`].
    pub fn describe_group(&self, group: &str) -> Result<GroupDescription, BrokerError> {
        let mut groups = lock(&self.shared.groups);
        let g = groups.get_mut(group)?;
        self.expire_locked(g);
        let topics = self.partition_counts();
        let mut owners: BTreeMap<&TopicPartition, &String> = BTreeMap::new();
        for (m, list) in &g.assignment {
            for tp in list {
                owners.insert(tp, m);
            }
        }
        let mut names: BTreeSet<String> = g.offsets.keys().map(|tp| tp.topic.clone()).collect();
        for m in g.members.values() {
            names.extend(m.subscription.resolve(&topics));
        }
        let mut partitions = Vec::new();
        for name in names.iter().filter(|n| topics.contains_key(*n)) {
            let Ok(topic) = self.topic(name) else {
                continue;
            };
            for p in read(&topic.partitions).iter() {
                let tp = TopicPartition::new(name.clone(), p.index);
                let committed = g.offsets.get(&tp).map(|c| c.offset);
                let log_start_offset = p.log.log_start_offset();
                let high_watermark = p.log.log_end_offset();
                let lag = committed.map(|c| (high_watermark - c).max(0));
                partitions.push(PartitionLag {
                    owner: owners.get(&tp).map(|m| (*m).clone()),
                    partition: tp,
                    committed,
                    log_start_offset,
                    high_watermark,
                    lag,
                });
            }
        }
        let members = g
            .members
            .iter()
            .map(|(id, m)| MemberDescription {
                member_id: id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscription: m.subscription.clone(),
                assignment: g.assignment_of(id),
                last_heartbeat_ms: m.last_heartbeat_ms,
                session_timeout_ms: m.session_timeout_ms,
            })
            .collect();
        Ok(GroupDescription {
            group: group.to_owned(),
            state: g.state(),
            generation: g.generation,
            strategy: g.strategy,
            members,
            total_lag: partitions.iter().filter_map(|p| p.lag).sum(),
            partitions,
        })
    }

    /// Moves a group's committed offsets for `topic` (all partitions, or
    /// those listed) to `target`; only while the group has no members.
    /// Returns the offsets written.
    ///
    /// # Errors
    /// [`BrokerError::GroupNotEmpty`], [`BrokerError::UnknownTopic`],
    /// [`BrokerError::UnknownPartition`], [`BrokerError::InvalidGroupId`], or a log error.
    pub fn reset_offsets(
        &self,
        group: &str,
        topic: &str,
        partitions: Option<&[u32]>,
        target: ResetTarget,
    ) -> Result<Vec<(TopicPartition, i64)>, BrokerError> {
        validate_group(group)?;
        let t = self.topic(topic)?;
        let mut groups = lock(&self.shared.groups);
        let g = groups.groups.entry(group.to_owned()).or_default();
        self.expire_locked(g);
        if !g.members.is_empty() {
            return Err(BrokerError::GroupNotEmpty {
                group: group.to_owned(),
                members: g.members.len(),
            });
        }
        let all: Vec<u32> = (0..t.partition_count()).collect();
        let now = self.shared.clock.now_ms();
        let mut entries = Vec::new();
        for &p in partitions.unwrap_or(&all) {
            let part = t.partition(p)?;
            let (start, end) = (part.log.log_start_offset(), part.log.log_end_offset());
            let offset = match target {
                ResetTarget::Earliest => start,
                ResetTarget::Latest => end,
                ResetTarget::Offset(o) => o.clamp(start, end),
                ResetTarget::Timestamp(ts) => self
                    .list_offset(topic, p, OffsetSpec::Timestamp(ts))?
                    .unwrap_or(end),
            };
            entries.push((
                TopicPartition::new(topic, p),
                Some(CommittedOffset {
                    offset,
                    metadata: String::new(),
                    commit_timestamp_ms: now,
                    generation: -1,
                }),
            ));
        }
        self.write_offsets(group, &entries)?;
        let mut out = Vec::with_capacity(entries.len());
        for (tp, v) in entries {
            let v = v.expect("resets carry a value");
            out.push((tp.clone(), v.offset));
            g.offsets.insert(tp, v);
        }
        drop(groups);
        self.notify_groups();
        Ok(out)
    }

    /// Deletes a group without members and its committed offsets
    /// (tombstones in `__consumer_offsets`).
    ///
    /// # Errors
    /// [`BrokerError::UnknownGroup`], [`BrokerError::GroupNotEmpty`], or a log error.
    pub fn delete_group(&self, group: &str) -> Result<(), BrokerError> {
        let mut groups = lock(&self.shared.groups);
        let g = groups.get_mut(group)?;
        self.expire_locked(g);
        if !g.members.is_empty() {
            return Err(BrokerError::GroupNotEmpty {
                group: group.to_owned(),
                members: g.members.len(),
            });
        }
        let tombstones: Vec<_> = g.offsets.keys().map(|tp| (tp.clone(), None)).collect();
        self.write_offsets(group, &tombstones)?;
        groups.groups.remove(group);
        drop(groups);
        self.notify_groups();
        Ok(())
    }

    /// Per-group lag, generation and members, for the counters.
    pub(crate) fn group_counters(&self) -> BTreeMap<String, GroupCounters> {
        let names: Vec<String> = lock(&self.shared.groups).groups.keys().cloned().collect();
        names
            .into_iter()
            .filter_map(|name| {
                let d = self.describe_group(&name).ok()?;
                Some((
                    name,
                    GroupCounters {
                        lag: d.total_lag,
                        partitions: d.partitions,
                        generation: d.generation,
                        members: d.members.len(),
                    },
                ))
            })
            .collect()
    }

    /// Waits until `group` has members that have all seen the current
    /// generation, or `timeout` (real time) passes.
    ///
    /// # Errors
    /// [`BrokerError::Timeout`], [`BrokerError::Closed`].
    pub async fn wait_group_stable(
        &self,
        group: &str,
        timeout: Duration,
    ) -> Result<(), BrokerError> {
        self.wait_group(timeout, "group to be stable", |b| {
            Ok(b.describe_group(group)
                .is_ok_and(|d| d.state == GroupState::Stable))
        })
        .await
    }

    /// Waits until `group` has nothing left to read: it committed up to the
    /// high watermark of every partition of its topics (lag 0), or the
    /// partition holds nothing to read; or `timeout` (real time) passes.
    ///
    /// # Errors
    /// [`BrokerError::Timeout`], [`BrokerError::Closed`].
    pub async fn wait_group_caught_up(
        &self,
        group: &str,
        timeout: Duration,
    ) -> Result<(), BrokerError> {
        self.wait_group(timeout, "group lag 0", |b| {
            Ok(b.describe_group(group).is_ok_and(|d| {
                !d.partitions.is_empty()
                    && d.partitions
                        .iter()
                        .all(|p| p.lag.unwrap_or(p.high_watermark - p.log_start_offset) == 0)
            }))
        })
        .await
    }

    async fn wait_group(
        &self,
        timeout: Duration,
        what: &'static str,
        done: impl Fn(&Broker) -> Result<bool, BrokerError>,
    ) -> Result<(), BrokerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = self.shared.group_events.subscribe();
        loop {
            self.check_open()?;
            if done(self)? {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, events.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(BrokerError::Closed),
                Err(_) => {
                    return Err(BrokerError::Timeout {
                        what,
                        waited_ms: timeout.as_millis() as u64,
                    });
                }
            }
        }
    }
}
