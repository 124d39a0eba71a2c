"""The project's own error types: every user-facing failure names the file or utterance."""


class EspnetPluginError(Exception):
    """Base class of all errors raised on purpose by espnet_plugin."""


class DataError(EspnetPluginError, ValueError):
    """Bad input data: unreadable/corrupt audio, missing transcripts, inconsistent Kaldi dirs."""


class ConfigError(EspnetPluginError, ValueError):
    """A configuration that cannot work (unknown name, inconsistent sizes, stale cache)."""


class JudgeUnavailable(EspnetPluginError, RuntimeError):
    """A judge model (and so the metrics that need it) cannot be loaded here (e.g. offline)."""
