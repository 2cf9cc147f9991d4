"""Errors that end a command with exit code 2 and a one-line message, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad usage, configuration or input. The message is shown as is; exit code 2."""

    exit_code = 2


class InputError(UserError):
    """A file the user gave us could not be read or parsed."""
