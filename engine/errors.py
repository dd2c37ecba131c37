"""Errors a user can act on. Entry points print them as one line and exit non-zero."""


def error_line(message: str) -> str:
    """How every entry point prints an error: one line, ``error: <message>``."""
    return f"error: {message}"


class ZooError(Exception):
    """Base class: the message alone says what is wrong and what would work."""


class ConfigError(ZooError):
    """A config value or combination that cannot work (caught before training)."""


class CheckpointError(ZooError):
    """A checkpoint that is missing, truncated, or not one of ours."""


class TrainingError(ZooError):
    """Training cannot go on (for example the loss became NaN)."""
