"""librdkafka through confluent-kafka against the broker at KAFKA_BOOTSTRAP.

Scenarios: an idempotent producer with each codec and headers; keys landing on
the partitions Kafka's murmur2 partitioner picks; a three-member group across a
rebalance with the range and cooperative-sticky assignors; commit, restart and
resume; offsets_for_times; AdminClient create/describe/alter/delete of topics
and configs; list/describe/delete of groups; the error codes clients act on.
"""

import time

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
    ConsumerGroupState,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)
from kafka.partitioner.default import murmur2

import harness
from harness import BOOTSTRAP, check, eq, observe, topic, wait_for

TIMEOUT = 30.0


_admin = []


def admin():
    # One client for the run: a dropped AdminClient fails its pending futures.
    if not _admin:
        _admin.append(AdminClient({"bootstrap.servers": BOOTSTRAP}))
    return _admin[0]


def create_topic(name, partitions=1, config=None):
    futures = admin().create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=TIMEOUT,
        request_timeout=TIMEOUT,
    )
    futures[name].result(timeout=TIMEOUT)
    # Metadata may trail CreateTopics by a moment on Kafka: wait until it is listed.
    wait_for(
        lambda: name in admin().list_topics(timeout=10).topics
        and len(admin().list_topics(name, timeout=10).topics[name].partitions) == partitions,
        f"topic {name} in metadata",
    )


def producer(**extra):
    conf = {
        "bootstrap.servers": BOOTSTRAP,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    }
    conf.update(extra)
    return Producer(conf)


def produce_all(p, records):
    """Produces (topic, key, value, headers, partition, timestamp) tuples; returns delivery reports."""
    reports = []

    def on_delivery(err, msg):
        reports.append((err, msg))

    for t, key, value, headers, partition, ts in records:
        kwargs = {"key": key, "value": value, "headers": headers, "on_delivery": on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        if ts is not None:
            kwargs["timestamp"] = ts
        p.produce(t, **kwargs)
    remaining = p.flush(TIMEOUT)
    eq(remaining, 0, "records still in the producer queue after flush")
    eq(len(reports), len(records), "delivery reports")
    errors = [err for err, _ in reports if err is not None]
    eq(errors, [], "delivery errors")
    return [msg for _, msg in reports]


def consumer(group, **extra):
    conf = {
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
    }
    conf.update(extra)
    return Consumer(conf)


def consume_n(c, n, timeout=TIMEOUT):
    got = []

    def step():
        msg = c.poll(0.2)
        if msg is None:
            return
        if msg.error():
            raise KafkaException(msg.error())
        got.append(msg)

    wait_for(lambda: len(got) >= n, f"{n} records (have {len(got)})", timeout=timeout, step=step)
    return got


def test_idempotent_producer_each_codec_with_headers():
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        t = topic(f"codec-{codec}")
        create_topic(t)
        p = producer(**{"compression.type": codec})
        records = [
            (t, f"k{i}".encode(), (f"value-{i}-" + codec * 20).encode(), [("h", f"{i}".encode()), ("codec", codec.encode())], None, None)
            for i in range(20)
        ]
        delivered = produce_all(p, records)
        offsets = sorted(m.offset() for m in delivered)
        eq(offsets, list(range(20)), f"{codec}: delivered offsets")
        c = consumer(topic(f"codec-{codec}-reader"))
        c.assign([TopicPartition(t, 0, 0)])
        got = consume_n(c, 20)
        c.close()
        eq([m.value() for m in got], [r[2] for r in records], f"{codec}: values read back")
        eq([m.key() for m in got], [r[1] for r in records], f"{codec}: keys read back")
        eq([m.headers() for m in got], [r[3] for r in records], f"{codec}: headers read back")
        observe(f"{codec}.offsets", offsets)


def test_keys_land_on_kafkas_partitions():
    t = topic("keys")
    create_topic(t, partitions=6)
    # murmur2_random is Kafka's (the Java client's) default partitioner.
    p = producer(partitioner="murmur2_random")
    keys = [f"user-{i}".encode() for i in range(60)]
    delivered = produce_all(p, [(t, k, b"v", None, None, None) for k in keys])
    landed = {m.key(): m.partition() for m in delivered}
    for k in keys:
        eq(landed[k], (murmur2(k) & 0x7FFFFFFF) % 6, f"partition of key {k!r}")
    # And the broker stored each record in that partition.
    c = consumer(topic("keys-reader"))
    c.assign([TopicPartition(t, part, 0) for part in range(6)])
    got = consume_n(c, len(keys))
    c.close()
    eq({m.key(): m.partition() for m in got}, landed, "partitions the records were read from")
    observe("partitions", {k.decode(): v for k, v in sorted(landed.items())})


def group_across_rebalance(assignor):
    t = topic(f"group-{assignor}")
    group = topic(f"group-{assignor}")
    create_topic(t, partitions=6)
    produce_all(producer(), [(t, f"k{i}".encode(), f"{i}".encode(), None, i % 6, None) for i in range(60)])
    members = [consumer(group, **{"partition.assignment.strategy": assignor}) for _ in range(3)]
    for m in members:
        m.subscribe([t])
    seen = {}

    def poll_all(ms=members):
        for m in ms:
            msg = m.poll(0.05)
            if msg is not None and not msg.error():
                seen[(msg.partition(), msg.offset())] = msg.value()

    def parts(m):
        return sorted(tp.partition for tp in m.assignment())

    def balanced(ms, sizes):
        assigned = [parts(m) for m in ms]
        flat = sorted(p for a in assigned for p in a)
        return flat == list(range(6)) and sorted(len(a) for a in assigned) == sizes

    wait_for(lambda: balanced(members, [2, 2, 2]), "three members with two partitions each", step=poll_all)
    observe("three_member_sizes", [len(parts(m)) for m in members])
    if assignor == "range":
        # Range gives each member a contiguous run of partitions.
        for m in members:
            a = parts(m)
            eq(a, list(range(a[0], a[0] + 2)), "range assignment is contiguous")
    wait_for(lambda: len(seen) >= 60, "all 60 records consumed by the group", step=poll_all)
    eq(sorted(seen), sorted((i % 6, i // 6) for i in range(60)), "records the group consumed")
    for m in members:
        m.commit(asynchronous=False)
    leaving = members.pop()
    leaving.close()
    wait_for(lambda: balanced(members, [3, 3]), "two members with three partitions each", step=poll_all)
    observe("two_member_sizes", sorted(len(parts(m)) for m in members))
    committed = members[0].committed([TopicPartition(t, p) for p in range(6)], timeout=TIMEOUT)
    eq(sorted((tp.partition, tp.offset) for tp in committed), [(p, 10) for p in range(6)], "committed offsets")
    for m in members:
        m.close()


def test_three_member_group_rebalances_with_range():
    group_across_rebalance("range")


def test_three_member_group_rebalances_with_cooperative_sticky():
    group_across_rebalance("cooperative-sticky")


def test_commit_restart_resume():
    t = topic("resume")
    group = topic("resume")
    create_topic(t)
    produce_all(producer(), [(t, None, f"{i}".encode(), None, None, None) for i in range(20)])
    c = consumer(group)
    c.subscribe([t])
    got = consume_n(c, 10)
    tenth = got[9]
    c.commit(message=tenth, asynchronous=False)
    c.close()
    c = consumer(group)
    c.subscribe([t])
    resumed = consume_n(c, 1)
    eq(resumed[0].offset(), 10, "offset the restarted member resumes at")
    committed = c.committed([TopicPartition(t, 0)], timeout=TIMEOUT)
    eq(committed[0].offset, 10, "committed offset")
    c.close()
    observe("resumed_at", resumed[0].offset())


def test_offsets_for_times():
    t = topic("times")
    create_topic(t)
    base = (int(time.time()) - 3600) * 1000
    produce_all(producer(), [(t, None, f"{i}".encode(), None, None, base + 1000 * i) for i in range(3)])
    c = consumer(topic("times-reader"))
    asked = {"before": base - 1, "exact_1": base + 1000, "between": base + 1500, "after": base + 10000}
    result = {}
    for label, ts in asked.items():
        (tp,) = c.offsets_for_times([TopicPartition(t, 0, ts)], timeout=TIMEOUT)
        check(tp.error is None, f"{label}: error {tp.error}")
        result[label] = tp.offset
    eq(result, {"before": 0, "exact_1": 1, "between": 2, "after": -1}, "offsets for times")
    eq(c.get_watermark_offsets(TopicPartition(t, 0), timeout=TIMEOUT), (0, 3), "watermarks")
    c.close()
    observe("offsets", result)


def test_admin_topics_and_configs():
    a = admin()
    t = topic("admin")
    create_topic(t, partitions=3, config={"retention.ms": "3600000", "cleanup.policy": "compact"})
    md = a.list_topics(t, timeout=TIMEOUT).topics[t]
    eq(sorted(md.partitions), [0, 1, 2], "partitions listed")
    # Creating it again is TOPIC_ALREADY_EXISTS.
    fut = a.create_topics([NewTopic(t, num_partitions=3, replication_factor=1)], request_timeout=TIMEOUT)[t]
    try:
        fut.result(timeout=TIMEOUT)
        raise harness.Failed("creating an existing topic succeeded")
    except KafkaException as exc:
        eq(exc.args[0].code(), KafkaError.TOPIC_ALREADY_EXISTS, "error for an existing topic")
    # validate_only creates nothing.
    probe = topic("admin-validate")
    a.create_topics([NewTopic(probe, num_partitions=2, replication_factor=1)], validate_only=True)[probe].result(timeout=TIMEOUT)
    check(probe not in a.list_topics(timeout=TIMEOUT).topics, "validate_only created the topic")

    res = ConfigResource(ResourceType.TOPIC, t)
    configs = a.describe_configs([res], request_timeout=TIMEOUT)[res].result(timeout=TIMEOUT)
    eq(configs["retention.ms"].value, "3600000", "retention.ms")
    eq(configs["retention.ms"].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value, "retention.ms source")
    eq(configs["cleanup.policy"].value, "compact", "cleanup.policy")
    for name in ["segment.bytes", "max.message.bytes", "min.cleanable.dirty.ratio", "flush.messages"]:
        check(name in configs, f"{name} described")
        eq(configs[name].source, ConfigSource.DEFAULT_CONFIG.value, f"{name} source")
    observe("config_names", sorted(configs))
    observe(
        "config_defaults",
        {n: e.value for n, e in sorted(configs.items()) if e.source == ConfigSource.DEFAULT_CONFIG.value},
    )

    alter = ConfigResource(ResourceType.TOPIC, t, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
    ])
    a.incremental_alter_configs([alter], request_timeout=TIMEOUT)[alter].result(timeout=TIMEOUT)
    # Kafka applies an altered config to its brokers just after it answers: poll.
    wait_for(
        lambda: a.describe_configs([res], request_timeout=TIMEOUT)[res].result(timeout=TIMEOUT)["retention.ms"].value
        == "7200000",
        "retention.ms 7200000 after incremental alter",
    )

    a.create_partitions([NewPartitions(t, 5)], request_timeout=TIMEOUT)[t].result(timeout=TIMEOUT)
    wait_for(lambda: len(a.list_topics(t, timeout=10).topics[t].partitions) == 5, "five partitions")

    a.delete_topics([t], request_timeout=TIMEOUT)[t].result(timeout=TIMEOUT)
    wait_for(lambda: t not in a.list_topics(timeout=10).topics, "topic gone after delete")
    try:
        a.delete_topics([t], request_timeout=TIMEOUT)[t].result(timeout=TIMEOUT)
        raise harness.Failed("deleting a missing topic succeeded")
    except KafkaException as exc:
        eq(exc.args[0].code(), KafkaError.UNKNOWN_TOPIC_OR_PART, "error for a missing topic")
        observe("delete_missing_error", exc.args[0].name())


def test_admin_groups():
    a = admin()
    t = topic("groups")
    group = topic("groups")
    create_topic(t, partitions=2)
    produce_all(producer(), [(t, None, b"x", None, p, None) for p in (0, 1)])
    c = consumer(group)
    c.subscribe([t])
    consume_n(c, 2)
    c.commit(asynchronous=False)

    def described():
        d = a.describe_consumer_groups([group], request_timeout=TIMEOUT)[group].result(timeout=TIMEOUT)
        return d if d.state == ConsumerGroupState.STABLE else None

    d = wait_for(described, "group stable in describe")
    eq(len(d.members), 1, "members described")
    eq(sorted(tp.partition for tp in d.members[0].assignment.topic_partitions), [0, 1], "member assignment")
    eq(d.protocol_type if hasattr(d, "protocol_type") else "consumer", "consumer", "protocol type")
    listed = a.list_consumer_groups(request_timeout=TIMEOUT).result(timeout=TIMEOUT)
    check(group in [g.group_id for g in listed.valid], "group listed")
    c.close()
    d = wait_for(
        lambda: (lambda d: d if d.state == ConsumerGroupState.EMPTY else None)(
            a.describe_consumer_groups([group], request_timeout=TIMEOUT)[group].result(timeout=TIMEOUT)),
        "group empty after the member left",
    )
    offsets = a.list_consumer_group_offsets(
        [__import__("confluent_kafka").ConsumerGroupTopicPartitions(group)], request_timeout=TIMEOUT
    )[group].result(timeout=TIMEOUT)
    eq(sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions), [(0, 1), (1, 1)], "group offsets")
    a.delete_consumer_groups([group], request_timeout=TIMEOUT)[group].result(timeout=TIMEOUT)
    listed = a.list_consumer_groups(request_timeout=TIMEOUT).result(timeout=TIMEOUT)
    check(group not in [g.group_id for g in listed.valid], "group gone after delete")
    observe("states", ["STABLE", "EMPTY"])


def test_refusals_carry_kafkas_error_codes():
    t = topic("refusals")
    create_topic(t, config={"cleanup.policy": "compact", "max.message.bytes": "2048"})
    p = producer()
    codes = {}
    for label, key, value in [("keyless_on_compacted", None, b"v"), ("too_large", b"k", b"x" * 10000)]:
        reports = []
        p.produce(t, key=key, value=value, on_delivery=lambda err, msg: reports.append(err))
        p.flush(TIMEOUT)
        eq(len(reports), 1, f"{label}: delivery reports")
        check(reports[0] is not None, f"{label}: the broker accepted it")
        codes[label] = reports[0].name()
    eq(codes, {"keyless_on_compacted": "INVALID_RECORD", "too_large": "MSG_SIZE_TOO_LARGE"}, "refusal codes")
    observe("codes", codes)


if __name__ == "__main__":
    harness.run(
        "confluent_kafka",
        [
            test_idempotent_producer_each_codec_with_headers,
            test_keys_land_on_kafkas_partitions,
            test_three_member_group_rebalances_with_range,
            test_three_member_group_rebalances_with_cooperative_sticky,
            test_commit_restart_resume,
            test_offsets_for_times,
            test_admin_topics_and_configs,
            test_admin_groups,
            test_refusals_carry_kafkas_error_codes,
        ],
    )
