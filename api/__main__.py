"""``python -m api``: the same as ``trend api``, without loading the other commands."""

import typer

from api.cli import serve
from trend_tracker.logs import configure_logging

if __name__ == "__main__":
    configure_logging()
    typer.run(serve)
