"""``python -m api``: the same as ``trend api``, without loading the other commands."""

import typer

from api.cli import serve

if __name__ == "__main__":
    typer.run(serve)
