package interop;

import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.ApplicationRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.config.TopicBuilder;
import org.springframework.kafka.core.KafkaAdmin;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.listener.DeadLetterPublishingRecoverer;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.kafka.support.KafkaHeaders;
import org.springframework.util.backoff.FixedBackOff;

/**
 * A small Spring Kafka application as a user would write it: a NewTopic bean,
 * a @KafkaListener, and a DefaultErrorHandler whose DeadLetterPublishingRecoverer
 * sends a record the listener keeps failing on to "TOPIC-dlt". The runner
 * sends good records and one poison record through the KafkaTemplate and checks
 * what arrived where. Prints "spring: N passed, N failed" and exits non-zero on
 * any failure.
 */
@SpringBootApplication
public class SpringInterop {
    static final BlockingQueue<String> received = new LinkedBlockingQueue<>();
    static final BlockingQueue<ConsumerRecord<String, String>> deadLetters = new LinkedBlockingQueue<>();
    static final Map<String, Integer> attempts = new ConcurrentHashMap<>();

    @Bean
    NewTopic ordersTopic(@Value("${interop.topic}") String topic) {
        return TopicBuilder.name(topic).partitions(3).replicas(1).build();
    }

    @Bean
    NewTopic ordersDeadLetterTopic(@Value("${interop.topic}") String topic) {
        return TopicBuilder.name(topic + "-dlt").partitions(3).replicas(1).build();
    }

    @Bean
    DefaultErrorHandler errorHandler(KafkaTemplate<String, String> template) {
        // Two retries, then the record goes to TOPIC-dlt, same partition.
        return new DefaultErrorHandler(new DeadLetterPublishingRecoverer(template), new FixedBackOff(0L, 2L));
    }

    @KafkaListener(id = "orders", topics = "${interop.topic}")
    void onOrder(String value) {
        attempts.merge(value, 1, Integer::sum);
        if (value.startsWith("poison")) {
            throw new IllegalStateException("cannot process " + value);
        }
        received.add(value);
    }

    @KafkaListener(id = "orders-dlt", topics = "${interop.topic}-dlt")
    void onDeadLetter(ConsumerRecord<String, String> record) {
        deadLetters.add(record);
    }

    @Bean
    ApplicationRunner scenarios(KafkaTemplate<String, String> template, KafkaAdmin admin,
                                @Value("${interop.topic}") String topic, ConfigurableApplicationContext ctx) {
        return args -> {
            Set<String> only = new HashSet<>(Arrays.asList(System.getenv().getOrDefault("INTEROP_ONLY", "").split(",")));
            only.remove("");
            int[] counts = new int[3];
            Map<String, Callable<Void>> checks = new LinkedHashMap<>();
            checks.put("new_topic_bean_creates_topic", () -> {
                Map<String, TopicDescription> d = admin.describeTopics(topic, topic + "-dlt");
                eq(d.get(topic).partitions().size(), 3, "partitions of " + topic);
                eq(d.get(topic + "-dlt").partitions().size(), 3, "partitions of the dead-letter topic");
                return null;
            });
            checks.put("template_sends_and_listener_receives", () -> {
                for (int i = 0; i < 6; i++) {
                    template.send(topic, "order-" + i, "order-" + i).get(30, TimeUnit.SECONDS);
                }
                Set<String> got = new TreeSet<>();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (got.size() < 6 && System.nanoTime() < deadline) {
                    String v = received.poll(1, TimeUnit.SECONDS);
                    if (v != null) got.add(v);
                }
                eq(got, new TreeSet<>(List.of("order-0", "order-1", "order-2", "order-3", "order-4", "order-5")), "records the listener received");
                return null;
            });
            checks.put("error_handler_publishes_to_dead_letter_topic", () -> {
                var sent = template.send(topic, "bad", "poison-1").get(30, TimeUnit.SECONDS).getRecordMetadata();
                ConsumerRecord<String, String> dead = deadLetters.poll(60, TimeUnit.SECONDS);
                check(dead != null, "no record reached " + topic + "-dlt");
                eq(dead.value(), "poison-1", "dead letter value");
                eq(dead.key(), "bad", "dead letter key");
                eq(dead.partition(), sent.partition(), "dead letter partition");
                eq(attempts.get("poison-1"), 3, "delivery attempts before the dead-letter topic");
                var original = dead.headers().lastHeader(KafkaHeaders.DLT_ORIGINAL_TOPIC);
                check(original != null, "no " + KafkaHeaders.DLT_ORIGINAL_TOPIC + " header");
                eq(new String(original.value(), StandardCharsets.UTF_8), topic, "original topic header");
                var message = dead.headers().lastHeader(KafkaHeaders.DLT_EXCEPTION_MESSAGE);
                check(message != null && new String(message.value(), StandardCharsets.UTF_8).contains("cannot process poison-1"), "exception message header");
                return null;
            });
            for (var e : checks.entrySet()) {
                if (!only.isEmpty() && !only.contains(e.getKey())) { counts[2]++; continue; }
                try {
                    e.getValue().call();
                    counts[0]++;
                    System.out.println("ok   spring." + e.getKey());
                } catch (Throwable ex) {
                    counts[1]++;
                    System.out.println("FAIL spring." + e.getKey() + ": " + ex);
                }
            }
            System.out.println("spring: " + counts[0] + " passed, " + counts[1] + " failed" + (counts[2] > 0 ? ", " + counts[2] + " skipped" : ""));
            int code = counts[1] == 0 ? 0 : 1;
            System.exit(SpringApplication.exit(ctx, () -> code));
        };
    }

    static void check(boolean cond, String what) { if (!cond) throw new AssertionError(what); }

    static void eq(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) throw new AssertionError(what + ": got " + got + ", want " + want);
    }

    public static void main(String[] args) {
        SpringApplication.run(SpringInterop.class, args);
    }
}
