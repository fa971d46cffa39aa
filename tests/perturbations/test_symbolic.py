from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from symusic import Note, Score, Tempo, TimeSignature, Track

from curvebench.data.timing import TempoMap, duration_seconds
from curvebench.errors import ConfigError, SkipItem
from curvebench.perturbations import Perturbation, PerturbationRecord, parse_perturbation
from curvebench.perturbations.drone import Drone
from curvebench.perturbations.noise import Noise
from curvebench.perturbations.notes import fraction_count
from curvebench.perturbations.repeat import Repeat
from curvebench.perturbations.rhythm import RhythmDeletion
from curvebench.perturbations.silence import Silence
from curvebench.perturbations.structure import BarShuffle, BlockSwap, bar_bounds, derangement
from curvebench.perturbations.tempo import TempoChange, TempoSpan
from curvebench.perturbations.velocity import VelocityChange, new_velocity, paper_velocity
from tests.helpers import synthetic_score

TPQ = 480
BAR = 4 * TPQ
PROPERTY = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# One perturbation of each kind, sized so that most small random pieces can take it.
RANDOM_KINDS = [
    Noise(onset=1.0, duration=1.0),
    Noise(color="pink", mode="add", onset=0.5, duration=2.0),
    Noise(velocity="absolute", note_durations="window", onset=1.0, duration=1.0),
    RhythmDeletion(),
    VelocityChange(),
    VelocityChange(velocities="full"),
    TempoChange(),
    TempoSpan(),
    BarShuffle(),
]
FIXED_KINDS = [  # these draw nothing at random
    BlockSwap(onset=1.0, duration=1.0),
    Silence(onset=1.0, duration=1.0),
    Repeat(onset=2.0, duration=1.0),
    Repeat(unit="beat", onset=1.0, duration=1.0),
    Drone(onset=1.0, duration=1.0),
    Drone(mode="hold", size=3, onset=1.0, duration=1.0),
]
EACH_KIND = RANDOM_KINDS + FIXED_KINDS


@st.composite
def scores(draw: st.DrawFn, min_notes: int = 0, time_signature: bool = True) -> Score:
    """A small random score: 0-60 notes over two pitched tracks, maybe a drum track, a few
    tempo changes and maybe a time signature; tpq 480."""
    score = Score(TPQ)
    for _ in range(draw(st.integers(0, 3))):
        time = draw(st.integers(0, 16 * TPQ))
        score.tempos.append(Tempo(time, draw(st.floats(40.0, 240.0))))
    if time_signature and draw(st.booleans()):
        numerator, denominator = draw(st.sampled_from([(4, 4), (3, 4), (6, 8), (2, 2), (5, 4)]))
        score.time_signatures.append(TimeSignature(0, numerator, denominator))
    tracks = [Track("melody", 0, False), Track("bass", 32, False)]
    note = st.tuples(
        st.integers(0, 1),
        st.integers(0, 40 * TPQ),
        st.integers(1, 2 * TPQ),
        st.integers(21, 108),
        st.integers(1, 127),
    )
    for track, time, duration, pitch, velocity in draw(
        st.lists(note, min_size=min_notes, max_size=60)
    ):
        tracks[track].notes.append(Note(time, duration, pitch, velocity))
    if draw(st.booleans()):
        drums = Track("drums", 0, True)
        for time in draw(st.lists(st.integers(0, 40 * TPQ), max_size=5)):
            drums.notes.append(Note(time, TPQ // 4, 36, 100))
        tracks.append(drums)
    score.tracks.extend(tracks)
    return score


def pitched(score: Score) -> list[tuple[int, int, int, int, int]]:
    """Sorted (track index, time, duration, pitch, velocity) of the pitched notes."""
    return sorted(
        (i, n.time, n.duration, n.pitch, n.velocity)
        for i, t in enumerate(score.tracks)
        if not t.is_drum
        for n in t.notes
    )


def drums(score: Score) -> list[tuple[int, int, int, int, int]]:
    return sorted(
        (i, n.time, n.duration, n.pitch, n.velocity)
        for i, t in enumerate(score.tracks)
        if t.is_drum
        for n in t.notes
    )


def tempos(score: Score) -> list[tuple[int, int]]:
    return sorted((t.time, t.mspq) for t in score.tempos)


def outcome(p: Perturbation, score: Score, seed: int) -> tuple[bytes | None, object]:
    """The perturbed bytes and record, or None and the skip reason."""
    try:
        out, record = p.apply(score, seed)
    except SkipItem as exc:
        return None, str(exc)
    return out.dumps_midi(), record


def one_note() -> Score:
    score = Score(TPQ)
    track = Track("solo", 0, False)
    track.notes.append(Note(0, TPQ, 60, 80))
    score.tracks.append(track)
    return score


def drums_only() -> Score:
    score = Score(TPQ)
    track = Track("drums", 0, True)
    track.notes.extend([Note(i * TPQ, TPQ // 4, 36, 100) for i in range(40)])
    score.tracks.append(track)
    return score


# --- every kind ---------------------------------------------------------------------------------


@pytest.mark.parametrize("p", EACH_KIND, ids=lambda p: p.spec_id)
@PROPERTY
@given(score=scores(), seed=st.integers(0, 2**63 - 1))
def test_pure_and_deterministic(p: Perturbation, score: Score, seed: int) -> None:
    before = score.dumps_midi()
    first, record = outcome(p, score, seed)
    assert score.dumps_midi() == before  # input never mutated, skipped or not
    assert outcome(p, score, seed) == (first, record)
    if first is None:
        return
    out, _ = p.apply(score, seed)
    assert drums(out) == drums(score)
    assert isinstance(record, PerturbationRecord) and record.kind == p.kind


@pytest.mark.parametrize("p", RANDOM_KINDS, ids=lambda p: p.spec_id)
def test_other_seeds_give_other_pieces(p: Perturbation) -> None:
    score = synthetic_score(0)
    results = {p.apply(score, seed)[0].dumps_midi() for seed in range(5)}
    assert len(results) == 5


@pytest.mark.parametrize("p", EACH_KIND, ids=lambda p: p.spec_id)
@pytest.mark.parametrize("piece", [Score(TPQ), drums_only()], ids=["empty", "drums-only"])
def test_a_piece_without_pitched_notes_is_skipped(p: Perturbation, piece: Score) -> None:
    with pytest.raises(SkipItem, match="no pitched notes"):
        p.apply(piece, seed=0)


def test_one_note_pieces() -> None:
    score = one_note()
    with pytest.raises(SkipItem, match="rounds to none"):
        RhythmDeletion().apply(score, 0)
    out, record = RhythmDeletion(fraction=1.0).apply(score, 0)
    assert pitched(out) == [] and record.notes_removed == 1
    out, _ = VelocityChange(velocities="full").apply(score, 0)  # half of one rounds to one
    assert pitched(out)[0][4] != 80
    out, record = TempoSpan().apply(score, 0)
    assert pitched(out) == pitched(score) and record.duration_s == pytest.approx(0.8 * 0.5)
    out, record = TempoChange().apply(score, 0)
    assert pitched(out) == pitched(score) and record.onset_s is None
    with pytest.raises(SkipItem, match="1 bars"):
        BarShuffle().apply(score, 0)
    with pytest.raises(SkipItem, match=r"lasts 0\.50 s, shorter .* \(9\.00 s"):
        BlockSwap().apply(score, 0)


@pytest.mark.parametrize(
    "p",
    [
        *EACH_KIND,
        RhythmDeletion(fraction=0.25, seed=3),
        VelocityChange(fraction=1.0),
        TempoSpan(fraction=0.5, factor=0.75, start=2.5, seed=7),
        TempoChange(fraction=0.5, min_length=0.1, max_length=0.2, max_factor=2.0),
        Noise(velocity="absolute", note_durations="window", level_db=-30.0),
        Drone(mode="hold", size=4),
        Repeat(unit="beat"),
        BarShuffle(fraction=1.0),
        BlockSwap(),
    ],
    ids=lambda p: p.spec_id,
)
def test_spec_strings_round_trip(p: Perturbation) -> None:
    assert parse_perturbation(p.spec_id) == p
    assert parse_perturbation(p.kind) == type(p)()


def test_spec_strings_name_the_defaults() -> None:
    assert RhythmDeletion().spec_id == "rhythm-deletion:fraction=0.4,seed=0"
    assert VelocityChange().spec_id == "velocity-change:fraction=0.5,seed=0,velocities=paper"
    assert TempoSpan().spec_id == "tempo-span:factor=1.5,fraction=0.8,seed=0"
    assert TempoSpan(start=1.0).spec_id == "tempo-span:factor=1.5,fraction=0.8,seed=0,start=1.0"
    assert TempoChange().spec_id == (
        "tempo-change:fraction=0.8,max_factor=8.0,max_length=0.04,min_factor=0.1,"
        "min_length=0.02,seed=0"
    )
    assert BarShuffle().spec_id == "bar-shuffle:fraction=0.5,seed=0"
    assert BlockSwap().spec_id == "block-swap:duration=2.0,onset=5.0,seed=0"


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("rhythm-deletion:fraction=0", "fraction"),
        ("rhythm-deletion:fraction=1.5", "fraction"),
        ("velocity-change:fraction=-0.5", "fraction"),
        ("velocity-change:fraction=nan", "fraction"),
        ("velocity-change:velocities=loud", "velocities"),
        ("tempo-change:fraction=0", "fraction"),
        ("tempo-change:min_length=0", "min_length"),
        ("tempo-change:min_length=0.05", "max_length"),
        ("tempo-change:min_factor=0", "min_factor"),
        ("tempo-change:factor=1.5", "bad option"),
        ("tempo-span:fraction=0", "fraction"),
        ("tempo-span:factor=0", "factor"),
        ("tempo-span:factor=-1.5", "factor"),
        ("tempo-span:start=-1", "start"),
        ("silence:duration=0", "duration"),
        ("repeat:unit=phrase", "unit"),
        ("repeat:onset=-1", "onset"),
        ("drone:size=0", "size"),
        ("drone:size=13", "size"),
        ("drone:mode=pulse", "mode"),
        ("noise:velocity=loud", "velocity"),
        ("noise:note_durations=mean", "note_durations"),
        ("bar-shuffle:fraction=2", "fraction"),
        ("block-swap:duration=0", "duration"),
        ("block-swap:onset=-1", "onset"),
        ("block-swap:durtion=1", "bad option"),
    ],
)
def test_bad_parameters_raise_config_error_naming_them(spec: str, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        parse_perturbation(spec)


def test_constructors_validate_too() -> None:
    with pytest.raises(ConfigError, match="fraction"):
        RhythmDeletion(fraction=0.0)
    with pytest.raises(ConfigError, match="factor"):
        TempoSpan(factor=0.0)
    with pytest.raises(ConfigError, match="min_factor"):
        TempoChange(min_factor=2.0, max_factor=1.0)
    with pytest.raises(ConfigError, match="duration"):
        BlockSwap(duration=-2.0)


def test_fraction_count_rounds_half_up() -> None:
    assert [fraction_count(0.4, n) for n in (1, 2, 5, 10, 11)] == [0, 1, 2, 4, 4]
    assert [fraction_count(0.5, n) for n in (1, 2, 3)] == [1, 1, 2]
    assert fraction_count(1.0, 7) == 7


# --- rhythm-deletion ----------------------------------------------------------------------------


@PROPERTY
@given(score=scores(), fraction=st.floats(0.01, 1.0), seed=st.integers(0, 2**32))
def test_rhythm_deletion_removes_the_fraction_and_nothing_else(
    score: Score, fraction: float, seed: int
) -> None:
    n = len(pitched(score))
    count = fraction_count(fraction, n)
    if n == 0 or count == 0:
        with pytest.raises(SkipItem):
            RhythmDeletion(fraction=fraction).apply(score, seed)
        return
    out, record = RhythmDeletion(fraction=fraction).apply(score, seed)
    left = Counter(pitched(out))
    assert not left - Counter(pitched(score))  # only deletions
    assert n - left.total() == count == record.notes_removed
    assert tempos(out) == tempos(score) and drums(out) == drums(score)
    assert record == PerturbationRecord("rhythm-deletion", None, None, False, notes_removed=count)


# --- velocity-change ----------------------------------------------------------------------------


@PROPERTY
@given(score=scores(min_notes=1), fraction=st.floats(0.01, 1.0), seed=st.integers(0, 2**32))
def test_velocity_change_changes_exactly_the_fraction(
    score: Score, fraction: float, seed: int
) -> None:
    n = len(pitched(score))
    count = fraction_count(fraction, n)
    if count == 0:
        with pytest.raises(SkipItem, match="rounds to none"):
            VelocityChange(fraction=fraction, velocities="full").apply(score, seed)
        return
    out, record = VelocityChange(fraction=fraction, velocities="full").apply(score, seed)
    changed = 0
    for before, after in zip(score.tracks, out.tracks, strict=True):
        reference = before.notes.copy()
        if not before.is_drum:
            reference.sort()  # the perturbation keeps each track's notes in sorted order
        for a, b in zip(reference, after.notes, strict=True):
            assert (a.time, a.duration, a.pitch) == (b.time, b.duration, b.pitch)
            assert 1 <= b.velocity <= 127
            changed += a.velocity != b.velocity
    assert changed == count
    assert tempos(out) == tempos(score) and drums(out) == drums(score)
    assert record == PerturbationRecord("velocity-change", None, None, True)


@PROPERTY
@given(score=scores(min_notes=1), fraction=st.floats(0.01, 1.0), seed=st.integers(0, 2**32))
def test_velocity_change_draws_the_papers_range_by_default(
    score: Score, fraction: float, seed: int
) -> None:
    count = fraction_count(fraction, len(pitched(score)))
    if count == 0:
        return
    out, record = VelocityChange(fraction=fraction).apply(score, seed)
    before, after = pitched(score), pitched(out)
    assert [n[:4] for n in before] == [n[:4] for n in after]  # only velocities change
    changed = [b[4] for a, b in zip(before, after, strict=True) if a[4] != b[4]]
    assert len(changed) <= count
    assert all(30 <= v <= 120 for v in changed)
    assert record == PerturbationRecord("velocity-change", None, None, True)


def test_velocity_change_paper_range_is_30_to_120_inclusive() -> None:
    rng = np.random.default_rng(0)
    draws = Counter(paper_velocity(rng) for _ in range(50_000))
    assert set(draws) == set(range(30, 121))  # random.randint(30, 120): both bounds included
    assert max(draws.values()) < 2 * min(draws.values())
    score = Score(TPQ)  # every velocity outside 30..120, so every chosen note changes
    track = Track("piano", 0, False)
    track.notes.extend(Note(i * TPQ, TPQ, 60, 10 if i % 2 else 127) for i in range(40))
    score.tracks.append(track)
    out, _ = VelocityChange(fraction=0.5).apply(score, seed=3)
    changed = [b for a, b in zip(pitched(score), pitched(out), strict=True) if a != b]
    assert len(changed) == 20 and all(30 <= n[4] <= 120 for n in changed)


def test_new_velocity_is_uniform_over_the_other_values() -> None:
    rng = np.random.default_rng(0)
    draws = Counter(new_velocity(rng, 64) for _ in range(50_000))
    assert set(draws) == set(range(1, 128)) - {64}
    assert max(draws.values()) < 2 * min(draws.values())
    assert {new_velocity(rng, 1) for _ in range(2000)} <= set(range(2, 128))
    assert {new_velocity(rng, 127) for _ in range(2000)} <= set(range(1, 127))


# --- tempo-change -------------------------------------------------------------------------------


@PROPERTY
@given(
    score=scores(min_notes=1),
    fraction=st.floats(0.05, 1.0),
    factor=st.floats(0.25, 4.0),
    seed=st.integers(0, 2**32),
)
def test_tempo_span_speeds_up_the_span_through_the_tempo_map(
    score: Score, fraction: float, factor: float, seed: int
) -> None:
    try:
        out, record = TempoSpan(fraction=fraction, factor=factor).apply(score, seed)
    except SkipItem as exc:  # only a span too short to hold one tick
        assert "holds no tick" in str(exc)
        return
    end_s = duration_seconds(score)
    assert record.kind == "tempo-span" and not record.preserves_tokens
    assert record.duration_s == pytest.approx(fraction * end_s)
    assert record.onset_s >= 0 and record.onset_s + record.duration_s <= end_s + 1e-9
    # Notes do not move in ticks; their times in seconds follow the new tempo map.
    assert pitched(out) == pitched(score) and drums(out) == drums(score)
    assert list(out.time_signatures) == list(score.time_signatures)
    old, new = TempoMap(score), TempoMap(out)
    t0, t1 = old.ticks([record.onset_s, record.onset_s + record.duration_s])
    s0, s1 = old.seconds([t0, t1])
    ticks = np.array([n[1] for n in pitched(score)] + [score.end()], dtype=np.float64)
    expected = np.where(
        ticks < t0,
        old.seconds(ticks),
        np.where(
            ticks <= t1,
            s0 + (old.seconds(ticks) - s0) / factor,
            old.seconds(ticks) - (s1 - s0) * (1 - 1 / factor),
        ),
    )
    before = ticks < t0
    assert np.array_equal(new.seconds(ticks[before]), old.seconds(ticks[before]))
    assert np.allclose(new.seconds(ticks), expected, rtol=0, atol=1e-5 * max(end_s, 1.0))


def test_tempo_span_inserts_and_restores_tempo_events() -> None:
    score = synthetic_score(0, seconds=20.0)  # 120 qpm throughout
    out, record = TempoSpan(fraction=0.5, factor=1.5, start=4.0).apply(score, seed=0)
    assert (record.onset_s, record.duration_s) == (4.0, 10.0)
    assert tempos(out) == [(0, 500_000), (4 * 960, 333_333), (14 * 960, 500_000)]
    assert duration_seconds(out) == pytest.approx(20.0 - 10.0 / 3, abs=1e-4)


def test_tempo_span_at_a_given_start_must_fit() -> None:
    with pytest.raises(SkipItem, match=r"lasts 20\.00 s"):
        TempoSpan(start=5.0).apply(synthetic_score(0, seconds=20.0), seed=0)


# --- bar-shuffle --------------------------------------------------------------------------------


def bar_contents(score: Score, starts: np.ndarray) -> list[list[tuple[int, ...]]]:
    """Per bar: the sorted pitched notes starting in it, with their offset from the bar start."""
    bars: list[list[tuple[int, ...]]] = [[] for _ in starts]
    for track, time, duration, pitch, velocity in pitched(score):
        bar = int(np.searchsorted(starts, time, side="right")) - 1
        bars[bar].append((track, time - int(starts[bar]), duration, pitch, velocity))
    return [sorted(b) for b in bars]


@PROPERTY
@given(score=scores(min_notes=1), fraction=st.floats(0.05, 1.0), seed=st.integers(0, 2**32))
def test_bar_shuffle_permutes_whole_bars(score: Score, fraction: float, seed: int) -> None:
    starts, ends = bar_bounds(score)
    lengths = Counter((ends - starts).tolist())
    candidates = lengths.most_common(1)[0][1]
    count = fraction_count(fraction, candidates)
    if count < 2:
        with pytest.raises(SkipItem, match="fewer than the 2"):
            BarShuffle(fraction=fraction).apply(score, seed)
        return
    out, record = BarShuffle(fraction=fraction).apply(score, seed)
    before, after = bar_contents(score, starts), bar_contents(out, starts)
    assert Counter(map(tuple, before)) == Counter(map(tuple, after))  # bars move whole
    assert sum(a != b for a, b in zip(before, after, strict=True)) <= count
    length = (ends - starts).tolist()
    assert all(length[i] == length[before.index(b)] for i, b in enumerate(after) if b)
    assert tempos(out) == tempos(score) and drums(out) == drums(score)
    assert record == PerturbationRecord("bar-shuffle", None, None, False)


def test_bar_shuffle_moves_exactly_the_fraction_of_distinct_bars() -> None:
    score = Score(TPQ)
    track = Track("piano", 0, False)
    track.notes.extend([Note(bar * BAR + TPQ, TPQ, 40 + bar, 80) for bar in range(16)])
    score.tracks.append(track)
    for seed in range(10):
        out, _ = BarShuffle(fraction=0.5).apply(score, seed)
        moved = [n.pitch - 40 != n.time // BAR for n in out.tracks[0].notes]
        assert sum(moved) == 8
        assert sorted(n.time % BAR for n in out.tracks[0].notes) == [TPQ] * 16


def test_bar_bounds_follow_the_time_signatures() -> None:
    score = one_note()
    score.tracks[0].notes.append(Note(5000, 100, 62, 80))
    starts, ends = bar_bounds(score)  # no time signature: 4/4
    assert starts.tolist() == [0, 1920, 3840] and ends.tolist() == [1920, 3840, 5760]
    score.time_signatures.append(TimeSignature(0, 3, 4))
    starts, ends = bar_bounds(score)
    assert starts.tolist() == [0, 1440, 2880, 4320] and ends[-1] == 5760


def test_derangement_has_no_fixed_point() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 10):
        for _ in range(50):
            order = derangement(rng, n)
            assert sorted(order) == list(range(n)) and not np.any(order == np.arange(n))


# --- block-swap ---------------------------------------------------------------------------------


@PROPERTY
@given(
    score=scores(min_notes=1),
    onset=st.floats(0.0, 6.0),
    duration=st.floats(0.05, 3.0),
    seed=st.integers(0, 2**32),
)
def test_block_swap_swaps_the_blocks_and_nothing_else(
    score: Score, onset: float, duration: float, seed: int
) -> None:
    p = BlockSwap(onset=onset, duration=duration)
    end_s = duration_seconds(score)
    if end_s < onset + 2 * duration:
        with pytest.raises(SkipItem, match="shorter than the swapped blocks' end"):
            p.apply(score, seed)
        return
    out, record = p.apply(score, seed)
    assert record == PerturbationRecord("block-swap", onset, 2 * duration, False)
    a0, a1, b1 = TempoMap(score).ticks([onset, onset + duration, onset + 2 * duration])
    expected = []
    for track, time, length, pitch, velocity in pitched(score):
        if a0 <= time < a1:
            time += b1 - a1  # A goes after B
        elif a1 <= time < b1:
            time -= a1 - a0  # B goes to A's start
        expected.append((track, time, length, pitch, velocity))
    assert pitched(out) == sorted(expected)
    outside = [n for n in pitched(score) if not a0 <= n[1] < b1]
    assert [n for n in pitched(out) if not a0 <= n[1] < b1] == outside
    assert tempos(out) == tempos(score) and drums(out) == drums(score)
    assert outcome(p, score, seed + 1)[0] == out.dumps_midi()  # the seed plays no part


def test_block_swap_on_a_constant_tempo_is_its_own_inverse() -> None:
    score = synthetic_score(0)
    out, _ = BlockSwap().apply(score, seed=0)
    assert pitched(out) != pitched(score)
    back, _ = BlockSwap().apply(out, seed=0)
    assert pitched(back) == pitched(score)


def test_block_swap_skips_a_piece_shorter_than_the_blocks() -> None:
    with pytest.raises(SkipItem, match=r"lasts 8\.00 s, shorter .* \(9\.00 s = onset 5\.0 s"):
        BlockSwap().apply(synthetic_score(0, seconds=8.0), seed=0)
