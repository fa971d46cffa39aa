"""The audio reference's MODEL_CARD.md, written from its training facts."""

from __future__ import annotations

from pathlib import Path


def table(header: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    """A two-column Markdown table."""
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} |" for a, b in rows])


def write_model_card(out: Path, facts: dict) -> None:
    """Write ``out/MODEL_CARD.md`` from the facts the three stages gathered."""
    r, c = facts["recipe"], facts["codec_recipe"]
    ppl = ", ".join(f"{x:g}" for x in facts["codebook_perplexity_validation"])
    kept = ", ".join(f"{100 * x:.1f}%" for x in facts["codes_surviving_round_trip"])
    own = facts.get("own_recipe")
    own_s = facts.get("own_seconds", 0.0)
    minutes = (facts["codec_seconds"] + facts["codes_seconds"] + facts["lm_seconds"] + own_s) / 60
    seconds, pieces = facts["seconds_per_piece"], facts["train_pieces"]
    uniform = facts["uniform_loss_nats"]
    codec_table = table(
        ("measure (validation renders)", "value"),
        [
            ("reconstruction SNR", f"{facts['reconstruction_snr_db']} dB"),
            (
                "multi-scale log-mel distance (mean absolute log-mel difference, STFT 256-2048)",
                f"{facts['mel_distance']} nats",
            ),
            ("codebook perplexity, codebooks 1..4 (max 2048)", ppl),
            ("codes surviving decode -> encode, codebooks 1..4", kept),
            (
                "training",
                f"{facts['codec_steps_done']} steps of {c['batch_size']} x {c['segment']:g} s "
                f"crops (Adam, peak lr {c['lr']}), then {facts['decoder_tune_steps_done']} "
                f"of the decoder alone (peak lr {c['tune_lr']}); {facts['codec_seconds']:.0f} s "
                f"on {facts['codec_device']}"
                + (
                    f"; after the decoder LM, {facts['own_steps_done']} more of the decoder "
                    f"alone on real crops and crops of {facts['own_tune_clips']} clips the LM "
                    f"sampled (top-k {' and '.join(map(str, facts['own_tune_top_k']))}), "
                    f"{own_s:.0f} s"
                    if own
                    else ""
                ),
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
                "training loss (64 training rows)",
                f"{facts['train_loss_nats_per_code']} nats per code",
            ),
            (
                "validation loss",
                f"**{facts['validation_loss_nats_per_code']} nats per code** vs uniform "
                f"log 2048 = {uniform}",
            ),
            (
                "validation data",
                f"first {seconds:g} s of {facts['validation_pieces']} pieces of the embedded "
                f"validation split ({facts['validation_codes']:,} codes)",
            ),
            (
                "ood loss",
                f"{facts['ood_loss_nats_per_code']} nats per code: first {seconds:g} s of "
                f"{facts['ood_pieces']} pieces of the embedded ood (classical) split "
                f"({facts['ood_codes']:,} codes)",
            ),
            *[
                (
                    f"its own samples, top-k {k}",
                    f"**{v['loss_nats_per_code']} nats per code**; the round trip keeps "
                    + ", ".join(f"{100 * x:.1f}%" for x in v["codes_surviving_round_trip"])
                    + " of the sampled codes (codebooks 1..4)",
                )
                for k, v in facts["own_samples_by_top_k"].items()
            ],
            (
                "training time",
                f"{facts['codec_seconds']:.0f} s codec + {facts['codes_seconds']:.0f} s codes + "
                f"{facts['lm_seconds']:.0f} s decoder"
                + (f" + {own_s:.0f} s decoder on own samples" if own else "")
                + f" ({facts['lm_device']}); {minutes:.1f} min in all",
            ),
            ("seed", str(facts["seed"])),
        ],
    )
    limit, stopped = "", ""
    if facts.get("codec_max_minutes"):
        limit = f" --max-minutes {facts['codec_max_minutes']:g}"
        if facts["codec_steps_done"] < c["max_steps"]:
            stopped = (
                f" The codec's first phase was stopped by that time limit at step "
                f"{facts['codec_steps_done']:,} of its {c['max_steps']:,}-step schedule, so "
                "another machine reaches another step in that time."
            )
    own_text = (
        " Once the decoder LM is trained, the codec's decoder is tuned once more (the `own` "
        "stage; encoder and codebooks still frozen, so no code of real audio, and nothing the "
        "LM learned from, changes): on real crops with the re-encoding loss aimed at the codes' "
        "own point, and on crops of codes the LM sampled, each residual stage's choice scored "
        "by cross-entropy against the sampled code, so that what the model samples survives "
        "decode -> encode. Those samples are drawn with seeds of their own (from "
        f"{facts.get('seed', 0) + 1000}), never the ones the card scores below; the codec's "
        "measures in this table are taken after it."
        if own
        else ""
    )
    own_flag = f" \\\n    --own-steps {own['own_steps']}" if own else ""
    lstm = c.get("lstm_layers", 2)  # cards of codecs trained before it was an option: 2
    arch = f"{c['filters']} filters, {_count(lstm, 'LSTM layer')}"
    stages = "four stages (codec, codes, lm, own" if own else "three stages (codec, codes, lm"
    text = f"""# audio-reference: curvebench's embedded audio model

A small model in transformers' MusicGen format (`MusicgenForConditionalGeneration`, loaded with
`from_pretrained` like `facebook/musicgen-small`), so the MusicGen adapter scores it:
`--model audio-reference` is `--model musicgen:path=<this folder>`. It exists so that the
paper's audio protocol (EnCodec codes at 32 kHz, 50 frames per second, 4 codebooks of 2048
entries, delay pattern, per-frame loss = mean over codebooks) runs end to end offline on a
small machine. It is not a good music model: compare curves, not its numbers with MusicGen's.

## Codec

EnCodec's architecture (`EncodecModel`, 32 kHz, upsampling ratios [8, 5, 4, 4], hop 640,
50 Hz, bandwidth 2.2 kbps = 4 codebooks of 2048 entries; hidden size {c["hidden"]},
{arch}; {facts["codec_parameters"]:,} parameters), trained end to
end on one-second crops of the training renders: a waveform L1 loss and a multi-scale mel loss
(L1 on mel magnitudes and on their logarithms at STFT sizes 256-2048), a residual quantiser
whose codebooks learn by moving averages with unused entries refreshed, a commitment loss, and
a re-encoding loss (decoded audio encoded again should land on its codes); then the decoder
alone, the encoder and codebooks frozen so that no code changes, with the re-encoding loss
measured against the encoder's output in units of the quantiser's last residual.{own_text}
There is no adversarial loss. `docs/models.md` sets the reconstruction's log-mel distance
against versions of the same renders that are plainly recognisable, and `docs/audio/` holds one
pair to hear.

{codec_table}

## Language model

A MusicGen decoder ({r["layers"]} layers, width {r["hidden"]}, {r["heads"]} heads,
{facts["decoder_parameters"]:,} parameters; {facts["parameters"]:,} in the whole model with
the codec and a tiny unused T5 text encoder), trained from scratch with Lightning on the delay
pattern under MusicGen's null (unconditional) condition, with the loss the adapter scores.

{lm_table}

"Its own samples": {facts["own_samples"]} clips of {seconds:g} s sampled at each top-k of the
tasks' generated role under the null condition, decoded by the codec, encoded again and scored,
as the benchmark's generated role hears them.

Text conditions other than null/none need a text tokenizer, which is not shipped.

## Reproduce

```
curvebench train-audio-reference --out DIR --pieces {pieces} --codec-steps {c["max_steps"]} \\
    --filters {c["filters"]} --lstm-layers {lstm} \\
    --tune-steps {c["tune_steps"]} --max-steps {r["max_steps"]}{limit}{own_flag}
```

runs the {stages}; all but lm need FluidSynth and the soundfont,
`--device cuda` uses a GPU) and writes the model to DIR/model. `--stage codec|codes|lm|own` runs
one; a stage already done is skipped, and an interrupted training stage resumes from its last
checkpoint in DIR.{stopped}
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


def _count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless one."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
