"""Simulator commands: `trend topics`, `trend simulate`, `trend tail`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the simulator's commands to the `trend` app."""
