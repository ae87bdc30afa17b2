package dev.trendtracker.scoring;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The weights topic of one model, followed in the background: the newest weights published,
 * and the activations of one scope.
 *
 * <p>Three kinds of records share the topic. The registry's publisher writes the weights
 * under the key {@code <model>}. A running job records which weights it started to use at
 * which window under {@code <model>@<scope>@<window_end_ms>} (an activation: the weights
 * record plus {@code window_end}; every activation has its own key, so compaction keeps them
 * all), and the newest window it scored under {@code <model>@<scope>@last}. Together they
 * tell which weights any window already scored had (see {@link RankWindow}).
 *
 * <p>One feed per (servers, topic, model, scope) and JVM, shared by every function instance
 * that needs it and stopped when the last one releases it. A daemon thread reads the topic
 * from the beginning with a plain consumer (assigned partitions: no consumer group, no
 * commits). Invalid records are logged and skipped. When the broker is unreachable the feed
 * keeps what it has and retries.
 */
public final class WeightsFeed {
    private static final Logger LOG = LoggerFactory.getLogger(WeightsFeed.class);
    private static final Map<String, WeightsFeed> FEEDS = new HashMap<>();
    private static final Duration POLL = Duration.ofMillis(200);
    private static final long RETRY_MS = 1000;
    private static final String LAST = "last";

    private final String id;
    private final String servers;
    private final String topic;
    private final byte[] key;
    private final String activationPrefix;
    /** Activations of this scope: window_end ms -> the weights used from that window on. */
    private final TreeMap<Long, Weights> activations = new TreeMap<>();
    /** window_end ms of the newest window this scope scored (Long.MIN_VALUE: none). */
    private long lastScored = Long.MIN_VALUE;
    private KafkaProducer<byte[], byte[]> producer;
    private final Thread thread;
    private final Object lock = new Object();
    private int users;
    private volatile boolean running = true;
    private volatile Weights latest;
    private volatile boolean caughtUp;

    private WeightsFeed(String id, String servers, String topic, String key, String scope) {
        this.id = id;
        this.servers = servers;
        this.topic = topic;
        this.key = key.getBytes(StandardCharsets.UTF_8);
        this.activationPrefix = key + "@" + scope + "@";
        this.thread = new Thread(this::run, "trend-weights-feed-" + topic);
        this.thread.setDaemon(true);
    }

    /** The shared feed of {@code key} and {@code scope} on {@code topic}, started on first use. */
    public static WeightsFeed acquire(String servers, String topic, String key, String scope) {
        String id = servers + "|" + topic + "|" + key + "|" + scope;
        synchronized (FEEDS) {
            WeightsFeed feed = FEEDS.get(id);
            if (feed == null) {
                feed = new WeightsFeed(id, servers, topic, key, scope);
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
        synchronized (activations) {
            if (producer != null) {
                producer.close(Duration.ofSeconds(5));
                producer = null;
            }
        }
    }

    /** The weights of the newest activation at or before {@code windowEndMs}, or null. */
    public Weights activeAt(long windowEndMs) {
        synchronized (activations) {
            Map.Entry<Long, Weights> entry = activations.floorEntry(windowEndMs);
            return entry == null ? null : entry.getValue();
        }
    }

    /** window_end ms of the newest window this scope scored, or Long.MIN_VALUE. */
    public long lastScored() {
        synchronized (activations) {
            return lastScored;
        }
    }

    /**
     * Records that the window ending at {@code windowEndMs} is the first scored with
     * {@code weights}, on the topic (acknowledged by all replicas) and here.
     */
    public void activate(long windowEndMs, Weights weights) {
        synchronized (activations) {
            activations.put(windowEndMs, weights);
            if (write(activationPrefix + windowEndMs, weights, windowEndMs)) {
                LOG.info("weights {} active from the window ending at {}", weights.version,
                        windowEndMs);
            }
        }
    }

    /** Records that the window ending at {@code windowEndMs} was scored with {@code weights}. */
    public void markScored(long windowEndMs, Weights weights) {
        synchronized (activations) {
            lastScored = Math.max(lastScored, windowEndMs);
            write(activationPrefix + LAST, weights, windowEndMs);
        }
    }

    /**
     * Writes one record and waits for all replicas to acknowledge it. A failure is logged
     * and scoring goes on all the same: it never stalls on the topic.
     */
    private boolean write(String recordKey, Weights weights, long windowEndMs) {
        try {
            if (producer == null) {
                Properties props = new Properties();
                props.put("bootstrap.servers", servers);
                props.put("acks", "all");
                props.put("linger.ms", "0");
                props.put("max.block.ms", "10000");
                props.put("delivery.timeout.ms", "15000");
                props.put("request.timeout.ms", "10000");
                props.put("client.id", "trend-weights-activation");
                producer = new KafkaProducer<>(props, new ByteArraySerializer(),
                        new ByteArraySerializer());
            }
            producer.send(new ProducerRecord<>(topic, recordKey.getBytes(StandardCharsets.UTF_8),
                    weights.toRecord(windowEndMs))).get(15, TimeUnit.SECONDS);
            return true;
        } catch (Exception e) {
            LOG.warn("could not record {} (weights {}, window {}) on {}: {}", recordKey,
                    weights.version, windowEndMs, topic, e.toString());
            return false;
        }
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
                } else if (record.key() != null) {
                    String name = new String(record.key(), StandardCharsets.UTF_8);
                    if (name.startsWith(activationPrefix)) {
                        acceptActivation(record, name.substring(activationPrefix.length()));
                    }
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

    private void acceptActivation(ConsumerRecord<byte[], byte[]> record, String suffix) {
        try {
            if (LAST.equals(suffix)) {
                long windowEndMs = Weights.windowEnd(record.value());
                synchronized (activations) {
                    lastScored = Math.max(lastScored, windowEndMs);
                }
                return;
            }
            long windowEndMs = Long.parseLong(suffix);
            Weights weights = Weights.parse(record.value());
            synchronized (activations) {
                activations.put(windowEndMs, weights);
            }
        } catch (IllegalArgumentException e) {
            LOG.warn("skipping invalid weights activation at {}-{}@{}: {}", record.topic(),
                    record.partition(), record.offset(), e.getMessage());
        }
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
            LOG.info("weights feed switched from {} to {}", previous.version, weights.version);
        }
    }
}
