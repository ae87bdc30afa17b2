"""`trend demo`: the whole system on the embedded local stack."""

from __future__ import annotations


def demo() -> None:
    """Start the local stack, the simulator, the job and the API; Ctrl-C stops it all."""
    raise NotImplementedError
