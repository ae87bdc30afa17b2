"""Event validation as Flink SQL expressions over the raw Kafka value (runs in the JVM).

The rules, their order and the reason codes are those of :func:`trend_tracker.events.classify`
(the reference the tests compare against). Each builder returns a SQL expression string over
the ``payload`` column (the raw message value, read with the ``raw`` format).

How the JSON types are told apart without a per-event Python function:

- ``payload IS JSON OBJECT`` rejects non-JSON, non-objects and ``NaN``. Flink's parser stops
  after the first value, so ``{"a": 1} junk`` would pass; the value must also end with ``}``
  (plus JSON whitespace).
- ``JSON_QUERY(payload, '$.f' WITH ARRAY WRAPPER)`` returns the field re-serialised inside
  ``[...]``: ``NULL`` when the field is absent or JSON ``null``, ``["text"]`` for a string,
  ``[123]`` for an integer, ``[1.0]`` / ``[1E+3]`` for other numbers, ``[true]``, ``[{...}]``.
  ``JSON_VALUE`` cannot be used for types: it returns ``1704067200000`` for both a number and
  the string ``"1704067200000"``.
- Patterns are anchored with ``^`` and ``\\z``: Java's ``$`` also matches before a trailing
  newline.

Known differences from ``classify`` (payloads no producer of ours writes): a value that is
several JSON documents (``{} {}``) passes the JSON check; bytes that are not UTF-8 are decoded
with replacement characters instead of being rejected; ``event_id``/``user_id`` lengths are
counted in UTF-16 units, so a 128-character id made of emoji counts as longer.
"""

from __future__ import annotations

from trend_tracker.events import MAX_OPAQUE_ID_LEN, MAX_TS_MS, REQUIRED_FIELDS, Reason
from trend_tracker.settings import EVENT_TYPES

STRING_FIELDS: tuple[str, ...] = ("event_id", "event_type", "product_id", "category", "user_id")

#: An id as it appears inside the JSON_QUERY wrapper: ``["p-1"]`` (no escapes are possible
#: for these characters, so the wrapper text is the id itself).
_WRAPPED_ID = r'^\["[A-Za-z0-9._:-]{1,64}"\]\z'
#: A non-negative JSON integer of at most 15 digits (MAX_TS_MS has 15).
_WRAPPED_TS = r"^\[([0-9]{1,15})\]\z"
#: Any JSON number as Flink re-serialises it (``1``, ``-2.5``, ``1E+3``).
_WRAPPED_NUMBER = r"^\[-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\]\z"
#: The value ends with the object's closing brace (Flink's parser ignores trailing text).
_ENDS_OBJECT = r"\}[ \t\n\r]*\z"


def sql_string(text: str) -> str:
    """A SQL string literal (Flink SQL has no backslash escapes, only doubled quotes)."""
    return "'" + text.replace("'", "''") + "'"


def wrapped(field: str, payload: str = "payload") -> str:
    """The field's JSON value inside an array wrapper; NULL when absent or null."""
    return f"JSON_QUERY({payload}, '$.{field}' WITH ARRAY WRAPPER)"


#: The columns the validation reads: ``w_<field>`` holds :func:`wrapped` of the field.
WRAPPED_FIELDS: tuple[str, ...] = (*REQUIRED_FIELDS, "price")


def wrapped_column(field: str) -> str:
    return f"w_{field}"


def wrapped_columns_sql(payload: str = "payload") -> str:
    """Select-list items ``JSON_QUERY(...) AS w_<field>`` for every field validation reads."""
    return ",\n  ".join(f"{wrapped(f, payload)} AS {wrapped_column(f)}" for f in WRAPPED_FIELDS)


def ts_millis_sql(wrapped_ts: str) -> str:
    """``ts`` as BIGINT when it is a JSON integer in ``0..MAX_TS_MS``, else NULL.

    ``wrapped_ts`` is the wrapper text of ``ts`` (a column or a :func:`wrapped` call).
    """
    digits = f"REGEXP_EXTRACT({wrapped_ts}, {sql_string(_WRAPPED_TS)}, 1)"
    value = f"TRY_CAST({digits} AS BIGINT)"
    return f"CASE WHEN {value} <= {MAX_TS_MS} THEN {value} END"


def future_sql(ts_ms: str, max_future_skew_s: int) -> str:
    """TRUE when ``ts_ms`` is more than the skew ahead of processing time (per record)."""
    return (f"TO_TIMESTAMP_LTZ({ts_ms}, 3) > "
            f"TIMESTAMPADD(SECOND, {int(max_future_skew_s)}, CURRENT_ROW_TIMESTAMP())")


def event_time_sql(max_future_skew_s: int, payload: str = "payload") -> str:
    """The rowtime: ``ts`` when it is a plausible event time, else epoch 0.

    Epoch 0 never moves the watermark forward (the watermark is a maximum), so a
    future or malformed timestamp cannot make the following events late. Those rows
    never reach a window: validation routes them to the dead-letter topic. Being a
    computed column of the source table, it can only refer to physical columns.
    """
    # A 15-digit ts beyond MAX_TS_MS is always in the future, so no range check is needed.
    ts_ms = f"TRY_CAST(REGEXP_EXTRACT({wrapped('ts', payload)}, {sql_string(_WRAPPED_TS)}, 1) AS BIGINT)"
    return (f"CASE WHEN NOT ({future_sql(ts_ms, max_future_skew_s)}) "
            f"THEN TO_TIMESTAMP_LTZ({ts_ms}, 3) ELSE TO_TIMESTAMP_LTZ(0, 3) END")


def _opaque_id_ok(field: str, payload: str) -> str:
    """1..128 characters; read the length off the wrapper unless escapes make it differ."""
    w = wrapped_column(field)
    length = (f"CASE WHEN POSITION('\\' IN {w}) = 0 THEN CHAR_LENGTH({w}) - 4 "
              f"ELSE CHAR_LENGTH(JSON_VALUE({payload}, '$.{field}')) END")
    return f"({length}) BETWEEN 1 AND {MAX_OPAQUE_ID_LEN}"


def _wrapped_text(text: str) -> str:
    return '["' + text + '"]'


def reason_sql(topic_event_type: str, max_future_skew_s: int, payload: str = "payload",
               ts_ms: str = "ts_ms") -> str:
    """The dead-letter reason of a raw value read from ``topic_event_type``'s topic, or NULL.

    Refers to ``payload``, the :func:`wrapped_columns_sql` columns and ``ts_ms``
    (:func:`ts_millis_sql` of ``w_ts``). Lateness is not decided here (it depends on the
    watermark); see :func:`late_sql`.
    """
    if topic_event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {topic_event_type!r}")
    w = {field: wrapped_column(field) for field in WRAPPED_FIELDS}
    known_types = ", ".join(sql_string(_wrapped_text(t)) for t in EVENT_TYPES)
    expected_type = sql_string(_wrapped_text(topic_event_type))
    price_number = (f"REGEXP({w['price']}, {sql_string(_WRAPPED_NUMBER)}) AND ABS(TRY_CAST("
                    f"SUBSTRING({w['price']} FROM 2 FOR CHAR_LENGTH({w['price']}) - 2) AS DOUBLE))"
                    f" <= 1.7976931348623157E308")
    branches = [
        ((f"{payload} IS NULL OR NOT ({payload} IS JSON OBJECT) "
          f"OR NOT REGEXP({payload}, {sql_string(_ENDS_OBJECT)})"), Reason.NOT_JSON),
        (" OR ".join(f"{w[f]} IS NULL" for f in REQUIRED_FIELDS), Reason.MISSING_FIELD),
        (" OR ".join(f"{w[f]} NOT LIKE '[\"%'" for f in STRING_FIELDS), Reason.WRONG_TYPE),
        (f"{ts_ms} IS NULL", Reason.WRONG_TYPE),
        (f"{w['price']} IS NOT NULL AND NOT ({price_number})", Reason.WRONG_TYPE),
        ((f"NOT REGEXP({w['product_id']}, {sql_string(_WRAPPED_ID)}) "
          f"OR NOT REGEXP({w['category']}, {sql_string(_WRAPPED_ID)})"), Reason.BAD_ID),
        (f"NOT ({_opaque_id_ok('event_id', payload)} AND {_opaque_id_ok('user_id', payload)})",
         Reason.BAD_ID),
        (f"{w['event_type']} NOT IN ({known_types})", Reason.UNKNOWN_EVENT_TYPE),
        (f"{w['event_type']} <> {expected_type}", Reason.TOPIC_MISMATCH),
        (future_sql(ts_ms, max_future_skew_s), Reason.FUTURE_TS),
    ]
    cases = "\n  ".join(f"WHEN {cond} THEN {sql_string(reason.value)}"
                        for cond, reason in branches)
    return f"CASE\n  {cases}\n  ELSE CAST(NULL AS STRING)\nEND"


def late_sql(rowtime: str = "et") -> str:
    """TRUE when the row is behind the watermark on arrival (NULL before the first one)."""
    return f"{rowtime} < CURRENT_WATERMARK({rowtime})"


def unwrap_id_sql(field: str) -> str:
    """The value of an id field that passed validation, cut out of its wrapper ``["..."]``."""
    w = wrapped_column(field)
    return f"SUBSTRING({w} FROM 3 FOR CHAR_LENGTH({w}) - 4)"
