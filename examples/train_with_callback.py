"""Train a tiny GPT-2 on curvebench's embedded corpus and watch the shape metrics as it learns.

    python examples/train_with_callback.py            # 300 steps, an evaluation every 100
    python examples/train_with_callback.py --steps 4 --every 2 --limit 1

``CurveBenchCallback`` scores a few pieces (originals and noise-perturbed copies) every
``--every`` steps through the same evaluator as ``curvebench run`` and logs the headline
metrics with ``pl_module.log``; with a logger attached (``WandbLogger``, ``CSVLogger``) they
land there. The table at the end sets validation loss beside the shape metrics: a lower loss is
not the same thing as a curve that reacts to the noise.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import lightning as L
import torch
from torch.utils.data import DataLoader
from transformers import GPT2Config

from curvebench.adapters.corpus_tokens import tokenize_split
from curvebench.adapters.midi_tokens import reference_tokenizer
from curvebench.callback import CurveBenchCallback
from curvebench.metrics.catalog import METRICS
from curvebench.training.packing import pack_rows
from curvebench.training.reference import ReferenceLM, ReferenceRecipe

SHOWN = {
    name: METRICS[name].header
    for name in (
        "abs_loss_original",
        "nats_per_second_original",
        "region_peak",
        "region_assimilation",
        "region_recovery",
        "auroc_change",
        "auroc_peak_evidence",
    )
}
"""Metrics the callback logs (headline ones), by their column header."""


class ValidationLoss(L.Callback):
    """Keeps the validation loss of every validation run, by step."""

    def __init__(self) -> None:
        self.by_step: dict[int, float] = {}

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if "val_loss" in trainer.callback_metrics:
            self.by_step[trainer.global_step] = float(trainer.callback_metrics["val_loss"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps (300)")
    parser.add_argument("--every", type=int, default=100, help="evaluate every N steps (100)")
    parser.add_argument("--limit", type=int, default=4, help="pieces per dataset (4)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    L.seed_everything(0, verbose=False)
    started = time.perf_counter()

    tokenizer = reference_tokenizer()
    pad, bos, eos = (tokenizer.vocab[t] for t in ("PAD_None", "BOS_None", "EOS_None"))
    recipe = ReferenceRecipe(
        "example", n_embd=64, n_layer=2, n_head=2, context=256, max_steps=args.steps,
        batch_size=8, lr=2e-3, warmup=min(30, args.steps),
    )  # fmt: skip
    train = pack_rows(tokenize_split("train"), recipe.context, pad, eos, seed=0)
    val = pack_rows(tokenize_split("validation"), recipe.context, pad, eos, seed=None)[:64]
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=recipe.context, n_embd=recipe.n_embd,
        n_layer=recipe.n_layer, n_head=recipe.n_head, bos_token_id=bos, eos_token_id=eos,
        pad_token_id=pad,
    )  # fmt: skip
    lm = ReferenceLM(config, recipe)

    shape = CurveBenchCallback(tokenizer, every_n_steps=args.every, limit=args.limit)
    losses = ValidationLoss()
    with tempfile.TemporaryDirectory() as root:
        trainer = L.Trainer(
            max_steps=args.steps,
            val_check_interval=args.every,
            check_val_every_n_epoch=None,
            accelerator="auto",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root,
            callbacks=[shape, losses],
        )
        trainer.fit(
            lm,
            DataLoader(train, batch_size=recipe.batch_size, shuffle=True),
            DataLoader(val, batch_size=32),
        )
    assert lm.model.training and next(lm.model.parameters()).requires_grad

    print(f"\ntrained {args.steps} steps in {time.perf_counter() - started:.0f}s")
    for dataset in ("validation", "ood"):
        print(f"\nnoise-at-5s on embedded {dataset} ({args.limit} pieces)")
        print("step  val_loss  " + "  ".join(f"{h:>13}" for h in SHOWN.values()))
        for entry in shape.history:
            step = int(entry["step"])
            key = f"curvebench/noise-at-5s/embedded:{dataset}"
            cells = [entry.get(f"{key}/{m}") for m in SHOWN]
            text = "  ".join(f"{'-':>13}" if v is None else f"{v:13.3f}" for v in cells)
            val_loss = losses.by_step.get(step)
            print(f"{step:>4}  {'-' if val_loss is None else f'{val_loss:8.3f}'}  {text}")


if __name__ == "__main__":
    main()
