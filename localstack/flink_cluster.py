"""A real standalone Flink cluster started from the ``apache-flink`` wheel's ``bin/`` scripts.

One JobManager and N TaskManagers on loopback, with their own conf dir (``FLINK_CONF_DIR``),
pid dir and log dir, so several clusters (or a user's own) never collide and the wheel in
site-packages is never edited. Ports are free ones picked at start. Sizing fits a 2-core,
24 GB machine that also runs the broker, Redis and the tests: a 1 GB JobManager and 2 GB
TaskManagers with 2 slots each, so a parallelism-2 job still fits when one TaskManager is
gone.

Given an S3 endpoint, the cluster also loads Flink's S3 filesystem plugin (resolved by Maven
from ``deploy/flink/pom.xml``; the wheel has none), so checkpoints and savepoints can live in
the object store, where no client's local directory matters, as in docker-compose and
Kubernetes.

Used by the cluster tests and benchmarks; ``python -m localstack.flink_cluster DIR`` starts
one by hand (Ctrl-C stops it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml

from jobs.submit import flink_home
from trend_tracker.java import ensure_java_env
from trend_tracker.logs import FLINK_JSON_LOG4J
from trend_tracker.processes import free_port, pid_alive

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLUGINS_POM = PROJECT_ROOT / "deploy" / "flink" / "pom.xml"
#: Where Maven copies the S3 plugin's jar: one plugin directory, as Flink expects.
S3_PLUGIN_DIR = PROJECT_ROOT / "build" / "flink" / "plugins" / "s3-fs-presto"


class ClusterError(RuntimeError):
    """The cluster did not come up healthy in time."""


@dataclass(frozen=True)
class S3Access:
    """The object store the cluster's checkpoints and savepoints may use."""

    endpoint_url: str
    access_key: str
    secret_key: str


def s3_plugin_dir() -> Path:
    """The S3 filesystem plugin's directory, its jar copied there by Maven on first use."""
    if any(S3_PLUGIN_DIR.glob("flink-s3-fs-presto-*.jar")):
        return S3_PLUGIN_DIR
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ClusterError("Maven (mvn) resolves Flink's S3 plugin and is not installed; "
                           "install it with: sudo apt-get install maven")
    done = subprocess.run(
        [mvn, "-B", "-q", "-f", str(PLUGINS_POM), "dependency:copy-dependencies",
         "-DexcludeTransitive=true", f"-DoutputDirectory={S3_PLUGIN_DIR}"],
        capture_output=True, text=True, check=False)
    if done.returncode != 0 or not any(S3_PLUGIN_DIR.glob("flink-s3-fs-presto-*.jar")):
        raise ClusterError(f"Maven could not resolve Flink's S3 plugin:\n"
                           f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return S3_PLUGIN_DIR


def cluster_config(
    base: dict[str, Any],
    *,
    rest_port: int,
    rpc_port: int,
    slots: int,
    python_executable: str,
    log_dir: Path,
    pid_dir: Path,
    jobmanager_memory: str = "1024m",
    taskmanager_memory: str = "2048m",
    s3_endpoint_url: str | None = None,
) -> dict[str, Any]:
    """The wheel's ``config.yaml`` (as parsed) with this cluster's ports, sizes and Python.

    Flat keys are written as such: Flink 2 reads both flat and nested YAML keys.
    """
    config = {k: v for k, v in base.items()
              if k not in ("jobmanager", "taskmanager", "rest", "parallelism")}
    config.update(
        {
            "jobmanager.rpc.address": "127.0.0.1",
            "jobmanager.rpc.port": rpc_port,
            "jobmanager.bind-host": "127.0.0.1",
            "jobmanager.memory.process.size": jobmanager_memory,
            "jobmanager.execution.failover-strategy": "region",
            "taskmanager.host": "127.0.0.1",
            "taskmanager.bind-host": "127.0.0.1",
            "taskmanager.numberOfTaskSlots": slots,
            "taskmanager.memory.process.size": taskmanager_memory,
            "rest.address": "127.0.0.1",
            "rest.bind-address": "127.0.0.1",
            "rest.port": rest_port,
            "parallelism.default": 1,
            # Spread a job's subtasks over the TaskManagers, so losing one TaskManager
            # loses part of every job, as on a real cluster of several machines.
            "cluster.evenly-spread-out-slots": True,
            # A busy 2-core machine can take longer than the defaults (10 s) to start an
            # RPC system or answer a call; a timeout there kills the daemon outright.
            "pekko.startup-timeout": "120 s",
            "pekko.ask.timeout": "60 s",
            "pekko.tcp.timeout": "60 s",
            "heartbeat.timeout": "120 s",
            # Python workers run the project's own venv (it has the project installed).
            "python.executable": python_executable,
            "python.client.executable": python_executable,
            "env.log.dir": str(log_dir),
            "env.pid.dir": str(pid_dir),
        }
    )
    if s3_endpoint_url:
        # The plugin takes its keys from the AWS environment variables (``env()``), so
        # they stay out of the configuration file.
        config.update({"s3.endpoint": s3_endpoint_url, "s3.path.style.access": True})
    return config


@dataclass
class StandaloneCluster:
    """A JobManager and ``taskmanagers`` TaskManagers, state under ``work_dir``."""

    work_dir: Path
    taskmanagers: int = 2
    slots_per_taskmanager: int = 2
    python_executable: str = field(default_factory=lambda: sys.executable)
    rest_port: int = 0
    rpc_port: int = 0
    s3: S3Access | None = None
    #: How the daemons and ``flink run`` log to their files: ``text`` (Flink's layout) or
    #: ``json`` (one object a line, :data:`trend_tracker.logs.FLINK_JSON_LOG4J`).
    log_format: str = "text"

    @property
    def conf_dir(self) -> Path:
        return self.work_dir / "conf"

    @property
    def log_dir(self) -> Path:
        return self.work_dir / "log"

    @property
    def pid_dir(self) -> Path:
        return self.work_dir / "pid"

    @property
    def plugins_dir(self) -> Path:
        return self.work_dir / "plugins"

    @property
    def jobmanager(self) -> str:
        """``host:port`` of the REST endpoint, what ``flink run -m`` expects."""
        return f"127.0.0.1:{self.rest_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.jobmanager}"

    def env(self) -> dict[str, str]:
        """Environment for the ``bin/`` scripts and ``flink run`` against this cluster."""
        env = dict(os.environ)
        env.update(
            FLINK_HOME=str(flink_home()),
            FLINK_CONF_DIR=str(self.conf_dir),
            FLINK_LOG_DIR=str(self.log_dir),
            FLINK_PID_DIR=str(self.pid_dir),
        )
        if self.s3 is not None:
            env.update(FLINK_PLUGINS_DIR=str(self.plugins_dir),
                       AWS_ACCESS_KEY_ID=self.s3.access_key,
                       AWS_SECRET_ACCESS_KEY=self.s3.secret_key)
        return dict(ensure_java_env(env))

    def _write_plugins(self) -> None:
        """The wheel's plugins and the S3 plugin, linked into a plugins directory of this
        cluster's own (the wheel in site-packages is never edited)."""
        self.plugins_dir.mkdir(parents=True, exist_ok=True)
        sources = [*(flink_home() / "plugins").iterdir(), s3_plugin_dir()]
        for source in sources:
            link = self.plugins_dir / source.name
            if source.is_dir() and not link.exists():
                link.symlink_to(source, target_is_directory=True)

    def _write_conf(self) -> None:
        home = flink_home()
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for name in ("log4j.properties", "log4j-cli.properties", "log4j-console.properties"):
            json_file = name != "log4j-console.properties" and self.log_format == "json"
            shutil.copy(FLINK_JSON_LOG4J if json_file else home / "conf" / name,
                        self.conf_dir / name)
        base = yaml.safe_load((home / "conf" / "config.yaml").read_text()) or {}
        self.rest_port = self.rest_port or free_port()
        self.rpc_port = self.rpc_port or free_port()
        config = cluster_config(
            base,
            rest_port=self.rest_port,
            rpc_port=self.rpc_port,
            slots=self.slots_per_taskmanager,
            python_executable=self.python_executable,
            log_dir=self.log_dir,
            pid_dir=self.pid_dir,
            s3_endpoint_url=self.s3.endpoint_url if self.s3 else None,
        )
        if self.s3 is not None:
            self._write_plugins()
        (self.conf_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))

    def _scripts(self, *commands: tuple[str, str]) -> None:
        """Run ``bin/`` scripts concurrently: each spends seconds in its own JVM sizing the
        process, and the daemons' pid files are guarded by a lock, so they need no order."""
        env, home = self.env(), flink_home()
        running = [
            subprocess.Popen(
                [str(home / "bin" / name), action],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, action in commands
        ]
        failures = []
        for (name, action), process in zip(commands, running, strict=True):
            _, stderr = process.communicate(timeout=90)
            if process.returncode != 0:
                failures.append(f"{name} {action}: exit {process.returncode}: {stderr.strip()}")
        if failures:
            raise ClusterError("; ".join(failures))

    def overview(self) -> dict[str, Any] | None:
        """The REST ``/overview`` document, or ``None`` while the JobManager is not up."""
        try:
            with urllib.request.urlopen(self.rest_url + "/overview", timeout=2) as response:
                return json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def start(self, timeout_s: float = 120) -> Self:
        """Start the JobManager and TaskManagers; wait until all TaskManagers registered.

        A cluster that does not come up healthy is stopped before the error is raised.
        """
        for directory in (self.log_dir, self.pid_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._write_conf()
        self._scripts(
            ("jobmanager.sh", "start"), *[("taskmanager.sh", "start")] * self.taskmanagers
        )
        try:
            self.wait_for_taskmanagers(self.taskmanagers, timeout_s)
        except ClusterError:
            self.stop()
            raise
        return self

    def wait_for_taskmanagers(self, count: int, timeout_s: float = 120) -> dict[str, Any]:
        """Block until ``count`` TaskManagers are registered (health check of the REST API)."""
        deadline = time.monotonic() + timeout_s
        overview = None
        while time.monotonic() < deadline:
            overview = self.overview()
            if overview and overview.get("taskmanagers") == count:
                return overview
            if overview is None and self.pids() and not any(map(pid_alive, self.pids())):
                break  # every daemon died: no point in waiting
            time.sleep(0.5)
        raise ClusterError(
            f"cluster at {self.rest_url} not ready (last overview: {overview}, waited up to"
            f" {timeout_s} s); logs in {self.log_dir}"
        )

    def pids(self) -> list[int]:
        """Pids of this cluster's daemons, from the pid files the scripts keep."""
        found: list[int] = []
        for pid_file in self.pid_dir.glob("*.pid"):
            found.extend(int(line) for line in pid_file.read_text().split() if line.isdigit())
        return found

    def stop(self, timeout_s: float = 30) -> None:
        """Stop every daemon with the stop scripts, then kill what is left by pid."""
        leftovers = self.pids()
        # What the scripts could not stop is killed by pid below.
        with contextlib.suppress(ClusterError, subprocess.SubprocessError, OSError):
            self._scripts(("taskmanager.sh", "stop-all"), ("jobmanager.sh", "stop-all"))
        deadline = time.monotonic() + timeout_s
        for pid in leftovers:
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)

    def daemon_pids(self, kind: str) -> list[int]:
        """Live pids of one kind of daemon: ``taskexecutor`` or ``standalonesession``."""
        found: list[int] = []
        for pid_file in self.pid_dir.glob(f"*-{kind}.pid"):
            found.extend(int(line) for line in pid_file.read_text().split() if line.isdigit())
        return [pid for pid in found if pid_alive(pid)]

    def taskmanager_pid(self, taskmanager_id: str) -> int:
        """pid of a registered TaskManager, from its REST id (``host:rpc_port-suffix``): the
        TaskManager daemon that holds the listening socket of that RPC port."""
        port = int(taskmanager_id.rsplit("-", 1)[0].rsplit(":", 1)[1])
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table) as lines:
                for line in list(lines)[1:]:
                    fields = line.split()
                    # local address is hex "ip:port"; state 0A is LISTEN; field 9 the inode
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                        inodes.add(f"socket:[{fields[9]}]")
        for pid in self.daemon_pids("taskexecutor"):
            fd_dir = Path(f"/proc/{pid}/fd")
            with contextlib.suppress(OSError):
                for fd in fd_dir.iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(fd) in inodes:
                            return pid
        raise ClusterError(f"no TaskManager daemon listens on port {port} ({taskmanager_id})")

    def kill_daemon(self, pid: int, timeout_s: float = 30) -> None:
        """``kill -9`` one daemon (a crash: no shutdown hooks run) and wait until it is gone."""
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def start_taskmanager(self) -> None:
        """Start one more TaskManager (the scripts' pid file lists it with the others)."""
        self._scripts(("taskmanager.sh", "start"))

    def start_jobmanager(self, timeout_s: float = 120) -> None:
        """Start the JobManager again, on the same ports; wait until its REST API answers."""
        self._scripts(("jobmanager.sh", "start"))
        deadline = time.monotonic() + timeout_s
        while self.overview() is None:
            if time.monotonic() > deadline:
                raise ClusterError(f"JobManager at {self.rest_url} did not come back")
            time.sleep(0.5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Start a cluster in the given directory, print its address, stop it on Ctrl-C."""
    args = sys.argv[1:] if argv is None else argv
    work_dir = Path(args[0] if args else ".trend/flink-cluster").resolve()
    with StandaloneCluster(work_dir) as cluster:
        print(f"Flink cluster up: {cluster.rest_url} (logs in {cluster.log_dir})", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
