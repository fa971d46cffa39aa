from __future__ import annotations

import numpy as np
import pytest
from symusic import Note, Score, Tempo, Track

from curvebench.data.timing import TempoMap
from curvebench.errors import ConfigError, SkipItem
from curvebench.perturbations import derive_seed, parse_perturbation
from curvebench.perturbations.noise import (
    COLOR_BETA,
    NOISE_TRACK,
    Noise,
    colored_sequence,
    noise_pitches,
    shifted_velocities,
    velocity_from_db,
)
from tests.helpers import synthetic_score

DEFAULT = "noise:color=white,mode=replace,onset=5.0,duration=2.0,level_db=-12.0"


def notes_of(score, skip_noise: bool = True) -> list[tuple[str, int, int, int, int]]:
    return sorted(
        (t.name, n.time, n.duration, n.pitch, n.velocity)
        for t in score.tracks
        if not (skip_noise and t.name == NOISE_TRACK)
        for n in t.notes
    )


def test_spec_string_round_trip_and_strict_parsing() -> None:
    p = parse_perturbation(DEFAULT)
    assert p == Noise()
    assert parse_perturbation(p.spec_id) == p
    with pytest.raises(ConfigError, match="bad option"):
        parse_perturbation("noise:colour=white")
    with pytest.raises(ConfigError, match="unknown kind"):
        parse_perturbation("reverb:amount=1")
    with pytest.raises(ConfigError, match="color"):
        parse_perturbation("noise:color=green")


def test_replace_removes_window_notes_and_keeps_the_rest_untouched() -> None:
    score = synthetic_score(1)
    tempo = TempoMap(score)
    lo, hi = tempo.ticks([5.0, 7.0])
    out, record = Noise(velocity="absolute", note_durations="window").apply(score, seed=1)
    outside = [n for n in notes_of(score) if not lo <= n[1] < hi]
    assert notes_of(out) == outside
    noise = [n for t in out.tracks if t.name == NOISE_TRACK for n in t.notes]
    in_window = len(notes_of(score)) - len(outside)
    assert record.notes_removed == in_window
    assert len(noise) == in_window == record.notes_added  # density matched
    assert all(lo <= n.time < hi and n.end <= hi for n in noise)
    assert all(21 <= n.pitch <= 108 and n.velocity == velocity_from_db(-12.0) for n in noise)
    assert record.onset_s == 5.0 and record.duration_s == 2.0 and not record.preserves_tokens


def test_add_mode_keeps_every_original_note() -> None:
    score = synthetic_score(2)
    out, record = Noise(mode="add").apply(score, seed=3)
    assert notes_of(out) == notes_of(score)
    assert record.notes_removed == 0 and record.notes_added > 0


def test_input_is_not_mutated() -> None:
    score = synthetic_score(3)
    before = score.dumps_midi()
    Noise().apply(score, seed=5)
    assert score.dumps_midi() == before


def test_same_seed_same_bytes_other_seed_differs() -> None:
    score = synthetic_score(4)
    a, _ = Noise().apply(score, seed=11)
    b, _ = Noise().apply(score, seed=11)
    c, _ = Noise().apply(score, seed=12)
    assert a.dumps_midi() == b.dumps_midi()
    assert a.dumps_midi() != c.dumps_midi()


def test_seed_derives_from_task_seed_piece_and_spec_not_call_order() -> None:
    s1 = derive_seed(0, "ab" * 32, Noise().spec_id)
    assert s1 == derive_seed(0, "ab" * 32, Noise().spec_id)
    assert s1 != derive_seed(1, "ab" * 32, Noise().spec_id)
    assert s1 != derive_seed(0, "cd" * 32, Noise().spec_id)
    assert s1 != derive_seed(0, "ab" * 32, Noise(duration=1.0).spec_id)


def test_velocity_follows_the_general_midi_curve() -> None:
    assert velocity_from_db(0.0) == 127
    assert velocity_from_db(-12.0) == 64  # 127 * 10^(-12/40) = 63.65
    assert velocity_from_db(-30.0) == 23
    for v in (23, 63, 100):
        db = 40 * np.log10(v / 127)
        assert abs(velocity_from_db(db) - v) <= 1


def test_piece_shorter_than_the_window_is_skipped_with_a_reason() -> None:
    with pytest.raises(SkipItem, match="shorter than the noise window"):
        Noise().apply(synthetic_score(5, seconds=6.0), seed=0)


def test_empty_window_gets_the_piece_mean_density() -> None:
    score = synthetic_score(6)
    tempo = TempoMap(score)
    lo, hi = tempo.ticks([5.0, 7.0])
    for track in score.tracks:
        kept = [n for n in track.notes if not lo <= n.time < hi]
        track.notes.clear()
        track.notes.extend(kept)
    _, record = Noise().apply(score, seed=0)
    assert record.notes_removed == 0
    assert record.notes_added >= 1


def test_colored_noise_spectral_slope() -> None:
    rng = np.random.default_rng(0)
    for beta in (0.0, 1.0, 2.0, -1.0):
        spectra = [
            np.abs(np.fft.rfft(colored_sequence(rng, 4096, beta)))[1:] ** 2 for _ in range(20)
        ]
        freqs = np.fft.rfftfreq(4096)[1:]
        slope = np.polyfit(np.log(freqs), np.log(np.mean(spectra, axis=0)), 1)[0]
        assert slope == pytest.approx(-beta, abs=0.15)


def noise_notes(score: Score) -> list[Note]:
    return [n for t in score.tracks if t.name == NOISE_TRACK for n in t.notes]


def spread_score(seed: int, seconds: float = 20.0) -> Score:
    """Sixteenth notes at 120 qpm with velocities spread over 40..110 and durations from a
    small set (120, 240, 360 or 720 ticks at 480 per quarter)."""
    rng = np.random.default_rng(seed)
    score = Score(480)
    score.tempos.append(Tempo(0, 120.0))
    track = Track("piano", 0, False)
    for i in range(int(seconds * 8)):
        track.notes.append(
            Note(
                i * 120,
                int(rng.choice([120, 240, 360, 720])),
                int(rng.integers(48, 84)),
                int(rng.integers(40, 111)),
            )
        )
    score.tracks.append(track)
    return score


def test_shifted_velocities_move_along_the_general_midi_curve() -> None:
    assert shifted_velocities(np.array([127, 80, 2]), -12.0).tolist() == [64, 40, 1]
    assert shifted_velocities(np.array([90, 5]), -30.0).tolist() == [16, 1]  # clipped at 1
    assert shifted_velocities(np.array([90]), 0.0).tolist() == [90]


@pytest.mark.parametrize("level_db", [0.0, -6.0, -12.0, -20.0])
def test_noise_velocities_follow_the_piece_shifted_by_the_level(level_db: float) -> None:
    score = spread_score(0)
    piece = [n.velocity for n in score.tracks[0].notes]
    allowed = set(shifted_velocities(np.array(piece), level_db).tolist())
    drawn = []
    for seed in range(50):
        out, _ = Noise(level_db=level_db).apply(score, seed=seed)
        drawn += [n.velocity for n in noise_notes(out)]
    assert len(drawn) == 800 and set(drawn) <= allowed
    assert all(1 <= v <= 127 for v in drawn)
    shift = 40 * np.log10(np.median(drawn) / np.median(piece))
    assert shift == pytest.approx(level_db, abs=1.5)  # sampling error of a median of 800


def test_noise_durations_are_drawn_from_the_piece() -> None:
    score = spread_score(1)
    lo, hi = TempoMap(score).ticks([5.0, 7.0])
    out, record = Noise().apply(score, seed=4)
    durations = [n.duration for n in noise_notes(out)]
    assert len(durations) == record.notes_added == 16  # the window held 16 sixteenths
    assert set(durations) <= {120, 240, 360, 720} and len(set(durations)) > 1
    assert all(lo <= n.time < hi for n in noise_notes(out))
    outside = [n for n in notes_of(score) if not lo <= n[1] < hi]
    assert notes_of(out) == outside


def test_absolute_velocity_and_window_durations_give_the_former_notes() -> None:
    """The former recipe, written out: onsets, then pitches from the generator; one velocity
    from the level; every note the window's mean duration long, cut at the window's end. (One
    change: an onset that rounded to the window's end tick now stays in the window.)"""
    score = synthetic_score(7)
    tempo = TempoMap(score)
    lo, hi = tempo.ticks([5.0, 7.0])
    window = [n for t in score.tracks for n in t.notes if lo <= n.time < hi]
    spec = Noise(velocity="absolute", note_durations="window", level_db=-20.0, color="pink")
    out, _ = spec.apply(score, seed=9)
    rng = spec.rng(9)
    onsets = np.sort(rng.uniform(5.0, 7.0, size=len(window)))
    pitches = noise_pitches(rng, len(window), COLOR_BETA["pink"])
    mean = np.mean([tempo.seconds(n.end) - tempo.seconds(n.time) for n in window])
    on = np.minimum(tempo.ticks(onsets), hi - 1)  # now kept in the window's last tick
    end = tempo.ticks(np.minimum(onsets + mean, 7.0))
    expected = sorted(
        (int(a), max(1, int(b - a)), int(p), velocity_from_db(-20.0))
        for a, b, p in zip(on, end, pitches, strict=True)
    )
    got = sorted((n.time, n.duration, n.pitch, n.velocity) for n in noise_notes(out))
    assert got == expected and {v for *_, v in got} == {40}


def test_noise_declares_its_window_and_acts_on_audio() -> None:
    assert Noise().window() == (5.0, 2.0)
    assert Noise(onset=1.5, duration=0.1).window() == (1.5, 0.1)
    assert Noise.acts_on_audio is True


def test_snr_db_sets_the_noise_velocity_below_the_pieces_mean_loudness() -> None:
    score = synthetic_score(3)
    velocities = [n.velocity for t in score.tracks if not t.is_drum for n in t.notes]
    mean_db = float(np.mean(40 * np.log10(np.array(velocities) / 127)))
    for snr in (0.0, 6.0, 20.0):
        out, _ = Noise(snr_db=snr, velocity="absolute").apply(score, seed=1)
        (noise,) = [t for t in out.tracks if t.name == NOISE_TRACK]
        assert {n.velocity for n in noise.notes} == {velocity_from_db(mean_db - snr)}
    with pytest.raises(ConfigError, match="not both"):
        Noise(level_db=-12.0, snr_db=6.0)
    assert Noise().level_db == -12.0 and Noise().spec_id == parse_perturbation(DEFAULT).spec_id


def nested(duration: float) -> Noise:
    return parse_perturbation(
        f"noise:color=white,mode=replace,onset=5.0,duration={duration},level_db=-12.0,nest=4.0"
    )


def test_nested_noise_is_one_draw_cut_to_each_length() -> None:
    """The paper's sweep: for one piece, the 1 s noise is the first second of the 4 s noise
    (same seed for every duration, the longest window's density)."""
    score = spread_score(3)
    seeds = {derive_seed(0, "piece", nested(d).seed_id) for d in (0.2, 1.0, 4.0)}
    assert len(seeds) == 1  # the duration is not part of the seed
    assert derive_seed(0, "piece", parse_perturbation(DEFAULT).seed_id) not in seeds
    (seed,) = seeds
    longest = noise_notes(nested(4.0).apply(score, seed)[0])
    for d in (0.2, 1.0, 2.0):
        out, record = nested(d).apply(score, seed)
        stop = TempoMap(score).ticks(np.array([5.0 + d]))[0]
        kept = [(n.time, n.pitch, n.velocity, n.duration) for n in longest if n.time < stop]
        assert [(n.time, n.pitch, n.velocity, n.duration) for n in noise_notes(out)] == kept
        assert record.notes_added == len(kept) > 0
    with pytest.raises(ConfigError, match=r"nest=1\.0"):
        parse_perturbation("noise:onset=5.0,duration=2.0,nest=1.0")


def test_nested_audio_noise_is_a_prefix_of_the_longest() -> None:
    sr = 8000
    wave = np.zeros(12 * sr, dtype=np.float32)
    seed = derive_seed(0, "clip", nested(1.0).seed_id)
    long, _ = nested(4.0).apply_audio(wave, sr, seed)
    short, record = nested(1.0).apply_audio(wave, sr, seed)
    np.testing.assert_array_equal(short[5 * sr : 6 * sr], long[5 * sr : 6 * sr])
    assert not short[6 * sr :].any() and long[6 * sr : 9 * sr].any()
    assert record.duration_s == 1.0
    # without nesting, each length draws its own noise
    free = parse_perturbation("noise:color=white,onset=5.0,duration=1.0,level_db=-12.0")
    other, _ = free.apply_audio(wave, sr, derive_seed(0, "clip", free.seed_id))
    assert not np.array_equal(other[5 * sr : 6 * sr], long[5 * sr : 6 * sr])
