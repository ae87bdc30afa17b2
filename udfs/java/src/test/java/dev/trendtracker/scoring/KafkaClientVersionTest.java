package dev.trendtracker.scoring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.Enumeration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.common.utils.AppInfoParser;
import org.junit.jupiter.api.Test;

/** The plain Kafka client shipped beside the SQL connector is the one it is built with. */
class KafkaClientVersionTest {

    @Test
    void thePlainClientIsTheConnectorsVersion() throws Exception {
        String bundled = null;
        Enumeration<URL> notices = getClass().getClassLoader().getResources("META-INF/NOTICE");
        Pattern clients = Pattern.compile("org\\.apache\\.kafka:kafka-clients:(\\S+)");
        while (notices.hasMoreElements()) {
            URL notice = notices.nextElement();
            if (!notice.toString().contains("flink-sql-connector-kafka")) {
                continue;
            }
            try (InputStream in = notice.openStream()) {
                Matcher m = clients.matcher(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                if (m.find()) {
                    bundled = m.group(1);
                }
            }
        }
        assertNotNull(bundled, "the connector's NOTICE names its kafka-clients");
        assertEquals(bundled, AppInfoParser.getVersion());
    }
}
