"""YuE (LLaMA causal LMs over X-Codec tokens, github multimodal-art-projection/YuE) scoring the
rendered music at 16 kHz, one flat token stream per piece (layout in
:mod:`curvebench.adapters.yue_tokens`).

Unseparated music. YuE's stage 1 models a vocal and an instrumental track side by side; the
benchmark's music is rendered MIDI with no singing. By default the vocal track is the codes of
silence and the instrumental track is the whole mix: that is what a separator would return for
instrumental music, and it keeps the instruments out of the vocal stream the model was trained
to read as a voice (``vocal=mix`` puts the mix on both tracks instead). The default prompt asks
for an instrumental piece (``genre=instrumental``, ``lyrics=[instrumental]``). Stage 2 refines
one track at a time; here the mix. The sequence stops at the clip's end with no ``<EOA>``: the
clip is cut, the song does not end there.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch
from symusic import Score

from curvebench.adapters.base import AudioAdapter, Encoded, GeneratedSample, accelerator_for
from curvebench.adapters.causal_lm import (
    COMMON_OPTIONS,
    CausalLMParts,
    load_causal_lm,
    model_fingerprint,
)
from curvebench.adapters.code_cache import CodeCache, cached_codes
from curvebench.adapters.registry import AdapterInfo, register_adapter
from curvebench.adapters.yue_codec import DEFAULT_CODEC, Codec, XcodecCodec
from curvebench.adapters.yue_tokens import (
    CODE_OFFSET,
    CODEBOOK_SIZE,
    EOA,
    STAGE2_CODEBOOKS,
    stage1_ids,
    stage1_text,
    stage2_ids,
)
from curvebench.data.audio import mono_input, resampled
from curvebench.data.render import DEFAULT_SR, render_midi
from curvebench.errors import ConfigError


class TextTokenizer:
    """YuE's text tokenizer: a transformers tokenizer folder, or its sentencepiece
    ``tokenizer.model`` (needs the ``sentencepiece`` package)."""

    def __init__(self, location: str, revision: str | None = None) -> None:
        self.location = location
        if location.endswith(".model"):
            try:
                import sentencepiece
            except ImportError as exc:
                raise ConfigError(
                    f"tokenizer={location}: reading a sentencepiece model needs "
                    "`pip install sentencepiece`"
                ) from exc
            sp = sentencepiece.SentencePieceProcessor(model_file=location)
            self._encode = lambda text: list(sp.encode(text))
            self._blob = location.encode() + str(sp.get_piece_size()).encode()
            return
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(location, revision=revision)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"tokenizer={location}: no text tokenizer there; YuE's is "
                "inference/mm_tokenizer_v0.2_hf/tokenizer.model in its GitHub repository "
                f"({exc})"
            ) from exc
        self._encode = lambda text: tok(text, add_special_tokens=False)["input_ids"]
        self._blob = json.dumps(tok.get_vocab(), sort_keys=True).encode()

    def encode(self, text: str) -> list[int]:
        """Ids of a text, no special tokens added."""
        return [int(i) for i in self._encode(text)]

    def fingerprint(self) -> bytes:
        """Bytes that identify the vocabulary."""
        return self._blob


class YuEAdapter(CausalLMParts, AudioAdapter):
    """A YuE stage-1 or stage-2 model scoring X-Codec codes of the rendered audio."""

    supports_prefix = False
    can_generate = False

    def __init__(
        self,
        path: str,
        stage: str = "1",
        codec: str = DEFAULT_CODEC,
        tokenizer: str | None = None,
        genre: str = "instrumental",
        lyrics: str = "[instrumental]",
        vocal: str = "silence",
        revision: str | None = None,
        dtype: str = "float32",
        attn: str = "auto",
        device: str | None = None,
        name: str = "yue",
    ) -> None:
        if str(stage) not in ("1", "2"):
            raise ConfigError(f"stage={stage!r}: use 1 or 2")
        if vocal not in ("silence", "mix"):
            raise ConfigError(f"vocal={vocal!r}: use silence or mix")
        self.accelerator = accelerator_for(device)
        self.name, self.path, self.stage, self.vocal = name, path, int(stage), vocal
        self.model = load_causal_lm(path, revision, dtype, attn=attn)
        vocab = self.model.get_input_embeddings().num_embeddings
        needed = CODE_OFFSET + CODEBOOK_SIZE * (STAGE2_CODEBOOKS if self.stage == 2 else 1)
        if vocab < needed:
            raise ConfigError(f"{path}: {vocab} token embeddings; YuE's layout needs {needed}")
        self.codec: Codec = XcodecCodec(codec)
        self._codec_id: str | None = None
        self._codec_device = "cpu"
        if self.codec.num_codebooks < STAGE2_CODEBOOKS and self.stage == 2:
            raise ConfigError(f"codec {codec}: stage 2 needs {STAGE2_CODEBOOKS} codebooks")
        self.text_ids: list[int] = []
        self._text_blob = b""
        if self.stage == 1:
            text = TextTokenizer(tokenizer or path, revision)
            self.text_ids = [i for part in stage1_text(genre, lyrics) for i in text.encode(part)]
            self._text_blob = text.fingerprint()
            if not self.text_ids:
                raise ConfigError(f"{tokenizer or path}: the prompt tokenized to nothing")

    @property
    def pad_id(self) -> int:
        return EOA

    @property
    def sampling_rate(self) -> int:
        """The codec's rate (waveforms at other rates are resampled to it)."""
        return int(self.codec.sampling_rate)

    def codec_id(self) -> str:
        """The identity of the codec step (its fingerprint, rate, codebooks and bandwidth): the
        codes cache's key, computed once."""
        if self._codec_id is None:
            codec = self.codec
            settings = (codec.sampling_rate, codec.num_codebooks, getattr(codec, "bandwidth", None))
            blob = codec.fingerprint() + repr(settings).encode()
            if self._codec_device != "cpu":  # codes made on another kind of device can differ
                blob += f"|device={self._codec_device}".encode()
            self._codec_id = hashlib.sha256(blob).hexdigest()
        return self._codec_id

    def _codes(self, audio: np.ndarray, cache: CodeCache | None) -> np.ndarray:
        """The codebooks this stage reads of float32 audio at the codec's rate (every codebook
        the codec gives is cached, so both stages share an entry)."""
        rate = self.codec.sampling_rate
        codes = cached_codes(cache, audio, rate, self.codec_id, lambda: self.codec.encode(audio))
        return codes[: 1 if self.stage == 1 else STAGE2_CODEBOOKS]

    def codec_to(self, device: str) -> None:
        mover = getattr(self.codec, "to", None)
        if mover is not None:
            mover(device)
            self._codec_device, self._codec_id = torch.device(device).type, None

    def encode_audio(
        self,
        wave: np.ndarray,
        sr: int,
        name: str,
        codes: CodeCache | None = None,
        like: np.ndarray | None = None,
    ) -> Encoded:
        """The flat token stream of a waveform ([samples] or [samples, channels]) at ``sr``;
        the codec's codes are read from ``codes`` (a :class:`CodeCache`) when it holds them."""
        audio = mono_input(wave, sr, name)
        duration = audio.size / int(sr)
        audio = resampled(audio, sr, self.codec.sampling_rate)
        mix = self._codes(audio.astype(np.float32), codes)
        if self.stage == 2:
            ids, seconds = stage2_ids(mix, self.codec.frame_rate)
        else:
            silence = np.zeros_like(audio, np.float32)
            vocal = mix if self.vocal == "mix" else self._codes(silence, codes)
            ids, seconds = stage1_ids(self.text_ids, vocal[0], mix[0], self.codec.frame_rate)
        return Encoded(ids=ids, seconds=seconds, duration_s=duration, first_target=1)

    def encode_score(self, score: Score, name: str) -> Encoded:
        wave = render_midi(
            score.dumps_midi(), sr=DEFAULT_SR, name=name, setting=self.render_setting()
        )
        return self.encode_audio(wave, DEFAULT_SR, name)

    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[GeneratedSample]:
        raise ConfigError(
            f"{self.name}: YuE makes audio, not MIDI; it cannot supply the generated role"
        )

    def compute_fingerprint(self) -> str:
        options = f"stage={self.stage}|vocal={self.vocal}|{self.text_ids}".encode()
        return model_fingerprint(self.model, self.codec.fingerprint(), self._text_blob, options)


register_adapter(
    AdapterInfo(
        name="yue",
        factory=YuEAdapter,
        summary="YuE (LLaMA over X-Codec tokens at 50 Hz): stage 1 (codebook 0 of vocal and "
        "instrumental tracks) or stage 2 (8 codebooks given codebook 0)",
        options={
            **COMMON_OPTIONS,
            "stage": "1 | 2 (default 1)",
            "codec": f"X-Codec folder or hub id in transformers' format (default {DEFAULT_CODEC})",
            "tokenizer": "stage 1's text tokenizer: a folder or YuE's tokenizer.model",
            "genre": "stage 1's genre tags (default instrumental)",
            "lyrics": "stage 1's lyrics, [tag] words sections (default [instrumental])",
            "vocal": "stage 1's vocal track: silence | mix (default silence)",
        },
    )
)
