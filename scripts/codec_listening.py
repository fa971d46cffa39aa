"""How close the embedded audio model's codec comes to its input, with yardsticks, and a pair
of WAVs to hear it: ``python scripts/codec_listening.py`` (needs FluidSynth and TimGM6mb).

On validation renders (the first 15 s of 16 pieces of the embedded validation split) it
measures the multi-scale log-mel distance and the SNR of four versions against the render:

- the codec's reconstruction (encode, decode);
  (the SNR is pooled: all pieces' signal energy over all their error energy, as on the card)
- the render low-passed at 4 kHz (telephone-like: every note still there);
- the render with white noise 10 dB below it (loud hiss, the music plainly heard);
- another piece (a different validation render): what "not recognisable" scores.

Writes ``docs/audio/codec.json`` (the table ``make docs`` splices into docs/models.md) and
``docs/audio/original.wav`` / ``docs/audio/decoded.wav`` (10 s of one piece).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from scipy.signal import butter, sosfiltfilt
from transformers import MusicgenForConditionalGeneration

from curvebench.adapters.musicgen import AUDIO_REFERENCE_DIR
from curvebench.data.audio import write_wav
from curvebench.training.audio_codec import BANDWIDTH, SAMPLING_RATE
from curvebench.training.audio_reference import rendered_pieces
from curvebench.training.codec_train import SpectralLoss

OUT = Path(__file__).resolve().parents[1] / "docs" / "audio"
PIECES, SECONDS, SHOWN_SECONDS, SHOWN = 16, 15.0, 10.0, 3


def energies(out: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(signal, error) energies: the SNR is pooled over pieces, as the model card's."""
    return float(np.sum(np.square(ref, dtype=np.float64))), float(np.sum((out - ref) ** 2))


def main() -> None:
    codec = MusicgenForConditionalGeneration.from_pretrained(AUDIO_REFERENCE_DIR).audio_encoder
    codec.eval()
    waves = [w for _, w in rendered_pieces("validation", PIECES, SECONDS, seed=0)]
    spectral = SpectralLoss()
    lowpass = butter(8, 4000, fs=SAMPLING_RATE, output="sos")
    rng = np.random.default_rng(0)
    rows: dict[str, list[tuple[float, float]]] = {}
    decoded = []
    for i, x in enumerate(waves):
        with torch.no_grad():
            y = codec(torch.as_tensor(x)[None, None], bandwidth=BANDWIDTH).audio_values
        y = y[0, 0, : len(x)].numpy()
        decoded.append(y)
        noise = rng.standard_normal(len(x)) * np.sqrt(np.mean(x**2)) / np.sqrt(10)
        other = waves[(i + 1) % len(waves)]
        n = min(len(x), len(other))
        versions = {
            "the codec's reconstruction": (y, x),
            "low-passed at 4 kHz": (sosfiltfilt(lowpass, x), x),
            "white noise 10 dB below the music": (x + noise, x),
            "another piece": (other[:n], x[:n]),
        }
        for name, (a, b) in versions.items():
            a32 = torch.as_tensor(np.asarray(a, dtype=np.float32))[None]
            b32 = torch.as_tensor(np.asarray(b, dtype=np.float32))[None]
            rows.setdefault(name, []).append((spectral.distance(a32, b32), *energies(a, b)))
    table = {
        name: {
            "mel_distance": round(float(np.mean([d for d, _, _ in values])), 3),
            "snr_db": round(
                float(10 * np.log10(sum(v[1] for v in values) / sum(v[2] for v in values))), 2
            ),
        }
        for name, values in rows.items()
    }
    OUT.mkdir(parents=True, exist_ok=True)
    samples = round(SHOWN_SECONDS * SAMPLING_RATE)
    write_wav(OUT / "original.wav", waves[SHOWN][:samples], SAMPLING_RATE)
    write_wav(OUT / "decoded.wav", np.clip(decoded[SHOWN][:samples], -1, 1), SAMPLING_RATE)
    record = {"pieces": len(waves), "seconds": SECONDS, "versions": table}
    (OUT / "codec.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
