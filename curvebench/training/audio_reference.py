"""Build the embedded audio reference model (``audio-reference``), in three stages.

- ``codec`` (needs FluidSynth): render the first ``seconds`` of pieces of the embedded
  corpus and train the codec on them (:mod:`curvebench.training.codec_train`); saved to
  OUT/codec as an ``EncodecModel`` folder.
- ``codes`` (needs FluidSynth): encode the renders with the trained codec; OUT/codes.npz.
- ``lm`` (no FluidSynth; a GPU helps): train the MusicGen decoder on those codes with
  Lightning (:mod:`curvebench.training.audio_lm`), save the whole model as a transformers
  MusicGen folder (OUT/model) and score the model's own samples for its MODEL_CARD.md and
  training.json.

``curvebench train-audio-reference --out OUT`` runs them (:mod:`curvebench.training.cli`);
the training stages checkpoint to OUT and resume from there after an interruption.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import EncodecConfig, EncodecModel

from curvebench.data.render import DEFAULT_RENDER, render_midi
from curvebench.data.sources import embedded_split
from curvebench.errors import ConfigError, CurvebenchError
from curvebench.training import audio_codec as codec_lib
from curvebench.training import codec_train
from curvebench.training.audio_lm import (
    AudioLM,
    AudioLMRecipe,
    CodeRows,
    build_musicgen,
    code_rows,
    mean_code_loss,
)
from curvebench.training.audio_model_card import write_model_card
from curvebench.training.codec_train import CodecRecipe

log = logging.getLogger(__name__)


def rendered_pieces(split: str, n: int, seconds: float, seed: int) -> list[tuple[str, np.ndarray]]:
    """(id, audio) of ``n`` pieces of an embedded split drawn in a seeded order, rendered at
    32 kHz and cut to their first ``seconds``; pieces that fail to render are skipped."""
    rows = embedded_split(split)
    order = np.random.default_rng(seed).permutation(len(rows))[:n]
    out = []
    for i in tqdm(order, desc=f"rendering {split}", unit="piece", disable=not _bar()):
        row = rows[int(i)]
        try:
            wave = render_midi(row["midi"], sr=codec_lib.SAMPLING_RATE, name=row["id"])
        except CurvebenchError as exc:
            log.warning("skipping %s: %s", row["id"], exc)
            continue
        out.append((row["id"], wave[: round(seconds * codec_lib.SAMPLING_RATE)]))
    return out


def _bar() -> bool:
    return sys.stderr.isatty()


def _trainer(
    folder: Path, max_steps: int, device: str, max_minutes: float | None, val_every: int
) -> tuple[L.Trainer, str | None]:
    """A Trainer that checkpoints to ``folder`` every 100 steps (and the stage saves one when
    it stops), and the checkpoint to resume from when an earlier run of the stage left one."""
    accelerator = {"cpu": "cpu", "cuda": "gpu"}[device]
    checkpoint = ModelCheckpoint(
        dirpath=folder,
        filename="last",
        every_n_train_steps=100,
        save_top_k=1,
        enable_version_counter=False,
    )
    trainer = L.Trainer(
        max_steps=max_steps,
        max_time={"minutes": max_minutes} if max_minutes else None,
        accelerator=accelerator,
        devices=1,
        precision="bf16-mixed" if accelerator == "gpu" else "32-true",
        logger=False,
        callbacks=[checkpoint],
        val_check_interval=min(val_every, max_steps),
        check_val_every_n_epoch=None,
        limit_val_batches=4,
        gradient_clip_val=1.0,
        enable_progress_bar=_bar(),
        enable_model_summary=False,
    )
    last = folder / "last.ckpt"
    return trainer, str(last) if last.is_file() else None


def train_codec(
    out: Path,
    recipe: CodecRecipe,
    pieces: int = 400,
    val_pieces: int = 60,
    seconds: float = 15.0,
    device: str = "cpu",
    max_minutes: float | None = None,
    seed: int = 0,
) -> dict:
    """Stage ``codec``: train the codec on renders of ``pieces`` training pieces and save it
    to ``out``/codec (an ``EncodecModel`` folder with its facts in ``facts.json``); resumes
    from ``out``/codec-checkpoints after an interruption. Returns the facts."""
    started = time.time()
    L.seed_everything(seed, workers=True)
    train = [w for _, w in rendered_pieces("train", pieces, seconds, seed)]
    val = [w for _, w in rendered_pieces("validation", val_pieces, seconds, seed)]
    codec = codec_train.new_codec(recipe, seed)
    codec_train.seed_codebooks(codec, train[:20], recipe.gain, seed)
    module = codec_train.CodecModule(codec, recipe)
    steps = _fit_codec(
        module, out / "codec-checkpoints", recipe.max_steps, train, val, device, max_minutes, seed
    )
    codec = module.codec.float().cpu()
    tuned = tune_decoder(codec, train, val, recipe, out, device, max_minutes, seed)
    codec = codec.eval()
    codec_train.fold_gain(codec, recipe.gain)
    facts = {
        "codec_recipe": asdict(recipe),
        "codec_steps_done": steps,
        "decoder_tune_steps_done": tuned,
        "codec_parameters": sum(p.numel() for p in codec.parameters()),
        **codec_facts(codec, val[:16]),
        "codec_device": device,
        "codec_max_minutes": max_minutes,
        "codec_seconds": round(time.time() - started, 1),
    }
    folder = out / "codec"
    codec.save_pretrained(folder, safe_serialization=True)
    (folder / "facts.json").write_text(json.dumps(facts, indent=2) + "\n")
    return facts


def tune_decoder(
    codec: EncodecModel,
    train: list[np.ndarray],
    val: list[np.ndarray],
    recipe: CodecRecipe,
    out: Path,
    device: str = "cpu",
    max_minutes: float | None = None,
    seed: int = 0,
) -> int:
    """The codec stage's second phase (in place, on a codec not yet gain-folded): the decoder
    alone, for ``recipe.tune_steps``, so that decoded audio encodes back to its codes; resumes
    from ``out``/codec-tune-checkpoints. Returns the steps done."""
    if recipe.tune_steps <= 0:
        return 0
    module = codec_train.CodecModule(codec, recipe, decoder_only=True)
    folder = out / "codec-tune-checkpoints"
    steps = _fit_codec(module, folder, recipe.tune_steps, train, val, device, max_minutes, seed + 2)
    codec.requires_grad_(True)
    return steps


def _fit_codec(
    module: codec_train.CodecModule,
    folder: Path,
    steps: int,
    train: list[np.ndarray],
    val: list[np.ndarray],
    device: str,
    max_minutes: float | None,
    seed: int,
    sampled: np.ndarray | None = None,
) -> int:
    """One phase of the codec stage: ``steps`` steps on seeded crops of ``train`` (resumed
    from ``folder`` when an earlier run left a checkpoint there, which it saves on stopping),
    each paired with a crop of the ``sampled`` codes when given; returns the steps done."""
    recipe = module.recipe
    trainer, resume = _trainer(folder, steps, device, max_minutes, 500)
    if resume:
        _check_resumable(module, Path(resume))
    crops = codec_train.Crops(train, recipe.segment, steps * recipe.batch_size, seed)
    val_crops = codec_train.Crops(val, recipe.segment, 64, seed + 1)
    if sampled is not None:
        frames = round(recipe.segment * codec_lib.FRAME_RATE)
        crops = codec_train.OwnCrops(crops, sampled, frames, seed + 3)
        val_crops = codec_train.OwnCrops(val_crops, sampled, frames, seed + 4)
    trainer.fit(
        module,
        DataLoader(crops, batch_size=recipe.batch_size),
        DataLoader(val_crops, batch_size=16),
        ckpt_path=resume,
    )
    trainer.save_checkpoint(folder / "last.ckpt")  # a later run goes on from here
    return int(trainer.global_step)


def _check_resumable(module: L.LightningModule, checkpoint: Path) -> None:
    """Refuse, in one line, a checkpoint of a codec of another size than the one asked for
    (another ``--filters`` or ``--lstm-layers`` on the same OUT), rather than a page of
    size mismatches."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]

    def shapes(state: dict) -> dict:
        return {k: tuple(v.shape) for k, v in state.items()}

    if shapes(saved) != shapes(module.state_dict()):
        raise ConfigError(
            f"{checkpoint}: a checkpoint of a codec of another size than this run's "
            f"(filters {module.recipe.filters}, LSTM layers {module.recipe.lstm_layers}); "
            "give the options it was started with, or another --out"
        )


def codec_facts(codec: EncodecModel, waves: list[np.ndarray]) -> dict:
    """What the model card reports of a codec, measured on validation renders: SNR and
    multi-scale log-mel distance of its reconstructions, codebook perplexity, and the
    fraction of codes that survive decode → encode (each codebook)."""
    mel, snr = codec_train.mel_distance_and_snr(codec, waves)
    codes, kept = [], []
    for w in waves:
        c = torch.as_tensor(encode_frames(codec, w)).long()
        codes.append(c.numpy())
        kept.append(codec_train.round_trip(codec, c).numpy())
    return {
        "reconstruction_snr_db": round(snr, 2),
        "mel_distance": round(mel, 4),
        "codebook_perplexity_validation": [
            round(x, 1) for x in codec_lib.codebook_perplexity(np.concatenate(codes, axis=1))
        ],
        "codes_surviving_round_trip": [round(float(x), 4) for x in np.mean(kept, axis=0)],
    }


def load_codec(out: Path) -> EncodecModel:
    """The codec stage ``codec`` saved under ``out``."""
    folder = out / "codec"
    if not (folder / "facts.json").is_file():
        raise ConfigError(
            f"{folder}: no trained codec; run `curvebench train-audio-reference --out {out} "
            "--stage codec` first"
        )
    return EncodecModel.from_pretrained(folder).eval()


def build_codes(
    out: Path, pieces: int = 400, val_pieces: int = 60, seconds: float = 15.0, seed: int = 0
) -> dict:
    """Stage ``codes``: encode renders of the training and validation pieces with the trained
    codec, and write codec and codes to ``out``/codes.npz; returns the facts so far."""
    started = time.time()
    codec = load_codec(out)
    facts = json.loads((out / "codec" / "facts.json").read_text())
    arrays: dict[str, np.ndarray] = {}
    counts = {}
    for split, n in {"train": pieces, "validation": val_pieces, "ood": val_pieces}.items():
        audio = rendered_pieces(split, n, seconds, seed)
        if not audio:
            counts[split] = (0, 0)
            continue
        codes = [
            encode_frames(codec, w)
            for _, w in tqdm(audio, desc=f"encoding {split}", unit="piece", disable=not _bar())
        ]
        arrays[f"{split}_codes"] = np.concatenate(codes, axis=1)
        arrays[f"{split}_ends"] = np.cumsum([c.shape[1] for c in codes])
        arrays[f"{split}_ids"] = np.array([pid for pid, _ in audio])
        counts[split] = (len(audio), int(arrays[f"{split}_codes"].shape[1]))
    facts = {
        "seed": seed,
        "seconds_per_piece": seconds,
        "train_pieces": counts["train"][0],
        "train_frames": counts["train"][1],
        "validation_pieces": counts["validation"][0],
        "validation_frames": counts["validation"][1],
        "ood_pieces": counts["ood"][0],
        **facts,
        "render": asdict(DEFAULT_RENDER),
        "codes_seconds": round(time.time() - started, 1),
    }
    for name, tensor in codec.state_dict().items():
        arrays[f"codec/{name}"] = tensor.numpy()
    arrays["codec_config"] = np.array(codec.config.to_json_string())
    arrays["facts"] = np.array(json.dumps(facts))
    np.savez_compressed(out / "codes.npz", **arrays)
    return facts


@torch.no_grad()
def encode_frames(codec: EncodecModel, wave: np.ndarray) -> np.ndarray:
    """Codes [K, T] (int16) of mono audio, as ``EncodecModel.encode`` gives them."""
    values = torch.as_tensor(np.asarray(wave, dtype=np.float32))[None, None]
    codes = codec.encode(values, bandwidth=codec_lib.BANDWIDTH).audio_codes[0, 0]
    return codes.numpy().astype(np.int16)


def load_codes(path: Path) -> tuple[EncodecModel, dict[str, list[np.ndarray]], dict]:
    """The codec, each split's per-piece codes and stage 1's facts from a stage-1 ``.npz``."""
    try:
        data = np.load(path)
        config = EncodecConfig(**json.loads(str(data["codec_config"])))
        state = {k[6:]: torch.as_tensor(data[k]) for k in data.files if k.startswith("codec/")}
        splits = {
            s: np.split(data[f"{s}_codes"], data[f"{s}_ends"][:-1], axis=1)
            for s in ("train", "validation", "ood")
            if f"{s}_codes" in data.files
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
    out: Path,
    recipe: AudioLMRecipe,
    device: str = "cpu",
    max_minutes: float | None = None,
    seed: int = 0,
) -> dict:
    """Stage ``lm``: train the decoder on ``out``/codes.npz (resuming from
    ``out``/lm-checkpoints after an interruption), save the MusicGen folder to ``out``/model
    with its training.json and MODEL_CARD.md; returns the facts."""
    started = time.time()
    L.seed_everything(seed, workers=True)
    codes_file = out / "codes.npz"
    if not codes_file.is_file():
        raise ConfigError(
            f"{codes_file}: no codes; run `curvebench train-audio-reference --out {out} "
            "--stage codes` first"
        )
    codec, splits, facts = load_codes(codes_file)
    model = build_musicgen(codec.config, recipe)
    model.audio_encoder.load_state_dict(codec.state_dict())
    train_rows = code_rows(splits["train"], recipe.frames)
    val_rows = code_rows(splits["validation"], recipe.frames)
    lm = AudioLM(model, recipe)
    trainer, resume = _trainer(out / "lm-checkpoints", recipe.max_steps, device, max_minutes, 200)
    trainer.fit(
        lm,
        DataLoader(CodeRows(*train_rows), batch_size=recipe.batch_size, shuffle=True),
        DataLoader(CodeRows(*val_rows), batch_size=8),
        ckpt_path=resume,
    )
    trainer.save_checkpoint(out / "lm-checkpoints" / "last.ckpt")
    model = lm.model.float().cpu().eval()
    val_loss, val_codes = mean_code_loss(model, *val_rows)
    ood_loss, ood_codes = 0.0, 0
    if splits.get("ood"):  # pieces that render at all (a few classical tempo maps do not)
        ood_loss, ood_codes = mean_code_loss(model, *code_rows(splits["ood"], recipe.frames))
    pick = torch.randperm(len(train_rows[0]), generator=torch.Generator().manual_seed(seed))[:64]
    train_loss, _ = mean_code_loss(model, train_rows[0][pick], train_rows[1][pick])
    folder = out / "model"
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    facts = {
        **facts,
        "recipe": asdict(recipe),
        "steps_done": int(trainer.global_step),
        "decoder_parameters": sum(p.numel() for p in model.decoder.parameters()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_loss_nats_per_code": round(train_loss, 4),
        "validation_loss_nats_per_code": round(val_loss, 4),
        "validation_codes": val_codes,
        "ood_loss_nats_per_code": round(ood_loss, 4) if ood_codes else None,
        "ood_codes": ood_codes,
        "uniform_loss_nats": round(float(np.log(codec_lib.CODEBOOK_SIZE)), 4),
        "lm_device": device,
        "lm_seconds": round(time.time() - started, 1),
        "torch": torch.__version__,
    }
    facts.update(own_samples(model, seed=seed))
    (folder / "training.json").write_text(json.dumps(facts, indent=2) + "\n")
    write_model_card(folder, facts)
    return facts


def tune_on_own_samples(
    out: Path,
    recipe: CodecRecipe,
    pieces: int = 400,
    val_pieces: int = 60,
    seconds: float = 15.0,
    device: str = "cpu",
    max_minutes: float | None = None,
    seed: int = 0,
    clips: int | None = None,
) -> dict:
    """Stage ``own``: the decoder of OUT/model's codec tuned so that the model's own samples
    survive decode → encode (``CodecRecipe.own_steps``; resumes from OUT/own-checkpoints).
    The encoder and codebooks do not move, so every code of real audio, and the decoder LM
    trained on them, stay what they were. The training samples are drawn with seeds of their
    own, never the ones the card scores. Saves the model with the tuned codec, and its facts
    and card, measured again."""
    folder = out / "model"
    facts_file = folder / "training.json"
    if not facts_file.is_file():
        raise ConfigError(f"{folder}: no trained model; run the lm stage first")
    started = time.time()
    L.seed_everything(seed, workers=True)
    from transformers import MusicgenForConditionalGeneration

    model = MusicgenForConditionalGeneration.from_pretrained(folder).eval()
    facts = json.loads(facts_file.read_text())
    sampled = own_codes(model, clips or OWN_TUNE_CLIPS, seconds, seed + OWN_TUNE_SEED)
    train = [w for _, w in rendered_pieces("train", pieces, seconds, seed)]
    val = [w for _, w in rendered_pieces("validation", val_pieces, seconds, seed)]
    codec = EncodecModel(model.audio_encoder.config)
    codec.load_state_dict(model.audio_encoder.state_dict())
    codec_train.fold_gain(codec, 1 / recipe.gain)  # back to the scale it trained at
    module = codec_train.CodecModule(codec, recipe, own=True)
    steps = _fit_codec(
        module,
        out / "own-checkpoints",
        recipe.own_steps,
        train,
        val,
        device,
        max_minutes,
        seed + 5,
        sampled,
    )
    codec = module.codec.float().cpu().eval()
    codec_train.fold_gain(codec, recipe.gain)
    model.audio_encoder.load_state_dict(codec.state_dict())
    model.save_pretrained(folder, safe_serialization=True)
    facts.update(codec_facts(codec, val[:16]))
    facts.update(
        {
            "own_recipe": {
                k: getattr(recipe, k)
                for k in ("own_steps", "own_weight", "own_consistency_weight", "tune_lr")
            },
            "own_steps_done": steps,
            "own_tune_clips": len(sampled),
            "own_tune_top_k": list(OWN_TUNE_TOP_K),
            "own_seconds": round(time.time() - started, 1),
        }
    )
    facts.update(own_samples(model, seconds, seed))
    facts_file.write_text(json.dumps(facts, indent=2) + "\n")
    write_model_card(folder, facts)
    return facts


OWN_TUNE_CLIPS, OWN_TUNE_TOP_K, OWN_TUNE_SEED = 32, (50, 250), 1000
"""The ``own`` stage's training samples: 32 clips, half at each of two top-k, drawn with seeds
from 1000 on (the card's are drawn with the run's seed)."""


@torch.no_grad()
def own_codes(model, clips: int, seconds: float, seed: int) -> np.ndarray:
    """Codes [clips, K, frames] the model samples under the null condition, split evenly over
    ``OWN_TUNE_TOP_K`` (at least one each), in batches of up to ``OWN_SAMPLES`` with seeds
    from ``seed`` on."""
    from curvebench.adapters.musicgen import sample_with_codes

    frames = round(seconds * codec_lib.FRAME_RATE)
    out = []
    per_k = max(1, clips // len(OWN_TUNE_TOP_K))
    bar = tqdm(total=clips, desc="sampling own codes", unit="clip", disable=not _bar())
    for top_k in OWN_TUNE_TOP_K:
        for start in range(0, per_k, OWN_SAMPLES):
            torch.manual_seed(seed + top_k * 1000 + start)
            n = min(OWN_SAMPLES, per_k - start)
            _, drawn = sample_with_codes(
                model,
                **{**dict(model.get_unconditional_inputs(n)), "guidance_scale": 1.0},
                do_sample=True,
                top_k=top_k,
                max_new_tokens=frames + model.decoder.config.num_codebooks - 1,
            )
            out += [d.numpy()[:, :frames] for d in drawn]
            bar.update(len(drawn))
    bar.close()
    return np.stack(out).astype(np.int64)


OWN_SAMPLES, OWN_TOP_K = 8, (10, 50, 250)
"""Samples the card scores the model on: 8 clips of 15 s at each top-k of the tasks'
generated role (10, 50 and 250, MusicGen's default)."""


@torch.no_grad()
def own_samples(model, seconds: float = 15.0, seed: int = 0) -> dict:
    """The model's own music, heard as the benchmark hears it: ``OWN_SAMPLES`` clips sampled
    at each top-k under the null condition, decoded to audio, encoded again and scored.
    Returns, for each k, their mean loss (nats per code) and the fraction of the sampled codes
    the decode → encode round trip keeps (each codebook)."""
    from curvebench.adapters.musicgen import codes_kept_per_codebook, sample_with_codes

    frames = round(seconds * codec_lib.FRAME_RATE)
    out = {}
    for top_k in OWN_TOP_K:
        torch.manual_seed(seed)
        audio, sampled = sample_with_codes(
            model,
            **{**dict(model.get_unconditional_inputs(OWN_SAMPLES)), "guidance_scale": 1.0},
            do_sample=True,
            top_k=top_k,
            max_new_tokens=frames + model.decoder.config.num_codebooks - 1,
        )
        rows, kept = [], []
        for wave, drawn in zip(audio, sampled, strict=True):
            codes = encode_frames(model.audio_encoder, wave[0].float().numpy()).astype(np.int64)
            kept.append(codes_kept_per_codebook(codes, drawn.numpy(), frames))
            rows.append(codes[:, :frames])
        t = min(r.shape[-1] for r in rows)
        loss, _ = mean_code_loss(
            model,
            torch.as_tensor(np.stack([r[:, :t] for r in rows])),
            torch.ones(len(rows), t, dtype=torch.bool),
        )
        out[str(top_k)] = {
            "loss_nats_per_code": round(loss, 4),
            "codes_surviving_round_trip": [round(float(x), 4) for x in np.mean(kept, axis=0)],
        }
    return {"own_samples": OWN_SAMPLES, "own_samples_by_top_k": out}
