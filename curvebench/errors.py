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


def first_error(exc: Exception) -> str:
    """One line saying where a pydantic ValidationError failed first and why (plus how many
    more errors there are)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors) or not errors():
        return " ".join(str(exc).split())
    err = errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    more = len(errors()) - 1
    return f"{where}: {err['msg']}" + (f" (and {more} more)" if more else "")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line of at most ``limit`` characters: its type when its message
    says nothing, its message's lines joined otherwise."""
    text = " ".join(str(exc).split())
    if not text:
        return type(exc).__name__
    if not isinstance(exc, CurvebenchError):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
