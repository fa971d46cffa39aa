"""Files people actually have: each is handled or skipped with a reason; a run completes."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from symusic import Note, Score, Tempo, Track

from curvebench.api import RunOptions, run
from curvebench.cli import main
from curvebench.data.piece import parse_midi
from curvebench.errors import DataError
from tests.helpers import synthetic_score


def score_with(notes: list[tuple[int, int, int]], drum: bool = False, qpm: float = 120.0) -> Score:
    score = Score(480)
    score.tempos.append(Tempo(0, qpm))
    track = Track("t", 0, drum)
    for time, duration, pitch in notes:
        track.notes.append(Note(time, duration, pitch, 80))
    score.tracks.append(track)
    return score


def bad_files(folder) -> dict[str, bytes]:
    good = synthetic_score(0).dumps_midi()
    files = {
        "empty.mid": b"",
        "text.mid": b"this is not a MIDI file at all",
        "truncated.mid": good[: len(good) // 3],
        "header-only.mid": good[:14],
        "no-notes.mid": Score(480).dumps_midi(),
        "zero-length-notes.mid": score_with(
            [(i * 240, 0, 60 + i % 12) for i in range(80)]
        ).dumps_midi(),
        "drums-only.mid": score_with(
            [(i * 240, 120, 36) for i in range(80)], drum=True
        ).dumps_midi(),
        "absurd-slow.mid": score_with(
            [(i * 480, 480, 60) for i in range(40)], qpm=1.0
        ).dumps_midi(),
        "absurd-fast.mid": score_with(
            [(i * 480, 480, 60) for i in range(4000)], qpm=5000.0
        ).dumps_midi(),
        "hours.mid": score_with(
            [(i * 480, 480, 50 + i % 30) for i in range(20000)], qpm=60
        ).dumps_midi(),
        "good.mid": good,
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


def test_a_run_over_bad_files_completes_and_records_every_skip(tiny_model, tmp_path) -> None:
    folder = tmp_path / "midi"
    folder.mkdir()
    files = bad_files(folder)
    output = run(
        RunOptions(
            model=f"hf-causal:path={tiny_model}",
            data=(f"ood={folder}",),
            out=tmp_path / "out",
            wandb=False,
            use_cache=False,
        )
    )
    (r,) = output.results.results["noise-at-5s"].values()
    # a file refused on reading is dataset/file, one refused later task/dataset/file[/variant]
    skipped = {n: s.reason for s in output.results.skipped for n in files if f"/{n}" in s.item}
    for name in (
        "empty.mid",
        "text.mid",
        "truncated.mid",
        "header-only.mid",
        "no-notes.mid",
        "drums-only.mid",
    ):
        assert name in skipped, name
    assert "good.mid" not in skipped and "hours.mid" not in skipped  # cut to 15 s and scored
    scored = {p for p in files if p not in skipped}
    assert r.n_originals == len(scored)
    for reason in skipped.values():
        assert reason and "Traceback" not in reason


@pytest.mark.parametrize("command", ["score", "perturb"])
def test_broken_files_give_one_line_and_a_nonzero_exit(command, tiny_model, tmp_path, capsys):
    files = bad_files(tmp_path)
    for name in ("empty.mid", "text.mid", "truncated.mid", "header-only.mid"):
        path = str(tmp_path / name)
        args = (
            ["score", "--model", f"hf-causal:path={tiny_model}", path]
            if command == "score"
            else ["perturb", "--perturbation", "noise", path, str(tmp_path / "o.mid")]
        )
        assert main(args) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("curvebench: error: ") and name in err[0]
    assert files


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_midi_loader_fuzz_only_ever_raises_data_error(data: bytes) -> None:
    for blob in (data, b"MThd" + data):
        with contextlib.suppress(DataError):  # anything else fails the test
            parse_midi(blob, "fuzz.mid")


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_mutated_midi_never_crashes_the_loader(tail: bytes) -> None:
    good = synthetic_score(0, seconds=4.0).dumps_midi()
    cut = len(tail) % len(good)
    try:
        score = parse_midi(good[:cut] + tail, "mutated.mid")
    except DataError:
        return
    # what loads can be written back (as `perturb` does) and loads again with the same notes
    again = parse_midi(score.dumps_midi(), "again.mid")
    assert again.note_num() == score.note_num()
    assert sorted(n.pitch for t in again.tracks for n in t.notes) == sorted(
        n.pitch for t in score.tracks for n in t.notes
    )


def test_bad_audio_is_refused_or_handled(tmp_path, capsys) -> None:
    from curvebench.data.audio import read_wav, write_wav

    with pytest.raises(DataError):
        write_wav(tmp_path / "nan.wav", np.array([0.0, np.nan], dtype=np.float32), 32000)
    from scipy.io import wavfile

    wavfile.write(tmp_path / "inf.wav", 32000, np.array([0.0, np.inf], dtype=np.float32))
    with pytest.raises(DataError, match="NaN or infinite"):
        read_wav(tmp_path / "inf.wav")
    stereo = np.stack([np.full(44100, 0.5), np.full(44100, -0.5)], axis=1).astype(np.float32)
    wavfile.write(tmp_path / "stereo.wav", 44100, stereo)
    wave, sr = read_wav(tmp_path / "stereo.wav")
    assert sr == 44100 and wave.ndim == 1 and np.allclose(wave, 0.0)
    wavfile.write(tmp_path / "silence.wav", 8000, np.zeros(8000 * 8, dtype=np.int16))
    assert (
        main(
            [
                "perturb",
                "--perturbation",
                "noise:onset=1,duration=2,level_db=-20",
                str(tmp_path / "silence.wav"),
                str(tmp_path / "n.wav"),
            ]
        )
        == 0
    )
    out, sr = read_wav(tmp_path / "n.wav")
    assert sr == 8000 and np.abs(out[8000:24000]).max() > 0 and np.all(out[:8000] == 0)
    (tmp_path / "broken.wav").write_bytes(b"RIFF1234WAVEjunk")
    assert (
        main(
            [
                "perturb",
                "--perturbation",
                "noise",
                str(tmp_path / "broken.wav"),
                str(tmp_path / "x.wav"),
            ]
        )
        == 2
    )
    assert "broken.wav" in capsys.readouterr().err


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_wav_loader_fuzz_only_ever_raises_data_error(tmp_path_factory, data: bytes) -> None:
    from curvebench.data.audio import read_wav

    path = tmp_path_factory.mktemp("fuzz") / "x.wav"
    for blob in (data, b"RIFF" + data, b"RIFF\x24\x00\x00\x00WAVEfmt " + data):
        path.write_bytes(blob)
        with contextlib.suppress(DataError):
            read_wav(path)


def test_remote_code_is_off_unless_asked(tiny_model, monkeypatch) -> None:
    import transformers

    from curvebench.adapters import load_adapter

    seen = []
    original = transformers.AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    load_adapter(f"hf-causal:path={tiny_model}")
    load_adapter(f"hf-causal:path={tiny_model},trust_remote_code=true")
    assert seen == [False, True]


def test_a_model_that_fails_on_every_item_stops_the_run(tmp_path, midi_folder) -> None:
    """One bad file is a skip; every item failing with a library's exception is the model's
    problem, and the run says so instead of finishing with nothing scored."""
    from curvebench.adapters import load_adapter
    from curvebench.errors import CurvebenchError

    adapter = load_adapter("reference")

    def broken(score, name):
        raise RuntimeError("tokenizer state is broken")

    adapter.encode_score = broken
    options = RunOptions(model=adapter, data=(str(midi_folder),), out=tmp_path, wandb=False)
    with pytest.raises(CurvebenchError, match=r"no item could be prepared.*tokenizer state"):
        run(options)
