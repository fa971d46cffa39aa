"""The audio reference's MODEL_CARD.md, written from its training facts."""

from __future__ import annotations

from pathlib import Path


def table(header: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    """A two-column Markdown table."""
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} |" for a, b in rows])


def write_model_card(out: Path, facts: dict) -> None:
    """Write ``out/MODEL_CARD.md`` from the facts ``train_lm`` gathered."""
    r = facts["recipe"]
    ppl = ", ".join(f"{x:g}" for x in facts["codebook_perplexity_validation"])
    left = ", ".join(f"{x:.4f}" for x in facts.get("residual_variance_left", [])) or "n/a"
    minutes = (facts["stage1_seconds"] + facts["stage2_seconds"]) / 60
    seconds, pieces = facts["seconds_per_piece"], facts["train_pieces"]
    codec_table = table(
        ("measure", "value"),
        [
            ("codebook usage: perplexity per codebook on validation codes (max 2048)", ppl),
            ("encoder-output variance left after codebooks 1..4 (fit frames)", left),
            (
                "reconstruction SNR (decoder untrained: the codes do not decode)",
                f"{facts['reconstruction_snr_db']} dB",
            ),
        ],
    )
    lm_table = table(
        ("fact", "value"),
        [
            (
                "training data",
                f"first {seconds:g} s of {pieces} pieces of the embedded training split "
                f"({facts['train_frames']:,} frames), {render_text(facts.get('render'))}",
            ),
            ("rows x batch", f"{r['frames']} frames x {r['batch_size']} rows"),
            (
                "steps",
                f"{facts['steps_done']} (AdamW, peak lr {r['lr']}, {r['warmup']} warm-up, cosine)",
            ),
            (
                "validation loss",
                f"**{facts['validation_loss_nats_per_code']} nats per code** vs uniform "
                f"log 2048 = {facts['uniform_loss_nats']}",
            ),
            (
                "validation data",
                f"first {seconds:g} s of {facts['validation_pieces']} pieces of the embedded "
                f"validation split ({facts['validation_codes']:,} codes)",
            ),
            (
                "training time",
                f"{facts['stage1_seconds']:.0f} s stage 1 (render, embed, k-means; CPU) + "
                f"{facts['stage2_seconds']:.0f} s stage 2 ({facts['stage2_device']}); "
                f"{minutes:.1f} min in all",
            ),
            ("seed", str(facts["seed"])),
        ],
    )
    text = f"""# audio-reference: curvebench's embedded audio model

A small model in transformers' MusicGen format (`MusicgenForConditionalGeneration`, loaded with
`from_pretrained` like `facebook/musicgen-small`), so the MusicGen adapter scores it:
`--model audio-reference` is `--model musicgen:path=<this folder>`. It exists so that the
paper's audio protocol (EnCodec codes at 32 kHz, 50 frames per second, 4 codebooks of 2048
entries, delay pattern, per-frame loss = mean over codebooks) runs end to end offline on a
small machine. It is not a good music model: compare curves, not its numbers with MusicGen's.

## Codec

EnCodec's architecture (`EncodecModel`, 32 kHz, upsampling ratios [8, 5, 4, 4], hop 640,
50 Hz, bandwidth 2.2 kbps = 4 codebooks of 2048 entries; hidden size 64, 8 filters, 2 LSTM
layers). Its weights are a fixed seeded random initialisation, not trained; its residual
codebooks were fitted by k-means on the encoder's outputs for {facts["fit_frames"]:,} frames of
rendered training audio: codebook 1 on the outputs, codebook 2 on what codebook 1 leaves, and
so on, the residual scheme `EncodecModel.encode` applies.

{codec_table}

## Language model

A MusicGen decoder ({r["layers"]} layers, width {r["hidden"]}, {r["heads"]} heads,
{facts["decoder_parameters"]:,} parameters; {facts["parameters"]:,} in the whole model with
the codec and a tiny unused T5 text encoder), trained from scratch with Lightning on the delay
pattern under MusicGen's null (unconditional) condition, with the loss the adapter scores.

{lm_table}

Text conditions other than null/none need a text tokenizer, which is not shipped.
The decoder is small and briefly trained ({facts["steps_done"]} steps on {facts["stage2_device"]}):
retraining stage 2 longer, on more pieces, on a GPU (`--device cuda`) lowers the loss.

## Reproduce

```
curvebench train-audio-reference --out DIR --pieces {pieces} --max-steps {r["max_steps"]}
```

or in two stages, the second anywhere (no FluidSynth needed; `--device cuda` on a GPU):

```
curvebench train-audio-reference --out DIR --codes-only          # writes DIR/codes.npz
curvebench train-audio-reference --out DIR2 --from-codes DIR/codes.npz --max-steps N
```
"""
    (out / "MODEL_CARD.md").write_text(text)


def render_text(render: dict | None) -> str:
    """How the training audio was rendered, as the card says it."""
    if not render:
        return "rendered with FluidSynth and a General MIDI soundfont (not recorded)"
    sha = render["sha256"]
    return (
        f"rendered with FluidSynth (gain {render['gain']:g}) and the {render['soundfont']} "
        f"General MIDI soundfont (sha256 `{sha[:8]}…{sha[-4:]}`); the adapter renders with "
        "exactly this file (`render` in training.json)"
    )
