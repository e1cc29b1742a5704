//! Consumer groups on a manual clock: assignment, session timeouts,
//! fencing, at-least-once delivery, offsets across restarts, resets.
//! Deterministic: time moves only when a test advances the clock.

use logbus::broker::client::{ConsumedRecord, Consumer, ConsumerConfig, Producer, ProducerConfig};
use logbus::broker::{
    Broker, BrokerConfig, BrokerError, CommitRequest, GroupState, JoinGroupRequest, ProduceRecord,
    ResetTarget, StorageConfig, Subscription, TopicConfig, TopicPartition,
};
use logbus::clock::ManualClock;
use logbus::log::Durability;
use logbus::log::storage::{MemoryStorage, Storage};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const SESSION_MS: i64 = 10_000;

fn open(storage: &MemoryStorage, clock: &ManualClock) -> Broker {
    let mut config = BrokerConfig::with_storage(StorageConfig::Custom {
        storage: Arc::new(storage.clone()) as Arc<dyn Storage>,
        dir: "/data".into(),
    })
    .clock(Arc::new(clock.clone()));
    // These tests expire sessions themselves, at the moment they choose.
    config.maintenance_interval_ms = None;
    Broker::open(config).unwrap()
}

fn consumer(broker: &Broker, group: &str, topic: &str) -> Consumer {
    let mut config = ConsumerConfig::new(group, Subscription::topic(topic));
    config.session_timeout_ms = Some(SESSION_MS);
    Consumer::join(broker, config).unwrap()
}

fn produce(broker: &Broker, topic: &str, n: usize, tag: &str) {
    let records = (0..n)
        .map(|i| ProduceRecord::keyed(format!("k{i}"), format!("{tag}-{i}")))
        .collect();
    broker.produce(topic, records, Durability::Written).unwrap();
}

fn key_of(r: &ConsumedRecord) -> (u32, i64) {
    (r.partition, r.offset)
}

#[test]
fn a_silent_members_partitions_move_after_its_session_times_out_and_its_commit_is_rejected() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let broker = open(&storage, &clock);
    broker
        .create_topic("t", TopicConfig::with_partitions(6))
        .unwrap();
    produce(&broker, "t", 300, "a");
    let mut members: Vec<Consumer> = (0..3).map(|_| consumer(&broker, "g", "t")).collect();
    for m in &mut members {
        m.heartbeat().unwrap();
    }
    let sizes: Vec<usize> = members.iter().map(|m| m.assignment().len()).collect();
    assert_eq!(sizes, vec![2, 2, 2]);
    let all: BTreeSet<_> = members
        .iter()
        .flat_map(|m| m.assignment().to_vec())
        .collect();
    assert_eq!(all.len(), 6, "every partition owned exactly once");

    let mut processed: BTreeMap<(u32, i64), usize> = BTreeMap::new();
    // Everyone polls once; the third member then goes silent without committing.
    for (i, m) in members.iter_mut().enumerate() {
        for r in m.poll().unwrap() {
            *processed.entry(key_of(&r)).or_default() += 1;
        }
        if i < 2 {
            m.commit().unwrap();
        }
    }
    let silent_partitions = members[2].assignment().to_vec();
    let generation_before = members[0].member_epoch();

    clock.advance(SESSION_MS / 2);
    members[0].heartbeat().unwrap();
    members[1].heartbeat().unwrap();
    clock.advance(SESSION_MS / 2 + 1);
    assert_eq!(broker.expire_sessions(), 1);
    members[0].heartbeat().unwrap();
    members[1].heartbeat().unwrap();
    assert!(members[0].member_epoch() > generation_before);
    let survivors: BTreeSet<_> = members[..2]
        .iter()
        .flat_map(|m| m.assignment().to_vec())
        .collect();
    assert_eq!(survivors.len(), 6, "the silent member's partitions moved");
    for tp in &silent_partitions {
        assert!(survivors.contains(tp));
    }

    // The fenced member's late commit is refused.
    let err = members[2].commit().unwrap_err();
    assert!(matches!(err, BrokerError::UnknownMember { .. }), "{err:?}");
    assert_eq!(err.kafka_code(), 25);

    // The survivors process everything: at least once, nothing skipped.
    produce(&broker, "t", 60, "b");
    for _ in 0..5 {
        for m in &mut members[..2] {
            for r in m.poll().unwrap() {
                *processed.entry(key_of(&r)).or_default() += 1;
            }
            m.commit().unwrap();
        }
    }
    let describe = broker.describe_group("g").unwrap();
    let total: i64 = describe.partitions.iter().map(|p| p.high_watermark).sum();
    assert_eq!(total, 360);
    assert_eq!(processed.len(), 360, "every record processed");
    let redelivered = processed.values().filter(|&&n| n > 1).count();
    assert!(
        redelivered > 0,
        "the silent member's uncommitted records came again"
    );
    assert_eq!(describe.total_lag, 0);
    assert_eq!(describe.members.len(), 2);
    assert!(broker.metrics().rebalances >= 4);
}

#[test]
fn a_commit_with_a_stale_member_epoch_or_for_a_partition_not_held_is_rejected() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let broker = open(&storage, &clock);
    broker
        .create_topic("t", TopicConfig::with_partitions(2))
        .unwrap();
    let a = broker
        .join_group(JoinGroupRequest::new("g", Subscription::topic("t")))
        .unwrap();
    assert_eq!(a.partitions.len(), 2);
    let b = broker
        .join_group(JoinGroupRequest::new("g", Subscription::topic("t")))
        .unwrap();
    assert!(b.partitions.is_empty(), "nothing moves before `a` releases");
    let commit = |member: &str, epoch, p| CommitRequest {
        group: "g".into(),
        member_id: Some(member.to_owned()),
        generation: epoch,
        offsets: vec![(TopicPartition::new("t", p), 1)],
        metadata: String::new(),
    };
    let err = broker
        .commit_offsets(commit(&a.member_id, a.member_epoch, 0))
        .unwrap_err();
    assert!(
        matches!(err, BrokerError::StaleMemberEpoch { .. }),
        "{err:?}"
    );
    assert_eq!(err.kafka_code(), 113);
    assert!(err.is_retriable());
    // `a` learns its new epoch (one partition to give up) without
    // acknowledging it: it may still commit the partition it gives up.
    let learned = broker.heartbeat("g", &a.member_id, a.member_epoch).unwrap();
    assert_eq!(learned.partitions.len(), 1);
    let given_up = (0..2)
        .find(|p| learned.partitions[0].partition != *p)
        .unwrap();
    broker
        .commit_offsets(commit(&a.member_id, learned.member_epoch, given_up))
        .unwrap();
    // Acknowledged: the partition goes to `b`, and `a` may no longer commit it.
    broker
        .heartbeat("g", &a.member_id, learned.member_epoch)
        .unwrap();
    let b = broker.heartbeat("g", &b.member_id, b.member_epoch).unwrap();
    assert_eq!(b.partitions, vec![TopicPartition::new("t", given_up)]);
    let err = broker
        .commit_offsets(commit(&a.member_id, learned.member_epoch, given_up))
        .unwrap_err();
    assert!(matches!(err, BrokerError::NotAssigned { .. }), "{err:?}");
    broker
        .commit_offsets(commit(
            &a.member_id,
            learned.member_epoch,
            learned.partitions[0].partition,
        ))
        .unwrap();
    // A standalone commit is refused while the group has members.
    let mut standalone = commit("", -1, 0);
    standalone.member_id = None;
    assert!(broker.commit_offsets(standalone).is_err());
}

#[test]
fn committed_offsets_survive_a_restart_and_consumers_resume_there() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = || BrokerConfig::dir(dir.path()).clock(Arc::new(clock.clone()));
    let broker = Broker::open(config()).unwrap();
    broker
        .create_topic("t", TopicConfig::with_partitions(3))
        .unwrap();
    produce(&broker, "t", 30, "a");
    let mut c = consumer(&broker, "g", "t");
    assert_eq!(c.poll().unwrap().len(), 30);
    c.commit().unwrap();
    c.close().unwrap();
    let before = broker.fetch_offsets("g");
    assert_eq!(before.values().map(|o| o.offset).sum::<i64>(), 30);
    broker.close().unwrap();

    let broker = Broker::open(config()).unwrap();
    assert_eq!(broker.fetch_offsets("g"), before);
    let d = broker.describe_group("g").unwrap();
    assert_eq!((d.state, d.total_lag), (GroupState::Empty, 0));
    produce(&broker, "t", 5, "b");
    let mut c = consumer(&broker, "g", "t");
    let again = c.poll().unwrap();
    assert_eq!(again.len(), 5, "only the new records");
    assert!(
        again
            .iter()
            .all(|r| r.value.as_ref().unwrap().starts_with(b"b-"))
    );
}

#[test]
fn a_consumer_that_crashes_before_committing_has_its_records_redelivered() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let broker = open(&storage, &clock);
    broker
        .create_topic("t", TopicConfig::with_partitions(2))
        .unwrap();
    produce(&broker, "t", 20, "a");
    let mut first = consumer(&broker, "g", "t");
    let seen = first.poll().unwrap();
    assert_eq!(seen.len(), 20);
    // Crash: no commit, no leave. The session runs out.
    drop(first);
    clock.advance(SESSION_MS + 1);
    let mut next = consumer(&broker, "g", "t");
    assert_eq!(next.assignment().len(), 2);
    let again = next.poll().unwrap();
    let a: BTreeSet<_> = seen.iter().map(key_of).collect();
    let b: BTreeSet<_> = again.iter().map(key_of).collect();
    assert_eq!(a, b, "every record redelivered");
}

#[test]
fn auto_commit_commits_only_what_an_earlier_poll_returned() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let broker = open(&storage, &clock);
    broker.create_topic("t", TopicConfig::default()).unwrap();
    produce(&broker, "t", 10, "a");
    let mut config = ConsumerConfig::new("g", Subscription::topic("t"));
    config.auto_commit = true;
    config.max_poll_records = 4;
    let mut c = Consumer::join(&broker, config).unwrap();
    assert_eq!(c.poll().unwrap().len(), 4);
    assert!(
        broker.fetch_offsets("g").is_empty(),
        "nothing committed before the application had the records"
    );
    assert_eq!(c.poll().unwrap().len(), 4);
    let tp = TopicPartition::new("t", 0);
    assert_eq!(broker.fetch_offsets("g")[&tp].offset, 4);
    c.close().unwrap();
    assert_eq!(broker.fetch_offsets("g")[&tp].offset, 8);
}

#[test]
fn resetting_a_group_to_a_timestamp_replays_exactly_the_records_from_then_on() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let broker = open(&storage, &clock);
    broker
        .create_topic("t", TopicConfig::with_partitions(2))
        .unwrap();
    for i in 0..20i64 {
        broker
            .produce(
                "t",
                vec![ProduceRecord::keyed(format!("k{i}"), format!("{i}")).timestamp(1_000 + i)],
                Durability::Written,
            )
            .unwrap();
    }
    let mut c = consumer(&broker, "g", "t");
    assert_eq!(c.poll().unwrap().len(), 20);
    c.commit().unwrap();
    // Reset is refused while the group has members.
    assert!(matches!(
        broker.reset_offsets("g", "t", None, ResetTarget::Timestamp(1_012)),
        Err(BrokerError::GroupNotEmpty { members: 1, .. })
    ));
    c.close().unwrap();
    broker
        .reset_offsets("g", "t", None, ResetTarget::Timestamp(1_012))
        .unwrap();
    let mut c = consumer(&broker, "g", "t");
    let mut replay: Vec<i64> = c.poll().unwrap().iter().map(|r| r.timestamp).collect();
    replay.sort_unstable();
    assert_eq!(replay, (1_012..1_020).collect::<Vec<_>>());
    c.close().unwrap();
    broker
        .reset_offsets("g", "t", Some(&[0]), ResetTarget::Earliest)
        .unwrap();
    broker
        .reset_offsets("g", "t", Some(&[1]), ResetTarget::Offset(1_000_000))
        .unwrap();
    let offsets = broker.fetch_offsets("g");
    assert_eq!(offsets[&TopicPartition::new("t", 0)].offset, 0);
    let hw1 = broker.describe_topic("t").unwrap().partitions[1].high_watermark;
    assert_eq!(offsets[&TopicPartition::new("t", 1)].offset, hw1);
    broker.delete_group("g").unwrap();
    assert!(broker.fetch_offsets("g").is_empty());
    assert!(broker.list_groups().is_empty());
}

#[test]
fn adding_partitions_rebalances_and_pattern_subscriptions_pick_up_new_topics() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let broker = open(&storage, &clock);
    broker
        .create_topic("orders-eu", TopicConfig::with_partitions(2))
        .unwrap();
    let mut req = JoinGroupRequest::new("g", Subscription::Pattern("orders-.*".into()));
    req.session_timeout_ms = Some(SESSION_MS);
    let m = broker.join_group(req).unwrap();
    assert_eq!(m.partitions.len(), 2);
    broker.add_partitions("orders-eu", 3).unwrap();
    let after = broker.heartbeat("g", &m.member_id, m.member_epoch).unwrap();
    assert_eq!(after.member_epoch, m.member_epoch + 1);
    assert_eq!(after.partitions.len(), 3);
    broker
        .create_topic("orders-us", TopicConfig::default())
        .unwrap();
    broker
        .create_topic("payments", TopicConfig::default())
        .unwrap();
    let after = broker
        .heartbeat("g", &m.member_id, after.member_epoch)
        .unwrap();
    assert_eq!(after.partitions.len(), 4);
    assert!(
        after
            .partitions
            .iter()
            .all(|p| p.topic.starts_with("orders-"))
    );
}

#[tokio::test]
async fn await_helpers_see_a_group_become_stable_and_catch_up() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let broker = open(&storage, &clock);
    broker
        .create_topic("t", TopicConfig::with_partitions(4))
        .unwrap();
    let producer = Producer::new(&broker, ProducerConfig::default()).unwrap();
    producer
        .send_all(
            "t",
            (0..100)
                .map(|i| ProduceRecord::keyed(format!("k{i}"), "v"))
                .collect(),
        )
        .unwrap();
    let worker = tokio::spawn({
        let broker = broker.clone();
        async move {
            let mut a = consumer(&broker, "g", "t");
            let mut b = consumer(&broker, "g", "t");
            let mut got = 0;
            while got < 100 {
                for c in [&mut a, &mut b] {
                    got += c.poll_wait(Duration::from_millis(50)).await.unwrap().len();
                    c.commit().unwrap();
                }
            }
            (a, b)
        }
    });
    broker
        .wait_group_stable("g", Duration::from_secs(20))
        .await
        .unwrap();
    broker
        .wait_group_caught_up("g", Duration::from_secs(20))
        .await
        .unwrap();
    let (a, b) = worker.await.unwrap();
    assert_eq!(a.assignment().len() + b.assignment().len(), 4);
    let counters = &broker.metrics().groups["g"];
    assert_eq!(counters.lag, 0);
    assert_eq!(counters.partitions.len(), 4);
    assert!(counters.partitions.iter().all(|p| p.lag == Some(0)));
    let err = broker
        .wait_group_caught_up("nobody", Duration::from_millis(10))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Timeout { .. }));
}
