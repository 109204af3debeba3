"""The one exception type a user's mistake raises: its message says what to fix."""


class PapersError(Exception):
    """An error the CLI and UI show as a plain message, without a traceback."""
