"""A second local broker that authenticates and authorizes, for the tests of Kafka security.

The local stack's broker (one KRaft node, :mod:`localstack.stack`) with its listeners on
SASL_PLAINTEXT and SASL_SSL (a CA and a certificate made here) and Kafka's
``StandardAuthorizer``: a client logs in, and may do only what
an ACL lets its user do. The administrator ``admin`` (the super user) logs in with PLAIN,
defined in the broker's own configuration (a private file), and creates the other users'
SCRAM-SHA-512 credentials and their ACLs through the Admin API, so no password is ever on a
command line.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from localstack.stack import (
    KAFKA_LOG4J,
    format_kafka_storage,
    kafka_classpath,
    kafka_properties,
    kafka_server_command,
)
from trend_tracker.java import ensure_java_env
from trend_tracker.kafka_config import client_config
from trend_tracker.processes import free_port, pid_alive, signal_group
from trend_tracker.settings import Settings

ADMIN = "admin"
#: The users the tests give rights to, each one component.
USERS = ("publisher", "ingest", "simulator", "job")


def _plain_login(username: str, password: str) -> str:
    return ("org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{username}" password="{password}" user_{username}="{password}";')


def write_tls_files(directory: Path) -> tuple[Path, Path]:
    """A CA, and a certificate it signs for 127.0.0.1: (the CA's PEM file, the broker's PEM
    key store: its private key, unencrypted PKCS#8, then its certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key, issuer: str, signer, *, ca: bool):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, broker_key = ec.generate_private_key(ec.SECP256R1()), \
        ec.generate_private_key(ec.SECP256R1())
    ca = certificate("trend-test-ca", ca_key, "trend-test-ca", ca_key, ca=True)
    broker = certificate("127.0.0.1", broker_key, "trend-test-ca", ca_key, ca=False)
    ca_file, key_store = directory / "ca.pem", directory / "broker.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    descriptor = os.open(key_store, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(broker_key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
        file.write(broker.public_bytes(serialization.Encoding.PEM))
    return ca_file, key_store


def secured_properties(data_dir: Path, port: int, tls_port: int, controller_port: int,
                       admin_password: str, key_store: Path) -> str:
    """The local stack's ``server.properties`` with its listeners on SASL_PLAINTEXT and, on
    ``tls_port``, SASL_SSL (PLAIN for the administrator and the node itself, SCRAM-SHA-512
    for clients), and ACLs enforced. Later lines override the earlier ones of the same
    key."""
    plain = _plain_login(ADMIN, admin_password)
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return kafka_properties(data_dir, port, controller_port) + "\n".join([
        f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{tls_port},"
        f"CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port},"
        f"SASL_SSL://127.0.0.1:{tls_port}",
        "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol=PLAIN",
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f"listener.name.controller.plain.sasl.jaas.config={plain}",
        f"listener.name.sasl_plaintext.plain.sasl.jaas.config={plain}",
        f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={scram}",
        f"listener.name.sasl_ssl.plain.sasl.jaas.config={plain}",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram}",
        "listener.name.sasl_ssl.ssl.keystore.type=PEM",
        f"listener.name.sasl_ssl.ssl.keystore.location={key_store}",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        f"super.users=User:{ADMIN}",
        "allow.everyone.if.no.acl.found=false",
        "",
    ])


@dataclass(frozen=True)
class SecuredBroker:
    """A running secured broker: its addresses, its CA and every user's password."""

    bootstrap_servers: str
    tls_bootstrap_servers: str
    ca_file: Path
    passwords: dict[str, str]

    def settings(self, base: Settings, user: str, tls: bool = False) -> Settings:
        """``base`` logging in to this broker as ``user`` (``admin`` with PLAIN), over
        SASL_SSL with ``tls``, else SASL_PLAINTEXT."""
        if tls:
            base = base.model_copy(update={"bootstrap_servers": self.tls_bootstrap_servers,
                                           "kafka_security_protocol": "SASL_SSL",
                                           "kafka_ssl_ca_location": self.ca_file})
        else:
            base = base.model_copy(update={"bootstrap_servers": self.bootstrap_servers,
                                           "kafka_security_protocol": "SASL_PLAINTEXT"})
        return base.model_copy(update={
            "kafka_sasl_mechanism": "PLAIN" if user == ADMIN else "SCRAM-SHA-512",
            "kafka_sasl_username": user,
            "kafka_sasl_password": SecretStr(self.passwords[user]),
        })

    def admin(self) -> AdminClient:
        # Critical messages only: not one line per refused connection while it starts.
        return AdminClient({**client_config(self.settings(Settings(_env_file=None), ADMIN)),
                            "log_level": 2})


def _wait_healthy(broker: SecuredBroker, pid: int, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise RuntimeError(f"the secured broker exited:\n{log.read_text()[-3000:]}")
        try:
            broker.admin().list_topics(timeout=2)
            return
        except Exception:  # noqa: BLE001 - not ready yet
            time.sleep(0.2)
    raise RuntimeError(f"the secured broker did not answer:\n{log.read_text()[-3000:]}")


def _create_users(broker: SecuredBroker) -> None:
    """Create the SCRAM users, and wait until each can log in (the broker learns of a
    credential from its metadata log, just after the controller took it)."""
    admin = broker.admin()
    upserts = [UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
        broker.passwords[user].encode()) for user in USERS]
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result(timeout=30)
    for user in USERS:
        client = AdminClient({**client_config(broker.settings(Settings(_env_file=None), user)),
                              "log_level": 2})
        deadline = time.monotonic() + 60
        while True:
            try:
                client.list_topics(timeout=2)
                break
            except Exception:  # the credential is not known yet: raised at the deadline
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def start_secured_broker(directory: Path) -> Iterator[SecuredBroker]:
    """Start the broker under ``directory``, with the SCRAM users of :data:`USERS` and no
    ACL yet; stop it when the generator is closed."""
    directory.mkdir(parents=True, exist_ok=True)
    port, tls_port, controller_port = free_port(), free_port(), free_port()
    passwords = {user: f"{user}-{uuid.uuid4().hex}" for user in (ADMIN, *USERS)}
    ca_file, key_store = write_tls_files(directory)
    classpath = kafka_classpath()
    properties = directory / "server.properties"
    descriptor = os.open(properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secured_properties(directory, port, tls_port, controller_port,
                                      passwords[ADMIN], key_store))
    log4j = directory / "log4j2.properties"
    log4j.write_text(KAFKA_LOG4J)
    format_kafka_storage(directory, properties, classpath)
    log = directory / "kafka.log"
    with open(log, "ab") as output:
        process = subprocess.Popen(
            kafka_server_command(classpath, properties, log4j, directory),
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=directory, env=ensure_java_env(dict(os.environ)), start_new_session=True)
    broker = SecuredBroker(f"127.0.0.1:{port}", f"127.0.0.1:{tls_port}", ca_file, passwords)
    try:
        _wait_healthy(broker, process.pid, log)
        _create_users(broker)
        yield broker
    finally:
        signal_group(process.pid, 15)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            signal_group(process.pid, 9)
            process.wait(10)


def allow(broker: SecuredBroker, user: str, resource: ResourceType, name: str,
          operations: list[AclOperation],
          pattern: ResourcePatternType = ResourcePatternType.LITERAL) -> None:
    """Let ``user`` do ``operations`` on the resource ``name`` (every host)."""
    bindings = [AclBinding(resource, name, pattern, f"User:{user}", "*", operation,
                           AclPermissionType.ALLOW) for operation in operations]
    admin = broker.admin()
    for future in admin.create_acls(bindings).values():
        future.result(timeout=30)
    # The broker authorizes with the ACLs of its metadata log: wait until it lists them.
    wanted = AclBindingFilter(resource, name, pattern, f"User:{user}", "*",
                              AclOperation.ANY, AclPermissionType.ANY)
    deadline = time.monotonic() + 60
    while len(admin.describe_acls(wanted).result(timeout=30)) < len(bindings):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the ACLs of {user} on {name} are not in force")
        time.sleep(0.05)
