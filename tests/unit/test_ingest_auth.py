"""API keys and rate limits of the ingest service, on an injected clock (no server, no
broker): key parsing, rotation by rewriting the keys file, the token bucket's exact
arithmetic, and the answers (401, 429) of the app itself."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.ingest import create_ingest_app
from api.ingest_auth import (
    ApiKey,
    ApiKeyError,
    ApiKeyStore,
    RateLimiter,
    TokenBucket,
    keys_from_file_text,
    keys_from_setting,
    retry_after_s,
)
from localstack.stack import free_port
from trend_tracker.settings import Settings

OLD = "old-key-0123456789abcdef"
NEW = "new-key-fedcba9876543210"
BARE = "bare-key-00000000000000"


def sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class Clock:
    """Seconds, moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- parsing ------------------------------------------------------------------------------


def test_a_keys_file_holds_named_and_bare_keys_comments_and_blank_lines():
    text = f"# partners\npartner-a:{OLD}\n\n  {BARE}  \npartner-a:{NEW}\n"
    assert keys_from_file_text(text, "keys") == [
        ApiKey("partner-a", sha256(OLD)),
        ApiKey(f"key-{sha256(BARE).hex()[:8]}", sha256(BARE)),
        ApiKey("partner-a", sha256(NEW)),
    ]


def test_the_setting_is_comma_separated_and_a_key_may_hold_colons_after_its_name():
    assert keys_from_setting(f" a:{OLD} ,, b:{NEW}:x ,") == [
        ApiKey("a", sha256(OLD)), ApiKey("b", sha256(NEW + ":x"))]
    # The same entry twice is one key.
    assert keys_from_setting(f"a:{OLD},a:{OLD}") == [ApiKey("a", sha256(OLD))]


@pytest.mark.parametrize("text, message", [
    ("a:short", "keys line 1: a key must be at least 16 characters without blanks"),
    (f"ok:{OLD}\nbad name:{NEW}", "keys line 2: the name before ':' must be 1 to 64 letters, "
                                  "digits, '.', '_' or '-'"),
    (f"a:{OLD}\nb:{OLD}", "keys: one key is given under two names, 'a' and 'b'"),
    (f"a:{OLD[:8]} {OLD[8:]}", "keys line 1: a key must be at least 16 characters without "
                               "blanks"),
])
def test_an_entry_that_cannot_be_used_is_refused_without_showing_the_key(text, message):
    with pytest.raises(ApiKeyError) as refused:
        keys_from_file_text(text, "keys")
    assert str(refused.value) == message


def test_without_any_key_the_store_refuses_to_exist(tmp_path):
    empty = tmp_path / "keys"
    empty.write_text("# nobody yet\n")
    for keys, file in ((None, None), ("", None), (None, empty)):
        with pytest.raises(ApiKeyError) as refused:
            ApiKeyStore.from_settings(keys, file)
        assert str(refused.value) == (
            "no API key configured: the ingest service only takes events from clients with a "
            "key. Set TREND_INGEST_API_KEYS_FILE (a file of name:key lines) or "
            "TREND_INGEST_API_KEYS (comma-separated name:key entries)")
    with pytest.raises(ApiKeyError) as missing:
        ApiKeyStore.from_settings(None, tmp_path / "absent")
    assert str(missing.value) == (f"cannot read the keys file {tmp_path / 'absent'}: "
                                  f"FileNotFoundError")


# --- the store: lookup and rotation -----------------------------------------------------------


def write_keys(path: Path, text: str) -> None:
    """Replace the file at once, as a Kubernetes Secret volume or an atomic writer does."""
    scratch = path.with_suffix(".new")
    scratch.write_text(text)
    os.replace(scratch, path)


def test_keys_from_the_setting_and_the_file_are_accepted_together(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"partner-a:{OLD}\n")
    store = ApiKeyStore.from_settings(f"ops:{NEW}", path, Clock())
    assert store.client(OLD) == "partner-a"
    assert store.client(NEW) == "ops"
    assert store.client(BARE) is None
    assert store.client("") is None
    assert store.client(OLD[:-1]) is None


def test_a_rewritten_file_applies_at_the_next_check_without_a_restart(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"partner-a:{OLD}\n")
    clock = Clock()
    store = ApiKeyStore(keys_from_setting(f"ops:{BARE}"), path, clock, check_interval_s=1.0)
    write_keys(path, f"partner-a:{NEW}\n")
    # Not checked yet: the old key still passes for up to a second.
    clock.now += 0.5
    assert store.client(OLD) == "partner-a"
    assert store.client(NEW) is None
    clock.now += 0.5
    assert store.client(NEW) == "partner-a"
    assert store.client(OLD) is None
    assert store.client(BARE) == "ops"  # the setting's keys stay
    assert store.file_error is False
    assert [key.name for key in store.keys] == ["ops", "partner-a"]


def test_a_file_rewritten_in_place_applies_too(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"a:{OLD}\n")
    clock = Clock()
    store = ApiKeyStore([], path, clock)
    with path.open("w") as handle:  # same inode, new size
        handle.write(f"b:{NEW}\nc:{BARE}\n")
    clock.now += 1.0
    assert (store.client(OLD), store.client(NEW), store.client(BARE)) == (None, "b", "c")


def test_a_broken_or_missing_file_keeps_the_keys_in_use_until_it_is_fixed(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"a:{OLD}\n")
    clock = Clock()
    store = ApiKeyStore([], path, clock)
    write_keys(path, "a:too-short\n")
    clock.now += 1.0
    assert store.client(OLD) == "a"
    assert store.file_error is True
    path.unlink()
    clock.now += 1.0
    assert store.client(OLD) == "a"
    assert store.file_error is True
    write_keys(path, f"a:{NEW}\n")
    clock.now += 1.0
    assert (store.client(OLD), store.client(NEW)) == (None, "a")
    assert store.file_error is False


def test_a_file_emptied_of_keys_revokes_every_key_it_gave(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"a:{OLD}\n")
    clock = Clock()
    store = ApiKeyStore(keys_from_setting(f"ops:{NEW}"), path, clock)
    write_keys(path, "# all revoked\n")
    clock.now += 1.0
    assert (store.client(OLD), store.client(NEW)) == (None, "ops")
    assert store.file_error is False


def test_the_file_is_not_read_again_while_it_is_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "keys"
    path.write_text(f"a:{OLD}\n")
    clock = Clock()
    store = ApiKeyStore([], path, clock)
    reads = []
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text",
                        lambda self, *a, **k: reads.append(self) or original(self, *a, **k))
    for _ in range(5):
        clock.now += 1.0
        assert store.client(OLD) == "a"
    assert reads == []


# --- the token bucket ------------------------------------------------------------------------


def test_the_bucket_starts_full_and_refills_at_its_rate_up_to_its_capacity():
    bucket = TokenBucket(rate=4.0, capacity=10.0, now=0.0)
    assert bucket.take(10, now=0.0) == 0.0
    assert bucket.tokens == 0.0
    # 3 more: 3 tokens missing at 4 a second.
    assert bucket.take(3, now=0.0) == 0.75
    assert bucket.tokens == 0.0, "a refused take takes nothing"
    assert bucket.take(3, now=0.5) == 0.25  # 2 tokens by then
    assert bucket.take(3, now=0.75) == 0.0
    assert bucket.tokens == 0.0
    # A long pause fills it to its capacity, never beyond.
    assert bucket.take(10, now=100.0) == 0.0
    assert bucket.take(1, now=100.0) == 0.25
    assert bucket.take(0.5, now=100.125) == 0.0


def test_the_limiter_keeps_one_bucket_per_client_and_a_zero_rate_is_no_limit():
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=4, clock=clock)
    assert limiter.charge("a", 4) == 0.0
    assert limiter.charge("a", 1) == 0.5
    assert limiter.charge("b", 4) == 0.0, "b has its own bucket"
    clock.now += 1.5
    assert limiter.charge("a", 3) == 0.0
    assert limiter.charge("a", 4) == 2.0
    unlimited = RateLimiter(rate=0.0, burst=1, clock=clock)
    assert [unlimited.charge("a", 1_000_000) for _ in range(3)] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("wait_s, header", [(0.001, 1), (0.75, 1), (1.0, 1), (1.01, 2),
                                            (2.0, 2), (29.5, 30)])
def test_retry_after_is_the_wait_in_whole_seconds_rounded_up(wait_s, header):
    assert retry_after_s(wait_s) == header


def test_a_burst_smaller_than_a_batch_is_refused_by_the_settings():
    with pytest.raises(ValueError, match=r"ingest_rate_burst \(999\) must be at least "
                                         r"ingest_max_batch \(1000\)"):
        Settings(_env_file=None, ingest_rate_burst=999)
    # No limit, no bucket: any burst will do.
    Settings(_env_file=None, ingest_rate_burst=1, ingest_rate_limit_events_per_s=0)


def test_the_keys_setting_is_a_secret_that_never_shows():
    settings = Settings(_env_file=None, ingest_api_keys=f"a:{OLD}")
    assert OLD not in repr(settings) and OLD not in str(settings.model_dump())
    assert settings.as_env()["TREND_INGEST_API_KEYS"] == f"a:{OLD}"  # for child processes


# --- the app's answers ---------------------------------------------------------------------


@pytest.fixture
def app_and_clock():
    """The ingest app, its broker unreachable (the events below are all rejected by the
    contract, so none reaches the producer), 2 events/s and 4 at once per client."""
    clock = Clock()
    settings = Settings(_env_file=None, bootstrap_servers=f"127.0.0.1:{free_port()}",
                        ingest_api_keys=f"a:{OLD},b:{NEW}", ingest_max_batch=4,
                        ingest_rate_limit_events_per_s=2, ingest_rate_burst=4)
    with TestClient(create_ingest_app(settings, clock)) as client:
        yield client, clock


#: An event the contract rejects (missing_field): it costs a token and is never produced.
BAD_EVENT = {"event_type": "click"}


def post(client: TestClient, key: str | None, events: int):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/events", json=[BAD_EVENT] * events, headers=headers)


def test_no_key_or_an_unknown_one_is_a_401_in_the_error_shape(app_and_clock):
    client, _ = app_and_clock
    for headers, challenge, message in [
        ({}, "Bearer", "send an API key of this service as Authorization: Bearer <key>"),
        ({"Authorization": f"Basic {OLD}"}, "Bearer",
         "send an API key of this service as Authorization: Bearer <key>"),
        ({"Authorization": "Bearer "}, "Bearer",
         "send an API key of this service as Authorization: Bearer <key>"),
        ({"Authorization": f"Bearer {BARE}"}, 'Bearer error="invalid_token"',
         "the API key is not one this service accepts"),
    ]:
        response = client.post("/events", json=[BAD_EVENT], headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == challenge
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"error": {"code": "unauthenticated", "message": message}}
    metrics = client.get("/metrics").text
    assert 'trend_ingest_refused_requests_total{client="none",reason="unauthenticated"} 4.0' \
        in metrics
    assert OLD not in metrics and BARE not in metrics
    assert "trend_ingest_client_events_total{" not in metrics


def test_health_metrics_and_the_docs_need_no_key(app_and_clock):
    client, _ = app_and_clock
    for path in ("/health", "/metrics", "/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"] == {"ApiKey": {
        "type": "http", "scheme": "bearer",
        "description": "An API key of the ingest service: Authorization: Bearer KEY"}}
    assert spec["paths"]["/events"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in spec["paths"]["/health"]["get"]


def test_over_the_limit_is_a_429_with_retry_after_and_each_client_has_its_own(app_and_clock):
    client, clock = app_and_clock
    assert post(client, OLD, 4).status_code == 202
    refused = post(client, OLD, 1)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"  # 1 token at 2 a second: 0.5 s
    assert refused.json() == {"error": {"code": "rate_limited", "message":
                              "over this API key's limit of 2 events/s (at most 4 at once); "
                              "nothing was written, retry after Retry-After seconds"}}
    assert post(client, NEW, 4).status_code == 202, "another client, another bucket"
    clock.now += 1.0  # 2 tokens back
    assert post(client, OLD, 2).status_code == 202
    refused = post(client, OLD, 4)
    assert refused.headers["retry-after"] == "2"  # 4 missing at 2 a second
    clock.now += 2.0
    answer = post(client, OLD, 4)
    assert answer.status_code == 202
    assert answer.json()["rejected"] == 4
    metrics = client.get("/metrics").text
    for line in ('trend_ingest_refused_requests_total{client="a",reason="rate_limited"} 2.0',
                 'trend_ingest_client_events_total{client="a"} 10.0',
                 'trend_ingest_client_events_total{client="b"} 4.0',
                 'trend_ingest_events_rejected_total{reason="missing_field"} 14.0',
                 "trend_ingest_api_keys 2.0",
                 "trend_ingest_api_keys_file_error 0.0",
                 'trend_ingest_requests_total{method="POST",route="/events",status="429"} 2.0'):
        assert line in metrics, line
