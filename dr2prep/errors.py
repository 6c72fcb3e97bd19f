"""The one exception type for problems a user can fix.

The CLI prints its message as a single line and exits with code 2; everything
else is a bug and keeps its traceback.
"""


class Dr2Error(Exception):
    """A problem with the user's input or environment; the message says what to do."""
