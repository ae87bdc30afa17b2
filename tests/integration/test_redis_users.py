"""The Redis users of the deployments, on a real redis-server.

The Redis container's start script and the API user's ACL rules are read from
docker-compose.yml (deploy/k8s/redis.yaml runs the same script with the same rules,
tests/unit/test_k8s.py), so what runs here is what ships.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from localstack.stack import redis_server_binary
from tests.integration.test_api_redis import (
    BOOKS,
    OVERALL,
    SIZE_MS,
    SLIDE_MS,
    TOYS,
    TTL_S,
    api_settings,
    as_json,
    get_ok,
    now_ms,
    ranking,
)
from tests.unit.test_compose import compose_file
from trend_tracker.processes import free_port
from udfs.redis_sink import RedisRankingWriter

#: A database no other test uses on the local stack's Redis.
DB = 10

REDIS = compose_file()["services"]["redis"]
#: The API user's rules, as the ACL file the start script writes gives them.
API_ACL = REDIS["environment"]["REDIS_API_ACL"].split()


def wait_for_auth(client: redis.Redis, proc: subprocess.Popen, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, f"redis start script exited with {proc.returncode}"
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def started_from_the_compose_script(tmp_path):
    """The redis service's script, run as its container runs it: the passwords in files under
    REDIS_CREDENTIALS_DIR, the service's environment, and a ``redis-server`` on PATH that adds a
    free loopback port and a private directory to what the script passes (the container
    listens on 6379 in /data)."""
    passwords = {"redis-password": f"job-{uuid.uuid4().hex}",
                 "redis-api-password": f"api-{uuid.uuid4().hex}"}
    secrets, bin_dir, data = tmp_path / "secrets", tmp_path / "bin", tmp_path / "data"
    for directory in (secrets, bin_dir, data):
        directory.mkdir()
    for name, password in passwords.items():
        (secrets / name).write_text(password)
    port = free_port()
    server = bin_dir / "redis-server"
    # It also records the arguments it was given: the server retitles its process.
    server.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path / "argv"}"\n'
                      f'exec "{redis_server_binary()}" "$@" --port {port} '
                      f'--bind 127.0.0.1 --dir "{data}"\n')
    server.chmod(0o755)
    env = {**{k: str(v) for k, v in REDIS["environment"].items()},
           "REDIS_CREDENTIALS_DIR": str(secrets), "TMPDIR": str(tmp_path),
           "PATH": f"{bin_dir}:/usr/bin:/bin"}
    proc = subprocess.Popen([shutil.which("sh"), *REDIS["entrypoint"][1:], REDIS["command"][0]],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    job = redis.Redis(port=port, password=passwords["redis-password"])
    try:
        wait_for_auth(job, proc)
        yield proc, port, passwords, tmp_path / "users.acl"
    finally:
        job.close()
        proc.terminate()
        proc.wait(10)


def test_the_passwords_are_on_no_command_line_and_in_no_environment(
        started_from_the_compose_script):
    proc, _, passwords, acl_file = started_from_the_compose_script
    argv = (acl_file.parent / "argv").read_text().splitlines()
    assert argv == ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "300 1",
                    "--maxmemory", REDIS["environment"]["REDIS_MAXMEMORY"],
                    "--maxmemory-policy", "volatile-ttl", "--aclfile", str(acl_file)]
    # The script execs the server: this is the server's own process (what ps shows).
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
    assert cmdline.split()[0] == str(redis_server_binary()).encode()
    for password in passwords.values():
        assert password not in "\n".join(argv)
        assert password.encode() not in cmdline
        assert password.encode() not in environ
    # The ACL file holds them: its owner alone may read it.
    assert stat.S_IMODE(acl_file.stat().st_mode) == 0o600


def test_the_server_knows_the_job_user_and_the_read_only_api_user(
        started_from_the_compose_script):
    _, port, passwords, _ = started_from_the_compose_script
    with redis.Redis(port=port) as anonymous, pytest.raises(redis.AuthenticationError):
        anonymous.get("trend:latest:all")
    with redis.Redis(port=port, password=passwords["redis-password"]) as job:
        assert job.set("trend:latest:all", b"{}") is True
    api_user = REDIS["environment"]["REDIS_API_USER"]
    with redis.Redis(port=port, username=api_user,
                     password=passwords["redis-api-password"]) as api:
        assert api.get("trend:latest:all") == b"{}"
        with pytest.raises(redis.exceptions.NoPermissionError):
            api.set("trend:latest:all", b"[]")
    # The API's user name with the job's password is no way in.
    wrong = redis.Redis(port=port, username=api_user, password=passwords["redis-password"])
    with wrong, pytest.raises(redis.AuthenticationError):
        wrong.get("trend:latest:all")


# --- the API as its read-only user, on the local stack's Redis ----------------------------------


@pytest.fixture
def api_user(local_stack):
    """A user with the API's ACL rules on the local stack's Redis, and a writer on database
    DB; both go at the end (ACL users are the whole server's)."""
    name, password = f"trend-api-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    admin_url = local_stack.redis_url.rsplit("/", 1)[0] + f"/{DB}"
    admin = redis.Redis.from_url(admin_url)
    admin.flushdb()
    # The line the start script writes: user NAME on >PASSWORD RULES...
    assert admin.execute_command("ACL", "SETUSER", name, "on", f">{password}", *API_ACL) == b"OK"
    api_url = f"redis://{name}:{password}@127.0.0.1:{local_stack.port('redis')}/{DB}"
    try:
        yield name, api_url, admin
    finally:
        admin.execute_command("ACL", "DELUSER", name)
        admin.flushdb()
        admin.close()


def refusals_of(admin: redis.Redis, user: str) -> list[dict]:
    return [entry for entry in admin.acl_log() if entry["username"] == user]


def test_the_api_serves_every_route_as_its_read_only_user(api_user):
    name, api_url, admin = api_user
    end = now_ms() // SLIDE_MS * SLIDE_MS
    RedisRankingWriter(admin, ttl_s=TTL_S).write([
        ranking(end - SLIDE_MS, None, OVERALL), ranking(end, None, OVERALL),
        ranking(end, "books", BOOKS), ranking(end - SLIDE_MS, "toys", TOYS)])
    with TestClient(create_app(api_settings(api_url))) as client:
        body = get_ok(client, "/trending?k=3")
        body.pop("as_of")
        assert body == {"window_start": end - SIZE_MS, "window_end": end,
                        "ranking": "popular", "category": None, "weights_version": "v7",
                        "items": as_json(OVERALL[:3])}
        assert get_ok(client, "/trending?category=books")["items"] == as_json(BOOKS)
        unknown = client.get("/trending?category=garden")  # EXISTS tells it from no data
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (
            404, "unknown_category")
        assert get_ok(client, "/categories") == {"categories": [
            {"category": "books", "window_end": end},
            {"category": "toys", "window_end": end - SLIDE_MS}]}
        assert [w["window_end"] for w in get_ok(client, "/products/p-042/trend")["windows"]] \
            == [end - SLIDE_MS, end]
        ready = get_ok(client, "/ready")
        assert (ready["status"], ready["data"], ready["window_end"]) == ("ready", "ok", end)
        assert client.get("/metrics").status_code == 200
    # Nothing the API sent, connecting included, was refused.
    assert refusals_of(admin, name) == []


def test_the_api_user_can_neither_write_nor_delete_nor_read_other_keys(api_user):
    name, api_url, admin = api_user
    admin.set("trend:latest:all", b'{"kept": true}')
    admin.set("other:key", b"x")
    with redis.Redis.from_url(api_url) as api:
        assert api.get("trend:latest:all") == b'{"kept": true}'
        for command in (("SET", "trend:latest:all", "{}"), ("DEL", "trend:latest:all"),
                        ("EXPIRE", "trend:latest:all", "1"), ("FLUSHDB",),
                        ("GET", "other:key")):
            with pytest.raises(redis.exceptions.NoPermissionError) as refused:
                api.execute_command(*command)
            assert "no permissions" in str(refused.value)
    assert admin.get("trend:latest:all") == b'{"kept": true}'
    assert admin.ttl("trend:latest:all") == -1
    assert [entry["object"] for entry in refusals_of(admin, name)][::-1] == [
        "set", "del", "expire", "flushdb", "other:key"]
