"""Small process and port helpers shared by the local stack, the test cluster and the
API's test servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import urllib.request


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """Whether a process runs; a zombie counts as gone (and is reaped if it is ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        if os.waitpid(pid, os.WNOHANG)[0] != 0:
            return False
    except ChildProcessError:
        pass  # not our child: ask /proc whether it is a zombie
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by ``pid`` (or the process alone if it leads none)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """A GET of ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except OSError:
        return False


def restore_interrupts() -> None:
    """Give this process's children the default SIGINT, as in a terminal.

    Started in the background by a non-interactive shell (``cmd &``), a process ignores
    SIGINT and its children inherit that, so a child stopped with SIGINT (the simulator,
    ``trend tail --follow``) would never stop. Python's handler is reset to the default in
    a child; a blocked SIGINT would be inherited too, so it is unblocked. Main thread only.
    """
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
