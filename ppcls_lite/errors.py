"""User-facing error types: tools print them as one line and exit with code 2."""


class PpclsError(Exception):
    """Base class of every error caused by user input (config, data, weights)."""

    exit_code = 2


class ConfigError(PpclsError):
    """A config key, value or file is wrong; the message names the key path."""


class DataError(PpclsError):
    """A dataset, list file or image is wrong; the message names the file (and line)."""


class WeightsError(PpclsError):
    """A weights or checkpoint file cannot be used; the message names the file and key."""
