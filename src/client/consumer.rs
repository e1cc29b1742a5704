//! The network group consumer: joins a group (the broker assigns
//! partitions), follows its assignment through heartbeats sent by a
//! background task every heartbeat interval (the server's suggestion, a
//! third of the session timeout, unless configured), fetches its
//! partitions from the group's committed offsets (or `start_from` where
//! none exist), and commits explicitly what earlier polls returned.
//!
//! Rebalances revoke before they assign (the broker reconciles with
//! member epochs): when the member's assignment changes, its waiting fetch
//! returns at once; the consumer learns the new epoch, stops fetching the
//! partitions taken away, and tells the broker at the start of the next
//! poll (the application is done with what earlier polls returned), which
//! only then hands those partitions to their new owner. Until then their
//! progress can still be committed. So a consumer that commits what each
//! poll returned before polling again never has its records read by
//! another member, barring a member that stops answering: its partitions
//! move when its session times out. Fetches and commits carry the member
//! epoch; a stale one is refused and the consumer heartbeats to catch up.
//!
//! Delivery is at least once: records returned and not committed when a
//! partition moves are read again by its new owner from the last commit. A
//! member the broker no longer knows (session expired) is rejoined by the
//! heartbeat task.
//!
//! Reconnecting: when the connection drops (say the broker restarts on the
//! same address), the heartbeat task and `poll`/`commit` dial the same
//! address again, with backoff, for at most `reconnect_timeout`; then the
//! member heartbeats, and rejoins if the broker no longer knows it. After
//! a rejoin the consumer resumes every partition from the group's committed
//! offsets: records returned but not committed are delivered again (at
//! least once). Knows the protocol, the record format, and the [`Client`];
//! nothing of the broker.

use super::api::OffsetQuery;
use super::connection::Client;
use super::error::ClientError;
use super::link::Link;
use super::records::decode_batches;
use crate::protocol::{
    ApiKey, ErrorCode, FetchMember, FetchPartition, FetchRequest, FetchTopic, IsolationLevel,
    JoinGroupRequest, OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic, Since,
    TopicPartitions,
};
use crate::record::Header;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where a consumer starts on a partition its group never committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The log start.
    #[default]
    Earliest,
    /// The high watermark: only records produced from now on.
    Latest,
    /// The first record at or after this time (ms); the high watermark if none.
    Timestamp(i64),
}

/// How a [`Consumer`] joins and fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Group id.
    pub group: String,
    /// Topics subscribed to.
    pub topics: Vec<String>,
    /// Client id (prefix of the member id).
    pub client_id: String,
    /// Session timeout; `None` takes the broker's default.
    pub session_timeout: Option<Duration>,
    /// Heartbeat period; `None` takes the server's suggestion.
    pub heartbeat_interval: Option<Duration>,
    /// Assignment strategy name (`sticky`, `range`, `roundrobin`); empty for the broker's default.
    pub assignor: String,
    /// Start position where the group has no commit.
    pub start_from: StartFrom,
    /// Most bytes fetched per partition per poll.
    pub max_partition_bytes: i32,
    /// Most bytes fetched per poll.
    pub max_bytes: i32,
    /// After the connection drops, how long one reconnect keeps dialling
    /// the same address (with backoff) before the call reports the error.
    pub reconnect_timeout: Duration,
}

impl ConsumerConfig {
    /// A consumer of `group` on `topics`, with defaults.
    pub fn new<T: Into<String>>(
        group: impl Into<String>,
        topics: impl IntoIterator<Item = T>,
    ) -> ConsumerConfig {
        ConsumerConfig {
            group: group.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            client_id: "logbus-consumer".to_owned(),
            session_timeout: None,
            heartbeat_interval: None,
            assignor: String::new(),
            start_from: StartFrom::Earliest,
            max_partition_bytes: 1 << 20,
            max_bytes: 4 << 20,
            reconnect_timeout: Duration::from_secs(30),
        }
    }
}

/// One record returned by [`Consumer::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
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

type TopicPartition = (String, i32);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Membership {
    member_id: String,
    /// The member epoch of `partitions`.
    generation: i32,
    partitions: BTreeSet<TopicPartition>,
    /// How many times this consumer joined: a new value means the group
    /// forgot the old member, so positions restart from the commits.
    joins: u64,
}

fn flatten(assignment: Vec<TopicPartitions>) -> BTreeSet<TopicPartition> {
    assignment
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic;
            t.partitions.into_iter().map(move |p| (topic.clone(), p))
        })
        .collect()
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// What the consumer shares with its heartbeat task: the connection and
/// the membership, each changed by one task at a time.
#[derive(Debug)]
struct Session {
    link: Link,
    config: ConsumerConfig,
    /// Latest membership (heartbeats and rejoins publish here).
    membership: watch::Sender<Membership>,
    /// Serialises rejoins, so the poller and the heartbeat task never both join.
    joining: tokio::sync::Mutex<()>,
    /// The member epoch whose assignment the poller runs, having released
    /// what it took away: what heartbeats acknowledge.
    running: AtomicI32,
}

/// Codes that only say the member's assignment moved on: heartbeat to learn it.
fn rebalanced(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::IllegalGeneration
            | ErrorCode::StaleMemberEpoch
            | ErrorCode::FencedMemberEpoch
            | ErrorCode::RebalanceInProgress
    )
}

/// Errors after which the member must join anew.
fn forgotten(e: &ClientError) -> bool {
    matches!(
        e.code(),
        Some(
            ErrorCode::UnknownMemberId | ErrorCode::FencedMemberEpoch | ErrorCode::GroupIdNotFound
        )
    )
}

impl Session {
    fn client(&self) -> Client {
        self.link.client()
    }

    /// Publishes what a heartbeat of `next.member_id` learned, unless a
    /// rejoin replaced that member meanwhile.
    fn publish(&self, next: Membership) {
        self.membership.send_if_modified(|m| {
            let changed = m.joins == next.joins && *m != next;
            if changed {
                *m = next;
            }
            changed
        });
    }

    /// Joins anew under a new member id, unless another task already did
    /// since `stale` was current.
    async fn rejoin(&self, stale: &Membership) -> Result<(), ClientError> {
        let _joining = self.joining.lock().await;
        if self.membership.borrow().joins != stale.joins {
            return Ok(());
        }
        let r = self
            .client()
            .join_group(join_request(&self.config, String::new()))
            .await?;
        self.membership.send_replace(Membership {
            member_id: r.member_id,
            generation: r.generation_id,
            partitions: flatten(r.assignment),
            joins: stale.joins + 1,
        });
        Ok(())
    }

    /// Heartbeats as the latest membership, acknowledging the epoch the
    /// poller runs, and publishes the answer; rejoins if the group no
    /// longer knows the member.
    async fn heartbeat(&self) -> Result<(), ClientError> {
        let current = self.membership.borrow().clone();
        let running = self.running.load(Ordering::Acquire);
        match self
            .client()
            .heartbeat(&self.config.group, &current.member_id, running)
            .await
        {
            Ok(r) => {
                self.publish(Membership {
                    generation: r.generation_id,
                    partitions: flatten(r.assignment),
                    ..current
                });
                Ok(())
            }
            Err(e) if forgotten(&e) => self.rejoin(&current).await,
            Err(e) => Err(e),
        }
    }

    /// After the connection dropped: a new connection, then a heartbeat
    /// (and a rejoin if the broker restarted and forgot the member).
    async fn recover(&self) -> Result<(), ClientError> {
        self.link.reconnect().await?;
        self.heartbeat().await
    }
}

/// A member of a consumer group over the native protocol.
#[derive(Debug)]
pub struct Consumer {
    session: Arc<Session>,
    /// Latest membership the heartbeat task or a rejoin published.
    membership: watch::Receiver<Membership>,
    current: Membership,
    heartbeat: JoinHandle<()>,
    /// Next offset to fetch, per owned partition.
    positions: BTreeMap<TopicPartition, i64>,
    /// Next offsets of records returned and not yet committed.
    returned: BTreeMap<TopicPartition, i64>,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

fn join_request(config: &ConsumerConfig, member_id: String) -> JoinGroupRequest {
    let session = config.session_timeout.map_or(0, millis);
    JoinGroupRequest {
        group_id: config.group.clone(),
        member_id,
        session_timeout_ms: session,
        rebalance_timeout_ms: session,
        topics: config.topics.clone(),
        pattern: None,
        assignor: config.assignor.clone(),
        client_id: config.client_id.clone(),
    }
}

impl Consumer {
    /// Joins the group over `client` and takes up the first assignment.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (e.g. `INVALID_GROUP_ID`), or a connection error.
    pub async fn join(client: Client, config: ConsumerConfig) -> Result<Consumer, ClientError> {
        let r = client
            .join_group(join_request(&config, String::new()))
            .await?;
        let interval = config.heartbeat_interval.unwrap_or(Duration::from_millis(
            u64::try_from(r.heartbeat_interval_ms.max(1)).unwrap_or(1),
        ));
        let first = Membership {
            member_id: r.member_id,
            generation: r.generation_id,
            partitions: flatten(r.assignment),
            joins: 1,
        };
        let (tx, membership) = watch::channel(first.clone());
        let session = Arc::new(Session {
            link: Link::new(client, config.reconnect_timeout),
            config,
            membership: tx,
            joining: tokio::sync::Mutex::new(()),
            running: AtomicI32::new(first.generation),
        });
        let heartbeat = tokio::spawn(heartbeat_loop(Arc::clone(&session), interval));
        let mut consumer = Consumer {
            session,
            membership,
            current: Membership::default(),
            heartbeat,
            positions: BTreeMap::new(),
            returned: BTreeMap::new(),
        };
        consumer.apply(first).await?;
        Ok(consumer)
    }

    /// This member's id.
    pub fn member_id(&self) -> &str {
        &self.current.member_id
    }

    /// The member epoch of the assignment in use.
    pub fn member_epoch(&self) -> i32 {
        self.current.generation
    }

    /// The partitions this member consumes, sorted.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.current.partitions.iter().cloned().collect()
    }

    /// The next offset a poll reads from `topic`-`partition`, if owned.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.positions.get(&(topic.to_owned(), partition)).copied()
    }

    /// Moves the position of an owned partition (ignored if not owned). A
    /// seek back also takes back what the next commit covers, so records the
    /// application has not processed are never committed (at-least-once).
    pub fn seek(&mut self, topic: &str, partition: i32, offset: i64) {
        let tp = (topic.to_owned(), partition);
        if let Some(p) = self.positions.get_mut(&tp) {
            *p = offset;
            if let Some(r) = self.returned.get_mut(&tp) {
                *r = (*r).min(offset);
            }
        }
    }

    /// Takes up a new membership: positions of new partitions come from the
    /// group's commits, or `start_from`; dropped partitions are no longer
    /// fetched, but what earlier polls returned of them stays committable
    /// until [`Consumer::follow`] releases them.
    async fn apply(&mut self, m: Membership) -> Result<(), ClientError> {
        if m == self.current {
            return Ok(());
        }
        if m.joins != self.current.joins {
            // A new member: whatever the old one held may have moved and
            // moved back; restart from the commits (at least once).
            self.positions.clear();
            self.returned.clear();
        }
        self.positions.retain(|tp, _| m.partitions.contains(tp));
        let missing: Vec<TopicPartition> = m
            .partitions
            .iter()
            .filter(|tp| !self.positions.contains_key(*tp))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let mut wanted: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in &missing {
                wanted.entry(t.clone()).or_default().push(*p);
            }
            let committed = self
                .session
                .client()
                .fetch_offsets(
                    &self.session.config.group,
                    Some(
                        wanted
                            .into_iter()
                            .map(|(topic, partitions)| TopicPartitions { topic, partitions })
                            .collect(),
                    ),
                )
                .await?;
            let mut found = BTreeMap::new();
            for t in committed {
                for p in t.partitions.into_iter().filter(|p| p.offset >= 0) {
                    found.insert((t.name.clone(), p.partition), p.offset);
                }
            }
            for tp in missing {
                let offset = match found.get(&tp) {
                    Some(&o) => o,
                    None => self.start_offset(&tp).await?,
                };
                self.positions.insert(tp, offset);
            }
        }
        self.current = m;
        Ok(())
    }

    async fn start_offset(&self, (topic, partition): &TopicPartition) -> Result<i64, ClientError> {
        let client = self.session.client();
        let query = match self.session.config.start_from {
            StartFrom::Earliest => OffsetQuery::Earliest,
            StartFrom::Latest => OffsetQuery::Latest,
            StartFrom::Timestamp(ms) => OffsetQuery::Timestamp(ms),
        };
        match client.list_offset(topic, *partition, query).await? {
            Some(o) => Ok(o),
            None => Ok(client
                .list_offset(topic, *partition, OffsetQuery::Latest)
                .await?
                .unwrap_or(0)),
        }
    }

    /// Takes up the latest membership (a failed apply is tried again next time).
    async fn refresh(&mut self) -> Result<(), ClientError> {
        let m = self.membership.borrow_and_update().clone();
        self.apply(m).await
    }

    /// Heartbeats now and takes up the answer, without acknowledging it
    /// (used when a fetch or commit learns of a rebalance).
    async fn sync(&mut self) -> Result<(), ClientError> {
        self.session.heartbeat().await?;
        self.refresh().await
    }

    /// Takes up the latest membership and acknowledges it: progress not
    /// committed on partitions given up is dropped (the application polled
    /// again, so it is done with them), and a heartbeat tells the broker at
    /// once, which hands them to their new owner.
    async fn follow(&mut self) -> Result<(), ClientError> {
        for _ in 0..4 {
            self.refresh().await?;
            let owned = &self.current.partitions;
            self.returned.retain(|tp, _| owned.contains(tp));
            let epoch = self.current.generation;
            if self.session.running.swap(epoch, Ordering::AcqRel) == epoch {
                return Ok(());
            }
            self.session.heartbeat().await?;
        }
        Ok(())
    }

    /// Reconnects after the connection dropped, and takes up the
    /// membership the broker now has (a rejoin if it forgot this member).
    async fn recover(&mut self) -> Result<(), ClientError> {
        self.session.recover().await?;
        self.refresh().await
    }

    /// Fetches the next records of the assigned partitions, waiting up to
    /// `timeout` for some to arrive (long poll). Records of one partition
    /// come in offset order.
    ///
    /// When the connection has dropped, the poll reconnects first (for at
    /// most `reconnect_timeout`; see the module notes) and goes on.
    ///
    /// # Errors
    /// A connection error (once reconnecting failed), [`ClientError::Record`]
    /// for a corrupt batch, or a non-retriable partition error as
    /// [`ClientError::Broker`].
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumedRecord>, ClientError> {
        match self.poll_once(timeout).await {
            Err(ClientError::Closed) => {
                self.recover().await?;
                self.poll_once(timeout).await
            }
            r => r,
        }
    }

    async fn poll_once(&mut self, timeout: Duration) -> Result<Vec<ConsumedRecord>, ClientError> {
        self.follow().await?;
        // A server that fences fetches (v1) also wakes a member's empty
        // fetch when partitions come; an older one is waited out here.
        let fenced = self.session.client().version(ApiKey::Fetch) >= Some(1);
        if self.positions.is_empty() && !fenced {
            // Nothing assigned yet: wait for the heartbeat task to learn more.
            let _ = tokio::time::timeout(timeout, self.membership.changed()).await;
            self.refresh().await?;
            return Ok(Vec::new());
        }
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for ((topic, partition), &offset) in &self.positions {
            topics.entry(topic).or_default().push(FetchPartition {
                partition: *partition,
                fetch_offset: offset,
                partition_max_bytes: self.session.config.max_partition_bytes,
            });
        }
        let request = FetchRequest {
            max_wait_ms: millis(timeout),
            min_bytes: 1,
            max_bytes: self.session.config.max_bytes,
            isolation_level: IsolationLevel::ReadUncommitted,
            group_id: Some(self.session.config.group.clone()),
            topics: topics
                .into_iter()
                .map(|(name, partitions)| FetchTopic {
                    name: name.to_owned(),
                    partitions,
                })
                .collect(),
            member: Since(FetchMember {
                member_id: self.current.member_id.clone(),
                member_epoch: self.current.generation,
            }),
        };
        let response = match self.session.client().fetch(request).await {
            Ok(r) => r,
            Err(e)
                if e.code()
                    .is_some_and(|code| rebalanced(code) || code == ErrorCode::UnknownMemberId) =>
            {
                // The assignment changed (or the member was forgotten):
                // learn it; the next poll acknowledges it.
                self.sync().await?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for t in response.topics {
            for p in t.partitions {
                let tp = (t.name.clone(), p.partition);
                let Some(&position) = self.positions.get(&tp) else {
                    continue;
                };
                match p.error_code {
                    ErrorCode::None => {
                        let records = decode_batches(&p.records, position)?;
                        if let Some(last) = records.last() {
                            self.positions.insert(tp.clone(), last.offset + 1);
                            self.returned.insert(tp.clone(), last.offset + 1);
                        }
                        out.extend(records.into_iter().map(|r| ConsumedRecord {
                            topic: t.name.clone(),
                            partition: p.partition,
                            offset: r.offset,
                            timestamp: r.timestamp,
                            key: r.key,
                            value: r.value,
                            headers: r.headers,
                        }));
                    }
                    ErrorCode::OffsetOutOfRange => {
                        let offset = self.start_offset(&tp).await?;
                        self.positions.insert(tp, offset);
                    }
                    // Damaged stored data stays damaged until an operator
                    // skips it: fail loudly, as Kafka's consumer does.
                    code if code.is_retriable() && code != ErrorCode::CorruptMessage => {}
                    code => {
                        return Err(ClientError::Broker {
                            api: ApiKey::Fetch,
                            code,
                            message: None,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Commits the offsets after the records earlier polls returned, for
    /// the partitions still owned and those a rebalance is taking away that
    /// the consumer has not released yet. A dropped connection is
    /// re-dialled first (see the module notes).
    ///
    /// # Errors
    /// [`ClientError::Broker`] with `UNKNOWN_MEMBER_ID` when the member had
    /// to rejoin (session expired, or the broker restarted) before these
    /// offsets could be committed: its records will be delivered again from
    /// the last commit; or another [`ClientError::Broker`], or a connection
    /// error once reconnecting failed.
    pub async fn commit(&mut self) -> Result<(), ClientError> {
        let joins = self.current.joins;
        let had_offsets = !self.returned.is_empty();
        for _ in 0..3 {
            self.refresh().await?;
            if self.current.joins != joins && had_offsets {
                return Err(ClientError::Broker {
                    api: ApiKey::OffsetCommit,
                    code: ErrorCode::UnknownMemberId,
                    message: Some(
                        "the consumer rejoined its group before committing; \
                         uncommitted records will be delivered again"
                            .to_owned(),
                    ),
                });
            }
            if self.returned.is_empty() {
                return Ok(());
            }
            let mut topics: BTreeMap<&str, Vec<OffsetCommitPartition>> = BTreeMap::new();
            for ((topic, partition), &offset) in &self.returned {
                topics
                    .entry(topic)
                    .or_default()
                    .push(OffsetCommitPartition {
                        partition: *partition,
                        offset,
                        metadata: None,
                    });
            }
            let request = OffsetCommitRequest {
                group_id: self.session.config.group.clone(),
                member_id: self.current.member_id.clone(),
                generation_id: self.current.generation,
                topics: topics
                    .into_iter()
                    .map(|(name, partitions)| OffsetCommitTopic {
                        name: name.to_owned(),
                        partitions,
                    })
                    .collect(),
            };
            match self.session.client().commit_offsets(request).await {
                Ok(()) => {
                    self.returned.clear();
                    return Ok(());
                }
                Err(e) if e.code().is_some_and(rebalanced) => {
                    // A rebalance moved on: learn the new assignment, then
                    // commit what is still ours.
                    self.sync().await?;
                }
                Err(ClientError::Closed) => self.recover().await?,
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Broker {
            api: ApiKey::OffsetCommit,
            code: ErrorCode::RebalanceInProgress,
            message: None,
        })
    }

    /// Leaves the group at once (its partitions move to the other members).
    ///
    /// # Errors
    /// [`ClientError::Broker`] (`UNKNOWN_MEMBER_ID`), or a connection error.
    pub async fn leave(self) -> Result<(), ClientError> {
        self.heartbeat.abort();
        self.session
            .client()
            .leave_group(&self.session.config.group, &self.current.member_id)
            .await
    }
}

/// Heartbeats every `interval` until the consumer is dropped; rejoins when
/// the group forgot the member, and re-dials when the connection dropped
/// (then heartbeats at once, so a restarted broker sees the member again soon).
async fn heartbeat_loop(session: Arc<Session>, interval: Duration) {
    let mut wait = true;
    loop {
        if wait {
            // A client-side period, not a broker timer: real time is right here.
            tokio::time::sleep(interval).await;
        }
        wait = true;
        if session.membership.is_closed() {
            return;
        }
        match session.heartbeat().await {
            Err(ClientError::Closed) => match session.link.reconnect().await {
                Ok(_) => wait = false,
                Err(e) => {
                    tracing::debug!(error = %e, "consumer reconnect failed; trying again later")
                }
            },
            Err(e) => tracing::debug!(error = %e, "consumer heartbeat failed"),
            Ok(()) => {}
        }
    }
}
