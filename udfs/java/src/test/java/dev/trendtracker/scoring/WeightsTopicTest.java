package dev.trendtracker.scoring;

import static dev.trendtracker.scoring.Functions.context;
import static dev.trendtracker.scoring.Rankings.counts;
import static dev.trendtracker.scoring.Rankings.product;
import static dev.trendtracker.scoring.Rankings.row;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;

import org.apache.flink.metrics.testutils.MetricListener;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The weights topic, on a one-node Kafka cluster in this JVM: WeightsFeed follows it, and
 * rank_window in a streaming run scores each window with the weights in force when it fires,
 * records which (activations), and after a restore scores a window it already scored with
 * the same weights as the first time.
 */
@Timeout(120)
class WeightsTopicTest {
    static final String MODEL = "trend-weights";
    static KafkaClusterTestKit cluster;
    static KafkaProducer<byte[], byte[]> producer;

    @BeforeAll
    static void start() throws Exception {
        cluster = new KafkaClusterTestKit.Builder(new TestKitNodes.Builder()
                .setCombined(true).setNumBrokerNodes(1).setNumControllerNodes(1).build())
                .build();
        cluster.format();
        cluster.startup();
        cluster.waitForReadyBrokers();
        Properties props = new Properties();
        props.put("bootstrap.servers", cluster.bootstrapServers());
        props.put("acks", "all");
        producer = new KafkaProducer<>(props, new ByteArraySerializer(),
                new ByteArraySerializer());
    }

    @AfterAll
    static void stop() throws Exception {
        if (producer != null) {
            producer.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    static String topic() throws Exception {
        String topic = "weights-" + UUID.randomUUID();
        Properties props = new Properties();
        props.put("bootstrap.servers", cluster.bootstrapServers());
        try (Admin admin = Admin.create(props)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
        }
        return topic;
    }

    static void publish(String topic, String key, String value) throws Exception {
        producer.send(new ProducerRecord<>(topic, key.getBytes(StandardCharsets.UTF_8),
                value.getBytes(StandardCharsets.UTF_8))).get();
    }

    static String weights(String version, double click) {
        return "{\"weights_version\": \"" + version + "\", \"click\": " + click
                + ", \"cart\": 3, \"purchase\": 5}";
    }

    /** Every (key, value) on the topic, in order. */
    static List<List<String>> records(String topic) {
        Properties props = new Properties();
        props.put("bootstrap.servers", cluster.bootstrapServers());
        List<List<String>> records = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props,
                new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition partition = new TopicPartition(topic, 0);
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            long end = consumer.endOffsets(List.of(partition)).get(partition);
            while (consumer.position(partition) < end) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    records.add(List.of(new String(r.key(), StandardCharsets.UTF_8),
                            new String(r.value(), StandardCharsets.UTF_8)));
                }
            }
        }
        return records;
    }

    /** Waits until the shared feed has read weights {@code version}. */
    static void awaitWeights(String topic, String scope, String version) throws Exception {
        WeightsFeed feed = WeightsFeed.acquire(cluster.bootstrapServers(), topic, MODEL, scope);
        try {
            long deadline = System.currentTimeMillis() + 30_000;
            while (true) {
                Weights current = feed.current(30_000);
                if (current != null && current.version.equals(version)) {
                    return;
                }
                assertTrue(System.currentTimeMillis() < deadline, "weights " + version);
                Thread.sleep(50);
            }
        } finally {
            feed.release();
        }
    }

    @Test
    void theFeedFollowsTheNewestValidWeightsOfItsModel() throws Exception {
        String topic = topic();
        publish(topic, MODEL, weights("v1", 1));
        publish(topic, "other-model", weights("x9", 1)); // another model's key
        publish(topic, MODEL, "{\"weights_version\": \"bad\", \"click\": -1}"); // skipped
        WeightsFeed feed = WeightsFeed.acquire(cluster.bootstrapServers(), topic, MODEL, "s1");
        try {
            // The first call waits until the topic is read to the end it had at start.
            assertEquals("v1", feed.current(30_000).version);
            assertSame(feed, WeightsFeed.acquire(cluster.bootstrapServers(), topic, MODEL, "s1"));
            feed.release(); // the second user
            publish(topic, MODEL, weights("v2", 2));
            awaitWeights(topic, "s1", "v2");
            assertEquals(2.0, feed.current(0).click);
            assertNull(feed.activeAt(Long.MAX_VALUE));
            assertEquals(Long.MIN_VALUE, feed.lastScored());
        } finally {
            feed.release();
        }
        // The last user stopped it: the next one gets a new feed.
        WeightsFeed again = WeightsFeed.acquire(cluster.bootstrapServers(), topic, MODEL, "s1");
        try {
            assertNotSame(feed, again);
            assertEquals("v2", again.current(30_000).version);
        } finally {
            again.release();
        }
    }

    @Test
    void activationsAreRecordedOnTheTopicAndReadBackByTheNextFeedOfTheScope() throws Exception {
        String topic = topic();
        Weights v1 = Weights.parse(weights("v1", 1));
        Weights v2 = Weights.parse(weights("v2", 2));
        WeightsFeed feed = WeightsFeed.acquire(cluster.bootstrapServers(), topic, MODEL, "run-a");
        try {
            assertNull(feed.current(30_000)); // nothing published yet
            feed.activate(60_000, v1);
            feed.markScored(60_000, v1);
            feed.markScored(90_000, v1);
            feed.activate(120_000, v2);
            feed.markScored(120_000, v2);
            assertEquals("v1", feed.activeAt(119_999).version);
            assertEquals("v2", feed.activeAt(120_000).version);
            assertNull(feed.activeAt(59_999));
            assertEquals(120_000, feed.lastScored());
        } finally {
            feed.release();
        }
        assertEquals(List.of(
                List.of(MODEL + "@run-a@60000", "{\"weights_version\":\"v1\",\"click\":1.0,"
                        + "\"cart\":3.0,\"purchase\":5.0,\"window_end\":60000}"),
                List.of(MODEL + "@run-a@last", "{\"weights_version\":\"v1\",\"click\":1.0,"
                        + "\"cart\":3.0,\"purchase\":5.0,\"window_end\":60000}"),
                List.of(MODEL + "@run-a@last", "{\"weights_version\":\"v1\",\"click\":1.0,"
                        + "\"cart\":3.0,\"purchase\":5.0,\"window_end\":90000}"),
                List.of(MODEL + "@run-a@120000", "{\"weights_version\":\"v2\",\"click\":2.0,"
                        + "\"cart\":3.0,\"purchase\":5.0,\"window_end\":120000}"),
                List.of(MODEL + "@run-a@last", "{\"weights_version\":\"v2\",\"click\":2.0,"
                        + "\"cart\":3.0,\"purchase\":5.0,\"window_end\":120000}")),
                records(topic));
        publish(topic, MODEL + "@run-a@bad", weights("v9", 9)); // not a window end: skipped
        // A new feed of the same scope knows them; another scope's does not.
        WeightsFeed restored = WeightsFeed.acquire(cluster.bootstrapServers(), topic, MODEL,
                "run-a");
        WeightsFeed other = WeightsFeed.acquire(cluster.bootstrapServers(), topic, MODEL,
                "run-b");
        try {
            restored.current(30_000);
            assertEquals("v1", restored.activeAt(90_000).version);
            assertEquals("v2", restored.activeAt(150_000).version);
            assertEquals(120_000, restored.lastScored());
            other.current(30_000);
            assertNull(other.activeAt(150_000));
            assertEquals(Long.MIN_VALUE, other.lastScored());
        } finally {
            restored.release();
            other.release();
        }
    }

    static RankWindow streaming(String topic, String scope) {
        return new RankWindow(2, 10, weights("v0", 1), cluster.bootstrapServers(), topic, MODEL,
                scope, 60_000, 30_000, 2.0, 0.0);
    }

    static LocalDateTime end(long epochSecond) {
        return LocalDateTime.ofEpochSecond(epochSecond, 0, java.time.ZoneOffset.UTC);
    }

    /** (weights_version, the first row's score) of the window's result. */
    static List<Object> scored(RankWindow function, WindowHistory acc) {
        org.apache.flink.types.Row result = function.getValue(acc);
        return row(result.getField(10), ((Object[]) result.getField(4))[0]);
    }

    @Test
    void aStreamingRunScoresWithTheWeightsInForceAndTheSameAgainAfterARestore()
            throws Exception {
        String topic = topic();
        String scope = "group-" + UUID.randomUUID();
        publish(topic, MODEL, weights("v1", 1));
        // One product with 2 clicks in every window: its score is 2 x the click weight.
        WindowCounts counts = counts(product("p-1", "a", 2, 0, 0));
        WindowHistory acc = new WindowHistory();

        RankWindow first = streaming(topic, scope);
        first.open(context(new MetricListener()));
        first.accumulate(acc, end(60), counts);
        assertEquals(row("v1", 2.0), scored(first, acc)); // v1 activated at 60 s
        first.accumulate(acc, end(90), counts);
        assertEquals(row("v1", 2.0), scored(first, acc));
        publish(topic, MODEL, weights("v2", 10));
        awaitWeights(topic, scope, "v2");
        first.accumulate(acc, end(120), counts);
        assertEquals(row("v2", 20.0), scored(first, acc)); // v2 activated at 120 s
        first.close();

        // A restore from a checkpoint taken after 60 s fires 90 s and 120 s again, then 150 s,
        // while v3 is already published: the windows scored before keep their weights.
        publish(topic, MODEL, weights("v3", 100));
        RankWindow second = streaming(topic, scope);
        second.open(context(new MetricListener()));
        WindowHistory restored = new WindowHistory();
        second.accumulate(restored, end(60), counts);
        second.accumulate(restored, end(90), counts);
        assertEquals(row("v1", 2.0), scored(second, restored));
        second.accumulate(restored, end(120), counts);
        assertEquals(row("v2", 20.0), scored(second, restored));
        second.accumulate(restored, end(150), counts);
        assertEquals(row("v3", 200.0), scored(second, restored)); // past the newest scored
        second.close();

        List<String> activations = new ArrayList<>();
        for (List<String> record : records(topic)) {
            if (!record.get(0).endsWith("@last") && !record.get(0).equals(MODEL)) {
                activations.add(record.get(0).substring(record.get(0).lastIndexOf('@') + 1)
                        + "=" + Weights.parse(record.get(1).getBytes(StandardCharsets.UTF_8))
                        .version);
            }
        }
        assertEquals(List.of("60000=v1", "120000=v2", "150000=v3"), activations);
    }
}
