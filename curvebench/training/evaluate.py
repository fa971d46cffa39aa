"""Stage 3 of reference training: a saved model scored as curvebench scores (whole pieces,
BOS first, rolling windows) on the validation and ood splits, overall and by token type, and
the facts written into its training.json and MODEL_CARD.md.

The validation split is also scored augmented (each piece's first augmented copy, drawn as the
training copies are): the corpus writes one velocity for almost every note, so on validation as
written a Velocity token costs almost nothing, and a ratio of ood to validation cost by token
type would measure that, not how well the model covers the encoding."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from curvebench.adapters.corpus_tokens import tokenize_split
from curvebench.adapters.hf_causal import HFCausalAdapter
from curvebench.adapters.midi_tokens import token_types
from curvebench.benchmark.scoring import score_sequences
from curvebench.errors import ConfigError
from curvebench.metrics.token_types import TypeTotals, loss_by_type, target_types, type_vocab
from curvebench.training.augment import Augmentation
from curvebench.training.model_card import write_model_card
from curvebench.training.tokenize_corpus import augmented_split

log = logging.getLogger(__name__)

EVAL_SPLITS = ("validation", "validation_augmented", "ood")
"""The splits a reference model is scored on: validation as written and augmented, and ood."""


def split_sequences(split: str, aug: Augmentation, seed: int) -> list[np.ndarray]:
    """Token ids of an evaluation split (one of ``EVAL_SPLITS``)."""
    if split == "validation_augmented":
        return augmented_split("validation", range(1, 2), aug, seed)[0]
    return tokenize_split(split)


def split_loss(adapter: HFCausalAdapter, split: str, batch_size: int = 32) -> TypeTotals:
    """Sum and count of the losses of every token of an embedded split, by token type."""
    return sequence_loss(adapter, tokenize_split(split), batch_size)


def sequence_loss(
    adapter: HFCausalAdapter, sequences: list[np.ndarray], batch_size: int = 32
) -> TypeTotals:
    """Sum and count of the losses of every token of ``sequences``, by token type."""
    id_types = token_types(adapter.tokenizer)
    totals: dict[str, list[float]] = {}
    scored = score_sequences(adapter, sequences, batch_size=batch_size)
    for seq, losses in zip(sequences, scored, strict=True):
        for name, (nats, count) in loss_by_type(losses, target_types(seq, id_types)).items():
            entry = totals.setdefault(name, [0.0, 0])
            entry[0] += nats
            entry[1] += count
    return {name: (nats, int(count)) for name, (nats, count) in totals.items()}


def validation_loss(folder: Path) -> tuple[float, int]:
    """Token-weighted mean loss (nats) of a saved model over every validation piece, scored as
    curvebench scores (BOS first, whole piece, rolling windows), and the number of tokens."""
    totals = split_loss(HFCausalAdapter(str(folder)), "validation")
    nats = sum(t[0] for t in totals.values())
    tokens = sum(t[1] for t in totals.values())
    return nats / tokens, tokens


def evaluate_reference(folder: Path) -> dict:
    """Score the model in ``folder`` on the validation and ood splits and add the facts to its
    training.json and MODEL_CARD.md; returns the updated facts."""
    facts_file = folder / "training.json"
    if not facts_file.is_file():
        raise ConfigError(f"{folder}: no training.json; train it with `curvebench train-reference`")
    facts = json.loads(facts_file.read_text())
    adapter = HFCausalAdapter(str(folder))
    facts["log_vocab_nats"] = round(math.log(len(adapter.tokenizer)), 4)
    aug = Augmentation(**{k: _tuple(v) for k, v in (facts.get("augmentation") or {}).items()})
    by_type = {}
    for split in EVAL_SPLITS:
        totals = sequence_loss(adapter, split_sequences(split, aug, int(facts.get("seed", 0))))
        nats = sum(t[0] for t in totals.values())
        tokens = sum(t[1] for t in totals.values())
        facts[f"{split}_loss_nats"] = round(nats / tokens, 4)
        facts[f"{split}_tokens"] = tokens
        by_type[split] = {
            name: {"nats": round(total / count, 4), "tokens": count}
            for name, (total, count) in sorted(totals.items())
        }
        log.info("%s: %.4f nats/token over %d tokens", split, nats / tokens, tokens)
    facts["loss_by_type"] = by_type
    facts["type_vocab"] = type_vocab(adapter.token_type_names())
    for split in ("validation", "validation_augmented"):
        facts[f"ood_over_{split}_by_type"] = {
            name: round(entry["nats"] / by_type[split][name]["nats"], 3)
            for name, entry in by_type["ood"].items()
            if name in by_type[split] and by_type[split][name]["nats"] > 0
        }
    facts_file.write_text(json.dumps(facts, indent=2) + "\n")
    write_model_card(folder, facts)
    return facts


def _tuple(value: object) -> object:
    """A JSON list back as the tuple the Augmentation field holds."""
    return tuple(value) if isinstance(value, list) else value
