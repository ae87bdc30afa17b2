"""Kafka connection settings: one mapping to librdkafka's keys, the Java client's and JAAS."""

from __future__ import annotations

import re
import stat

import pytest
from pydantic import ValidationError

from jobs.topology import dead_letter_options, source_options, weights_source_ddl
from trend_tracker.kafka_config import (
    KAFKA_LOGGER,
    MissingKafkaPasswordError,
    client_config,
    jaas_config,
    java_client_properties,
    write_jaas_file,
)
from trend_tracker.settings import Settings

PASSWORD = 'pa"ss\\word-7f3a'


def sasl_settings(**changes) -> Settings:
    values = {"bootstrap_servers": "kafka-1:9096,kafka-2:9096",
              "kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "trend-job",
              "kafka_sasl_password": PASSWORD, "kafka_ssl_ca_location": "/etc/trend/ca.pem"}
    return Settings(_env_file=None, **{**values, **changes})


def test_plaintext_is_the_default_and_carries_no_security_keys():
    settings = Settings(_env_file=None, bootstrap_servers="kafka:9092")
    assert client_config(settings) == {"bootstrap.servers": "kafka:9092",
                                       "security.protocol": "PLAINTEXT",
                                       "logger": KAFKA_LOGGER}
    assert java_client_properties(settings) == {"bootstrap.servers": "kafka:9092",
                                                "security.protocol": "PLAINTEXT"}


def test_sasl_ssl_maps_to_librdkafka_keys():
    assert client_config(sasl_settings()) == {
        "bootstrap.servers": "kafka-1:9096,kafka-2:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "trend-job",
        "sasl.password": PASSWORD,
        "ssl.ca.location": "/etc/trend/ca.pem",
        "logger": KAFKA_LOGGER,
    }


def test_sasl_plaintext_sends_no_ca():
    settings = sasl_settings(kafka_security_protocol="SASL_PLAINTEXT",
                             kafka_sasl_mechanism="SCRAM-SHA-256")
    assert client_config(settings) == {
        "bootstrap.servers": "kafka-1:9096,kafka-2:9096",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-256",
        "sasl.username": "trend-job",
        "sasl.password": PASSWORD,
        "logger": KAFKA_LOGGER,
    }


def test_the_java_properties_hold_no_secret():
    assert java_client_properties(sasl_settings()) == {
        "bootstrap.servers": "kafka-1:9096,kafka-2:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": "/etc/trend/ca.pem",
    }


def test_every_connector_takes_the_same_connection_options():
    settings = sasl_settings()
    expected = {"properties.bootstrap.servers": "kafka-1:9096,kafka-2:9096",
                "properties.security.protocol": "SASL_SSL",
                "properties.sasl.mechanism": "SCRAM-SHA-512",
                "properties.ssl.truststore.type": "PEM",
                "properties.ssl.truststore.location": "/etc/trend/ca.pem"}
    for options in (source_options(settings, "clicks", None, "click"),
                    source_options(settings, "clicks", {0: 5}),
                    dead_letter_options(settings)):
        assert {k: v for k, v in options.items() if k in expected} == expected
        assert not any("jaas" in key or "password" in key for key in options)
    ddl = weights_source_ddl(settings)
    for key, value in expected.items():
        assert f"'{key}' = '{value}'" in ddl
    assert PASSWORD not in ddl and "jaas" not in ddl


def test_the_jaas_file_logs_in_with_the_shaded_login_module(tmp_path):
    settings = sasl_settings(state_dir=tmp_path / "state")
    assert jaas_config(settings) == (
        "KafkaClient {\n"
        "  org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule"
        " required\n"
        '  username="trend-job"\n'
        '  password="pa\\"ss\\\\word-7f3a";\n'
        "};\n")
    path = write_jaas_file(settings)
    assert path == (tmp_path / "state" / "kafka-client.jaas").resolve()
    assert path.read_text() == jaas_config(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_plain_uses_the_plain_login_module():
    settings = sasl_settings(kafka_sasl_mechanism="PLAIN")
    assert ("org.apache.kafka.common.security.plain.PlainLoginModule required"
            in jaas_config(settings, package="org.apache.kafka"))


def test_sasl_without_a_user_fails_fast():
    with pytest.raises(ValidationError, match="SASL_SSL needs kafka_sasl_username"):
        sasl_settings(kafka_sasl_username=None)


def test_a_client_without_the_password_is_refused_before_it_connects():
    settings = sasl_settings(kafka_sasl_password=None)
    for build in (client_config, jaas_config):
        with pytest.raises(MissingKafkaPasswordError, match=re.escape(
                "needs kafka_sasl_password (TREND_KAFKA_SASL_PASSWORD) for user trend-job")):
            build(settings)


def test_the_password_is_a_secret():
    settings = sasl_settings()
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
    assert settings.as_env()["TREND_KAFKA_SASL_PASSWORD"] == PASSWORD
