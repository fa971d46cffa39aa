"""curvebench: a benchmark harness and metric suite for music language models.

It measures a model's per-token loss on original music and on perturbed copies of it, and
reports both the absolute loss and the shape of the loss-difference curve.
"""

from __future__ import annotations

__version__ = "0.1.0"
