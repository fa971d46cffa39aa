"""Recordings in: a folder of WAV and FLAC files is heard by an audio model (noise by the
waveform recipe, note-level corruptions skipped with the reason) and noted as unreadable by a
symbolic one; an audio model draws its own generated role as audio."""

from __future__ import annotations

import numpy as np
import pytest

from curvebench.adapters import load_adapter
from curvebench.api import RunOptions, run
from curvebench.data.audio import piece_waveform
from curvebench.data.sources import GeneratedSpec
from curvebench.pipeline.generated import generated_pieces
from tests.helpers import tiny_musicgen_model


@pytest.fixture(scope="module")
def musicgen(tmp_path_factory):
    return tiny_musicgen_model(tmp_path_factory.mktemp("mg"), positions=1024)


def recordings(folder):
    import soundfile

    folder.mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(44100 * 9) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.normal(size=t.size)
    soundfile.write(folder / "a.wav", np.stack([tone, tone], axis=1), 44100)  # stereo 44.1k
    soundfile.write(folder / "b.flac", tone[: 32000 * 8], 32000)
    return folder


def test_an_audio_model_hears_a_folder_of_recordings(musicgen, tmp_path) -> None:
    folder = recordings(tmp_path / "rec")
    output = run(
        RunOptions(
            tasks=("noise-at-5s", "rhythm-deletion"),
            model=f"musicgen:path={musicgen}",
            data=(f"ood={folder}",),
            out=tmp_path / "out",
            wandb=False,
            use_cache=False,
        )
    )
    (noise,) = output.results.results["noise-at-5s"].values()
    assert noise.n_originals == 2 and noise.n_pairs == 2
    assert all(np.asarray(s.loss).ndim == 2 for s in output.lines)  # codebooks × frames
    reasons = [s.reason for s in output.results.skipped if s.item.startswith("rhythm")]
    assert len(reasons) == 2 and all("acts on notes" in r for r in reasons)


def test_a_symbolic_model_notes_recordings_as_unreadable(tiny_model, midi_folder, tmp_path):
    folder = recordings(tmp_path / "rec")
    (folder / "x.mid").write_bytes((midi_folder / "piece00.mid").read_bytes())
    output = run(
        RunOptions(
            model=f"hf-causal:path={tiny_model}",
            data=(f"ood={folder}",),
            out=tmp_path / "out",
            wandb=False,
            use_cache=False,
        )
    )
    skipped = {s.item.split("/")[-1]: s.reason for s in output.results.skipped}
    assert "reads notes" in skipped["a.wav"] and "reads notes" in skipped["b.flac"]
    assert next(iter(output.results.results["noise-at-5s"].values())).n_originals == 1


def test_an_audio_model_generates_audio(musicgen, tmp_path) -> None:
    adapter = load_adapter(f"musicgen:path={musicgen}")
    spec = GeneratedSpec(generator="musicgen", top_k=10, seed=0, seconds=2.0, n=2)
    pieces = generated_pieces(adapter, spec, "g", tmp_path)
    assert len(pieces) == 2 and all(p.is_audio and not p.midi for p in pieces)
    assert all(p.source.endswith(".wav") for p in pieces)
    wave = piece_waveform(pieces[0], 32000)
    assert 1.9 * 32000 <= wave.size <= 2.1 * 32000


def test_a_generated_role_whose_codes_do_not_survive_is_reported(
    musicgen, tmp_path, caplog
) -> None:
    """A random codec changes most sampled codes on decode → encode: the run warns, each
    piece keeps its fraction beside its WAV, and the dataset's entry records the mean."""
    from curvebench.data.sources import DataSpec
    from curvebench.pipeline.stages import Dataset

    adapter = load_adapter(f"musicgen:path={musicgen}")
    spec = GeneratedSpec(generator="musicgen", top_k=10, seed=0, seconds=1.0, n=2)
    with caplog.at_level("WARNING"):
        pieces = generated_pieces(adapter, spec, "g", tmp_path)
    kept = [float(dict(p.meta)["codes_kept"]) for p in pieces]
    assert all(0 <= k < 0.5 for k in kept)
    assert "keeps" in caplog.text and "did not sample" in caplog.text
    # beside every WAV drawn (a whole chunk is drawn), its fraction
    assert len(list(tmp_path.rglob("*.kept.json"))) == len(list(tmp_path.rglob("*.wav"))) >= 2
    again = generated_pieces(adapter, spec, "g", tmp_path)  # read back from disk
    assert [dict(p.meta)["codes_kept"] for p in again] == [
        dict(p.meta)["codes_kept"] for p in pieces
    ]
    info = Dataset(DataSpec(name="g", role="generated", location="generated"), pieces).info()
    assert info.codes_kept == pytest.approx(sum(kept) / 2, abs=1e-4)


def test_a_damaged_round_trip_file_is_left_out_not_fatal(musicgen, tmp_path, caplog) -> None:
    adapter = load_adapter(f"musicgen:path={musicgen}")
    spec = GeneratedSpec(generator="musicgen", top_k=10, seed=0, seconds=1.0, n=3)
    generated_pieces(adapter, spec, "g", tmp_path)
    first, second, *_ = sorted(tmp_path.rglob("*.kept.json"))
    first.write_text("{not json")
    second.write_text('{"codes_kept": 7}')  # not a fraction
    with caplog.at_level("WARNING"):
        pieces = generated_pieces(adapter, spec, "g", tmp_path)  # read back, not drawn again
    kept = ["codes_kept" in dict(p.meta) for p in pieces]
    assert kept == [False, False, True]
    assert f"{first.name}: not a round-trip fraction" in caplog.text
    assert f"{second.name}: not a round-trip fraction" in caplog.text
