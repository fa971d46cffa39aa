"""The MODEL_CARD.md of a reference model, written from its training.json facts."""

from __future__ import annotations

from pathlib import Path

from curvebench.metrics.token_types import uniform_level

AUGMENTATION_TEXT = """\
Augmentation (stage 1, on the symusic Score before tokenizing; each training piece is kept as
written and followed by {copies} augmented copies, every draw seeded by (seed, piece id, copy),
see `curvebench/training/augment.py`). The corpus has one velocity (music21 writes 90 for 98.5%
of its notes), about ten tempos and note lengths equal to their written values, so a model
trained on it alone has never seen most Velocity, Tempo and Duration tokens of its tokenizer.

- transposition: -{transpose} to +{transpose} semitones, only to shifts that keep every pitch in
  the piano range (miditok's `augment_score(pitch_offset=...)`);
- dynamics: a piece-level velocity drawn uniformly over the tokenizer's range (7 to 127), a
  level per section of 4, 8 or 16 beats around it (sd {velocity_section_sd}), as dynamic
  markings change a piece's level, and a per-note jitter (sd {velocity_note_sd});
- note values: the piece written in halved or doubled note values (factors
  {note_value_scales}, one per copy), the tempo changed with it so that it sounds the same.
  REMI durations and positions count beats, so this, not a tempo change, is what moves the
  Duration and Position tokens (eighth-note tunes gain sixteenths, chorales half notes);
- articulation: every note's length times a piece-level factor from {art_low} (staccato) to
  {art_high} (legato), times a per-note log-normal jitter (sd {articulation_note_sd}); onsets
  are unchanged, so durations differ from the gap to the next note, as in played music;
- tempo: the tempo map times a factor drawn log-uniformly in [{tempo_low}, {tempo_high}],
  clipped to the tokenizer's tempo range (40 to 250 BPM).
"""


def _augmentation(facts: dict) -> str:
    aug = facts.get("augmentation")
    if not aug:
        return "No augmentation.\n"
    return AUGMENTATION_TEXT.format(
        **aug,
        art_low=aug["articulation"][0],
        art_high=aug["articulation"][1],
        tempo_low=aug["tempo_factor"][0],
        tempo_high=aug["tempo_factor"][1],
    )


SPLIT_LABELS = {
    "validation": "validation",
    "validation_augmented": "validation, augmented",
    "ood": "ood",
}
"""Each evaluation split's label in the card."""


def _evaluation(facts: dict) -> str:
    if "ood_loss_nats" not in facts:
        return (
            "Not evaluated yet: run `curvebench train-reference --evaluate-only DIR` to score "
            "it on the validation and ood splits.\n"
        )
    by_type = facts["loss_by_type"]
    splits = [s for s in SPLIT_LABELS if s in by_type]
    lines = [
        "Measured by curvebench scoring (whole pieces, BOS first, rolling windows; mean nats "
        f"per token), against a uniform guess over the vocabulary, log(vocab) = "
        f"{facts['log_vocab_nats']} nats. *validation, augmented*: each validation piece's "
        "first augmented copy, drawn as the training copies are (the corpus writes velocity 90 "
        "for almost every note, so on validation as written a Velocity token costs almost "
        "nothing and a ratio to it measures that, not the model's coverage of the encoding):",
        "",
        "| split | loss (nats/token) | tokens |",
        "|---|---|---|",
    ]
    lines += [
        f"| {SPLIT_LABELS[s]} | {facts[f'{s}_loss_nats']} | {facts[f'{s}_tokens']:,} |"
        for s in splits
    ]
    ratio_splits = [s for s in splits if s != "ood" and f"ood_over_{s}_by_type" in facts]
    vocab = facts.get("type_vocab") or {}
    lines += [
        "",
        "*uniform*: the loss of a model that knows a token's type and nothing else, log of the "
        "number of ids of that type; a type whose loss is near it is barely learnt.",
        "",
        "| token type | uniform | "
        + " | ".join(SPLIT_LABELS[s] for s in splits)
        + "".join(f" | ood / {SPLIT_LABELS[s]}" for s in ratio_splits)
        + " | ood tokens |",
        "|---|---|" + "---|" * (len(splits) + len(ratio_splits) + 1),
    ]
    for name in sorted(by_type["ood"], key=lambda n: -by_type["ood"][n]["tokens"]):
        cells = [f"{uniform_level(vocab[name]):.2f}" if name in vocab else "-"]
        cells += [str(by_type[s].get(name, {}).get("nats", "-")) for s in splits]
        cells += [str(facts[f"ood_over_{s}_by_type"].get(name, "-")) for s in ratio_splits]
        cells.append(f"{by_type['ood'][name]['tokens']:,}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_model_card(out: Path, facts: dict) -> None:
    """A Markdown model card from the training (and, when measured, evaluation) facts."""
    r = facts["recipe"]
    text = f"""# {facts["name"]}: curvebench's embedded reference model

A GPT-2 decoder over miditok REMI tokens, trained from scratch with Lightning on the training
split of curvebench's embedded corpus (Bach chorales and the essenFolksong, oneills1850 and
ryansMammoth folk collections of the music21 corpus, converted to MIDI), augmented.

| fact | value |
|---|---|
| parameters | {facts["parameters"]:,} |
| layers / width / heads | {r["n_layer"]} / {r["n_embd"]} / {r["n_head"]} |
| context | {r["context"]} tokens |
| training data | {facts["train_original_pieces"]} pieces, {facts["train_sequences"]} sequences \
with the augmented copies, {facts["train_tokens"]:,} tokens |
| steps x batch | {r["max_steps"]} x {r["batch_size"]} rows of {r["context"]} tokens |
| optimiser | AdamW, peak lr {r["lr"]}, {r["warmup"]} warm-up steps, cosine decay, bf16 |
| seed | {facts["seed"]} |
| training time | {facts["seconds"]} s on {facts["device"]} |

## Evaluation

{_evaluation(facts)}
## Training data

{_augmentation(facts)}
Tokenizer: `tokenizer.json` (REMI, piano range, 16 velocities, 16 tempos, tracks merged).

Reproduce: `curvebench train-reference --name {facts["name"]} --out DIR --max-steps \
{r["max_steps"]} --device {facts["device"].split(":")[0]}` (all stages), or in stages:
`--tokens-only` (tokenize, needs the full install), `--from-tokens FILE.npz --device cuda`
(train; needs only torch, Lightning, transformers, numpy), `--evaluate-only DIR` (score).
"""
    (out / "MODEL_CARD.md").write_text(text)
