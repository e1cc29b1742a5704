"""kafka-python 3.x (pure Python, its own protocol codec) against KAFKA_BOOTSTRAP.

The core of the confluent-kafka scenarios: an idempotent producer with each
codec and headers, keys on Kafka's partitions, a group across a rebalance,
commit/restart/resume, offsets_for_times, and admin of topics, configs and
groups.
"""

import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from kafka.partitioner.default import murmur2

import harness
from harness import BOOTSTRAP, check, eq, observe, topic, wait_for

_admin = []


def admin():
    if not _admin:
        _admin.append(KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=30000))
    return _admin[0]


def create_topic(name, partitions=1, config=None):
    admin().create_topics([NewTopic(name, partitions, 1, topic_configs=config or {})])
    wait_for(
        lambda: len(producer_metadata_partitions(name)) == partitions,
        f"{name} with {partitions} partitions in metadata",
    )


def producer_metadata_partitions(name):
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    try:
        return c.partitions_for_topic(name) or set()
    finally:
        c.close()


def producer(**extra):
    conf = {"bootstrap_servers": BOOTSTRAP, "enable_idempotence": True, "acks": "all", "linger_ms": 5}
    conf.update(extra)
    return KafkaProducer(**conf)


def produce_all(p, t, records):
    """records: (key, value, headers, partition, timestamp_ms); returns RecordMetadata in order."""
    futures = [
        p.send(t, key=k, value=v, headers=h or [], partition=part, timestamp_ms=ts)
        for k, v, h, part, ts in records
    ]
    p.flush(timeout=30)
    return [f.get(timeout=30) for f in futures]


def reader(group=None, **extra):
    conf = {
        "bootstrap_servers": BOOTSTRAP,
        "group_id": group,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
    }
    if group is not None:
        # A member that vanishes without LeaveGroup holds a rebalance for a
        # session timeout: keep it short, as the other clients' scenarios do.
        conf.update(session_timeout_ms=10000, heartbeat_interval_ms=500)
    conf.update(extra)
    return KafkaConsumer(**conf)


def consume_n(c, n, timeout=30.0):
    got = []

    def step():
        for records in c.poll(timeout_ms=200).values():
            got.extend(records)

    wait_for(lambda: len(got) >= n, f"{n} records (have {len(got)})", timeout=timeout, step=step)
    return got


def test_idempotent_producer_each_codec_with_headers():
    for codec in [None, "gzip", "snappy", "lz4", "zstd"]:
        name = codec or "none"
        t = topic(f"kp-codec-{name}")
        create_topic(t)
        p = producer(compression_type=codec)
        records = [(f"k{i}".encode(), f"value-{i}-{name * 20}".encode(), [("h", str(i).encode())], None, None) for i in range(20)]
        meta = produce_all(p, t, records)
        p.close()
        eq([m.offset for m in meta], list(range(20)), f"{name}: offsets")
        c = reader()
        c.assign([TopicPartition(t, 0)])
        c.seek_to_beginning()
        got = consume_n(c, 20)
        c.close()
        eq([(r.key, r.value, list(r.headers)) for r in got], [(k, v, h) for k, v, h, _, _ in records], f"{name}: records read back")
        observe(f"{name}.offsets", [m.offset for m in meta])


def test_keys_land_on_kafkas_partitions():
    t = topic("kp-keys")
    create_topic(t, partitions=6)
    p = producer()
    keys = [f"user-{i}".encode() for i in range(60)]
    meta = produce_all(p, t, [(k, b"v", None, None, None) for k in keys])
    p.close()
    landed = {k: m.partition for k, m in zip(keys, meta)}
    for k in keys:
        eq(landed[k], (murmur2(k) & 0x7FFFFFFF) % 6, f"partition of {k!r}")
    observe("partitions", {k.decode(): v for k, v in sorted(landed.items())})


def test_group_rebalances_between_two_members():
    t = topic("kp-group")
    group = topic("kp-group")
    create_topic(t, partitions=4)
    p = producer()
    produce_all(p, t, [(None, str(i).encode(), None, i % 4, None) for i in range(40)])
    p.close()
    first = reader(group)
    first.subscribe([t])
    seen = set()

    def poll(members):
        def step():
            for m in members:
                for records in m.poll(timeout_ms=50).values():
                    seen.update((r.partition, r.offset) for r in records)
        return step

    wait_for(lambda: len(first.assignment()) == 4, "one member owning all four partitions", step=poll([first]))
    second = reader(group)
    second.subscribe([t])

    def split():
        a, b = first.assignment(), second.assignment()
        return len(a) == 2 and len(b) == 2 and not (a & b)

    wait_for(split, "two members with two partitions each", step=poll([first, second]))
    wait_for(lambda: len(seen) >= 40, "all records consumed", step=poll([first, second]))
    eq(sorted(seen), sorted((i % 4, i // 4) for i in range(40)), "records the group consumed")
    observe("sizes", sorted([len(first.assignment()), len(second.assignment())]))
    first.commit()
    second.commit()
    first.close()
    second.close()


def test_commit_restart_resume():
    t = topic("kp-resume")
    group = topic("kp-resume")
    create_topic(t)
    p = producer()
    produce_all(p, t, [(None, str(i).encode(), None, None, None) for i in range(20)])
    p.close()
    c = reader(group, max_poll_records=10)
    c.subscribe([t])
    consume_n(c, 10)
    from kafka.structs import OffsetAndMetadata

    c.commit({TopicPartition(t, 0): OffsetAndMetadata(10, "", -1)})
    c.close()
    c = reader(group)
    c.subscribe([t])
    got = consume_n(c, 1, timeout=60.0)
    eq(got[0].offset, 10, "offset resumed at")
    eq(c.committed(TopicPartition(t, 0)), 10, "committed offset")
    c.close()
    observe("resumed_at", got[0].offset)


def test_offsets_for_times():
    t = topic("kp-times")
    create_topic(t)
    base = (int(time.time()) - 3600) * 1000
    p = producer()
    produce_all(p, t, [(None, str(i).encode(), None, None, base + 1000 * i) for i in range(3)])
    p.close()
    c = reader()
    tp = TopicPartition(t, 0)
    result = {}
    for label, ts in {"before": base - 1, "exact_1": base + 1000, "between": base + 1500, "after": base + 10000}.items():
        found = c.offsets_for_times({tp: ts})[tp]
        result[label] = None if found is None else found.offset
    eq(result, {"before": 0, "exact_1": 1, "between": 2, "after": None}, "offsets for times")
    eq((c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp]), (0, 3), "beginning and end offsets")
    c.close()
    observe("offsets", result)


def test_admin_topics_configs_and_groups():
    a = admin()
    t = topic("kp-admin")
    create_topic(t, partitions=2, config={"retention.ms": "3600000"})
    try:
        a.create_topics([NewTopic(t, 2, 1)])
        raise harness.Failed("creating an existing topic succeeded")
    except TopicAlreadyExistsError:
        pass
    described = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)], config_filter="all")
    entries = described["topic"][t]
    eq(entries["retention.ms"]["value"], "3600000", "retention.ms described")
    eq(entries["retention.ms"]["config_source"], "DYNAMIC_TOPIC_CONFIG", "retention.ms source")
    eq(entries["segment.bytes"]["config_source"], "DEFAULT_CONFIG", "segment.bytes source")
    observe("config_names", sorted(entries))
    a.create_partitions({t: NewPartitions(3)})
    wait_for(lambda: len(producer_metadata_partitions(t)) == 3, "three partitions")

    group = topic("kp-admin")
    p = producer()
    produce_all(p, t, [(None, b"x", None, 0, None)])
    p.close()
    c = reader(group)
    c.subscribe([t])
    consume_n(c, 1)
    c.commit()
    c.close()
    listed = {g["group_id"]: g for g in a.list_groups()}
    check(group in listed, "group listed")
    eq((listed[group]["protocol_type"], listed[group]["group_state"]), ("consumer", "Empty"), "group type and state")
    offsets = a.list_group_offsets({group: None})[group]
    eq(offsets[TopicPartition(t, 0)].offset, 1, "group offset")
    a.delete_groups([group])
    check(group not in {g["group_id"] for g in a.list_groups()}, "group gone after delete")
    a.delete_topics([t])
    wait_for(lambda: t not in a.list_topics(), "topic gone after delete")
    try:
        a.delete_topics([t])
        raise harness.Failed("deleting a missing topic succeeded")
    except UnknownTopicOrPartitionError:
        pass


if __name__ == "__main__":
    import kafka

    print(f"kafka-python {kafka.__version__} against {BOOTSTRAP}", flush=True)
    harness.run(
        "kafka_python",
        [
            test_idempotent_producer_each_codec_with_headers,
            test_keys_land_on_kafkas_partitions,
            test_group_rebalances_between_two_members,
            test_commit_restart_resume,
            test_offsets_for_times,
            test_admin_topics_configs_and_groups,
        ],
    )
