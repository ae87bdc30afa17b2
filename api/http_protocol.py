"""uvicorn's httptools protocol, sending what a response writes in one event-loop turn as
one write.

uvicorn writes a response's status line and headers, then its body, each straight to the
socket: two system calls and two TCP segments per response. On the loopback interface
the sender also pays for the receiver's TCP processing, and on ``/trending`` those two
writes cost about a third of the server's CPU per request (docs/API.md, Speed). Here a
connection's writes are joined and handed to the transport once, at the end of the
event-loop turn in which they were made, or at once when they grow large.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Pending bytes that are written at once rather than at the end of the turn, so a body
#: sent in many chunks within one turn never piles up unbounded.
FLUSH_AT_BYTES = 64 * 1024


class BatchedWrites:
    """A transport whose writes within one event-loop turn reach the socket as one write.

    Everything but writing and closing is the wrapped transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, data: bytes) -> None:
        """Queue ``data``; it is written at the end of this turn of the event loop."""
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= FLUSH_AT_BYTES:
            self.flush()

    def writelines(self, lines: Any) -> None:
        """Queue each of ``lines``, like :meth:`write`."""
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Write what is queued, if anything, unless the transport is closing."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Write what is queued, then close the transport (which sends what it buffers)."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BatchedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over :class:`BatchedWrites`.

    Passed to ``uvicorn.run(http=...)``, uvicorn's documented way to choose the protocol.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(BatchedWrites(transport, self.loop))  # type: ignore[arg-type]
