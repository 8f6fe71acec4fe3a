"""One error hierarchy for the whole package.

Every error a user can cause or meet (a bad file, an unreachable source, a template that
cannot render, a channel that refuses a message) is a `DetectkitError` whose text is one
readable line that is safe to show: it names what and where, never a secret.
"""

from __future__ import annotations

from pathlib import Path


class DetectkitError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(DetectkitError, ValueError):
    """A config file is invalid. The message names the file, the field and the value."""

    def __init__(self, path: Path | str | None, message: str):
        self.path = Path(path) if path is not None else None
        self.detail = message
        super().__init__(f"{path}: {message}" if path is not None else message)


class TemplateError(DetectkitError, ValueError):
    """A query or message template cannot render (syntax, unknown variable, refused form)."""


class SourceError(DetectkitError):
    """The source could not be reached, or the query failed.

    `retryable` marks a failure that may pass on its own (refused or lost connection, a
    deadline, a server shutting down); a wrong query or wrong data is not.
    """

    def __init__(self, message: str, retryable: bool = False):
        self.retryable = retryable
        super().__init__(message)


class SourceDataError(SourceError, ValueError):
    """The query ran, but its result cannot be used as the metric's data."""


class StorageError(DetectkitError):
    """The project's stored tables could not be read or written."""


class DeliveryError(DetectkitError):
    """A message was not delivered. The text names the channel and the cause, never a secret.

    `retryable` tells a transient failure (network, timeout, 5xx, 429) from one that will
    fail again unchanged (other 4xx, a message that cannot render).
    """

    def __init__(self, message: str, retryable: bool = True):
        self.retryable = retryable
        super().__init__(message)


class AutotuneError(DetectkitError, ValueError):
    """Autotune cannot run: invalid settings or labels, or data it cannot tune on."""
