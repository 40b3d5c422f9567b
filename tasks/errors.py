"""The one error type of bad user input: the lowest module of :mod:`tasks`, so that the spec
grammar (:mod:`tasks.spec`) and the data contract (:mod:`tasks.base`) can both raise it without
importing each other."""


class SpecError(ValueError):
    """A task or method spec (or one of its values) is not valid; the message names the bad value
    and what is accepted, in one line fit to show a user."""
