"""The one error type users see: a bad config, a missing file, an unknown name, bad input data.

The CLI turns a `UserError` into a one-line message on stderr and exit code 2; anything else is an
internal error (exit code 1). Messages name the file, line, key or value at fault.
"""


class UserError(Exception):
    """A mistake in what the user gave us; the message is one line and names what is at fault."""
