"""The audio codec behind YuE, behind a small interface: 16 kHz mono in, X-Codec codes out.

:class:`XcodecCodec` loads an X-Codec checkpoint in transformers' format (``XcodecModel``, e.g.
``hf-audio/xcodec-hubert-general``). YuE itself ships its codec as ``xcodec_mini_infer``, a
checkpoint of the original X-Codec code that transformers does not load as it is; a converted
copy of it, or any other codec with this interface, can stand in.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from curvebench.adapters.base import hash_state
from curvebench.errors import ConfigError

SAMPLE_RATE = 16000
FRAME_RATE = 50
DEFAULT_CODEC = "hf-audio/xcodec-hubert-general"


class Codec(Protocol):
    """What the YuE adapter needs of a codec."""

    sampling_rate: int
    """Input rate in Hz (16,000 for X-Codec)."""
    frame_rate: float
    """Frames per second (50 for X-Codec)."""
    num_codebooks: int
    """Codebooks :meth:`encode` returns."""

    def encode(self, wave: np.ndarray) -> np.ndarray:
        """int64 codes [num_codebooks, frames] of a mono waveform at ``sampling_rate``."""

    def fingerprint(self) -> bytes:
        """Bytes that change whenever the codes could."""


class XcodecCodec:
    """transformers' ``XcodecModel`` at its highest bandwidth (8 codebooks for X-Codec)."""

    def __init__(self, path: str = DEFAULT_CODEC, revision: str | None = None) -> None:
        from transformers import XcodecModel

        try:
            self.model = XcodecModel.from_pretrained(path, revision=revision).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"codec {path!r}: not an X-Codec model folder or reachable hub id in "
                f"transformers' format ({exc})"
            ) from exc
        config = self.model.config
        self.sampling_rate = int(config.sample_rate)
        self.frame_rate = float(config.frame_rate)
        self.bandwidth = float(config.target_bandwidths[-1])
        self.num_codebooks = int(config.num_quantizers)
        self.path = path

    @torch.no_grad()
    def encode(self, wave: np.ndarray) -> np.ndarray:
        param = next(self.model.parameters())
        values = torch.as_tensor(np.asarray(wave), dtype=param.dtype, device=param.device)
        codes = self.model.encode(values[None, None], bandwidth=self.bandwidth).audio_codes
        return codes[0].cpu().numpy().astype(np.int64)

    def to(self, device: str) -> None:
        """Run on ``device``."""
        self.model.to(device)

    def fingerprint(self) -> bytes:
        return hash_state(self.model).encode()
