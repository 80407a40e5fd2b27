"""Every error archgan reports to a user, in one place. The CLI prints these as one clear message (no
traceback) and exits with status 1. Problems inside a spec or training file are `SpecError`s
(archgan/spec/errors.py), which carry the file, JSON path and line of each problem."""


class ArchganError(Exception):
    """A problem with the user's input (a file, a flag, a folder), described in the message."""


class SetupError(ArchganError, ValueError):
    """The run cannot start as configured (flags, files that do not fit together); the message says what to change."""


class WeightsError(ArchganError, ValueError):
    """Weights that do not fit a network; the message lists every missing, unexpected and misshapen tensor."""


class DatasetError(ArchganError, ValueError):
    """The image folder cannot be used; the message says why and what to do."""


class MetricError(ArchganError):
    """A metric cannot be computed as asked."""


class InceptionWeightsError(MetricError):
    """FID/KID need an Inception weights file that is missing or unusable."""


class ExportError(ArchganError):
    """The model cannot be written in the requested format; the message says why."""


class TrainingError(ArchganError):
    """A run cannot go on (a loss or weight became NaN or infinite, a checkpoint cannot be written); the
    message says what was kept and what to try."""


class PluginError(ArchganError):
    """A plugin cannot be loaded (no such module, it fails on import) or clashes with a layer type that
    exists; the message names the plugin and what to do."""
