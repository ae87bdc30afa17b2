"""`trend api`: serve the trending API."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the API's commands to the `trend` app."""
