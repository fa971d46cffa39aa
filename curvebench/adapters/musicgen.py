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
from typing import TYPE_CHECKING

import numpy as np
import torch
from symusic import Score

from curvebench.adapters.base import (
    AudioAdapter,
    Encoded,
    GeneratedSample,
    cache_of,
    config_bytes,
    hash_state,
    torch_dtype,
    with_cache,
)
from curvebench.adapters.causal_lm import with_attention
from curvebench.adapters.musicgen_codec import EncodecCodes
from curvebench.adapters.musicgen_layouts import LAYOUTS, code_losses, code_losses_from_prefix
from curvebench.adapters.registry import AdapterInfo, register_adapter
from curvebench.data.render import (
    DEFAULT_RENDER,
    RenderSetting,
    render_midi,
    setting_from_file,
)
from curvebench.errors import ConfigError

if TYPE_CHECKING:
    from transformers.cache_utils import Cache

DEFAULT_PATH = "facebook/musicgen-small"
AUDIO_REFERENCE_DIR = Path(__file__).resolve().parent.parent / "models" / "audio-reference"
"""The embedded audio reference model: a MusicGen folder shipped with curvebench."""
DEFAULT_CONDITION = {"delay": "null", "paper": "none"}
"""The condition each layout uses unless one is asked for."""


class MusicGenAdapter(EncodecCodes, AudioAdapter):
    """``MusicgenForConditionalGeneration`` scoring EnCodec codes in a layout, under a
    condition."""

    name = "musicgen"
    can_generate = True
    supports_prefix = True

    def __init__(
        self,
        path: str = DEFAULT_PATH,
        dtype: str = "float32",
        attn: str = "auto",
        revision: str | None = None,
        layout: str = "delay",
        condition: str | None = None,
        name: str = "musicgen",
        soundfont: str | None = None,
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
            self.model = with_attention(
                MusicgenForConditionalGeneration.from_pretrained,
                attn,
                dtype,
                path,
                revision=revision,
                dtype=torch_dtype(dtype),
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
        self._sampling_rate = int(codec.sampling_rate)
        self.frame_rate = float(codec.frame_rate)
        self.bandwidth = self._bandwidth()
        gen = self.model.generation_config
        start = gen.decoder_start_token_id
        self.start_id = int(start if start is not None else decoder.bos_token_id)
        pad = decoder.pad_token_id
        self._pad_id = int(pad if pad is not None else gen.pad_token_id)
        self._text: dict[str, torch.Tensor] | None = None
        self._render = stated_render(path, soundfont)

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

    @property
    def sampling_rate(self) -> int:
        """The EnCodec rate (32 kHz for the released models)."""
        return self._sampling_rate

    def render_setting(self) -> RenderSetting:
        """The render the model folder states (``render`` in its ``training.json``: the
        embedded audio reference's), the ``soundfont=`` file given, or the default."""
        return self._render

    def encode_score(self, score: Score, name: str) -> Encoded:
        wave = render_midi(
            score.dumps_midi(), sr=self.sampling_rate, name=name, setting=self._render
        )
        return self.encode_audio(wave, self.sampling_rate, name)

    def _forward(
        self, inputs: torch.Tensor, batch: int, cache: Cache | None = None, keep: bool = False
    ) -> tuple[torch.Tensor, Cache | None]:
        """Decoder logits [batch·K, S, V] of inputs [batch·K, S] under the condition, after
        the steps held in ``cache``; with ``keep`` the key-value cache (with these steps) too."""
        use_cache = keep or cache is not None
        if self.condition == "none":
            decoder = self.model.decoder
            out = decoder(input_ids=inputs, use_cache=use_cache, **with_cache(decoder, cache))
        else:
            out = self.model(
                decoder_input_ids=inputs,
                use_cache=use_cache,
                **with_cache(self.model, cache),
                **self._condition_kwargs(batch, inputs.device),
            )
        return out.logits, cache_of(out) if use_cache else None

    def _check(self, codes: torch.Tensor) -> None:
        if codes.shape[1] != self.num_codebooks:
            raise ValueError(
                f"codes have {codes.shape[1]} codebooks, the model {self.num_codebooks}"
            )

    def loss(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self._check(ids)
        batch = ids.shape[0]
        return code_losses(
            self.layout, lambda x: self._forward(x, batch)[0], ids, mask, self.start_id
        )

    def loss_from_prefix(
        self, prefix: torch.Tensor, continuations: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes of n sequences that share their first frames ``prefix`` [K, P], then go on
        with ``continuations`` [n, K, S] (right-padded, ``mask`` [n, S]): one decoder pass over
        the steps every sequence shares fills the key-value cache, one pass over the rest
        continues from it (see :func:`~curvebench.adapters.musicgen_layouts.shared_steps`).
        Returns the losses of the prefix frames [n, K, P] and of the continuations [n, K, S],
        equal to :meth:`loss` of each whole sequence."""
        self._check(continuations)
        n = continuations.shape[0]

        def decoder(shared: torch.Tensor, rest: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            cache = None
            head = rest.new_zeros((0,))
            if shared.shape[-1]:
                head, cache = self._forward(shared, 1, keep=True)
                cache.batch_repeat_interleave(n)
            if not rest.shape[-1]:
                return head, rest.new_zeros((rest.shape[0], 0, 0))
            return head, self._forward(rest, n, cache)[0]

        return code_losses_from_prefix(
            self.layout, decoder, prefix, continuations, mask, self.start_id
        )

    @torch.no_grad()
    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[GeneratedSample]:
        """``n`` mono float32 waveforms at ``sampling_rate``, ``seconds`` long: codes sampled in
        the delay layout under the condition (``none`` generates from the null condition:
        MusicGen's decoder cannot sample audio without cross-attention states), decoded by the
        model's codec. Each sample carries the fraction of its sampled codes that encoding its
        audio again gives back (``codes_kept``): the benchmark hears the audio, so a codec
        whose round trip changes most codes scores other codes than the model drew."""
        torch.manual_seed(seed)
        frames = max(1, math.ceil(seconds * self.frame_rate))
        device = next(self.model.parameters()).device
        condition = self._condition_kwargs(n, device)
        if self.condition in ("null", "none"):
            condition["guidance_scale"] = 1.0  # no classifier-free guidance: nothing to guide by
        audio, codes = sample_with_codes(
            self.model,
            **condition,
            do_sample=True,
            top_k=top_k,
            # the delay pattern needs K − 1 extra steps to finish the last frame
            max_new_tokens=frames + self.num_codebooks - 1,
        )
        samples = max(1, round(seconds * self.sampling_rate))
        rate = self.sampling_rate
        out = []
        for wave, drawn in zip(audio, codes, strict=True):
            wave = wave[0, :samples].float().cpu().numpy()
            again = self._encode(wave.astype("float64"), rate)
            kept = float(np.mean(codes_kept_per_codebook(again, drawn.cpu().numpy(), frames)))
            out.append(GeneratedSample(wave=wave, sampling_rate=rate, codes_kept=kept))
        return out

    def compute_fingerprint(self) -> str:
        """sha256 of weights and config, and of the settings when they are not the defaults
        (they change the losses, and the fingerprint keys the score cache)."""
        extra = [config_bytes(self.model.config)]
        if self.settings() != {"layout": "delay", "condition": DEFAULT_CONDITION["delay"]}:
            extra.append(json.dumps(self.settings(), sort_keys=True).encode())
        return hash_state(self.model, *extra)


SCORING_OPTIONS = {
    "layout": "delay (MusicGen's delay pattern, default) | paper (the paper scripts' feeding)",
    "condition": "null (default for delay) | none (default for paper) | empty | a text prompt",
    "soundfont": "a .sf2 file to render MIDI with (default: the render the model states, or "
    "TimGM6mb; its sha256 is recorded)",
}


register_adapter(
    AdapterInfo(
        name="musicgen",
        factory=MusicGenAdapter,
        summary="MusicGen (transformers) scoring EnCodec codes, delay pattern applied",
        options={
            "path": f"hub id or local folder (default {DEFAULT_PATH})",
            "dtype": "float32 | bfloat16 | float16 (default float32)",
            "attn": "attention kernel: auto | sdpa | eager | flash_attention_2 (default auto)",
            "revision": "hub revision (branch, tag or commit)",
            **SCORING_OPTIONS,
        },
    )
)


def sample_with_codes(model: torch.nn.Module, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """``model.generate(**kwargs)``'s audio [B, 1, samples] and the codes [B, K, T] it decoded
    them from (transformers returns only the audio: the codes are taken where the codec's
    ``decode`` receives them)."""
    codec = model.audio_encoder
    seen: list[torch.Tensor] = []
    decode = codec.decode

    def keep(audio_codes: torch.Tensor, *args, **kw):
        seen.append(audio_codes)
        return decode(audio_codes, *args, **kw)

    shadowed = vars(codec).get("decode")  # a wrapper someone else put there, kept
    codec.decode = keep  # an instance attribute: shadows the method for this call only
    try:
        audio = model.generate(**kwargs)
    finally:
        if shadowed is None:
            del codec.decode
        else:
            codec.decode = shadowed
    if len(seen) != 1 or seen[0].shape[0] != 1:
        raise ConfigError("MusicGen's generate decoded its codes in an unexpected way")
    return audio, seen[0][0]


def codes_kept_per_codebook(again: np.ndarray, drawn: np.ndarray, frames: int) -> np.ndarray:
    """The fraction of drawn codes [K, T] that the audio's codes ``again`` [K, T'] give back,
    per codebook, over the first ``frames`` frames both have."""
    t = min(again.shape[-1], drawn.shape[-1], frames)
    return (again[:, :t] == drawn[:, :t]).mean(axis=1)


def stated_render(path: str, soundfont: str | None = None) -> RenderSetting:
    """The render a MusicGen model hears MIDI with: a ``soundfont=`` file, else the ``render``
    entry of a local model folder's ``training.json`` (how it was trained), else the default."""
    if soundfont:
        return setting_from_file(soundfont)
    record = Path(path) / "training.json"
    if record.is_file():
        stated = json.loads(record.read_text()).get("render")
        if stated:
            return RenderSetting(**stated)
    return DEFAULT_RENDER


def audio_reference(**options: str) -> MusicGenAdapter:
    """The embedded audio reference: the MusicGen adapter on the shipped model folder."""
    if not (AUDIO_REFERENCE_DIR / "config.json").is_file():
        raise ConfigError(
            f"embedded model 'audio-reference' is missing from {AUDIO_REFERENCE_DIR}; "
            "rebuild it with `curvebench train-audio-reference --out DIR` and copy DIR/model there"
        )
    return MusicGenAdapter(path=str(AUDIO_REFERENCE_DIR), name="audio-reference", **options)


register_adapter(
    AdapterInfo(
        name="audio-reference",
        factory=audio_reference,
        summary="embedded audio MusicGen (EnCodec 32 kHz / 50 Hz / 4 x 2048) trained on renders "
        "of the embedded corpus",
        options={
            "dtype": "float32 | bfloat16 | float16 (default float32)",
            "attn": "attention kernel: auto | sdpa | eager | flash_attention_2 (default auto)",
            **SCORING_OPTIONS,
        },
    )
)
