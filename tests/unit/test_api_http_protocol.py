"""The API's HTTP protocol sends what a response writes in one event-loop turn as one
write (api.http_protocol)."""

from __future__ import annotations

import asyncio

from api.http_protocol import FLUSH_AT_BYTES, BatchedWrites


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_writes_in_one_turn_reach_the_transport_as_one_write():
    async def scenario() -> list[list[bytes]]:
        transport = RecordingTransport()
        batched = BatchedWrites(transport, asyncio.get_running_loop())
        batched.write(b"HTTP/1.1 200 OK\r\n\r\n")
        batched.write(b"body")
        seen = [list(transport.writes)]
        await asyncio.sleep(0)
        seen.append(list(transport.writes))
        batched.writelines([b"a", b"b"])
        await asyncio.sleep(0)
        seen.append(list(transport.writes))
        return seen

    assert asyncio.run(scenario()) == [
        [], [b"HTTP/1.1 200 OK\r\n\r\nbody"], [b"HTTP/1.1 200 OK\r\n\r\nbody", b"ab"]]


def test_a_large_write_goes_out_at_once():
    async def scenario() -> list[int]:
        transport = RecordingTransport()
        batched = BatchedWrites(transport, asyncio.get_running_loop())
        batched.write(b"h")
        batched.write(b"x" * FLUSH_AT_BYTES)
        sizes = [len(data) for data in transport.writes]
        await asyncio.sleep(0)
        return sizes + [len(data) for data in transport.writes]

    assert asyncio.run(scenario()) == [FLUSH_AT_BYTES + 1, FLUSH_AT_BYTES + 1]


def test_close_sends_what_is_queued_first_and_other_calls_reach_the_transport():
    async def scenario() -> tuple[list[bytes], bool, str]:
        transport = RecordingTransport()
        batched = BatchedWrites(transport, asyncio.get_running_loop())
        batched.write(b"last response")
        batched.close()
        await asyncio.sleep(0)
        return transport.writes, transport.closed, batched.get_extra_info("peername")

    assert asyncio.run(scenario()) == ([b"last response"], True, "info:peername")


def test_nothing_is_written_to_a_closing_transport():
    async def scenario() -> list[bytes]:
        transport = RecordingTransport()
        batched = BatchedWrites(transport, asyncio.get_running_loop())
        batched.write(b"late")
        transport.closed = True
        await asyncio.sleep(0)
        return transport.writes

    assert asyncio.run(scenario()) == []
