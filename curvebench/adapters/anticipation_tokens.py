"""The Anticipatory Music Transformer's arrival-time tokenization, from its published description.

Every note is an event of three tokens (arrival time, duration, note) at 10 ms resolution:

- time token = round(100 · onset in seconds), 0 … 9,999 (so at most 100 s of music);
- duration token = 10,000 + round(100 · duration in seconds), capped at 10,999;
- note token = 11,000 + 128 · instrument + pitch, instrument = the General MIDI program, 128
  for drums.

Gaps longer than one second are filled with REST events (time, 10,000, 27,512) every second, as
the model saw in training. Anticipated controls occupy 27,513 … 55,024 (time, duration and note
of a control each shifted by 27,513), then SEPARATOR 55,025, AUTOREGRESS 55,026 and ANTICIPATE
55,027: a vocabulary of 55,028. A sequence to score is ``[AUTOREGRESS]`` followed by the events
in time order; its model context is 1,024 = 1 + 3 · 341 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from symusic import Note, Score, Tempo, Track

from curvebench.errors import SkipItem

RESOLUTION = 100
"""Time steps per second (10 ms)."""
MAX_TIME = 100 * RESOLUTION
"""Time tokens: 0 … 9,999 (100 s)."""
MAX_DUR = 10 * RESOLUTION
"""Duration tokens: 0 … 999 steps (10 s)."""
MAX_PITCH, MAX_INSTR = 128, 129
DRUMS = 128
"""Instrument number of drum tracks."""
MAX_NOTE = MAX_PITCH * MAX_INSTR

TIME_OFFSET = 0
DUR_OFFSET = TIME_OFFSET + MAX_TIME
NOTE_OFFSET = DUR_OFFSET + MAX_DUR
REST = NOTE_OFFSET + MAX_NOTE
CONTROL_OFFSET = REST + 1
SPECIAL_OFFSET = CONTROL_OFFSET + MAX_TIME + MAX_DUR + MAX_NOTE
SEPARATOR = SPECIAL_OFFSET
AUTOREGRESS = SPECIAL_OFFSET + 1
ANTICIPATE = SPECIAL_OFFSET + 2
VOCAB_SIZE = ANTICIPATE + 1
CONTEXT = 1024
EVENT_SIZE = 3
REST_EVERY = RESOLUTION
"""A REST event fills every second without a note."""
DEFAULT_VELOCITY = 72
"""Velocity of decoded notes (the tokenization drops velocity)."""


@dataclass(frozen=True)
class Events:
    """A score as arrival-time events: ``ids`` starts with AUTOREGRESS, then 3 tokens per event."""

    ids: np.ndarray
    """int64 [1 + 3·E]: AUTOREGRESS, then (time, duration, note) per event."""
    seconds: np.ndarray
    """float64 [1 + 3·E]: NaN for AUTOREGRESS, each event's onset (10 ms steps) for its tokens."""
    duration_s: float
    """End of the last note in seconds."""


def _note_rows(score: Score) -> np.ndarray:
    """[N, 4] rows (onset step, duration step, instrument, pitch) in time order; notes at the
    same step keep track order, then their order in the track."""
    seconds = score.to("second")
    rows = []
    for track in seconds.tracks:
        instrument = DRUMS if track.is_drum else int(track.program)
        for note in track.notes:
            onset = float(note.time)
            rows.append((onset, onset + float(note.duration), instrument, int(note.pitch)))
    if not rows:
        return np.zeros((0, 4), dtype=np.int64)
    table = np.array(rows, dtype=np.float64)
    onset = np.rint(RESOLUTION * table[:, 0])
    duration = np.rint(RESOLUTION * (table[:, 1] - table[:, 0]))
    out = np.stack([onset, duration, table[:, 2], table[:, 3]], axis=1).astype(np.int64)
    return out[np.argsort(out[:, 0], kind="stable")]


def encode_events(score: Score, name: str = "piece") -> Events:
    """Tokenize a score as the Anticipatory Music Transformer does (autoregressive mode)."""
    rows = _note_rows(score)
    if len(rows) == 0:
        raise SkipItem(f"{name}: no notes to tokenize")
    if rows[-1, 0] >= MAX_TIME:
        raise SkipItem(
            f"{name}: notes start after {MAX_TIME // RESOLUTION} s, beyond the anticipation "
            "tokenization's time range; clip the piece"
        )
    triples: list[tuple[int, int, int]] = []
    previous = 0
    for onset, duration, instrument, pitch in rows.tolist():
        while onset > previous + REST_EVERY:
            previous += REST_EVERY
            triples.append((TIME_OFFSET + previous, DUR_OFFSET, REST))
        note = NOTE_OFFSET + MAX_PITCH * instrument + pitch
        triples.append((TIME_OFFSET + onset, DUR_OFFSET + min(duration, MAX_DUR - 1), note))
        previous = onset
    events = np.array(triples, dtype=np.int64)
    ids = np.concatenate([[AUTOREGRESS], events.reshape(-1)])
    onsets = np.repeat((events[:, 0] - TIME_OFFSET) / RESOLUTION, EVENT_SIZE)
    seconds = np.concatenate([[np.nan], onsets])
    end = float(score.to("second").end())
    return Events(ids=ids.astype(np.int64), seconds=seconds, duration_s=end)


def decode_events(ids: np.ndarray | list[int]) -> Score:
    """A score from tokens: special tokens skipped, events read three at a time in arrival order
    (a triple that is not time, duration, note, or a REST, is dropped), one track per
    instrument. Anticipated controls are read as ordinary events."""
    body = [int(i) for i in ids if int(i) < SPECIAL_OFFSET]
    body = [i - CONTROL_OFFSET if i >= CONTROL_OFFSET else i for i in body]
    score = Score(RESOLUTION // 2)  # 50 ticks per quarter at 120 qpm: one tick is 10 ms
    score.tempos.append(Tempo(0, 120.0))
    tracks: dict[int, Track] = {}
    for t, d, n in zip(body[0::3], body[1::3], body[2::3], strict=False):
        timed = TIME_OFFSET <= t < DUR_OFFSET and DUR_OFFSET <= d < NOTE_OFFSET
        if not timed or not NOTE_OFFSET <= n < REST:
            continue
        instrument, pitch = divmod(n - NOTE_OFFSET, MAX_PITCH)
        if instrument not in tracks:
            drums = instrument == DRUMS
            tracks[instrument] = Track(
                "drums" if drums else f"program {instrument}", 0 if drums else instrument, drums
            )
        tracks[instrument].notes.append(
            Note(t - TIME_OFFSET, max(1, d - DUR_OFFSET), pitch, DEFAULT_VELOCITY)
        )
    for instrument in sorted(tracks):
        tracks[instrument].notes.sort()
        score.tracks.append(tracks[instrument])
    return score


def slot_of(position: int) -> int:
    """Which token of an event sits at ``position`` of a sequence that starts with one control
    token: 0 time, 1 duration, 2 note."""
    return (position - 1) % EVENT_SIZE


def event_losses(losses: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-event loss: the sum of the losses of its three tokens.

    ``losses`` [T-1] are the per-token losses of a sequence ``[AUTOREGRESS, t, d, n, …]``
    (``losses[i]`` belongs to token i + 1) and ``seconds`` [T] its token times. Returns each
    event's onset in seconds and its loss in nats, [E] each.
    """
    losses = np.asarray(losses, dtype=np.float64)
    if (len(losses)) % EVENT_SIZE or len(seconds) != len(losses) + 1:
        raise ValueError(
            f"expected 3 losses per event after one control token, got {len(losses)} losses "
            f"for {len(seconds)} tokens"
        )
    per_event = losses.reshape(-1, EVENT_SIZE).sum(axis=1)
    return np.asarray(seconds[1::EVENT_SIZE], dtype=np.float64), per_event
