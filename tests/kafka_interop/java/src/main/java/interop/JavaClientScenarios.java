package interop;

import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.*;
import org.apache.kafka.common.utils.Utils;

/**
 * The Apache Kafka Java client against KAFKA_BOOTSTRAP: an idempotent producer
 * (with headers, each codec, keys on murmur2 partitions), a consumer group
 * across a rebalance with commit and resume, and the AdminClient (topics,
 * configs, partitions, groups). Prints one line per scenario and closes with
 * "java: N passed, N failed"; exits 1 if any failed.
 */
public final class JavaClientScenarios {
    static final String BOOTSTRAP = System.getenv().getOrDefault("KAFKA_BOOTSTRAP", "127.0.0.1:9092");
    static final String RUN = UUID.randomUUID().toString().substring(0, 8);
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    interface Scenario { void run() throws Exception; }

    static String topic(String name) { return "interop-java-" + name + "-" + RUN; }

    static void check(boolean cond, String what) { if (!cond) throw new AssertionError(what); }

    static void eq(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) throw new AssertionError(what + ": got " + got + ", want " + want);
    }

    static void waitFor(BooleanSupplier cond, String what, Runnable step) {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + what);
            step.run();
        }
    }

    static Admin admin;

    static void createTopic(String name, int partitions, Map<String, String> configs) throws Exception {
        admin.createTopics(List.of(new NewTopic(name, Optional.of(partitions), Optional.empty()).configs(configs)))
            .all().get(30, TimeUnit.SECONDS);
        waitFor(() -> {
            try {
                return admin.describeTopics(List.of(name)).allTopicNames().get().get(name).partitions().size() == partitions;
            } catch (Exception e) { return false; }
        }, name + " described", () -> pause());
    }

    static void pause() { try { Thread.sleep(50); } catch (InterruptedException e) { throw new RuntimeException(e); } }

    static KafkaProducer<String, String> producer(Map<String, Object> extra) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.putAll(extra);
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    static KafkaConsumer<String, String> consumer(String group, Map<String, Object> extra) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        if (group != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
        p.putAll(extra);
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    static void idempotentProducerEachCodecWithHeaders() throws Exception {
        for (String codec : List.of("none", "gzip", "snappy", "lz4", "zstd")) {
            String t = topic("codec-" + codec);
            createTopic(t, 1, Map.of());
            List<Long> offsets = new ArrayList<>();
            try (KafkaProducer<String, String> p = producer(Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec))) {
                List<java.util.concurrent.Future<RecordMetadata>> fs = new ArrayList<>();
                for (int i = 0; i < 20; i++) {
                    ProducerRecord<String, String> r = new ProducerRecord<>(t, "k" + i, "value-" + i + "-" + codec.repeat(20));
                    r.headers().add(new RecordHeader("h", Integer.toString(i).getBytes()));
                    fs.add(p.send(r));
                }
                for (var f : fs) offsets.add(f.get(30, TimeUnit.SECONDS).offset());
            }
            List<Long> want = new ArrayList<>();
            for (long i = 0; i < 20; i++) want.add(i);
            eq(offsets, want, codec + ": offsets");
            try (KafkaConsumer<String, String> c = consumer(null, Map.of())) {
                c.assign(List.of(new TopicPartition(t, 0)));
                c.seekToBeginning(c.assignment());
                List<ConsumerRecord<String, String>> got = new ArrayList<>();
                waitFor(() -> got.size() >= 20, "20 records", () -> c.poll(Duration.ofMillis(200)).forEach(got::add));
                for (int i = 0; i < 20; i++) {
                    ConsumerRecord<String, String> r = got.get(i);
                    eq(r.key(), "k" + i, codec + ": key");
                    eq(r.value(), "value-" + i + "-" + codec.repeat(20), codec + ": value");
                    eq(new String(r.headers().lastHeader("h").value()), Integer.toString(i), codec + ": header");
                }
            }
        }
    }

    static void keysLandOnMurmur2Partitions() throws Exception {
        String t = topic("keys");
        createTopic(t, 6, Map.of());
        Map<String, Integer> landed = new TreeMap<>();
        try (KafkaProducer<String, String> p = producer(Map.of())) {
            for (int i = 0; i < 60; i++) {
                String k = "user-" + i;
                landed.put(k, p.send(new ProducerRecord<>(t, k, "v")).get(30, TimeUnit.SECONDS).partition());
            }
        }
        for (var e : landed.entrySet()) {
            eq(e.getValue(), Utils.toPositive(Utils.murmur2(e.getKey().getBytes())) % 6, "partition of " + e.getKey());
        }
        Map<String, Integer> read = new TreeMap<>();
        try (KafkaConsumer<String, String> c = consumer(null, Map.of())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < 6; i++) tps.add(new TopicPartition(t, i));
            c.assign(tps);
            c.seekToBeginning(tps);
            waitFor(() -> read.size() >= 60, "60 records", () -> c.poll(Duration.ofMillis(200)).forEach(r -> read.put(r.key(), r.partition())));
        }
        eq(read, landed, "partitions the records were read from");
    }

    static void groupRebalancesCommitsAndResumes() throws Exception {
        String t = topic("group");
        String group = topic("group");
        createTopic(t, 4, Map.of());
        try (KafkaProducer<String, String> p = producer(Map.of())) {
            for (int i = 0; i < 40; i++) p.send(new ProducerRecord<>(t, i % 4, null, Integer.toString(i)));
            p.flush();
        }
        KafkaConsumer<String, String> a = consumer(group, Map.of());
        KafkaConsumer<String, String> b = consumer(group, Map.of());
        Set<String> seen = new HashSet<>();
        a.subscribe(List.of(t));
        b.subscribe(List.of(t));
        Runnable pollBoth = () -> {
            a.poll(Duration.ofMillis(50)).forEach(r -> seen.add(r.partition() + "@" + r.offset()));
            b.poll(Duration.ofMillis(50)).forEach(r -> seen.add(r.partition() + "@" + r.offset()));
        };
        waitFor(() -> a.assignment().size() == 2 && b.assignment().size() == 2, "two members with two partitions each", pollBoth);
        Set<TopicPartition> union = new HashSet<>(a.assignment());
        union.addAll(b.assignment());
        eq(union.size(), 4, "partitions assigned");
        waitFor(() -> seen.size() >= 40, "40 records", pollBoth);
        eq(seen.size(), 40, "records the group consumed");
        a.commitSync(TIMEOUT);
        b.commitSync(TIMEOUT);
        b.close();
        waitFor(() -> a.assignment().size() == 4, "the remaining member owning all four partitions", () -> a.poll(Duration.ofMillis(100)));
        a.close();
        try (KafkaProducer<String, String> p = producer(Map.of())) {
            p.send(new ProducerRecord<>(t, 0, null, "after")).get(30, TimeUnit.SECONDS);
        }
        try (KafkaConsumer<String, String> c = consumer(group, Map.of())) {
            c.subscribe(List.of(t));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            waitFor(() -> !got.isEmpty(), "the record after the committed ones", () -> c.poll(Duration.ofMillis(200)).forEach(got::add));
            eq(got.get(0).value(), "after", "record resumed at");
            eq(got.get(0).offset(), 10L, "offset resumed at");
        }
    }

    static void adminTopicsConfigsAndGroups() throws Exception {
        String t = topic("admin");
        createTopic(t, 2, Map.of("retention.ms", "3600000", "cleanup.policy", "compact"));
        try {
            admin.createTopics(List.of(new NewTopic(t, 2, (short) 1))).all().get(30, TimeUnit.SECONDS);
            throw new AssertionError("creating an existing topic succeeded");
        } catch (ExecutionException e) {
            check(e.getCause() instanceof TopicExistsException, "TopicExistsException, got " + e.getCause());
        }
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, t);
        Config cfg = admin.describeConfigs(List.of(res)).all().get(30, TimeUnit.SECONDS).get(res);
        eq(cfg.get("retention.ms").value(), "3600000", "retention.ms");
        eq(cfg.get("retention.ms").source(), ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "retention.ms source");
        eq(cfg.get("segment.bytes").source(), ConfigEntry.ConfigSource.DEFAULT_CONFIG, "segment.bytes source");
        admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET))))
            .all().get(30, TimeUnit.SECONDS);
        waitFor(() -> {
            try { return admin.describeConfigs(List.of(res)).all().get().get(res).get("retention.ms").value().equals("7200000"); }
            catch (Exception e) { return false; }
        }, "retention.ms altered", JavaClientScenarios::pause);
        admin.createPartitions(Map.of(t, NewPartitions.increaseTo(3))).all().get(30, TimeUnit.SECONDS);
        waitFor(() -> {
            try { return admin.describeTopics(List.of(t)).allTopicNames().get().get(t).partitions().size() == 3; }
            catch (Exception e) { return false; }
        }, "three partitions", JavaClientScenarios::pause);
        String cluster = admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS);
        check(cluster != null && !cluster.isEmpty(), "cluster id");
        eq(admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).size(), 1, "nodes");

        String group = topic("admin-group");
        try (KafkaProducer<String, String> p = producer(Map.of())) {
            p.send(new ProducerRecord<>(t, 0, "k", "v")).get(30, TimeUnit.SECONDS);
        }
        try (KafkaConsumer<String, String> c = consumer(group, Map.of())) {
            c.subscribe(List.of(t));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            waitFor(() -> !got.isEmpty(), "a record", () -> c.poll(Duration.ofMillis(200)).forEach(got::add));
            c.commitSync(TIMEOUT);
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
            eq(d.groupState(), GroupState.STABLE, "group state with a member");
            eq(d.members().size(), 1, "members");
        }
        Collection<GroupListing> groups = admin.listGroups().all().get(30, TimeUnit.SECONDS);
        check(groups.stream().anyMatch(g -> g.groupId().equals(group)), "group listed");
        Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        eq(offsets.get(new TopicPartition(t, 0)).offset(), 1L, "group offset");
        admin.deleteConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS);
        admin.deleteTopics(List.of(t)).all().get(30, TimeUnit.SECONDS);
        waitFor(() -> {
            try { return !admin.listTopics().names().get().contains(t); } catch (Exception e) { return false; }
        }, "topic gone", JavaClientScenarios::pause);
        try {
            admin.deleteTopics(List.of(t)).all().get(30, TimeUnit.SECONDS);
            throw new AssertionError("deleting a missing topic succeeded");
        } catch (ExecutionException e) {
            check(e.getCause() instanceof UnknownTopicOrPartitionException, "UnknownTopicOrPartitionException, got " + e.getCause());
        }
    }

    public static void main(String[] args) {
        Set<String> only = new HashSet<>();
        for (String s : System.getenv().getOrDefault("INTEROP_ONLY", "").split(",")) if (!s.isEmpty()) only.add(s);
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        admin = Admin.create(ap);
        LinkedHashMap<String, Scenario> scenarios = new LinkedHashMap<>();
        scenarios.put("idempotent_producer_each_codec_with_headers", JavaClientScenarios::idempotentProducerEachCodecWithHeaders);
        scenarios.put("keys_land_on_murmur2_partitions", JavaClientScenarios::keysLandOnMurmur2Partitions);
        scenarios.put("group_rebalances_commits_and_resumes", JavaClientScenarios::groupRebalancesCommitsAndResumes);
        scenarios.put("admin_topics_configs_and_groups", JavaClientScenarios::adminTopicsConfigsAndGroups);
        int passed = 0, failed = 0, skipped = 0;
        for (var e : scenarios.entrySet()) {
            if (!only.isEmpty() && !only.contains(e.getKey())) { skipped++; continue; }
            long start = System.nanoTime();
            try {
                e.getValue().run();
                passed++;
                System.out.printf("ok   java.%s (%.1fs)%n", e.getKey(), (System.nanoTime() - start) / 1e9);
            } catch (Throwable ex) {
                failed++;
                System.out.printf("FAIL java.%s (%.1fs): %s%n", e.getKey(), (System.nanoTime() - start) / 1e9, ex);
                if (System.getenv("INTEROP_VERBOSE") != null) ex.printStackTrace(System.out);
            }
        }
        admin.close(Duration.ofSeconds(5));
        System.out.println("java: " + passed + " passed, " + failed + " failed" + (skipped > 0 ? ", " + skipped + " skipped" : ""));
        System.exit(failed == 0 ? 0 : 1);
    }
}
