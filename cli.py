"""The ``dlps`` command line: thin; it parses arguments and calls the packages.

A user's mistake (bad spec, bad file, bad size) ends with one line on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

from typing import NoReturn

import typer

app = typer.Typer(
    name="dlps",
    help="Deep learning as program synthesis: tasks, learners and their comparison.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str) -> NoReturn:
    """Report a user's mistake in one line and exit with code 2."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=2)


if __name__ == "__main__":
    app()
