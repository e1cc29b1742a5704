//! The in-process group consumer: joins a group, follows its assignment
//! through heartbeats, returns records in order per partition, and commits
//! only offsets of records an earlier poll already returned to the
//! application (explicitly, or with `auto_commit` at the start of the next
//! poll, i.e. after the application processed the previous one). A commit
//! refused because of a rebalance is retried for the partitions still
//! owned; the others are redelivered to their new owner (at-least-once).
//!
//! Knows the broker's public API only; holds no lock across an `.await`.

use crate::broker::{
    AssignmentStrategy, Broker, BrokerError, CommitRequest, FetchPartition, FetchRequest,
    JoinGroupRequest, MemberAssignment, Subscription, TopicPartition, decode_records,
};
use crate::record::Header;
use bytes::Bytes;
use std::collections::BTreeMap;
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
                generation: -1,
                partitions: Vec::new(),
            },
            positions: BTreeMap::new(),
            pending: BTreeMap::new(),
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
            strategy: config.strategy,
        }
    }

    /// The member id.
    pub fn member_id(&self) -> &str {
        &self.member.member_id
    }

    /// The generation of the current assignment.
    pub fn generation(&self) -> i32 {
        self.member.generation
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

    /// Adopts an assignment: positions of partitions lost are dropped (with
    /// their uncommitted progress), new ones start at the committed offset.
    fn take_assignment(&mut self, member: MemberAssignment) {
        self.positions
            .retain(|tp, _| member.partitions.contains(tp));
        self.pending.retain(|tp, _| member.partitions.contains(tp));
        let committed = self.broker.fetch_offsets(&self.config.group);
        for tp in &member.partitions {
            if self.positions.contains_key(tp) {
                continue;
            }
            let start = match committed.get(tp) {
                Some(c) => c.offset,
                None => self.reset_position(tp),
            };
            self.positions.insert(tp.clone(), start);
        }
        self.member = member;
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

    /// Heartbeats and follows a rebalance; rejoins as a new member if the
    /// group dropped this one (its uncommitted progress is then lost and
    /// redelivered).
    ///
    /// # Errors
    /// A broker error other than the member being unknown.
    pub fn heartbeat(&mut self) -> Result<(), BrokerError> {
        match self
            .broker
            .heartbeat(&self.config.group, &self.member.member_id)
        {
            Ok(m) => {
                if m.generation != self.member.generation {
                    self.take_assignment(m);
                }
                Ok(())
            }
            Err(BrokerError::UnknownMember { .. } | BrokerError::UnknownGroup { .. }) => {
                self.positions.clear();
                self.pending.clear();
                let m = self.broker.join_group(Self::join_request(&self.config))?;
                self.take_assignment(m);
                Ok(())
            }
            Err(e) => Err(e),
        }
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
        let fetched = self.broker.fetch_now(&self.fetch_request(Duration::ZERO));
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
        if !records.is_empty() || self.positions.is_empty() {
            return Ok(records);
        }
        let request = self.fetch_request(max_wait);
        self.broker.fetch(request).await;
        self.poll()
    }

    /// Commits the offsets after every record earlier polls returned. After
    /// a rebalance it learns the new assignment and commits what it still
    /// owns; progress on partitions it lost is dropped (redelivered).
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
                generation: self.member.generation,
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
                Err(
                    e @ (BrokerError::IllegalGeneration { .. } | BrokerError::NotAssigned { .. }),
                ) if attempt == 0 => {
                    // The refusal only says "look again": the heartbeat's
                    // answer (or its error) is what counts now.
                    drop(e);
                    let m = self
                        .broker
                        .heartbeat(&self.config.group, &self.member.member_id)?;
                    self.take_assignment(m);
                    if self.pending.is_empty() {
                        return Ok(());
                    }
                }
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
