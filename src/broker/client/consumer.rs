//! The in-process group consumer: joins a group, follows its assignment
//! through heartbeats, returns records in order per partition, and commits
//! only offsets of records an earlier poll already returned to the
//! application (explicitly, or with `auto_commit` at the start of the next
//! poll, i.e. after the application processed the previous one).
//!
//! Rebalances revoke before they assign: when a heartbeat takes partitions
//! away, the consumer stops fetching them at once, but their progress can
//! still be committed until the next poll (or heartbeat), which tells the
//! broker they are released; only then does their new owner get them, from
//! the last commit. So a consumer that commits what each poll returned
//! before polling again never has its records read by another member. The
//! member epoch of each assignment goes with every fetch and commit: a
//! stale one is refused and the consumer heartbeats to catch up.
//!
//! Knows the broker's public API only; holds no lock across an `.await`.

use crate::broker::{
    AssignmentStrategy, Broker, BrokerError, CommitRequest, FetchPartition, FetchRequest,
    FetchedPartition, JoinGroupRequest, MemberAssignment, MemberRef, Subscription, TopicPartition,
    decode_records,
};
use crate::record::Header;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Where a consumer starts on a partition its group never committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The log start (replay everything; the embedded default).
    #[default]
    Earliest,
    /// The high watermark (only new records).
    Latest,
}

/// How a [`Consumer`] joins and polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Group id.
    pub group: String,
    /// Topics.
    pub subscription: Subscription,
    /// Client id (prefix of the member id).
    pub client_id: String,
    /// Session timeout; `None` takes the broker's default.
    pub session_timeout_ms: Option<i64>,
    /// Assignment strategy.
    pub strategy: AssignmentStrategy,
    /// Commit what the previous poll returned at the start of each poll.
    pub auto_commit: bool,
    /// Most records one poll returns.
    pub max_poll_records: usize,
    /// Most bytes read per partition per poll.
    pub max_partition_bytes: usize,
    /// Start position where nothing is committed.
    pub start_from: StartFrom,
}

impl ConsumerConfig {
    /// A consumer of `group` on `subscription`, with defaults (manual commits).
    pub fn new(group: impl Into<String>, subscription: Subscription) -> ConsumerConfig {
        ConsumerConfig {
            group: group.into(),
            subscription,
            client_id: "consumer".into(),
            session_timeout_ms: None,
            strategy: AssignmentStrategy::default(),
            auto_commit: false,
            max_poll_records: 500,
            max_partition_bytes: 1 << 20,
            start_from: StartFrom::Earliest,
        }
    }
}

/// One record returned by [`Consumer::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<Header>,
}

/// A member of a consumer group.
#[derive(Debug)]
pub struct Consumer {
    broker: Broker,
    config: ConsumerConfig,
    member: MemberAssignment,
    /// Next offset to return, per owned partition.
    positions: BTreeMap<TopicPartition, i64>,
    /// Next offsets of records already returned and not yet committed.
    pending: BTreeMap<TopicPartition, i64>,
    /// Partitions the current epoch took away whose progress may still be
    /// committed: the broker keeps them from their new owner until the
    /// next heartbeat acknowledges the epoch.
    revoked: BTreeSet<TopicPartition>,
    /// Rotates the partition served first, for fairness.
    rotation: usize,
}

impl Consumer {
    /// Joins the group and takes up its first assignment.
    ///
    /// # Errors
    /// Whatever [`Broker::join_group`] returns.
    pub fn join(broker: &Broker, config: ConsumerConfig) -> Result<Consumer, BrokerError> {
        let member = broker.join_group(Self::join_request(&config))?;
        let mut consumer = Consumer {
            broker: broker.clone(),
            config,
            member: MemberAssignment {
                member_id: String::new(),
                member_epoch: -1,
                partitions: Vec::new(),
            },
            positions: BTreeMap::new(),
            pending: BTreeMap::new(),
            revoked: BTreeSet::new(),
            rotation: 0,
        };
        consumer.take_assignment(member);
        Ok(consumer)
    }

    fn join_request(config: &ConsumerConfig) -> JoinGroupRequest {
        JoinGroupRequest {
            group: config.group.clone(),
            member_id: None,
            client_id: config.client_id.clone(),
            client_host: String::new(),
            subscription: config.subscription.clone(),
            session_timeout_ms: config.session_timeout_ms,
            rebalance_timeout_ms: None,
            strategy: config.strategy,
        }
    }

    /// The member id.
    pub fn member_id(&self) -> &str {
        &self.member.member_id
    }

    /// The member epoch of the assignment in use.
    pub fn member_epoch(&self) -> i32 {
        self.member.member_epoch
    }

    /// The partitions owned now.
    pub fn assignment(&self) -> &[TopicPartition] {
        &self.member.partitions
    }

    /// The next offset a poll returns for `tp`, if owned.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.positions.get(tp).copied()
    }

    /// Moves the position of an owned partition.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(p) = self.positions.get_mut(tp) {
            *p = offset;
        }
    }

    /// Adopts an assignment: partitions lost are no longer fetched (their
    /// uncommitted progress stays committable until the epoch is
    /// acknowledged), new ones start at the committed offset.
    fn take_assignment(&mut self, member: MemberAssignment) {
        let lost: Vec<TopicPartition> = self
            .positions
            .keys()
            .filter(|tp| !member.partitions.contains(tp))
            .cloned()
            .collect();
        for tp in lost {
            self.positions.remove(&tp);
            if self.pending.contains_key(&tp) {
                self.revoked.insert(tp);
            }
        }
        let committed = self.broker.fetch_offsets(&self.config.group);
        for tp in &member.partitions {
            if self.positions.contains_key(tp) {
                continue;
            }
            self.revoked.remove(tp);
            let start = match committed.get(tp) {
                Some(c) => c.offset,
                None => self.reset_position(tp),
            };
            self.positions.insert(tp.clone(), start);
        }
        self.member = member;
    }

    /// Forgets the progress of partitions given up: the application had
    /// its chance to commit it.
    fn release(&mut self) {
        for tp in std::mem::take(&mut self.revoked) {
            self.pending.remove(&tp);
        }
    }

    fn me(&self) -> MemberRef {
        MemberRef {
            group: self.config.group.clone(),
            member_id: self.member.member_id.clone(),
            member_epoch: self.member.member_epoch,
        }
    }

    fn reset_position(&self, tp: &TopicPartition) -> i64 {
        let spec = match self.config.start_from {
            StartFrom::Earliest => crate::broker::OffsetSpec::Earliest,
            StartFrom::Latest => crate::broker::OffsetSpec::Latest,
        };
        self.broker
            .list_offset(&tp.topic, tp.partition, spec)
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Heartbeats and follows a rebalance: takes up the new assignment and
    /// acknowledges it, which releases the partitions it gave up (their
    /// uncommitted progress is dropped and redelivered to the new owner).
    /// Rejoins as a new member if the group dropped this one (its
    /// uncommitted progress is then lost and redelivered).
    ///
    /// # Errors
    /// A broker error other than the member being unknown.
    pub fn heartbeat(&mut self) -> Result<(), BrokerError> {
        self.release();
        // Each round acknowledges the epoch taken up in the one before; it
        // ends when the broker has nothing newer (others releasing
        // partitions to us can bump the epoch again).
        for _ in 0..4 {
            match self.broker.heartbeat(
                &self.config.group,
                &self.member.member_id,
                self.member.member_epoch,
            ) {
                Ok(m) if m.member_epoch == self.member.member_epoch => return Ok(()),
                Ok(m) => {
                    self.take_assignment(m);
                    self.release();
                }
                Err(BrokerError::UnknownMember { .. } | BrokerError::UnknownGroup { .. }) => {
                    self.positions.clear();
                    self.pending.clear();
                    self.revoked.clear();
                    let m = self.broker.join_group(Self::join_request(&self.config))?;
                    self.take_assignment(m);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Learns a new assignment without acknowledging it, so progress of
    /// partitions it takes away can still be committed.
    fn learn(&mut self) -> Result<(), BrokerError> {
        let m = self.broker.heartbeat(
            &self.config.group,
            &self.member.member_id,
            self.member.member_epoch,
        )?;
        if m.member_epoch != self.member.member_epoch {
            self.take_assignment(m);
        }
        Ok(())
    }

    fn fetch_request(&self, max_wait: Duration) -> FetchRequest {
        let mut parts: Vec<FetchPartition> = self
            .positions
            .iter()
            .map(|(tp, &offset)| FetchPartition {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset,
                max_bytes: self.config.max_partition_bytes,
            })
            .collect();
        if !parts.is_empty() {
            let n = self.rotation % parts.len();
            parts.rotate_left(n);
        }
        FetchRequest {
            partitions: parts,
            max_wait,
            min_bytes: 1,
            max_bytes: self.config.max_partition_bytes.saturating_mul(4),
        }
    }

    /// Returns the records available now (without waiting), in offset order
    /// per partition. With `auto_commit`, first commits what the previous
    /// poll returned.
    ///
    /// # Errors
    /// A broker error from committing, heartbeating or fetching.
    pub fn poll(&mut self) -> Result<Vec<ConsumedRecord>, BrokerError> {
        if self.config.auto_commit && !self.pending.is_empty() {
            match self.commit() {
                Ok(()) | Err(BrokerError::UnknownMember { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.heartbeat()?;
        self.rotation = self.rotation.wrapping_add(1);
        let fetched = match self
            .broker
            .fetch_now_as_member(&self.me(), &self.fetch_request(Duration::ZERO))
        {
            Ok(f) => f,
            Err(e) if rebalanced(&e) => {
                // The assignment moved since the heartbeat: the next poll follows it.
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        self.take_records(fetched)
    }

    fn take_records(
        &mut self,
        fetched: Vec<FetchedPartition>,
    ) -> Result<Vec<ConsumedRecord>, BrokerError> {
        let mut out = Vec::new();
        for part in fetched {
            let tp = TopicPartition::new(part.topic, part.partition);
            let data = match part.result {
                Ok(d) => d,
                Err(BrokerError::OffsetOutOfRange {
                    log_start_offset, ..
                }) => {
                    // Retention passed us by: go on from what is left.
                    self.positions.insert(tp, log_start_offset);
                    continue;
                }
                Err(BrokerError::UnknownTopic { .. } | BrokerError::UnknownPartition { .. }) => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(&position) = self.positions.get(&tp) else {
                continue;
            };
            let room = self.config.max_poll_records.saturating_sub(out.len());
            let records =
                decode_records(&data.records).map_err(|source| BrokerError::InvalidRecord {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    source,
                })?;
            let mut next = position;
            for r in records
                .into_iter()
                .filter(|r| r.offset >= position)
                .take(room)
            {
                next = r.offset + 1;
                out.push(ConsumedRecord {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                });
            }
            if next > position {
                self.positions.insert(tp.clone(), next);
                self.pending.insert(tp, next);
            }
        }
        Ok(out)
    }

    /// Like [`Consumer::poll`], but when nothing is available waits up to
    /// `max_wait` (real time) for an append to an owned partition.
    ///
    /// # Errors
    /// As [`Consumer::poll`].
    pub async fn poll_wait(
        &mut self,
        max_wait: Duration,
    ) -> Result<Vec<ConsumedRecord>, BrokerError> {
        let records = self.poll()?;
        if !records.is_empty() {
            return Ok(records);
        }
        // Woken by an append, or at once by a change of this member's
        // assignment (the next poll follows it).
        let request = self.fetch_request(max_wait);
        match self.broker.fetch_as_member(&self.me(), request).await {
            Ok(_) => {}
            Err(e) if rebalanced(&e) => {}
            Err(e) => return Err(e),
        }
        self.poll()
    }

    /// Commits the offsets after every record earlier polls returned,
    /// including partitions a rebalance is taking away that the consumer has
    /// not released yet. After a rebalance it learns the new epoch and
    /// commits again.
    ///
    /// # Errors
    /// [`BrokerError::UnknownMember`] if this member was fenced (its
    /// session expired): nothing is committed; the next poll rejoins.
    /// Other broker errors likewise commit nothing.
    pub fn commit(&mut self) -> Result<(), BrokerError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        for attempt in 0..2 {
            let request = CommitRequest {
                group: self.config.group.clone(),
                member_id: Some(self.member.member_id.clone()),
                generation: self.member.member_epoch,
                offsets: self
                    .pending
                    .iter()
                    .map(|(tp, &o)| (tp.clone(), o))
                    .collect(),
                metadata: String::new(),
            };
            match self.broker.commit_offsets(request) {
                Ok(()) => {
                    self.pending.clear();
                    return Ok(());
                }
                Err(e) if attempt == 0 && rebalanced(&e) => self.learn()?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Commits (with `auto_commit`) and leaves the group.
    ///
    /// # Errors
    /// The commit's or the leave's error.
    pub fn close(mut self) -> Result<(), BrokerError> {
        if self.config.auto_commit {
            self.commit()?;
        }
        self.broker
            .leave_group(&self.config.group, &self.member.member_id)
    }
}

/// Errors that only say the member's assignment moved on.
fn rebalanced(e: &BrokerError) -> bool {
    matches!(
        e,
        BrokerError::StaleMemberEpoch { .. }
            | BrokerError::RebalanceInProgress { .. }
            | BrokerError::NotAssigned { .. }
    )
}
