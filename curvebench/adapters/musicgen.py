"""MusicGen through ``transformers`` (EnCodec codes), scoring audio unconditionally, code by code.

Audio is resampled to the model's rate (32 kHz), encoded by the model's own EnCodec into K
codebooks × T frames (4 × 50 Hz for the released models), and scored with the null text
condition that MusicGen uses for unconditional generation.

The delay pattern: MusicGen was trained with codebook k shifted right by k steps (after one start
step), so the code of codebook k at frame t is predicted at step t + k, after the coarser codes
of frame t. The paper's own scripts fed the codes without that shift, a layout the model never
saw; curvebench applies it so that the losses are the model's real likelihood of the audio, and
undoes it on the losses so that ``loss[k, t]`` belongs to frame t of codebook k.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from scipy.signal import resample_poly
from symusic import Score

from curvebench.adapters.base import Adapter, Encoded, hash_state, torch_dtype
from curvebench.adapters.registry import AdapterInfo, register_adapter
from curvebench.data.render import render_midi
from curvebench.errors import ConfigError, DataError

DEFAULT_PATH = "facebook/musicgen-small"


def delay_codes(codes: torch.Tensor, mask: torch.Tensor, special: int) -> torch.Tensor:
    """The decoder input of codes [B, K, T]: [B, K, T + K − 1].

    Step s of codebook k holds code ``s − 1 − k`` of that codebook, or ``special`` (the start
    token) where there is none: at s ≤ k (the start), after the last code, and on frames that
    ``mask`` [B, T] marks as padding. The last code of the last codebook is predicted at step
    T + K − 2, the final input step.
    """
    batch, k_count, frames = codes.shape
    steps = frames + k_count - 1
    s = torch.arange(steps, device=codes.device)
    source = s[None, :] - 1 - torch.arange(k_count, device=codes.device)[:, None]  # [K, S]
    inside = (source >= 0) & (source < frames)
    index = source.clamp(0, max(frames - 1, 0))
    picked = codes.gather(2, index[None].expand(batch, -1, -1))
    real = inside[None] & mask.gather(1, index.reshape(1, -1).expand(batch, -1)).view(
        batch, k_count, steps
    )
    return torch.where(real, picked, torch.full_like(picked, special))


def undelay_steps(k_count: int, frames: int, device: torch.device | None = None) -> torch.Tensor:
    """[K, T]: the decoder step whose output predicts code t of codebook k, ``t + k``."""
    t = torch.arange(frames, device=device)
    return t[None, :] + torch.arange(k_count, device=device)[:, None]


class MusicGenAdapter(Adapter):
    """``MusicgenForConditionalGeneration`` scoring EnCodec codes with the null condition."""

    name = "musicgen"
    modality = "audio"
    can_generate = True

    def __init__(
        self, path: str = DEFAULT_PATH, dtype: str = "float32", revision: str | None = None
    ) -> None:
        from transformers import MusicgenForConditionalGeneration

        self.path = path
        try:
            self.model = MusicgenForConditionalGeneration.from_pretrained(
                path, revision=revision, dtype=torch_dtype(dtype)
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"model path {path!r}: not a MusicGen model folder or reachable hub id ({exc})"
            ) from exc
        self.model.eval()
        decoder = self.model.decoder.config
        if decoder.audio_channels != 1:
            raise ConfigError(f"{path}: stereo MusicGen models are not supported; use a mono one")
        codec = self.model.config.audio_encoder
        self.num_codebooks = int(decoder.num_codebooks)
        self.sampling_rate = int(codec.sampling_rate)
        self.frame_rate = float(codec.frame_rate)
        self.bandwidth = self._bandwidth()
        gen = self.model.generation_config
        start = gen.decoder_start_token_id
        self.start_id = int(start if start is not None else decoder.bos_token_id)
        pad = decoder.pad_token_id
        self._pad_id = int(pad if pad is not None else gen.pad_token_id)

    def _bandwidth(self) -> float:
        """The EnCodec bandwidth that gives as many codebooks as the decoder predicts."""
        quantizer = self.model.audio_encoder.quantizer
        for bandwidth in self.model.config.audio_encoder.target_bandwidths:
            if quantizer.get_num_quantizers_for_bandwidth(bandwidth) == self.num_codebooks:
                return float(bandwidth)
        raise ConfigError(
            f"{self.path}: no EnCodec bandwidth gives the decoder's {self.num_codebooks} codebooks"
        )

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    @property
    def context_length(self) -> int:
        """Frames per pass: the delayed input (T + K − 1 steps) must fit the positions."""
        positions = int(self.model.decoder.config.max_position_embeddings)
        return positions - (self.num_codebooks - 1) - 1

    @property
    def pad_id(self) -> int:
        return self._pad_id

    @torch.no_grad()
    def encode_audio(self, wave: np.ndarray, sr: int, name: str) -> Encoded:
        """EnCodec codes [K, T] of a waveform ([samples] or [samples, channels]) at ``sr`` Hz."""
        audio = np.asarray(wave, dtype=np.float64)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if audio.ndim != 1 or audio.size == 0:
            raise DataError(f"{name}: expected mono [samples] or [samples, channels] audio")
        if not np.all(np.isfinite(audio)):
            raise DataError(f"{name}: the audio holds NaN or infinite samples")
        if not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise ConfigError(f"{name}: sample rate {sr!r} must be a positive whole number of Hz")
        duration = audio.size / int(sr)
        if sr != self.sampling_rate:
            g = math.gcd(int(sr), self.sampling_rate)
            audio = resample_poly(audio, self.sampling_rate // g, int(sr) // g)
        encoder = self.model.audio_encoder
        param = next(encoder.parameters())
        values = torch.as_tensor(audio, dtype=param.dtype, device=param.device)[None, None]
        out = encoder.encode(values, torch.ones_like(values, dtype=torch.long), self.bandwidth)
        codes = out.audio_codes
        if codes.shape[0] != 1:
            raise ConfigError(f"{self.path}: chunked EnCodec models are not supported")
        ids = codes[0, 0].cpu().numpy().astype(np.int64)
        seconds = np.arange(ids.shape[-1], dtype=np.float64) / self.frame_rate
        return Encoded(ids=ids, seconds=seconds, duration_s=duration, first_target=0)

    def encode_score(self, score: Score, name: str) -> Encoded:
        wave = render_midi(score.dumps_midi(), sr=self.sampling_rate, name=name)
        return self.encode_audio(wave, self.sampling_rate, name)

    def loss(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, k_count, frames = ids.shape
        if k_count != self.num_codebooks:
            raise ValueError(f"codes have {k_count} codebooks, the model {self.num_codebooks}")
        inputs = delay_codes(ids, mask, self.start_id)
        null = self.model.get_unconditional_inputs(batch)
        logits = self.model(
            decoder_input_ids=inputs.reshape(batch * k_count, -1),
            encoder_outputs=null.encoder_outputs,
            attention_mask=null.attention_mask,
            use_cache=False,
        ).logits
        logits = logits.reshape(batch, k_count, inputs.shape[-1], -1)
        steps = undelay_steps(k_count, frames, ids.device)  # [K, T]
        index = steps[None, :, :, None].expand(batch, -1, -1, logits.shape[-1])
        logp = torch.log_softmax(logits.gather(2, index).float(), dim=-1)  # [B, K, T, V]
        targets = ids.masked_fill(~mask[:, None, :], 0)  # padding may hold the pad id
        nll = -logp.gather(-1, targets[..., None]).squeeze(-1)
        return nll.masked_fill(~mask[:, None, :], 0.0)

    @torch.no_grad()
    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[np.ndarray]:
        """``n`` waveforms at ``sampling_rate``, ``seconds`` long, sampled unconditionally."""
        torch.manual_seed(seed)
        frames = max(1, math.ceil(seconds * self.frame_rate))
        audio = self.model.generate(
            **self.model.get_unconditional_inputs(n),
            do_sample=True,
            top_k=top_k,
            # the delay pattern needs K − 1 extra steps to finish the last frame
            max_new_tokens=frames + self.num_codebooks - 1,
        )
        samples = max(1, round(seconds * self.sampling_rate))
        return [a[0, :samples].float().cpu().numpy() for a in audio]

    def fingerprint(self) -> str:
        config = json.dumps(self.model.config.to_dict(), sort_keys=True, default=str)
        return hash_state(self.model, config.encode())


register_adapter(
    AdapterInfo(
        name="musicgen",
        factory=MusicGenAdapter,
        summary="MusicGen (transformers) scoring EnCodec codes unconditionally, delay applied",
        options={
            "path": f"hub id or local folder (default {DEFAULT_PATH})",
            "dtype": "float32 | bfloat16 | float16 (default float32)",
            "revision": "hub revision (branch, tag or commit)",
        },
    )
)
