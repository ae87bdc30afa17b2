package dev.trendtracker.scoring;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The newest weights published for one model on the weights topic, followed in the background.
 *
 * <p>One feed per (servers, topic, model) and JVM, shared by every function instance that
 * needs it and stopped when the last one releases it. A daemon thread reads the topic from the
 * beginning with a plain consumer (assigned partitions: no consumer group, no commits) and
 * keeps the newest valid record whose key is the model name. Invalid records are logged and
 * skipped. When the broker is unreachable the feed keeps the weights it has and retries.
 */
public final class WeightsFeed {
    private static final Logger LOG = LoggerFactory.getLogger(WeightsFeed.class);
    private static final Map<String, WeightsFeed> FEEDS = new HashMap<>();
    private static final Duration POLL = Duration.ofMillis(200);
    private static final long RETRY_MS = 1000;

    private final String id;
    private final String servers;
    private final String topic;
    private final byte[] key;
    private final Thread thread;
    private final Object lock = new Object();
    private int users;
    private volatile boolean running = true;
    private volatile Weights latest;
    private volatile boolean caughtUp;

    private WeightsFeed(String id, String servers, String topic, String key) {
        this.id = id;
        this.servers = servers;
        this.topic = topic;
        this.key = key.getBytes(StandardCharsets.UTF_8);
        this.thread = new Thread(this::run, "trend-weights-feed-" + topic);
        this.thread.setDaemon(true);
    }

    /** The shared feed of {@code key} on {@code topic}, started on first use. */
    public static WeightsFeed acquire(String servers, String topic, String key) {
        String id = servers + "|" + topic + "|" + key;
        synchronized (FEEDS) {
            WeightsFeed feed = FEEDS.get(id);
            if (feed == null) {
                feed = new WeightsFeed(id, servers, topic, key);
                FEEDS.put(id, feed);
                feed.thread.start();
            }
            feed.users++;
            return feed;
        }
    }

    /** Gives the feed back; the last user stops it. */
    public void release() {
        synchronized (FEEDS) {
            if (--users > 0) {
                return;
            }
            FEEDS.remove(id);
            running = false;
        }
        thread.interrupt();
    }

    /**
     * The newest weights read so far, or null when none was published. The first call waits
     * up to {@code timeoutMs} for the feed to have read the topic to the end it had at start,
     * so a restarted job scores with the weights last published, not with older ones.
     */
    public Weights current(long timeoutMs) {
        if (!caughtUp) {
            long deadline = System.currentTimeMillis() + timeoutMs;
            synchronized (lock) {
                while (!caughtUp) {
                    long left = deadline - System.currentTimeMillis();
                    if (left <= 0) {
                        LOG.warn("weights topic {} not read to its end within {} ms; scoring with "
                                + "the weights known so far", topic, timeoutMs);
                        caughtUp = true;
                        break;
                    }
                    try {
                        lock.wait(left);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
        }
        return latest;
    }

    private void markCaughtUp() {
        synchronized (lock) {
            caughtUp = true;
            lock.notifyAll();
        }
    }

    private void run() {
        Properties props = new Properties();
        props.put("bootstrap.servers", servers);
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        props.put("client.id", "trend-weights-feed");
        while (running) {
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(
                    props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                follow(consumer);
            } catch (Exception e) {
                if (!running) {
                    break;
                }
                LOG.warn("reading weights topic {} failed, retrying: {}", topic, e.toString());
                // Nothing more to wait for: score with what is known, follow when it is back.
                markCaughtUp();
                try {
                    Thread.sleep(RETRY_MS);
                } catch (InterruptedException interrupted) {
                    break;
                }
            }
        }
    }

    private void follow(KafkaConsumer<byte[], byte[]> consumer) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
        if (infos == null || infos.isEmpty()) {
            throw new IllegalStateException("weights topic " + topic + " does not exist");
        }
        List<TopicPartition> partitions = new ArrayList<>();
        for (PartitionInfo info : infos) {
            partitions.add(new TopicPartition(topic, info.partition()));
        }
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(10));
        while (running) {
            for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL)) {
                if (Arrays.equals(record.key(), key)) {
                    accept(record);
                }
            }
            if (!caughtUp && atEnd(consumer, end)) {
                markCaughtUp();
            }
        }
    }

    private static boolean atEnd(KafkaConsumer<byte[], byte[]> consumer,
                                 Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> entry : end.entrySet()) {
            if (consumer.position(entry.getKey()) < entry.getValue()) {
                return false;
            }
        }
        return true;
    }

    private void accept(ConsumerRecord<byte[], byte[]> record) {
        Weights weights;
        try {
            weights = Weights.parse(record.value());
        } catch (IllegalArgumentException e) {
            LOG.warn("skipping invalid weights record at {}-{}@{}: {}", record.topic(),
                    record.partition(), record.offset(), e.getMessage());
            return;
        }
        Weights previous = latest;
        if (weights.sameAs(previous)) {
            return;
        }
        latest = weights;
        if (previous == null) {
            LOG.info("weights from topic {}: {}", topic, weights);
        } else {
            LOG.info("weights switched from {} to {}", previous.version, weights.version);
        }
    }
}
