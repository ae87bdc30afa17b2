"""The embedded stack's Kafka node: its cluster id is one the storage tool accepts."""

from __future__ import annotations

import base64

from localstack.stack import kafka_cluster_id


def test_a_cluster_id_never_starts_with_a_dash():
    # 0xF8 encodes to "-" in URL-safe base64: that draw is refused, the next one is taken.
    draws = iter([b"\xf8" + bytes(15), b"\x00" * 16])
    assert kafka_cluster_id(lambda: next(draws)) == "AAAAAAAAAAAAAAAAAAAAAA"
    assert base64.urlsafe_b64encode(b"\xf8" + bytes(15)).decode().startswith("-")
