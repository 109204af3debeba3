"""The exception types a user's mistake raises: their message says what to fix.

The subclasses say what kind of mistake it is, so the HTTP service can answer with the right status."""


class PapersError(Exception):
    """An error the CLI and UI show as a plain message, without a traceback."""


class NotFound(PapersError):
    """A paper named by id or title that the library does not hold."""


class TooLarge(PapersError):
    """A question, query or upload over its configured limit."""


class Unavailable(PapersError):
    """A server the library or the model lives on that cannot be reached or does not answer."""
