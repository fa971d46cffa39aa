"""MusicGen's EnCodec step: a waveform becomes codes [K, T] (K codebooks, 50 frames per
second for the released models), read from the run's codes cache when it holds them."""

from __future__ import annotations

import numpy as np
import torch

from curvebench.adapters.base import Encoded
from curvebench.adapters.code_cache import CodeCache, cached_codes, codec_identity
from curvebench.data.audio import mono_input, resampled
from curvebench.errors import ConfigError


class EncodecCodes:
    """The codes side of the MusicGen adapter (mixed in before :class:`Adapter`): needs
    ``model`` (a ``MusicgenForConditionalGeneration``), ``path``, ``num_codebooks``,
    ``sampling_rate``, ``frame_rate`` and ``bandwidth``."""

    model: torch.nn.Module
    path: str
    num_codebooks: int
    sampling_rate: int
    frame_rate: float
    bandwidth: float
    _codec_id: str | None = None

    def _bandwidth(self) -> float:
        """The EnCodec bandwidth that gives as many codebooks as the decoder predicts."""
        quantizer = self.model.audio_encoder.quantizer
        for bandwidth in self.model.config.audio_encoder.target_bandwidths:
            if quantizer.get_num_quantizers_for_bandwidth(bandwidth) == self.num_codebooks:
                return float(bandwidth)
        raise ConfigError(
            f"{self.path}: no EnCodec bandwidth gives the decoder's {self.num_codebooks} codebooks"
        )

    def encode_audio(
        self, wave: np.ndarray, sr: int, name: str, codes: CodeCache | None = None
    ) -> Encoded:
        """EnCodec codes [K, T] of a waveform ([samples] or [samples, channels]) at ``sr`` Hz,
        read from ``codes`` (a :class:`CodeCache`) when it holds them."""
        audio = mono_input(wave, sr, name)
        duration = audio.size / int(sr)
        ids = cached_codes(codes, audio, int(sr), self.codec_id, lambda: self._encode(audio, sr))
        seconds = np.arange(ids.shape[-1], dtype=np.float64) / self.frame_rate
        return Encoded(ids=ids, seconds=seconds, duration_s=duration, first_target=0)

    def codec_id(self) -> str:
        """The identity of the EnCodec step (weights, dtype, bandwidth, rate): the codes
        cache's key, computed once."""
        if self._codec_id is None:
            self._codec_id = codec_identity(
                self.model.audio_encoder, bandwidth=self.bandwidth, sr=self.sampling_rate
            )
        return self._codec_id

    @torch.no_grad()
    def _encode(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """EnCodec codes [K, T] of mono float64 audio at ``sr`` Hz (resampled first)."""
        audio = resampled(audio, sr, self.sampling_rate)
        encoder = self.model.audio_encoder
        param = next(encoder.parameters())
        values = torch.as_tensor(audio, dtype=param.dtype, device=param.device)[None, None]
        out = encoder.encode(values, torch.ones_like(values, dtype=torch.long), self.bandwidth)
        codes = out.audio_codes
        if codes.shape[0] != 1:
            raise ConfigError(f"{self.path}: chunked EnCodec models are not supported")
        return codes[0, 0].cpu().numpy().astype(np.int64)
