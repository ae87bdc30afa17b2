"""Who may write through the ingest service, and how fast: API keys and a token bucket per key.

Keys come from the ``ingest_api_keys`` setting (comma-separated) and from the file
``ingest_api_keys_file`` (one per line), both at once. An entry is ``name:key`` or a bare
``key``; the name is what metrics and logs call the client, so the key itself is never
shown. A bare key is named ``key-`` plus the first 8 hex digits of its SHA-256. Several
entries may share a name: a client's old and new key during a rotation, one rate limit.

Only SHA-256 digests of the keys are kept, and a presented key's digest is compared with
every one of them with :func:`hmac.compare_digest`, so the time an answer takes does not
depend on how much of a key was right. The file is checked for a change (its size, mtime
and inode) at most once per :data:`KEYS_FILE_CHECK_INTERVAL_S`, from the request path: a
rotated file applies within about a second, without a restart.

The rate limit counts events, not requests: a batch of 100 events costs 100 tokens, as it
costs the broker 100 records. Nothing here does I/O but reading the keys file.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: How often, at most, the keys file is checked for a change.
KEYS_FILE_CHECK_INTERVAL_S = 1.0
#: What a key's name may be: it becomes a metric label.
KEY_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: The shortest key accepted: a key is a random token, not a password.
MIN_KEY_LENGTH = 16


class ApiKeyError(ValueError):
    """Keys that cannot be used: none at all, or an entry that is not ``[name:]key``. The
    message never holds a key."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key the service accepts: its client's name and the key's SHA-256 digest."""

    name: str
    digest: bytes


def key_digest(key: str) -> bytes:
    """The SHA-256 digest of a key, as kept and compared."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def parse_api_key(entry: str, where: str) -> ApiKey:
    """One ``name:key`` or bare ``key`` entry; ``where`` names it in an error."""
    name, separator, key = entry.partition(":")
    if not separator:
        name, key = "", entry
    if separator and not KEY_NAME.fullmatch(name):
        raise ApiKeyError(f"{where}: the name before ':' must be 1 to 64 letters, digits, "
                          f"'.', '_' or '-'")
    if len(key) < MIN_KEY_LENGTH or any(c.isspace() for c in key):
        raise ApiKeyError(f"{where}: a key must be at least {MIN_KEY_LENGTH} characters "
                          f"without blanks")
    digest = key_digest(key)
    return ApiKey(name or f"key-{digest.hex()[:8]}", digest)


def _checked(keys: list[ApiKey], source: str) -> list[ApiKey]:
    """``keys`` without repeats; the same key under two names is refused."""
    names: dict[bytes, str] = {}
    unique: list[ApiKey] = []
    for key in keys:
        known = names.get(key.digest)
        if known is None:
            names[key.digest] = key.name
            unique.append(key)
        elif known != key.name:
            raise ApiKeyError(f"{source}: one key is given under two names, "
                              f"{known!r} and {key.name!r}")
    return unique


def keys_from_setting(value: str) -> list[ApiKey]:
    """The keys of the ``ingest_api_keys`` setting: comma-separated entries."""
    entries = [entry.strip() for entry in value.split(",")]
    return _checked([parse_api_key(entry, f"ingest_api_keys entry {number}")
                     for number, entry in enumerate(entries, 1) if entry],
                    "ingest_api_keys")


def keys_from_file_text(text: str, source: str) -> list[ApiKey]:
    """The keys of a keys file: one entry a line; blank lines and ``#`` comments skipped."""
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            keys.append(parse_api_key(line, f"{source} line {number}"))
    return _checked(keys, source)


def _file_signature(path: Path) -> tuple[int, int, int]:
    """What changes when the file is rewritten, in place or replaced (raises OSError)."""
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class ApiKeyStore:
    """The keys the service accepts now: the fixed ones of the setting and those of the
    keys file, re-read when the file changes.

    A change that cannot be read or parsed keeps the keys in use (``file_error`` is set and
    the error logged once); the file's next change is tried again.
    """

    def __init__(self, fixed: Iterable[ApiKey], file: Path | None,
                 clock: Callable[[], float] = time.monotonic,
                 check_interval_s: float = KEYS_FILE_CHECK_INTERVAL_S) -> None:
        self._fixed = list(fixed)
        self._file = file
        self._clock = clock
        self._check_interval_s = check_interval_s
        self._file_keys: list[ApiKey] = []
        self._signature: tuple[int, int, int] | None = None
        #: Whether the file's last change could not be applied.
        self.file_error = False
        if file is not None:
            try:
                self._signature = _file_signature(file)
                self._file_keys = keys_from_file_text(file.read_text("utf-8"), str(file))
            except (OSError, UnicodeDecodeError) as exc:
                raise ApiKeyError(f"cannot read the keys file {file}: "
                                  f"{type(exc).__name__}") from exc
        self.keys = _checked([*self._fixed, *self._file_keys], "the API keys")
        if not self.keys:
            raise ApiKeyError(
                "no API key configured: the ingest service only takes events from clients "
                "with a key. Set TREND_INGEST_API_KEYS_FILE (a file of name:key lines) or "
                "TREND_INGEST_API_KEYS (comma-separated name:key entries)")
        self._next_check = clock() + check_interval_s

    @classmethod
    def from_settings(cls, keys: str | None, file: Path | None,
                      clock: Callable[[], float] = time.monotonic) -> ApiKeyStore:
        """The store of the ``ingest_api_keys`` (its secret value) and
        ``ingest_api_keys_file`` settings; raises :class:`ApiKeyError` for none."""
        return cls(keys_from_setting(keys) if keys else [], file, clock)

    def client(self, presented: str) -> str | None:
        """The name of the client whose key ``presented`` is, or None."""
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._check_interval_s
            self.reload_if_changed()
        digest = key_digest(presented)
        found = None
        for key in self.keys:  # every key compared, the match or not
            if hmac.compare_digest(key.digest, digest):
                found = key.name
        return found

    def reload_if_changed(self) -> None:
        """Read the keys file again if it changed since it was last read or tried."""
        if self._file is None:
            return
        try:
            signature = _file_signature(self._file)
        except OSError as exc:
            signature = None
            error: Exception | None = exc
        else:
            error = None
        if signature == self._signature and signature is not None:
            return
        previous, self._signature = self._signature, signature
        if error is None:
            try:
                file_keys = keys_from_file_text(self._file.read_text("utf-8"), str(self._file))
                keys = _checked([*self._fixed, *file_keys], "the API keys")
            except (OSError, UnicodeDecodeError, ApiKeyError) as exc:
                error = exc
        if error is not None:
            if previous is not None or not self.file_error:
                log.error("API keys file %s not applied, keeping the %d keys in use: %s",
                          self._file, len(self.keys), _describe(error))
            self.file_error = True
            return
        self._file_keys, self.keys, self.file_error = file_keys, keys, False
        log.info("API keys file %s read again: %d keys (%s)", self._file, len(keys),
                 ", ".join(sorted({key.name for key in keys})) or "none")


def _describe(error: Exception) -> str:
    # An OSError's text names the file and the reason; a parse error never holds a key.
    return str(error) if isinstance(error, ApiKeyError) else type(error).__name__


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second, times from an outside clock."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def take(self, cost: float, now: float) -> float:
        """Take ``cost`` tokens and return 0.0; or, if there are fewer, take none and return
        the seconds until there will be enough."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


class RateLimiter:
    """A token bucket of events per client name; ``rate`` 0 is no limit."""

    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def charge(self, client: str, events: int) -> float:
        """Charge ``client`` for ``events``: 0.0 if it may send them now, else the seconds
        to wait (and nothing is charged)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(events, now)


def retry_after_s(wait_s: float) -> int:
    """A wait as a ``Retry-After`` value: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(wait_s))
