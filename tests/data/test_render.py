from __future__ import annotations

import shutil
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from symusic import Note, Score, Tempo, Track

from curvebench.data import render
from curvebench.data.audio import write_wav
from curvebench.data.render import (
    DEFAULT_RENDER,
    INSTALL_HINT,
    render_identity,
    render_midi,
    setting_from_file,
    soundfont_for,
)
from curvebench.errors import ConfigError, DataError

SR = 32000
TICKS_PER_SECOND = 960  # 480 ticks per quarter at 120 qpm
FIRST_ON_S, LAST_OFF_S = 0.5, 2.5


@pytest.fixture
def fluidsynth() -> None:
    """Rendering tests need FluidSynth and a soundfont; without them they fail, never skip."""
    if shutil.which("fluidsynth") is None:
        pytest.fail(f"FluidSynth is not installed; install it with: {INSTALL_HINT}")
    try:
        soundfont_for(DEFAULT_RENDER)
    except ConfigError as exc:
        pytest.fail(str(exc))


def midi(notes: list[tuple[float, float, int]], program: int = 0) -> bytes:
    """A one-track MIDI file from (onset s, duration s, pitch), velocity 100, 120 qpm."""
    score = Score(480)
    score.tempos.append(Tempo(0, 120))
    track = Track("x", program, False)
    for onset, duration, pitch in notes:
        track.notes.append(
            Note(round(onset * TICKS_PER_SECOND), round(duration * TICKS_PER_SECOND), pitch, 100)
        )
    score.tracks.append(track)
    return score.dumps_midi()


MELODY = midi([(0.5, 0.5, 60), (1.0, 0.5, 64), (1.5, 0.5, 67), (2.0, 0.5, 72)])
A4_FLUTE = midi([(0.0, 1.0, 69)], program=73)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def fake_soundfont(tmp_path: Path) -> Path:
    path = tmp_path / "fake.sf2"
    path.write_bytes(b"RIFF\x04\x00\x00\x00sfbk")
    return path


def test_render_is_mono_float32_and_sounds_only_where_the_notes_are(
    fluidsynth: None, tmp_path: Path
) -> None:
    audio = render_midi(MELODY, cache_dir=tmp_path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.abs(audio).max() <= 1.0
    assert LAST_OFF_S + 1.5 < len(audio) / SR < LAST_OFF_S + 5.0
    assert rms(audio[: int(0.45 * SR)]) < 1e-5  # sample 0 is MIDI time 0
    for start in np.arange(FIRST_ON_S, LAST_OFF_S, 0.25):  # every quarter second of the notes
        assert rms(audio[int(start * SR) : int((start + 0.25) * SR)]) > 1e-3
    after_release = audio[int((LAST_OFF_S + 1.0) * SR) :]
    assert np.abs(after_release).max() < 1e-3


@pytest.mark.parametrize("sr", [SR, 16000, 4000])
def test_sample_rate_is_the_one_asked_for(fluidsynth: None, tmp_path: Path, sr: int) -> None:
    """An A4 comes out at 440 Hz; 4 kHz is below FluidSynth's range, so it is resampled."""
    audio = render_midi(A4_FLUTE, sr=sr, cache_dir=tmp_path)
    note = audio[int(0.2 * sr) : int(0.9 * sr)].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(note * np.hanning(len(note))))
    peak_hz = np.fft.rfftfreq(len(note), 1 / sr)[np.argmax(spectrum)]
    assert abs(peak_hz - 440.0) < 5.0


def test_second_call_is_served_from_the_cache(
    fluidsynth: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURVEBENCH_CACHE", str(tmp_path))
    first = render_midi(MELODY)
    entries = list((tmp_path / "render").iterdir())
    assert [p.suffix for p in entries] == [".npy"]  # one entry, no temporary file left

    def no_fluidsynth(*args: object, **kwargs: object) -> None:
        raise AssertionError("fluidsynth was run although the render was cached")

    monkeypatch.setattr(render.subprocess, "Popen", no_fluidsynth)
    second = render_midi(MELODY)
    assert np.array_equal(first, second) and second.dtype == np.float32
    with pytest.raises(AssertionError, match="was run"):  # another rate is another entry
        render_midi(MELODY, sr=16000)


def test_renders_are_deterministic(fluidsynth: None, tmp_path: Path) -> None:
    a = render_midi(MELODY, cache_dir=tmp_path / "a")
    b = render_midi(MELODY, cache_dir=tmp_path / "b")
    assert np.array_equal(a, b)


def test_write_wav_round_trips(tmp_path: Path) -> None:
    t = np.arange(SR // 2) / SR
    audio = (0.8 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    audio[:3] = [1.5, -1.5, 0.0]  # out of range: clipped
    path = write_wav(tmp_path / "sub" / "a.wav", audio, SR)
    with wave.open(str(path)) as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (1, 2, SR)
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    assert len(pcm) == len(audio)
    assert pcm[:3].tolist() == [32767, -32768, 0]  # libsndfile's scale: full scale is 32768
    np.testing.assert_allclose(pcm[3:] / 32768, audio[3:], atol=1 / 32768 + 1e-7)
    with pytest.raises(DataError, match="mono"):
        write_wav(tmp_path / "b.wav", np.zeros((10, 2)), SR)
    with pytest.raises(DataError, match="NaN"):
        write_wav(tmp_path / "c.wav", np.array([0.0, np.nan]), SR)


def test_bad_midi_is_a_data_error_naming_the_input(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^song\.mid: not a standard MIDI file"):
        render_midi(b"this is not MIDI", cache_dir=tmp_path, name="song.mid")
    with pytest.raises(DataError, match="no notes"):
        render_midi(Score(480).dumps_midi(), cache_dir=tmp_path)


def test_missing_fluidsynth_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = setting_from_file(fake_soundfont(tmp_path))
    monkeypatch.setattr(render.shutil, "which", lambda _: None)
    with pytest.raises(ConfigError, match=r"apt-get install .*fluidsynth"):
        render_midi(MELODY, cache_dir=tmp_path, name="song.mid", setting=fake)


def fake_fluidsynth(tmp_path: Path, body: str) -> str:
    """An executable standing in for fluidsynth: a shell script running ``body``."""
    exe = tmp_path / "fluidsynth"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(0o755)
    return str(exe)


def test_fluidsynth_failure_is_a_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = setting_from_file(fake_soundfont(tmp_path))
    exe = fake_fluidsynth(tmp_path, "echo \"Parameter 'in.mid' not a MIDI file\" >&2; exit 255")
    monkeypatch.setattr(render.shutil, "which", lambda _: exe)
    with pytest.raises(DataError, match=r"song\.mid: fluidsynth could not render it .*not a MIDI"):
        render_midi(MELODY, cache_dir=tmp_path, name="song.mid", setting=fake)


def test_a_render_that_runs_past_the_piece_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tempo map FluidSynth plays otherwise than written once rendered 75 GB of silence;
    the render is stopped once it passes the piece's length and a margin."""
    fake = setting_from_file(fake_soundfont(tmp_path))
    # writes zeros to the -F file for ever (the argument after -F), from a child process
    pid_file = tmp_path / "writer.pid"
    body = (
        f'while [ "$1" != "-F" ]; do shift; done; cat /dev/zero > "$2" & echo $! > {pid_file}; wait'
    )
    monkeypatch.setattr(render.shutil, "which", lambda _: fake_fluidsynth(tmp_path, body))
    monkeypatch.setattr(render, "RENDER_TAIL_S", 1.0)
    with pytest.raises(DataError, match=r"song\.mid: FluidSynth rendered past the piece's end"):
        render_midi(MELODY, cache_dir=tmp_path, name="song.mid", setting=fake)
    # the writer it started is stopped with it (it once went on filling the disk)
    writer = Path("/proc") / pid_file.read_text().strip()
    deadline = time.monotonic() + 10
    while writer.exists() and "zombie" not in _state(writer) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not writer.exists() or "zombie" in _state(writer)


def _state(proc: Path) -> str:
    try:
        return next(line for line in (proc / "status").read_text().splitlines() if "State" in line)
    except (OSError, StopIteration):
        return "zombie"  # gone meanwhile


def test_the_render_soundfont_is_found_by_its_hash_whatever_else_is_installed(
    fluidsynth: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = soundfont_for(DEFAULT_RENDER)
    # FluidR3_GM installed too, in a folder looked at first: never taken for TimGM6mb
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "FluidR3_GM.sf2").write_bytes(fake_soundfont(tmp_path).read_bytes())
    shutil.copyfile(real, second / "TimGM6mb.sf2")
    paths = (first / "FluidR3_GM.sf2", second / "TimGM6mb.sf2")
    monkeypatch.setattr(render, "SOUNDFONT_PATHS", paths)
    monkeypatch.delenv("CURVEBENCH_SOUNDFONT", raising=False)
    assert soundfont_for(DEFAULT_RENDER) == second / "TimGM6mb.sf2"
    # a file of the same name with other bytes is refused, naming the package to install
    (second / "TimGM6mb.sf2").write_bytes(fake_soundfont(tmp_path).read_bytes())
    with pytest.raises(ConfigError, match=r"TimGM6mb.sf2 .*has another sha256.*timgm6mb-soundfont"):
        soundfont_for(DEFAULT_RENDER)
    # $CURVEBENCH_SOUNDFONT names another place to find the same file
    copy = tmp_path / "elsewhere.sf2"
    shutil.copyfile(real, copy)
    monkeypatch.setenv("CURVEBENCH_SOUNDFONT", str(copy))
    assert soundfont_for(DEFAULT_RENDER) == copy
    monkeypatch.setenv("CURVEBENCH_SOUNDFONT", str(tmp_path / "missing.sf2"))
    monkeypatch.setattr(render, "SOUNDFONT_PATHS", (first / "none.sf2",))
    with pytest.raises(ConfigError, match=r"not installed; install it \(apt-get install timgm6mb"):
        soundfont_for(DEFAULT_RENDER)


def test_another_soundfont_changes_the_render_identity_and_its_cache_entry(
    fluidsynth: None, tmp_path: Path
) -> None:
    other = setting_from_file(fake_soundfont(tmp_path))
    ours, theirs = render_identity(DEFAULT_RENDER, SR), render_identity(other, SR)
    assert ours["sha256"] == DEFAULT_RENDER.sha256 and ours["fluidsynth"][0].isdigit()
    assert ours != theirs and theirs["soundfont"] == "fake.sf2"
    keys = {render._cache_key(MELODY, SR, s) for s in (DEFAULT_RENDER, other)}
    keys.add(render._cache_key(MELODY, SR, DEFAULT_RENDER.at_paper_level()))
    assert len(keys) == 3


def test_the_paper_level_is_about_four_db_quieter(fluidsynth: None, tmp_path: Path) -> None:
    ours = render_midi(MELODY, cache_dir=tmp_path)
    paper = render_midi(MELODY, cache_dir=tmp_path, setting=DEFAULT_RENDER.at_paper_level())
    drop = 20 * np.log10(rms(ours) / rms(paper))
    assert 3.0 < drop < 5.0  # gain 0.9 then -3 dB: about 3.9 dB
