"""How every process of Trend Tracker logs: plain text lines, or one JSON object a line.

``TREND_LOG_FORMAT`` (the ``log_format`` setting) chooses: ``text`` on a laptop, ``json``
where a log shipper reads the containers' output (docker-compose, Kubernetes). Each
process calls :func:`configure_logging` once it has its settings; the ``trend`` command
calls it first from the environment alone, so what it logs before its settings are read is
in the same format. The API and ingest hand :func:`uvicorn_log_config` to uvicorn, so its
access and error lines go through the same formatter.

A JSON line has the fields ``time`` (ISO 8601, UTC, milliseconds), ``level``, ``logger`` and
``message``, then those of :data:`CONTEXT_FIELDS` that apply, and ``exception`` (the whole
traceback, one string) when one is logged. A context field comes from

* the record itself: ``log.info("...", extra={"window_end": end})``, or
* the context of the code that logs, for everything it logs meanwhile (a request, a
  window being written): ``with log_context(request_id=..., trace_id=...): ...``. The
  context lives in a :class:`contextvars.ContextVar`, so each asyncio task and thread has
  its own; :func:`bind_log_context` and :func:`reset_log_context` are the same without a
  ``with`` block (a middleware binds at a request's start and resets at its end).

The record's own value wins over the context's. Text lines carry the context too, as
``key=value`` after the message.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[str, ...] = ("text", "json")
#: The variable (the ``log_format`` setting) that chooses the format.
LOG_FORMAT_VARIABLE = "TREND_LOG_FORMAT"

#: Context fields a line carries when they apply, in this order.
CONTEXT_FIELDS: tuple[str, ...] = (
    "window_end", "weights_version", "job_id", "request_id", "trace_id")

#: The text format of every process.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

#: The log4j2 configuration of a Flink JVM logging JSON lines to its log file
#: (``-Dlog.file``): the local standalone cluster's daemons and the embedded job's JVM.
FLINK_JSON_LOG4J = (Path(__file__).resolve().parent.parent
                    / "deploy" / "flink" / "log4j-json.properties")

_context: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "trend_log_context", default=None)


def _check_fields(fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - set(CONTEXT_FIELDS))
    if unknown:
        raise ValueError(f"no such log context field: {', '.join(unknown)} "
                         f"(fields: {', '.join(CONTEXT_FIELDS)})")


def bind_log_context(**fields: Any) -> contextvars.Token:
    """Add ``fields`` (of :data:`CONTEXT_FIELDS`; ``None`` leaves a field out) to the
    context of what this task or thread logs from now on; returns the token for
    :func:`reset_log_context`."""
    _check_fields(fields)
    merged = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(merged)


def reset_log_context(token: contextvars.Token) -> None:
    """Put back the context as it was before the :func:`bind_log_context` of ``token``."""
    _context.reset(token)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Everything logged inside the block carries ``fields`` (see :func:`bind_log_context`)."""
    token = bind_log_context(**fields)
    try:
        yield
    finally:
        reset_log_context(token)


def current_log_context() -> dict[str, Any]:
    """The context fields bound in this task or thread."""
    return dict(_context.get() or {})


def record_context(record: logging.LogRecord) -> dict[str, Any]:
    """The context fields of ``record``: the bound context, then the record's own extras."""
    fields = current_log_context()
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            fields[name] = value
    return {name: fields[name] for name in CONTEXT_FIELDS if name in fields}


def iso_utc(created: float) -> str:
    """``created`` (seconds since the epoch) as ISO 8601 in UTC with milliseconds."""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_value(value: Any) -> Any:
    """A context value as JSON takes it: numbers, strings and booleans as they are."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record_context(record).items():
            line[name] = _json_value(value)
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """:data:`TEXT_FORMAT`, then the context fields as ``key=value``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = record_context(record)
        if not context:
            return text
        first, newline, rest = text.partition("\n")
        pairs = " ".join(f"{k}={v}" for k, v in context.items())
        return f"{first} {pairs}{newline}{rest}"


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``log_format`` (``text`` or ``json``)."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return TextFormatter()
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")


class _TrendHandler(logging.StreamHandler):
    """The root handler :func:`configure_logging` installs (and replaces on a second call).
    It writes to ``sys.stderr`` as it is when a record comes, not as it was at start."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass  # always the current stderr


def _replaced(handler: logging.Handler) -> bool:
    """Whether :func:`configure_logging` takes ``handler`` off the root logger: its own, and
    text handlers on the process's stdout or stderr (a library's ``basicConfig``); others
    (a file, a test's capture) stay."""
    if isinstance(handler, _TrendHandler):
        return True
    return type(handler) is logging.StreamHandler and handler.stream in (
        sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)


def format_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The format ``TREND_LOG_FORMAT`` names (``text`` when unset or unknown: the settings
    refuse an unknown one with a clear message once they are read)."""
    value = (os.environ if environ is None else environ).get(LOG_FORMAT_VARIABLE, "text")
    return value if value in LOG_FORMATS else "text"


def configure_logging(log_format: str | None = None, level: int = logging.INFO) -> None:
    """Send every logger's records to stderr in ``log_format`` (default: from the
    environment). Replaces the root logger's stderr and stdout handlers; calling it again
    only changes the format."""
    chosen = format_from_env() if log_format is None else log_format
    handler = _TrendHandler()
    handler.setFormatter(formatter(chosen))
    root = logging.getLogger()
    for old in list(root.handlers):
        if _replaced(old):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings (deprecations in libraries) as log records, not bare stderr text.
    logging.captureWarnings(True)


def start_logging(settings: Any, process: str) -> None:
    """Configure logging for a process with ``settings`` (the one settings object), and, in
    json mode, log them at start: ``settings.summary()``, which carries no secret."""
    configure_logging(settings.log_format)
    if settings.log_format == "json":
        logging.getLogger(process).info(
            "%s starting with settings %s", process,
            json.dumps(settings.summary(), sort_keys=True))


def embedded_flink_log_config(log_format: str,
                               environ: MutableMapping[str, str] = os.environ) -> None:
    """In json mode, have the JVM that PyFlink starts for an embedded job (it reads
    ``LOG4J_PROPERTIES``) log JSON lines to its log file. Call it before that JVM starts; a
    ``LOG4J_PROPERTIES`` set by hand is kept."""
    if log_format == "json" and "LOG4J_PROPERTIES" not in environ:
        environ["LOG4J_PROPERTIES"] = str(FLINK_JSON_LOG4J)


def uvicorn_log_config(log_format: str) -> dict[str, Any]:
    """A ``log_config`` for uvicorn: its error and access loggers through the format of
    every other line, on stderr (for ``dictConfig``; the root logger is left alone)."""
    factory = JsonFormatter if log_format == "json" else TextFormatter
    formatter(log_format)  # refuses an unknown format
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"trend": {"()": f"{__name__}.{factory.__name__}"}},
        "handlers": {"trend": {"class": "logging.StreamHandler", "formatter": "trend",
                               "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["trend"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["trend"], "level": "INFO", "propagate": False},
        },
    }
