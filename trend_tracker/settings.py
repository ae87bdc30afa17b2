"""The one settings object of Trend Tracker.

Every deployment-specific value (hosts, ports, topics, buckets, window sizes) lives here
and is read from the environment (prefix ``TREND_``), from ``.env`` files, and from CLI
flags, which take precedence. Nothing else in the code base hard-codes a host or a port.

The embedded local stack (``trend up``) writes the endpoints it started to
``<state_dir>/stack.env``; that file is read after ``.env``, so a running local stack
wins over a stale ``.env`` but never over real environment variables or flags.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_origin

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trend_tracker.redaction import REDACTED, redact_url

DEFAULT_STATE_DIR = ".trend"
STACK_ENV_FILE = "stack.env"

#: The most bytes one payload byte takes in the JSON dead-letter envelope: a control
#: character is written as a six-character escape (a byte that is not UTF-8: U+FFFD, 3 bytes).
ESCAPED_BYTES_PER_PAYLOAD_BYTE = 6
#: Room for the rest of a dead letter: its key, topic (at most 249 characters), numbers, hash,
#: field names and Kafka's record framing take under 1 KiB.
DEAD_LETTER_OVERHEAD_BYTES = 4096
#: Settings a log line never shows, beside the ``SecretStr`` ones.
SUMMARY_SECRETS = frozenset({"s3_access_key"})


def _state_dir_from_env() -> Path:
    return Path(os.environ.get("TREND_STATE_DIR", DEFAULT_STATE_DIR))


class Settings(BaseSettings):
    """Everything a deployment changes. Field ``foo_bar`` is env var ``TREND_FOO_BAR``."""

    model_config = SettingsConfigDict(
        env_prefix="TREND_",
        extra="ignore",
        validate_default=True,
    )

    # --- where local state, logs and checkpoints live
    state_dir: Path = Field(Path(DEFAULT_STATE_DIR), description="Local state and logs")
    log_format: Literal["text", "json"] = Field(
        "text", description="How every process logs: text lines, or json (one object a "
                            "line, for a log shipper; see docs/OPERATIONS.md)")

    # --- Kafka
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    topic_clicks: str = "clicks"
    topic_carts: str = "carts"
    topic_purchases: str = "purchases"
    topic_dead_letters: str = "events-dlq"
    dead_letter_payload_prefix_bytes: int = Field(
        4096, ge=0,
        description="Most bytes of a bad record's value its dead letter carries (with the "
                    "value's size and SHA-256); shorter values are carried whole")
    dead_letter_max_request_bytes: int = Field(
        1_048_576, ge=DEAD_LETTER_OVERHEAD_BYTES,
        description="max.request.size of the dead-letter producer; the broker and topic must "
                    "accept records of the largest dead letter "
                    "(see dead_letter_payload_prefix_bytes)")
    dead_letter_transaction_timeout_s: int | None = Field(
        None, ge=60, le=900,
        description="transaction.timeout.ms of the dead-letter sink, whose transactions commit "
                    "with the checkpoints: longer than a checkpoint interval plus a restart, "
                    "and at most the broker's transaction.max.timeout.ms (15 min by default). "
                    "Default: checkpoint_interval_s + 5 min, at most 15 min")
    topic_retention_hours: int = Field(
        168, ge=1,
        description="retention.ms of the event and dead-letter topics that `trend topics "
                    "create` makes: how far back a replay or a backfill can go")
    topic_weights: str = Field(
        "trend-weights",
        description="Weights changes, published from the registry and read by the job")
    topic_partitions: int = Field(2, ge=1, le=1024)
    consumer_group: str = "trend-tracker"
    # How every Kafka client connects (trend_tracker/kafka_config.py maps these).
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = Field(
        "PLAINTEXT", description="security.protocol of every Kafka client")
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism, with a SASL_* security protocol")
    kafka_sasl_username: str | None = Field(
        None, description="SASL user of this component, with a SASL_* security protocol")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password of this component. The job's Kafka connectors never "
                          "carry it: their JVMs read it from a JAAS file (docs/OPERATIONS.md)")
    kafka_ssl_ca_location: Path | None = Field(
        None, description="PEM file of the CA that signed the brokers' certificates, with "
                          "SSL or SASL_SSL (default: the system's CAs)")

    # --- Redis (the API's fast, expiring view)
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_ttl_s: int = Field(6 * 3600, ge=60, description="TTL of a window's rankings")
    redis_connect_timeout_s: float = Field(
        0.5, gt=0, description="How long the job's sink and the API wait to connect to Redis")
    redis_write_timeout_s: float = Field(
        5.0, gt=0, description="How long the job's sink waits for Redis to take one window")
    redis_retry_interval_s: float = Field(
        5.0, gt=0, description="While Redis is down, how often the job's sink tries it again")
    redis_pending_windows: int = Field(
        10, ge=1, le=1000,
        description="Windows the job's sink keeps whole for Redis while Redis is down")
    redis_namespace: str = Field(
        "trend", description="What every Redis key starts with: the job writes and the API "
                             "reads under it (a backfill writes under its own)")
    backfill_name: str = Field(
        "backfill", pattern=r"^[a-z0-9][a-z0-9-]{0,31}$",
        description="A bounded run's output: Parquet under <parquet_root_uri>-backfills/<name> "
                    "and Redis under <redis_namespace>-backfill-<name>, unless --replace")

    # --- Parquet snapshots (file:// or s3://)
    parquet_root_uri: str = "file://.trend/parquet"
    s3_endpoint_url: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    s3_bucket: str = "trends"
    secrets_file: Path | None = Field(
        None, description="A file of TREND_<FIELD>=value lines (dotenv syntax) the job's "
                          "workers read their secrets from: TREND_REDIS_URL with its "
                          "password, TREND_S3_ACCESS_KEY, TREND_S3_SECRET_KEY. Default: "
                          "the workers' environment")

    # --- MLflow model registry
    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    weights_model_name: str = "trend-weights"
    weights_alias: str = "champion"
    weights_file: Path | None = Field(None, description="Offline override of the registry")
    weights_poll_interval_s: float = Field(30.0, gt=0)

    # --- the job's semantics
    window_size_s: int = Field(600, gt=0)
    window_slide_s: int = Field(30, gt=0)
    out_of_orderness_s: int = Field(5, ge=0, description="Watermark out-of-orderness")
    # 60 s: a producer up to a minute behind the others (a retried batch, a mobile client
    # uploading in bursts) loses nothing, for one tenth more state with the default window
    # (docs/ARCHITECTURE.md).
    allowed_lateness_s: int = Field(
        60, ge=0,
        description="How long after a window fired (in event time, behind the watermark) "
                    "events still count in it: the window is written again, whole. An event "
                    "whose every window is further behind is a dead letter (late)")
    # 300 s: a copy sent again keeps its ts (a producer's retry, a client replaying a batch),
    # and is a duplicate whatever the horizon while any of its windows is open; the horizon
    # is for copies stamped again when resent, which a producer does within its delivery
    # timeout (librdkafka's delivery.timeout.ms is 300 s). The ids are kept per product for
    # the horizon plus a window and the allowed lateness (docs/ARCHITECTURE.md).
    dedup_horizon_s: int = Field(
        300, ge=0, le=86_400,
        description="Copies of an event (its event_id, product_id and event_type) whose ts "
                    "are less than this far apart count once; the others are dead letters "
                    "(duplicate). 0 counts every copy")
    # 5: a shopper rarely views, carts or buys one product more than a handful of times in
    # a window (10 minutes by default); one user's burst, a bot or a stuck client, then
    # moves a product's count by at most 5 per type instead of making its trend alone.
    max_events_per_user: int = Field(
        5, ge=0, le=1_000_000,
        description="Most times one user's events of one type on one product count in a "
                    "window (the rest are valid and read, not counted); 0: no cap")
    max_future_skew_s: int = Field(60, ge=0, description="How far ts may run ahead of now")
    source_idle_timeout_s: int = Field(
        30, ge=1, description="How long a partition may send nothing before the watermark "
                              "moves on without it; a producer stalled for less loses nothing")
    top_n: int = Field(100, ge=1, le=10_000)
    max_categories: int = Field(
        200, ge=1, le=100_000,
        description="Categories ranked per window (the highest window scores), and kept in "
                    "Redis's category list")
    # At least 1e-6: a score is at most 3 * 1e6 (MAX_WEIGHT) * 2**63 ~ 2.8e25, so momentum
    # stays below ~2.8e31, finite; a prior of 1e-320 made it infinite from a score of 10.
    rising_prior: float = Field(
        10.0, ge=1e-6, le=1e12,
        description="Score added to both rates before the rising momentum divides them: "
                    "(recent score / scale + prior) / (base score + prior); 1e-6 to 1e12, so "
                    "momentum is finite")
    rising_min_score: float = Field(
        10.0, ge=0, le=1e15,
        description="Least score in the window for a product to enter the rising ranking")
    # The Rising statistic (docs/ARCHITECTURE.md): the newest slides against the window just
    # before them. 2 slides, z >= 4 and a variance 1.7 times the Poisson one met the
    # detection goals at 5,000 events/s in benchmarks/rising_quality.py (docs/BENCHMARKS.md):
    # a whole window dilutes a new trend (recall 0.25 at 500 events/s), and the funnel's
    # events come together (a click, its cart, its purchase), so a score varies more than
    # independent counts would.
    rising_recent_slides: int = Field(
        2, ge=1, le=10_000,
        description="How many of the newest slides the rising ranking compares with the "
                    "window just before them (a window's slides, if it has fewer)")
    rising_min_z: float | None = Field(
        4.0, ge=-1e6, le=1e6,
        description="Least significance of a product's recent growth for the rising "
                    "ranking: (recent score - scale * base score) / sqrt(rising_dispersion * "
                    "(scale + scale**2) * base variance + 1), scale = the recent slides' share "
                    "of a window; none: no significance test")
    rising_dispersion: float = Field(
        1.7, ge=1.0, le=1e6,
        description="Factor on the base score's Poisson variance in the rising test: how "
                    "much more than independent counts a score varies")
    parallelism: int = Field(1, ge=1)
    checkpoint_interval_s: int = Field(30, ge=1)
    checkpoint_dir: str | None = None
    savepoint_dir: str | None = Field(
        None, description="Where `trend job stop` puts savepoints (default: under state_dir)")
    restore_from: str | None = Field(
        None, description="A retained checkpoint or savepoint to restore the job's state from")
    state_backend: Literal["hashmap", "rocksdb"] = Field(
        "hashmap", description="Flink state backend of the job")
    udf_jar: Path | None = Field(
        None, description="A prebuilt jar of the job's Java module, shipped with the jars of "
                          "a lib/ directory beside it if any (default: the jars `make jar` "
                          "builds under udfs/java/target)")
    python_execution_mode: Literal["process", "thread"] = Field(
        "process", description="Where the job's Python functions run")

    # --- the API
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    api_cors_origins: list[str] = Field(default_factory=list)
    api_stale_after_s: int = Field(120, ge=1)
    api_cache_ttl_s: float = Field(
        1.0, ge=0, le=60,
        description="How long /trending reuses the newest ranking read from Redis; "
                    "0 reads Redis on every request")
    redis_timeout_s: float = Field(
        0.5, gt=0, description="How long the API waits for Redis to answer a read")

    # --- the ingest service (HTTP -> the event topics)
    ingest_host: str = "127.0.0.1"
    ingest_port: int = Field(8001, ge=1, le=65535)
    ingest_max_batch: int = Field(
        1000, ge=1, le=100_000, description="Most events one POST /events may carry")
    ingest_max_body_bytes: int = Field(
        524_288, ge=1024, le=1_000_000,
        description="Largest request body the ingest service reads; one event is one Kafka "
                    "record, so keep it below the broker's message.max.bytes")
    ingest_request_timeout_s: float = Field(
        10.0, gt=0, le=300,
        description="How long the ingest service waits for a body and for the broker's "
                    "acknowledgement of its events before answering")
    # 64 requests of the largest body hold at most 32 MiB of bodies, beside a producer
    # queue of 64 MiB: well under the 512 Mi the service's pod may use. At about 40 us of
    # checks per event, 64 batches of 1,000 are 2.5 s of work queued: more would only
    # answer later, not faster.
    ingest_max_concurrent_requests: int = Field(
        64, ge=1, le=10_000,
        description="POST /events requests the ingest service handles at once; beyond them "
                    "it answers 503 overloaded with Retry-After")
    ingest_api_keys: SecretStr | None = Field(
        None,
        description="API keys the ingest service accepts (Authorization: Bearer KEY), "
                    "comma-separated, each name:key or a bare key; read at start. Beside "
                    "or instead of ingest_api_keys_file; without any key the service "
                    "refuses to start")
    ingest_api_keys_file: Path | None = Field(
        None,
        description="A file of API keys the ingest service accepts, one name:key (or bare "
                    "key) a line, # comments; read again within a second of a change, so "
                    "keys rotate without a restart")
    ingest_rate_limit_events_per_s: float = Field(
        2000.0, ge=0,
        description="Events per second each client (API key name) may post to one ingest "
                    "process, on average; beyond it, 429 with Retry-After. 0: no limit")
    ingest_rate_burst: int = Field(
        10_000, ge=1,
        description="Events a client may post at once, over its rate (the token bucket's "
                    "size); at least ingest_max_batch, so that a full batch can pass")

    # --- metrics
    metrics_port: int = Field(9250, ge=0, le=65535, description="0 disables the endpoint")
    flink_metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of the job's Prometheus reporter; 0 disables it")

    @field_validator("topic_clicks", "topic_carts", "topic_purchases", "topic_dead_letters",
                     "topic_weights")
    @classmethod
    def _topic_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", value):
            raise ValueError(f"invalid Kafka topic name {value!r}")
        return value

    @field_validator("parquet_root_uri")
    @classmethod
    def _parquet_scheme(cls, value: str) -> str:
        if not value.startswith(("file://", "s3://")):
            raise ValueError("parquet_root_uri must start with file:// or s3://")
        return value

    @field_validator("redis_namespace")
    @classmethod
    def _redis_namespace(cls, value: str) -> str:
        from trend_tracker.redis_layout import check_namespace

        return check_namespace(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis_url must start with redis://, rediss:// or unix://")
        return value

    @field_validator("rising_min_z", mode="before")
    @classmethod
    def _no_significance_test(cls, value: object) -> object:
        # From the environment or a flag: "none" (or empty) turns the test off.
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
            return None
        return value

    @model_validator(mode="after")
    def _dead_letter_fits(self) -> Settings:
        # The largest envelope: every carried byte escaped at its widest, plus the rest.
        largest = (ESCAPED_BYTES_PER_PAYLOAD_BYTE * self.dead_letter_payload_prefix_bytes
                   + DEAD_LETTER_OVERHEAD_BYTES)
        if largest > self.dead_letter_max_request_bytes:
            most = ((self.dead_letter_max_request_bytes - DEAD_LETTER_OVERHEAD_BYTES)
                    // ESCAPED_BYTES_PER_PAYLOAD_BYTE)
            raise ValueError(
                f"dead_letter_payload_prefix_bytes ({self.dead_letter_payload_prefix_bytes}) "
                f"makes dead letters of up to {largest} bytes, over dead_letter_max_request_bytes "
                f"({self.dead_letter_max_request_bytes}): it can be at most {most}")
        return self

    @property
    def dead_letter_transaction_timeout(self) -> int:
        """The dead-letter sink's transaction timeout in seconds (see the field)."""
        if self.dead_letter_transaction_timeout_s is not None:
            return self.dead_letter_transaction_timeout_s
        return min(self.checkpoint_interval_s + 300, 900)

    @model_validator(mode="after")
    def _transactions_outlive_checkpoints(self) -> Settings:
        # A dead-letter transaction stays open from one checkpoint to the next, and across a
        # restart until the restored job commits it: a minute of room for the restart.
        if self.dead_letter_transaction_timeout < self.checkpoint_interval_s + 60:
            raise ValueError(
                f"the dead-letter transaction timeout ({self.dead_letter_transaction_timeout} s,"
                f" dead_letter_transaction_timeout_s) must be at least checkpoint_interval_s "
                f"({self.checkpoint_interval_s}) + 60, and at most 900 (the broker's "
                f"transaction.max.timeout.ms by default)")
        return self

    @model_validator(mode="after")
    def _a_full_batch_fits_the_bucket(self) -> Settings:
        if self.ingest_rate_limit_events_per_s > 0 and (
                self.ingest_rate_burst < self.ingest_max_batch):
            raise ValueError(
                f"ingest_rate_burst ({self.ingest_rate_burst}) must be at least "
                f"ingest_max_batch ({self.ingest_max_batch}): a batch larger than the bucket "
                f"would never pass")
        return self

    @model_validator(mode="after")
    def _kafka_user(self) -> Settings:
        # The password is checked where a client is built (trend_tracker.kafka_config): the
        # job's Python workers get these settings without it, and never talk to Kafka.
        if self.kafka_security_protocol.startswith("SASL_") and not self.kafka_sasl_username:
            raise ValueError(f"kafka_security_protocol {self.kafka_security_protocol} needs "
                             f"kafka_sasl_username (and kafka_sasl_password)")
        return self

    @model_validator(mode="after")
    def _window_shape(self) -> Settings:
        if self.window_size_s % self.window_slide_s != 0:
            raise ValueError(
                f"window_size_s ({self.window_size_s}) must be a multiple of "
                f"window_slide_s ({self.window_slide_s})"
            )
        if self.weights_file is None and not self.weights_model_name:
            raise ValueError("set weights_model_name or weights_file")
        return self

    # --- derived values ---------------------------------------------------------------

    @property
    def event_topics(self) -> dict[str, str]:
        """Event type -> topic: click -> clicks, cart -> carts, purchase -> purchases."""
        return {
            "click": self.topic_clicks,
            "cart": self.topic_carts,
            "purchase": self.topic_purchases,
        }

    @property
    def all_topics(self) -> list[str]:
        return [self.topic_clicks, self.topic_carts, self.topic_purchases, self.topic_dead_letters]

    @property
    def parquet_root(self) -> str:
        """The Parquet root with a relative ``file://`` path made absolute."""
        uri = self.parquet_root_uri
        if uri.startswith("file://"):
            path = Path(uri[len("file://") :])
            if not path.is_absolute():
                path = Path.cwd() / path
            return "file://" + str(path.resolve())
        return uri.rstrip("/")

    @property
    def resolved_checkpoint_dir(self) -> str:
        if self.checkpoint_dir:
            return self.checkpoint_dir
        return "file://" + str((self.state_dir / "checkpoints").resolve())

    @property
    def resolved_savepoint_dir(self) -> str:
        if self.savepoint_dir:
            return self.savepoint_dir
        return "file://" + str((self.state_dir / "savepoints").resolve())

    @property
    def s3_storage_options(self) -> dict[str, Any]:
        """Keyword arguments for ``pyarrow.fs.S3FileSystem``."""
        options: dict[str, Any] = {"region": self.s3_region}
        if self.s3_access_key:
            options["access_key"] = self.s3_access_key
        if self.s3_secret_key:
            options["secret_key"] = self.s3_secret_key.get_secret_value()
        if self.s3_endpoint_url:
            scheme, _, rest = self.s3_endpoint_url.partition("://")
            options["endpoint_override"] = rest or scheme
            options["scheme"] = scheme if rest else "http"
        return options

    def summary(self) -> dict[str, Any]:
        """Every setting, for a log line: secrets replaced by ``***`` (or None when unset),
        and every URL without its credentials (:mod:`trend_tracker.redaction`)."""
        values = self.model_dump(mode="json")
        for name, value in values.items():
            if name in SUMMARY_SECRETS or isinstance(getattr(self, name), SecretStr):
                values[name] = None if value is None else REDACTED
            elif isinstance(value, str) and "://" in value:
                values[name] = redact_url(value)
        return values

    def as_env(self) -> dict[str, str]:
        """These settings as ``TREND_*`` environment variables (for child processes)."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, list):
                value = json.dumps(value)
            env[f"TREND_{name.upper()}"] = str(value)
        return env


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` an option ``--field-name VALUE`` for every settings field."""
    for name, field in Settings.model_fields.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                            metavar="VALUE", help=field.description)


def settings_overrides(args: dict[str, Any]) -> dict[str, Any]:
    """The settings fields among parsed ``args`` that were given (for :func:`load_settings`)."""
    return {k: v for k, v in args.items() if k in Settings.model_fields and v is not None}


def settings_from_env(env: Mapping[str, str], **overrides: Any) -> Settings:
    """Settings from the ``TREND_*`` variables of ``env`` (the inverse of
    :meth:`Settings.as_env`; other names are ignored), then ``overrides``.

    Both are given as init values, so they win over the process environment; no ``.env``
    file is read. A list field's variable holds JSON, as in the environment.
    """
    prefix = "TREND_"
    values: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(prefix):
            continue
        field = name[len(prefix):].lower()
        info = Settings.model_fields.get(field)
        if info is not None and get_origin(info.annotation) in (list, dict):
            value = json.loads(value)
        values[field] = value
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


#: Settings that were renamed: old field -> new field. A ``TREND_*`` variable of an old name
#: is refused, so a deployment that still sets it does not run on the default silently.
RENAMED_FIELDS: dict[str, str] = {
    "topic_dlq": "topic_dead_letters",
    "dlq_payload_prefix_bytes": "dead_letter_payload_prefix_bytes",
    "dlq_max_request_bytes": "dead_letter_max_request_bytes",
}


class RenamedSettingError(ValueError):
    """A ``TREND_*`` variable uses a setting's former name."""


def _env_file_names(path: Path) -> list[str]:
    """The variable names a dotenv file sets (``NAME=value`` lines, ``export`` allowed)."""
    names = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        if line and not line.startswith("#") and "=" in line:
            names.append(line.split("=", 1)[0].strip())
    return names


def unknown_variables(names: list[str] | Mapping[str, str]) -> list[str]:
    """The ``TREND_*`` names among ``names`` that are no setting, sorted.

    Raises :class:`RenamedSettingError` for a setting's former name, naming the new one.
    """
    prefix = "TREND_"
    unknown = set()
    for name in names:
        if not name.startswith(prefix):
            continue
        field = name[len(prefix):].lower()
        if field in RENAMED_FIELDS:
            raise RenamedSettingError(
                f"{name} was renamed {prefix}{RENAMED_FIELDS[field].upper()}: set that "
                f"instead (the old name is not read)")
        if field not in Settings.model_fields:
            unknown.add(name)
    return sorted(unknown)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings: CLI overrides > environment > stack.env > .env > defaults.

    ``None`` overrides are ignored, so CLI options can default to ``None``. A variable with
    a setting's former name is refused (:class:`RenamedSettingError`); other ``TREND_*``
    names that are no setting are logged as a warning (a typo would be ignored otherwise).
    """
    state_dir = Path(overrides.get("state_dir") or _state_dir_from_env())
    env_files = [p for p in (Path(".env"), state_dir / STACK_ENV_FILE) if p.is_file()]
    names = [*os.environ, *(n for p in env_files for n in _env_file_names(p))]
    unknown = unknown_variables(names)
    if unknown:
        logging.getLogger(__name__).warning(
            "ignoring %s: no such setting (see .env.example)", ", ".join(unknown))
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(_env_file=env_files or None, **clean)  # type: ignore[call-arg]
