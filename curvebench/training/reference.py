"""Train a reference model: a small GPT-2 over REMI tokens of the embedded training split.

The result is a Hugging Face model folder (config.json, model.safetensors) with the miditok
tokenizer.json beside it and a MODEL_CARD.md, so ``hf-causal:path=DIR`` scores it like any
user's model.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import GPT2Config, GPT2LMHeadModel

from curvebench.adapters.corpus_tokens import tokenize_split
from curvebench.adapters.midi_tokens import TOKENIZER_FILE, reference_tokenizer
from curvebench.training.packing import pack_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferenceRecipe:
    """Architecture and optimisation of one reference model."""

    name: str
    """Model name in the registry and on the leaderboard."""
    n_embd: int
    """Width of the residual stream."""
    n_layer: int
    """Number of Transformer blocks."""
    n_head: int
    """Attention heads per block."""
    context: int
    """Context length in tokens (and training row length)."""
    max_steps: int
    """Optimizer steps."""
    batch_size: int = 16
    """Rows per step."""
    lr: float = 1e-3
    """Peak learning rate (linear warm-up, cosine decay)."""
    warmup: int = 50
    """Warm-up steps."""


RECIPES = {
    "reference": ReferenceRecipe(
        "reference", n_embd=256, n_layer=4, n_head=4, context=512, max_steps=700, lr=1.5e-3
    ),
    "reference-tiny": ReferenceRecipe(
        "reference-tiny", n_embd=96, n_layer=2, n_head=2, context=512, max_steps=600
    ),
}


class _Rows(Dataset):
    def __init__(self, rows: torch.Tensor) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.rows[i]


class ReferenceLM(L.LightningModule):
    """A GPT-2 language model trained with next-token cross-entropy, padding masked."""

    def __init__(self, config: GPT2Config, recipe: ReferenceRecipe) -> None:
        super().__init__()
        self.model = GPT2LMHeadModel(config)
        self.recipe = recipe
        self.pad_id = config.pad_token_id

    def _loss(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = rows != self.pad_id
        logits = self.model(input_ids=rows, attention_mask=mask.long()).logits[:, :-1]
        target = rows[:, 1:].masked_fill(~mask[:, 1:], -100)
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), target.reshape(-1), reduction="sum"
        )
        return nll, (target != -100).sum()

    def training_step(self, rows: torch.Tensor, _: int) -> torch.Tensor:
        nll, n = self._loss(rows)
        loss = nll / n
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, rows: torch.Tensor, _: int) -> None:
        nll, n = self._loss(rows)
        self.log("val_loss", nll / n, prog_bar=True, batch_size=int(n), reduce_fx="mean")

    def configure_optimizers(self):
        r = self.recipe
        opt = torch.optim.AdamW(self.parameters(), lr=r.lr, weight_decay=0.01)

        def schedule(step: int) -> float:
            if step < r.warmup:
                return (step + 1) / r.warmup
            progress = (step - r.warmup) / max(1, r.max_steps - r.warmup)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return [opt], [{"scheduler": sched, "interval": "step"}]


def validation_loss(folder: Path) -> tuple[float, int]:
    """Token-weighted mean loss (nats) of a saved model over every validation piece, scored as
    curvebench scores (BOS first, whole piece, rolling windows), and the number of tokens."""
    from curvebench.adapters.hf_causal import HFCausalAdapter
    from curvebench.benchmark.scoring import score_sequences

    adapter = HFCausalAdapter(str(folder))
    sequences = tokenize_split("validation")
    losses = np.concatenate(score_sequences(adapter, sequences, batch_size=32))
    return float(losses.mean()), int(losses.size)


def train_reference(name: str, out: Path, max_steps: int | None = None, seed: int = 0) -> dict:
    """Train the named reference recipe and save it to ``out``; returns the model card facts."""
    recipe = RECIPES[name]
    if max_steps is not None:
        recipe = ReferenceRecipe(**{**recipe.__dict__, "max_steps": max_steps})
    L.seed_everything(seed, workers=True)
    tokenizer = reference_tokenizer()
    pad, bos, eos = (tokenizer.vocab[t] for t in ("PAD_None", "BOS_None", "EOS_None"))
    started = time.time()
    train_pieces, val_pieces = tokenize_split("train"), tokenize_split("validation")
    row_len = recipe.context
    val_rows = pack_rows(val_pieces, row_len, pad, eos, seed=None)
    train_rows = pack_rows(train_pieces, row_len, pad, eos, seed=seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=recipe.context,
        n_embd=recipe.n_embd,
        n_layer=recipe.n_layer,
        n_head=recipe.n_head,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    lm = ReferenceLM(config, recipe)
    trainer = L.Trainer(
        max_steps=recipe.max_steps,
        accelerator="auto",
        devices=1,
        precision="bf16-mixed",
        logger=False,
        enable_checkpointing=False,
        val_check_interval=min(500, recipe.max_steps),
        check_val_every_n_epoch=None,
        gradient_clip_val=1.0,
        deterministic=False,
    )
    trainer.fit(
        lm,
        DataLoader(_Rows(train_rows), batch_size=recipe.batch_size, shuffle=True),
        DataLoader(_Rows(val_rows), batch_size=32),
    )
    model = lm.model.float().cpu()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save(out / TOKENIZER_FILE)
    val_loss, val_tokens = validation_loss(out)
    facts = {
        "name": recipe.name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "recipe": recipe.__dict__,
        "train_pieces": len(train_pieces),
        "train_tokens": int(sum(len(p) for p in train_pieces)),
        "validation_pieces": len(val_pieces),
        "validation_loss_nats": round(val_loss, 4),
        "validation_tokens": val_tokens,
        "seed": seed,
        "seconds": round(time.time() - started, 1),
        "torch": torch.__version__,
    }
    (out / "training.json").write_text(json.dumps(facts, indent=2) + "\n")
    write_model_card(out, facts)
    return facts


def write_model_card(out: Path, facts: dict) -> None:
    """A Markdown model card from the training facts."""
    r = facts["recipe"]
    text = f"""# {facts["name"]}: curvebench's embedded reference model

A GPT-2 decoder over miditok REMI tokens, trained from scratch with Lightning on the training
split of curvebench's embedded corpus (Bach chorales and the essenFolksong, oneills1850 and
ryansMammoth folk collections of the music21 corpus, converted to MIDI).

| fact | value |
|---|---|
| parameters | {facts["parameters"]:,} |
| layers / width / heads | {r["n_layer"]} / {r["n_embd"]} / {r["n_head"]} |
| context | {r["context"]} tokens |
| training data | {facts["train_pieces"]} pieces, {facts["train_tokens"]:,} tokens |
| steps x batch | {r["max_steps"]} x {r["batch_size"]} rows of {r["context"]} tokens |
| optimiser | AdamW, peak lr {r["lr"]}, {r["warmup"]} warm-up steps, cosine decay, bf16 |
| validation loss | {facts["validation_loss_nats"]} nats/token (whole pieces, BOS first) |
| validation data | {facts["validation_pieces"]} pieces, {facts["validation_tokens"]:,} tokens |
| seed | {facts["seed"]} |
| training time | {facts["seconds"]} s |

Tokenizer: `tokenizer.json` (REMI, piano range, 16 velocities, 16 tempos, tracks merged).

Reproduce: `curvebench train-reference --name {facts["name"]} --out DIR`
"""
    (out / "MODEL_CARD.md").write_text(text)
