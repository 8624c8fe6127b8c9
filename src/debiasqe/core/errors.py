"""Errors that reach the user as one line naming the culprit.

Every stage catches :class:`DebiasqeError` at the CLI boundary and prints
``error: <message>`` without a traceback, so messages must say which file,
key or tool is at fault and what was expected.
"""


class DebiasqeError(Exception):
    """Base class: a problem with the user's input, config or environment."""


class ConfigError(DebiasqeError):
    """A config value is missing, of the wrong type or out of range."""


class BadImageError(DebiasqeError):
    """An image file cannot be read or is unusable (names the file)."""


class ToolMissingError(DebiasqeError):
    """An external program or optional library is not available."""


class IntegrityError(DebiasqeError):
    """A downloaded or cached file has the wrong size or checksum."""


class UnsafeArchiveError(DebiasqeError):
    """An archive member would land outside the extraction target."""


class WeightsUnavailableError(DebiasqeError):
    """A pretrained weight file is required but not present."""


class TrainingDivergedError(DebiasqeError):
    """A loss became NaN or infinite."""


class TrainingPreempted(DebiasqeError):
    """SIGTERM / SIGUSR1 reached a training job: it saved a checkpoint and
    exits non-zero, so that a retry resumes from that checkpoint."""
