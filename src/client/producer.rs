//! The network producer: records are queued, partitioned (explicit, by
//! Kafka's murmur2 of the key, or sticky for unkeyed records), batched per
//! partition into RecordBatch v2 batches stamped with an idempotent
//! producer id, epoch and per-partition sequence, and sent by one
//! background task. Each record gets its own delivery result.
//!
//! Retries: a request whose connection dropped (or timed out, or got a
//! retriable error code) is sent again — the very same batch bytes, so the
//! same producer id, epoch and sequences — over a new connection until the
//! batch's delivery timeout passes; the broker recognises a batch it already
//! stored and answers with its original offsets, so a retry never
//! duplicates. One produce request is in flight at a time, which keeps
//! sequences in order without bookkeeping; records queued meanwhile ride in
//! the next request. After a batch fails for good, the producer bumps its
//! epoch and restarts its sequences, so later batches are not refused as
//! out of order. An unknown topic or partition fails at once: one broker
//! holds them all, so its answer is final. Knows the protocol, the record format and the partitioner.

use super::connection::{Client, ClientConfig};
use super::error::ClientError;
use crate::partitioner::partition_for_key;
use crate::protocol::{
    ApiKey, Durability, ErrorCode, ProducePartition, ProduceRequest, ProduceTopic,
};
use crate::record::{BatchBuilder, Compression, Header};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How a [`Producer`] batches, acknowledges and retries.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Durability every produce asks for.
    pub durability: Durability,
    /// How long a record may wait for more records to share its request.
    pub linger: Duration,
    /// A partition's batch is sent once it holds this many bytes.
    pub batch_bytes: usize,
    /// Records of all partitions sent in one request, at most (keep it
    /// under the frame limit).
    pub max_request_bytes: usize,
    /// How long a record may take, retries included, before it fails.
    pub delivery_timeout: Duration,
    /// Pause between retries.
    pub retry_backoff: Duration,
    /// Records queued before [`Producer::send`] waits for room.
    pub queue_records: usize,
    /// Codec of the batches.
    pub compression: Compression,
    /// The connection's settings.
    pub client: ClientConfig,
}

impl Default for ProducerConfig {
    fn default() -> ProducerConfig {
        ProducerConfig {
            durability: Durability::Written,
            linger: Duration::from_millis(5),
            batch_bytes: 1 << 20,
            max_request_bytes: 4 << 20,
            delivery_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(50),
            queue_records: 100_000,
            compression: Compression::None,
            client: ClientConfig::default(),
        }
    }
}

/// One record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Topic.
    pub topic: String,
    /// Explicit partition; else by key, else sticky.
    pub partition: Option<i32>,
    /// Key; decides the partition unless one is given.
    pub key: Option<Bytes>,
    /// Value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// Create time in ms; `None` takes the producer's clock.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value and no key.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into(),
            value: Some(value.into()),
            ..ProducerRecord::default()
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> ProducerRecord {
        self.key = Some(key.into());
        self
    }

    /// Sends the record to partition `p`.
    pub fn partition(mut self, p: i32) -> ProducerRecord {
        self.partition = Some(p);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> ProducerRecord {
        self.headers.push(Header {
            key: key.into(),
            value: Some(value.into()),
        });
        self
    }

    /// Sets the create time (ms).
    pub fn timestamp(mut self, ms: i64) -> ProducerRecord {
        self.timestamp = Some(ms);
        self
    }
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Create time (ms).
    pub timestamp: i64,
}

type Ack = oneshot::Sender<Result<RecordMetadata, ClientError>>;

/// A partition's answer to a produce: base offset, or error code and message.
type Outcome = Result<i64, (ErrorCode, Option<String>)>;

/// A record's delivery result; resolves once the broker acknowledged it at
/// the producer's durability, or it failed for good.
#[derive(Debug)]
pub struct Delivery {
    result: oneshot::Receiver<Result<RecordMetadata, ClientError>>,
}

impl Future for Delivery {
    type Output = Result<RecordMetadata, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.result).poll(cx).map(|r| match r {
            Ok(result) => result,
            // The background task went away without answering.
            Err(_dropped) => Err(ClientError::ProducerClosed),
        })
    }
}

enum Msg {
    Record(ProducerRecord, Ack),
    Flush(oneshot::Sender<()>),
}

/// An idempotent, batching producer over the native protocol; share it by
/// reference (sends from many tasks are fine).
#[derive(Debug)]
pub struct Producer {
    queue: mpsc::Sender<Msg>,
    task: JoinHandle<()>,
    id: (i64, i16),
}

impl Producer {
    /// Connects to `addr` and obtains a producer id, retrying while the
    /// server is unreachable for at most `config.delivery_timeout`.
    ///
    /// # Errors
    /// The last connection error once the delivery timeout has passed, or a
    /// non-retriable error at once.
    pub async fn connect(addr: &str, config: ProducerConfig) -> Result<Producer, ClientError> {
        let deadline = Instant::now() + config.delivery_timeout;
        let (client, id) = loop {
            let attempt = async {
                let c = Client::connect_with(addr, config.client.clone()).await?;
                let id = c.init_producer_id(None).await?;
                Ok::<_, ClientError>((c, id))
            };
            match attempt.await {
                Ok(ok) => break ok,
                Err(e) if e.is_retriable() && Instant::now() + config.retry_backoff < deadline => {
                    tokio::time::sleep(config.retry_backoff).await;
                }
                Err(e) => return Err(e),
            }
        };
        let (queue, rx) = mpsc::channel(config.queue_records.max(1));
        let worker = Worker {
            addr: addr.to_owned(),
            client: Some(client),
            id,
            sequences: HashMap::new(),
            partitions: HashMap::new(),
            sticky: HashMap::new(),
            open: BTreeMap::new(),
            open_bytes: 0,
            oldest: None,
            flushes: Vec::new(),
            config,
        };
        let task = tokio::spawn(worker.run(rx));
        Ok(Producer { queue, task, id })
    }

    /// The producer id and epoch the producer started with.
    pub fn producer_id(&self) -> (i64, i16) {
        self.id
    }

    /// Queues a record (waiting only for room in the queue) and returns its
    /// delivery result to await.
    ///
    /// # Errors
    /// [`ClientError::ProducerClosed`] if the background task is gone.
    pub async fn send(&self, record: ProducerRecord) -> Result<Delivery, ClientError> {
        let (ack, result) = oneshot::channel();
        if self.queue.send(Msg::Record(record, ack)).await.is_err() {
            return Err(ClientError::ProducerClosed);
        }
        Ok(Delivery { result })
    }

    /// Sends everything queued so far at once and waits until each of
    /// those records is acknowledged or has failed.
    ///
    /// # Errors
    /// [`ClientError::ProducerClosed`] if the background task is gone.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Msg::Flush(done)).await.is_err() {
            return Err(ClientError::ProducerClosed);
        }
        match wait.await {
            Ok(()) => Ok(()),
            Err(_dropped) => Err(ClientError::ProducerClosed),
        }
    }

    /// Flushes and stops the background task.
    ///
    /// # Errors
    /// [`ClientError::ProducerClosed`] if the background task was already gone.
    pub async fn close(self) -> Result<(), ClientError> {
        let flushed = self.flush().await;
        drop(self.queue);
        let _ = self.task.await;
        flushed
    }
}

/// A partition's batch being filled.
struct Open {
    builder: BatchBuilder,
    acks: Vec<(Ack, i64)>,
    created: Instant,
}

/// A built batch on its way, with the acks of its records.
struct Ready {
    topic: String,
    partition: i32,
    bytes: Bytes,
    acks: Vec<(Ack, i64)>,
    deadline: Instant,
}

struct Worker {
    addr: String,
    config: ProducerConfig,
    client: Option<Client>,
    id: (i64, i16),
    /// Next sequence per (topic, partition).
    sequences: HashMap<(String, i32), i32>,
    /// Known partition counts.
    partitions: HashMap<String, i32>,
    /// Sticky partition per topic for unkeyed records.
    sticky: HashMap<String, i32>,
    open: BTreeMap<(String, i32), Open>,
    open_bytes: usize,
    /// When the oldest open batch started (its linger runs from then).
    oldest: Option<Instant>,
    flushes: Vec<oneshot::Sender<()>>,
}

/// Kafka's sequence arithmetic: wraps from `i32::MAX` to 0.
fn next_sequence(seq: i32, records: usize) -> i32 {
    let next = (i64::from(seq) + records as i64) % (i64::from(i32::MAX) + 1);
    i32::try_from(next).unwrap_or(0)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut closed = false;
        while !closed {
            let msg = match self.oldest {
                None => rx.recv().await,
                Some(t) => tokio::select! {
                    m = rx.recv() => m,
                    () = tokio::time::sleep_until(t + self.config.linger) => {
                        self.send_all().await;
                        continue;
                    }
                },
            };
            let mut next = msg;
            // Take whatever else is queued before deciding to send.
            loop {
                match next {
                    Some(Msg::Record(r, ack)) => self.add(r, ack).await,
                    Some(Msg::Flush(done)) => self.flushes.push(done),
                    None => closed = true,
                }
                if closed || self.open_bytes >= self.config.max_request_bytes {
                    break;
                }
                match rx.try_recv() {
                    Ok(m) => next = Some(m),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => next = None,
                }
            }
            let full = self.open_bytes >= self.config.max_request_bytes
                || self
                    .open
                    .values()
                    .any(|o| o.builder.estimated_size() >= self.config.batch_bytes);
            if closed || full || !self.flushes.is_empty() {
                self.send_all().await;
            }
        }
    }

    async fn connection(&mut self) -> Result<Client, ClientError> {
        if let Some(c) = self.client.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        self.client = None;
        let c = Client::connect_with(&self.addr, self.config.client.clone()).await?;
        self.client = Some(c.clone());
        Ok(c)
    }

    /// The topic's partition count; an unknown topic counts as one
    /// partition (the broker may create it on first produce).
    async fn partition_count(&mut self, topic: &str) -> Result<i32, ClientError> {
        if let Some(&n) = self.partitions.get(topic) {
            return Ok(n);
        }
        let deadline = Instant::now() + self.config.delivery_timeout;
        loop {
            let described = match self.connection().await {
                Ok(c) => c.describe_topic(topic).await,
                Err(e) => Err(e),
            };
            match described {
                Ok(t) => {
                    let n = i32::try_from(t.partitions.len()).unwrap_or(i32::MAX).max(1);
                    self.partitions.insert(topic.to_owned(), n);
                    return Ok(n);
                }
                Err(e) if e.code() == Some(ErrorCode::UnknownTopicOrPartition) => return Ok(1),
                Err(e) if e.is_retriable() && Instant::now() < deadline => {
                    tokio::time::sleep(self.config.retry_backoff).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn add(&mut self, r: ProducerRecord, ack: Ack) {
        let partition = match r.partition {
            Some(p) => p,
            None => match self.partition_count(&r.topic).await {
                Ok(n) => match &r.key {
                    Some(k) => {
                        let n = u32::try_from(n).unwrap_or(1);
                        i32::try_from(partition_for_key(k, n)).unwrap_or(0)
                    }
                    None => {
                        let start = i32::try_from(self.id.0.rem_euclid(i64::from(n))).unwrap_or(0);
                        *self.sticky.entry(r.topic.clone()).or_insert(start) % n
                    }
                },
                Err(e) => {
                    let _ = ack.send(Err(e));
                    return;
                }
            },
        };
        let ts = r.timestamp.unwrap_or_else(now_ms);
        let (key, value) = (r.key.as_deref(), r.value.as_deref());
        let slot = (r.topic.clone(), partition);
        // A record that would overflow its partition's batch sends what is open first.
        let overflow = self.open.get(&slot).is_some_and(|o| {
            !o.builder.is_empty()
                && o.builder.estimated_size_with(ts, key, value, &r.headers)
                    > self.config.batch_bytes
        });
        if overflow {
            self.send_all().await;
        }
        let compression = self.config.compression;
        let open = self.open.entry(slot).or_insert_with(|| Open {
            builder: BatchBuilder::new(compression),
            acks: Vec::new(),
            created: Instant::now(),
        });
        let before = open.builder.estimated_size();
        match open.builder.append(ts, key, value, &r.headers) {
            Ok(_) => {
                open.acks.push((ack, ts));
                self.open_bytes += open.builder.estimated_size() - before;
                self.oldest.get_or_insert(open.created);
            }
            Err(source) => {
                let _ = ack.send(Err(ClientError::Record { source }));
            }
        }
    }

    /// Builds every open batch and delivers them in one request (retrying).
    async fn send_all(&mut self) {
        let (pid, epoch) = self.id;
        let mut ready = Vec::new();
        for ((topic, partition), open) in std::mem::take(&mut self.open) {
            if open.acks.is_empty() {
                continue;
            }
            let seq = self
                .sequences
                .entry((topic.clone(), partition))
                .or_insert(0);
            match open.builder.producer(pid, epoch, *seq).build() {
                Ok(bytes) => {
                    *seq = next_sequence(*seq, open.acks.len());
                    ready.push(Ready {
                        topic,
                        partition,
                        bytes: Bytes::from(bytes),
                        acks: open.acks,
                        deadline: open.created + self.config.delivery_timeout,
                    });
                }
                Err(source) => {
                    let e = Arc::new(ClientError::Record { source });
                    fail(&topic, partition, open.acks, &e);
                }
            }
        }
        self.open_bytes = 0;
        self.oldest = None;
        if !ready.is_empty() {
            self.deliver(ready).await;
        }
        // Unkeyed records move on to the next partition after each batch.
        for p in self.sticky.values_mut() {
            *p = p.wrapping_add(1).max(0);
        }
        for done in self.flushes.drain(..) {
            let _ = done.send(());
        }
    }

    async fn deliver(&mut self, mut pending: Vec<Ready>) {
        let mut last_error: Option<ClientError> = None;
        let mut broken = false;
        while !pending.is_empty() {
            let deadline = pending
                .iter()
                .map(|r| r.deadline)
                .min()
                .unwrap_or_else(Instant::now);
            if Instant::now() >= deadline {
                let source = Arc::new(last_error.take().unwrap_or(ClientError::Closed));
                let e = Arc::new(ClientError::DeliveryTimeout {
                    after: self.config.delivery_timeout,
                    source,
                });
                for r in pending.drain(..) {
                    fail(&r.topic, r.partition, r.acks, &e);
                }
                broken = true;
                break;
            }
            match self.attempt(&pending).await {
                Ok(answers) => {
                    let mut retry = Vec::new();
                    for r in pending.drain(..) {
                        match answers.get(&(r.topic.clone(), r.partition)) {
                            Some(Ok(base)) => succeed(r, *base),
                            Some(Err((code, message))) => {
                                let e = ClientError::Broker {
                                    api: ApiKey::Produce,
                                    code: *code,
                                    message: message.clone(),
                                };
                                // One broker holds every partition: when it
                                // does not know the topic or the partition, no
                                // retry will change that, so fail at once.
                                let definitive = *code == ErrorCode::UnknownTopicOrPartition;
                                if e.is_retriable() && !definitive {
                                    last_error = Some(e);
                                    retry.push(r);
                                } else {
                                    fail(&r.topic, r.partition, r.acks, &Arc::new(e));
                                    broken = true;
                                }
                            }
                            None => retry.push(r),
                        }
                    }
                    pending = retry;
                }
                Err(e) if e.is_retriable() => {
                    // The connection is suspect: the next attempt dials anew.
                    self.client = None;
                    last_error = Some(e);
                }
                Err(e) => {
                    let e = Arc::new(e);
                    for r in pending.drain(..) {
                        fail(&r.topic, r.partition, r.acks, &e);
                    }
                    broken = true;
                }
            }
            if !pending.is_empty() {
                tokio::time::sleep(self.config.retry_backoff).await;
            }
        }
        if broken {
            self.bump_epoch().await;
        }
    }

    /// One produce request of `pending`; per (topic, partition) the base
    /// offset or the error code and message.
    async fn attempt(
        &mut self,
        pending: &[Ready],
    ) -> Result<HashMap<(String, i32), Outcome>, ClientError> {
        let client = self.connection().await?;
        let mut topics: BTreeMap<&str, Vec<ProducePartition>> = BTreeMap::new();
        for r in pending {
            topics.entry(&r.topic).or_default().push(ProducePartition {
                partition: r.partition,
                records: r.bytes.clone(),
            });
        }
        let timeout_ms =
            i32::try_from(self.config.client.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let request = ProduceRequest {
            durability: self.config.durability,
            timeout_ms,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| ProduceTopic {
                    name: name.to_owned(),
                    partitions,
                })
                .collect(),
        };
        let response = client.send(request).await?;
        let mut out = HashMap::new();
        for t in response.topics {
            for p in t.partitions {
                let outcome = if p.error_code.is_ok() {
                    Ok(p.base_offset)
                } else {
                    Err((p.error_code, p.error_message))
                };
                out.insert((t.name.clone(), p.partition), outcome);
            }
        }
        Ok(out)
    }

    /// After a batch failed for good its partition's sequence has a gap: a
    /// new epoch restarts every sequence at 0.
    async fn bump_epoch(&mut self) {
        let bumped = match self.connection().await {
            Ok(c) => c.init_producer_id(Some(self.id)).await,
            Err(e) => Err(e),
        };
        match bumped {
            Ok(id) => {
                self.id = id;
                self.sequences.clear();
            }
            Err(e) => tracing::warn!(error = %e, "producer could not bump its epoch"),
        }
    }
}

fn succeed(r: Ready, base_offset: i64) {
    for (i, (ack, timestamp)) in r.acks.into_iter().enumerate() {
        let _ = ack.send(Ok(RecordMetadata {
            topic: r.topic.clone(),
            partition: r.partition,
            offset: base_offset + i as i64,
            timestamp,
        }));
    }
}

fn fail(topic: &str, partition: i32, acks: Vec<(Ack, i64)>, source: &Arc<ClientError>) {
    for (ack, _) in acks {
        let _ = ack.send(Err(ClientError::BatchFailed {
            topic: topic.to_owned(),
            partition,
            source: Arc::clone(source),
        }));
    }
}
