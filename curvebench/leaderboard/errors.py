"""The leaderboard's error: a submission that cannot go on the board."""

from __future__ import annotations

from curvebench.errors import CurvebenchError


class SubmissionError(CurvebenchError):
    """A submission that cannot go on the board; the one-line message says why."""
