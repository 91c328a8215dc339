"""Errors the toolkit raises on purpose.

Every :class:`ToolkitError` carries a one-line message that says what is wrong and what to do,
and the process exit code the CLI uses for it (documented in README.md, "Exit codes").
Messages never contain RPC URLs with secrets: code that builds a message from a URL must pass it
through :func:`toolkit.redact.redact_url` first.
"""

from __future__ import annotations


class ToolkitError(Exception):
    """Base class: an expected failure with a one-line, user-facing message."""

    #: Exit code of the ``liqtk`` process when this error ends a command.
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class UserInputError(ToolkitError):
    """Invalid input given by the user (CLI value, unknown chain or protocol, malformed file)."""

    exit_code = 2


class StoreError(ToolkitError):
    """The store cannot be opened, is locked, or is not a liquidation-toolkit store."""

    exit_code = 1


class StoreLockedError(StoreError):
    """Another process holds the store's write lock."""

    exit_code = 5
