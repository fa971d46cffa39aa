"""MusicGen through ``transformers`` (EnCodec codes), scoring audio code by code.

Audio is resampled to the model's rate (32 kHz), encoded by the model's own EnCodec into K
codebooks × T frames (4 × 50 Hz for the released models), and scored under a text condition.

Options beyond the model: ``layout`` (``delay``, MusicGen's own delay pattern, the default, or
``paper``, the paper's released scripts' feeding without it; see
:mod:`curvebench.adapters.musicgen_layouts`) and ``condition``:

- ``null``: MusicGen's own unconditional input (``get_unconditional_inputs``: one zero text
  state, masked), what it generates from without a prompt. Default for ``layout=delay``.
- ``none``: no text conditioning at all, the decoder alone (no cross-attention), as the paper's
  scripts call it. Default for ``layout=paper``. It gives the same losses as ``null``:
  transformers multiplies the text states by their mask (zero) before the cross-attention,
  whose projections have no bias, so the null condition adds exactly zero.
- ``empty``: the text encoder's states of the empty prompt ``""`` (needs the model's tokenizer).
- any other value: that text prompt (model-spec syntax: no commas).

Both are returned by :meth:`MusicGenAdapter.settings`, and change the fingerprint (the cache
key) when they differ from the defaults, since they change the losses.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly
from symusic import Score

from curvebench.adapters.base import Adapter, Encoded, hash_state, torch_dtype
from curvebench.adapters.code_cache import CodeCache, cached_codes, codec_identity
from curvebench.adapters.musicgen_layouts import LAYOUTS, code_losses
from curvebench.adapters.registry import AdapterInfo, register_adapter
from curvebench.data.render import render_midi
from curvebench.errors import ConfigError, DataError

DEFAULT_PATH = "facebook/musicgen-small"
AUDIO_REFERENCE_DIR = Path(__file__).resolve().parent.parent / "models" / "audio-reference"
"""The embedded audio reference model: a MusicGen folder shipped with curvebench."""
DEFAULT_CONDITION = {"delay": "null", "paper": "none"}
"""The condition each layout uses unless one is asked for."""


class MusicGenAdapter(Adapter):
    """``MusicgenForConditionalGeneration`` scoring EnCodec codes in a layout, under a
    condition."""

    name = "musicgen"
    modality = "audio"
    can_generate = True

    def __init__(
        self,
        path: str = DEFAULT_PATH,
        dtype: str = "float32",
        revision: str | None = None,
        layout: str = "delay",
        condition: str | None = None,
        name: str = "musicgen",
    ) -> None:
        from transformers import MusicgenForConditionalGeneration

        if layout not in LAYOUTS:
            raise ConfigError(f"layout={layout!r}: use one of {', '.join(LAYOUTS)}")
        if condition is not None and not condition.strip():
            raise ConfigError("condition=: give null, none, empty or a text prompt")
        self.name, self.path, self.revision = name, path, revision
        self.layout = layout
        self.condition = condition.strip() if condition else DEFAULT_CONDITION[layout]
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
        self._text: dict[str, torch.Tensor] | None = None
        self._codec_id: str | None = None

    def settings(self) -> dict[str, str]:
        """How the codes are scored: ``layout`` and ``condition`` (for results.json)."""
        return {"layout": self.layout, "condition": self.condition}

    def _text_inputs(self) -> dict[str, torch.Tensor]:
        """Token ids and attention mask [1, L] of the text condition (``empty`` or a prompt)."""
        if self._text is None:
            from transformers import AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(self.path, revision=self.revision)
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"{self.path}: condition={self.condition!r} needs the model's text "
                    f"tokenizer, which could not be loaded ({exc}); use condition=null or none"
                ) from exc
            text = "" if self.condition == "empty" else self.condition
            encoded = tokenizer([text], return_tensors="pt")
            ids = encoded.input_ids[0].tolist()
            if text and not tokenizer.decode(ids, skip_special_tokens=True).strip():
                raise ConfigError(
                    f"{self.path}: its text tokenizer knows none of the words of the prompt "
                    f"{text!r} (no tokenizer files in the model folder?); use condition=null, "
                    "none or empty"
                )
            self._text = {"input_ids": encoded.input_ids, "attention_mask": encoded.attention_mask}
        return self._text

    def _condition_kwargs(self, batch: int, device: torch.device) -> dict:
        """Keyword arguments of the model's forward or generate for the condition."""
        if self.condition in ("null", "none"):
            null = self.model.get_unconditional_inputs(batch)
            return {"encoder_outputs": null.encoder_outputs, "attention_mask": null.attention_mask}
        text = self._text_inputs()
        return {k: v.to(device).expand(batch, -1) for k, v in text.items()}

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

    def encode_audio(
        self, wave: np.ndarray, sr: int, name: str, codes: CodeCache | None = None
    ) -> Encoded:
        """EnCodec codes [K, T] of a waveform ([samples] or [samples, channels]) at ``sr`` Hz,
        read from ``codes`` (a :class:`CodeCache`) when it holds them."""
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
        return codes[0, 0].cpu().numpy().astype(np.int64)

    def encode_score(self, score: Score, name: str) -> Encoded:
        wave = render_midi(score.dumps_midi(), sr=self.sampling_rate, name=name)
        return self.encode_audio(wave, self.sampling_rate, name)

    def loss(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, k_count, _ = ids.shape
        if k_count != self.num_codebooks:
            raise ValueError(f"codes have {k_count} codebooks, the model {self.num_codebooks}")
        if self.condition == "none":

            def decoder(inputs: torch.Tensor) -> torch.Tensor:
                return self.model.decoder(input_ids=inputs, use_cache=False).logits

        else:
            condition = self._condition_kwargs(batch, ids.device)

            def decoder(inputs: torch.Tensor) -> torch.Tensor:
                return self.model(decoder_input_ids=inputs, use_cache=False, **condition).logits

        return code_losses(self.layout, decoder, ids, mask, self.start_id)

    @torch.no_grad()
    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[np.ndarray]:
        """``n`` waveforms at ``sampling_rate``, ``seconds`` long, sampled in the delay layout
        under the condition (``none`` generates from the null condition: MusicGen's decoder
        cannot sample audio without cross-attention states)."""
        torch.manual_seed(seed)
        frames = max(1, math.ceil(seconds * self.frame_rate))
        device = next(self.model.parameters()).device
        condition = self._condition_kwargs(n, device)
        if self.condition in ("null", "none"):
            condition["guidance_scale"] = 1.0  # no classifier-free guidance: nothing to guide by
        audio = self.model.generate(
            **condition,
            do_sample=True,
            top_k=top_k,
            # the delay pattern needs K − 1 extra steps to finish the last frame
            max_new_tokens=frames + self.num_codebooks - 1,
        )
        samples = max(1, round(seconds * self.sampling_rate))
        return [a[0, :samples].float().cpu().numpy() for a in audio]

    def fingerprint(self) -> str:
        """sha256 of weights and config, and of the settings when they are not the defaults
        (they change the losses, and the fingerprint keys the score cache)."""
        config = json.dumps(self.model.config.to_dict(), sort_keys=True, default=str)
        extra = [config.encode()]
        if self.settings() != {"layout": "delay", "condition": DEFAULT_CONDITION["delay"]}:
            extra.append(json.dumps(self.settings(), sort_keys=True).encode())
        return hash_state(self.model, *extra)


SCORING_OPTIONS = {
    "layout": "delay (MusicGen's delay pattern, default) | paper (the paper scripts' feeding)",
    "condition": "null (default for delay) | none (default for paper) | empty | a text prompt",
}


register_adapter(
    AdapterInfo(
        name="musicgen",
        factory=MusicGenAdapter,
        summary="MusicGen (transformers) scoring EnCodec codes, delay pattern applied",
        options={
            "path": f"hub id or local folder (default {DEFAULT_PATH})",
            "dtype": "float32 | bfloat16 | float16 (default float32)",
            "revision": "hub revision (branch, tag or commit)",
            **SCORING_OPTIONS,
        },
    )
)


def audio_reference(**options: str) -> MusicGenAdapter:
    """The embedded audio reference: the MusicGen adapter on the shipped model folder."""
    if not (AUDIO_REFERENCE_DIR / "config.json").is_file():
        raise ConfigError(
            f"embedded model 'audio-reference' is missing from {AUDIO_REFERENCE_DIR}; "
            "rebuild it with `curvebench train-audio-reference --out DIR` and copy DIR there"
        )
    return MusicGenAdapter(path=str(AUDIO_REFERENCE_DIR), name="audio-reference", **options)


register_adapter(
    AdapterInfo(
        name="audio-reference",
        factory=audio_reference,
        summary="embedded audio MusicGen (EnCodec 32 kHz / 50 Hz / 4 x 2048) trained on renders "
        "of the embedded corpus",
        options={"dtype": "float32 | bfloat16 | float16 (default float32)", **SCORING_OPTIONS},
    )
)
