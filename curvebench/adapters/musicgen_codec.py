"""MusicGen's EnCodec step: a waveform becomes codes [K, T] (K codebooks, 50 frames per
second for the released models), read from the run's codes cache when it holds them."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import numpy as np
import torch

from curvebench.adapters.base import Encoded
from curvebench.adapters.code_cache import (
    CODEC_BATCH,
    CodeCache,
    by_length,
    cached_codes,
    cached_codes_many,
    codec_identity,
)
from curvebench.adapters.encodec_splice import StackSplice, changed_stretch
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
    _stack_splice: StackSplice | None = None

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
        self,
        wave: np.ndarray,
        sr: int,
        name: str,
        codes: CodeCache | None = None,
        like: np.ndarray | None = None,
    ) -> Encoded:
        """EnCodec codes [K, T] of a waveform ([samples] or [samples, channels]) at ``sr`` Hz,
        read from ``codes`` (a :class:`CodeCache`) when it holds them. ``like``: the original
        a perturbed copy was made from; the encoder then runs only where they differ
        (:mod:`~curvebench.adapters.encodec_splice`), with the same codes."""
        audio = mono_input(wave, sr, name)

        def encode() -> np.ndarray:
            source = mono_input(like, sr, f"{name} (its original)") if like is not None else None
            return self._encode(audio, sr, source)

        ids = cached_codes(codes, audio, int(sr), self.codec_id, encode)
        return self._encoded(audio, sr, ids)

    def encode_audio_many(
        self, waves: list[np.ndarray], sr: int, names: list[str], codes: CodeCache | None = None
    ) -> list[Encoded]:
        """:meth:`encode_audio` of several waveforms, the codec run on batches of waveforms of
        one length (``CODEC_BATCH``) on its device; the codes equal one-at-a-time encoding."""
        audios = [mono_input(w, sr, n) for w, n in zip(waves, names, strict=True)]

        def encode_many(items: list[np.ndarray]) -> list[np.ndarray]:
            resampled_items = [resampled(a, sr, self.sampling_rate) for a in items]
            return by_length(resampled_items, CODEC_BATCH, self._encode_batch)

        ids = cached_codes_many(codes, audios, int(sr), self.codec_id, encode_many)
        return [self._encoded(a, sr, i) for a, i in zip(audios, ids, strict=True)]

    def _encoded(self, audio: np.ndarray, sr: int, ids: np.ndarray) -> Encoded:
        seconds = np.arange(ids.shape[-1], dtype=np.float64) / self.frame_rate
        return Encoded(ids=ids, seconds=seconds, duration_s=audio.size / int(sr), first_target=0)

    def codec_to(self, device: str) -> None:
        """Run the codec on ``device`` (its codes cache key names the device type: codes made
        on another kind of device can differ in near-ties)."""
        self.model.audio_encoder.to(device)
        self._codec_id = self._stack_splice = None

    def codec_id(self) -> str:
        """The identity of the EnCodec step (weights, dtype, bandwidth, rate): the codes
        cache's key, computed once."""
        if self._codec_id is None:
            encoder = self.model.audio_encoder
            device = next(encoder.parameters()).device.type
            settings = {"bandwidth": self.bandwidth, "sr": self.sampling_rate}
            if device != "cpu":  # CPU keys stay what they were
                settings["device"] = device
            self._codec_id = codec_identity(encoder, **settings)
        return self._codec_id

    def _encode(self, audio: np.ndarray, sr: int, like: np.ndarray | None = None) -> np.ndarray:
        """EnCodec codes [K, T] of mono float64 audio at ``sr`` Hz (resampled first); with
        ``like`` (the mono original of a perturbed copy), from the original's stack output
        and a window around where they differ, when that gives the same codes."""
        param = next(self.model.audio_encoder.parameters())

        def values_of(wave: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(
                resampled(wave, sr, self.sampling_rate), dtype=param.dtype, device=param.device
            )[None]

        values = values_of(audio)
        with torch.no_grad():
            splice = self._splice()
            if splice is None:
                return self._encode_alone(values)
            if like is not None:
                original = values_of(like)
                stretch = changed_stretch(values.cpu().numpy(), original.cpu().numpy())
                if stretch is not None:
                    hidden = splice.copy_stack(
                        values[None], original[None], _key(original), stretch
                    )
                    if hidden is not None:
                        return self._codes_of(splice.head(hidden))
            hidden = splice.stack(values[None])
            if like is None:  # an original: its copies may follow
                splice.remember(_key(values), hidden)
            return self._codes_of(splice.head(hidden))

    def _splice(self) -> StackSplice | None:
        """The encoder's :class:`StackSplice` where its codes are exactly
        ``EncodecModel.encode``'s (whole clips, no normalisation, float32 on the CPU)."""
        encoder = self.model.audio_encoder
        if not _whole_float32(encoder) or next(encoder.parameters()).device.type != "cpu":
            return None
        splice = self._stack_splice
        if splice is None or splice.encoder is not encoder.encoder:
            splice = self._stack_splice = StackSplice(encoder.encoder)
        return splice if splice.usable else None

    def _codes_of(self, embeddings: torch.Tensor) -> np.ndarray:
        """Codes [K, T] of one clip's encoder output [1, D, T], as ``EncodecModel.encode``
        quantises it."""
        codes = self.model.audio_encoder.quantizer.encode(embeddings, self.bandwidth)
        return codes[:, 0].cpu().numpy().astype(np.int64)

    @torch.no_grad()
    def _encode_batch(self, audio: np.ndarray) -> list[np.ndarray]:
        """EnCodec codes [K, T] of each row of [B, samples] audio at the codec's rate, equal to
        encoding each row alone: a batch moves the encoder's output in the last float digits,
        which can flip a code whose two nearest entries are all but tied, so a row with any
        such near-tie (:data:`NEAR_TIE`) is encoded again alone."""
        encoder = self.model.audio_encoder
        param = next(encoder.parameters())
        values = torch.as_tensor(audio, dtype=param.dtype, device=param.device)[:, None]
        if len(audio) == 1 or not _whole_float32(encoder):
            return [self._encode_alone(row) for row in values]
        with full_float32():
            embeddings = encoder.encoder(values)
            codes = encoder.quantizer.encode(embeddings, self.bandwidth).transpose(0, 1)
            safe = near_tie_margin(encoder.quantizer, embeddings, codes.shape[1]) >= NEAR_TIE
        return [
            codes[i].cpu().numpy().astype(np.int64) if safe[i] else self._encode_alone(row)
            for i, row in enumerate(values)
        ]

    def _encode_alone(self, values: torch.Tensor) -> np.ndarray:
        """EnCodec codes [K, T] of one [1, samples] row through ``EncodecModel.encode``."""
        encoder = self.model.audio_encoder
        with full_float32():
            out = encoder.encode(
                values[None], torch.ones_like(values[None], dtype=torch.long), self.bandwidth
            )
        codes = out.audio_codes
        if codes.shape[0] != 1:
            raise ConfigError(f"{self.path}: chunked EnCodec models are not supported")
        return codes[0, 0].cpu().numpy().astype(np.int64)


def _whole_float32(encoder: torch.nn.Module) -> bool:
    """Whether an EnCodec encodes whole clips, unnormalised, in float32: where its codes can be
    computed another way (in batches with the near-tie bound, which assumes float32 sums, or
    spliced from an original's) and still equal ``EncodecModel.encode``'s."""
    config = encoder.config
    return (
        config.chunk_length is None
        and not config.normalize
        and next(encoder.parameters()).dtype == torch.float32
    )


def _key(values: torch.Tensor) -> bytes:
    """The key a clip's stack output is kept under: a digest of its samples and the threads
    torch computes with (sums over other threads differ in the last bits)."""
    digest = hashlib.blake2b(values.cpu().numpy().tobytes(), digest_size=16)
    digest.update(str(torch.get_num_threads()).encode())
    return digest.digest()


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """CUDA matmuls and convolutions in full float32 (no TF32, whose rounding is a thousand
    times coarser) for the block: codes must not hang on the GPU's choice of kernel."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


NEAR_TIE = 1e-5
"""Smallest gap, relative to the distances' scale, between a frame's nearest and second
nearest codebook entry at every residual stage for a batched row's codes to be kept: a batch
moves the encoder's output by about 1e-7 of its size, a hundred times less."""


def near_tie_margin(
    quantizer: torch.nn.Module, embeddings: torch.Tensor, stages: int
) -> torch.Tensor:
    """For each row of ``embeddings`` [B, D, T], the smallest relative gap over its frames
    and the first ``stages`` residual stages between the nearest and the second nearest
    entry (the quantiser's own squared distances)."""
    residual = embeddings
    worst = torch.full((embeddings.shape[0],), torch.inf, device=embeddings.device)
    for layer in quantizer.layers[:stages]:
        x = residual.permute(0, 2, 1).float()
        embed = layer.codebook.embed.float()
        norms = x.pow(2).sum(-1, keepdim=True)
        dist = norms - 2 * x @ embed.t() + embed.pow(2).sum(-1)
        two = dist.topk(2, dim=-1, largest=False).values
        scale = norms[..., 0] + two[..., 1].abs() + 1e-12
        worst = torch.minimum(worst, ((two[..., 1] - two[..., 0]) / scale).amin(-1))
        residual = residual - layer.decode(layer.encode(residual))
    return worst
