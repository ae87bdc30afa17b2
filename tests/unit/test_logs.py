"""The log formats: the JSON line's exact fields and values, the context fields, the text
line, uvicorn's log config, the Flink JVMs' log4j2 layouts, and no secret in the settings a
process logs at start."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
from pathlib import Path

import pytest

from trend_tracker.logs import (
    CONTEXT_FIELDS,
    FLINK_JSON_LOG4J,
    JsonFormatter,
    TextFormatter,
    bind_log_context,
    configure_logging,
    current_log_context,
    embedded_flink_log_config,
    format_from_env,
    iso_utc,
    log_context,
    reset_log_context,
    start_logging,
    uvicorn_log_config,
)
from trend_tracker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_LOG4J = ROOT / "deploy" / "flink" / "log4j-console.properties"
# 2026-12-07T10:11:12.345Z, in seconds since the epoch (1796638272 computed by hand:
# 20,794 days to 2026-12-07 * 86,400 + 10 h 11 min 12 s).
CREATED = 20_794 * 86_400 + 10 * 3600 + 11 * 60 + 12 + 0.345


def record(message: str = "weights %s in force", args: tuple = ("v3",),
           level: int = logging.INFO, exc_info=None, **extra) -> logging.LogRecord:
    made = logging.LogRecord("trend.job", level, __file__, 1, message, args, exc_info)
    made.created = CREATED
    made.msecs = 345.0
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def test_iso_utc_has_milliseconds_and_z():
    assert iso_utc(CREATED) == "2026-12-07T10:11:12.345Z"
    assert iso_utc(0.0) == "1970-01-01T00:00:00.000Z"


def test_a_json_line_has_exactly_the_four_fields_without_context():
    line = JsonFormatter().format(record())
    assert "\n" not in line
    assert json.loads(line) == {"time": "2026-12-07T10:11:12.345Z", "level": "INFO",
                                "logger": "trend.job", "message": "weights v3 in force"}


def test_a_record_s_extras_become_context_fields_in_a_fixed_order():
    line = JsonFormatter().format(record(weights_version="v3", window_end=1_704_067_210_000,
                                         job_id="abc", unrelated="dropped"))
    parsed = json.loads(line)
    assert parsed == {"time": "2026-12-07T10:11:12.345Z", "level": "INFO",
                      "logger": "trend.job", "message": "weights v3 in force",
                      "window_end": 1_704_067_210_000, "weights_version": "v3",
                      "job_id": "abc"}
    assert list(parsed) == ["time", "level", "logger", "message", "window_end",
                            "weights_version", "job_id"]


def test_the_bound_context_applies_and_the_record_s_own_value_wins():
    with log_context(request_id="r-1", trace_id="0af7651916cd43dd8448eb211c80319c"):
        assert current_log_context() == {"request_id": "r-1",
                                         "trace_id": "0af7651916cd43dd8448eb211c80319c"}
        line = json.loads(JsonFormatter().format(record(request_id="r-2")))
    assert (line["request_id"], line["trace_id"]) == ("r-2", "0af7651916cd43dd8448eb211c80319c")
    assert current_log_context() == {}
    assert "request_id" not in json.loads(JsonFormatter().format(record()))


def test_bind_and_reset_nest_and_none_leaves_a_field_out():
    outer = bind_log_context(job_id="j-1")
    inner = bind_log_context(request_id="r-1", trace_id=None)
    assert current_log_context() == {"job_id": "j-1", "request_id": "r-1"}
    reset_log_context(inner)
    assert current_log_context() == {"job_id": "j-1"}
    reset_log_context(outer)
    assert current_log_context() == {}


def test_an_unknown_context_field_is_refused():
    with pytest.raises(ValueError, match="no such log context field: user"):
        bind_log_context(user="u-1")


def test_each_asyncio_task_has_its_own_context():
    formatter = JsonFormatter()

    async def request(request_id: str) -> str:
        with log_context(request_id=request_id):
            await asyncio.sleep(0)
            return json.loads(formatter.format(record()))["request_id"]

    async def both() -> list[str]:
        return list(await asyncio.gather(request("r-a"), request("r-b")))

    assert asyncio.run(both()) == ["r-a", "r-b"]


def test_an_exception_is_one_field_and_the_line_stays_one_line():
    try:
        raise RuntimeError("redis down\nsecond line")
    except RuntimeError:
        exc_info = sys.exc_info()
    line = JsonFormatter().format(record("write failed", (), level=logging.ERROR,
                                         exc_info=exc_info))
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "ERROR"
    assert parsed["message"] == "write failed"
    assert parsed["exception"].startswith("Traceback (most recent call last):")
    assert parsed["exception"].endswith("RuntimeError: redis down\nsecond line")


def test_a_text_line_carries_the_context_after_the_message():
    formatter = TextFormatter()
    text = formatter.format(record(weights_version="v3", window_end=10))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,345 INFO trend.job "
                        r"weights v3 in force window_end=10 weights_version=v3", text)


def test_configure_logging_replaces_its_handler_and_follows_the_format(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("text")
        configure_logging("json")
        ours = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
        assert len(ours) == 1
        assert not [h for h in root.handlers if isinstance(h.formatter, TextFormatter)]
        logging.getLogger("trend.test").warning("a %s", "warning")
        line = json.loads(stream.getvalue())
        assert (line["level"], line["logger"], line["message"]) == (
            "WARNING", "trend.test", "a warning")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_the_format_comes_from_the_environment_and_settings():
    assert format_from_env({}) == "text"
    assert format_from_env({"TREND_LOG_FORMAT": "json"}) == "json"
    assert format_from_env({"TREND_LOG_FORMAT": "xml"}) == "text"
    assert Settings(_env_file=None).log_format == "text"
    assert Settings(_env_file=None, log_format="json").log_format == "json"
    with pytest.raises(ValueError, match="log_format"):
        Settings(_env_file=None, log_format="xml")


def test_uvicorn_logs_through_the_same_formatter():
    config = uvicorn_log_config("json")
    assert config["formatters"]["trend"] == {"()": "trend_tracker.logs.JsonFormatter"}
    assert config["loggers"]["uvicorn.access"]["handlers"] == ["trend"]
    assert config["loggers"]["uvicorn"]["handlers"] == ["trend"]
    assert uvicorn_log_config("text")["formatters"]["trend"] == {
        "()": "trend_tracker.logs.TextFormatter"}
    with pytest.raises(ValueError):
        uvicorn_log_config("xml")


def test_the_embedded_jvm_takes_the_json_log4j_file_in_json_mode_only():
    environ: dict[str, str] = {}
    embedded_flink_log_config("text", environ)
    assert environ == {}
    embedded_flink_log_config("json", environ)
    assert environ == {"LOG4J_PROPERTIES": str(FLINK_JSON_LOG4J)}
    mine = {"LOG4J_PROPERTIES": "/etc/mine.properties"}
    embedded_flink_log_config("json", mine)
    assert mine == {"LOG4J_PROPERTIES": "/etc/mine.properties"}


def event_template(properties: Path) -> dict:
    """The JsonTemplateLayout event template of a log4j2 properties file (its one)."""
    text = properties.read_text().replace("\\\n", "")
    found = re.findall(r"^appender\.\w+\.layout\.eventTemplate = (.*)$", text, re.M)
    assert len(found) == 1, properties
    return json.loads(found[0])


def test_the_jvms_write_the_same_fields_as_the_python_processes():
    template = event_template(FLINK_JSON_LOG4J)
    assert event_template(CONSOLE_LOG4J) == template
    assert list(template) == ["time", "level", "logger", "message", "window_end",
                              "weights_version", "job_id", "exception"]
    assert set(template) - {"time", "level", "logger", "message", "exception"} <= set(
        CONTEXT_FIELDS)
    assert template["time"]["pattern"] == {"format": "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'",
                                           "timeZone": "UTC"}
    assert template["job_id"] == {"$resolver": "mdc", "key": "flink-job-id"}


def test_the_image_s_console_appender_is_named_by_the_switch():
    text = CONSOLE_LOG4J.read_text()
    assert "rootLogger.appenderRef.console.ref = ${env:TREND_LOG_FORMAT:-text}" in text
    assert "appender.text.name = text" in text
    assert "appender.json.name = json" in text


SECRET_URLS = {
    "redis://:pw-one@redis:6379/0": "redis://:***@redis:6379/0",
    "redis://user:pw-two@redis:6379/0": "redis://user:***@redis:6379/0",
    "redis://redis:6379/0?password=pw-three": "redis://redis:6379/0?password=***",
}


@pytest.mark.parametrize("redis_url, shown", list(SECRET_URLS.items()))
def test_the_settings_logged_at_start_carry_no_secret(redis_url, shown, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    settings = Settings(_env_file=None, log_format="json", redis_url=redis_url,
                        mlflow_tracking_uri="http://mlflow-user:mlflow-pass@mlflow:5000",
                        s3_access_key="access-id-1", s3_secret_key="s3-secret-1",
                        kafka_security_protocol="SASL_SSL", kafka_sasl_username="trend-job",
                        kafka_sasl_password="kafka-pass-1", ingest_api_keys="shop:key-1")
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        start_logging(settings, "trend.test")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    output = stream.getvalue()
    for secret in ("pw-one", "pw-two", "pw-three", "mlflow-pass", "access-id-1",
                   "s3-secret-1", "kafka-pass-1", "key-1"):
        assert secret not in output
    (line,) = [json.loads(text) for text in output.splitlines()]
    assert line["logger"] == "trend.test"
    summary = json.loads(line["message"].split(" with settings ", 1)[1])
    assert summary["redis_url"] == shown
    assert summary["mlflow_tracking_uri"] == "http://mlflow-user:***@mlflow:5000"
    assert (summary["s3_access_key"], summary["s3_secret_key"]) == ("***", "***")
    assert (summary["kafka_sasl_password"], summary["ingest_api_keys"]) == ("***", "***")
    assert summary["kafka_sasl_username"] == "trend-job"
    assert summary["log_format"] == "json"


def test_text_mode_logs_no_settings_at_start(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        start_logging(Settings(_env_file=None), "trend.test")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert stream.getvalue() == ""


def test_the_watcher_relays_flink_run_s_output_as_json_lines(monkeypatch):
    from jobs.cli import relay_client_output

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    job_line = ('{"time": "2026-12-07T10:11:12.345Z", "level": "INFO", "logger": "trend.job", '
                '"message": "starting"}')
    try:
        configure_logging("json")
        relay_client_output(f"{job_line}\n\nJob has been submitted with JobID 0123abcd\n")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    first, second = stream.getvalue().splitlines()
    assert first == job_line
    relayed = json.loads(second)
    assert (relayed["logger"], relayed["level"], relayed["message"]) == (
        "flink.client", "INFO", "Job has been submitted with JobID 0123abcd")
