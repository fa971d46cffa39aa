"""Build the embedded audio reference model (``audio-reference``), in two stages.

Stage 1 (needs FluidSynth): render pieces of the embedded corpus (the first ``seconds`` of
each), fit the codec's codebooks (:mod:`curvebench.training.audio_codec`) and write the codec
and every piece's codes to one ``.npz``. Stage 2 (no FluidSynth; a GPU helps): train the
MusicGen decoder on those codes with Lightning (:mod:`curvebench.training.audio_lm`) and save
the whole model as a transformers MusicGen folder with its MODEL_CARD.md and training.json.

``curvebench train-audio-reference --out DIR`` runs both (:mod:`curvebench.training.cli`);
``--codes-only`` stops after stage 1 (the ``.npz`` goes to DIR/codes.npz), ``--from-codes FILE``
starts at stage 2.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import EncodecConfig, EncodecModel

from curvebench.data.render import DEFAULT_RENDER, render_midi
from curvebench.data.sources import embedded_split
from curvebench.errors import ConfigError, CurvebenchError
from curvebench.training import audio_codec as codec_lib
from curvebench.training.audio_lm import (
    AudioLM,
    AudioLMRecipe,
    CodeRows,
    build_musicgen,
    code_rows,
    mean_code_loss,
)
from curvebench.training.audio_model_card import write_model_card

log = logging.getLogger(__name__)

FIT_FRAMES = 120_000
"""Encoder frames (sampled from the training pieces) the codebooks are fitted on."""


def rendered_pieces(split: str, n: int, seconds: float, seed: int) -> list[tuple[str, np.ndarray]]:
    """(id, audio) of ``n`` pieces of an embedded split drawn in a seeded order, rendered at
    32 kHz and cut to their first ``seconds``; pieces that fail to render are skipped."""
    rows = embedded_split(split)
    order = np.random.default_rng(seed).permutation(len(rows))[:n]
    out = []
    for i in order:
        row = rows[int(i)]
        try:
            wave = render_midi(row["midi"], sr=codec_lib.SAMPLING_RATE, name=row["id"])
        except CurvebenchError as exc:
            log.warning("skipping %s: %s", row["id"], exc)
            continue
        out.append((row["id"], wave[: round(seconds * codec_lib.SAMPLING_RATE)]))
    return out


def build_codes(
    out: Path, pieces: int = 400, val_pieces: int = 60, seconds: float = 15.0, seed: int = 0
) -> dict:
    """Stage 1: render, fit the codec, write codec and codes to ``out`` (.npz); returns facts."""
    started = time.time()
    codec = codec_lib.random_codec(seed)
    splits = {"train": pieces, "validation": val_pieces}
    frames = {}
    for split, n in splits.items():
        audio = rendered_pieces(split, n, seconds, seed)
        frames[split] = [(pid, codec_lib.embed_audio(codec, w), w) for pid, w in audio]
        log.info("%s: %d pieces rendered and embedded", split, len(frames[split]))
    pool = torch.cat([f for _, f, _ in frames["train"]])
    pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:FIT_FRAMES]
    variance_left = codec_lib.fit_codebooks(codec, pool[pick], seed=seed)
    arrays: dict[str, np.ndarray] = {}
    for split, items in frames.items():
        codes = [codec_lib.encode_frames(codec, f) for _, f, _ in items]
        arrays[f"{split}_codes"] = np.concatenate(codes, axis=1)
        arrays[f"{split}_ends"] = np.cumsum([c.shape[1] for c in codes])
        arrays[f"{split}_ids"] = np.array([pid for pid, _, _ in items])
    snr = [codec_lib.reconstruction_snr(codec, w) for _, _, w in frames["validation"][:8]]
    facts = {
        "seed": seed,
        "seconds_per_piece": seconds,
        "train_pieces": len(frames["train"]),
        "train_frames": int(arrays["train_codes"].shape[1]),
        "validation_pieces": len(frames["validation"]),
        "validation_frames": int(arrays["validation_codes"].shape[1]),
        "fit_frames": len(pick),
        "residual_variance_left": [round(x, 5) for x in variance_left],
        "codebook_perplexity_validation": [
            round(x, 1) for x in codec_lib.codebook_perplexity(arrays["validation_codes"])
        ],
        "reconstruction_snr_db": round(float(np.mean(snr)), 2),
        "render": asdict(DEFAULT_RENDER),
        "stage1_seconds": round(time.time() - started, 1),
    }
    for name, tensor in codec.state_dict().items():
        arrays[f"codec/{name}"] = tensor.numpy()
    arrays["codec_config"] = np.array(codec.config.to_json_string())
    arrays["facts"] = np.array(json.dumps(facts))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return facts


def load_codes(path: Path) -> tuple[EncodecModel, dict[str, list[np.ndarray]], dict]:
    """The codec, each split's per-piece codes and stage 1's facts from a stage-1 ``.npz``."""
    try:
        data = np.load(path)
        config = EncodecConfig(**json.loads(str(data["codec_config"])))
        state = {k[6:]: torch.as_tensor(data[k]) for k in data.files if k.startswith("codec/")}
        splits = {
            s: np.split(data[f"{s}_codes"], data[f"{s}_ends"][:-1], axis=1)
            for s in ("train", "validation")
        }
        facts = json.loads(str(data["facts"]))
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(
            f"{path}: not a stage-1 codes file of train-audio-reference ({exc})"
        ) from exc
    codec = EncodecModel(config).eval()
    codec.load_state_dict(state)
    return codec, splits, facts


def train_lm(
    codes_file: Path,
    out: Path,
    recipe: AudioLMRecipe,
    device: str = "cpu",
    max_minutes: float | None = None,
    seed: int = 0,
) -> dict:
    """Stage 2: train the decoder on a stage-1 file, save the MusicGen folder; returns facts."""
    started = time.time()
    L.seed_everything(seed, workers=True)
    codec, splits, facts = load_codes(codes_file)
    model = build_musicgen(codec.config, recipe)
    model.audio_encoder.load_state_dict(codec.state_dict())
    train_rows = code_rows(splits["train"], recipe.frames)
    val_rows = code_rows(splits["validation"], recipe.frames)
    lm = AudioLM(model, recipe)
    accelerator = {"cpu": "cpu", "cuda": "gpu"}[device]
    trainer = L.Trainer(
        max_steps=recipe.max_steps,
        max_time={"minutes": max_minutes} if max_minutes else None,
        accelerator=accelerator,
        devices=1,
        precision="bf16-mixed" if accelerator == "gpu" else "32-true",
        logger=False,
        enable_checkpointing=False,
        val_check_interval=min(200, recipe.max_steps),
        check_val_every_n_epoch=None,
        limit_val_batches=4,
        gradient_clip_val=1.0,
    )
    trainer.fit(
        lm,
        DataLoader(CodeRows(*train_rows), batch_size=recipe.batch_size, shuffle=True),
        DataLoader(CodeRows(*val_rows), batch_size=8),
    )
    model = lm.model.float().cpu().eval()
    val_loss, val_codes = mean_code_loss(model, *val_rows)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    facts = {
        **facts,
        "recipe": asdict(recipe),
        "steps_done": int(trainer.global_step),
        "decoder_parameters": sum(p.numel() for p in model.decoder.parameters()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "validation_loss_nats_per_code": round(val_loss, 4),
        "validation_codes": val_codes,
        "uniform_loss_nats": round(float(np.log(codec_lib.CODEBOOK_SIZE)), 4),
        "stage2_device": device,
        "stage2_torch_threads": torch.get_num_threads(),
        "stage2_seconds": round(time.time() - started, 1),
        "torch": torch.__version__,
    }
    (out / "training.json").write_text(json.dumps(facts, indent=2) + "\n")
    write_model_card(out, facts)
    return facts
