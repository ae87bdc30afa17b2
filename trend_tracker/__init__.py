"""Trend Tracker: shared settings, the event contract and the CLI."""

__version__ = "0.1.0"
