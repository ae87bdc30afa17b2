"""The job's weights source: polling, switching and keeping the last good weights."""

from __future__ import annotations

import threading
import time

import pytest

from registry.errors import NoChampionError, RegistryUnavailableError
from registry.source import WeightsSource, open_weights_source
from registry.weights import InvalidWeightsError, Weights
from trend_tracker.settings import Settings

V1 = Weights(1.0, 3.0, 5.0, "trend-weights/1")
V2 = Weights(1.0, 2.0, 8.0, "trend-weights/2")


class ScriptedFetch:
    """Returns (or raises) the scripted answers in turn, then repeats the last one."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> Weights:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_start_fetches_and_current_does_no_io():
    fetch = ScriptedFetch(V1)
    source = WeightsSource(fetch, None)
    with pytest.raises(RuntimeError, match="before start"):
        source.current()
    source.start()
    for _ in range(100):
        assert source.current() is V1
    assert fetch.calls == 1


def test_start_without_champion_raises_the_registry_error():
    fetch = ScriptedFetch(NoChampionError("no champion; set one with `trend weights set`"))
    with pytest.raises(NoChampionError, match="trend weights set"):
        WeightsSource(fetch, 10.0).start()


def test_poll_switches_to_the_new_champion():
    changes = []
    clock = FakeClock()
    source = WeightsSource(ScriptedFetch(V1, V1, V2), 10.0, clock=clock,
                           on_change=lambda old, new: changes.append((old, new)))
    assert source.poll_once()
    clock.now = 1010.0
    assert source.poll_once()
    assert source.current() is V1
    clock.now = 1020.0
    assert source.poll_once()
    assert source.current() is V2
    status = source.status
    assert status.weights_version == "trend-weights/2"
    assert status.switches == 1
    assert status.registry_up is True
    assert status.last_success_ts == 1020.0
    assert changes == [(None, V1), (V1, V2)]


def test_outage_keeps_the_last_good_weights_and_recovers():
    clock = FakeClock()
    down = RegistryUnavailableError("MLflow registry at http://x is unreachable")
    source = WeightsSource(ScriptedFetch(V1, down, down, V2), 10.0, clock=clock)
    assert source.poll_once()
    clock.now = 1010.0
    assert not source.poll_once()
    clock.now = 1020.0
    assert not source.poll_once()
    assert source.current() is V1
    status = source.status
    assert status.registry_up is False
    assert source.healthy is False
    assert status.last_success_ts == 1000.0
    assert status.failures == 2
    assert "unreachable" in source.last_error
    clock.now = 1030.0
    assert source.poll_once()
    assert source.current() is V2
    assert source.healthy and source.last_error is None
    assert source.status.last_success_ts == 1030.0


def test_invalid_new_weights_keep_the_old_ones():
    source = WeightsSource(ScriptedFetch(V1, InvalidWeightsError("weight cart=-1 is negative")),
                           10.0)
    source.poll_once()
    assert not source.poll_once()
    assert source.current() is V1
    assert "negative" in source.status.last_error


def test_outage_is_logged_once_not_every_poll(caplog):
    down = RegistryUnavailableError("down")
    source = WeightsSource(ScriptedFetch(V1, down, down, down, V1), 10.0)
    with caplog.at_level("WARNING", logger="registry.source"):
        for _ in range(5):
            source.poll_once()
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "unavailable" in m]) == 1
    assert len([m for m in messages if "reachable again" in m]) == 1


def test_background_thread_polls_and_close_stops_it():
    switched = threading.Event()
    fetch = ScriptedFetch(V1, V2)
    source = WeightsSource(fetch, 0.01,
                           on_change=lambda old, new: new is V2 and switched.set())
    with source:
        assert switched.wait(5)
        assert source.current() is V2
    calls = fetch.calls
    time.sleep(0.05)
    assert fetch.calls == calls


def test_readers_on_many_threads_always_see_whole_weights():
    source = WeightsSource(ScriptedFetch(V1, V2, V1, V2, V1, V2), 0.001).start()
    seen = set()

    def read():
        for _ in range(2000):
            seen.add(source.current())

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    source.close()
    assert seen <= {V1, V2}


def test_weights_file_setting_serves_the_file_without_polling(tmp_path):
    path = tmp_path / "w.json"
    path.write_text('{"click": 2, "cart": 4, "purchase": 6, "version": "offline-7"}')
    settings = Settings(_env_file=None, weights_file=path,
                        mlflow_tracking_uri="http://127.0.0.1:1")
    source = open_weights_source(settings)
    assert source.poll_interval_s is None
    with source:
        assert source.current() == Weights(2.0, 4.0, 6.0, "offline-7")
        assert source.healthy


def test_registry_source_is_built_without_network():
    settings = Settings(_env_file=None, mlflow_tracking_uri="http://127.0.0.1:1",
                        weights_poll_interval_s=0.5)
    source = open_weights_source(settings)
    assert source.poll_interval_s == 0.5
    with pytest.raises(RegistryUnavailableError, match="unreachable"):
        source.start()
