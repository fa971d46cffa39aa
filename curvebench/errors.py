"""The exceptions a user can cause; each message names the input and says what to do."""

from __future__ import annotations


class CurvebenchError(Exception):
    """Base class of every error curvebench raises on purpose."""


class ConfigError(CurvebenchError):
    """A bad task file, model spec, perturbation spec or option."""


class DataError(CurvebenchError):
    """A file or dataset that cannot be read as music."""


class SkipItem(CurvebenchError):
    """One item cannot be used (too short, no notes, ...); the run records why and goes on."""
