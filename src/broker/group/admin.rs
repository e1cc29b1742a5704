//! The operator's view of groups: list, describe with lag, reset and delete
//! offsets, the per-group counters, and the awaitable conditions tests use
//! (a group stable, a group caught up). Each group is read under its own
//! lock only.

use super::super::fetch::OffsetSpec;
use super::super::metrics::GroupCounters;
use super::super::{Broker, lock, read};
use super::{
    CommittedOffset, Group, GroupDescription, GroupListing, GroupState, MemberDescription,
    PartitionLag, ResetTarget, TopicPartition, validate_group,
};
use crate::broker::error::BrokerError;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

impl Group {
    /// The group's state, with Kafka's names.
    pub(super) fn state(&self) -> GroupState {
        if !self.native.members.is_empty() {
            if self.native.settled() {
                GroupState::Stable
            } else {
                GroupState::Rebalancing
            }
        } else {
            self.classic_state()
        }
    }
}

impl Broker {
    /// Every group with its state and member count.
    pub fn list_groups(&self) -> Vec<GroupListing> {
        self.shared
            .groups
            .all()
            .into_iter()
            .map(|(name, g)| {
                let mut g = lock(&g);
                self.expire_group(&mut g);
                GroupListing {
                    group: name,
                    state: g.state(),
                    members: g.member_count(),
                    protocol_type: g.protocol_type().to_owned(),
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
        self.with_group(group, false, |g| {
            self.expire_group(g);
            Ok(self.describe_locked(group, g))
        })
    }

    fn describe_locked(&self, group: &str, g: &Group) -> GroupDescription {
        let topics = self.partition_counts();
        let mut owners: BTreeMap<TopicPartition, String> = BTreeMap::new();
        let mut names: BTreeSet<String> = g.offsets.keys().map(|tp| tp.topic.clone()).collect();
        let mut members = Vec::new();
        for (id, m) in &g.native.members {
            for tp in &m.held {
                owners.insert(tp.clone(), id.clone());
            }
            names.extend(m.resolved.iter().cloned());
            members.push(MemberDescription {
                member_id: id.clone(),
                group_instance_id: None,
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscription: m.subscription.clone(),
                assignment: m.assigned.iter().cloned().collect(),
                last_heartbeat_ms: m.last_heartbeat_ms,
                session_timeout_ms: m.session_timeout_ms,
                protocol_metadata: None,
                classic_assignment: None,
            });
        }
        self.describe_classic_members(g, &mut members, &mut names, &mut owners);
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
                    owner: owners.get(&tp).cloned(),
                    partition: tp,
                    committed,
                    log_start_offset,
                    high_watermark,
                    lag,
                });
            }
        }
        GroupDescription {
            group: group.to_owned(),
            state: g.state(),
            protocol_type: g.protocol_type().to_owned(),
            protocol: g.protocol_name(),
            generation: g.generation(),
            strategy: g.native.strategy,
            members,
            total_lag: partitions.iter().filter_map(|p| p.lag).sum(),
            partitions,
        }
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
        let out = self.with_group(group, true, |g| {
            self.expire_group(g);
            if g.has_members() {
                return Err(BrokerError::GroupNotEmpty {
                    group: group.to_owned(),
                    members: g.member_count(),
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
            Ok(out)
        })?;
        self.notify_groups();
        Ok(out)
    }

    /// Deletes a group without members and its committed offsets
    /// (tombstones in `__consumer_offsets`).
    ///
    /// # Errors
    /// [`BrokerError::UnknownGroup`], [`BrokerError::GroupNotEmpty`], or a log error.
    pub fn delete_group(&self, group: &str) -> Result<(), BrokerError> {
        self.with_group(group, false, |g| {
            self.expire_group(g);
            if g.has_members() {
                return Err(BrokerError::GroupNotEmpty {
                    group: group.to_owned(),
                    members: g.member_count(),
                });
            }
            let tombstones: Vec<_> = g.offsets.keys().map(|tp| (tp.clone(), None)).collect();
            self.write_offsets(group, &tombstones)?;
            g.offsets.clear();
            // Marked under the group's lock: a caller that looked the group
            // up before it left the registry sees the mark and looks again.
            g.deleted = true;
            lock(&self.shared.groups.registry).remove(group);
            Ok(())
        })?;
        self.notify_groups();
        Ok(())
    }

    /// Per-group lag, generation and members, for the counters.
    pub(crate) fn group_counters(&self) -> BTreeMap<String, GroupCounters> {
        self.shared
            .groups
            .all()
            .into_iter()
            .filter_map(|(name, _)| {
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

    /// Waits until `group` has members that all own and have acknowledged
    /// their target assignment, or `timeout` (real time) passes.
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
