"""Mistakes on the command line itself (an unknown option, a value given to a flag, a word too many),
said as every other mistake of the ``dlps`` command line is: one line on stderr, exit code 2."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

#: typer carries its own copy of click: its usage errors are this class, not ``click.UsageError``.
UsageError: type[Exception] = typer.BadParameter.__mro__[1]


class OneLineErrors(TyperGroup):
    """The ``dlps`` group: click's usage errors become ``Error: ...`` in one line (click draws a box
    of usage text around them), with a hint where a flag was given a value (``--posterior true``)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            typer.echo(f"Error: {usage_message(exc)}", err=True)
            raise typer.Exit(code=2) from None


def usage_message(exc: Any) -> str:
    """The one-line message of a usage error, naming the command it concerns."""
    message = exc.format_message().replace("\n", " ")
    where = f"dlps {exc.ctx.info_name}: " if exc.ctx is not None and exc.ctx.parent is not None else ""
    if "unexpected extra argument" in message:
        message += ("; flags take no value (e.g. --posterior, not --posterior true; leave a flag out for "
                    "false), and a value with spaces needs quotes")
    return where + message
