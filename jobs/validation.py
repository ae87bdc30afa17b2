"""Event validation as Flink SQL expressions over the raw Kafka value (runs in the JVM).

The rules, their order and the reason codes are those of :func:`trend_tracker.events.classify`
(the reference the tests compare against). The builders return SQL expression strings over
two columns: ``payload``, the raw message value (read with the ``raw`` format), and ``doc``,
its canonical form (:func:`canonical_sql`), computed once per record by the source.

Parsing once, then matching text. JSON functions dominate the cost of validation (each call
parses the value again), so the job makes one: ``doc`` is ``JSON_QUERY`` of the value with a
multi-property path, which parses it and writes back only the fields the event contract names,
compact, keys in sorted order, ``null`` kept and absent fields left out:
``{"category":"shoes","event_id":"e-1","event_type":"click","price":19.99,
"product_id":"p-1","ts":1704067200000,"user_id":"u-1"}``. It is ``NULL`` when the value is
not JSON or not an object. One anchored regular expression over ``doc``
(:func:`canonical_valid_pattern`) then recognises the common case, a valid event whose ids
need no escapes, and the ids and ``ts`` are cut out of ``doc`` by position. Anything the
expression does not accept takes the general path below, which finds the reason.

The general path reads each field's JSON type without a per-event Python function:

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

Known differences from ``classify`` (payloads no producer of ours writes): an object followed
by text that ends with ``}`` (``{} {}``, ``{}}``) passes the JSON check; bytes that are not UTF-8 are decoded
with replacement characters instead of being rejected; on the general path,
``event_id``/``user_id`` lengths are counted in UTF-16 units, so a 128-character id made of
emoji that also needs escapes counts as longer.
"""

from __future__ import annotations

from trend_tracker.events import MAX_OPAQUE_ID_LEN, MAX_TS_MS, REQUIRED_FIELDS, Reason
from trend_tracker.settings import EVENT_TYPES, ID_RE

STRING_FIELDS: tuple[str, ...] = ("event_id", "event_type", "product_id", "category", "user_id")

#: An id of the contract's alphabet (product_id, category), unanchored.
_ID = ID_RE.pattern
#: An id as it appears inside the JSON_QUERY wrapper: ``["p-1"]`` (no escapes are possible
#: for these characters, so the wrapper text is the id itself).
_WRAPPED_ID = r'^\["' + _ID + r'"\]\z'
#: A non-negative JSON integer of at most 15 digits (MAX_TS_MS has 15).
_WRAPPED_TS = r"^\[([0-9]{1,15})\]\z"
#: Any JSON number as Flink re-serialises it (``1``, ``-2.5``, ``1E+3``).
_WRAPPED_NUMBER = r"^\[-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\]\z"
#: The value ends with the object's closing brace (Flink's parser ignores trailing text).
_ENDS_OBJECT = r"\}[ \t\n\r]*\z"

#: The fields ``doc`` keeps, in the (sorted) order JSON_QUERY writes them.
CANONICAL_FIELDS: tuple[str, ...] = tuple(sorted((*REQUIRED_FIELDS, "price")))
#: Pieces of the canonical-form pattern besides ids: an opaque id without escapes
#: (1..128 characters), a plain decimal price (always a finite double).
_PLAIN_TEXT = r'[^"\\]{1,' + str(MAX_OPAQUE_ID_LEN) + "}"
_PLAIN_PRICE = r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?"


def sql_string(text: str) -> str:
    """A SQL string literal (Flink SQL has no backslash escapes, only doubled quotes)."""
    return "'" + text.replace("'", "''") + "'"


def canonical_sql(payload: str = "payload") -> str:
    """``doc``: the contract's fields of the value, compact with sorted keys (see above)."""
    properties = ",".join(sql_string(field) for field in CANONICAL_FIELDS)
    return f"JSON_QUERY({payload}, {sql_string('$[' + properties + ']')})"


def computed_once(expression: str) -> str:
    """``expression``, marked so that the planner computes it once per record.

    Flink's code generation does not share repeated subexpressions, and the planner inlines
    a deterministic column into each of its uses downstream (``doc`` has a dozen), which
    would parse the value a dozen times. The planner never copies a non-deterministic
    expression into several uses, so a ``RAND() < 1`` test (always true: ``RAND()`` is in
    ``[0, 1)``; the planner cannot fold it away, and it costs a few nanoseconds) keeps the
    column a column.
    """
    return f"CASE WHEN RAND() < 1 THEN {expression} END"


def canonical_valid_pattern(event_type: str) -> str:
    """The regular expression of ``doc`` for a valid ``event_type`` event without escapes.

    Field order is the canonical (sorted) one; ``price`` is optional. Group 1 is ``ts``. A
    ``doc`` that matches is valid up to the ``ts`` range and the future skew, which are
    checked on the number.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    parts = {
        "category": f'"{_ID}"', "event_id": f'"{_PLAIN_TEXT}"', "event_type": f'"{event_type}"',
        "price": _PLAIN_PRICE, "product_id": f'"{_ID}"', "ts": "([0-9]{1,15})",
        "user_id": f'"{_PLAIN_TEXT}"',
    }
    fields = [f'"{name}":{parts[name]},' if name != "price" else f'(?:"price":{parts[name]},)?'
              for name in CANONICAL_FIELDS]
    return "^\\{" + "".join(fields)[:-1] + "\\}\\z"


def fast_ts_sql(topic_event_type: str, doc: str = "doc") -> str:
    """``fast_ts``: ``ts`` of a ``doc`` in the canonical valid form, else NULL (one match)."""
    pattern = sql_string(canonical_valid_pattern(topic_event_type))
    return f"TRY_CAST(REGEXP_EXTRACT({doc}, {pattern}, 1) AS BIGINT)"


def category_sql(doc: str = "doc") -> str:
    """The category of a valid event: ``doc`` starts with ``{"category":"<id>"``."""
    return f"SPLIT_INDEX({doc}, '\"', 3)"


def product_id_sql(doc: str = "doc") -> str:
    """The product_id of a valid event: from after ``"product_id":"`` to the next quote.

    Valid ids contain no quote, and in ``doc`` the marker cannot occur inside another
    string value (quotes in strings are escaped).
    """
    marker = '"product_id":"'
    return (f"SPLIT_INDEX(SUBSTRING({doc} FROM POSITION({sql_string(marker)} IN {doc}) + "
            f"{len(marker)}), '\"', 0)")


def future_time_sql(timestamp: str, max_future_skew_s: int) -> str:
    """TRUE when ``timestamp`` is more than the skew ahead of processing time (per record)."""
    return (f"{timestamp} > "
            f"TIMESTAMPADD(SECOND, {int(max_future_skew_s)}, CURRENT_ROW_TIMESTAMP())")


def future_sql(ts_ms: str, max_future_skew_s: int) -> str:
    """TRUE when epoch milliseconds ``ts_ms`` are more than the skew ahead (per record)."""
    return future_time_sql(f"TO_TIMESTAMP_LTZ({ts_ms}, 3)", max_future_skew_s)


def event_time_sql(payload: str = "payload") -> str:
    """The rowtime: ``ts`` read as an integer and clamped to ``0..MAX_TS_MS``, else epoch 0.

    A computed column of the source, so it can only refer to physical columns. Flink's code
    generation does not share repeated subexpressions, and the rowtime expression is
    evaluated twice (for the column and inside the source's watermark generator), so the
    value is read with one ``JSON_VALUE`` and clamped without naming it twice. Only valid
    events reach a window, and for them this is exactly ``ts``; what it gives an invalid
    event only matters for the watermark (see :func:`watermark_sql`).
    """
    value = f"IFNULL(TRY_CAST(JSON_VALUE({payload}, '$.ts') AS BIGINT), 0)"
    return f"TO_TIMESTAMP_LTZ(GREATEST(LEAST({value}, {MAX_TS_MS}), 0), 3)"


def watermark_sql(max_future_skew_s: int, allowed_lateness: str, rowtime: str = "et") -> str:
    """The source's watermark: the rowtime minus the allowed lateness, where a rowtime more
    than the skew ahead of processing time counts as epoch 0, so a future ``ts`` never
    moves the watermark (the watermark is the maximum over the records)."""
    return (f"CASE WHEN {future_time_sql(rowtime, max_future_skew_s)} "
            f"THEN TO_TIMESTAMP_LTZ(0, 3) ELSE {rowtime} END - {allowed_lateness}")


def wrapped(field: str, payload: str = "payload") -> str:
    """The field's JSON value inside an array wrapper; NULL when absent or null."""
    return f"JSON_QUERY({payload}, '$.{field}' WITH ARRAY WRAPPER)"


def _wrapped_ts_millis(payload: str) -> str:
    digits = f"REGEXP_EXTRACT({wrapped('ts', payload)}, {sql_string(_WRAPPED_TS)}, 1)"
    value = f"TRY_CAST({digits} AS BIGINT)"
    return f"CASE WHEN {value} <= {MAX_TS_MS} THEN {value} END"


def _opaque_id_ok(field: str, payload: str) -> str:
    """1..128 characters; read the length off the wrapper unless escapes make it differ."""
    w = wrapped(field, payload)
    length = (f"CASE WHEN POSITION('\\' IN {w}) = 0 THEN CHAR_LENGTH({w}) - 4 "
              f"ELSE CHAR_LENGTH(JSON_VALUE({payload}, '$.{field}')) END")
    return f"({length}) BETWEEN 1 AND {MAX_OPAQUE_ID_LEN}"


def _wrapped_text(text: str) -> str:
    return '["' + text + '"]'


def _general_reason_sql(topic_event_type: str, max_future_skew_s: int, payload: str) -> str:
    """The reason of any value, field by field (the slow path: one parse per field)."""
    w = {field: wrapped(field, payload) for field in (*REQUIRED_FIELDS, "price")}
    ts_ms = _wrapped_ts_millis(payload)
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
    cases = "\n    ".join(f"WHEN {cond} THEN {sql_string(reason.value)}"
                          for cond, reason in branches)
    return f"CASE\n    {cases}\n    ELSE CAST(NULL AS STRING)\n  END"


def reason_sql(topic_event_type: str, max_future_skew_s: int, payload: str = "payload",
               fast_ts: str = "fast_ts") -> str:
    """The dead-letter reason of a raw value read from ``topic_event_type``'s topic, or NULL.

    Refers to ``payload`` and ``fast_ts`` (:func:`fast_ts_sql`). A value in the canonical
    valid form (which must end with ``}`` itself: ``doc`` does not show text after the
    object) can only be ``future_ts``; any other takes the general path, evaluated only for
    those rows. Lateness is not decided here (it depends on the watermark); see
    :func:`late_sql`.
    """
    if topic_event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {topic_event_type!r}")
    canonical = (f"{fast_ts} <= {MAX_TS_MS} "
                 f"AND SUBSTRING({payload} FROM CHAR_LENGTH({payload})) = '}}'")
    general = _general_reason_sql(topic_event_type, max_future_skew_s, payload)
    return (f"CASE WHEN {canonical}\n"
            f"  THEN CASE WHEN {future_sql(fast_ts, max_future_skew_s)} "
            f"THEN {sql_string(Reason.FUTURE_TS.value)} ELSE CAST(NULL AS STRING) END\n"
            f"  ELSE {general}\nEND")


def late_sql(rowtime: str = "et") -> str:
    """TRUE when the row is behind the watermark on arrival (NULL before the first one)."""
    return f"{rowtime} < CURRENT_WATERMARK({rowtime})"
