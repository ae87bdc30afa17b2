"""Real servers for tests and benchmarks of the API and the ingest service: a redis-server
and uvicorn processes.

All run as child processes on free loopback ports. ``RedisServer`` can be stopped and
started again on the same port, to exercise the API's behaviour across a Redis outage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self

from localstack.stack import redis_healthy, redis_server_binary
from trend_tracker.processes import free_port, http_ok


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` until it is true; raise ``TimeoutError`` naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout_s} s")
        time.sleep(0.02)


def _stop(proc: subprocess.Popen | None, timeout_s: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RedisServer:
    """A private redis-server (no persistence) that can be stopped and restarted."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="redis-")
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING."""
        self._proc = subprocess.Popen(
            [str(redis_server_binary()), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self._dir.name, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        wait_until(lambda: redis_healthy(self.port), 10, f"redis-server on {self.port}")
        return self

    def stop(self) -> None:
        """Stop the server (its data is lost: nothing is persisted)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)  # a paused server cannot handle SIGTERM
        _stop(self._proc)
        self._proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers."""
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        self._proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()



class ApiServer:
    """``python -m api`` (uvicorn, one worker) on a free port, configured by ``TREND_*`` env."""

    def __init__(self, env: Mapping[str, str], port: int | None = None,
                 log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def command(self) -> list[str]:
        """The server's command line."""
        return [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(self.port)]

    def start(self) -> Self:
        """Start uvicorn and wait until ``/health`` answers."""
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            self.command(), env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        if log is not subprocess.DEVNULL:
            log.close()

        def up() -> bool:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{type(self).__name__} exited with {self._proc.returncode}")
            return http_ok(f"{self.url}/health")

        wait_until(up, 30, f"{type(self).__name__} on {self.port}")
        return self

    def stop(self) -> None:
        _stop(self._proc)
        self._proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class IngestServer(ApiServer):
    """``trend ingest`` (uvicorn, one worker) on a free port, configured by ``TREND_*`` env."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "trend_tracker.cli", "ingest", "--host", "127.0.0.1",
                "--port", str(self.port)]
