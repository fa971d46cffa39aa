"""Train a reference model: a small GPT-2 over REMI tokens of the embedded training split.

Three stages. Stage 1 (:mod:`curvebench.training.tokenize_corpus`) augments and tokenizes the
corpus into a token file; stage 2 (:func:`train_from_tokens`, this module) trains from that
file alone; stage 3 (:mod:`curvebench.training.evaluate`) scores the saved model on the
validation and ood splits and writes the facts into its card. This module imports only torch,
Lightning, transformers and numpy (and light curvebench modules), so stage 2 runs on a machine
without the corpus readers, miditok or symusic.

The result is a Hugging Face model folder (config.json, model.safetensors) with the miditok
tokenizer.json beside it, a MODEL_CARD.md and training.json, so ``hf-causal:path=DIR`` scores
it like any user's model.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import GPT2Config, GPT2LMHeadModel

from curvebench.errors import ConfigError
from curvebench.training.lm_module import SummedLossLM
from curvebench.training.model_card import write_model_card
from curvebench.training.packing import pack_rows
from curvebench.training.token_file import file_name, read_token_file

TOKENIZER_FILE = "tokenizer.json"
"""Name of the tokenizer file in a model folder (as in :mod:`curvebench.adapters.midi_tokens`)."""

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
    batch_size: int = 32
    """Rows per step."""
    lr: float = 1e-3
    """Peak learning rate (linear warm-up, cosine decay)."""
    warmup: int = 100
    """Warm-up steps."""


RECIPES = {
    "reference": ReferenceRecipe(
        "reference", n_embd=256, n_layer=4, n_head=4, context=512, max_steps=4000, lr=1.5e-3
    ),
    "reference-tiny": ReferenceRecipe(
        "reference-tiny", n_embd=96, n_layer=2, n_head=2, context=512, max_steps=3000
    ),
}
"""Sized for one GPU (a few minutes each); on CPU pass ``--max-steps``."""

ACCELERATORS = {"auto": "auto", "cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "mps": "mps"}
"""``--device`` values and the Lightning accelerator each means."""


class _Rows(Dataset):
    def __init__(self, rows: torch.Tensor) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.rows[i]


class ReferenceLM(SummedLossLM):
    """A GPT-2 language model trained with next-token cross-entropy, padding masked."""

    def __init__(self, config: GPT2Config, recipe: ReferenceRecipe) -> None:
        super().__init__(GPT2LMHeadModel(config), recipe)
        self.pad_id = config.pad_token_id

    def batch_loss(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = rows != self.pad_id
        logits = self.model(input_ids=rows, attention_mask=mask.long()).logits[:, :-1]
        target = rows[:, 1:].masked_fill(~mask[:, 1:], -100)
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), target.reshape(-1), reduction="sum"
        )
        return nll, (target != -100).sum()


def recipe_for(name: str, max_steps: int | None = None) -> ReferenceRecipe:
    """The named recipe, with ``max_steps`` overridden when given."""
    if name not in RECIPES:
        raise ConfigError(f"reference model {name!r}: choose one of {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    if max_steps is not None:
        recipe = ReferenceRecipe(**{**recipe.__dict__, "max_steps": max_steps})
    return recipe


def train_from_tokens(
    name: str,
    out: Path,
    tokens: Path,
    device: str = "auto",
    max_steps: int | None = None,
    seed: int = 0,
) -> dict:
    """Stage 2: train the named recipe on a token file and save the model folder to ``out``
    (config.json, model.safetensors, generation_config.json, tokenizer.json copied from the
    token file, training.json, MODEL_CARD.md); returns the training facts."""
    if device not in ACCELERATORS:
        raise ConfigError(f"--device {device}: choose one of {', '.join(ACCELERATORS)}")
    recipe = recipe_for(name, max_steps)
    data = read_token_file(tokens)
    meta = data.meta
    if meta["vocab_size"] > np.iinfo(np.uint16).max:
        raise ConfigError(f"{tokens}: vocabulary of {meta['vocab_size']} is too large")
    L.seed_everything(seed, workers=True)
    started = time.time()
    pad, bos, eos = meta["pad_id"], meta["bos_id"], meta["eos_id"]
    train_pieces = data.pieces["train"]
    val_rows = pack_rows(data.pieces["validation"], recipe.context, pad, eos, seed=None)
    train_rows = pack_rows(train_pieces, recipe.context, pad, eos, seed=seed)
    config = GPT2Config(
        vocab_size=meta["vocab_size"],
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
        accelerator=ACCELERATORS[device],
        devices=1,
        precision="bf16-mixed",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=sys.stderr.isatty(),  # a bar at a terminal, none in logs
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
    (out / TOKENIZER_FILE).write_text(data.tokenizer_json)
    val = trainer.callback_metrics.get("val_loss")
    facts = {
        "name": recipe.name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "recipe": recipe.__dict__,
        "augmentation": meta["augmentation"],
        "train_original_pieces": meta["train_original_pieces"],
        "train_sequences": len(train_pieces),
        "train_tokens": int(sum(len(p) for p in train_pieces)),
        "token_file": file_name(meta["name"]),
        "token_file_sha256": _sha256(tokens),
        "training_val_loss_nats": None if val is None else round(float(val), 4),
        "seed": seed,
        "device": str(trainer.strategy.root_device),
        "seconds": round(time.time() - started, 1),
        "torch": torch.__version__,
    }
    (out / "training.json").write_text(json.dumps(facts, indent=2) + "\n")
    write_model_card(out, facts)
    return facts


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def train_reference(
    name: str,
    out: Path,
    max_steps: int | None = None,
    seed: int = 0,
    device: str = "auto",
) -> dict:
    """All three stages: the token file (in a temporary folder), training, then evaluation;
    returns the model card facts. Stages 1 and 3 need the full install (corpus readers, miditok)."""
    import tempfile

    from curvebench.training.evaluate import evaluate_reference
    from curvebench.training.tokenize_corpus import make_token_file

    with tempfile.TemporaryDirectory() as tmp:
        tokens = make_token_file(name, Path(tmp), seed=seed)
        train_from_tokens(name, out, tokens, device=device, max_steps=max_steps, seed=seed)
    return evaluate_reference(out)
