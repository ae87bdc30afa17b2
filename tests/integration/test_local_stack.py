"""The embedded local stack: healthy servers, reuse, and a clean shutdown.

Starts its own LocalStack in a temporary directory (not the session fixture), so that
stopping it leaves the other tests' servers alone.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from localstack import LocalStack
from localstack.stack import SERVICES


def alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    # The state letter follows the parenthesised command name.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (children a server may have forked)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def own_stack(tmp_path):
    stack = LocalStack(tmp_path / "stack")
    yield stack
    stack.down()  # a failing test must not leave servers behind either


def test_stack_starts_healthy_is_reused_and_stops_without_leftovers(own_stack):
    state = own_stack.up()
    assert set(state.services) == set(SERVICES)
    pids = {name: s.pid for name, s in state.services.items()}
    ports = {name: s.port for name, s in state.services.items()}
    assert all(alive(pid) for pid in pids.values())
    assert len(set(ports.values())) == len(ports)
    status = own_stack.status()
    assert {name: info["healthy"] for name, info in status.items()} == {
        name: True for name in SERVICES}
    env_text = own_stack.env_file.read_text()
    assert f"TREND_BOOTSTRAP_SERVERS=127.0.0.1:{ports['kafka']}" in env_text

    # A second `up` reuses the healthy servers instead of starting new ones.
    again = own_stack.up()
    assert {name: s.pid for name, s in again.services.items()} == pids

    groups = {name: group_members(pid) for name, pid in pids.items()}
    assert all(groups.values())  # each server leads its own process group

    stopped = own_stack.down()
    assert sorted(stopped) == sorted(SERVICES)
    for name, pid in pids.items():
        assert not alive(pid), f"{name} (pid {pid}) still running"
        assert group_members(pid) == [], f"{name} left processes behind"
        assert not port_open(ports[name]), f"{name} port {ports[name]} still open"
    assert not own_stack.stack_file.exists() and not own_stack.env_file.exists()
    assert own_stack.status() == {}
    assert own_stack.down() == []  # stopping a stopped stack is a no-op
