"""The audio reference's language model: a small MusicGen decoder trained on EnCodec codes.

The model is a whole ``MusicgenForConditionalGeneration`` (a tiny unused T5 text encoder, the
audio reference's codec, a small decoder), so that it saves and loads exactly like
``facebook/musicgen-small``. Only the decoder (and the text-to-decoder projection) learns; it is
trained on the delay pattern under MusicGen's null condition, with the very loss function the
MusicGen adapter scores with (:func:`curvebench.adapters.musicgen_layouts.code_losses`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import (
    EncodecConfig,
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForConditionalGeneration,
    T5Config,
)

from curvebench.adapters.musicgen_layouts import code_losses
from curvebench.training.audio_codec import CODEBOOK_SIZE, NUM_CODEBOOKS
from curvebench.training.lm_module import SummedLossLM

SPECIAL = CODEBOOK_SIZE
"""Start and pad id of the decoder (2048), as in MusicGen."""


@dataclass(frozen=True)
class AudioLMRecipe:
    """Architecture and optimisation of the audio reference's decoder."""

    hidden: int = 128
    """Width of the residual stream."""
    layers: int = 4
    """Decoder blocks."""
    heads: int = 4
    """Attention heads per block."""
    frames: int = 750
    """Training row length in frames (15 s, the tasks' clip length)."""
    batch_size: int = 4
    """Rows per step."""
    lr: float = 2e-3
    """Peak learning rate (linear warm-up, cosine decay to a tenth)."""
    warmup: int = 30
    """Warm-up steps."""
    max_steps: int = 600
    """Optimizer steps."""


def build_musicgen(codec: EncodecConfig, recipe: AudioLMRecipe) -> MusicgenForConditionalGeneration:
    """A randomly initialised MusicGen with the given codec config and the recipe's decoder."""
    text = T5Config(vocab_size=32, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2)
    decoder = MusicgenDecoderConfig(
        vocab_size=CODEBOOK_SIZE,
        hidden_size=recipe.hidden,
        ffn_dim=4 * recipe.hidden,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        num_codebooks=NUM_CODEBOOKS,
        max_position_embeddings=2048,
        dropout=0.0,
        pad_token_id=SPECIAL,
        bos_token_id=SPECIAL,
        decoder_start_token_id=SPECIAL,
    )
    config = MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=decoder)
    return MusicgenForConditionalGeneration(config)


def code_rows(pieces: list[np.ndarray], frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows [N, K, frames] of each piece's codes cut into ``frames``-long pieces (a last piece
    of at least a second kept, padded with the pad id), and their frame masks [N, frames]."""
    rows, masks = [], []
    for codes in pieces:
        for start in range(0, codes.shape[-1], frames):
            part = codes[:, start : start + frames].astype(np.int64)
            if part.shape[-1] < 50:
                continue
            row = np.full((NUM_CODEBOOKS, frames), SPECIAL, dtype=np.int64)
            row[:, : part.shape[-1]] = part
            rows.append(row)
            masks.append(np.arange(frames) < part.shape[-1])
    return torch.as_tensor(np.stack(rows)), torch.as_tensor(np.stack(masks))


class CodeRows(Dataset):
    """Rows of codes with their frame masks."""

    def __init__(self, rows: torch.Tensor, masks: torch.Tensor) -> None:
        self.rows, self.masks = rows, masks

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rows[i], self.masks[i]


def null_condition_losses(
    model: MusicgenForConditionalGeneration, codes: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Per-code losses [B, K, T] in the delay layout under the null condition (the MusicGen
    adapter's default scoring)."""
    null = model.get_unconditional_inputs(codes.shape[0])

    def decoder(inputs: torch.Tensor) -> torch.Tensor:
        return model(
            decoder_input_ids=inputs,
            encoder_outputs=null.encoder_outputs,
            attention_mask=null.attention_mask,
            use_cache=False,
        ).logits

    return code_losses("delay", decoder, codes, mask, SPECIAL)


class AudioLM(SummedLossLM):
    """Trains a MusicGen's decoder on code rows (mean loss per real code); the text encoder
    and the codec stay frozen."""

    betas = (0.9, 0.95)

    def __init__(self, model: MusicgenForConditionalGeneration, recipe: AudioLMRecipe) -> None:
        super().__init__(model, recipe)
        for part in (model.text_encoder, model.audio_encoder):
            part.requires_grad_(False)

    def batch_loss(
        self, batch: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        codes, mask = batch
        nll = null_condition_losses(self.model, codes, mask)
        count = mask.sum() * codes.shape[1]
        return nll.sum(), count


@torch.no_grad()
def mean_code_loss(
    model: MusicgenForConditionalGeneration, rows: torch.Tensor, masks: torch.Tensor
) -> tuple[float, int]:
    """Mean loss (nats per code) over every real code of the rows, and the number of codes."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(rows), 8):
        codes, mask = rows[i : i + 8], masks[i : i + 8]
        total += float(null_condition_losses(model, codes, mask).sum())
        count += int(mask.sum()) * codes.shape[1]
    return total / max(count, 1), count
