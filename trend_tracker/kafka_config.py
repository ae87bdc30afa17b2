"""How every Kafka client of the project connects: one home for the security settings.

The settings name the protocol, the SASL mechanism and user, and the CA; this module maps
them to each client's keys:

- :func:`client_config` for confluent-kafka (librdkafka), used by every Python client: the
  ingest service, the simulator, the weights publisher, ``trend tail``, ``trend topics
  create``, the job's start-up checks and the benchmarks;
- :func:`java_client_properties` for the Java client inside the job's Kafka connectors:
  only what is not secret, since connector options travel in the job graph. The Java client
  takes its SASL login from a JAAS file instead (:func:`jaas_config`): without
  ``sasl.jaas.config`` it reads the section ``KafkaClient`` of the file that the system
  property ``java.security.auth.login.config`` names, which each JVM of the job is started
  with (:func:`install_jaas_config` for the embedded MiniCluster; ``env.java.opts.all`` on a
  cluster, see docs/OPERATIONS.md).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trend_tracker.settings import Settings

#: The system property the Java client's static JAAS configuration is read from. The Kafka
#: connector shades the Kafka client but keeps this name (``JaasUtils.JAVA_LOGIN_CONFIG_PARAM``
#: of flink-sql-connector-kafka 5.0.0-2.2).
JAAS_PROPERTY = "java.security.auth.login.config"
#: Where the Kafka connector relocates the Kafka client's classes: a JAAS file names the
#: login module by its class, so it names the shaded one.
SHADED_KAFKA_PACKAGE = "org.apache.flink.kafka.shaded.org.apache.kafka"
#: SASL mechanism -> the Kafka client's login module (package relative to the client's).
LOGIN_MODULES = {
    "SCRAM-SHA-512": "common.security.scram.ScramLoginModule",
    "SCRAM-SHA-256": "common.security.scram.ScramLoginModule",
    "PLAIN": "common.security.plain.PlainLoginModule",
}
#: The file an embedded run writes its JAAS configuration to, under ``state_dir``.
JAAS_FILE_NAME = "kafka-client.jaas"


#: The logger of librdkafka's own lines (connection trouble, retries): in the process's log
#: format, like every other line.
KAFKA_LOGGER = logging.getLogger("librdkafka")


def uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol.startswith("SASL_")


def uses_tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


class MissingKafkaPasswordError(ValueError):
    """A SASL login without a password."""


def sasl_password(settings: Settings) -> str:
    """The SASL password; :class:`MissingKafkaPasswordError` when it is not set."""
    password = settings.kafka_sasl_password
    if password is None or not password.get_secret_value():
        raise MissingKafkaPasswordError(
            f"kafka_security_protocol {settings.kafka_security_protocol} needs "
            f"kafka_sasl_password (TREND_KAFKA_SASL_PASSWORD) for user "
            f"{settings.kafka_sasl_username}")
    return password.get_secret_value()


def client_config(settings: Settings) -> dict[str, Any]:
    """librdkafka's connection settings: ``bootstrap.servers`` and the security keys
    (``security.protocol``, ``sasl.mechanisms``, ``sasl.username``, ``sasl.password``,
    ``ssl.ca.location``), and its log lines through Python's logging (:data:`KAFKA_LOGGER`),
    not written to stderr as its own text. Every confluent-kafka client starts from this."""
    config: dict[str, Any] = {"bootstrap.servers": settings.bootstrap_servers,
                              "security.protocol": settings.kafka_security_protocol,
                              "logger": KAFKA_LOGGER}
    if uses_sasl(settings):
        config.update({
            "sasl.mechanisms": settings.kafka_sasl_mechanism,
            "sasl.username": settings.kafka_sasl_username or "",
            "sasl.password": sasl_password(settings),
        })
    if uses_tls(settings) and settings.kafka_ssl_ca_location is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_location)
    return config


def java_client_properties(settings: Settings) -> dict[str, str]:
    """The Java client's connection properties that hold no secret (``bootstrap.servers``,
    ``security.protocol``, ``sasl.mechanism``, the CA as a PEM trust store): what the job's
    connectors take as ``properties.*`` options. The SASL login comes from the JVM's JAAS
    file (:func:`jaas_config`)."""
    properties = {"bootstrap.servers": settings.bootstrap_servers,
                  "security.protocol": settings.kafka_security_protocol}
    if uses_sasl(settings):
        properties["sasl.mechanism"] = settings.kafka_sasl_mechanism
    if uses_tls(settings) and settings.kafka_ssl_ca_location is not None:
        properties.update({
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(settings.kafka_ssl_ca_location),
        })
    return properties


def _jaas_quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def jaas_config(settings: Settings, package: str = SHADED_KAFKA_PACKAGE) -> str:
    """The JAAS file of the job's JVMs: a ``KafkaClient`` section logging in as the
    settings' SASL user, with the login module of the Kafka client in ``package`` (the
    connector's shaded one by default)."""
    if not uses_sasl(settings):
        raise ValueError(f"kafka_security_protocol {settings.kafka_security_protocol} "
                         f"uses no SASL login")
    module = f"{package}.{LOGIN_MODULES[settings.kafka_sasl_mechanism]}"
    return (f"KafkaClient {{\n  {module} required\n"
            f"  username={_jaas_quoted(settings.kafka_sasl_username or '')}\n"
            f"  password={_jaas_quoted(sasl_password(settings))};\n"
            f"}};\n")


def write_jaas_file(settings: Settings) -> Path:
    """Write :func:`jaas_config` to ``<state_dir>/kafka-client.jaas``, readable by this
    user only, and return its absolute path."""
    path = (settings.state_dir / JAAS_FILE_NAME).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(jaas_config(settings))
    return path


def install_jaas_config(settings: Settings) -> Path | None:
    """Give the JVM of this process (PyFlink's gateway, where an embedded job's MiniCluster
    runs) the settings' SASL login: write the JAAS file and point the system property at it.
    Nothing to do without SASL. Returns the file's path."""
    if not uses_sasl(settings):
        return None
    from pyflink.java_gateway import get_gateway

    path = write_jaas_file(settings)
    jvm = get_gateway().jvm
    jvm.java.lang.System.setProperty(JAAS_PROPERTY, str(path))
    # The JVM reads the file once and keeps it: read it again, for a process that runs
    # jobs with different settings.
    jvm.javax.security.auth.login.Configuration.getConfiguration().refresh()
    return path
